/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Threads hammering shared words with each architecture's own atomic
 * instructions; every line printed is exact, whatever the interleaving:
 *
 *   threads-atomics [THREADS [ITERATIONS]]   (default 4 threads, 20000)
 *
 * Each test starts THREADS threads together (a barrier) and prints the
 * final value and the value it must have:
 *
 * - add: the native read-modify-write add (x86 `lock xadd`, AArch64
 *   LDXR/STXR and LSE `ldadd`, Arm LDREX/STREX, RISC-V `amoadd` and
 *   LR/SC, MIPS LL/SC);
 * - cas: an add made of a compare-and-swap loop (x86 `lock cmpxchg`,
 *   AArch64 LSE `cas`, RISC-V LR/SC, Arm and MIPS exclusives);
 * - wide: a counter twice the word size, or 64-bit on 32-bit machines,
 *   incremented with the double-word atomics (x86_64 `cmpxchg16b`, i386
 *   `cmpxchg8b`, AArch64 LDXP/STXP and LSE `casp`, Arm LDREXD/STREXD,
 *   RISC-V `lr.d`/`sc.d`; MIPS32 has none and uses a 32-bit word);
 * - swap: a spin lock taken with the native exchange (x86 `xchg`, AArch64
 *   LSE `swp`, RISC-V `amoswap`, Arm and MIPS exclusives) protecting a
 *   counter updated with plain loads and stores over several blocks;
 * - max: each thread offers distinct values to an atomic maximum (RISC-V
 *   `amomax`, AArch64 LSE `ldsmax`, a CAS loop elsewhere) and an atomic
 *   minimum, and the extremes must be the overall ones;
 * - queue: a lock-free bounded multi-producer multi-consumer queue (a
 *   sequence number per cell, C11 atomics): half the threads produce
 *   distinct items, half consume them, and every item arrives exactly once.
 *
 * A mismatch exits with status 1.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ATOMICS
#define HWCAP_ATOMICS (1 << 8)
#endif
#endif

static long threads = 4;
static long iterations = 20000;
static int failed;

static pthread_barrier_t start_line;

/* ---- each architecture's primitives ---------------------------------- */

/* Adds `v` to `*p` with the native read-modify-write instruction. */
static void native_add(volatile uint32_t *p, uint32_t v)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory", "cc");
#elif defined(__aarch64__)
    uint32_t tmp, status;
    __asm__ volatile("1: ldxr %w0, %2\n"
                     "   add %w0, %w0, %w3\n"
                     "   stxr %w1, %w0, %2\n"
                     "   cbnz %w1, 1b\n"
                     : "=&r"(tmp), "=&r"(status), "+Q"(*p)
                     : "r"(v)
                     : "memory");
#elif defined(__arm__)
    uint32_t tmp, status;
    __asm__ volatile("1: ldrex %0, [%3]\n"
                     "   add %0, %0, %4\n"
                     "   strex %1, %0, [%3]\n"
                     "   cmp %1, #0\n"
                     "   bne 1b\n"
                     : "=&r"(tmp), "=&r"(status), "+m"(*p)
                     : "r"(p), "r"(v)
                     : "memory", "cc");
#elif defined(__riscv)
    __asm__ volatile("amoadd.w zero, %1, %0" : "+A"(*p) : "r"(v) : "memory");
#elif defined(__mips__)
    uint32_t tmp;
    __asm__ volatile(".set push\n"
                     ".set noreorder\n"
                     "1: ll %0, %1\n"
                     "   addu %0, %0, %2\n"
                     "   sc %0, %1\n"
                     "   beqz %0, 1b\n"
                     "   nop\n"
                     ".set pop\n"
                     : "=&r"(tmp), "+m"(*p)
                     : "r"(v)
                     : "memory");
#elif defined(__powerpc64__)
    uint32_t tmp;
    __asm__ volatile("1: lwarx %0, 0, %2\n"
                     "   add %0, %0, %3\n"
                     "   stwcx. %0, 0, %2\n"
                     "   bne- 1b\n"
                     : "=&r"(tmp), "+m"(*p)
                     : "r"(p), "r"(v)
                     : "memory", "cr0");
#elif defined(__s390x__)
    uint32_t old, sum;
    __asm__ volatile("   l %0, %2\n"
                     "1: lr %1, %0\n"
                     "   ar %1, %3\n"
                     "   cs %0, %1, %2\n"
                     "   jl 1b\n"
                     : "=&d"(old), "=&d"(sum), "+Q"(*p)
                     : "d"(v)
                     : "memory", "cc");
#else
#error "unknown architecture"
#endif
}

/* The second native add where the architecture has two: AArch64 LSE
 * `ldadd` (when the CPU has it) and RISC-V LR/SC. */
static int second_add_available(void)
{
#if defined(__aarch64__)
    return (getauxval(AT_HWCAP) & HWCAP_ATOMICS) != 0;
#elif defined(__riscv)
    return 1;
#else
    return 0;
#endif
}

static void second_add(volatile uint32_t *p, uint32_t v)
{
#if defined(__aarch64__)
    __asm__ volatile(".arch_extension lse\n"
                     "ldadd %w1, wzr, %0"
                     : "+Q"(*p)
                     : "r"(v)
                     : "memory");
#elif defined(__riscv)
    uint32_t tmp, status;
    __asm__ volatile("1: lr.w %0, %2\n"
                     "   addw %0, %0, %3\n"
                     "   sc.w %1, %0, %2\n"
                     "   bnez %1, 1b\n"
                     : "=&r"(tmp), "=&r"(status), "+A"(*p)
                     : "r"(v)
                     : "memory");
#else
    native_add(p, v);
#endif
}

/* Compare-and-swap: stores `desired` if `*p == expected`; returns the
 * value found. */
static uint32_t native_cas(volatile uint32_t *p, uint32_t expected, uint32_t desired)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("lock cmpxchgl %2, %1"
                     : "+a"(expected), "+m"(*p)
                     : "r"(desired)
                     : "memory", "cc");
    return expected;
#elif defined(__aarch64__)
    if (second_add_available()) {
        __asm__ volatile(".arch_extension lse\n"
                         "casal %w0, %w2, %1"
                         : "+r"(expected), "+Q"(*p)
                         : "r"(desired)
                         : "memory");
        return expected;
    }
    return __sync_val_compare_and_swap(p, expected, desired);
#elif defined(__riscv)
    uint32_t found, status;
    __asm__ volatile("1: lr.w.aqrl %0, %2\n"
                     "   bne %0, %3, 2f\n"
                     "   sc.w.aqrl %1, %4, %2\n"
                     "   bnez %1, 1b\n"
                     "2:\n"
                     : "=&r"(found), "=&r"(status), "+A"(*p)
                     : "r"(expected), "r"(desired)
                     : "memory");
    return found;
#else
    /* Arm and MIPS: the compiler's exclusives loop. */
    return __sync_val_compare_and_swap(p, expected, desired);
#endif
}

/* The wide counter and its increment. */
#if defined(__x86_64__)
typedef unsigned __int128 wide_t;
static void wide_increment(volatile wide_t *p)
{
    uint64_t lo = (uint64_t)*p, hi = (uint64_t)(*p >> 64);
    for (;;) {
        uint64_t nlo = lo + 1, nhi = hi + (nlo == 0);
        unsigned char ok;
        __asm__ volatile("lock cmpxchg16b %1\n setz %0"
                         : "=q"(ok), "+m"(*p), "+a"(lo), "+d"(hi)
                         : "b"(nlo), "c"(nhi)
                         : "memory", "cc");
        if (ok) {
            return;
        }
    }
}
#elif defined(__i386__)
typedef uint64_t wide_t;
static void wide_increment(volatile wide_t *p)
{
    uint32_t lo = (uint32_t)*p, hi = (uint32_t)(*p >> 32);
    for (;;) {
        uint64_t next = ((uint64_t)hi << 32 | lo) + 1;
        unsigned char ok;
        uint32_t nlo = (uint32_t)next, nhi = (uint32_t)(next >> 32);
        __asm__ volatile("lock cmpxchg8b %1\n setz %0"
                         : "=q"(ok), "+m"(*p), "+a"(lo), "+d"(hi)
                         : "b"(nlo), "c"(nhi)
                         : "memory", "cc");
        if (ok) {
            return;
        }
    }
}
#elif defined(__aarch64__)
typedef unsigned __int128 wide_t;
static int wide_lse;
static void wide_increment(volatile wide_t *p)
{
    if (wide_lse) {
        /* CASP needs even/odd register pairs. */
        register uint64_t e0 __asm__("x0") = (uint64_t)*p;
        register uint64_t e1 __asm__("x1") = (uint64_t)(*p >> 64);
        for (;;) {
            register uint64_t d0 __asm__("x2") = e0 + 1;
            register uint64_t d1 __asm__("x3") = e1 + (d0 == 0);
            uint64_t want0 = e0, want1 = e1;
            __asm__ volatile(".arch_extension lse\n"
                             "caspal x0, x1, x2, x3, %2"
                             : "+r"(e0), "+r"(e1), "+Q"(*p)
                             : "r"(d0), "r"(d1)
                             : "memory");
            if (e0 == want0 && e1 == want1) {
                return;
            }
        }
    }
    uint64_t lo, hi;
    uint32_t status;
    __asm__ volatile("1: ldxp %0, %1, %3\n"
                     "   adds %0, %0, #1\n"
                     "   adc %1, %1, xzr\n"
                     "   stxp %w2, %0, %1, %3\n"
                     "   cbnz %w2, 1b\n"
                     : "=&r"(lo), "=&r"(hi), "=&r"(status), "+Q"(*p)
                     :
                     : "memory", "cc");
}
#elif defined(__arm__)
typedef uint64_t wide_t;
static void wide_increment(volatile wide_t *p)
{
    uint64_t tmp;
    uint32_t status;
    __asm__ volatile("1: ldrexd %0, %H0, [%3]\n"
                     "   adds %Q0, %Q0, #1\n"
                     "   adc %R0, %R0, #0\n"
                     "   strexd %1, %0, %H0, [%3]\n"
                     "   cmp %1, #0\n"
                     "   bne 1b\n"
                     : "=&r"(tmp), "=&r"(status), "+m"(*p)
                     : "r"(p)
                     : "memory", "cc");
}
#elif defined(__riscv)
typedef uint64_t wide_t;
static void wide_increment(volatile wide_t *p)
{
    uint64_t tmp;
    uint32_t status;
    __asm__ volatile("1: lr.d %0, %2\n"
                     "   addi %0, %0, 1\n"
                     "   sc.d %1, %0, %2\n"
                     "   bnez %1, 1b\n"
                     : "=&r"(tmp), "=&r"(status), "+A"(*p)
                     :
                     : "memory");
}
#elif defined(__mips__)
typedef uint32_t wide_t;
static void wide_increment(volatile wide_t *p)
{
    native_add(p, 1);
}
#elif defined(__powerpc64__)
typedef uint64_t wide_t;
static void wide_increment(volatile wide_t *p)
{
    uint64_t tmp;
    __asm__ volatile("1: ldarx %0, 0, %2\n"
                     "   addi %0, %0, 1\n"
                     "   stdcx. %0, 0, %2\n"
                     "   bne- 1b\n"
                     : "=&r"(tmp), "+m"(*p)
                     : "r"(p)
                     : "memory", "cr0");
}
#elif defined(__s390x__)
typedef uint64_t wide_t;
static void wide_increment(volatile wide_t *p)
{
    uint64_t old, sum;
    __asm__ volatile("   lg %0, %2\n"
                     "1: lgr %1, %0\n"
                     "   aghi %1, 1\n"
                     "   csg %0, %1, %2\n"
                     "   jl 1b\n"
                     : "=&d"(old), "=&d"(sum), "+QS"(*p)
                     :
                     : "memory", "cc");
}
#endif

/* Exchange: stores `v`, returns what was there. */
static uint32_t native_swap(volatile uint32_t *p, uint32_t v)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
#elif defined(__aarch64__)
    if (second_add_available()) {
        uint32_t old;
        __asm__ volatile(".arch_extension lse\n"
                         "swpal %w2, %w0, %1"
                         : "=&r"(old), "+Q"(*p)
                         : "r"(v)
                         : "memory");
        return old;
    }
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
#elif defined(__riscv)
    uint32_t old;
    __asm__ volatile("amoswap.w.aqrl %0, %2, %1" : "=&r"(old), "+A"(*p) : "r"(v) : "memory");
    return old;
#else
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
#endif
}

/* Signed maximum and unsigned minimum of `*p` and `v`, atomically. */
static void native_max(volatile int32_t *p, int32_t v)
{
#if defined(__riscv)
    __asm__ volatile("amomax.w zero, %1, %0" : "+A"(*p) : "r"(v) : "memory");
#elif defined(__aarch64__)
    if (second_add_available()) {
        __asm__ volatile(".arch_extension lse\n"
                         "stsmax %w1, %0"
                         : "+Q"(*p)
                         : "r"(v)
                         : "memory");
        return;
    }
    int32_t seen = *p;
    while (seen < v && !__atomic_compare_exchange_n(p, &seen, v, 0, __ATOMIC_SEQ_CST,
                                                    __ATOMIC_SEQ_CST)) {
    }
#else
    uint32_t seen = *p;
    while ((int32_t)seen < v) {
        uint32_t found = native_cas((volatile uint32_t *)p, seen, (uint32_t)v);
        if (found == seen) {
            break;
        }
        seen = found;
    }
#endif
}

static void native_minu(volatile uint32_t *p, uint32_t v)
{
#if defined(__riscv)
    __asm__ volatile("amominu.w zero, %1, %0" : "+A"(*p) : "r"(v) : "memory");
#elif defined(__aarch64__)
    if (second_add_available()) {
        __asm__ volatile(".arch_extension lse\n"
                         "stumin %w1, %0"
                         : "+Q"(*p)
                         : "r"(v)
                         : "memory");
        return;
    }
    uint32_t seen = *p;
    while (seen > v && !__atomic_compare_exchange_n(p, &seen, v, 0, __ATOMIC_SEQ_CST,
                                                    __ATOMIC_SEQ_CST)) {
    }
#else
    uint32_t seen = *p;
    while (seen > v) {
        uint32_t found = native_cas(p, seen, v);
        if (found == seen) {
            break;
        }
        seen = found;
    }
#endif
}

/* ---- the tests ------------------------------------------------------- */

static volatile uint32_t add_counter, second_counter, cas_counter, swap_lock;
static volatile uint32_t locked_counter, locked_shadow;
static volatile int32_t max_value = INT32_MIN;
static volatile uint32_t min_value = UINT32_MAX;
static volatile wide_t wide_counter __attribute__((aligned(16)));

static void *add_worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    for (long i = 0; i < iterations; i++) {
        native_add(&add_counter, 1);
    }
    if (second_add_available()) {
        for (long i = 0; i < iterations; i++) {
            second_add(&second_counter, 3);
        }
    }
    return NULL;
}

static void *cas_worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    for (long i = 0; i < iterations; i++) {
        uint32_t seen = cas_counter;
        for (;;) {
            uint32_t found = native_cas(&cas_counter, seen, seen + 1);
            if (found == seen) {
                break;
            }
            seen = found;
        }
    }
    return NULL;
}

static void *wide_worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    for (long i = 0; i < iterations; i++) {
        wide_increment(&wide_counter);
    }
    return NULL;
}

static void *swap_worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    for (long i = 0; i < iterations; i++) {
        while (native_swap(&swap_lock, 1) != 0) {
            sched_yield();
        }
        uint32_t c = locked_counter;
        /* Spread the critical section over several blocks. */
        for (int k = 0; k < 4; k++) {
            locked_shadow = locked_shadow + (uint32_t)k;
        }
        locked_counter = c + 1;
        native_swap(&swap_lock, 0);
    }
    return NULL;
}

static void *max_worker(void *arg)
{
    long id = (long)arg;
    pthread_barrier_wait(&start_line);
    for (long i = 0; i < iterations; i++) {
        /* Values interleave across threads; the largest and smallest are
         * offered by different threads. */
        long n = i * threads + id;
        native_max(&max_value, (int32_t)(n - iterations * threads / 2));
        native_minu(&min_value, (uint32_t)(n + 7));
    }
    return NULL;
}

/* The queue: Dmitry Vyukov's bounded MPMC design, in C11 atomics. */
#define QUEUE_CELLS 64
struct cell {
    uint32_t sequence;
    uint32_t item;
};
static struct cell queue[QUEUE_CELLS];
static uint32_t enqueue_pos, dequeue_pos;
static uint32_t consumed_count;
static uint32_t *arrivals;
/* Per thread: 64-bit atomics are not native on every 32-bit machine. */
static uint64_t consumed_sum[64];
static long producers;

static int try_enqueue(uint32_t item)
{
    uint32_t pos = __atomic_load_n(&enqueue_pos, __ATOMIC_RELAXED);
    for (;;) {
        struct cell *c = &queue[pos % QUEUE_CELLS];
        uint32_t seq = __atomic_load_n(&c->sequence, __ATOMIC_ACQUIRE);
        int32_t diff = (int32_t)(seq - pos);
        if (diff == 0) {
            if (__atomic_compare_exchange_n(&enqueue_pos, &pos, pos + 1, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                c->item = item;
                __atomic_store_n(&c->sequence, pos + 1, __ATOMIC_RELEASE);
                return 1;
            }
        } else if (diff < 0) {
            return 0; /* full */
        } else {
            pos = __atomic_load_n(&enqueue_pos, __ATOMIC_RELAXED);
        }
    }
}

static int try_dequeue(uint32_t *item)
{
    uint32_t pos = __atomic_load_n(&dequeue_pos, __ATOMIC_RELAXED);
    for (;;) {
        struct cell *c = &queue[pos % QUEUE_CELLS];
        uint32_t seq = __atomic_load_n(&c->sequence, __ATOMIC_ACQUIRE);
        int32_t diff = (int32_t)(seq - (pos + 1));
        if (diff == 0) {
            if (__atomic_compare_exchange_n(&dequeue_pos, &pos, pos + 1, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                *item = c->item;
                __atomic_store_n(&c->sequence, pos + QUEUE_CELLS, __ATOMIC_RELEASE);
                return 1;
            }
        } else if (diff < 0) {
            return 0; /* empty */
        } else {
            pos = __atomic_load_n(&dequeue_pos, __ATOMIC_RELAXED);
        }
    }
}

static void *queue_worker(void *arg)
{
    long id = (long)arg;
    long total = producers * iterations;
    pthread_barrier_wait(&start_line);
    if (id < producers) {
        for (long i = 0; i < iterations; i++) {
            uint32_t item = (uint32_t)(id * iterations + i);
            while (!try_enqueue(item)) {
                sched_yield();
            }
        }
        return NULL;
    }
    for (;;) {
        uint32_t item;
        if (__atomic_load_n(&consumed_count, __ATOMIC_ACQUIRE) >= (uint32_t)total) {
            return NULL;
        }
        if (!try_dequeue(&item)) {
            sched_yield();
            continue;
        }
        if (item < (uint32_t)total) {
            __atomic_fetch_add(&arrivals[item], 1, __ATOMIC_RELAXED);
        }
        consumed_sum[id] += item;
        __atomic_fetch_add(&consumed_count, 1, __ATOMIC_RELEASE);
    }
}

static void run(void *(*worker)(void *), long count)
{
    pthread_t *ids = calloc((size_t)count, sizeof *ids);
    if (ids == NULL || pthread_barrier_init(&start_line, NULL, (unsigned)count) != 0) {
        fprintf(stderr, "setup failed\n");
        exit(2);
    }
    for (long t = 0; t < count; t++) {
        if (pthread_create(&ids[t], NULL, worker, (void *)t) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(2);
        }
    }
    for (long t = 0; t < count; t++) {
        pthread_join(ids[t], NULL);
    }
    pthread_barrier_destroy(&start_line);
    free(ids);
}

static void report(const char *what, uint64_t got, uint64_t want)
{
    printf("%-8s %llu (expected %llu)%s\n", what, (unsigned long long)got,
           (unsigned long long)want, got == want ? "" : "  MISMATCH");
    if (got != want) {
        failed = 1;
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        threads = strtol(argv[1], NULL, 0);
    }
    if (argc > 2) {
        iterations = strtol(argv[2], NULL, 0);
    }
    if (threads < 2 || threads > 64 || iterations < 1 || iterations > 10000000) {
        fprintf(stderr, "usage: threads-atomics [THREADS(2-64) [ITERATIONS]]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
#if defined(__aarch64__)
    wide_lse = second_add_available();
#endif
    uint64_t n = (uint64_t)threads * (uint64_t)iterations;
    printf("%ld threads x %ld iterations\n", threads, iterations);

    run(add_worker, threads);
    report("add", add_counter, n);
    if (second_add_available()) {
        report("add2", second_counter, 3 * n);
    }
    run(cas_worker, threads);
    report("cas", cas_counter, n);
    run(wide_worker, threads);
    report("wide", (uint64_t)wide_counter, n);
    run(swap_worker, threads);
    report("swap", locked_counter, n);
    report("unlocked", swap_lock, 0);
    run(max_worker, threads);
    report("max", (uint64_t)(int64_t)max_value, (uint64_t)(int64_t)(n - 1 - n / 2));
    report("minu", min_value, 7);

    producers = threads / 2;
    uint64_t total = (uint64_t)producers * (uint64_t)iterations;
    arrivals = calloc(total, sizeof *arrivals);
    if (arrivals == NULL) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    for (uint32_t i = 0; i < QUEUE_CELLS; i++) {
        queue[i].sequence = i;
    }
    run(queue_worker, threads);
    uint64_t once = 0;
    for (uint64_t i = 0; i < total; i++) {
        once += arrivals[i] == 1;
    }
    report("queue", consumed_count, total);
    report("once", once, total);
    uint64_t sum = 0;
    for (long t = 0; t < threads; t++) {
        sum += consumed_sum[t];
    }
    report("sum", sum, total * (total - 1) / 2);
    return failed;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Threads changing the address space under each other; every line printed
 * is exact:
 *
 *   threads-memory [THREADS [ROUNDS]]      (default 4 threads, 300 rounds)
 *
 * - churn: THREADS threads each map, fill, check, mprotect and unmap
 *   regions of 1 to 8 pages ROUNDS times, all at once, while reading a
 *   region shared by all: no thread ever sees another's pattern or loses
 *   its own;
 * - a page one thread unmaps is gone for the others: their next read is
 *   SIGSEGV (SEGV_MAPERR) at that address;
 * - a page one thread makes read-only refuses the others' writes
 *   (SEGV_ACCERR), and takes them again once it is made writable;
 * - a mapping one thread creates at a fixed address over another's
 *   (MAP_FIXED) replaces it for every thread;
 * - brk grown by one thread is usable by another.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096

static long threads = 4;
static long rounds = 300;

/* ---- churn ----------------------------------------------------------- */

static volatile uint32_t *common_page;
static long churn_errors[64];

static void *churn(void *arg)
{
    long id = (long)arg;
    uint32_t seed = (uint32_t)id * 2654435761u + 1;
    for (long r = 0; r < rounds; r++) {
        seed = seed * 1103515245u + 12345u;
        size_t pages = 1 + (seed >> 16) % 8;
        size_t words = pages * PAGE / sizeof(uint32_t);
        uint32_t *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            churn_errors[id]++;
            continue;
        }
        uint32_t tag = (uint32_t)(id << 24) ^ (uint32_t)r;
        for (size_t i = 0; i < words; i += 64) {
            m[i] = tag + (uint32_t)i;
        }
        sched_yield();
        if (mprotect(m, pages * PAGE, PROT_READ) != 0) {
            churn_errors[id]++;
        }
        for (size_t i = 0; i < words; i += 64) {
            churn_errors[id] += m[i] != tag + (uint32_t)i;
        }
        churn_errors[id] += common_page[id] != (uint32_t)id;
        if (munmap(m, pages * PAGE) != 0) {
            churn_errors[id]++;
        }
    }
    return NULL;
}

/* ---- faults caused by another thread --------------------------------- */

static sigjmp_buf recover;
static volatile void *fault_addr;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    fault_addr = info->si_addr;
    fault_code = info->si_code;
    siglongjmp(recover, 1);
}

/* Steps of a two-thread exchange: the helper thread acts on `step` n and
 * then sets `done` to n. */
static int step, done;
static char *victim;

static void advance(int n)
{
    __atomic_store_n(&step, n, __ATOMIC_RELEASE);
    while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != n) {
        sched_yield();
    }
}

static void *helper(void *arg)
{
    (void)arg;
    for (int n = 1; n <= 5; n++) {
        while (__atomic_load_n(&step, __ATOMIC_ACQUIRE) != n) {
            sched_yield();
        }
        switch (n) {
        case 1: /* unmap the page the main thread reads */
            munmap(victim, PAGE);
            break;
        case 2: /* a fresh read-only page in its place */
            mmap(victim, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            break;
        case 3: /* writable again */
            mprotect(victim, PAGE, PROT_READ | PROT_WRITE);
            break;
        case 4: /* replaced by a new mapping holding 'N' */
        {
            char *n2 = mmap(victim, PAGE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (n2 == victim) {
                n2[0] = 'N';
            }
            break;
        }
        case 5: /* grow the break by a page and write there */
        {
            /* The system call: musl's sbrk refuses to grow. */
            long old = syscall(SYS_brk, 0L);
            if (syscall(SYS_brk, old + PAGE) == old + PAGE) {
                victim = (char *)old;
                victim[PAGE - 1] = 'B';
            }
            break;
        }
        }
        __atomic_store_n(&done, n, __ATOMIC_RELEASE);
    }
    return NULL;
}

static const char *code_name(int code)
{
    return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
}

/* Reads (or writes) `victim`; returns the byte, or -1 after a SIGSEGV at
 * `victim` (reported). */
static int touch(int write)
{
    fault_addr = NULL;
    if (sigsetjmp(recover, 1) != 0) {
        printf("  SIGSEGV %s at the page: %s\n", code_name(fault_code),
               fault_addr == victim ? "yes" : "no");
        return -1;
    }
    if (write) {
        victim[0] = 'W';
    }
    return *(volatile char *)victim;
}

static int faults(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    victim = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (victim == MAP_FAILED) {
        return 1;
    }
    victim[0] = 'v';
    pthread_t t;
    if (pthread_create(&t, NULL, helper, NULL) != 0) {
        return 1;
    }
    printf("read before: %c\n", touch(0));
    advance(1);
    printf("read after another thread's munmap:\n");
    touch(0);
    advance(2);
    printf("write to the read-only page another thread mapped:\n");
    touch(1);
    printf("read it: %d\n", touch(0));
    advance(3);
    printf("write after another thread's mprotect: %c\n", touch(1));
    advance(4);
    printf("read after another thread's MAP_FIXED: %c\n", touch(0));
    advance(5);
    printf("brk grown by another thread: %c\n", victim[PAGE - 1]);
    pthread_join(t, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        threads = strtol(argv[1], NULL, 0);
    }
    if (argc > 2) {
        rounds = strtol(argv[2], NULL, 0);
    }
    if (threads < 1 || threads > 64 || rounds < 1) {
        fprintf(stderr, "usage: threads-memory [THREADS(1-64) [ROUNDS]]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    common_page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (common_page == MAP_FAILED) {
        return 1;
    }
    for (long t = 0; t < threads; t++) {
        common_page[t] = (uint32_t)t;
    }
    pthread_t ids[64];
    for (long t = 0; t < threads; t++) {
        if (pthread_create(&ids[t], NULL, churn, (void *)t) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    }
    long errors = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        errors += churn_errors[t];
    }
    printf("churn: %ld threads x %ld rounds, %ld errors\n", threads, rounds, errors);
    return faults() || errors != 0;
}

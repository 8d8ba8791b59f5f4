/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Code written at run time, as a JIT writes it: a function "return K" is
 * generated into executable memory, called, rewritten with another K and
 * called again, with the instruction cache flushed the way compilers do it
 * (__builtin___clear_cache: riscv_flush_icache on riscv64, cacheflush on
 * arm and mips, nothing on x86). Also through a second, writable view of
 * the same page (W^X JITs) and across mprotect between writable and
 * executable.
 *
 *   jit
 *   jit threads     one thread writes each function, another runs it
 *   jit threads spin     the same, both waiting without system calls
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__riscv)
#include <sys/syscall.h>
#endif

#define PAGE 4096

typedef int (*constant_fn)(void);

/* Machine code of `return k` (0 <= k < 2048) for this architecture. */
static size_t emit_return(uint8_t *out, int k)
{
#if defined(__x86_64__) || defined(__i386__)
    out[0] = 0xb8; /* mov $k, %eax */
    memcpy(out + 1, &k, 4);
    out[5] = 0xc3; /* ret */
    return 6;
#else
    uint32_t w[2];
#if defined(__aarch64__)
    w[0] = 0x52800000u | ((uint32_t)k << 5); /* movz w0, #k */
    w[1] = 0xd65f03c0u;                      /* ret */
#elif defined(__arm__) && defined(__thumb__)
    /* movw r0, #k (Thumb-2, two halfwords); bx lr */
    uint16_t h[3];
    h[0] = 0xf240 | ((k >> 12) & 0xf) | (((k >> 11) & 1) << 10);
    h[1] = (((k >> 8) & 7) << 12) | (k & 0xff);
    h[2] = 0x4770;
    memcpy(out, h, sizeof(h));
    return sizeof(h);
#elif defined(__arm__)
    w[0] = 0xe3000000u | (((uint32_t)k >> 12) << 16) | ((uint32_t)k & 0xfff); /* movw r0 */
    w[1] = 0xe12fff1eu;                                                       /* bx lr */
#elif defined(__riscv)
    w[0] = ((uint32_t)k << 20) | (10u << 7) | 0x13u; /* addi a0, zero, k */
    w[1] = 0x00008067u;                            /* ret */
#elif defined(__mips__)
    w[0] = 0x03e00008u;              /* jr ra */
    w[1] = 0x24020000u | (uint32_t)k; /* addiu v0, zero, k (delay slot) */
#elif defined(__powerpc64__)
    w[0] = 0x38600000u | (uint32_t)k; /* li r3, k */
    w[1] = 0x4e800020u;               /* blr */
#elif defined(__s390x__)
    /* Big-endian words: lghi %r2, k; br %r14; then two bytes never run. */
    w[0] = 0xa7290000u | (uint32_t)k;
    w[1] = 0x07fe0700u; /* br %r14; nopr */
#else
#error "unknown architecture"
#endif
    memcpy(out, w, sizeof(w));
    return sizeof(w);
#endif
}

static constant_fn as_function(uint8_t *code)
{
#if defined(__arm__) && defined(__thumb__)
    return (constant_fn)((uintptr_t)code | 1);
#else
    return (constant_fn)(uintptr_t)code;
#endif
}

static void flush(uint8_t *code, size_t len)
{
    __builtin___clear_cache((char *)code, (char *)code + len);
}

/* Code written by one thread and run by another: the writer emits
 * `return k` into a shared page and publishes k; the runner waits for it,
 * calls the function and publishes what it returned; the writer rewrites
 * only after that. Function k alternates between two places in the page,
 * so a runner with stale code would return k - 2. */
#define CROSS_ROUNDS 500
static uint8_t *shared_code;
static int published = -1, returned = -1;
static int spin;

static void wait_for(int *word, int value)
{
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != value) {
        if (!spin) {
            sched_yield();
        }
    }
}

static void *cross_runner(void *arg)
{
    long *wrong = arg;
    for (int k = 0; k < CROSS_ROUNDS; k++) {
        wait_for(&published, k);
        int got = as_function(shared_code + (k % 2) * 64)();
        *wrong += got != k;
        __atomic_store_n(&returned, k, __ATOMIC_RELEASE);
    }
    return NULL;
}

static int cross_thread(void)
{
    shared_code = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shared_code == MAP_FAILED) {
        printf("mmap failed\n");
        return 1;
    }
    long wrong = 0;
    pthread_t runner;
    if (pthread_create(&runner, NULL, cross_runner, &wrong) != 0) {
        printf("pthread_create failed\n");
        return 1;
    }
    for (int k = 0; k < CROSS_ROUNDS; k++) {
        uint8_t *at = shared_code + (k % 2) * 64;
        size_t len = emit_return(at, k);
        flush(at, len);
        __atomic_store_n(&published, k, __ATOMIC_RELEASE);
        wait_for(&returned, k);
    }
    pthread_join(runner, NULL);
    printf("written by one thread, run by another: %d functions, %ld wrong\n", CROSS_ROUNDS,
           wrong);
    return wrong != 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "threads") == 0) {
        spin = argc > 2 && strcmp(argv[2], "spin") == 0;
        return cross_thread();
    }
    uint8_t *rwx = mmap(NULL, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx == MAP_FAILED) {
        printf("mmap failed\n");
        return 1;
    }

    /* 1. Rewritten in place, 1000 times, in one writable+executable page. */
    long sum = 0;
    for (int k = 0; k < 1000; k++) {
        size_t len = emit_return(rwx, k);
        flush(rwx, len);
        sum += as_function(rwx)();
    }
    printf("rewritten in place: sum %ld (want %ld)\n", sum, 999L * 1000 / 2);

    /* 2. Two functions in one page: rewriting one leaves the other. */
    size_t len = emit_return(rwx + 64, 7);
    flush(rwx + 64, len);
    len = emit_return(rwx, 11);
    flush(rwx, len);
    printf("neighbours: %d %d\n", as_function(rwx)(), as_function(rwx + 64)());

    /* 3. W^X: written while writable, run after mprotect to executable. */
    uint8_t *wx = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int first = -1, second = -1;
    if (wx != MAP_FAILED) {
        len = emit_return(wx, 21);
        flush(wx, len);
        if (mprotect(wx, PAGE, PROT_READ | PROT_EXEC) == 0) {
            first = as_function(wx)();
        }
        if (mprotect(wx, PAGE, PROT_READ | PROT_WRITE) == 0) {
            len = emit_return(wx, 22);
            flush(wx, len);
        }
        if (mprotect(wx, PAGE, PROT_READ | PROT_EXEC) == 0) {
            second = as_function(wx)();
        }
    }
    printf("mprotect between writing and running: %d %d\n", first, second);

    /* 4. Two views of one shared page: write through one, run the other. */
    char name[] = "/tmp/ht-jit-XXXXXX";
    int fd = mkstemp(name);
    int views[2] = {-1, -1};
    if (fd >= 0 && ftruncate(fd, PAGE) == 0) {
        unlink(name);
        uint8_t *w = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        uint8_t *x = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
        if (w != MAP_FAILED && x != MAP_FAILED) {
            for (int i = 0; i < 2; i++) {
                len = emit_return(w, 31 + i);
                flush(x, len);
                views[i] = as_function(x)();
            }
        }
        close(fd);
    }
    printf("write view, execute view: %d %d\n", views[0], views[1]);

#if defined(__riscv)
    /* The system call itself: bad flags are EINVAL. */
    long ok = syscall(259, (long)rwx, (long)rwx + PAGE, 0L);
    long bad = syscall(259, (long)rwx, (long)rwx + PAGE, 2L);
    printf("riscv_flush_icache: %ld %ld\n", ok, bad);
#endif
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guest that hands the kernel what a careless or hostile program would:
 * each mode prints what Linux answered, so a run compares with Linux's.
 *
 *   hostile control-offset BASE  maps BASE-control at file offset
 *                                0xfffffffffffff000 (EOVERFLOW) and at
 *                                offset 0 (works)
 *   hostile wrap                 msync and madvise of a range that wraps
 *                                around the end of the address space
 *                                (ENOMEM, EINVAL)
 * Both need 64-bit offsets and addresses; 32-bit guests print "skipped".
 *   hostile low-sp               a signal whose handler frame cannot fit
 *                                below the stack pointer: the process dies
 *                                of SIGSEGV (x86_64, aarch64, riscv64;
 *                                elsewhere it prints "skipped")
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *name(int err)
{
    switch (err) {
    case 0: return "ok";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EOVERFLOW: return "EOVERFLOW";
    case EFAULT: return "EFAULT";
    default: return strerror(err);
    }
}

#if UINTPTR_MAX == 0xffffffffffffffffu
static int control_offset(const char *base)
{
    char path[4096];
    snprintf(path, sizeof path, "%s-control", base);
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    /* The raw call: a 32-bit libc would refuse the offset itself. */
    long r = syscall(SYS_mmap, 0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED,
                     fd, (long)0xfffffffffffff000ull);
    int err = r < 0 && r > -4096 ? errno : 0;
    if (r >= 0 || r <= -4096) {
        /* Mapped: touch its second page, then unmap half of it. */
        ((volatile uint64_t *)r)[512] = 1;
        munmap((void *)r, 4096);
    }
    printf("mmap at offset 0xfffffffffffff000: %s\n", name(err));
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("mmap at offset 0: %s\n", name(p == MAP_FAILED ? errno : 0));
    return 0;
}

static int wrap(void)
{
    uintptr_t top = (uintptr_t)0 - 4096;
    errno = 0;
    int r = msync((void *)top, 8192, MS_SYNC);
    printf("msync across the top: %s\n", name(r ? errno : 0));
    errno = 0;
    r = madvise((void *)top, 8192, MADV_DONTNEED);
    printf("madvise across the top: %s\n", name(r ? errno : 0));
    return 0;
}
#else
static int control_offset(const char *base)
{
    (void)base;
    printf("skipped (32-bit guest)\n");
    return 0;
}

static int wrap(void)
{
    printf("skipped (32-bit guest)\n");
    return 0;
}
#endif

static void handler(int sig)
{
    (void)sig;
    printf("handler ran\n");
}

static int low_sp(void)
{
    signal(SIGUSR1, handler);
    long nr = SYS_kill, pid = getpid(), sig = SIGUSR1;
    fflush(stdout);
#if defined(__x86_64__)
    __asm__ volatile("mov $64, %%rsp\n\tsyscall\n\tud2"
                     :
                     : "a"(nr), "D"(pid), "S"(sig)
                     : "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = pid;
    register long x1 __asm__("x1") = sig;
    __asm__ volatile("mov x9, #64\n\tmov sp, x9\n\tsvc #0\n\tudf #0"
                     :
                     : "r"(x8), "r"(x0), "r"(x1)
                     : "x9", "memory");
#elif defined(__riscv) && __riscv_xlen == 64
    register long a7 __asm__("a7") = nr;
    register long a0 __asm__("a0") = pid;
    register long a1 __asm__("a1") = sig;
    __asm__ volatile("li sp, 64\n\tecall\n\tunimp"
                     :
                     : "r"(a7), "r"(a0), "r"(a1)
                     : "memory");
#else
    (void)nr;
    (void)pid;
    (void)sig;
    printf("skipped\n");
    return 0;
#endif
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "control-offset") == 0) {
        return control_offset(argv[2]);
    }
    if (argc > 1 && strcmp(argv[1], "wrap") == 0) {
        return wrap();
    }
    if (argc > 1 && strcmp(argv[1], "low-sp") == 0) {
        return low_sp();
    }
    fprintf(stderr, "usage: hostile control-offset BASE | wrap | low-sp\n");
    return 2;
}

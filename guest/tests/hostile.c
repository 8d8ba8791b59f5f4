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
 *   hostile replace-data BASE    unlinks BASE-data and creates its own file
 *                                there (which must survive the run)
 *   hostile corrupt-exec BASE    overwrites BASE-config, then executes
 *                                itself ("wrap"): the channel is unusable
 *   hostile control-readonly BASE  stores to BASE-control (an event), makes
 *                                the page read-only and stores again: a
 *                                SIGSEGV, as for any read-only page
 *   hostile truncate-data BASE   raises an event, truncates BASE-data to
 *                                nothing, reads its own mapping of it and
 *                                raises another event: neither ht-user nor
 *                                the guest dies of SIGBUS
 *   hostile truncate-mapping     a shared file mapping whose file shrinks
 *                                and grows under it (ftruncate, O_TRUNC,
 *                                pwrite): pages past the end are SIGBUS for
 *                                the guest's own handler, EFAULT for system
 *                                calls, and memory again once the file
 *                                covers them
 *   hostile shrink-by-other      as truncate-mapping, but another process
 *                                (a forked child) changes the file's size:
 *                                the guest's own loads and stores and its
 *                                system calls see what Linux gives them
 *   hostile shrink-by-other nohandler  the same without a SIGBUS handler:
 *                                the process dies of SIGBUS
 *   hostile shrink-by-other thread  as shrink-by-other, in a second thread
 *                                while the first waits to join it
 *   hostile wait-data-shrink BASE  raises an event, says "waiting", waits
 *                                until something else truncates BASE-data,
 *                                then raises another event
 *   hostile select               select and pselect: timeouts (sets
 *                                cleared), ready pipes, a bad descriptor,
 *                                a wait another thread ends
 *   hostile proc-fd              lists /proc/self/fd and fdinfo with a pipe
 *                                open, reads its link, reopens its write
 *                                end, and names a descriptor it does not
 *                                have: the guest's descriptors only
 *   hostile low-sp               a signal whose handler frame cannot fit
 *                                below the stack pointer: the process dies
 *                                of SIGSEGV (64-bit guests;
 *                                elsewhere it prints "skipped")
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <qemu-hypertrace.h>
#include <errno.h>
#include <setjmp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

static int replace_data(const char *base)
{
    char path[4096];
    snprintf(path, sizeof path, "%s-data", base);
    if (unlink(path) != 0) {
        perror("unlink");
        return 1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || write(fd, "mine\n", 5) != 5) {
        perror("create");
        return 1;
    }
    close(fd);
    printf("replaced %s\n", path);
    return 0;
}

static int corrupt_exec(const char *self, const char *base)
{
    char path[4096];
    snprintf(path, sizeof path, "%s-config", base);
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, "garbage!", 8) != 8) {
        perror("config");
        return 1;
    }
    close(fd);
    printf("config overwritten\n");
    fflush(stdout);
    execl(self, self, "wrap", (char *)NULL);
    perror("execl");
    return 1;
}

static void segv_exit(int sig)
{
    (void)sig;
    static const char msg[] = "SIGSEGV on the read-only control page\n";
    write(1, msg, sizeof msg - 1);
    _exit(0);
}

static int control_readonly(const char *base)
{
    char path[4096];
    snprintf(path, sizeof path, "%s-control", base);
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    volatile uint64_t *control =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (control == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    signal(SIGSEGV, segv_exit);
    control[0] = 1;
    printf("first store done\n");
    fflush(stdout);
    if (mprotect((void *)control, 4096, PROT_READ) != 0) {
        perror("mprotect");
        return 1;
    }
    control[0] = 2;
    printf("second store done\n");
    return 1;
}

static int truncate_data(const char *base)
{
    if (qemu_hypertrace_init(base) != 0) {
        perror("qemu_hypertrace_init");
        return 1;
    }
    volatile uint64_t *data = qemu_hypertrace_data(0);
    data[0] = 7;
    qemu_hypertrace(0, 1);
    char path[4096];
    snprintf(path, sizeof path, "%s-data", base);
    int fd = open(path, O_RDWR);
    if (fd < 0 || ftruncate(fd, 0) != 0) {
        perror("truncate");
        return 1;
    }
    close(fd);
    printf("after truncation the slot reads %llu\n", (unsigned long long)data[0]);
    qemu_hypertrace(0, 2);
    printf("second event raised\n");
    return 0;
}

static int wake_pipe[2];

static void *write_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (write(wake_pipe[1], "w", 1) != 1) {
        perror("write");
    }
    return NULL;
}

static int select_calls(void)
{
    int p[2];
    if (pipe(p) != 0 || pipe(wake_pipe) != 0) {
        perror("pipe");
        return 1;
    }
    fd_set r, w;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 20000};
    int n = select(p[0] + 1, &r, NULL, NULL, &tv);
    printf("empty pipe: %d ready, set cleared: %s\n", n, FD_ISSET(p[0], &r) ? "no" : "yes");
    if (write(p[1], "x", 1) != 1) {
        return 1;
    }
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    n = select(p[1] + 1, &r, &w, NULL, NULL);
    printf("after a write: %d ready (read %d, write %d)\n", n, FD_ISSET(p[0], &r) != 0,
           FD_ISSET(p[1], &w) != 0);
    FD_ZERO(&r);
    FD_SET(60, &r);
    errno = 0;
    n = select(61, &r, NULL, NULL, NULL);
    printf("a descriptor not open: %d, %s\n", n, strerror(errno));
    struct timespec zero = {0, 0};
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    n = pselect(p[0] + 1, &r, NULL, NULL, &zero, NULL);
    printf("pselect, zero timeout: %d ready\n", n);
    /* With a second thread the wait is the scheduler's: another thread's
     * write must end it, and a timeout must still clear the set. */
    pthread_t t;
    pthread_create(&t, NULL, write_later, NULL);
    FD_ZERO(&r);
    FD_SET(wake_pipe[0], &r);
    struct timeval short_tv = {0, 1000};
    n = select(wake_pipe[0] + 1, &r, NULL, NULL, &short_tv);
    printf("threaded, short timeout: %d ready, set cleared: %s\n", n,
           FD_ISSET(wake_pipe[0], &r) ? "no" : "yes");
    FD_ZERO(&r);
    FD_SET(wake_pipe[0], &r);
    n = select(wake_pipe[0] + 1, &r, NULL, NULL, NULL);
    printf("woken by another thread: %d ready (%s)\n", n,
           FD_ISSET(wake_pipe[0], &r) ? "set" : "not set");
    pthread_join(t, NULL);
    return 0;
}

static void list_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        printf("%s: %s\n", path, strerror(errno));
        return;
    }
    /* Entries in the order given, numbers only (skip . and ..). */
    printf("%s:", path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            printf(" %s", e->d_name);
        }
    }
    printf("\n");
    closedir(d);
}

static int proc_fd(void)
{
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        return 1;
    }
    list_dir("/proc/self/fd");
    list_dir("/proc/self/fdinfo");
    char buf[256];
    ssize_t n = readlink("/proc/self/fd/3", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("fd 3 is a pipe: %s\n", strncmp(buf, "pipe:[", 6) == 0 ? "yes" : buf);
    int w = open("/proc/self/fd/4", O_WRONLY);
    char c = 0;
    if (w < 0 || write(w, "x", 1) != 1 || read(p[0], &c, 1) != 1) {
        perror("reopen");
        return 1;
    }
    printf("through a reopened write end: %c\n", c);
    errno = 0;
    int bad = open("/proc/self/fd/9", O_WRONLY);
    printf("/proc/self/fd/9: %s\n", bad < 0 ? strerror(errno) : "opened");
    return 0;
}

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
#elif defined(__mips__) && _MIPS_SIM == _ABI64
    register long v0 __asm__("$2") = nr;
    register long a0 __asm__("$4") = pid;
    register long a1 __asm__("$5") = sig;
    __asm__ volatile(".set push\n\t.set noreorder\n\t"
                     "li $sp, 64\n\tsyscall\n\tbreak\n\t"
                     ".set pop"
                     : "+r"(v0)
                     : "r"(a0), "r"(a1)
                     : "$7", "memory");
#elif defined(__powerpc64__)
    register long r0 __asm__("r0") = nr;
    register long r3 __asm__("r3") = pid;
    register long r4 __asm__("r4") = sig;
    __asm__ volatile("li 1, 64\n\tsc\n\t.long 0"
                     : "+r"(r3)
                     : "r"(r0), "r"(r4)
                     : "memory");
#elif defined(__s390x__)
    register long r1 __asm__("r1") = nr;
    register long r2 __asm__("r2") = pid;
    register long r3 __asm__("r3") = sig;
    __asm__ volatile("lghi %%r15, 64\n\tsvc 0\n\t.short 0"
                     : "+r"(r2)
                     : "r"(r1), "r"(r3)
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

static sigjmp_buf bus_jump;
static volatile int bus_code;
static void *volatile bus_addr;

static void on_bus(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    bus_code = info->si_code;
    bus_addr = info->si_addr;
    siglongjmp(bus_jump, 1);
}

/* Reads (write 0) or writes byte `at` of the mapping; says what happened. */
static const char *touch(volatile char *map, long at, int write_it)
{
    /* Several answers go into one printf: each has its own buffer. */
    static char answers[4][64];
    static int next;
    /* volatile: GCC may otherwise share its stack slot with the return
     * value of the store path, which the siglongjmp leaves behind. */
    char *volatile said = answers[next++ % 4];
    bus_addr = NULL;
    if (sigsetjmp(bus_jump, 1) == 0) {
        if (write_it) {
            map[at] = 'w';
            return "stored";
        }
        snprintf(said, sizeof(answers[0]), "read '%c'", map[at] ? map[at] : '0');
        return said;
    }
    snprintf(said, sizeof(answers[0]), "SIGBUS (%s, at the byte: %s)",
             bus_code == BUS_ADRERR ? "BUS_ADRERR" : "another code",
             bus_addr == (void *)(map + at) ? "yes" : "no");
    return said;
}

static int truncate_mapping(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char path[] = "/tmp/hostile-truncate-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return 1;
    }
    char fill[2][4096];
    memset(fill[0], 'a', sizeof(fill[0]));
    memset(fill[1], 'b', sizeof(fill[1]));
    if (page != 4096 || write(fd, fill, sizeof(fill)) != (ssize_t)sizeof(fill)) {
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    volatile char *map = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        return 1;
    }
    printf("two-page file, three-page mapping: page 2 %s, page 3 %s\n", touch(map, page + 1, 0),
           touch(map, 2 * page + 1, 0));
    ftruncate(fd, page);
    printf("ftruncate to one page: page 1 %s, page 2 %s, store to page 2 %s\n",
           touch(map, 1, 0), touch(map, page + 1, 0), touch(map, page + 2, 1));
    int pipes[2];
    pipe(pipes);
    errno = 0;
    long n = write(pipes[1], (const char *)map + page, 16);
    printf("write(2) from page 2: %ld, %s\n", n, name(n < 0 ? errno : 0));
    ftruncate(fd, 3 * page);
    printf("ftruncate to three pages: page 2 %s, page 3 %s, store to page 3 %s\n",
           touch(map, page + 1, 0), touch(map, 2 * page + 1, 0), touch(map, 2 * page + 2, 1));
    int again = open(path, O_RDWR | O_TRUNC);
    printf("open with O_TRUNC: page 1 %s\n", touch(map, 1, 0));
    pwrite(again, "z", 1, 2 * page + 10);
    printf("pwrite past the end: page 1 %s, page 3 %s\n", touch(map, 1, 0),
           touch(map, 2 * page + 10, 0));
    ftruncate(again, 0);
    int allocated = fallocate(again, 0, 0, 3 * page);
    printf("fallocate of three pages: %s, page 3 %s\n", name(allocated < 0 ? errno : 0),
           touch(map, 2 * page + 10, 0));
    close(again);
    close(fd);
    unlink(path);
    return 0;
}
/* Another process (a child) sets the file's size: the guest's mapping
 * learns it only when it touches the pages. */
static void size_by_child(int fd, off_t size)
{
    pid_t child = fork();
    if (child == 0) {
        _exit(ftruncate(fd, size) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
}

static int shrink_by_other(int with_handler)
{
    long page = sysconf(_SC_PAGESIZE);
    char path[] = "/tmp/hostile-shrink-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return 1;
    }
    unlink(path);
    char fill[3][4096];
    memset(fill, 'a', sizeof(fill));
    if (page != 4096 || write(fd, fill, sizeof(fill)) != (ssize_t)sizeof(fill)) {
        return 1;
    }
    if (with_handler) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_bus;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGBUS, &sa, NULL);
    }
    volatile char *map = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        return 1;
    }
    printf("three-page file: page 2 %s, page 3 %s\n", touch(map, page + 1, 0),
           touch(map, 2 * page + 1, 0));
    fflush(stdout);
    if (!with_handler) {
        size_by_child(fd, page);
        printf("never printed: %c\n", map[page + 1]);
        return 0;
    }
    int pipes[2];
    pipe(pipes);
    size_by_child(fd, page);
    errno = 0;
    long n = write(pipes[1], (const char *)map + page, 16);
    printf("truncated to one page: write(2) from page 2: %ld, %s; page 1 %s, page 2 %s\n", n,
           name(n < 0 ? errno : 0), touch(map, 1, 0), touch(map, page + 1, 0));
    size_by_child(fd, 3 * page);
    printf("extended to three pages: page 2 %s, page 3 %s\n", touch(map, page + 1, 0),
           touch(map, 2 * page + 1, 0));
    size_by_child(fd, page);
    printf("truncated to one page: page 3 %s, page 2 %s\n", touch(map, 2 * page + 1, 0),
           touch(map, page + 1, 0));
    size_by_child(fd, 3 * page);
    printf("extended again: store to page 2 %s\n", touch(map, page + 2, 1));
    size_by_child(fd, page);
    printf("truncated again: store to page 2 %s, page 1 %s\n", touch(map, page + 2, 1),
           touch(map, 1, 0));
    close(fd);
    return 0;
}

static void *shrink_by_other_thread(void *result)
{
    *(int *)result = shrink_by_other(1);
    return NULL;
}

static int wait_data_shrink(const char *base)
{
    if (qemu_hypertrace_init(base) != 0) {
        perror("qemu_hypertrace_init");
        return 1;
    }
    volatile uint64_t *data = qemu_hypertrace_data(0);
    data[0] = 7;
    qemu_hypertrace(0, 1);
    char path[4096];
    snprintf(path, sizeof path, "%s-data", base);
    printf("waiting\n");
    fflush(stdout);
    struct stat st;
    for (int i = 0; i < 2000 && stat(path, &st) == 0 && st.st_size != 0; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("data file size %lld\n", (long long)st.st_size);
    qemu_hypertrace(0, 2);
    printf("second event raised\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "shrink-by-other") == 0 &&
        strcmp(argv[2], "thread") == 0) {
        int result = 1;
        pthread_t t;
        if (pthread_create(&t, NULL, shrink_by_other_thread, &result) != 0) {
            return 1;
        }
        pthread_join(t, NULL);
        return result;
    }
    if (argc > 1 && strcmp(argv[1], "shrink-by-other") == 0) {
        return shrink_by_other(!(argc > 2 && strcmp(argv[2], "nohandler") == 0));
    }
    if (argc > 2 && strcmp(argv[1], "wait-data-shrink") == 0) {
        return wait_data_shrink(argv[2]);
    }
    if (argc > 2 && strcmp(argv[1], "control-offset") == 0) {
        return control_offset(argv[2]);
    }
    if (argc > 2 && strcmp(argv[1], "truncate-data") == 0) {
        return truncate_data(argv[2]);
    }
    if (argc > 1 && strcmp(argv[1], "truncate-mapping") == 0) {
        return truncate_mapping();
    }
    if (argc > 1 && strcmp(argv[1], "select") == 0) {
        return select_calls();
    }
    if (argc > 1 && strcmp(argv[1], "proc-fd") == 0) {
        return proc_fd();
    }
    if (argc > 2 && strcmp(argv[1], "control-readonly") == 0) {
        return control_readonly(argv[2]);
    }
    if (argc > 2 && strcmp(argv[1], "replace-data") == 0) {
        return replace_data(argv[2]);
    }
    if (argc > 2 && strcmp(argv[1], "corrupt-exec") == 0) {
        return corrupt_exec(argv[0], argv[2]);
    }
    if (argc > 1 && strcmp(argv[1], "wrap") == 0) {
        return wrap();
    }
    if (argc > 1 && strcmp(argv[1], "low-sp") == 0) {
        return low_sp();
    }
    fprintf(stderr, "usage: hostile control-offset BASE | replace-data BASE | "
                    "corrupt-exec BASE | control-readonly BASE | truncate-data BASE | "
                    "proc-fd | select | truncate-mapping | shrink-by-other [nohandler | thread] | "
                    "wait-data-shrink BASE | wrap | low-sp\n");
    return 2;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Signals: handlers, masks, faults with si_addr, sigreturn, alternate
 * stacks, interrupted system calls, waiting for signals, default actions.
 *
 *   signals              every check below, one line each
 *   signals wait-int     prints "waiting", then pause()s until SIGINT,
 *                        whose handler prints and exits 3
 *   signals spin-int     prints "spinning", then loops without system calls
 *                        until a SIGINT handler sets a flag; exits 4
 *   signals ignore-int   ignores SIGINT, prints "ignoring", sleeps 1 s and
 *                        exits 5 (SIGINT meanwhile changes nothing)
 *
 * The output never contains an address or a pid, so it can be compared
 * with qemu-user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t count;
static volatile int last_signo, last_code, last_pid_ok, last_value;
static volatile uintptr_t last_addr;
static sigjmp_buf jump;
static long page;

static const char *name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGFPE: return "SIGFPE";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGCHLD: return "SIGCHLD";
    case SIGALRM: return "SIGALRM";
    case SIGSTOP: return "SIGSTOP";
    case 0: return "none";
    default: return "other";
    }
}

static void on(int sig, void (*fn)(int, siginfo_t *, void *), int flags, const sigset_t *mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    if (mask)
        sa.sa_mask = *mask;
    else
        sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        perror("sigaction");
        exit(1);
    }
}

static void record(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    count++;
    last_signo = sig;
    last_code = si->si_code;
    last_pid_ok = si->si_pid == getpid();
    last_value = si->si_value.sival_int;
}

static void check_handlers(void)
{
    on(SIGUSR1, record, 0, NULL);
    count = 0;
    raise(SIGUSR1);
    printf("raise: handler ran %d time(s), signo %s, code SI_TKILL: %s, pid: %s\n", (int)count,
           name(last_signo), last_code == SI_TKILL ? "yes" : "no", last_pid_ok ? "yes" : "no");
    count = 0;
    kill(getpid(), SIGUSR1);
    printf("kill: handler ran %d time(s), code SI_USER: %s\n", (int)count,
           last_code == SI_USER ? "yes" : "no");
}

static void check_masks(void)
{
    sigset_t set, old, pending;
    on(SIGUSR2, record, 0, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, &old);
    count = 0;
    raise(SIGUSR2);
    raise(SIGUSR2);
    sigpending(&pending);
    printf("blocked: ran %d time(s), pending: %s\n", (int)count,
           sigismember(&pending, SIGUSR2) ? "yes" : "no");
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: ran %d time(s) (standard signals merge)\n", (int)count);

    int rt = SIGRTMIN + 1;
    on(rt, record, 0, NULL);
    sigemptyset(&set);
    sigaddset(&set, rt);
    sigprocmask(SIG_BLOCK, &set, &old);
    count = 0;
    for (int i = 1; i <= 3; i++) {
        union sigval v = {.sival_int = i * 10};
        sigqueue(getpid(), rt, v);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("real-time signal queued 3 times: ran %d time(s), last value %d, code SI_QUEUE: %s\n",
           (int)count, last_value, last_code == SI_QUEUE ? "yes" : "no");
}

static volatile int blocked_inside, usr2_blocked_inside;

static void look_at_mask(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    blocked_inside = sigismember(&cur, sig);
    usr2_blocked_inside = sigismember(&cur, SIGUSR2);
    count++;
}

static void check_handler_masks(void)
{
    sigset_t extra;
    sigemptyset(&extra);
    sigaddset(&extra, SIGUSR2);
    on(SIGUSR1, look_at_mask, 0, &extra);
    raise(SIGUSR1);
    printf("inside the handler: own signal blocked: %s, sa_mask signal blocked: %s\n",
           blocked_inside ? "yes" : "no", usr2_blocked_inside ? "yes" : "no");
    on(SIGUSR1, look_at_mask, SA_NODEFER, NULL);
    raise(SIGUSR1);
    printf("with SA_NODEFER: own signal blocked: %s\n", blocked_inside ? "yes" : "no");
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("after the handlers: SIGUSR1 blocked: %s, SIGUSR2 blocked: %s\n",
           sigismember(&cur, SIGUSR1) ? "yes" : "no", sigismember(&cur, SIGUSR2) ? "yes" : "no");

    on(SIGUSR1, record, SA_RESETHAND, NULL);
    raise(SIGUSR1);
    struct sigaction now;
    sigaction(SIGUSR1, NULL, &now);
    printf("SA_RESETHAND: handler afterwards is SIG_DFL: %s\n",
           now.sa_handler == SIG_DFL ? "yes" : "no");
}

static void block_usr2_on_return(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    sigaddset(&uc->uc_sigmask, SIGUSR2);
}

static void check_ucontext_mask(void)
{
    sigset_t none, cur;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    on(SIGUSR1, block_usr2_on_return, 0, NULL);
    raise(SIGUSR1);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("handler added SIGUSR2 to uc_sigmask: blocked after return: %s\n",
           sigismember(&cur, SIGUSR2) ? "yes" : "no");
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void jump_out(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    last_signo = sig;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    siglongjmp(jump, 1);
}

/* An instruction the architecture leaves undefined on every CPU. */
static void undefined_instruction(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("ud2");
#elif defined(__aarch64__)
    __asm__ volatile(".inst 0x00000000"); /* udf #0 */
#elif defined(__arm__) && defined(__thumb__)
    __asm__ volatile(".inst.n 0xde00"); /* udf #0 */
#elif defined(__arm__)
    __asm__ volatile(".inst 0xe7f000f0"); /* udf #0 */
#elif defined(__riscv)
    __asm__ volatile("unimp");
#elif defined(__mips__) && _MIPS_SIM == _ABI64
    __asm__ volatile(".word 0x00000028"); /* SPECIAL function 0x28: reserved */
#elif defined(__mips__)
    __asm__ volatile(".word 0x0000003f"); /* dsra32: reserved on MIPS32 */
#elif defined(__powerpc64__)
    __asm__ volatile(".long 0x00000000"); /* primary opcode 0: illegal */
#elif defined(__s390x__)
    __asm__ volatile(".short 0x0000"); /* opcode 0x00: an operation exception */
#else
#error "no undefined instruction for this architecture"
#endif
}

static const char *ill_code_name(int code)
{
    switch (code) {
    case ILL_ILLOPC: return "ILL_ILLOPC";
    case ILL_ILLOPN: return "ILL_ILLOPN";
    case SI_KERNEL: return "SI_KERNEL";
    default: return "another code";
    }
}

static char *protected_page;
static volatile int faults;

static void unprotect_on_third(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    last_signo = sig;
    last_code = si->si_code;
    last_addr = (uintptr_t)si->si_addr;
    if (++faults == 3)
        mprotect(protected_page, page, PROT_READ | PROT_WRITE);
}

static void check_faults(void)
{
    page = sysconf(_SC_PAGESIZE);
    char *hole = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole + page, page);
    volatile char *target = hole + page + 123;

    on(SIGSEGV, jump_out, 0, NULL);
    if (sigsetjmp(jump, 1) == 0) {
        (void)*target;
        puts("read of an unmapped address: no fault");
    } else {
        printf("read of an unmapped address: %s, SEGV_MAPERR: %s, si_addr exact: %s\n",
               name(last_signo), last_code == SEGV_MAPERR ? "yes" : "no",
               last_addr == (uintptr_t)target ? "yes" : "no");
    }
    if (sigsetjmp(jump, 1) == 0) {
        *target = 1;
        puts("write to an unmapped address: no fault");
    } else {
        printf("write to an unmapped address: %s, si_addr exact: %s\n", name(last_signo),
               last_addr == (uintptr_t)target ? "yes" : "no");
    }

    protected_page = hole;
    mprotect(protected_page, page, PROT_READ);
    on(SIGSEGV, unprotect_on_third, 0, NULL);
    faults = 0;
    volatile int *slot = (volatile int *)(protected_page + 64);
    *slot = 42;
    printf("write to a read-only page: %s, SEGV_ACCERR: %s, si_addr exact: %s, "
           "faulted %d times, then the store completed: %d\n",
           name(last_signo), last_code == SEGV_ACCERR ? "yes" : "no",
           last_addr == (uintptr_t)slot ? "yes" : "no", (int)faults, *slot);
    munmap(hole, 3 * page);

    /* Pages of a file mapping past the end of the file: SIGBUS. */
    char path[] = "/tmp/signals-eof-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    if (fd < 0 || write(fd, "hello", 5) != 5)
        exit(1);
    on(SIGBUS, jump_out, 0, NULL);
    const int kinds[2] = {MAP_SHARED, MAP_PRIVATE};
    for (volatile int k = 0; k < 2; k++) {
        char *file = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, kinds[k], fd, 0);
        volatile char *beyond = file + page + 7;
        last_signo = 0;
        char first = file[0];
        if (sigsetjmp(jump, 1) == 0)
            (void)*beyond;
        printf("%s file mapping: first page '%c', past the end of the file: %s, BUS_ADRERR: %s, "
               "si_addr exact: %s\n",
               k == 0 ? "shared" : "private", first, name(last_signo),
               last_code == BUS_ADRERR ? "yes" : "no",
               last_addr == (uintptr_t)beyond ? "yes" : "no");
        munmap(file, 2 * page);
    }
    close(fd);
    signal(SIGBUS, SIG_DFL);

    on(SIGILL, jump_out, 0, NULL);
    on(SIGTRAP, jump_out, 0, NULL);
    /* s390x's __builtin_trap is a compare-and-trap: a data exception. */
    on(SIGFPE, jump_out, 0, NULL);
    last_signo = 0;
    if (sigsetjmp(jump, 1) == 0)
        __builtin_trap();
    printf("__builtin_trap: %s\n", name(last_signo));
    last_signo = 0;
    last_code = 0;
    if (sigsetjmp(jump, 1) == 0)
        undefined_instruction();
    printf("undefined instruction: %s, %s\n", name(last_signo), ill_code_name(last_code));

    last_signo = 0;
    volatile int zero = 0, seven = 7, q = -1;
    if (sigsetjmp(jump, 1) == 0)
        q = seven / zero;
    printf("integer division by zero: %s%s\n", name(last_signo),
           last_signo ? "" : (q == 0 ? " (result 0)" : " (other result)"));
    signal(SIGSEGV, SIG_DFL);
    signal(SIGILL, SIG_DFL);
    signal(SIGTRAP, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
}

/* An address nothing is ever mapped at, opaque to the compiler. */
static volatile uintptr_t low_address = 16;
static volatile uintptr_t resume_at;
static volatile int resumed;

static void redirect(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RIP] = resume_at;
#elif defined(__i386__)
    uc->uc_mcontext.gregs[REG_EIP] = resume_at;
#elif defined(__aarch64__)
    uc->uc_mcontext.pc = resume_at;
#elif defined(__arm__)
    uc->uc_mcontext.arm_pc = resume_at;
#elif defined(__riscv)
    uc->uc_mcontext.__gregs[REG_PC] = resume_at;
#elif defined(__mips__)
    uc->uc_mcontext.pc = resume_at;
    /* As for any call: PIC code derives gp from its own address in t9. */
    uc->uc_mcontext.gregs[25] = resume_at;
#elif defined(__powerpc64__)
    uc->uc_mcontext.gp_regs[32] = resume_at; /* the saved NIP */
    /* ELFv2: a function's global entry finds its TOC from r12. */
    uc->uc_mcontext.gp_regs[12] = resume_at;
#elif defined(__s390x__)
    uc->uc_mcontext.psw.addr = resume_at;
#endif
}

static void landing(void)
{
    resumed = 1;
    siglongjmp(jump, 2);
}

static void check_redirect(void)
{
    resume_at = (uintptr_t)landing;
    on(SIGSEGV, redirect, 0, NULL);
    resumed = 0;
    if (sigsetjmp(jump, 1) == 0) {
        *(volatile int *)low_address = 1;
    }
    printf("handler changed the saved pc: resumed there: %s\n", resumed ? "yes" : "no");
    signal(SIGSEGV, SIG_DFL);
}

static char altstack[64 * 1024];
static volatile int on_alt, ss_onstack;

static void where_am_i(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    char local;
    on_alt = (uintptr_t)&local >= (uintptr_t)altstack &&
             (uintptr_t)&local < (uintptr_t)altstack + sizeof altstack;
    stack_t now;
    sigaltstack(NULL, &now);
    ss_onstack = (now.ss_flags & SS_ONSTACK) != 0;
}

static void check_altstack(void)
{
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        perror("sigaltstack");
    on(SIGUSR1, where_am_i, SA_ONSTACK, NULL);
    raise(SIGUSR1);
    printf("SA_ONSTACK handler on the alternate stack: %s, SS_ONSTACK: %s\n",
           on_alt ? "yes" : "no", ss_onstack ? "yes" : "no");
    on(SIGUSR1, where_am_i, 0, NULL);
    raise(SIGUSR1);
    printf("handler without SA_ONSTACK on the alternate stack: %s\n", on_alt ? "yes" : "no");
    stack_t tiny = {.ss_sp = altstack, .ss_size = 16, .ss_flags = 0};
    int rc = sigaltstack(&tiny, NULL);
    printf("sigaltstack of 16 bytes: %d %s\n", rc, rc ? strerror(errno) : "");
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
}

static int pipe_fds[2];

static void ring(int sig)
{
    (void)sig;
    count++;
}

static void ring_and_feed(int sig)
{
    (void)sig;
    count++;
    char c = 'x';
    if (write(pipe_fds[1], &c, 1) != 1)
        _exit(9);
}

static void arm_timer_ms(int ms)
{
    struct itimerval t = {.it_value = {.tv_sec = 0, .tv_usec = ms * 1000}};
    setitimer(ITIMER_REAL, &t, NULL);
}

static void check_interrupted_calls(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (pipe(pipe_fds) != 0)
        exit(1);

    sa.sa_handler = ring;
    sigaction(SIGALRM, &sa, NULL);
    count = 0;
    arm_timer_ms(50);
    char c;
    ssize_t n = read(pipe_fds[0], &c, 1);
    printf("read interrupted by a handler without SA_RESTART: %zd %s, handler ran %d\n", n,
           n < 0 ? strerror(errno) : "", (int)count);

    sa.sa_handler = ring_and_feed;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    count = 0;
    arm_timer_ms(50);
    n = read(pipe_fds[0], &c, 1);
    printf("read with SA_RESTART: restarted, got %zd byte '%c', handler ran %d\n", n,
           n == 1 ? c : '?', (int)count);

    sa.sa_handler = ring;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    arm_timer_ms(50);
    struct timespec ts = {.tv_sec = 5, .tv_nsec = 0};
    int rc = nanosleep(&ts, &ts);
    printf("nanosleep with SA_RESTART: %d %s (never restarted)\n", rc, rc ? strerror(errno) : "");

    count = 0;
    arm_timer_ms(50);
    rc = pause();
    printf("pause: %d %s, handler ran %d\n", rc, strerror(errno), (int)count);

    sigset_t block, old, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &old);
    count = 0;
    arm_timer_ms(50);
    sigemptyset(&wait_mask);
    rc = sigsuspend(&wait_mask);
    sigset_t after;
    sigprocmask(SIG_SETMASK, NULL, &after);
    printf("sigsuspend: %d %s, handler ran %d, mask restored (SIGALRM blocked): %s\n", rc,
           strerror(errno), (int)count, sigismember(&after, SIGALRM) ? "yes" : "no");

    siginfo_t si;
    raise(SIGALRM);
    rc = sigwaitinfo(&block, &si);
    printf("sigwaitinfo took %s, code SI_TKILL: %s, handler ran: %s\n", name(rc),
           si.si_code == SI_TKILL ? "yes" : "no", count > 1 ? "yes" : "no");
    struct timespec short_wait = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    rc = sigtimedwait(&block, &si, &short_wait);
    printf("sigtimedwait with nothing pending: %d %s\n", rc, strerror(errno));
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGALRM, SIG_DFL);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

static void describe_child(const char *what, int status)
{
    if (WIFEXITED(status))
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: killed by %s\n", what, name(WTERMSIG(status)));
    else if (WIFSTOPPED(status))
        printf("%s: stopped by %s\n", what, name(WSTOPSIG(status)));
}

static void check_default_actions(void)
{
    int status;
    signal(SIGUSR1, SIG_DFL);
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGUSR1);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    describe_child("child raising SIGUSR1 (default)", status);

    pid = fork();
    if (pid == 0) {
        raise(SIGCHLD);
        _exit(6);
    }
    waitpid(pid, &status, 0);
    describe_child("child raising SIGCHLD (default: ignored)", status);

    pid = fork();
    if (pid == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGSEGV);
        sigprocmask(SIG_BLOCK, &set, NULL);
        on(SIGSEGV, jump_out, 0, NULL);
        *(volatile int *)low_address = 1;
        _exit(0);
    }
    waitpid(pid, &status, 0);
    describe_child("child faulting with SIGSEGV blocked", status);

    pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(8);
    }
    waitpid(pid, &status, WUNTRACED);
    describe_child("child raising SIGSTOP", status);
    kill(pid, SIGCONT);
    waitpid(pid, &status, 0);
    describe_child("after SIGCONT", status);
}

static volatile pid_t handler_tid;
static volatile int thread_ready;

static void note_tid(int sig)
{
    (void)sig;
    handler_tid = (pid_t)syscall(SYS_gettid);
}

static void *sleeper(void *arg)
{
    (void)arg;
    pid_t *me = malloc(sizeof *me);
    *me = (pid_t)syscall(SYS_gettid);
    thread_ready = 1;
    char c;
    ssize_t n = read(pipe_fds[0], &c, 1);
    printf("thread's read: %zd %s\n", n, n < 0 ? strerror(errno) : "");
    return me;
}

static void check_threads(void)
{
    if (pipe(pipe_fds) != 0)
        exit(1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note_tid;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    while (!thread_ready)
        sched_yield();
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pthread_kill(t, SIGUSR1);
    void *ret;
    pthread_join(t, &ret);
    printf("pthread_kill: handler ran in the target thread: %s\n",
           handler_tid == *(pid_t *)ret ? "yes" : "no");
    free(ret);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    signal(SIGUSR1, SIG_DFL);
}

static volatile sig_atomic_t got_int;

static void on_int(int sig)
{
    (void)sig;
    got_int = 1;
}

static volatile sig_atomic_t usr1_count;

static void count_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "count-usr1") == 0) {
        /* Computes without system calls between signals: each SIGUSR1
         * must reach the handler while the loop runs. */
        signal(SIGINT, on_int);
        signal(SIGUSR1, count_usr1);
        puts("counting");
        sig_atomic_t seen = 0;
        volatile unsigned long spins = 0;
        while (!got_int) {
            spins++;
            if (usr1_count != seen) {
                seen = usr1_count;
                printf("%d\n", (int)seen);
            }
        }
        printf("got SIGINT after %d SIGUSR1\n", (int)usr1_count);
        return 6;
    }
    if (argc > 1 && strcmp(argv[1], "wait-int") == 0) {
        signal(SIGINT, on_int);
        puts("waiting");
        while (!got_int)
            pause();
        puts("got SIGINT in pause");
        return 3;
    }
    if (argc > 1 && strcmp(argv[1], "spin-int") == 0) {
        signal(SIGINT, on_int);
        puts("spinning");
        volatile unsigned long spins = 0;
        while (!got_int)
            spins++;
        puts("got SIGINT while computing");
        return 4;
    }
    if (argc > 1 && strcmp(argv[1], "ignore-int") == 0) {
        signal(SIGINT, SIG_IGN);
        puts("ignoring");
        sleep(1);
        puts("still here");
        return 5;
    }
    check_handlers();
    check_masks();
    check_handler_masks();
    check_ucontext_mask();
    check_faults();
    check_redirect();
    check_altstack();
    check_interrupted_calls();
    check_default_actions();
    check_threads();
    return 0;
}

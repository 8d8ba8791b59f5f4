// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * POSIX timers: timer_create, timer_settime, timer_gettime,
 * timer_getoverrun, timer_delete. Clocks, sigevent kinds (SIGEV_SIGNAL,
 * SIGEV_NONE, SIGEV_THREAD_ID, the C library's SIGEV_THREAD), the
 * delivered siginfo, overruns while the signal is blocked, TIMER_ABSTIME,
 * periodic timers, old values, errors, timers across fork, and timers
 * waking calls that block. Prints one line per check, the same on every
 * architecture.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS ((int64_t)1000000)
/* musl names the 32-bit time calls of 32-bit ABIs so. */
#if !defined(SYS_timer_settime) && defined(SYS_timer_settime32)
#define SYS_timer_settime SYS_timer_settime32
#define SYS_timer_gettime SYS_timer_gettime32
#endif
#define FUTEX_WAIT_PRIVATE 128
#define BAD_PTR ((void *)16)

static const char *yes(int c)
{
    return c ? "yes" : "no";
}

static const char *err_name(int e)
{
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EPERM: return "EPERM";
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "other";
    }
}

/* The result of a raw call: 0 or the errno's name. */
static const char *res(long r)
{
    return r < 0 ? err_name(errno) : "0";
}

/* The kernel's sigevent (the same size everywhere). */
struct ksigevent {
    union sigval value;
    int signo;
    int notify;
    int tid;
    int pad[16 - 3 - (int)(sizeof(void *) / sizeof(int))];
};

static long k_create(long clock, void *sev, void *id)
{
    return syscall(SYS_timer_create, clock, sev, id);
}

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = { ns / 1000000000, ns % 1000000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static volatile sig_atomic_t hits;
static volatile int last_code, last_overrun, last_timerid;
static volatile long last_value;
static volatile pid_t last_tid;

static volatile int first_overrun;
static volatile int overruns_seen[64];

static void on_timer(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (hits == 0) {
        first_overrun = si->si_overrun;
    }
    if (hits < 64) {
        overruns_seen[hits] = si->si_overrun;
    }
    hits++;
    last_code = si->si_code;
    last_overrun = si->si_overrun;
    last_timerid = si->si_timerid;
    last_value = (long)si->si_value.sival_ptr;
    last_tid = (pid_t)syscall(SYS_gettid);
}

static void handle(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

static void set_blocked(int sig, int how)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(how, &s, NULL);
}

static struct itimerspec spec(int64_t value_ns, int64_t interval_ns)
{
    struct itimerspec it;
    it.it_value.tv_sec = value_ns / 1000000000;
    it.it_value.tv_nsec = value_ns % 1000000000;
    it.it_interval.tv_sec = interval_ns / 1000000000;
    it.it_interval.tv_nsec = interval_ns % 1000000000;
    return it;
}

static timer_t make(clockid_t clock, int signo, long value)
{
    struct sigevent sev;
    timer_t t;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = signo;
    sev.sigev_value.sival_ptr = (void *)value;
    if (timer_create(clock, &sev, &t) != 0) {
        printf("timer_create(%d) failed: %s\n", (int)clock, err_name(errno));
        exit(1);
    }
    return t;
}

/* Waits (sigsuspend) until the handler has run `n` times, at most 5 s. */
static int wait_hits(int n)
{
    sigset_t none;
    sigemptyset(&none);
    int64_t end = now_ns(CLOCK_MONOTONIC) + 5000 * MS;
    while (hits < n && now_ns(CLOCK_MONOTONIC) < end) {
        sigsuspend(&none);
    }
    return hits >= n;
}

static void errors(void)
{
    struct ksigevent ks;
    int id = -1;
    memset(&ks, 0, sizeof(ks));
    ks.notify = SIGEV_SIGNAL;
    ks.signo = SIGUSR1;
    printf("bad clock: %s\n", res(k_create(123, &ks, &id)));
    printf("CLOCK_MONOTONIC_RAW: %s\n", res(k_create(CLOCK_MONOTONIC_RAW, &ks, &id)));
    printf("CLOCK_REALTIME_ALARM: %s\n", res(k_create(CLOCK_REALTIME_ALARM, &ks, &id)));
    printf("CLOCK_BOOTTIME_ALARM: %s\n", res(k_create(CLOCK_BOOTTIME_ALARM, &ks, &id)));
    printf("sigevent at a bad address: %s\n", res(k_create(CLOCK_MONOTONIC, BAD_PTR, &id)));
    printf("timer id at a bad address: %s\n", res(k_create(CLOCK_MONOTONIC, &ks, BAD_PTR)));
    ks.notify = 99;
    printf("bad sigev_notify: %s\n", res(k_create(CLOCK_MONOTONIC, &ks, &id)));
    ks.notify = SIGEV_SIGNAL;
    ks.signo = 0;
    printf("signal 0: %s\n", res(k_create(CLOCK_MONOTONIC, &ks, &id)));
    ks.signo = 200;
    printf("signal 200: %s\n", res(k_create(CLOCK_MONOTONIC, &ks, &id)));
    ks.signo = SIGUSR1;
    ks.notify = SIGEV_THREAD_ID;
    ks.tid = 1;
    printf("SIGEV_THREAD_ID of another process's thread: %s\n",
           res(k_create(CLOCK_MONOTONIC, &ks, &id)));

    timer_t t = make(CLOCK_MONOTONIC, SIGUSR1, 0);
    struct itimerspec it = spec(0, 0), cur;
    it.it_value.tv_nsec = 1000000000;
    printf("tv_nsec 1000000000: %s\n", res(timer_settime(t, 0, &it, NULL)));
    it.it_value.tv_nsec = -1;
    printf("tv_nsec -1: %s\n", res(timer_settime(t, 0, &it, NULL)));
    it = spec(0, 0);
    it.it_interval.tv_sec = -1;
    printf("negative interval: %s\n", res(timer_settime(t, 0, &it, NULL)));
    printf("new value NULL: %s\n", res(syscall(SYS_timer_settime, t, 0, NULL, NULL)));
    printf("new value at a bad address: %s\n",
           res(syscall(SYS_timer_settime, t, 0, BAD_PTR, NULL)));
    printf("gettime at a bad address: %s\n", res(syscall(SYS_timer_gettime, t, BAD_PTR)));
    /* The raw calls take the kernel's int id. */
    printf("settime of a bad id: %s\n",
           res(syscall(SYS_timer_settime, 0x7654321, 0, &it, NULL)));
    printf("gettime of a bad id: %s\n", res(syscall(SYS_timer_gettime, 0x7654321, &cur)));
    printf("getoverrun of a bad id: %s\n", res(syscall(SYS_timer_getoverrun, 0x7654321)));
    printf("delete of a bad id: %s\n", res(syscall(SYS_timer_delete, 0x7654321)));
    printf("delete: %s\n", res(timer_delete(t)));
    printf("gettime after delete: %s\n", res(timer_gettime(t, &cur)));
    printf("delete again: %s\n", res(timer_delete(t)));
}

static void ids(void)
{
    int a = -1, b = -1;
    struct ksigevent ks;
    memset(&ks, 0, sizeof(ks));
    ks.notify = SIGEV_NONE;
    k_create(CLOCK_MONOTONIC, &ks, &a);
    k_create(CLOCK_MONOTONIC, &ks, &b);
    printf("timer ids: first %d, second %d\n", a, b);
    syscall(SYS_timer_delete, a);
    k_create(CLOCK_MONOTONIC, &ks, &a);
    printf("id after a delete: %d\n", a);
    syscall(SYS_timer_delete, a);
    syscall(SYS_timer_delete, b);
}

static void default_sigevent(void)
{
    int id = -1;
    siginfo_t si;
    set_blocked(SIGALRM, SIG_BLOCK);
    k_create(CLOCK_MONOTONIC, NULL, &id);
    struct itimerspec it = spec(5 * MS, 0);
    timer_settime((timer_t)(intptr_t)id, 0, &it, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    int sig = sigwaitinfo(&s, &si);
    printf("NULL sigevent: SIGALRM: %s, SI_TIMER: %s, si_value is the id: %s, "
           "si_timerid is the id: %s\n",
           yes(sig == SIGALRM), yes(si.si_code == SI_TIMER),
           yes(si.si_value.sival_int == id), yes(si.si_timerid == id));
    syscall(SYS_timer_delete, id);
    set_blocked(SIGALRM, SIG_UNBLOCK);
}

static void periodic(void)
{
    handle(SIGUSR1, 0);
    hits = 0;
    timer_t t = make(CLOCK_MONOTONIC, SIGUSR1, 0x1234);
    int kid = -1;
    struct itimerspec it = spec(10 * MS, 10 * MS), cur, old;
    timer_settime(t, 0, &it, NULL);
    int ok = wait_hits(3);
    timer_gettime(t, &cur);
    printf("periodic SIGUSR1: 3 signals: %s, SI_TIMER: %s, si_value: %s\n",
           yes(ok), yes(last_code == SI_TIMER), yes(last_value == 0x1234));
    (void)kid;
    printf("gettime: interval %ld.%09ld, remaining within it: %s\n",
           (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec,
           yes(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 &&
               cur.it_value.tv_nsec <= 10 * MS));
    it = spec(2000 * MS, 0);
    timer_settime(t, 0, &it, &old);
    printf("old value: interval %ld.%09ld, remaining within it: %s\n",
           (long)old.it_interval.tv_sec, old.it_interval.tv_nsec,
           yes(old.it_value.tv_sec == 0 && old.it_value.tv_nsec > 0 &&
               old.it_value.tv_nsec <= 10 * MS));
    timer_gettime(t, &cur);
    printf("re-armed one-shot: interval 0: %s, remaining 1.9-2 s: %s\n",
           yes(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_nsec == 0),
           yes(cur.it_value.tv_sec == 1 && cur.it_value.tv_nsec > 900 * MS));
    it = spec(0, 0);
    timer_settime(t, 0, &it, &old);
    timer_gettime(t, &cur);
    printf("disarmed: old remaining 1.9-2 s: %s, now zero: %s\n",
           yes(old.it_value.tv_sec == 1 && old.it_value.tv_nsec > 900 * MS),
           yes(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0));
    timer_delete(t);
}

static void overruns(void)
{
    handle(SIGUSR2, 0);
    hits = 0;
    set_blocked(SIGUSR2, SIG_BLOCK);
    timer_t t = make(CLOCK_MONOTONIC, SIGUSR2, 7);
    struct itimerspec it = spec(2 * MS, 2 * MS);
    timer_settime(t, 0, &it, NULL);
    sleep_ns(100 * MS);
    sigset_t p;
    sigpending(&p);
    int before = timer_getoverrun(t);
    set_blocked(SIGUSR2, SIG_UNBLOCK);
    int after = timer_getoverrun(t);
    timer_delete(t);
    /* Later expirations may have been delivered meanwhile: getoverrun
     * reports the last one taken. */
    int seen = 0;
    for (int i = 0; i < hits && i < 64; i++) {
        seen |= overruns_seen[i] == after;
    }
    printf("blocked periodic timer: pending: %s, getoverrun before delivery: %d, "
           "delivered: %s, first si_overrun >= 10: %s, getoverrun then: %s\n",
           yes(sigismember(&p, SIGUSR2)), before, yes(hits >= 1), yes(first_overrun >= 10),
           yes(seen));
}

static void overruns_sigwait(void)
{
    set_blocked(SIGRTMIN + 3, SIG_BLOCK);
    timer_t t = make(CLOCK_MONOTONIC, SIGRTMIN + 3, 9);
    struct itimerspec it = spec(2 * MS, 2 * MS);
    timer_settime(t, 0, &it, NULL);
    sleep_ns(60 * MS);
    siginfo_t si;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 3);
    int sig = sigwaitinfo(&s, &si);
    int o = timer_getoverrun(t);
    it = spec(0, 0);
    timer_settime(t, 0, &it, NULL);
    struct timespec zero = { 0, 0 };
    /* An expiry between sigwaitinfo and the disarm may queue one more
     * signal (as on Linux, where a slow machine makes it likely); more than
     * one means expirations were queued, not counted as overruns. */
    siginfo_t later;
    int queued_after = 0;
    while (sigtimedwait(&s, &later, &zero) == SIGRTMIN + 3 && queued_after < 64) {
        queued_after++;
    }
    printf("real-time signal taken by sigwaitinfo: %s, si_overrun >= 5: %s, "
           "getoverrun is si_overrun: %s, queued once: %s\n",
           yes(sig == SIGRTMIN + 3), yes(si.si_overrun >= 5), yes(o == si.si_overrun),
           yes(queued_after <= 1));
    timer_delete(t);
    set_blocked(SIGRTMIN + 3, SIG_UNBLOCK);
}

static void sigev_none(void)
{
    struct sigevent sev;
    timer_t t;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_NONE;
    timer_create(CLOCK_MONOTONIC, &sev, &t);
    struct itimerspec it = spec(1000 * MS, 0), cur;
    timer_settime(t, 0, &it, NULL);
    timer_gettime(t, &cur);
    int running = cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 900 * MS;
    it = spec(10 * MS, 0);
    timer_settime(t, 0, &it, NULL);
    sleep_ns(30 * MS);
    timer_gettime(t, &cur);
    printf("SIGEV_NONE: runs: %s, expired to zero: %s\n", yes(running),
           yes(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0));
    timer_delete(t);
}

static void abstime(void)
{
    set_blocked(SIGUSR1, SIG_BLOCK);
    timer_t t = make(CLOCK_MONOTONIC, SIGUSR1, 1);
    int64_t start = now_ns(CLOCK_MONOTONIC);
    int64_t at = start + 30 * MS;
    struct itimerspec it = spec(0, 0);
    it.it_value.tv_sec = at / 1000000000;
    it.it_value.tv_nsec = at % 1000000000;
    timer_settime(t, TIMER_ABSTIME, &it, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    siginfo_t si;
    sigwaitinfo(&s, &si);
    int64_t waited = now_ns(CLOCK_MONOTONIC) - start;
    /* An absolute time already past fires at once. */
    it.it_value.tv_sec = 1;
    it.it_value.tv_nsec = 0;
    timer_settime(t, TIMER_ABSTIME, &it, NULL);
    struct timespec limit = { 1, 0 };
    int sig = sigtimedwait(&s, &si, &limit);
    printf("TIMER_ABSTIME: fired after the time: %s; a past time fires at once: %s\n",
           yes(waited >= 30 * MS), yes(sig == SIGUSR1));
    timer_delete(t);

    t = make(CLOCK_REALTIME, SIGUSR1, 2);
    at = now_ns(CLOCK_REALTIME) + 20 * MS;
    it.it_value.tv_sec = at / 1000000000;
    it.it_value.tv_nsec = at % 1000000000;
    timer_settime(t, TIMER_ABSTIME, &it, NULL);
    sigwaitinfo(&s, &si);
    printf("CLOCK_REALTIME absolute: fired, value 2: %s\n", yes((long)si.si_value.sival_ptr == 2));
    timer_delete(t);
    t = make(CLOCK_BOOTTIME, SIGUSR1, 3);
    it = spec(10 * MS, 0);
    timer_settime(t, 0, &it, NULL);
    sigwaitinfo(&s, &si);
    printf("CLOCK_BOOTTIME: fired, value 3: %s\n", yes((long)si.si_value.sival_ptr == 3));
    timer_delete(t);
    set_blocked(SIGUSR1, SIG_UNBLOCK);
}

static volatile int spin_done;

static void cpu_clocks(void)
{
    static const clockid_t clocks[] = { CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID };
    static const char *const names[] = { "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID" };
    handle(SIGUSR1, 0);
    for (int i = 0; i < 2; i++) {
        hits = 0;
        timer_t t = make(clocks[i], SIGUSR1, 0);
        struct itimerspec it = spec(20 * MS, 0);
        timer_settime(t, 0, &it, NULL);
        int64_t end = now_ns(CLOCK_MONOTONIC) + 20000 * MS;
        unsigned long x = 1;
        while (!hits && now_ns(CLOCK_MONOTONIC) < end) {
            for (int j = 0; j < 100000; j++) {
                x = x * 6364136223846793005UL + 1;
            }
        }
        spin_done = (int)x;
        printf("%s timer fired while computing: %s\n", names[i], yes(hits == 1));
        timer_delete(t);
    }
}

static volatile pid_t target_tid;
static volatile int thread_stop;

static void *target_thread(void *arg)
{
    (void)arg;
    target_tid = (pid_t)syscall(SYS_gettid);
    /* Sleeps rather than pause(): a signal between the test and pause()
     * would leave it blocked for good. */
    while (!thread_stop) {
        sleep_ns(MS);
    }
    return NULL;
}

static void thread_id(void)
{
    pthread_t th;
    handle(SIGUSR1, 0);
    hits = 0;
    pthread_create(&th, NULL, target_thread, NULL);
    while (!target_tid) {
        sleep_ns(MS);
    }
    struct ksigevent ks;
    int id = -1;
    memset(&ks, 0, sizeof(ks));
    ks.notify = SIGEV_THREAD_ID;
    ks.signo = SIGUSR1;
    ks.tid = target_tid;
    ks.value.sival_ptr = (void *)77; /* read back as sival_ptr (on_timer) */
    long r = k_create(CLOCK_MONOTONIC, &ks, &id);
    struct itimerspec it = spec(10 * MS, 0);
    timer_settime((timer_t)(intptr_t)id, 0, &it, NULL);
    int64_t end = now_ns(CLOCK_MONOTONIC) + 5000 * MS;
    while (!hits && now_ns(CLOCK_MONOTONIC) < end) {
        sleep_ns(MS);
    }
    printf("SIGEV_THREAD_ID: created: %s, handler ran in the target thread: %s, value 77: %s\n",
           res(r), yes(hits == 1 && last_tid == target_tid), yes(last_value == 77));
    syscall(SYS_timer_delete, id);
    thread_stop = 1;
    pthread_kill(th, SIGUSR1);
    pthread_join(th, NULL);
}

static volatile int notified, notified_value;

static void notify(union sigval v)
{
    notified_value = v.sival_int;
    __atomic_fetch_add(&notified, 1, __ATOMIC_SEQ_CST);
}

static void sigev_thread(void)
{
    struct sigevent sev;
    timer_t t;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = notify;
    sev.sigev_value.sival_int = 42;
    int r = timer_create(CLOCK_MONOTONIC, &sev, &t);
    struct itimerspec it = spec(10 * MS, 10 * MS);
    timer_settime(t, 0, &it, NULL);
    int64_t end = now_ns(CLOCK_MONOTONIC) + 5000 * MS;
    while (notified < 3 && now_ns(CLOCK_MONOTONIC) < end) {
        sleep_ns(MS);
    }
    timer_delete(t);
    printf("SIGEV_THREAD: created: %s, notified 3 times with value 42: %s\n",
           r == 0 ? "0" : err_name(errno), yes(notified >= 3 && notified_value == 42));
}

/* Arms `t` to fire every 20 ms: a periodic timer, so that a signal which
 * lands before the call blocks (a loaded machine) is followed by one that
 * interrupts it, where a one-shot timer would leave the call blocked. */
static void arm_every_20ms(timer_t t)
{
    struct itimerspec it = spec(20 * MS, 20 * MS);
    hits = 0;
    timer_settime(t, 0, &it, NULL);
}

static void disarm(timer_t t)
{
    struct itimerspec it = spec(0, 0);
    timer_settime(t, 0, &it, NULL);
}

static void wakes(void)
{
    handle(SIGUSR1, 0);
    timer_t t = make(CLOCK_MONOTONIC, SIGUSR1, 0);
    struct itimerspec it;
    int fds[2];
    char c;
    pipe(fds);

    arm_every_20ms(t);
    long r = read(fds[0], &c, 1);
    disarm(t);
    printf("read from an empty pipe: %s, handler ran: %s\n", res(r), yes(hits >= 1));

    arm_every_20ms(t);
    r = pause();
    disarm(t);
    printf("pause: %s, handler ran: %s\n", res(r), yes(hits >= 1));

    /* One-shot: the time left must be 4-5 s, so only one signal. */
    hits = 0;
    it = spec(20 * MS, 0);
    timer_settime(t, 0, &it, NULL);
    struct timespec ts = { 5, 0 }, rem = { 0, 0 };
    r = nanosleep(&ts, &rem);
    printf("nanosleep of 5 s: %s, time left 4-5 s: %s\n", res(r),
           yes(rem.tv_sec == 4 || (rem.tv_sec == 5 && rem.tv_nsec == 0)));

    arm_every_20ms(t);
    int word = 0;
    r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    disarm(t);
    printf("futex wait: %s, handler ran: %s\n", res(r), yes(hits >= 1));

    /* With SA_RESTART the read goes on; a blocked timer signal does not
     * interrupt it at all. */
    handle(SIGUSR1, SA_RESTART);
    hits = 0;
    it = spec(20 * MS, 20 * MS);
    timer_settime(t, 0, &it, NULL);
    if (fork() == 0) {
        sleep_ns(150 * MS);
        write(fds[1], "x", 1);
        _exit(0);
    }
    r = read(fds[0], &c, 1);
    it = spec(0, 0);
    timer_settime(t, 0, &it, NULL);
    printf("read with SA_RESTART: %s, got 'x': %s, handler ran: %s\n", res(r),
           yes(r == 1 && c == 'x'), yes(hits >= 2));
    wait(NULL);

    set_blocked(SIGUSR1, SIG_BLOCK);
    it = spec(5 * MS, 5 * MS);
    timer_settime(t, 0, &it, NULL);
    if (fork() == 0) {
        sleep_ns(100 * MS);
        write(fds[1], "y", 1);
        _exit(0);
    }
    r = read(fds[0], &c, 1);
    printf("read while the timer's signal is blocked: %s, got 'y': %s\n", res(r),
           yes(r == 1 && c == 'y'));
    ts.tv_sec = 0;
    ts.tv_nsec = 50 * MS;
    int64_t start = now_ns(CLOCK_MONOTONIC);
    r = nanosleep(&ts, NULL);
    printf("nanosleep while the timer's signal is blocked: %s, slept it all: %s\n", res(r),
           yes(now_ns(CLOCK_MONOTONIC) - start >= 50 * MS));
    it = spec(0, 0);
    timer_settime(t, 0, &it, NULL);
    wait(NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    siginfo_t si;
    struct timespec zero = { 0, 0 };
    sigtimedwait(&s, &si, &zero);
    set_blocked(SIGUSR1, SIG_UNBLOCK);
    timer_delete(t);
}

static void across_fork(void)
{
    timer_t t = make(CLOCK_MONOTONIC, SIGUSR1, 0);
    struct itimerspec it = spec(1000 * MS, 0), cur;
    timer_settime(t, 0, &it, NULL);
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        struct ksigevent ks;
        int id = -1;
        memset(&ks, 0, sizeof(ks));
        ks.notify = SIGEV_NONE;
        char line[160];
        int n = snprintf(line, sizeof(line),
                         "child after fork: parent's timer: %s, child's first timer id: ",
                         res(timer_gettime(t, &cur)));
        k_create(CLOCK_MONOTONIC, &ks, &id);
        n += snprintf(line + n, sizeof(line) - n, "%d\n", id);
        write(fds[1], line, n);
        _exit(0);
    }
    close(fds[1]);
    char buf[160];
    int n = read(fds[0], buf, sizeof(buf) - 1);
    waitpid(pid, NULL, 0);
    buf[n > 0 ? n : 0] = 0;
    fputs(buf, stdout);
    printf("parent's timer after the fork: %s\n", res(timer_gettime(t, &cur)));
    timer_delete(t);
}

static void old_abi(void)
{
    /* The raw calls with the C long timespec: the 32-bit time calls on
     * 32-bit ABIs (the C library uses the 64-bit ones). */
    struct { long is, ins, vs, vns; } ks = { 0, 0, 3, 0 }, kold, kcur;
    timer_t t = make(CLOCK_MONOTONIC, SIGUSR1, 0);
    struct itimerspec it = spec(0, 0);
    timer_settime(t, 0, &it, NULL);
    /* musl and glibc keep the kernel id in timer_t for signal timers. */
    long r = syscall(SYS_timer_settime, (long)(intptr_t)t, 0, &ks, &kold);
    r |= syscall(SYS_timer_gettime, (long)(intptr_t)t, &kcur);
    printf("C long itimerspec: %s, remaining 2-3 s: %s\n", res(r),
           yes(kcur.vs == 2 && kcur.vns > 0));
    (void)kold;
    timer_delete(t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    errors();
    ids();
    default_sigevent();
    periodic();
    overruns();
    overruns_sigwait();
    sigev_none();
    abstime();
    cpu_clocks();
    wakes();
    across_fork();
    old_abi();
    thread_id();
    sigev_thread();
    return 0;
}

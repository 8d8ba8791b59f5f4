/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How threads end and what the process's exit status becomes:
 *
 *   threads-exit            join results, pthread_exit values, detached
 *                           threads; then a thread calls exit(3) while
 *                           the main thread waits in pthread_join for a
 *                           thread blocked in read: exit status 3
 *   threads-exit leader     the main thread leaves with SYS_exit(9), the
 *                           last thread with SYS_exit(5): status 5 (the
 *                           last thread's code, as Linux reports it); the
 *                           worker waits until the kernel has cleared the
 *                           main thread's set_tid_address word, so it is
 *                           the last thread on every host
 *   threads-exit last       the main thread calls pthread_exit; the other
 *                           thread prints and returns: status 0
 *   threads-exit hang       every thread waits forever (one in read on a
 *                           pipe, one in a futex through pthread_join):
 *                           only a signal ends it
 *   threads-exit fork       a second thread forks while the main thread
 *                           waits in pthread_join: the child (the forking
 *                           thread alone, its tid its pid) starts a thread
 *                           that calls exit(7); a second child dies of
 *                           SIGUSR1; the thread reaps both: status 0
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *ret_value(void *arg)
{
    return (void *)((long)arg * 10 + 1);
}

static void *exits_with(void *arg)
{
    pthread_exit(arg);
}

static volatile int detached_ran;

static void *detached(void *arg)
{
    (void)arg;
    detached_ran = 1;
    return NULL;
}

static int never[2];

static void *blocked_forever(void *arg)
{
    (void)arg;
    char c;
    return (void *)(long)read(never[0], &c, 1);
}

static void *exit_process(void *arg)
{
    (void)arg;
    fflush(stdout);
    exit(3);
}

static volatile int main_spoke;

static void *outlive_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&main_spoke, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    printf("the last thread ends after the main thread\n");
    fflush(stdout);
    return NULL;
}

#define FUTEX_WAIT 0 /* musl ships no <linux/futex.h> */

/* Cleared (and futex-woken) by the kernel once the main thread is gone. */
static volatile int main_alive = 1;

static void *raw_exit(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&main_spoke, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    while (__atomic_load_n(&main_alive, __ATOMIC_ACQUIRE) != 0) {
        syscall(SYS_futex, &main_alive, FUTEX_WAIT, 1, NULL, NULL, 0);
    }
    printf("worker leaves with SYS_exit(5)\n");
    fflush(stdout);
    syscall(SYS_exit, 5);
    return NULL;
}

static void *child_exits(void *arg)
{
    printf("the child's own thread calls exit(%ld)\n", (long)arg);
    fflush(stdout);
    exit((int)(long)arg);
}

static void *forks(void *arg)
{
    pthread_t t;
    int status;
    (void)arg;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child of a thread: its only thread's tid is its pid: %s\n",
               syscall(SYS_gettid) == getpid() ? "yes" : "no");
        fflush(stdout);
        pthread_create(&t, NULL, child_exits, (void *)7L);
        pthread_join(t, NULL);
        _exit(99);
    }
    waitpid(pid, &status, 0);
    printf("first child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    pid = fork();
    if (pid == 0) {
        raise(SIGUSR1);
        _exit(98);
    }
    waitpid(pid, &status, 0);
    printf("second child killed by SIGUSR1: %s\n",
           WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1 ? "yes" : "no");
    return (void *)3L;
}

int main(int argc, char **argv)
{
    pthread_t t[4];
    void *res;

    if (argc > 1 && strcmp(argv[1], "leader") == 0) {
        pthread_create(&t[0], NULL, raw_exit, NULL);
        printf("main leaves with SYS_exit(9)\n");
        fflush(stdout);
        syscall(SYS_set_tid_address, &main_alive);
        __atomic_store_n(&main_spoke, 1, __ATOMIC_RELEASE);
        syscall(SYS_exit, 9);
    }
    if (argc > 1 && strcmp(argv[1], "last") == 0) {
        pthread_create(&t[0], NULL, outlive_main, NULL);
        printf("main calls pthread_exit\n");
        fflush(stdout);
        __atomic_store_n(&main_spoke, 1, __ATOMIC_RELEASE);
        pthread_exit(NULL);
    }

    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        pthread_create(&t[0], NULL, forks, NULL);
        pthread_join(t[0], &res);
        printf("main joined the forking thread: %ld\n", (long)res);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "hang") == 0) {
        if (pipe(never) != 0) {
            return 1;
        }
        pthread_create(&t[0], NULL, blocked_forever, NULL);
        printf("all threads wait\n");
        fflush(stdout);
        pthread_join(t[0], &res);
        return 1;
    }

    for (long i = 0; i < 4; i++) {
        pthread_create(&t[i], NULL, ret_value, (void *)i);
    }
    for (long i = 0; i < 4; i++) {
        pthread_join(t[i], &res);
        printf("thread %ld returned %ld\n", i, (long)res);
    }
    pthread_create(&t[0], NULL, exits_with, (void *)42L);
    pthread_join(t[0], &res);
    printf("pthread_exit value %ld\n", (long)res);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t[0], &attr, detached, NULL);
    while (!detached_ran) {
        sched_yield();
    }
    printf("detached thread ran\n");

    if (pipe(never) != 0) {
        return 1;
    }
    printf("waiting for a thread that never ends\n");
    fflush(stdout);
    pthread_create(&t[1], NULL, blocked_forever, NULL);
    pthread_create(&t[2], NULL, exit_process, NULL);
    pthread_join(t[1], &res);
    printf("not reached\n");
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Threads that block (in read on a pipe, in poll, in nanosleep, in a
 * futex through a condition variable) while other threads keep running.
 * If a blocking call stopped every thread, this program would never end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fds[2];
static volatile long work;
static volatile long work_when_read = -1;
static char got[16];

static void *reader(void *arg)
{
    (void)arg;
    ssize_t n = read(fds[0], got, sizeof got - 1);
    work_when_read = work;
    return (void *)n;
}

static void *worker(void *arg)
{
    long rounds = (long)arg;
    for (long i = 0; i < rounds; i++) {
        work = work + 1;
    }
    if (write(fds[1], "ping", 4) != 4) {
        perror("write");
        exit(1);
    }
    return NULL;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready;
static volatile long waiter_saw = -1;

static void *waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    while (!ready) {
        pthread_cond_wait(&cv, &m);
    }
    waiter_saw = work;
    pthread_mutex_unlock(&m);
    return NULL;
}

static volatile int slept;

static void *sleeper(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    slept = 1;
    return NULL;
}

static int poll_fds[2];

static void *poller(void *arg)
{
    (void)arg;
    struct pollfd p = {poll_fds[0], POLLIN, 0};
    int n = poll(&p, 1, 40);
    return (void *)(long)n;
}

static void *eof_reader(void *arg)
{
    int fd = (int)(long)arg;
    char c;
    return (void *)(long)read(fd, &c, 1);
}

#define BIG (1 << 20)
static int big[2];

static void *big_writer(void *arg)
{
    (void)arg;
    unsigned char *buf = malloc(BIG);
    for (int i = 0; i < BIG; i++) {
        buf[i] = (unsigned char)(i * 7);
    }
    /* One write call for the whole megabyte (a short count is resumed). */
    for (size_t done = 0; done < BIG;) {
        ssize_t n = write(big[1], buf + done, BIG - done);
        if (n <= 0) {
            perror("write");
            exit(1);
        }
        done += (size_t)n;
    }
    close(big[1]);
    free(buf);
    return NULL;
}

int main(void)
{
    pthread_t r, w;
    void *res;

    /* 1. read on an empty pipe while another thread computes, then writes. */
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&w, NULL, worker, (void *)2000000L);
    pthread_join(r, &res);
    pthread_join(w, NULL);
    printf("read: %ld bytes '%s', after the writer's %ld rounds (of %ld)\n", (long)res, got,
           work_when_read, work);

    /* 2. a condition variable: the waiter sleeps in FUTEX_WAIT until woken. */
    work = 0;
    pthread_t wt;
    pthread_create(&wt, NULL, waiter, NULL);
    for (long i = 0; i < 1000000; i++) {
        work = work + 1;
    }
    pthread_mutex_lock(&m);
    ready = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&m);
    pthread_join(wt, NULL);
    printf("condvar: the waiter woke after %ld rounds\n", waiter_saw);

    /* 3. nanosleep in one thread while this one keeps working. */
    pthread_t s;
    long spins = 0;
    pthread_create(&s, NULL, sleeper, NULL);
    while (!slept) {
        spins++;
        sched_yield();
    }
    pthread_join(s, NULL);
    printf("nanosleep: other threads ran meanwhile: %s\n", spins > 0 ? "yes" : "no");

    /* 4. poll with a timeout on a pipe nobody writes. */
    if (pipe(poll_fds) != 0) {
        return 1;
    }
    pthread_t pt;
    pthread_create(&pt, NULL, poller, NULL);
    work = 0;
    for (long i = 0; i < 300000; i++) {
        work = work + 1;
    }
    pthread_join(pt, &res);
    printf("poll: %ld ready after its timeout\n", (long)res);

    /* 5. a reader blocked until the last write end closes: EOF. */
    int e[2];
    if (pipe(e) != 0) {
        return 1;
    }
    pthread_t er;
    pthread_create(&er, NULL, eof_reader, (void *)(long)e[0]);
    for (long i = 0; i < 100000; i++) {
        work = work + 1;
    }
    close(e[1]);
    pthread_join(er, &res);
    printf("eof: read returned %ld\n", (long)res);

    /* 6. a megabyte through a pipe between two threads. */
    if (pipe(big) != 0) {
        return 1;
    }
    pthread_t bw;
    pthread_create(&bw, NULL, big_writer, NULL);
    unsigned long total = 0;
    uint32_t sum = 2166136261u; /* FNV-1a */
    static unsigned char chunk[3000];
    for (;;) {
        ssize_t n = read(big[0], chunk, sizeof chunk);
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            sum = (sum ^ chunk[i]) * 16777619u;
        }
        total += (unsigned long)n;
    }
    pthread_join(bw, NULL);
    printf("pipe: %lu bytes, checksum %08x\n", total, (unsigned)sum);
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pthread synchronisation under stress; every result printed is exact:
 *
 *   threads-sync [THREADS [ITERATIONS]]
 *
 * - a counter incremented by THREADS threads under a mutex, with work in
 *   the critical section so that time slices end inside it;
 * - a bounded producer/consumer queue on a mutex and two condition
 *   variables (2 producers, 3 consumers): every item arrives exactly once;
 * - a barrier reused for several rounds, a reader/writer lock;
 * - a priority-inheritance mutex (FUTEX_LOCK_PI / UNLOCK_PI);
 * - a robust mutex whose owner exits while holding it (EOWNERDEAD);
 * - a condition variable wait with a timeout that expires (ETIMEDOUT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long threads = 8;
static long iterations = 20000;

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile long counter;
static volatile long shadow;

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", what, strerror(rc));
        exit(1);
    }
}

static void *count(void *arg)
{
    (void)arg;
    for (long i = 0; i < iterations; i++) {
        check(pthread_mutex_lock(&counter_lock), "lock");
        long c = counter;
        /* A non-atomic read-modify-write spread over many blocks. */
        for (int k = 0; k < 8; k++) {
            shadow = shadow + k;
        }
        counter = c + 1;
        check(pthread_mutex_unlock(&counter_lock), "unlock");
    }
    return NULL;
}

#define QSIZE 16
#define PRODUCERS 2
#define CONSUMERS 3
static long items_per_producer = 30000;
static long queue[QSIZE];
static int q_head, q_len, producers_done;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;
static unsigned char *seen;
static long consumed[CONSUMERS];
static long long consumed_sum[CONSUMERS];

static void *produce(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < items_per_producer; i++) {
        long item = id * items_per_producer + i;
        pthread_mutex_lock(&q_lock);
        while (q_len == QSIZE) {
            pthread_cond_wait(&q_not_full, &q_lock);
        }
        queue[(q_head + q_len) % QSIZE] = item;
        q_len++;
        pthread_cond_signal(&q_not_empty);
        pthread_mutex_unlock(&q_lock);
    }
    pthread_mutex_lock(&q_lock);
    producers_done++;
    pthread_cond_broadcast(&q_not_empty);
    pthread_mutex_unlock(&q_lock);
    return NULL;
}

static void *consume(void *arg)
{
    long id = (long)arg;
    for (;;) {
        pthread_mutex_lock(&q_lock);
        while (q_len == 0 && producers_done < PRODUCERS) {
            pthread_cond_wait(&q_not_empty, &q_lock);
        }
        if (q_len == 0) {
            pthread_mutex_unlock(&q_lock);
            return NULL;
        }
        long item = queue[q_head];
        q_head = (q_head + 1) % QSIZE;
        q_len--;
        pthread_cond_signal(&q_not_full);
        pthread_mutex_unlock(&q_lock);
        seen[item]++;
        consumed[id]++;
        consumed_sum[id] += item;
    }
}

static pthread_barrier_t barrier;
static volatile long round_total[4];
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long rw_value;

static void *barrier_worker(void *arg)
{
    long id = (long)arg;
    for (int r = 0; r < 4; r++) {
        pthread_rwlock_wrlock(&rw);
        round_total[r] += id + 1;
        rw_value++;
        pthread_rwlock_unlock(&rw);
        pthread_barrier_wait(&barrier);
        pthread_rwlock_rdlock(&rw);
        long v = rw_value;
        pthread_rwlock_unlock(&rw);
        if (v != (r + 1) * 4) {
            fprintf(stderr, "rwlock/barrier: round %d saw %ld\n", r, v);
            exit(1);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

static pthread_mutex_t pi_lock;
static volatile long pi_counter;

static void *pi_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5000; i++) {
        check(pthread_mutex_lock(&pi_lock), "pi lock");
        long c = pi_counter;
        for (int k = 0; k < 4; k++) {
            shadow = shadow + k;
        }
        pi_counter = c + 1;
        check(pthread_mutex_unlock(&pi_lock), "pi unlock");
    }
    return NULL;
}

static pthread_mutex_t robust_lock;

static void *die_holding(void *arg)
{
    (void)arg;
    check(pthread_mutex_lock(&robust_lock), "robust lock");
    return NULL; /* exits with the mutex held */
}

static void run(void *(*fn)(void *), long n)
{
    pthread_t t[64];
    for (long i = 0; i < n; i++) {
        check(pthread_create(&t[i], NULL, fn, (void *)i), "pthread_create");
    }
    for (long i = 0; i < n; i++) {
        check(pthread_join(t[i], NULL), "pthread_join");
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
    if (threads < 1 || threads > 64) {
        return 2;
    }

    run(count, threads);
    printf("mutex: %ld threads x %ld = %ld (expected %ld)\n", threads, iterations,
           counter, threads * iterations);

    long total = PRODUCERS * items_per_producer;
    seen = calloc((size_t)total, 1);
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (long i = 0; i < CONSUMERS; i++) {
        check(pthread_create(&c[i], NULL, consume, (void *)i), "pthread_create");
    }
    for (long i = 0; i < PRODUCERS; i++) {
        check(pthread_create(&p[i], NULL, produce, (void *)i), "pthread_create");
    }
    for (long i = 0; i < PRODUCERS; i++) {
        pthread_join(p[i], NULL);
    }
    long n = 0, once = 0;
    long long sum = 0;
    for (long i = 0; i < CONSUMERS; i++) {
        pthread_join(c[i], NULL);
        n += consumed[i];
        sum += consumed_sum[i];
    }
    for (long i = 0; i < total; i++) {
        once += seen[i] == 1;
    }
    printf("queue: %ld items consumed, %ld exactly once, sum %lld (expected %lld)\n", n,
           once, sum, (long long)total * (total - 1) / 2);

    check(pthread_barrier_init(&barrier, NULL, 4), "barrier init");
    run(barrier_worker, 4);
    printf("barrier: rounds %ld %ld %ld %ld, rwlock value %ld\n", round_total[0],
           round_total[1], round_total[2], round_total[3], rw_value);

    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    int pi = pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
    check(pthread_mutex_init(&pi_lock, &attr), "pi init");
    pthread_mutexattr_destroy(&attr);
    run(pi_worker, 4);
    printf("pi mutex: %s, counter %ld\n", pi == 0 ? "inherit" : "plain", pi_counter);

    pthread_mutexattr_init(&attr);
    int rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc != 0) {
        /* The C library found no robust-list support in the kernel. */
        printf("robust mutex: %s\n", strerror(rc));
    } else {
        check(pthread_mutex_init(&robust_lock, &attr), "robust init");
        run(die_holding, 1);
        rc = pthread_mutex_lock(&robust_lock);
        printf("robust mutex after owner exit: %s\n",
               rc == EOWNERDEAD ? "EOWNERDEAD" : strerror(rc));
        if (rc == EOWNERDEAD) {
            pthread_mutex_consistent(&robust_lock);
        }
        pthread_mutex_unlock(&robust_lock);
    }

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 30 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&m);
    rc = pthread_cond_timedwait(&cv, &m, &deadline);
    pthread_mutex_unlock(&m);
    printf("timed wait: %s\n", rc == ETIMEDOUT ? "ETIMEDOUT" : strerror(rc));
    return 0;
}

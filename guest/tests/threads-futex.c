/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * futex(2) operations called directly, with results that do not depend on
 * timing (where a waiter may not have gone to sleep yet, the operation is
 * repeated until it has), so the output is the same under Linux, qemu-user
 * and ht-user: WAIT and its errors and timeouts, WAKE, WAIT/WAKE_BITSET,
 * CMP_REQUEUE and REQUEUE, WAKE_OP's arithmetic and comparison, and the PI
 * lock calls. Last, a thread made with clone() itself: the tid words of
 * CLONE_PARENT_SETTID, CLONE_CHILD_SETTID and CLONE_CHILD_CLEARTID.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The kernel's futex interface (linux/futex.h), spelled out so that the
 * guests build without kernel headers. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_REQUEUE_PRIVATE (FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)
#define FUTEX_LOCK_PI_PRIVATE (FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG)
#define FUTEX_UNLOCK_PI_PRIVATE (FUTEX_UNLOCK_PI | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAIT_BITSET_PRIVATE (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_BITSET_PRIVATE (FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_TID_MASK 0x3fffffffu
#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OR 2
#define FUTEX_OP_ANDN 3
#define FUTEX_OP_XOR 4
#define FUTEX_OP_OPARG_SHIFT 8
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP_CMP_NE 1
#define FUTEX_OP_CMP_LT 2
#define FUTEX_OP_CMP_LE 3
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP_CMP_GE 5
#define FUTEX_OP(op, oparg, cmp, cmparg) \
    ((((op) & 0xfu) << 28) | (((cmp) & 0xfu) << 24) | (((oparg) & 0xfffu) << 12) | ((cmparg) & 0xfffu))

#ifdef SYS_futex_time64
#define FUTEX_NR SYS_futex_time64 /* 32-bit guests with 64-bit time_t */
#else
#define FUTEX_NR SYS_futex
#endif

static long fx(volatile uint32_t *uaddr, int op, uint32_t val, const void *timeout_or_val2,
               volatile uint32_t *uaddr2, uint32_t val3)
{
    return syscall(FUTEX_NR, uaddr, op, val, timeout_or_val2, uaddr2, val3);
}

static const char *err(long rc)
{
    if (rc >= 0) {
        return "ok";
    }
    switch (errno) {
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EPERM: return "EPERM";
    case EDEADLK: return "EDEADLK";
    case ENOSYS: return "ENOSYS";
    default: return strerror(errno);
    }
}

static volatile uint32_t a, b, c, x, y, pi;
static volatile int woke[8];

static void *wait_on_a(void *arg)
{
    long id = (long)arg;
    /* Woken for real only once the test says so (b or a changes meaning). */
    while (fx(&a, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0) != 0 && errno == EINTR) {
    }
    woke[id] = 1;
    return NULL;
}

static void *wait_bitset_c(void *arg)
{
    (void)arg;
    fx(&c, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0x1);
    woke[4] = 1;
    return NULL;
}

static void *wait_on_x(void *arg)
{
    uint32_t seen = (uint32_t)(uintptr_t)arg;
    fx(&x, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    woke[5] = 1;
    return NULL;
}

static volatile uint32_t pi_tid;
static const char *volatile pi_result;
static volatile int pi_owner_ok;

static void *lock_pi(void *arg)
{
    (void)arg;
    pi_tid = (uint32_t)syscall(SYS_gettid);
    long rc = fx(&pi, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0);
    pi_result = err(rc);
    pi_owner_ok = (pi & FUTEX_TID_MASK) == pi_tid;
    fx(&pi, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}

static volatile pid_t clone_ptid, clone_ctid;
static volatile int child_saw_own_tid;

static int raw_child(void *arg)
{
    (void)arg;
    /* No TLS of its own: only raw system calls here. */
    child_saw_own_tid = clone_ctid == (pid_t)syscall(SYS_gettid);
    return 0;
}

int main(void)
{
    struct timespec rel = {0, 20 * 1000 * 1000};
    struct timespec abs;
    long rc;

    /* Errors and timeouts. */
    a = 1;
    printf("wait, value differs: %s\n", err(fx(&a, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0)));
    a = 0;
    printf("wait, 20 ms: %s\n", err(fx(&a, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0)));
    clock_gettime(CLOCK_MONOTONIC, &abs);
    printf("wait_bitset, deadline passed: %s\n",
           err(fx(&a, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY)));
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 20 * 1000 * 1000;
    if (abs.tv_nsec >= 1000000000) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000;
    }
    printf("wait_bitset, realtime deadline: %s\n",
           err(fx(&a, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs, NULL,
                  FUTEX_BITSET_MATCH_ANY)));
    printf("wait_bitset, bitset 0: %s\n",
           err(fx(&a, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0)));
    printf("wait, unaligned: %s\n",
           err(fx((volatile uint32_t *)((char *)&a + 1), FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0)));
    printf("wait, bad address: %s\n",
           err(fx((volatile uint32_t *)16, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0)));
    printf("wake, nobody waits: %ld\n", fx(&a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));

    /* Three waiters on a: moved to b with CMP_REQUEUE, then woken one by one. */
    pthread_t t[8];
    for (long i = 0; i < 3; i++) {
        pthread_create(&t[i], NULL, wait_on_a, (void *)i);
    }
    printf("cmp_requeue, value differs: %s\n",
           err(fx(&a, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(uintptr_t)INT_MAX, &b, 1)));
    long moved = 0;
    while (moved < 3) {
        rc = fx(&a, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(uintptr_t)INT_MAX, &b, 0);
        if (rc < 0) {
            printf("cmp_requeue: %s\n", err(rc));
            return 1;
        }
        moved += rc;
        sched_yield();
    }
    printf("cmp_requeue: %ld waiters moved from a to b, %d woken so far\n", moved,
           woke[0] + woke[1] + woke[2]);
    printf("wake a: %ld\n", fx(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    long woken = 0, calls = 0;
    while (woken < 3) {
        rc = fx(&b, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        woken += rc;
        calls += rc > 0;
    }
    printf("wake b one at a time: %ld woken in %ld calls\n", woken, calls);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
    }

    /* Plain REQUEUE: one waiter, woken through the second word. */
    pthread_create(&t[3], NULL, wait_on_a, (void *)3L);
    moved = 0;
    while (moved < 1) {
        moved += fx(&a, FUTEX_REQUEUE_PRIVATE, 0, (void *)(uintptr_t)1, &b, 0);
        sched_yield();
    }
    while (fx(&b, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) != 1) {
    }
    pthread_join(t[3], NULL);
    printf("requeue: the waiter moved and woke: %d\n", woke[3]);

    /* Bitsets: a waiter with bitset 1 is not woken by bitset 2. */
    pthread_create(&t[4], NULL, wait_bitset_c, NULL);
    for (int i = 0; i < 100; i++) {
        sched_yield();
    }
    printf("wake_bitset 2: %ld\n", fx(&c, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x2));
    while (fx(&c, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x3) != 1) {
    }
    pthread_join(t[4], NULL);
    printf("wake_bitset 3: woke the bitset-1 waiter: %d\n", woke[4]);

    /* WAKE_OP arithmetic on the second word, nobody waiting. */
    x = 5;
    static const struct { const char *name; uint32_t op; } ops[] = {
        {"set 9, if old == 5", FUTEX_OP(FUTEX_OP_SET, 9, FUTEX_OP_CMP_EQ, 5)},
        {"add 3, if old != 9", FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_NE, 9)},
        {"or 0x30, if old < 12", FUTEX_OP(FUTEX_OP_OR, 0x30, FUTEX_OP_CMP_LT, 12)},
        {"andn 0x10, if old <= 60", FUTEX_OP(FUTEX_OP_ANDN, 0x10, FUTEX_OP_CMP_LE, 60)},
        {"xor 0xff, if old > 32", FUTEX_OP(FUTEX_OP_XOR, 0xff, FUTEX_OP_CMP_GT, 32)},
        {"or 1<<4, if old >= 0", FUTEX_OP(FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_GE, 0)},
        {"add -2, if old == -1", FUTEX_OP(FUTEX_OP_ADD, 0xffe, FUTEX_OP_CMP_EQ, 0xfff)},
    };
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        rc = fx(&y, FUTEX_WAKE_OP_PRIVATE, 1, (void *)(uintptr_t)1, &x, ops[i].op);
        printf("wake_op %s: %s, word now %d\n", ops[i].name, err(rc), (int)x);
    }
    /* WAKE_OP wakes the second word's waiter when the comparison holds. */
    x = 7;
    pthread_create(&t[5], NULL, wait_on_x, (void *)(uintptr_t)7);
    woken = 0;
    while (woken < 1) {
        /* add 0 (the waiter's value stays 7), wake x's waiters if old == 7 */
        woken += fx(&y, FUTEX_WAKE_OP_PRIVATE, 1, (void *)(uintptr_t)1, &x,
                    FUTEX_OP(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_EQ, 7));
        sched_yield();
    }
    pthread_join(t[5], NULL);
    printf("wake_op woke the second word's waiter: %d\n", woke[5]);

    /* PI lock: owner, errors, hand-over to a waiter. */
    uint32_t me = (uint32_t)syscall(SYS_gettid);
    rc = fx(&pi, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0);
    printf("lock_pi free word: %s, owner is me: %s\n", err(rc),
           (pi & FUTEX_TID_MASK) == me ? "yes" : "no");
    printf("lock_pi again: %s\n", err(fx(&pi, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0)));
    uint32_t other = 0;
    printf("unlock_pi not owner: %s\n", err(fx(&other, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0)));
    pthread_create(&t[6], NULL, lock_pi, NULL);
    while (!(pi & FUTEX_WAITERS)) {
        sched_yield();
    }
    printf("pi: a waiter is recorded in the word: yes\n");
    rc = fx(&pi, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
    printf("unlock_pi: %s\n", err(rc));
    pthread_join(t[6], NULL);
    printf("pi: the waiter got the lock: %s, owner is the waiter: %s\n", pi_result,
           pi_owner_ok ? "yes" : "no");
    printf("pi word after both unlocked: %u\n", (unsigned)pi);

    size_t size = 64 * 1024;
    char *stack = malloc(size);
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
                CLONE_CHILD_CLEARTID;
    /* Until the child runs, its word holds -1 (Linux may store the tid
     * only when the child starts). */
    clone_ctid = -1;
    int tid = clone(raw_child, stack + size, flags, NULL, &clone_ptid, NULL, &clone_ctid);
    if (tid <= 0) {
        perror("clone");
        return 1;
    }
    printf("clone: parent's tid word holds the new tid: %s\n",
           clone_ptid == tid ? "yes" : "no");
    /* CLONE_CHILD_CLEARTID: the word is zeroed and woken when the child ends. */
    for (;;) {
        pid_t v = clone_ctid;
        if (v == 0) {
            break;
        }
        fx((volatile uint32_t *)&clone_ctid, FUTEX_WAIT, (uint32_t)v, NULL, NULL, 0);
    }
    printf("clone: the child saw its tid in its own word: %s\n",
           child_saw_own_tid ? "yes" : "no");
    printf("clone: the child's tid word was cleared at exit\n");
    free(stack);
    return 0;
}

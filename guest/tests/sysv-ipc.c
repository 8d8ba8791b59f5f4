/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * System V IPC: shared memory (attach, fork, IPC_STAT, SHM_RDONLY,
 * SHM_RND, shmdt errors, /proc/self/maps), semaphores (SETALL/GETALL,
 * IPC_NOWAIT, a child blocked until the parent posts, semtimedop timeout,
 * EINTR, a thread blocked while another runs) and message queues (types,
 * MSG_EXCEPT, MSG_NOERROR/E2BIG, a receiver woken by a child).
 * Every line is deterministic.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static int failures;

static void check(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

static const char *err(int e)
{
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case EAGAIN: return "EAGAIN";
    case ENOMSG: return "ENOMSG";
    case E2BIG: return "E2BIG";
    case EINTR: return "EINTR";
    case EIDRM: return "EIDRM";
    case EACCES: return "EACCES";
    default: return "other";
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static sigjmp_buf segv_jump;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(segv_jump, 1);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static int maps_has(const void *addr, const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long start;
        char perms[8];
        if (sscanf(line, "%lx-%*x %7s", &start, perms) == 2 &&
            start == (unsigned long)addr && strstr(line, name) &&
            strcmp(perms, "rw-s") == 0)
            found = 1;
    }
    fclose(f);
    return found;
}

static void shared_memory(void)
{
    struct shmid_ds ds;
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    check("shmget", id >= 0);
    char *p = shmat(id, NULL, 0);
    check("shmat", p != (void *)-1);
    check("shmat page aligned", ((unsigned long)p & 4095) == 0);
    check("new segment is zeroed", p[0] == 0 && p[9999] == 0);
    strcpy(p, "hello from the parent");
    check("IPC_STAT", shmctl(id, IPC_STAT, &ds) == 0);
    printf("shm_segsz=%lu shm_nattch=%lu cpid=%s mode=%o\n",
           (unsigned long)ds.shm_segsz, (unsigned long)ds.shm_nattch,
           ds.shm_cpid == getpid() ? "self" : "other",
           (unsigned)(ds.shm_perm.mode & 0777));
    check("shm_ctime is now", labs((long)(ds.shm_ctime - time(NULL))) < 100);
    check("maps shows /SYSV00000000 (deleted)", maps_has(p, "/SYSV00000000 (deleted)"));

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct shmid_ds cds;
        shmctl(id, IPC_STAT, &cds);
        printf("child sees \"%s\" nattch=%lu\n", p, (unsigned long)cds.shm_nattch);
        strcpy(p + 5000, "reply from the child");
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("parent sees \"%s\"\n", p + 5000);
    shmctl(id, IPC_STAT, &ds);
    printf("after the child: nattch=%lu lpid=%s\n", (unsigned long)ds.shm_nattch,
           ds.shm_lpid == child ? "child" : "other");

    errno = 0;
    int r = shmdt(p + 4096);
    printf("shmdt(inside) = %d %s\n", r, err(errno));
    errno = 0;
    r = shmdt(p + 1);
    printf("shmdt(unaligned) = %d %s\n", r, err(errno));
    check("shmdt", shmdt(p) == 0);
    errno = 0;
    r = shmdt(p);
    printf("shmdt(again) = %d %s\n", r, err(errno));
    shmctl(id, IPC_STAT, &ds);
    printf("after shmdt: nattch=%lu\n", (unsigned long)ds.shm_nattch);

    /* A given address, rounded down to SHMLBA with SHM_RND. */
    char *q = shmat(id, p + 1, SHM_RND);
    check("shmat SHM_RND", q != (void *)-1 && ((unsigned long)q & 4095) == 0 &&
                               q <= p && strcmp(q, "hello from the parent") == 0);
    errno = 0;
    void *bad = shmat(id, q + 1, 0);
    printf("shmat(unaligned) = %s %s\n", bad == (void *)-1 ? "-1" : "addr", err(errno));
    errno = 0;
    bad = shmat(id, q, 0);
    printf("shmat(over a mapping) = %s %s\n", bad == (void *)-1 ? "-1" : "addr",
           err(errno));
    shmdt(q);

    /* Read-only: reads work, a write is SIGSEGV. */
    const char *ro = shmat(id, NULL, SHM_RDONLY);
    check("shmat SHM_RDONLY", ro != (void *)-1 && strcmp(ro, "hello from the parent") == 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, &old);
    volatile int faulted = 0;
    if (sigsetjmp(segv_jump, 1) == 0)
        *(volatile char *)ro = 'x';
    else
        faulted = 1;
    sigaction(SIGSEGV, &old, NULL);
    check("write to SHM_RDONLY is SIGSEGV", faulted);
    shmdt(ro);

    struct shminfo info;
    check("IPC_INFO", shmctl(0, IPC_INFO, (struct shmid_ds *)&info) >= 0 && info.shmmni > 0);
    check("IPC_RMID", shmctl(id, IPC_RMID, NULL) == 0);
    errno = 0;
    r = shmctl(id, IPC_STAT, &ds);
    printf("IPC_STAT after IPC_RMID = %d %s\n", r, err(errno));
}

static int semid;
static volatile int thread_waiting, thread_done;

static void *sem_waiter(void *arg)
{
    (void)arg;
    struct sembuf down = { 0, -1, 0 };
    thread_waiting = 1;
    int r = semop(semid, &down, 1);
    thread_done = 1;
    printf("thread: semop = %d\n", r);
    return NULL;
}

static void semaphores(void)
{
    union semun arg;
    struct semid_ds ds;
    unsigned short vals[2] = { 0, 5 };
    semid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    check("semget", semid >= 0);
    arg.array = vals;
    check("SETALL", semctl(semid, 0, SETALL, arg) == 0);
    vals[0] = vals[1] = 99;
    semctl(semid, 0, GETALL, arg);
    printf("GETALL: %u %u\n", vals[0], vals[1]);
    arg.buf = &ds;
    semctl(semid, 0, IPC_STAT, arg);
    printf("sem_nsems=%lu mode=%o\n", (unsigned long)ds.sem_nsems,
           (unsigned)(ds.sem_perm.mode & 0777));
    check("sem_ctime is now", labs((long)(ds.sem_ctime - time(NULL))) < 100);

    struct sembuf down = { 0, -1, IPC_NOWAIT };
    errno = 0;
    int r = semop(semid, &down, 1);
    printf("semop(IPC_NOWAIT) on 0 = %d %s\n", r, err(errno));
    struct timespec ts = { 0, 50000000 };
    down.sem_flg = 0;
    errno = 0;
    r = semtimedop(semid, &down, 1, &ts);
    printf("semtimedop(50 ms) = %d %s\n", r, err(errno));

    /* EINTR: a handler without SA_RESTART interrupts the wait. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { 0, 50000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    errno = 0;
    r = semop(semid, &down, 1);
    printf("semop interrupted = %d %s\n", r, err(errno));

    /* A child blocks until the parent posts. */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct sembuf d = { 0, -1, 0 };
        int cr = semop(semid, &d, 1);
        printf("child: semop = %d, value now %d\n", cr, semctl(semid, 0, GETVAL));
        fflush(stdout);
        _exit(0);
    }
    sleep_ms(100);
    printf("waiters before the post: %d\n", semctl(semid, 0, GETNCNT));
    fflush(stdout);
    struct sembuf up = { 0, 1, 0 };
    semop(semid, &up, 1);
    int status;
    waitpid(child, &status, 0);
    printf("GETPID is the child: %s\n", semctl(semid, 0, GETPID) == child ? "yes" : "no");

    arg.val = 3;
    semctl(semid, 1, SETVAL, arg);
    printf("GETVAL 1 = %d\n", semctl(semid, 1, GETVAL));

    /* A thread blocks; the main thread keeps running meanwhile. */
    pthread_t t;
    thread_waiting = thread_done = 0;
    pthread_create(&t, NULL, sem_waiter, NULL);
    while (!thread_waiting)
        sched_yield();
    int rounds = 0;
    for (int i = 0; i < 5; i++) {
        sleep_ms(10);
        if (!thread_done)
            rounds++;
    }
    printf("main ran %d rounds while the thread waited\n", rounds);
    fflush(stdout);
    semop(semid, &up, 1);
    pthread_join(t, NULL);

    check("IPC_RMID", semctl(semid, 0, IPC_RMID) == 0);
    errno = 0;
    r = semop(semid, &up, 1);
    printf("semop after IPC_RMID = %d %s\n", r, err(errno == EIDRM ? EINVAL : errno));
}

struct message {
    long mtype;
    char mtext[64];
};

static int msg_send(int q, long type, const char *text)
{
    struct message m;
    m.mtype = type;
    strcpy(m.mtext, text);
    return msgsnd(q, &m, strlen(text) + 1, 0);
}

static void receive(int q, long type, int flags, size_t size, const char *what)
{
    struct message m;
    memset(&m, 0, sizeof m);
    errno = 0;
    ssize_t n = msgrcv(q, &m, size, type, flags);
    if (n < 0)
        printf("%s: -1 %s\n", what, err(errno));
    else
        printf("%s: %zd type %ld \"%.*s\"\n", what, n, m.mtype, (int)n, m.mtext);
}

static void message_queues(void)
{
    struct msqid_ds ds;
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    check("msgget", q >= 0);
    msg_send(q, 1, "one");
    msg_send(q, 2, "two");
    msg_send(q, 3, "three");
    msgctl(q, IPC_STAT, &ds);
    printf("msg_qnum=%lu msg_cbytes=%lu lspid=%s\n", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.msg_cbytes, ds.msg_lspid == getpid() ? "self" : "other");
    check("msg_stime is now", labs((long)(ds.msg_stime - time(NULL))) < 100);
    receive(q, 2, 0, 64, "type 2");
    receive(q, 0, 0, 64, "any type");
    receive(q, 1, MSG_EXCEPT, 64, "not type 1");
    receive(q, 0, IPC_NOWAIT, 64, "empty, IPC_NOWAIT");
    msg_send(q, 5, "a rather long message");
    receive(q, 5, 0, 6, "too small");
    receive(q, 5, MSG_NOERROR, 6, "MSG_NOERROR");
    errno = 0;
    struct message m = { 0, "x" };
    int r = msgsnd(q, &m, 2, 0);
    printf("msgsnd(type 0) = %d %s\n", r, err(errno));

    /* The parent waits in msgrcv until the child sends. */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        sleep_ms(100);
        msg_send(q, 7, "from the child");
        _exit(0);
    }
    receive(q, 7, 0, 64, "woken by the child");
    int status;
    waitpid(child, &status, 0);
    msgctl(q, IPC_STAT, &ds);
    printf("lrpid=%s lspid=%s\n", ds.msg_lrpid == getpid() ? "self" : "other",
           ds.msg_lspid == child ? "child" : "other");
    ds.msg_perm.mode = 0640;
    check("IPC_SET", msgctl(q, IPC_SET, &ds) == 0);
    msgctl(q, IPC_STAT, &ds);
    printf("mode after IPC_SET=%o\n", (unsigned)(ds.msg_perm.mode & 0777));
    check("IPC_RMID", msgctl(q, IPC_RMID, NULL) == 0);
    errno = 0;
    r = msg_send(q, 1, "gone");
    printf("msgsnd after IPC_RMID = %d %s\n", r, err(errno == EIDRM ? EINVAL : errno));
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    shared_memory();
    semaphores();
    message_queues();
    printf("%s\n", failures ? "sysv-ipc: FAILED" : "sysv-ipc: all ok");
    return failures != 0;
}

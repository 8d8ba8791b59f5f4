/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Many threads emitting hypertrace events at once, each on its own client
 * and without any locking:
 *
 *   threads-events BASE [THREADS [EVENTS [FIRST_CLIENT]]]
 *
 * Thread t (0-based) uses client FIRST_CLIENT + t and emits EVENTS events.
 * Event i carries arg1 = i and, from the client's data slots, arg2 = i,
 * arg3 = the thread's tid and arg4 = i ^ 0x5a5a5a5a5a5a5a5a, all written
 * before the control store, so a reader can check that every event is
 * whole, in order and from the right thread. Prints one line per thread
 * and a summary; exit status 0 when all threads finished.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qemu-hypertrace.h"

#define MIX 0x5a5a5a5a5a5a5a5aull

struct job {
    uint64_t client;
    uint64_t events;
    long tid;
};

static void *emit(void *arg)
{
    struct job *job = arg;
    uint64_t scratch[3];
    /* A client beyond max-clients has no data slots (its control store is
     * ignored by the host): write the arguments to scratch memory. */
    uint64_t *data = job->client < qemu_hypertrace_max_clients()
                         ? qemu_hypertrace_data(job->client)
                         : scratch;

    job->tid = syscall(SYS_gettid);
    for (uint64_t i = 0; i < job->events; i++) {
        data[0] = i;
        data[1] = (uint64_t)job->tid;
        data[2] = i ^ MIX;
        qemu_hypertrace(job->client, i);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s BASE [THREADS [EVENTS [FIRST_CLIENT]]]\n", argv[0]);
        return 2;
    }
    long threads = argc > 2 ? strtol(argv[2], NULL, 0) : 8;
    uint64_t events = argc > 3 ? strtoull(argv[3], NULL, 0) : 1000000;
    uint64_t first = argc > 4 ? strtoull(argv[4], NULL, 0) : 0;
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "threads must be 1..256\n");
        return 2;
    }
    if (qemu_hypertrace_init(argv[1]) != 0) {
        fprintf(stderr, "qemu_hypertrace_init: %s\n", strerror(errno));
        return 1;
    }
    if (qemu_hypertrace_num_args() < 4) {
        fprintf(stderr, "need args=4 or more\n");
        return 1;
    }
    uint64_t max = qemu_hypertrace_max_clients();
    pthread_t tids[256];
    struct job jobs[256];
    for (long t = 0; t < threads; t++) {
        jobs[t].client = first + (uint64_t)t;
        jobs[t].events = events;
        if (jobs[t].client >= max) {
            fprintf(stderr, "client %llu is beyond max-clients %llu\n",
                    (unsigned long long)jobs[t].client, (unsigned long long)max);
        }
        int rc = pthread_create(&tids[t], NULL, emit, &jobs[t]);
        if (rc != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    for (long t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
    }
    for (long t = 0; t < threads; t++) {
        printf("thread %ld client %llu tid-pid %ld events %llu\n", t,
               (unsigned long long)jobs[t].client, jobs[t].tid - (long)getpid(),
               (unsigned long long)jobs[t].events);
    }
    printf("threads=%ld events=%llu\n", threads, (unsigned long long)(events * threads));
    return 0;
}

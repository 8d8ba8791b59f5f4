/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A compute-bound multi-threaded workload whose output does not depend on
 * the number of threads:
 *
 *   threads-cpu [THREADS [UNITS]]      (default 4 threads, 16384 units)
 *
 * Each work unit hashes its number through 20,000 rounds of table lookups
 * and arithmetic in a 16 KiB table private to the thread; thread t takes
 * units t, t+THREADS, ... The sum of the unit results is printed. The
 * threads never synchronise until they are joined, so every switch between
 * them is a preemption.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ROUNDS 20000
#define TABLE 4096

static long threads = 4;
static long units = 16384;

struct job {
    long id;
    uint64_t sum;
};

static uint64_t unit(uint32_t *table, uint64_t n)
{
    uint64_t x = n * 0x9e3779b97f4a7c15ull + 1;
    for (uint32_t i = 0; i < TABLE; i++) {
        table[i] = (uint32_t)(x >> 32) ^ i;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    }
    for (uint32_t r = 0; r < ROUNDS; r++) {
        uint32_t k = (uint32_t)(x >> 40) % TABLE;
        x ^= table[k];
        x = (x << 7 | x >> 57) * 0xff51afd7ed558ccdull;
        table[k] = (uint32_t)x;
    }
    return x;
}

static void *work(void *arg)
{
    struct job *job = arg;
    uint32_t *table = malloc(TABLE * sizeof *table);
    if (table == NULL) {
        return NULL;
    }
    for (long n = job->id; n < units; n += threads) {
        job->sum += unit(table, (uint64_t)n);
    }
    free(table);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        threads = strtol(argv[1], NULL, 0);
    }
    if (argc > 2) {
        units = strtol(argv[2], NULL, 0);
    }
    if (threads < 1 || threads > 64 || units < 1) {
        fprintf(stderr, "usage: %s [THREADS(1-64) [UNITS]]\n", argv[0]);
        return 2;
    }
    pthread_t t[64];
    struct job jobs[64];
    for (long i = 0; i < threads; i++) {
        jobs[i].id = i;
        jobs[i].sum = 0;
        if (pthread_create(&t[i], NULL, work, &jobs[i]) != 0) {
            return 1;
        }
    }
    uint64_t sum = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        sum += jobs[i].sum;
    }
    printf("units=%ld checksum=%016llx\n", units, (unsigned long long)sum);
    return 0;
}

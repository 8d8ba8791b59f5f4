/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Regions of known relative length, for region statistics:
 *
 *   regions BASE [REPS] [WORK]
 *
 * REPS times (default 20), for k = 1, 2, 4 in turn: sets data slot 0 to k
 * and emits arg1=1 (open), does k units of WORK loop iterations (default
 * 20000), emitting a progress point arg1=100 (slot 1 = unit index) after
 * each unit, then emits arg1=0 (close) with slot 0 still k. Last, one
 * progress point arg1=2 outside any region.
 *
 * So with `--region work=1:0/arg2` the regions "work arg2=K" take about
 * 1:2:4 time, each has REPS*K progress points inside, and the trace holds
 * REPS*(2*3 + 7) + 1 events.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qemu-hypertrace.h>

static volatile uint64_t sink;

static uint64_t __attribute__((noinline)) work(uint64_t n, uint64_t seed)
{
    uint64_t x = seed;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        x ^= x >> 29;
    }
    return x;
}

int main(int argc, char **argv)
{
    uint64_t reps = 20, units = 20000;

    if (argc < 2) {
        fprintf(stderr, "usage: regions BASE [REPS] [WORK]\n");
        return 2;
    }
    if (argc > 2) {
        reps = strtoull(argv[2], NULL, 0);
    }
    if (argc > 3) {
        units = strtoull(argv[3], NULL, 0);
    }
    if (qemu_hypertrace_init(argv[1]) != 0) {
        fprintf(stderr, "regions: qemu_hypertrace_init: %s\n", strerror(errno));
        return 1;
    }
    if (qemu_hypertrace_num_args() < 3) {
        fprintf(stderr, "regions: the channel needs args=3 or more\n");
        return 1;
    }

    volatile uint64_t *data = qemu_hypertrace_data(0);
    for (uint64_t r = 0; r < reps; r++) {
        for (uint64_t k = 1; k <= 4; k *= 2) {
            data[0] = k;
            data[1] = 0;
            qemu_hypertrace(0, 1);
            for (uint64_t u = 0; u < k; u++) {
                sink ^= work(units, r + u);
                data[1] = u;
                qemu_hypertrace(0, 100);
            }
            data[0] = k;
            qemu_hypertrace(0, 0);
        }
    }
    data[0] = 0;
    data[1] = 0;
    qemu_hypertrace(0, 2);
    printf("regions: %" PRIu64 " repetitions of 1, 2, 4 units of %" PRIu64 "\n",
           reps, units);
    return 0;
}

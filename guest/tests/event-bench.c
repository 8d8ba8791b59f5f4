/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Measure the cost of emitting hypertrace events:
 *
 *   event-bench BASE N store     N events (two data stores + trigger each)
 *   event-bench BASE N nostore   the same loop without the trigger store
 *   event-bench BASE N syscall   the nostore loop plus one getppid each
 *   event-bench BASE N mixed     the store loop plus one getppid each
 *
 * All modes initialise the channel, so the difference between the store
 * and nostore run times is the cost of the events themselves, and mixed
 * against store + syscall - nostore shows whether an event and a system
 * call cost more together than apart.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <qemu-hypertrace.h>

int main(int argc, char **argv)
{
    uint64_t n;
    int store, call;

    if (argc < 4 || (strcmp(argv[3], "store") != 0 &&
                     strcmp(argv[3], "nostore") != 0 &&
                     strcmp(argv[3], "syscall") != 0 &&
                     strcmp(argv[3], "mixed") != 0)) {
        fprintf(stderr,
                "usage: event-bench BASE N store|nostore|syscall|mixed\n");
        return 2;
    }
    n = strtoull(argv[2], NULL, 0);
    store = strcmp(argv[3], "store") == 0 || strcmp(argv[3], "mixed") == 0;
    call = strcmp(argv[3], "syscall") == 0 || strcmp(argv[3], "mixed") == 0;

    if (qemu_hypertrace_init(argv[1]) != 0) {
        fprintf(stderr, "event-bench: qemu_hypertrace_init: %s\n",
                strerror(errno));
        return 1;
    }
    if (qemu_hypertrace_max_clients() < 1 || qemu_hypertrace_num_args() < 2) {
        fprintf(stderr, "event-bench: channel too small\n");
        return 1;
    }

    volatile uint64_t *data = qemu_hypertrace_data(0);
    if (store && call) {
        for (uint64_t i = 0; i < n; i++) {
            data[0] = i;
            data[1] = i;
            qemu_hypertrace(0, i);
            getppid();
        }
    } else if (call) {
        for (uint64_t i = 0; i < n; i++) {
            data[0] = i;
            data[1] = i;
            getppid();
        }
    } else if (store) {
        for (uint64_t i = 0; i < n; i++) {
            data[0] = i;
            data[1] = i;
            qemu_hypertrace(0, i);
        }
    } else {
        for (uint64_t i = 0; i < n; i++) {
            data[0] = i;
            data[1] = i;
        }
    }
    printf("done %" PRIu64 "\n", n);
    return 0;
}

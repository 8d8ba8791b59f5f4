/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Markers with or without a channel:
 *
 *   markers [N]
 *
 * Initialises the library from QEMU_HYPERTRACE_BASE (qemu_hypertrace_init
 * with no base), prints whether that worked, then emits N events (default
 * 100) on client 0, both inline and through the library's function, with
 * arg1 = i and data slot 0 = 3i + 1 for the i-th. Without a channel (run
 * natively, or under an emulator without -hypertrace) the markers must do
 * nothing and the program must end normally; under ht-user -hypertrace the
 * trace holds the N events.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qemu-hypertrace.h>

/* The library's own function, not the inline one of the header. */
#undef qemu_hypertrace
void qemu_hypertrace(uint64_t client, uint64_t arg1);

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 100;

    if (qemu_hypertrace_init(NULL) == 0) {
        printf("channel: %" PRIu64 " clients, %" PRIu64 " arguments\n",
               qemu_hypertrace_max_clients(), qemu_hypertrace_num_args());
    } else {
        printf("no channel (%s): markers do nothing\n", strerror(errno));
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t *data = qemu_hypertrace_data(0);
        data[0] = 3 * i + 1;
        if (i % 2 == 0) {
            qemu_hypertrace_inline(0, i);
        } else {
            qemu_hypertrace(0, i);
        }
    }
    printf("emitted %" PRIu64 " markers\n", n);
    return 0;
}

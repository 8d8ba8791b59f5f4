/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Emit a known sequence of hypertrace events:
 *
 *   events BASE N [CLIENT]
 *
 * Event i (0 <= i < N) has arg1 = i and data slots 0, 1, 2 set to
 * i, i*3+1 and ~i (only the slots the channel provides are written).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qemu-hypertrace.h>

int main(int argc, char **argv)
{
    uint64_t n, client = 0, nargs;

    if (argc < 3) {
        fprintf(stderr, "usage: events BASE N [CLIENT]\n");
        return 2;
    }
    n = strtoull(argv[2], NULL, 0);
    if (argc > 3) {
        client = strtoull(argv[3], NULL, 0);
    }

    if (qemu_hypertrace_init(argv[1]) != 0) {
        fprintf(stderr, "events: qemu_hypertrace_init: %s\n", strerror(errno));
        return 1;
    }
    if (client >= qemu_hypertrace_max_clients()) {
        fprintf(stderr, "events: client %" PRIu64 " out of range (max %" PRIu64
                ")\n", client, qemu_hypertrace_max_clients());
        return 1;
    }
    nargs = qemu_hypertrace_num_args();

    uint64_t *data = qemu_hypertrace_data(client);
    for (uint64_t i = 0; i < n; i++) {
        if (nargs > 0) {
            data[0] = i;
        }
        if (nargs > 1) {
            data[1] = i * 3 + 1;
        }
        if (nargs > 2) {
            data[2] = ~i;
        }
        qemu_hypertrace(client, i);
    }
    printf("emitted %" PRIu64 "\n", n);
    return 0;
}

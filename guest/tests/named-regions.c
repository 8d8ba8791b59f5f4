/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Named regions and points, the way a new user writes them:
 *
 *   named-regions [N]
 *
 * Registers "early" before qemu_hypertrace_init (init tells ht-user about
 * it), then runs N iterations (default 100) of a "compute" region and an
 * "io" region on client 0, a "tick" point every 10th iteration, and N
 * iterations of a "hot" region through the inline *_id markers. A name
 * longer than QEMU_HYPERTRACE_NAME_MAX and one with quotes and UTF-8 are
 * registered too, and a forked child opens and closes one "child work"
 * region, so its own trace must know that name. Prints the ids, which
 * are the same on every run. Without a channel every marker does nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <qemu-hypertrace.h>

static volatile uint64_t sink;

static void compute(uint64_t i)
{
    uint64_t x = i;
    for (int k = 0; k < 200; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    sink = x;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 100;
    char long_name[400];
    uint32_t early, hot, longer, quoted, again;

    early = qemu_hypertrace_name(0, "early");
    if (qemu_hypertrace_init(NULL) == 0) {
        printf("channel: %" PRIu64 " arguments\n", qemu_hypertrace_num_args());
    } else {
        printf("no channel (%s): markers do nothing\n", strerror(errno));
    }
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    longer = qemu_hypertrace_name(0, long_name);
    quoted = qemu_hypertrace_name(0, "na\xc3\xafve \"quoted\"");
    hot = qemu_hypertrace_name(0, "hot");
    again = qemu_hypertrace_name(0, "hot");
    printf("ids: early=%" PRIu32 " long=%" PRIu32 " quoted=%" PRIu32
           " hot=%" PRIu32 " hot again=%" PRIu32 " empty=%" PRIu32 "\n",
           early, longer, quoted, hot, again, qemu_hypertrace_name(0, ""));

    qemu_hypertrace_region_begin(0, "early");
    qemu_hypertrace_region_end(0, "early");
    for (uint64_t i = 0; i < n; i++) {
        qemu_hypertrace_region_begin(0, "compute");
        compute(i);
        qemu_hypertrace_region_end(0, "compute");
        qemu_hypertrace_region_begin(0, "io");
        if (write(STDOUT_FILENO, "", 0) != 0) {
            return 1;
        }
        qemu_hypertrace_region_end(0, "io");
        if (i % 10 == 0) {
            qemu_hypertrace_point(0, "tick");
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        qemu_hypertrace_region_begin_id(0, hot);
        sink = i;
        qemu_hypertrace_region_end_id(0, hot);
    }
    qemu_hypertrace_region_begin_id(0, quoted);
    qemu_hypertrace_region_end_id(0, quoted);
    qemu_hypertrace_region_begin_id(0, longer);
    qemu_hypertrace_region_end_id(0, longer);

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        qemu_hypertrace_region_begin(0, "child work");
        compute(7);
        qemu_hypertrace_region_end(0, "child work");
        _exit(0);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || status != 0) {
        printf("fork failed\n");
        return 1;
    }
    printf("done: %" PRIu64 " iterations\n", n);
    return 0;
}

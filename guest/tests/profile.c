/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A program to profile (built with its symbol table):
 *
 *   profile [N]
 *
 * Opens a named region "work" N times (default 20); each calls
 * outer() -> middle() -> leaf() and outer() -> other_leaf(), recurses in
 * countdown() and writes nothing to /dev/null through write(2). A seed
 * region (arg1=1 .. arg1=0) around one more call of leaf() follows. The
 * functions are not inlined, so the profile must find each of them with
 * its own instructions and the calls between them.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <qemu-hypertrace.h>

volatile uint64_t sink;

__attribute__((noinline)) void leaf(uint64_t n)
{
    uint64_t x = n;
    for (uint64_t i = 0; i < 200; i++) {
        x = x * 6364136223846793005ULL + i;
    }
    sink = x;
}

__attribute__((noinline)) void other_leaf(uint64_t n)
{
    uint64_t x = n;
    for (uint64_t i = 0; i < 50; i++) {
        x ^= x << 7;
        x ^= x >> 9;
    }
    sink = x;
}

__attribute__((noinline)) void middle(uint64_t n)
{
    leaf(n);
    sink += n;
}

__attribute__((noinline)) void countdown(uint64_t n)
{
    if (n > 0) {
        countdown(n - 1);
    }
    sink += n;
}

__attribute__((noinline)) void outer(uint64_t n, int fd)
{
    middle(n);
    other_leaf(n);
    countdown(5);
    if (write(fd, "", 0) != 0) {
        exit(1);
    }
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 20;
    int fd = open("/dev/null", O_WRONLY);

    if (fd < 0 || qemu_hypertrace_init(NULL) != 0) {
        printf("no channel: nothing to profile\n");
    }
    uint32_t work = qemu_hypertrace_name(0, "work");
    for (uint64_t i = 0; i < n; i++) {
        qemu_hypertrace_region_begin_id(0, work);
        outer(i, fd);
        qemu_hypertrace_region_end_id(0, work);
    }
    qemu_hypertrace(0, 1);
    leaf(n);
    qemu_hypertrace(0, 0);
    printf("profiled %llu regions\n", (unsigned long long)n);
    return 0;
}

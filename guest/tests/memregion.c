/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A region of known memory accesses between two hypertrace events:
 *
 *   memregion BASE [EXTRA]
 *
 * Prints the address of a 128-byte buffer of machine words (W bytes each:
 * 8 on 64-bit guests, 4 on 32-bit ones; word k holds k), touches it
 * outside any region, emits arg1=1 (open), performs this sequence on it,
 * emits arg1=0 (close) and touches it again:
 *
 *   for i in 0..8: load word 8+i (W bytes at buf+W*(8+i)), store it
 *                  times 3 plus i into word i
 *   store 4 bytes 0x11223344 at buf+96
 *   load 1 byte at buf+104
 *   store 2 bytes 0xbeef at buf+112
 *   EXTRA times: load and store word k%8 (adds 1)
 *
 * With `-hypertrace-region guest_mem_before_exec` exactly these accesses
 * to the buffer are recorded, and none of those outside the region.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qemu-hypertrace.h>

#define WORDS (128 / sizeof(unsigned long))

static volatile unsigned long buf[WORDS] __attribute__((aligned(64)));

static void touch(void)
{
    for (unsigned i = 0; i < WORDS; i++) {
        buf[i] = buf[i] + i;
    }
}

int main(int argc, char **argv)
{
    uint64_t extra = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: memregion BASE [EXTRA]\n");
        return 2;
    }
    if (argc > 2) {
        extra = strtoull(argv[2], NULL, 0);
    }
    if (qemu_hypertrace_init(argv[1]) != 0) {
        fprintf(stderr, "memregion: qemu_hypertrace_init: %s\n", strerror(errno));
        return 1;
    }
    printf("buf=%#" PRIxPTR "\n", (uintptr_t)buf);
    fflush(stdout);
    touch();

    qemu_hypertrace(0, 1);
    for (unsigned i = 0; i < 8; i++) {
        unsigned long v = buf[8 + i];
        buf[i] = v * 3 + i;
    }
    *(volatile uint32_t *)((uintptr_t)buf + 96) = 0x11223344;
    uint8_t byte = *(volatile uint8_t *)((uintptr_t)buf + 104);
    *(volatile uint16_t *)((uintptr_t)buf + 112) = 0xbeef;
    /* One block per iteration: gcc unrolls small loops at -O2 on POWER. */
#pragma GCC unroll 1
    for (uint64_t k = 0; k < extra; k++) {
        buf[k % 8] = buf[k % 8] + 1;
    }
    qemu_hypertrace(0, 0);

    touch();
    uint64_t sum = byte;
    for (unsigned i = 0; i < WORDS; i++) {
        sum += buf[i];
    }
    printf("sum=%" PRIu64 "\n", sum);
    return 0;
}

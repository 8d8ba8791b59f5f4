/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cost of address-space bookkeeping:
 *
 *   mapping-bench many N     N one-page mappings (alternating permissions,
 *                            so none merge), then each one removed
 *   mapping-bench check N    N one-page mappings, each written and read
 *                            back; every third removed and as many mapped
 *                            again (into the holes), then all checked: a
 *                            page's contents belong to it, a removed page
 *                            is gone (mincore says ENOMEM), odd pages
 *                            are read-only
 *   mapping-bench reserve    a 512 GiB PROT_NONE reservation (256 MiB on
 *                            32-bit guests), then mprotect and munmap of
 *                            pages inside it; prints the time per call
 *
 * "many" and "check" print only a deterministic line; "reserve" also prints times
 * (microseconds per call, from CLOCK_MONOTONIC).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int many(long n)
{
    void **maps = calloc(n, sizeof *maps);
    if (maps == NULL) {
        return 1;
    }
    for (long i = 0; i < n; i++) {
        int prot = i % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
        maps[i] = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (maps[i] == MAP_FAILED) {
            printf("mmap %ld failed\n", i);
            return 1;
        }
    }
    for (long i = 0; i < n; i++) {
        if (munmap(maps[i], 4096) != 0) {
            printf("munmap %ld failed\n", i);
            return 1;
        }
    }
    printf("%ld mappings created and removed\n", n);
    return 0;
}

/* Whether the page at p is mapped: mincore fails with ENOMEM on a hole. */
static int mapped(void *p)
{
    unsigned char vec;
    return mincore(p, 4096, &vec) == 0;
}

static int check(long n)
{
    long *tags = calloc(n, sizeof *tags);
    long **maps = calloc(n, sizeof *maps);
    if (tags == NULL || maps == NULL) {
        return 1;
    }
    for (long i = 0; i < n; i++) {
        maps[i] = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (maps[i] == MAP_FAILED) {
            printf("mmap %ld failed\n", i);
            return 1;
        }
        tags[i] = 0x1000 + i;
        maps[i][0] = tags[i];
        maps[i][511] = ~tags[i];
    }
    for (long i = 0; i < n; i += 3) {
        if (munmap(maps[i], 4096) != 0 || mapped(maps[i])) {
            printf("munmap %ld failed\n", i);
            return 1;
        }
    }
    for (long i = 0; i < n; i += 3) {
        maps[i] = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (maps[i] == MAP_FAILED || maps[i][0] != 0) {
            printf("mmap again %ld failed\n", i);
            return 1;
        }
        tags[i] = 0x100000 + i;
        maps[i][0] = tags[i];
        maps[i][511] = ~tags[i];
    }
    for (long i = 1; i < n; i += 2) {
        if (mprotect(maps[i], 4096, PROT_READ) != 0) {
            printf("mprotect %ld failed\n", i);
            return 1;
        }
    }
    for (long i = 0; i < n; i++) {
        if (!mapped(maps[i])) {
            printf("page %ld is not mapped\n", i);
            return 1;
        }
        if (maps[i][0] != tags[i] || maps[i][511] != ~tags[i]) {
            printf("page %ld holds %#lx, not %#lx\n", i, maps[i][0], tags[i]);
            return 1;
        }
    }
    for (long i = 0; i < n; i++) {
        if (munmap(maps[i], 4096) != 0 || mapped(maps[i])) {
            printf("final munmap %ld failed\n", i);
            return 1;
        }
    }
    printf("%ld mappings checked\n", n);
    return 0;
}

static int reserve(void)
{
    size_t size = sizeof(void *) == 8 ? (size_t)512 << 30 : (size_t)256 << 20;
    char *r = mmap(NULL, size, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED && errno == ENOMEM && sizeof(void *) == 8) {
        /* A 39-bit address space (riscv64 Sv39) has 256 GiB for user
         * space in all: a quarter of it is still a huge reservation. */
        size = (size_t)64 << 30;
        r = mmap(NULL, size, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    if (r == MAP_FAILED) {
        printf("reservation failed\n");
        return 1;
    }
    const int calls = 20;
    double t0 = now_us();
    for (int i = 0; i < calls; i++) {
        char *page = r + size / 2 + (size_t)i * 8192;
        if (mprotect(page, 4096, PROT_READ | PROT_WRITE) != 0) {
            printf("mprotect failed\n");
            return 1;
        }
        page[0] = 1;
    }
    double t1 = now_us();
    for (int i = 0; i < calls; i++) {
        if (munmap(r + size / 4 + (size_t)i * 8192, 4096) != 0) {
            printf("munmap failed\n");
            return 1;
        }
    }
    double t2 = now_us();
    if (munmap(r, size) != 0) {
        printf("final munmap failed\n");
        return 1;
    }
    double t3 = now_us();
    printf("mprotect: %.1f us per call\n", (t1 - t0) / calls);
    printf("munmap: %.1f us per call\n", (t2 - t1) / calls);
    printf("munmap of the whole reservation: %.1f us\n", t3 - t2);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "many") == 0) {
        return many(strtol(argv[2], NULL, 0));
    }
    if (argc > 2 && strcmp(argv[1], "check") == 0) {
        return check(strtol(argv[2], NULL, 0));
    }
    if (argc > 1 && strcmp(argv[1], "reserve") == 0) {
        return reserve();
    }
    fprintf(stderr, "usage: mapping-bench many N | check N | reserve\n");
    return 2;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory-management checks:
 *
 *   memory DIR
 *
 * DIR is a scratch directory used for the file-backed mappings. Every check
 * prints one line ("ok ..." or "FAIL ..."); no addresses are printed.
 * Exit status 0 when all checks pass, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL

static int failures;

static void check(int cond, const char *what)
{
    int saved = errno;

    if (cond) {
        printf("ok %s\n", what);
    } else {
        printf("FAIL %s (errno=%d)\n", what, saved);
        failures++;
    }
    fflush(stdout);
}

/* Byte pattern used to fill and verify buffers. */
static unsigned char pat(size_t i, unsigned seed)
{
    return (unsigned char)((i * 31u + seed) ^ (i >> 12));
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = pat(i, seed);
    }
}

static int verify(const unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != pat(i, seed)) {
            return 0;
        }
    }
    return 1;
}

static int all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static void test_malloc(void)
{
    enum { COUNT = 200 };
    unsigned char *blocks[COUNT] = { NULL };
    int ok = 1;

    for (int i = 0; i < COUNT; i++) {
        size_t len = 1 + (size_t)i * 37;
        blocks[i] = malloc(len);
        if (blocks[i] == NULL) {
            ok = 0;
            break;
        }
        fill(blocks[i], len, (unsigned)i);
    }
    for (int i = 0; ok && i < COUNT; i++) {
        if (!verify(blocks[i], 1 + (size_t)i * 37, (unsigned)i)) {
            ok = 0;
        }
    }
    for (int i = 0; i < COUNT; i++) {
        free(blocks[i]);
    }
    check(ok, "malloc small blocks");

    {
        size_t len = 64UL << 20;
        unsigned char *big = malloc(len);
        int bok = big != NULL;

        for (size_t off = 0; bok && off < len; off += PAGE) {
            big[off] = (unsigned char)(off / PAGE);
            big[off + PAGE - 1] = (unsigned char)~(off / PAGE);
        }
        for (size_t off = 0; bok && off < len; off += PAGE) {
            if (big[off] != (unsigned char)(off / PAGE) ||
                big[off + PAGE - 1] != (unsigned char)~(off / PAGE)) {
                bok = 0;
            }
        }
        free(big);
        check(bok, "malloc 64 MiB touching every page");
    }
}

/* Grow and shrink the program break with the raw system call. */
static void test_brk(void)
{
    size_t grow = 1UL << 20;
    uintptr_t cur = (uintptr_t)syscall(SYS_brk, 0);
    uintptr_t want = cur + grow;
    uintptr_t got = (uintptr_t)syscall(SYS_brk, want);
    int ok = cur != 0 && got == want;

    check(ok, "brk grow 1 MiB");
    if (ok) {
        unsigned char *p = (unsigned char *)cur;
        memset(p, 0x5a, grow);
        check(p[0] == 0x5a && p[grow - 1] == 0x5a, "brk memory usable");
        got = (uintptr_t)syscall(SYS_brk, cur);
        check(got == cur, "brk shrink back");
    }
    check((uintptr_t)sbrk(0) == (uintptr_t)syscall(SYS_brk, 0),
          "sbrk(0) matches brk");
}

static void test_anon(void)
{
    size_t len = 4 * PAGE;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    check(p != MAP_FAILED, "mmap anonymous");
    if (p == MAP_FAILED) {
        return;
    }
    check(all_zero(p, len), "mmap anonymous is zeroed");
    fill(p, len, 7);
    check(verify(p, len, 7), "mmap anonymous read back");

    check(mprotect(p, len, PROT_READ) == 0, "mprotect PROT_READ");
    check(verify(p, len, 7), "read after mprotect PROT_READ");
    check(mprotect(p, len, PROT_READ | PROT_WRITE) == 0,
          "mprotect PROT_READ|PROT_WRITE");
    fill(p, len, 8);
    check(verify(p, len, 8), "write after mprotect back");

    /* Grow with MREMAP_MAYMOVE; the old contents must follow. */
    {
        size_t newlen = 64 * PAGE;
        unsigned char *q = mremap(p, len, newlen, MREMAP_MAYMOVE);

        check(q != MAP_FAILED, "mremap grow MREMAP_MAYMOVE");
        if (q == MAP_FAILED) {
            munmap(p, len);
            return;
        }
        check(verify(q, len, 8), "mremap keeps contents");
        check(all_zero(q + len, newlen - len), "mremap new part zeroed");
        memset(q + len, 0xab, newlen - len);
        check(q[newlen - 1] == 0xab, "mremap new part writable");

        /* Shrink in place. */
        p = mremap(q, newlen, 2 * PAGE, 0);
        check(p == q && verify(p, 2 * PAGE, 8), "mremap shrink");
        check(munmap(p, 2 * PAGE) == 0, "munmap");
    }
}

static void test_munmap_middle(void)
{
    unsigned char *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    check(p != MAP_FAILED, "mmap 3 pages");
    if (p == MAP_FAILED) {
        return;
    }
    memset(p, 0x11, PAGE);
    memset(p + PAGE, 0x22, PAGE);
    memset(p + 2 * PAGE, 0x33, PAGE);
    check(munmap(p + PAGE, PAGE) == 0, "munmap middle page");
    check(p[0] == 0x11 && p[PAGE - 1] == 0x11, "first page still mapped");
    check(p[2 * PAGE] == 0x33 && p[3 * PAGE - 1] == 0x33,
          "third page still mapped");
    p[0] = 0x44;
    p[2 * PAGE] = 0x55;
    check(p[0] == 0x44 && p[2 * PAGE] == 0x55, "outer pages writable");
    check(munmap(p, PAGE) == 0 && munmap(p + 2 * PAGE, PAGE) == 0,
          "munmap outer pages");
}

static int read_file_at(int fd, unsigned char *buf, size_t len, off_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static void test_file_maps(const char *dir)
{
    size_t len = 2 * PAGE;
    size_t plen = strlen(dir) + 32;
    char *path = malloc(plen);
    unsigned char *buf = malloc(len);
    unsigned char *p;
    int fd;

    if (path == NULL || buf == NULL) {
        check(0, "allocate buffers");
        return;
    }
    snprintf(path, plen, "%s/memory-map.bin", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    check(fd >= 0, "create mapped file");
    if (fd < 0) {
        free(path);
        free(buf);
        return;
    }
    fill(buf, len, 3);
    check(write(fd, buf, len) == (ssize_t)len, "write mapped file");

    /* Private mapping: copy-on-write, the file stays unchanged. */
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(p != MAP_FAILED, "mmap file MAP_PRIVATE");
    if (p != MAP_FAILED) {
        check(verify(p, len, 3), "MAP_PRIVATE sees file contents");
        memset(p, 0xee, 100);
        p[len - 1] = 0xee;
        check(p[0] == 0xee && p[len - 1] == 0xee, "MAP_PRIVATE write");
        check(read_file_at(fd, buf, len, 0) == 0 && verify(buf, len, 3),
              "MAP_PRIVATE write not visible in file");
        /* MADV_DONTNEED drops the private copy: the pages read the
         * file's current bytes again (a later pwrite included). */
        check(pwrite(fd, "new", 3, PAGE + 5) == 3, "pwrite after MAP_PRIVATE");
        check(madvise(p, len, MADV_DONTNEED) == 0,
              "madvise MADV_DONTNEED on MAP_PRIVATE file");
        check(verify(p, PAGE, 3) && memcmp(p + PAGE + 5, "new", 3) == 0 &&
                  p[len - 1] == pat(len - 1, 3),
              "MADV_DONTNEED on MAP_PRIVATE file reads the file again");
        /* Still a copy of the file after mremap moves it. */
        size_t mapped = len;
        p[0] = 0xee;
        unsigned char *moved = mremap(p, len, 4 * len, MREMAP_MAYMOVE);
        check(moved != MAP_FAILED, "mremap MAP_PRIVATE file");
        if (moved != MAP_FAILED) {
            p = moved;
            mapped = 4 * len;
            check(p[0] == 0xee, "mremap keeps the private copy");
            check(madvise(p, PAGE, MADV_DONTNEED) == 0 && p[0] == pat(0, 3),
                  "MADV_DONTNEED after mremap reads the file again");
        }
        check(munmap(p, mapped) == 0, "munmap MAP_PRIVATE");
        check(pwrite(fd, buf, len, 0) == (ssize_t)len, "restore mapped file");
    }

    /* Shared mapping: stores reach the file. */
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(p != MAP_FAILED, "mmap file MAP_SHARED");
    if (p != MAP_FAILED) {
        check(verify(p, len, 3), "MAP_SHARED sees file contents");
        fill(p, len, 9);
        check(msync(p, len, MS_SYNC) == 0, "msync");
        check(read_file_at(fd, buf, len, 0) == 0 && verify(buf, len, 9),
              "MAP_SHARED write visible via read");
        /* And the other way round: a write() shows up in the mapping. */
        check(pwrite(fd, "XYZ", 3, 10) == 3 && memcmp(p + 10, "XYZ", 3) == 0,
              "pwrite visible in MAP_SHARED mapping");
        check(munmap(p, len) == 0, "munmap MAP_SHARED");
    }

    close(fd);
    check(unlink(path) == 0, "unlink mapped file");
    free(path);
    free(buf);
}

static void test_madvise(void)
{
    size_t len = 8 * PAGE;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    check(p != MAP_FAILED, "mmap for madvise");
    if (p == MAP_FAILED) {
        return;
    }
    memset(p, 0x77, len);
    check(madvise(p + 2 * PAGE, 4 * PAGE, MADV_DONTNEED) == 0,
          "madvise MADV_DONTNEED");
    check(all_zero(p + 2 * PAGE, 4 * PAGE), "MADV_DONTNEED range reads zeros");
    check(p[0] == 0x77 && p[2 * PAGE - 1] == 0x77 && p[6 * PAGE] == 0x77 &&
          p[len - 1] == 0x77, "pages outside MADV_DONTNEED range kept");
    check(munmap(p, len) == 0, "munmap madvise area");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: memory DIR\n");
        return 2;
    }
    if (sysconf(_SC_PAGESIZE) != (long)PAGE) {
        printf("FAIL page size is not 4096\n");
        return 1;
    }
    test_malloc();
    test_brk();
    test_anon();
    test_munmap_middle();
    test_file_maps(argv[1]);
    test_madvise();
    printf("%s\n", failures ? "memory: FAILED" : "memory: all ok");
    return failures ? 1 : 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File-system and file-descriptor checks inside a scratch directory:
 *
 *   files DIR
 *
 * Every check prints one line ("ok ..." or "FAIL ..."). Only values that
 * do not depend on the environment are printed (no fd numbers, inodes,
 * addresses or full paths). Exit status 0 when all checks pass, 1 otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures;

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "0";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EPERM: return "EPERM";
    default: return "other";
    }
}

/* Print "ok <msg>" or "FAIL <msg> (errno=...)"; errno is sampled first. */
static int check(int cond, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    printf("%s ", cond ? "ok" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!cond) {
        printf(" (errno=%s %d)", errno_name(saved), saved);
        failures++;
    }
    printf("\n");
    fflush(stdout);
    errno = saved;
    return cond;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -1;
    }
    return close(fd);
}

/* List DIR (without "." and ".."), sorted, comma separated, into out. */
static int list_dir(const char *dir, char *out, size_t outlen)
{
    char *names[64];
    size_t count = 0;
    struct dirent *de;
    DIR *d = opendir(dir);

    out[0] = '\0';
    if (d == NULL) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (count < sizeof(names) / sizeof(names[0])) {
            names[count++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, count, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            strncat(out, ",", outlen - strlen(out) - 1);
        }
        strncat(out, names[i], outlen - strlen(out) - 1);
        free(names[i]);
    }
    return (int)count;
}

int main(int argc, char **argv)
{
    char buf[64], buf2[64];
    char list[256];
    struct stat st;
    struct iovec iov[2];
    ssize_t n;
    off_t off;
    int fd, fd2, fd3, flags, rc, pfd[2];

    if (argc < 2) {
        fprintf(stderr, "usage: files DIR\n");
        return 2;
    }

    char *sub = join(argv[1], "sub");
    char *file = join(sub, "file");
    char *file2 = join(sub, "file2");
    char *extra_a = join(sub, "a");
    char *extra_b = join(sub, "b");
    char *nested = join(sub, "nested");
    char *link = join(sub, "link");
    char *missing = join(sub, "missing");

    /* Directory and exclusive creation. */
    rc = mkdir(sub, 0755);
    check(rc == 0, "mkdir");
    rc = mkdir(sub, 0755);
    check(rc == -1 && errno == EEXIST, "mkdir again -> EEXIST");
    fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    check(fd >= 0, "open O_CREAT|O_EXCL");
    fd2 = open(file, O_RDWR | O_CREAT | O_EXCL, 0644);
    check(fd2 == -1 && errno == EEXIST, "open O_EXCL again -> EEXIST");

    /* Plain and positional I/O. */
    n = write(fd, "hello world", 11);
    check(n == 11, "write %zd", n);
    n = pwrite(fd, "HELLO", 5, 0);
    check(n == 5, "pwrite %zd", n);
    off = lseek(fd, 0, SEEK_CUR);
    check(off == 11, "lseek cur %lld (pwrite keeps offset)", (long long)off);
    off = lseek(fd, 0, SEEK_END);
    check(off == 11, "lseek end %lld", (long long)off);
    off = lseek(fd, 0, SEEK_SET);
    check(off == 0, "lseek set %lld", (long long)off);
    memset(buf, 0, sizeof(buf));
    n = read(fd, buf, sizeof(buf));
    check(n == 11 && memcmp(buf, "HELLO world", 11) == 0,
          "read %zd \"%.11s\"", n, buf);
    n = read(fd, buf, sizeof(buf));
    check(n == 0, "read at eof %zd", n);
    memset(buf, 0, sizeof(buf));
    n = pread(fd, buf, 5, 6);
    check(n == 5 && memcmp(buf, "world", 5) == 0, "pread %zd \"%.5s\"", n, buf);

    /* Vectored I/O. */
    iov[0].iov_base = "abc";
    iov[0].iov_len = 3;
    iov[1].iov_base = "defg";
    iov[1].iov_len = 4;
    n = writev(fd, iov, 2);
    check(n == 7, "writev %zd", n);
    lseek(fd, 0, SEEK_SET);
    memset(buf, 0, sizeof(buf));
    memset(buf2, 0, sizeof(buf2));
    iov[0].iov_base = buf;
    iov[0].iov_len = 5;
    iov[1].iov_base = buf2;
    iov[1].iov_len = 20;
    n = readv(fd, iov, 2);
    check(n == 18 && memcmp(buf, "HELLO", 5) == 0 &&
          memcmp(buf2, " worldabcdefg", 13) == 0,
          "readv %zd \"%.5s|%.13s\"", n, buf, buf2);

    /* Metadata. */
    rc = fstat(fd, &st);
    check(rc == 0 && st.st_size == 18 && S_ISREG(st.st_mode),
          "fstat size %lld", (long long)st.st_size);
    rc = stat(file, &st);
    check(rc == 0 && st.st_size == 18, "stat size %lld", (long long)st.st_size);
    rc = stat(sub, &st);
    check(rc == 0 && S_ISDIR(st.st_mode), "stat dir");
    rc = ftruncate(fd, 16);
    check(rc == 0, "ftruncate 16");
    rc = fstat(fd, &st);
    check(rc == 0 && st.st_size == 16, "fstat after ftruncate size %lld",
          (long long)st.st_size);

    /* fcntl. */
    flags = fcntl(fd, F_GETFL);
    check(flags >= 0 && (flags & O_ACCMODE) == O_RDWR, "fcntl F_GETFL O_RDWR");
    rc = fcntl(fd, F_SETFD, 0);
    flags = fcntl(fd, F_GETFD);
    check(rc == 0 && flags == 0, "fcntl F_SETFD 0");
    rc = fcntl(fd, F_SETFD, FD_CLOEXEC);
    flags = fcntl(fd, F_GETFD);
    check(rc == 0 && flags == FD_CLOEXEC, "fcntl F_SETFD FD_CLOEXEC");

    /* Descriptor duplication: duplicates share the file offset. */
    fd2 = dup(fd);
    check(fd2 >= 0 && fd2 != fd, "dup");
    flags = fcntl(fd2, F_GETFD);
    check(flags == 0, "dup clears FD_CLOEXEC");
    lseek(fd, 6, SEEK_SET);
    memset(buf, 0, sizeof(buf));
    n = read(fd2, buf, 5);
    check(n == 5 && memcmp(buf, "world", 5) == 0, "dup shares offset \"%.5s\"",
          buf);
    rc = dup2(fd, 100);
    check(rc == 100, "dup2 %d", rc);
    off = lseek(100, 0, SEEK_CUR);
    check(off == 11, "dup2 offset %lld", (long long)off);
    fd3 = dup3(fd, 101, O_CLOEXEC);
    flags = fcntl(101, F_GETFD);
    check(fd3 == 101 && flags == FD_CLOEXEC, "dup3 %d O_CLOEXEC", fd3);
    rc = dup3(fd, fd, 0);
    check(rc == -1 && errno == EINVAL, "dup3 same fd -> EINVAL");
    check(close(100) == 0 && close(101) == 0 && close(fd2) == 0, "close dups");
    rc = close(100);
    check(rc == -1 && errno == EBADF, "close again -> EBADF");

    /* Pipes. */
    rc = pipe2(pfd, O_CLOEXEC);
    check(rc == 0, "pipe2");
    flags = fcntl(pfd[0], F_GETFD);
    check(flags == FD_CLOEXEC, "pipe2 O_CLOEXEC");
    n = write(pfd[1], "ping", 4);
    memset(buf, 0, sizeof(buf));
    n = (n == 4) ? read(pfd[0], buf, sizeof(buf)) : -1;
    check(n == 4 && memcmp(buf, "ping", 4) == 0, "pipe2 round trip %zd", n);
    close(pfd[1]);
    n = read(pfd[0], buf, sizeof(buf));
    check(n == 0, "pipe eof after close %zd", n);
    close(pfd[0]);

    /* Directory listing. */
    check(touch(extra_b) == 0 && touch(extra_a) == 0, "create a b");
    rc = mkdir(nested, 0700);
    check(rc == 0, "mkdir nested");
    rc = list_dir(sub, list, sizeof(list));
    check(rc == 4 && strcmp(list, "a,b,file,nested") == 0, "readdir %s", list);

    /* Rename. */
    rc = rename(file, file2);
    check(rc == 0, "rename");
    rc = stat(file, &st);
    check(rc == -1 && errno == ENOENT, "stat old name -> ENOENT");
    rc = stat(file2, &st);
    check(rc == 0 && st.st_size == 16, "stat new name size %lld",
          (long long)st.st_size);

    /* Access checks. */
    rc = access(file2, F_OK);
    check(rc == 0, "access F_OK");
    rc = access(file2, R_OK | W_OK);
    check(rc == 0, "access R_OK|W_OK");
    rc = access(missing, F_OK);
    check(rc == -1 && errno == ENOENT, "access missing -> ENOENT");
    {
        int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        check(dfd >= 0, "open O_DIRECTORY");
        rc = faccessat(dfd, "file2", R_OK, 0);
        check(rc == 0, "faccessat R_OK");
        rc = faccessat(dfd, "missing", R_OK, 0);
        check(rc == -1 && errno == ENOENT, "faccessat missing -> ENOENT");
        rc = openat(dfd, "file2", O_RDONLY | O_CLOEXEC);
        check(rc >= 0, "openat");
        if (rc >= 0) {
            close(rc);
        }
        close(dfd);
    }

    /* Working directory. */
    {
        int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char cwd[4096];
        int ok;

        rc = chdir(nested);
        check(rc == 0, "chdir");
        memset(cwd, 0, sizeof(cwd));
        ok = getcwd(cwd, sizeof(cwd)) != NULL;
        check(ok && strcmp(base_name(cwd), "nested") == 0,
              "getcwd %s", base_name(cwd));
        rc = chdir("..");
        ok = rc == 0 && getcwd(cwd, sizeof(cwd)) != NULL;
        check(ok && strcmp(base_name(cwd), "sub") == 0,
              "chdir .. getcwd %s", base_name(cwd));
        rc = stat("file2", &st);
        check(rc == 0, "stat relative to cwd");
        rc = fchdir(here);
        check(here >= 0 && rc == 0, "fchdir back");
        close(here);
    }

    /* Symbolic links. */
    rc = symlink("file2", link);
    check(rc == 0, "symlink");
    memset(buf, 0, sizeof(buf));
    n = readlink(link, buf, sizeof(buf) - 1);
    check(n == 5 && strcmp(buf, "file2") == 0, "readlink %zd %s", n, buf);
    rc = lstat(link, &st);
    check(rc == 0 && S_ISLNK(st.st_mode), "lstat is link");
    rc = stat(link, &st);
    check(rc == 0 && S_ISREG(st.st_mode) && st.st_size == 16,
          "stat through link size %lld", (long long)st.st_size);

    /* Error paths. */
    fd2 = open(missing, O_RDONLY);
    check(fd2 == -1 && errno == ENOENT, "open missing: %s", strerror(errno));
    n = write(9999, "x", 1);
    check(n == -1 && errno == EBADF, "write bad fd: %s", strerror(errno));
    lseek(fd, 0, SEEK_SET);
    n = read(fd, NULL, 16);
    if (n == -1 && errno == EFAULT) {
        check(1, "read(NULL) -> EFAULT");
    } else {
        check(0, "read(NULL) -> %zd", n);
    }
    rc = rmdir(sub);
    check(rc == -1 && (errno == ENOTEMPTY || errno == EEXIST),
          "rmdir non-empty fails");
    close(fd);

    /* Cleanup. */
    rc = unlink(link) | unlink(file2) | unlink(extra_a) | unlink(extra_b);
    check(rc == 0, "unlink");
    rc = rmdir(nested) | rmdir(sub);
    check(rc == 0, "rmdir");
    rc = stat(sub, &st);
    check(rc == -1 && errno == ENOENT, "directory gone");

    printf("%s\n", failures ? "files: FAILED" : "files: all ok");
    return failures ? 1 : 0;
}

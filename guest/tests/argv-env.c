/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Print the command line, two environment variables and a few sanity
 * checks on the auxiliary vector.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void print_env(const char *name)
{
    const char *value = getenv(name);
    printf("%s=%s\n", name, value ? value : "(unset)");
}

int main(int argc, char **argv)
{
    const char *execfn;
    int ok = 1;

    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) {
        printf("argv[%d]=%s\n", i, argv[i]);
    }
    print_env("HT_TEST_A");
    print_env("HT_TEST_B");

    if (getauxval(AT_PAGESZ) != 4096) {
        printf("auxv bad AT_PAGESZ\n");
        ok = 0;
    }
    if (getauxval(AT_RANDOM) == 0) {
        printf("auxv bad AT_RANDOM\n");
        ok = 0;
    }
    execfn = (const char *)getauxval(AT_EXECFN);
    if (execfn == NULL) {
        printf("auxv bad AT_EXECFN\n");
        ok = 0;
    } else if (argc < 1 ||
               strcmp(base_name(execfn), base_name(argv[0])) != 0) {
        printf("auxv bad AT_EXECFN basename\n");
        ok = 0;
    }
    if (ok) {
        printf("auxv ok\n");
    }
    return 0;
}

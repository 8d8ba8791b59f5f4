/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Terminate in a chosen way:
 *   exit-code [N]     exit with status N (default 0)
 *   exit-code abort   call abort()
 *   exit-code segv    store through a NULL pointer
 */
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 0;
    }
    if (strcmp(argv[1], "abort") == 0) {
        abort();
    }
    if (strcmp(argv[1], "segv") == 0) {
        volatile int *p = NULL;
        *p = 1;
        return 2;
    }
    exit(atoi(argv[1]));
}

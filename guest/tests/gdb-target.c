/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A program for debugger sessions (ht-user -g): known values at known
 * lines. `gdb-target crash` dies of SIGSEGV in crash(); `gdb-target spin`
 * loops until it is interrupted; `gdb-target fork` calls square() only in
 * a forked child and prints the child's exit status.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int progress;

static int square(int x)
{
    progress++;
    return x * x;
}

static void crash(volatile int *where)
{
    *where = progress;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "crash") == 0)
        crash(NULL);
    if (argc > 1 && strcmp(argv[1], "spin") == 0)
        for (;;)
            progress++;
    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        pid_t child = fork();
        if (child == 0)
            _exit(square(5) == 25 ? 7 : 1);
        int status = 0;
        waitpid(child, &status, 0);
        printf("child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    int total = 0;
    int counter = 41 + argc;
    for (int i = 0; i < 4; i++)
        total += square(i);
    printf("total %d counter %d\n", total, counter);
    return total == 14 ? 3 : 1;
}

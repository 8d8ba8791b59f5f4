/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cost of a signal round trip: N times raise(SIGUSR1) to a handler
 * that counts, and return through sigreturn.
 *
 *   signal-bench N      prints "N signals handled"
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static volatile long handled;

static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return 1;
    for (long i = 0; i < n; i++)
        raise(SIGUSR1);
    printf("%ld signals handled\n", (long)handled);
    return handled == n ? 0 : 1;
}

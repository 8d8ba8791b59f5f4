/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfork and posix_spawn (built with glibc, whose posix_spawn is a
 * clone(CLONE_VM | CLONE_VFORK) whose child reports a failed exec in the
 * parent's memory).
 *
 *   spawn            every check below, one line each
 *   spawn child N    (executed by the checks) exits N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void report(const char *what, int status)
{
    if (WIFEXITED(status))
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: killed by signal %d\n", what, WTERMSIG(status));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2 && strcmp(argv[1], "child") == 0)
        return atoi(argv[2]);

    pid_t pid;
    int status;
    char *missing[] = {"/nonexistent/program", NULL};
    int rc = posix_spawn(&pid, missing[0], NULL, NULL, missing, environ);
    printf("posix_spawn of a missing program: %s\n", rc ? strerror(rc) : "success");

    char *self[] = {argv[0], "child", "5", NULL};
    rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, self, environ);
    printf("posix_spawn of itself: %s\n", rc ? strerror(rc) : "success");
    if (rc == 0) {
        waitpid(pid, &status, 0);
        report("spawned child", status);
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/nonexistent/dir/out", O_WRONLY | O_CREAT, 0644);
    rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, self, environ);
    printf("posix_spawn with a failing file action: %s\n", rc ? strerror(rc) : "success");
    posix_spawn_file_actions_destroy(&fa);

    volatile int shared = 1;
    pid = vfork();
    if (pid == 0) {
        shared = 2;
        _exit(3);
    }
    waitpid(pid, &status, 0);
    printf("vfork child wrote the parent's variable: %d\n", shared);
    report("vfork child", status);

    pid = vfork();
    if (pid == 0) {
        execv("/nonexistent/program", missing);
        shared = errno;
        _exit(127);
    }
    waitpid(pid, &status, 0);
    printf("vfork child's failed exec: %s\n", strerror(shared));
    report("vfork child after the failed exec", status);
    return 0;
}

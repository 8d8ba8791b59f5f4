/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Processes: fork, vfork, execve, pipes, wait4/waitid.
 *
 *   fork-exec                 every check below, one line each
 *   fork-exec child WORDS...  (executed by the checks) echo WORDS, exit 4
 *   fork-exec exec PATH ARGS  execve PATH with ARGS (argv[0] = PATH)
 *   fork-exec sigexec PATH ARGS  the same with SIGPIPE ignored and SIGUSR1
 *                             blocked
 *   fork-exec sigcheck        which of them are (what execve kept)
 *   fork-exec trace BASE      events 1 and 3 in this process, 2 in a
 *                             forked child, 4 in a program the child
 *                             executes (fork-exec trace-child BASE)
 *   fork-exec nproc N         RLIMIT_NPROC N, then fork up to 40 children
 *                             that wait on a pipe: how far it gets
 *
 * The output never contains a pid, so it can be compared with qemu-user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <qemu-hypertrace.h>

extern char **environ;

static const char *self;
static int global = 1;

static const char *err_name(int e)
{
    switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case ENOEXEC: return "ENOEXEC";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case EFAULT: return "EFAULT";
    default: return "other";
    }
}

static void status_line(const char *what, int st)
{
    if (WIFEXITED(st)) {
        printf("%s: exited %d\n", what, WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        printf("%s: killed by signal %d (%s)\n", what, WTERMSIG(st),
               WTERMSIG(st) == SIGTERM ? "SIGTERM" : "?");
    } else {
        printf("%s: status %#x\n", what, st);
    }
}

static void check_pipe_and_cow(void)
{
    int fds[2];
    char buf[64];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        global = 42;
        close(fds[0]);
        const char msg[] = "hello through the pipe";
        write(fds[1], msg, sizeof msg);
        _exit(global == 42 ? 7 : 1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], buf, sizeof buf);
    printf("parent read %zd bytes: %s\n", n, n > 0 ? buf : "");
    n = read(fds[0], buf, sizeof buf);
    printf("then end of pipe: %zd\n", n);
    close(fds[0]);
    int st;
    pid_t w = waitpid(pid, &st, 0);
    printf("waitpid returned the child: %s\n", w == pid ? "yes" : "no");
    status_line("child", st);
    printf("parent's global after the child changed its copy: %d\n", global);
}

static void check_shared_memory(void)
{
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || private == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    *shared = 1;
    *private = 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        *shared = 2;
        *private = 2;
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("shared mapping after the child wrote: %d, private: %d\n",
           *shared, *private);
}

static void check_signal_and_vfork(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        kill(getpid(), SIGTERM);
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    status_line("child that sent itself SIGTERM", st);

    pid = vfork();
    if (pid == 0) {
        _exit(3);
    }
    waitpid(pid, &st, 0);
    status_line("vfork child", st);

    siginfo_t si;
    memset(&si, 0, sizeof si);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        _exit(9);
    }
    int rc = waitid(P_PID, pid, &si, WEXITED);
    printf("waitid: %d, signo SIGCHLD: %s, code CLD_EXITED: %s, pid: %s, status %d\n",
           rc, si.si_signo == SIGCHLD ? "yes" : "no",
           si.si_code == CLD_EXITED ? "yes" : "no",
           si.si_pid == pid ? "yes" : "no", si.si_status);

    struct rusage ru;
    errno = 0;
    rc = wait4(-1, &st, WNOHANG, &ru);
    printf("wait4 without children: %d %s\n", rc, err_name(errno));

    /* Children of a process that ignores SIGCHLD are reaped at once. */
    signal(SIGCHLD, SIG_IGN);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        _exit(0);
    }
    errno = 0;
    rc = waitpid(pid, &st, 0);
    printf("waitpid with SIGCHLD ignored: %d %s\n", rc, err_name(errno));
    signal(SIGCHLD, SIG_DFL);
}

static void check_exec(void)
{
    int fds[2];
    char buf[256];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* The executed program's stdout is the pipe; fds[0] must not
         * survive the exec (close-on-exec). */
        dup2(fds[1], 1);
        close(fds[1]);
        fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        char *argv[] = {"fork-exec", "child", "one", "two words", NULL};
        char *envp[] = {"HT_TEST_A=from-execve", NULL};
        execve(self, argv, envp);
        _exit(99);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) {
        got += n;
    }
    buf[got] = 0;
    close(fds[0]);
    printf("executed child wrote: %s", buf);
    int st;
    waitpid(pid, &st, 0);
    status_line("executed child", st);

    const char *bad[] = {"/nonexistent/program", "/dev/null", "/"};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {(char *)bad[i], NULL};
        errno = 0;
        int rc = execve(bad[i], argv, environ);
        printf("execve %s: %d %s\n", bad[i], rc, err_name(errno));
    }
    const char *volatile bad_pointer = (const char *)8;
    errno = 0;
    char *no_args[] = {NULL};
    int rc = execve(bad_pointer, no_args, no_args);
    printf("execve of a bad pointer: %d %s\n", rc, err_name(errno));
}

/* What execve kept: ignored signals and the signal mask. */
static int sigcheck_main(void)
{
    struct sigaction sa;
    sigset_t mask;
    sigaction(SIGPIPE, NULL, &sa);
    printf("SIGPIPE ignored: %s", sa.sa_handler == SIG_IGN ? "yes" : "no");
    sigaction(SIGTERM, NULL, &sa);
    printf(", SIGTERM ignored: %s", sa.sa_handler == SIG_IGN ? "yes" : "no");
    sigprocmask(SIG_BLOCK, NULL, &mask);
    printf(", SIGUSR1 blocked: %s", sigismember(&mask, SIGUSR1) ? "yes" : "no");
    printf(", SIGUSR2 blocked: %s\n", sigismember(&mask, SIGUSR2) ? "yes" : "no");
    return 0;
}

static int child_main(int argc, char **argv)
{
    printf("argc=%d", argc);
    for (int i = 2; i < argc; i++) {
        printf(" [%s]", argv[i]);
    }
    const char *a = getenv("HT_TEST_A");
    printf(" HT_TEST_A=%s", a ? a : "(unset)");
    /* fd 3 was the read end of the pipe, closed on exec. */
    printf(" fd3 %s\n", fcntl(3, F_GETFD) == -1 ? "closed" : "open");
    return 4;
}

static int trace_main(const char *base, int child)
{
    if (qemu_hypertrace_init(base) != 0) {
        perror("qemu_hypertrace_init");
        return 1;
    }
    uint64_t *data = qemu_hypertrace_data(0);
    if (child) {
        data[0] = 4;
        qemu_hypertrace(0, 4);
        printf("executed child traced\n");
        return 0;
    }
    data[0] = 1;
    qemu_hypertrace(0, 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        data[0] = 2;
        qemu_hypertrace(0, 2);
        char *argv[] = {"fork-exec", "trace-child", (char *)base, NULL};
        execve(self, argv, environ);
        _exit(99);
    }
    int st;
    waitpid(pid, &st, 0);
    status_line("traced child", st);
    data[0] = 3;
    qemu_hypertrace(0, 3);
    return 0;
}

static int nproc_main(long limit)
{
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_NPROC, &rl) != 0) {
        perror("setrlimit");
        return 1;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    int forked = 0, err = 0;
    fflush(stdout);
    for (int i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            err = errno;
            break;
        }
        if (pid == 0) {
            char c;
            close(fds[1]);
            read(fds[0], &c, 1);
            _exit(0);
        }
        forked++;
    }
    close(fds[1]);
    int reaped = 0, st;
    while (wait(&st) > 0) {
        reaped++;
    }
    printf("forked %d, then %s; reaped %d\n", forked,
           err ? err_name(err) : "no error", reaped);
    return 0;
}

int main(int argc, char **argv)
{
    self = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        return child_main(argc, argv);
    }
    if (argc > 1 && strcmp(argv[1], "sigcheck") == 0) {
        return sigcheck_main();
    }
    if (argc > 2 && strcmp(argv[1], "sigexec") == 0) {
        /* Ignore SIGPIPE, block SIGUSR1, then execute argv[2]. */
        sigset_t mask;
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR1);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        execve(argv[2], argv + 2, environ);
        printf("execve %s: %s\n", argv[2], err_name(errno));
        return 1;
    }
    if (argc > 2 && strcmp(argv[1], "exec") == 0) {
        execve(argv[2], argv + 2, environ);
        printf("execve %s: %s\n", argv[2], err_name(errno));
        return 1;
    }
    if (argc > 2 && strcmp(argv[1], "trace") == 0) {
        return trace_main(argv[2], 0);
    }
    if (argc > 2 && strcmp(argv[1], "trace-child") == 0) {
        return trace_main(argv[2], 1);
    }
    if (argc > 2 && strcmp(argv[1], "nproc") == 0) {
        return nproc_main(atol(argv[2]));
    }
    check_pipe_and_cow();
    check_shared_memory();
    check_signal_and_vfork();
    check_exec();
    return 0;
}

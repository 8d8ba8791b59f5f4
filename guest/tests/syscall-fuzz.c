/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Random system calls from a guest: numbers and arguments drawn from a
 * seeded generator, to check that the emulator answers whatever a guest
 * passes without crashing, hanging or panicking.
 *
 *   syscall-fuzz SEED COUNT
 *
 * Calls that would end or replace the process, signal other processes,
 * change this process's signal handling or timer, tear down its own
 * code, stack or TLS, or create or touch System V IPC objects (the
 * host's, which outlive the process) are skipped (counted as skipped). Path arguments point
 * into a scratch buffer of random bytes without '/' or '.', so any file a
 * call creates or changes is a single name in the working directory (run
 * it in a scratch directory). Standard descriptors that are not pipes or
 * sockets (a terminal, /dev/null, a log file) are first replaced by a
 * scratch file: random fchmod, fchown or ftruncate calls on them would
 * change the host's files (run as root, /dev/null's mode and owner). A timer interrupts a call that blocks. A
 * call may still hurt the program itself (write over its own data): the
 * guest then dies of a signal, which is a guest's outcome, not a failure.
 * Prints "COUNT calls: N made, M skipped" at the end (to fd 1, which the
 * calls may have closed: the exit status 0 is what counts).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

/* Puts a scratch file in the working directory in place of every standard
 * descriptor that is not a pipe or a socket. */
static void shield_standard_descriptors(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
            continue;
        }
        int scratch = open("fuzz-standard-descriptor", O_RDWR | O_CREAT, 0600);
        if (scratch < 0 || dup2(scratch, fd) < 0) {
            perror("syscall-fuzz: scratch descriptor");
            exit(2);
        }
        if (scratch > 2) {
            close(scratch);
        }
    }
}

static uint64_t state;

static uint64_t next(void)
{
    /* xorshift64* */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545f4914f6cdd1dull;
}

static int skipped_nr(long nr)
{
    static const long skip[] = {
        SYS_exit, SYS_exit_group, SYS_kill, SYS_tkill, SYS_tgkill,
        SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo, SYS_clone, SYS_execve,
        SYS_rt_sigreturn, SYS_rt_sigaction, SYS_rt_sigprocmask,
        SYS_rt_sigsuspend, SYS_setitimer, SYS_munmap, SYS_mprotect,
        SYS_mremap, SYS_brk, SYS_madvise, SYS_prlimit64, SYS_set_tid_address,
        SYS_set_robust_list, SYS_ptrace, SYS_setrlimit,
#ifdef SYS_getrlimit
        SYS_getrlimit,
#endif
#ifdef SYS_clone3
        SYS_clone3,
#endif
#ifdef SYS_execveat
        SYS_execveat,
#endif
#ifdef SYS_fork
        SYS_fork,
#endif
#ifdef SYS_vfork
        SYS_vfork,
#endif
#ifdef SYS_alarm
        SYS_alarm,
#endif
#ifdef SYS_pause
        SYS_pause,
#endif
#ifdef SYS_sigreturn
        SYS_sigreturn,
#endif
#ifdef SYS_sigaction
        SYS_sigaction,
#endif
#ifdef SYS_sigprocmask
        SYS_sigprocmask,
#endif
#ifdef SYS_sigsuspend
        SYS_sigsuspend,
#endif
#ifdef SYS_signal
        SYS_signal,
#endif
#ifdef SYS_arch_prctl
        SYS_arch_prctl,
#endif
#ifdef SYS_set_thread_area
        SYS_set_thread_area,
#endif
#ifdef SYS_rseq
        SYS_rseq,
#endif
#ifdef SYS_kexec_load
        SYS_kexec_load,
#endif
#ifdef SYS_reboot
        SYS_reboot,
#endif
#ifdef SYS_munmap
        SYS_munmap,
#endif
#ifdef SYS_ugetrlimit
        SYS_ugetrlimit,
#endif
#ifdef SYS_timer_create
        SYS_timer_create,
#endif
#ifdef SYS_timer_settime
        SYS_timer_settime,
#endif
#ifdef SYS_sigaltstack
        SYS_sigaltstack,
#endif
#ifdef SYS_prctl
        SYS_prctl,
#endif
#ifdef SYS_unshare
        SYS_unshare,
#endif
#ifdef SYS_setns
        SYS_setns,
#endif
#ifdef SYS_pidfd_send_signal
        SYS_pidfd_send_signal,
#endif
#ifdef SYS_process_vm_writev
        SYS_process_vm_writev,
#endif
#ifdef SYS_mmap
        SYS_mmap,
#endif
#ifdef SYS_mmap2
        SYS_mmap2,
#endif
#ifdef SYS_shmget
        SYS_shmget,
#endif
#ifdef SYS_shmat
        SYS_shmat,
#endif
#ifdef SYS_shmdt
        SYS_shmdt,
#endif
#ifdef SYS_shmctl
        SYS_shmctl,
#endif
#ifdef SYS_semget
        SYS_semget,
#endif
#ifdef SYS_semop
        SYS_semop,
#endif
#ifdef SYS_semtimedop
        SYS_semtimedop,
#endif
#ifdef SYS_semtimedop_time64
        SYS_semtimedop_time64,
#endif
#ifdef SYS_semctl
        SYS_semctl,
#endif
#ifdef SYS_msgget
        SYS_msgget,
#endif
#ifdef SYS_msgsnd
        SYS_msgsnd,
#endif
#ifdef SYS_msgrcv
        SYS_msgrcv,
#endif
#ifdef SYS_msgctl
        SYS_msgctl,
#endif
#ifdef SYS_ipc
        SYS_ipc,
#endif
    };
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) {
        if (skip[i] == nr) {
            return 1;
        }
    }
    return 0;
}

/* Large, so that calls writing a random length into it rarely reach the
 * program's own data; only its start is refilled (and used for paths). */
static char scratch[1 << 20];
#define SCRATCH_PATHS 512

static long argument(void)
{
    switch (next() % 8) {
    case 0: return 0;
    case 1: return 1 + (long)(next() % 8); /* a small count or descriptor */
    case 2: return -1;
    case 3: return (long)next(); /* anything */
    case 4: return (long)(next() & 0xfff);
    case 5: /* a pointer into the scratch buffer */
        return (long)(scratch + next() % 256);
    case 6: return (long)(next() % 4096) * 4096; /* a page-aligned value */
    default: return (long)(next() & 0xffffffff);
    }
}

static void refill_scratch(void)
{
    for (size_t i = 0; i < SCRATCH_PATHS; i++) {
        char c = (char)next();
        scratch[i] = c == '/' || c == '.' ? 'x' : c;
    }
    scratch[0] = 'f';
    scratch[SCRATCH_PATHS - 1] = 0;
}

static void on_alarm(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: syscall-fuzz SEED COUNT\n");
        return 2;
    }
    shield_standard_descriptors();
    state = strtoull(argv[1], NULL, 0) * 0x9e3779b97f4a7c15ull | 1;
    long count = strtol(argv[2], NULL, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    /* A call that blocks is interrupted within 20 ms. */
    struct itimerval every = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &every, NULL);
    long made = 0, skipped = 0;
    for (long i = 0; i < count; i++) {
        long nr = (long)(next() % 460);
        long a[6];
        for (int k = 0; k < 6; k++) {
            a[k] = argument();
        }
        if (skipped_nr(nr)) {
            skipped++;
            continue;
        }
        refill_scratch();
        syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        made++;
    }
    char line[128];
    int n = snprintf(line, sizeof line, "%ld calls: %ld made, %ld skipped\n",
                     count, made, skipped);
    if (write(1, line, (size_t)n) < 0) {
        /* stdout may have been closed by one of the calls */
    }
    return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aarch64 pointer authentication as Linux gives it to a process: the
 * AT_HWCAP bits, pacia/autia, what a corrupted signed pointer turns into,
 * which processes and threads share keys, and prctl(PR_PAC_RESET_KEYS).
 * Built for aarch64 only (-march=armv8.3-a).
 *
 *   pauth              every check, one line each
 *   pauth generic      (executed by the checks) print pacga of a fixed
 *                      pointer and modifier, in hex
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_PAC_RESET_KEYS
#define PR_PAC_RESET_KEYS 54
#endif
#define PAC_APIAKEY (1UL << 0)
#define PAC_APIBKEY (1UL << 1)
#define PAC_APDAKEY (1UL << 2)
#define PAC_APDBKEY (1UL << 3)
#define PAC_APGAKEY (1UL << 4)

#define HWCAP_PACA_BIT (1UL << 30)
#define HWCAP_PACG_BIT (1UL << 31)

static uint64_t pacia(uint64_t ptr, uint64_t mod)
{
    __asm__ volatile("pacia %0, %1" : "+r"(ptr) : "r"(mod));
    return ptr;
}

static uint64_t autia(uint64_t ptr, uint64_t mod)
{
    __asm__ volatile("autia %0, %1" : "+r"(ptr) : "r"(mod));
    return ptr;
}

static uint64_t xpaci(uint64_t ptr)
{
    __asm__ volatile("xpaci %0" : "+r"(ptr));
    return ptr;
}

static uint64_t pacga(uint64_t ptr, uint64_t mod)
{
    uint64_t out;
    __asm__ volatile("pacga %0, %1, %2" : "=r"(out) : "r"(ptr), "r"(mod));
    return out;
}

/* A fixed user pointer and modifier for the generic key. */
#define GA_PTR 0x0000123456789abcUL
#define GA_MOD 0x42UL

static uint64_t generic(void)
{
    return pacga(GA_PTR, GA_MOD);
}

static void target(void)
{
    printf("unreachable: the poisoned pointer ran\n");
}

/* Runs `argv0 generic` and returns what it printed (0 on failure). */
static int exec_generic(const char *self, uint64_t *out)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return 0;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char *argv[] = {(char *)self, "generic", NULL};
        execv(self, argv);
        _exit(99);
    }
    close(fds[1]);
    char buf[64] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        return 0;
    }
    *out = strtoull(buf, NULL, 16);
    return 1;
}

static void *thread_generic(void *arg)
{
    *(uint64_t *)arg = generic();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "generic") == 0) {
        printf("%016llx\n", (unsigned long long)generic());
        return 0;
    }

    unsigned long hwcap = getauxval(AT_HWCAP);
    printf("hwcap paca %d pacg %d\n", !!(hwcap & HWCAP_PACA_BIT), !!(hwcap & HWCAP_PACG_BIT));
    if (!(hwcap & HWCAP_PACA_BIT)) {
        /* Without pointer authentication the pac instructions are NOPs
         * (or undefined): nothing more to check. */
        errno = 0;
        int rc = prctl(PR_PAC_RESET_KEYS, 0, 0, 0, 0);
        printf("PR_PAC_RESET_KEYS: %d %s\n", rc, rc ? strerror(errno) : "ok");
        return 0;
    }

    /* A signed pointer differs from the pointer (for most modifiers: the
     * code has 7 bits below the tag byte) and authenticates back to it. */
    uint64_t ptr = (uint64_t)(uintptr_t)&target;
    int changed = 0, round_trips = 0, stripped = 0;
    for (uint64_t mod = 0; mod < 16; mod++) {
        uint64_t signed_ptr = pacia(ptr, mod);
        changed += signed_ptr != ptr;
        round_trips += autia(signed_ptr, mod) == ptr;
        stripped += xpaci(signed_ptr) == ptr;
    }
    printf("pacia changed the pointer for some modifiers: %d\n", changed > 0);
    printf("autia round trips: %d of 16\n", round_trips);
    printf("xpaci strips the code: %d of 16\n", stripped);

    /* A wrong modifier or a corrupted code: autia gives a pointer with an
     * error code in bits 54..53 (no FEAT_FPAC), which faults when used. */
    uint64_t signed_ptr = pacia(ptr, 7);
    uint64_t bad = autia(signed_ptr ^ (1UL << 50), 7);
    uint64_t wrong_mod = autia(signed_ptr, 8);
    printf("corrupted code: pointer poisoned %d, xpaci gives it back %d\n", bad != ptr,
           xpaci(bad) == ptr);
    printf("wrong modifier: pointer poisoned %d\n", wrong_mod != ptr);
    printf("poisoned pointer error bits: %llx\n",
           (unsigned long long)((bad >> 53) & 3));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ((void (*)(void))(uintptr_t)bad)();
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
        printf("branch to the poisoned pointer: killed by %s\n", strsignal(WTERMSIG(st)));
    } else {
        printf("branch to the poisoned pointer: exited %d\n", WEXITSTATUS(st));
    }

    /* The generic key: the same after fork and in threads. */
    uint64_t mine = generic();
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        uint64_t v = generic();
        if (write(fds[1], &v, sizeof v) != sizeof v) {
            _exit(1);
        }
        _exit(0);
    }
    uint64_t childs = 0;
    if (read(fds[0], &childs, sizeof childs) != sizeof childs) {
        childs = ~mine;
    }
    waitpid(pid, &st, 0);
    printf("fork keeps the keys: %d\n", childs == mine);
    pthread_t t;
    uint64_t threads = ~mine;
    pthread_create(&t, NULL, thread_generic, &threads);
    pthread_join(t, NULL);
    printf("a thread has the same keys: %d\n", threads == mine);

    /* execve: new keys each time. */
    uint64_t first, second;
    if (exec_generic(argv[0], &first) && exec_generic(argv[0], &second)) {
        printf("exec: new keys: %d %d\n", first != mine, first != second);
    } else {
        printf("exec: cannot execute %s\n", argv[0]);
    }

    /* PR_PAC_RESET_KEYS: only the keys asked for change. */
    uint64_t ia_before = pacia(ptr, 3);
    errno = 0;
    int rc = prctl(PR_PAC_RESET_KEYS, PAC_APGAKEY, 0, 0, 0);
    printf("reset APGA: %d, generic code changed %d, APIA code kept %d\n", rc,
           generic() != mine, pacia(ptr, 3) == ia_before);
    mine = generic();
    int ia_changed = 0;
    for (int i = 0; i < 8 && !ia_changed; i++) {
        rc = prctl(PR_PAC_RESET_KEYS, PAC_APIAKEY, 0, 0, 0);
        ia_changed = pacia(ptr, 3) != ia_before;
    }
    printf("reset APIA: %d, APIA code changed %d, generic code kept %d\n", rc, ia_changed,
           generic() == mine);
    rc = prctl(PR_PAC_RESET_KEYS, 0, 0, 0, 0);
    printf("reset all: %d, generic code changed %d\n", rc, generic() != mine);
    errno = 0;
    rc = prctl(PR_PAC_RESET_KEYS, 1UL << 5, 0, 0, 0);
    printf("reset unknown key: %d %s\n", rc, strerror(errno));
    errno = 0;
    rc = prctl(PR_PAC_RESET_KEYS, PAC_APIAKEY, 1, 0, 0);
    printf("reset with arg3: %d %s\n", rc, strerror(errno));
    (void)PAC_APIBKEY;
    (void)PAC_APDAKEY;
    (void)PAC_APDBKEY;
    return 0;
}

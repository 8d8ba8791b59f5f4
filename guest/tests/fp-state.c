/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The floating-point control state a process starts with, the state a
 * signal handler sees, and the state restored after the handler returns.
 *
 * Linux starts x86 processes and signal handlers with the x87 control word
 * 0x037f (64-bit precision, exceptions masked), an empty x87 stack and
 * MXCSR 0x1f80; the other architectures start with all-zero control
 * registers (round to nearest, no traps). Output is the same under Linux,
 * qemu-user and ht-user.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char handler_state[128];

#if defined(__x86_64__) || defined(__i386__)
static void state(char *out, size_t size)
{
    uint16_t cw;
    uint32_t mxcsr;
    unsigned char env[28];
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    /* fnstenv masks all exceptions: reload the control word after it. */
    __asm__ volatile("fnstenv %0" : "=m"(env));
    __asm__ volatile("fldcw %0" : : "m"(cw));
    /* The status word is left out: its exception flags are the engine's
     * x87 exception emulation, which the conformance suite checks. */
    snprintf(out, size, "fcw=%04x ftw=%02x%02x env.fcw=%02x%02x mxcsr=%08x", cw,
             env[9], env[8], env[1], env[0], (unsigned)mxcsr);
}

static void change(void)
{
    uint16_t cw = 0x007f; /* single precision */
    uint32_t mxcsr = 0x7f80; /* round toward zero */
    __asm__ volatile("fldcw %0" : : "m"(cw));
    __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
}

static void restore(void)
{
    uint16_t cw = 0x037f;
    uint32_t mxcsr = 0x1f80;
    __asm__ volatile("fldcw %0" : : "m"(cw));
    __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
}
#elif defined(__aarch64__)
static uint64_t fpcr(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}

static void set_fpcr(uint64_t v)
{
    __asm__ volatile("msr fpcr, %0" : : "r"(v));
}

static void state(char *out, size_t size)
{
    uint64_t sr;
    __asm__ volatile("mrs %0, fpsr" : "=r"(sr));
    snprintf(out, size, "fpcr=%llx fpsr=%llx", (unsigned long long)fpcr(),
             (unsigned long long)sr);
}

static void change(void)
{
    set_fpcr(3u << 22); /* round toward zero */
}

static void restore(void)
{
    set_fpcr(0);
}
#elif defined(__arm__)
static void state(char *out, size_t size)
{
    uint32_t v;
    __asm__ volatile("vmrs %0, fpscr" : "=r"(v));
    snprintf(out, size, "fpscr=%x", (unsigned)v);
}

static void set_fpscr(uint32_t v)
{
    __asm__ volatile("vmsr fpscr, %0" : : "r"(v));
}

static void change(void)
{
    set_fpscr(3u << 22);
}

static void restore(void)
{
    set_fpscr(0);
}
#elif defined(__riscv)
static void state(char *out, size_t size)
{
    unsigned long v;
    __asm__ volatile("frcsr %0" : "=r"(v));
    snprintf(out, size, "fcsr=%lx", v);
}

static void change(void)
{
    __asm__ volatile("fsrm %0" : : "r"(1UL)); /* round toward zero */
}

static void restore(void)
{
    __asm__ volatile("fscsr %0" : : "r"(0UL));
}
#elif defined(__mips__)
static void state(char *out, size_t size)
{
    unsigned v;
    __asm__ volatile("cfc1 %0, $31" : "=r"(v));
    snprintf(out, size, "fcsr=%x", v);
}

static void set_fcsr(unsigned v)
{
    __asm__ volatile("ctc1 %0, $31" : : "r"(v));
}

static void change(void)
{
    set_fcsr(1); /* round toward zero */
}

static void restore(void)
{
    set_fcsr(0);
}
#elif defined(__powerpc64__)
static void state(char *out, size_t size)
{
    double f;
    uint64_t v;
    __asm__ volatile("mffs %0" : "=f"(f));
    memcpy(&v, &f, sizeof v);
    snprintf(out, size, "fpscr=%x", (unsigned)v);
}

static void change(void)
{
    __asm__ volatile("mtfsfi 7, 1"); /* round toward zero */
}

static void restore(void)
{
    __asm__ volatile("mtfsfi 7, 0");
}
#elif defined(__s390x__)
static void state(char *out, size_t size)
{
    unsigned v;
    __asm__ volatile("efpc %0" : "=d"(v));
    snprintf(out, size, "fpc=%x", v);
}

static void change(void)
{
    __asm__ volatile("srnm 1"); /* round toward zero */
}

static void restore(void)
{
    __asm__ volatile("sfpc %0" : : "d"(0U));
}
#else
#error "unknown architecture"
#endif

static void on_usr1(int sig)
{
    (void)sig;
    state(handler_state, sizeof(handler_state));
}

int main(void)
{
    char now[128];
    state(now, sizeof(now));
    printf("start: %s\n", now);

    /* Precision the control word selects: x87 long double on x86, and
     * the sum of squares in double (x87 arithmetic on i386). */
    volatile long double one = 1, three = 3;
    printf("1/3 = %.19Lf\n", (long double)(one / three));
    volatile double sum = 0;
    for (int i = 0; i < 1000; i++) {
        sum += (double)i * i;
    }
    printf("sum of squares 0..999 = %.1f\n", sum);

    change();
    state(now, sizeof(now));
    printf("changed: %s\n", now);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    state(now, sizeof(now));
    restore();
#if defined(__x86_64__) || defined(__i386__)
    /* Linux gives x86 handlers a fresh FP state; elsewhere the handler's
     * state is the interrupted code's, which is not checked here. */
    printf("in handler: %s\n", handler_state);
#endif
    printf("after handler: %s\n", now);
    return 0;
}

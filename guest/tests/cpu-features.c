/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aarch64: what a process learns of its CPU from user space, as Linux
 * serves it (Documentation/arch/arm64/cpu-feature-registers.rst). With
 * AT_HWCAP's cpuid bit, `mrs` of MIDR_EL1, MPIDR_EL1, REVIDR_EL1 and the
 * ID_AA64* feature registers is emulated by the kernel with sanitised
 * values; any other system register of EL1 is SIGILL, as are the
 * AArch32 ID registers and CurrentEL.
 *
 * Prints each value, then checks that the feature registers and AT_HWCAP
 * tell the same story.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <ucontext.h>

#ifndef HWCAP_CPUID
#define HWCAP_CPUID (1 << 11)
#endif

static volatile int trapped;
static volatile int sigill_code;

/* Steps over the refused `mrs`, as the sysregs test of QEMU's suite does. */
static void on_sigill(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    trapped = 1;
    sigill_code = si->si_code;
    ((ucontext_t *)ctx)->uc_mcontext.pc += 4;
}

/* Reads a system register by its generic name; 1 when it trapped. */
#define READ(name, out)                                                      \
    ({                                                                       \
        uint64_t v_ = 0;                                                     \
        trapped = 0;                                                         \
        __asm__ volatile("mrs %0, " name : "+r"(v_));                        \
        *(out) = v_;                                                         \
        trapped;                                                             \
    })

static unsigned field(uint64_t reg, int shift)
{
    return (unsigned)(reg >> shift & 0xf);
}

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("MISMATCH: %s\n", what);
        failures++;
    }
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigill;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, NULL);

    unsigned long hwcap = getauxval(AT_HWCAP);
    unsigned long hwcap2 = getauxval(AT_HWCAP2);
    printf("hwcap cpuid %d\n", (hwcap & HWCAP_CPUID) != 0);

    /* The emulated registers, in the order read below (generic names:
     * the assembler need not know them). */
    static const char *const names[] = {
        "midr_el1",         "mpidr_el1",        "revidr_el1",
        "id_aa64pfr0_el1",  "id_aa64pfr1_el1",  "id_aa64zfr0_el1",
        "id_aa64dfr0_el1",  "id_aa64isar0_el1", "id_aa64isar1_el1",
        "id_aa64mmfr0_el1", "id_aa64mmfr1_el1", "id_aa64mmfr2_el1",
        "unallocated_c7_7",
    };
    uint64_t value[sizeof names / sizeof names[0]];
    int trapped_reads = 0;
#define ONE(i, spelled)                                                      \
    do {                                                                     \
        if (READ(spelled, &value[i])) {                                      \
            printf("%-18s SIGILL\n", names[i]);                              \
            trapped_reads++;                                                 \
        } else {                                                             \
            printf("%-18s %016llx\n", names[i], (unsigned long long)value[i]); \
        }                                                                    \
    } while (0)
    ONE(0, "midr_el1");
    ONE(1, "mpidr_el1");
    ONE(2, "revidr_el1");
    ONE(3, "S3_0_C0_C4_0");
    ONE(4, "S3_0_C0_C4_1");
    ONE(5, "S3_0_C0_C4_4");
    ONE(6, "S3_0_C0_C5_0");
    ONE(7, "S3_0_C0_C6_0");
    ONE(8, "S3_0_C0_C6_1");
    ONE(9, "S3_0_C0_C7_0");
    ONE(10, "S3_0_C0_C7_1");
    ONE(11, "S3_0_C0_C7_2");
    ONE(12, "S3_0_C0_C7_7");

    /* Not emulated by Linux: EL1 state, AArch32 ID registers, CurrentEL,
     * the unlisted CRm=0 registers (CTR_EL0's EL1 neighbour AIDR_EL1). */
    static const char *const refused[] = {
        "sctlr_el1", "id_mmfr0_el1", "mvfr0_el1", "CurrentEL", "aidr_el1",
    };
    uint64_t ignored;
    int t;
    t = READ("sctlr_el1", &ignored);
    printf("%-18s %s\n", refused[0], t ? "SIGILL" : "read");
    t = READ("S3_0_C0_C1_4", &ignored);
    printf("%-18s %s\n", refused[1], t ? "SIGILL" : "read");
    t = READ("S3_0_C0_C3_0", &ignored);
    printf("%-18s %s\n", refused[2], t ? "SIGILL" : "read");
    t = READ("CurrentEL", &ignored);
    printf("%-18s %s\n", refused[3], t ? "SIGILL" : "read");
    t = READ("S3_1_C0_C0_7", &ignored);
    printf("%-18s %s\n", refused[4], t ? "SIGILL" : "read");
    printf("SIGILL si_code %d\n", sigill_code);

    /* The registers agree with AT_HWCAP (bits as in <asm/hwcap.h>). */
    uint64_t pfr0 = value[3], pfr1 = value[4], isar0 = value[7], isar1 = value[8];
    expect((field(isar0, 4) >= 1) == !!(hwcap & (1 << 3)), "AES");
    expect((field(isar0, 4) >= 2) == !!(hwcap & (1 << 4)), "PMULL");
    expect((field(isar0, 8) >= 1) == !!(hwcap & (1 << 5)), "SHA1");
    expect((field(isar0, 12) >= 1) == !!(hwcap & (1 << 6)), "SHA2");
    expect((field(isar0, 16) >= 1) == !!(hwcap & (1 << 7)), "CRC32");
    expect((field(isar0, 20) >= 2) == !!(hwcap & (1 << 8)), "ATOMICS");
    expect((field(isar1, 4) + field(isar1, 8) != 0) == !!(hwcap & (1UL << 30)), "PACA");
    expect((field(isar1, 24) + field(isar1, 28) != 0) == !!(hwcap & (1UL << 31)), "PACG");
    expect((field(pfr0, 16) == 0) == !!(hwcap & 1), "FP");
    expect((field(pfr0, 20) == 0) == !!(hwcap & 2), "ASIMD");
    expect(field(pfr0, 0) == 1 && field(pfr0, 4) == 1, "EL0 and EL1 AArch64 only");
    expect((field(pfr1, 0) >= 1) == !!(hwcap2 & (1 << 17)), "BTI");
    expect(trapped_reads == 0, "every emulated register reads");
    printf("%d mismatches\n", failures);
    return failures != 0;
}

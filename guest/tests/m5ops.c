/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A program annotated for gem5, with gem5's instruction-form m5ops as gem5's
 * util/m5 library emits them (x86_64: 0f 04 + 16-bit function; aarch64:
 * 0xff000110 | func << 16; arm: 0xee000110 | func << 16, in Arm and in
 * Thumb state; riscv64: 0x7b | func << 25), arguments in the first
 * argument registers:
 *
 *   m5ops [N]
 *
 * N work items alternating between work ids 0 and 1 (m5_work_begin /
 * m5_work_end, thread id 0), a dump with no interval open, then a
 * statistics interval (m5_reset_stats ... m5_dump_stats), one
 * m5_dump_reset_stats and one m5_rpns; on arm one work item (id 7) in the
 * other instruction set state. The void ops must leave the result
 * register as it was, which the program checks. Under ht-user the ops
 * become region events; on real hardware they are illegal instructions.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define M5_RPNS 0x07
#define M5_RESET_STATS 0x40
#define M5_DUMP_STATS 0x41
#define M5_DUMP_RESET_STATS 0x42
#define M5_WORK_BEGIN 0x5a
#define M5_WORK_END 0x5b

#define STR2(x) #x
#define STR(x) STR2(x)

#if defined(__x86_64__)
#define M5OP(func, a0, a1, ret)                                               \
    __asm__ volatile(".byte 0x0f, 0x04\n\t.word " STR(func)                  \
                     : "+a"(ret)                                              \
                     : "D"(a0), "S"(a1)                                       \
                     : "memory")
#elif defined(__aarch64__)
#define M5OP(func, a0, a1, ret)                                               \
    do {                                                                      \
        register uint64_t x0 __asm__("x0") = (a0);                            \
        register uint64_t x1 __asm__("x1") = (a1);                            \
        __asm__ volatile(".inst 0xff000110 | (" STR(func) " << 16)"          \
                         : "+r"(x0)                                           \
                         : "r"(x1)                                            \
                         : "memory");                                         \
        (ret) = x0;                                                           \
    } while (0)
#elif defined(__riscv) && __riscv_xlen == 64
#define M5OP(func, a0, a1, ret)                                               \
    do {                                                                      \
        register uint64_t ra0 __asm__("a0") = (a0);                           \
        register uint64_t ra1 __asm__("a1") = (a1);                           \
        __asm__ volatile(".4byte 0x0000007b | (" STR(func) " << 25)"         \
                         : "+r"(ra0)                                          \
                         : "r"(ra1)                                           \
                         : "memory");                                         \
        (ret) = ra0;                                                          \
    } while (0)
#elif defined(__arm__)
/* 64-bit arguments in r0:r1 and r2:r3 (AAPCS); the result in r0:r1. */
#define M5OP_BODY(insn, func, a0, a1, ret)                                    \
    do {                                                                      \
        register uint32_t r0 __asm__("r0") = (uint32_t)(a0);                  \
        register uint32_t r1 __asm__("r1") = (uint32_t)((uint64_t)(a0) >> 32); \
        register uint32_t r2 __asm__("r2") = (uint32_t)(a1);                  \
        register uint32_t r3 __asm__("r3") = (uint32_t)((uint64_t)(a1) >> 32); \
        __asm__ volatile(insn " | (" STR(func) " << 16)"                      \
                         : "+r"(r0), "+r"(r1)                                 \
                         : "r"(r2), "r"(r3)                                   \
                         : "memory");                                         \
        (ret) = (uint64_t)r1 << 32 | r0;                                      \
    } while (0)
#define M5OP(func, a0, a1, ret) M5OP_BODY(".inst.w 0xee000110", func, a0, a1, ret)
#else
#define NO_M5OPS 1
#endif

#ifdef NO_M5OPS
int main(void)
{
    printf("gem5 defines no m5ops for this architecture\n");
    return 0;
}
#else

static volatile uint64_t sink;

static void work(uint64_t n)
{
    uint64_t x = n;
    for (int k = 0; k < 100; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    sink = x;
}

static int failures;

/* Runs one void op, which must leave the result register as it was: on
 * x86_64 rax (a sentinel put there), elsewhere the first argument's
 * register, which is also the result register. */
#if defined(__x86_64__)
#define UNCHANGED(a0) UINT64_C(0x5e17)
#else
#define UNCHANGED(a0) (uint64_t)(a0)
#endif
#define VOID_OP(func, a0, a1)                                                 \
    do {                                                                      \
        uint64_t ret = UINT64_C(0x5e17);                                      \
        M5OP(func, a0, a1, ret);                                              \
        if (ret != UNCHANGED(a0)) {                                           \
            printf("op %#x changed the result register: %#" PRIx64 "\n",     \
                   func, ret);                                                \
            failures++;                                                       \
        }                                                                     \
    } while (0)

#if defined(__arm__)
/* The same ops in the other instruction set state. */
#if defined(__thumb__)
__attribute__((target("arm")))
#else
__attribute__((target("thumb")))
#endif
static void other_state_work_item(uint64_t id)
{
    uint64_t ret = 0;
    M5OP_BODY(".inst 0xee000110", M5_WORK_BEGIN, id, 0, ret);
    work(id);
    if (ret != id) {
        failures++;
    }
    M5OP_BODY(".inst 0xee000110", M5_WORK_END, id, 0, ret);
    if (ret != id) {
        failures++;
    }
}
#endif

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 10;

    for (uint64_t i = 0; i < n; i++) {
        VOID_OP(M5_WORK_BEGIN, i % 2, 0);
        work(i);
        VOID_OP(M5_WORK_END, i % 2, 0);
    }
    VOID_OP(M5_DUMP_STATS, 0, 0);
    VOID_OP(M5_RESET_STATS, 0, 0);
    work(n);
    VOID_OP(M5_DUMP_STATS, 0, 0);
    VOID_OP(M5_DUMP_RESET_STATS, 0, 0);
    work(n);
    VOID_OP(M5_DUMP_STATS, 0, 0);
#if defined(__arm__)
    other_state_work_item(7);
#endif
    uint64_t ns = 0;
    M5OP(M5_RPNS, 0, 0, ns);
    printf("rpns %s\n", ns != 0 ? "nonzero" : "zero");
    printf("%" PRIu64 " work items, %d failures\n", n, failures);
    return failures != 0;
}
#endif

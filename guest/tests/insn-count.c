/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Regions whose guest instruction counts are known exactly:
 *
 *   insn-count BASE [N...]
 *
 * For each N (default 1 10 1000), in order k = 0, 1, ...: stores
 * arg1 = 2k+1 into client 0's control slot (opens region k), runs a
 * hand-written loop of N iterations, then stores arg1 = 2k+2 (closes it).
 * Everything between the two stores is in one asm statement, so the
 * compiler adds nothing. Instructions from just after the opening store's
 * event up to and including the closing store's event:
 *
 *   x86_64, aarch64, riscv64   2N + 2   (setup 1, loop 2 per iteration,
 *                                        the 64-bit store 1)
 *   i386, arm                  2N + 3   (the 64-bit slot takes two 32-bit
 *                                        stores; the event is the second)
 *   mipsel                     3N + 3   (the loop branch's delay slot)
 *
 * No data slots are written: any channel works (args=1 or more).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qemu-hypertrace.h>

static void region(volatile uint64_t *ctl, uint64_t open, uint64_t close, unsigned long n)
{
#if defined(__x86_64__)
    __asm__ volatile("movq %[open], (%[ctl])\n\t"
                     "mov %[n], %%rcx\n"
                     "1:\n\t"
                     "dec %%rcx\n\t"
                     "jnz 1b\n\t"
                     "movq %[close], (%[ctl])\n\t"
                     :
                     : [ctl] "r"(ctl), [open] "r"(open), [close] "r"(close), [n] "r"(n)
                     : "rcx", "cc", "memory");
#elif defined(__i386__)
    uint32_t lo_open = (uint32_t)open, lo_close = (uint32_t)close;
    __asm__ volatile("movl %[open], (%[ctl])\n\t"
                     "movl $0, 4(%[ctl])\n\t"
                     "mov %[n], %%ecx\n"
                     "1:\n\t"
                     "dec %%ecx\n\t"
                     "jnz 1b\n\t"
                     "movl %[close], (%[ctl])\n\t"
                     "movl $0, 4(%[ctl])\n\t"
                     :
                     : [ctl] "r"(ctl), [open] "r"(lo_open), [close] "r"(lo_close), [n] "r"(n)
                     : "ecx", "cc", "memory");
#elif defined(__aarch64__)
    __asm__ volatile("str %[open], [%[ctl]]\n\t"
                     "mov x9, %[n]\n"
                     "1:\n\t"
                     "subs x9, x9, #1\n\t"
                     "b.ne 1b\n\t"
                     "str %[close], [%[ctl]]\n\t"
                     :
                     : [ctl] "r"(ctl), [open] "r"(open), [close] "r"(close), [n] "r"(n)
                     : "x9", "cc", "memory");
#elif defined(__arm__)
    uint32_t lo_open = (uint32_t)open, lo_close = (uint32_t)close, zero = 0;
    __asm__ volatile("str %[open], [%[ctl]]\n\t"
                     "str %[zero], [%[ctl], #4]\n\t"
                     "mov r12, %[n]\n"
                     "1:\n\t"
                     "subs r12, r12, #1\n\t"
                     "bne 1b\n\t"
                     "str %[close], [%[ctl]]\n\t"
                     "str %[zero], [%[ctl], #4]\n\t"
                     :
                     : [ctl] "r"(ctl), [open] "r"(lo_open), [close] "r"(lo_close),
                       [zero] "r"(zero), [n] "r"(n)
                     : "r12", "cc", "memory");
#elif defined(__riscv) && __riscv_xlen == 64
    __asm__ volatile("sd %[open], 0(%[ctl])\n\t"
                     "mv t0, %[n]\n"
                     "1:\n\t"
                     "addi t0, t0, -1\n\t"
                     "bnez t0, 1b\n\t"
                     "sd %[close], 0(%[ctl])\n\t"
                     :
                     : [ctl] "r"(ctl), [open] "r"(open), [close] "r"(close), [n] "r"(n)
                     : "t0", "memory");
#elif defined(__mips__) && defined(__MIPSEL__) && _MIPS_SIM == _ABIO32
    uint32_t lo_open = (uint32_t)open, lo_close = (uint32_t)close;
    __asm__ volatile(".set push\n\t"
                     ".set noreorder\n\t"
                     "sw %[open], 0(%[ctl])\n\t"
                     "sw $zero, 4(%[ctl])\n\t"
                     "move $t0, %[n]\n"
                     "1:\n\t"
                     "addiu $t0, $t0, -1\n\t"
                     "bnez $t0, 1b\n\t"
                     "nop\n\t"
                     "sw %[close], 0(%[ctl])\n\t"
                     "sw $zero, 4(%[ctl])\n\t"
                     ".set pop\n\t"
                     :
                     : [ctl] "r"(ctl), [open] "r"(lo_open), [close] "r"(lo_close), [n] "r"(n)
                     : "t0", "memory");
#elif defined(__mips__) && defined(__MIPSEL__) && _MIPS_SIM == _ABI64
    /* Aligned so the loop never straddles a page (a block ends there),
     * the padding run before the region opens. */
    __asm__ volatile(".set push\n\t"
                     ".set noreorder\n\t"
                     ".balign 32\n\t"
                     "sd %[open], 0(%[ctl])\n\t"
                     "move $t0, %[n]\n"
                     "1:\n\t"
                     "daddiu $t0, $t0, -1\n\t"
                     "bnez $t0, 1b\n\t"
                     "nop\n\t"
                     "sd %[close], 0(%[ctl])\n\t"
                     ".set pop\n\t"
                     :
                     : [ctl] "r"(ctl), [open] "r"(open), [close] "r"(close), [n] "r"(n)
                     : "t0", "memory");
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
    __asm__ volatile("std %[open], 0(%[ctl])\n\t"
                     "mtctr %[n]\n"
                     "1:\n\t"
                     "bdnz 1b\n\t"
                     "std %[close], 0(%[ctl])\n\t"
                     :
                     : [ctl] "b"(ctl), [open] "r"(open), [close] "r"(close), [n] "r"(n)
                     : "ctr", "memory");
#elif defined(__s390x__)
    __asm__ volatile("stg %[open], 0(%[ctl])\n\t"
                     "lgr %%r1, %[n]\n"
                     "1:\n\t"
                     "brctg %%r1, 1b\n\t"
                     "stg %[close], 0(%[ctl])\n\t"
                     :
                     : [ctl] "a"(ctl), [open] "d"(open), [close] "d"(close), [n] "d"(n)
                     : "r1", "memory");
#else
#error "insn-count: no hand-counted loop for this architecture"
#endif
}

int main(int argc, char **argv)
{
    static const unsigned long defaults[] = {1, 10, 1000};

    if (argc < 2) {
        fprintf(stderr, "usage: insn-count BASE [N...]\n");
        return 2;
    }
    if (qemu_hypertrace_init(argv[1]) != 0) {
        fprintf(stderr, "insn-count: qemu_hypertrace_init: %s\n", strerror(errno));
        return 1;
    }
    volatile uint64_t *ctl = qemu_hypertrace_control_slots;
    int given = argc - 2;
    int count = given > 0 ? given : (int)(sizeof(defaults) / sizeof(defaults[0]));
    for (int k = 0; k < count; k++) {
        unsigned long n = given > 0 ? strtoul(argv[2 + k], NULL, 0) : defaults[k];
        if (n == 0) {
            fprintf(stderr, "insn-count: N must be at least 1\n");
            return 2;
        }
        region(ctl, 2 * (uint64_t)k + 1, 2 * (uint64_t)k + 2, n);
        printf("region %d: %lu iterations\n", k, n);
    }
    return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! /proc/cpuinfo as each architecture's kernel writes it, describing the
//! CPU the engine emulates: one processor (guest threads take turns on
//! one CPU, as sched_getaffinity says), with the features its AT_HWCAP
//! announces.

/// The names of the set bits of `hwcap`, in bit order, from `names`
/// (index = bit; empty names are skipped).
fn feature_names(hwcap: u64, names: &[&str]) -> String {
    names
        .iter()
        .enumerate()
        .filter(|(bit, name)| *bit < 64 && hwcap & (1 << bit) != 0 && !name.is_empty())
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPUID.1:EDX feature names, by bit.
const X86_EDX: &[&str] = &[
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "", "sep", "mtrr", "pge",
    "mca", "cmov", "pat", "pse36", "pn", "clflush", "", "dts", "acpi", "mmx", "fxsr", "sse",
    "sse2", "ss", "ht", "tm", "ia64", "pbe",
];

/// x86_64 and i386: the engine's qemu64-style CPU.
pub fn x86(hwcap: u64, long_mode: bool) -> String {
    let mut flags = feature_names(hwcap, X86_EDX);
    if long_mode {
        flags.push_str(" syscall lm");
    }
    format!(
        "processor\t: 0\n\
         vendor_id\t: AuthenticAMD\n\
         cpu family\t: 15\n\
         model\t\t: 107\n\
         model name\t: QEMU Virtual CPU version 2.5+\n\
         stepping\t: 1\n\
         cpu MHz\t\t: 1000.000\n\
         cache size\t: 512 KB\n\
         physical id\t: 0\n\
         siblings\t: 1\n\
         core id\t\t: 0\n\
         cpu cores\t: 1\n\
         fpu\t\t: yes\n\
         fpu_exception\t: yes\n\
         cpuid level\t: 13\n\
         wp\t\t: yes\n\
         flags\t\t: {flags}\n\
         bogomips\t: 2000.00\n\
         clflush size\t: 64\n\
         cache_alignment\t: 64\n\
         address sizes\t: 40 bits physical, {} bits virtual\n\
         power management:\n\n",
        if long_mode { 48 } else { 32 }
    )
}

/// arm64 HWCAP names, by bit.
const AARCH64_HWCAP: &[&str] = &[
    "fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
    "asimdhp", "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4",
    "asimddp", "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb",
    "paca", "pacg",
];

/// aarch64: the engine's "max" CPU (an ARMv8 Cortex-A57 at heart).
pub fn aarch64(hwcap: u64) -> String {
    format!(
        "processor\t: 0\n\
         BogoMIPS\t: 100.00\n\
         Features\t: {}\n\
         CPU implementer\t: 0x41\n\
         CPU architecture: 8\n\
         CPU variant\t: 0x1\n\
         CPU part\t: 0xd07\n\
         CPU revision\t: 0\n\n",
        feature_names(hwcap, AARCH64_HWCAP)
    )
}

/// 32-bit arm HWCAP names, by bit.
const ARM_HWCAP: &[&str] = &[
    "swp", "half", "thumb", "26bit", "fastmult", "fpa", "vfp", "edsp", "java", "iwmmxt", "crunch",
    "thumbee", "neon", "vfpv3", "vfpv3d16", "tls", "vfpv4", "idiva", "idivt", "vfpd32", "lpae",
    "evtstrm",
];

/// arm: the engine's Cortex-A15 (MIDR 0x412fc0f1).
pub fn arm(hwcap: u64) -> String {
    format!(
        "processor\t: 0\n\
         model name\t: ARMv7 Processor rev 1 (v7l)\n\
         BogoMIPS\t: 100.00\n\
         Features\t: {}\n\
         CPU implementer\t: 0x41\n\
         CPU architecture: 7\n\
         CPU variant\t: 0x2\n\
         CPU part\t: 0xc0f\n\
         CPU revision\t: 1\n\n\
         Hardware\t: ht-user\n\
         Revision\t: 0000\n\
         Serial\t\t: 0000000000000000\n",
        feature_names(hwcap, ARM_HWCAP)
    )
}

/// riscv64: the ISA letters of AT_HWCAP (bit n = letter 'a' + n).
pub fn riscv64(hwcap: u64) -> String {
    let letters: String = (0..26u8)
        .filter(|n| hwcap & (1 << n) != 0)
        .map(|n| char::from(b'a' + n))
        .collect();
    format!("processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64{letters}\nmmu\t\t: sv39\n\n")
}

/// mipsel: the engine's 74Kf.
pub fn mips() -> String {
    "system type\t\t: ht-user\n\
     machine\t\t\t: Unknown\n\
     processor\t\t: 0\n\
     cpu model\t\t: MIPS 74Kf V4.12  FPU V0.0\n\
     BogoMIPS\t\t: 100.00\n\
     isa\t\t\t: mips1 mips2 mips32r1 mips32r2\n\
     ASEs implemented\t: mips16 dsp dsp2\n\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_follow_the_hwcap_bits() {
        assert_eq!(
            feature_names(0b1_1111_1011, AARCH64_HWCAP),
            "fp asimd aes pmull sha1 sha2 crc32 atomics"
        );
        assert!(aarch64(0b11 | 1 << 30 | 1 << 31).contains("Features\t: fp asimd paca pacg\n"));
        assert_eq!(feature_names(0b1_0100_0000_0001, X86_EDX), "fpu mtrr");
        assert!(arm(1 << 12).contains("Features\t: neon\n"));
        assert!(x86(1, true).contains("flags\t\t: fpu syscall lm\n"));
        assert!(riscv64(1 | 1 << 2 | 1 << 8).contains("isa\t\t: rv64aci\n"));
    }
}

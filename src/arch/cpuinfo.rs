// SPDX-License-Identifier: GPL-2.0-or-later
//! /proc/cpuinfo as each architecture's kernel writes it, describing the
//! CPU the engine emulates, with the features its AT_HWCAP announces: one
//! processor (what the serial scheduler runs every guest thread on), or
//! one per host CPU with parallel threads ([`for_cpus`]), as
//! sched_getaffinity says.

/// `one`, one processor's /proc/cpuinfo, for each of `cpus` (by host
/// number): the lines before the first `processor` line once (MIPS's
/// system type), that processor's block (to its blank line) once per CPU
/// with its number, and what follows once (arm's `Hardware`). x86's
/// topology lines count the CPUs as the cores of one package.
pub fn for_cpus(one: &str, cpus: &[usize]) -> String {
    let start = if one.starts_with("processor") {
        0
    } else {
        match one.find("\nprocessor") {
            Some(at) => at + 1,
            None => return one.to_string(),
        }
    };
    let (head, rest) = one.split_at(start);
    let end = rest.find("\n\n").map_or(rest.len(), |at| at + 2);
    let (block, tail) = rest.split_at(end);
    let mut out = String::new();
    // s390 counts the processors in its header.
    for line in head.split_inclusive('\n') {
        match line.split_once(':') {
            Some((key, _)) if key.trim() == "# processors" => {
                out.push_str(&format!("{key}: {}\n", cpus.len()));
            }
            _ => out.push_str(line),
        }
    }
    for (core, cpu) in cpus.iter().enumerate() {
        for line in block.split_inclusive('\n') {
            let (key, colon) = match line.find(':') {
                Some(colon) => (line[..colon].trim(), colon),
                None => ("", 0),
            };
            // s390: one "processor N: version = ..." line per CPU.
            if key.starts_with("processor ") {
                out.push_str(&format!("processor {cpu}{}", &line[colon..]));
                continue;
            }
            let value = match key {
                "processor" | "hart" => cpu.to_string(),
                "core id" => core.to_string(),
                "siblings" | "cpu cores" => cpus.len().to_string(),
                _ => {
                    out.push_str(line);
                    continue;
                }
            };
            out.push_str(&line[..=colon]);
            out.push(' ');
            out.push_str(&value);
            out.push('\n');
        }
    }
    out.push_str(tail);
    out
}

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

/// x86_64 and i386: without `-cpu` the qemu64 CPU qemu-user shows,
/// else the chosen model's identity from CPUID (`ident`).
pub fn x86(hwcap: u64, long_mode: bool, ident: Option<&super::cpu::X86Ident>) -> String {
    let mut flags = feature_names(hwcap, X86_EDX);
    if long_mode {
        flags.push_str(" syscall lm");
    }
    let qemu64 = super::cpu::X86Ident {
        vendor: "AuthenticAMD".into(),
        family: 15,
        model: 107,
        stepping: 1,
        name: "QEMU Virtual CPU version 2.5+".into(),
    };
    let id = ident.unwrap_or(&qemu64);
    format!(
        "processor\t: 0\n\
         vendor_id\t: {}\n\
         cpu family\t: {}\n\
         model\t\t: {}\n\
         model name\t: {}\n\
         stepping\t: {}\n\
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
        id.vendor,
        id.family,
        id.model,
        id.name,
        id.stepping,
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

/// aarch64: the CPU of MIDR `midr` ("max" is an ARMv8 Cortex-A57 at heart).
pub fn aarch64(hwcap: u64, hwcap2: u64, midr: u64) -> String {
    format!(
        "processor\t: 0\n\
         BogoMIPS\t: 100.00\n\
         Features\t: {}\n\
         CPU implementer\t: {:#x}\n\
         CPU architecture: 8\n\
         CPU variant\t: {:#x}\n\
         CPU part\t: {:#x}\n\
         CPU revision\t: {}\n\n",
        aarch64_features(hwcap, hwcap2),
        midr >> 24 & 0xff,
        midr >> 20 & 0xf,
        midr >> 4 & 0xfff,
        midr & 0xf
    )
}

/// AT_HWCAP2 names of aarch64, by bit (Linux's, through `bti`).
const AARCH64_HWCAP2: &[&str] = &[
    "dcpodp",
    "sve2",
    "sveaes",
    "svepmull",
    "svebitperm",
    "svesha3",
    "svesm4",
    "flagm2",
    "frint",
    "svei8mm",
    "svef32mm",
    "svef64mm",
    "svebf16",
    "i8mm",
    "bf16",
    "dgh",
    "rng",
    "bti",
];

/// The Features line: AT_HWCAP's names, then AT_HWCAP2's, as Linux lists
/// them.
fn aarch64_features(hwcap: u64, hwcap2: u64) -> String {
    let first = feature_names(hwcap, AARCH64_HWCAP);
    let second = feature_names(hwcap2, AARCH64_HWCAP2);
    match (first.is_empty(), second.is_empty()) {
        (_, true) => first,
        (true, false) => second,
        (false, false) => format!("{first} {second}"),
    }
}

/// 32-bit arm HWCAP names, by bit.
const ARM_HWCAP: &[&str] = &[
    "swp", "half", "thumb", "26bit", "fastmult", "fpa", "vfp", "edsp", "java", "iwmmxt", "crunch",
    "thumbee", "neon", "vfpv3", "vfpv3d16", "tls", "vfpv4", "idiva", "idivt", "vfpd32", "lpae",
    "evtstrm",
];

/// arm: the CPU of MIDR `midr` (by default the Cortex-A15, 0x412fc0f1).
pub fn arm(hwcap: u64, midr: u64) -> String {
    // Linux's names: the architecture from MIDR[19:16] (0xf: the CPUID
    // scheme, where ARM11 parts are ARMv6 and the others ARMv7 or later).
    let platform = super::cpu::arm_platform(midr);
    let (name, arch) = match (platform, midr >> 16 & 0xf) {
        ("v6l", 0xf) => ("ARMv6-compatible processor", "7"),
        ("v6l", _) => ("ARMv6-compatible processor", "6TEJ"),
        ("v7l" | "v8l", _) => ("ARMv7 Processor", "7"),
        (_, 6) => ("ARMv5TEJ Processor", "5TEJ"),
        (_, 5) => ("ARMv5TE Processor", "5TE"),
        (_, 2) => ("ARMv4T Processor", "4T"),
        _ => ("ARMv4 Processor", "4"),
    };
    format!(
        "processor\t: 0\n\
         model name\t: {name} rev {} ({platform})\n\
         BogoMIPS\t: 100.00\n\
         Features\t: {}\n\
         CPU implementer\t: {:#x}\n\
         CPU architecture: {arch}\n\
         CPU variant\t: {:#x}\n\
         CPU part\t: {:#x}\n\
         CPU revision\t: {}\n\n\
         Hardware\t: ht-user\n\
         Revision\t: 0000\n\
         Serial\t\t: 0000000000000000\n",
        midr & 0xf,
        feature_names(hwcap, ARM_HWCAP),
        midr >> 24 & 0xff,
        midr >> 20 & 0xf,
        midr >> 4 & 0xfff,
        midr & 0xf
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

/// mipsel: the engine's 74Kf by default, else the model `name`.
/// mips64el: the CPU of model `name`.
pub fn mips64(name: &str) -> String {
    let isa = match name {
        "R4000" | "VR5432" => "mips1 mips2 mips3",
        "5Kc" | "5Kf" | "20Kc" => "mips1 mips2 mips3 mips4 mips5 mips32r1 mips64r1",
        "I6400" | "I6500" => {
            "mips1 mips2 mips3 mips4 mips5 mips32r1 mips32r2 mips32r6 mips64r1 mips64r2 mips64r6"
        }
        "Loongson-2E" | "Loongson-2F" => "mips1 mips2 mips3",
        _ => "mips1 mips2 mips3 mips4 mips5 mips32r1 mips32r2 mips64r1 mips64r2",
    };
    format!(
        "system type\t\t: ht-user\n\
         machine\t\t\t: Unknown\n\
         processor\t\t: 0\n\
         cpu model\t\t: MIPS {name}\n\
         BogoMIPS\t\t: 100.00\n\
         isa\t\t\t: {isa}\n\n"
    )
}

pub fn mips(name: &str) -> String {
    if name == "74Kf" {
        return "system type\t\t: ht-user\n\
                machine\t\t\t: Unknown\n\
                processor\t\t: 0\n\
                cpu model\t\t: MIPS 74Kf V4.12  FPU V0.0\n\
                BogoMIPS\t\t: 100.00\n\
                isa\t\t\t: mips1 mips2 mips32r1 mips32r2\n\
                ASEs implemented\t: mips16 dsp dsp2\n\n"
            .to_string();
    }
    let isa = if name.starts_with("mips32r6") {
        "mips1 mips2 mips32r1 mips32r2 mips32r6"
    } else if name.ends_with("R1") || name == "4Kc" || name == "4Km" {
        "mips1 mips2 mips32r1"
    } else {
        "mips1 mips2 mips32r1 mips32r2"
    };
    format!(
        "system type\t\t: ht-user\n\
         machine\t\t\t: Unknown\n\
         processor\t\t: 0\n\
         cpu model\t\t: MIPS {name}\n\
         BogoMIPS\t\t: 100.00\n\
         isa\t\t\t: {isa}\n\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_block_per_cpu_with_the_header_and_trailer_once() {
        let x86 = for_cpus(&x86(1, true, None), &[0, 1, 3]);
        assert_eq!(x86.matches("processor\t: ").count(), 3);
        assert!(x86.contains("processor\t: 3\n"), "{x86}");
        assert!(x86.contains("core id\t\t: 2\n"), "{x86}");
        assert_eq!(x86.matches("cpu cores\t: 3\n").count(), 3, "{x86}");
        assert_eq!(x86.matches("siblings\t: 3\n").count(), 3, "{x86}");
        let arm = for_cpus(&arm(0, 0x412f_c0f1), &[0, 1]);
        assert!(arm.contains("processor\t: 1\nmodel name"), "{arm}");
        assert_eq!(arm.matches("Hardware").count(), 1, "{arm}");
        assert!(arm.ends_with(&arm_tail()), "{arm}");
        let mips = for_cpus(&mips("74Kf"), &[0, 1]);
        assert_eq!(mips.matches("system type").count(), 1, "{mips}");
        assert!(mips.contains("\n\nprocessor\t\t: 1\ncpu model"), "{mips}");
        let riscv = for_cpus(&riscv64(1), &[0, 1]);
        assert!(riscv.ends_with("processor\t: 1\nhart\t\t: 1\nisa\t\t: rv64a\nmmu\t\t: sv39\n\n"));
        // s390: the count in the header, one line per processor.
        let s390 = "vendor_id       : IBM/S390\n# processors    : 1\n\
                    processor 0: version = 00,  machine = 2964\n";
        assert_eq!(
            for_cpus(s390, &[0, 2]),
            "vendor_id       : IBM/S390\n# processors    : 2\n\
             processor 0: version = 00,  machine = 2964\n\
             processor 2: version = 00,  machine = 2964\n"
        );
        assert_eq!(for_cpus(s390, &[0]), s390);
    }

    /// The serial scheduler's one CPU: every architecture's text unchanged.
    #[test]
    fn one_cpu_leaves_the_text_as_it_is() {
        for one in [
            riscv64(1),
            x86(1, true, None),
            x86(1, false, None),
            arm(0, 0x412f_c0f1),
            aarch64(0b11, 0, 0x411f_d070),
            mips("74Kf"),
            mips("24Kf"),
        ] {
            assert_eq!(for_cpus(&one, &[0]), one);
        }
    }

    /// What follows arm's processor blocks.
    fn arm_tail() -> String {
        let one = arm(0, 0x412f_c0f1);
        one[one.find("Hardware").unwrap()..].to_string()
    }

    #[test]
    fn features_follow_the_hwcap_bits() {
        assert_eq!(
            feature_names(0b1_1111_1011, AARCH64_HWCAP),
            "fp asimd aes pmull sha1 sha2 crc32 atomics"
        );
        assert!(aarch64(0b11 | 1 << 30 | 1 << 31, 0, 0x411f_d070)
            .contains("Features\t: fp asimd paca pacg\n"));
        // AT_HWCAP2's names follow AT_HWCAP's.
        assert!(aarch64(0b11, 1 << 17, 0x411f_d070).contains("Features\t: fp asimd bti\n"));
        assert!(aarch64(0, 1 << 17, 0x411f_d070).contains("Features\t: bti\n"));
        assert_eq!(feature_names(0b1_0100_0000_0001, X86_EDX), "fpu mtrr");
        assert!(arm(1 << 12, 0x412f_c0f1).contains("Features\t: neon\n"));
        // The defaults read as before models could be chosen.
        let a15 = arm(0, 0x412f_c0f1);
        assert!(
            a15.contains("model name\t: ARMv7 Processor rev 1 (v7l)\n"),
            "{a15}"
        );
        assert!(a15.contains("CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x2\nCPU part\t: 0xc0f\nCPU revision\t: 1\n"), "{a15}");
        let max = aarch64(0, 0, 0x411f_d070);
        assert!(max.contains("CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd07\nCPU revision\t: 0\n"), "{max}");
        assert!(arm(0, 0x4106_9265).contains("ARMv5TEJ Processor rev 5 (v5l)"));
        assert!(x86(1, true, None).contains("flags\t\t: fpu syscall lm\n"));
        assert!(riscv64(1 | 1 << 2 | 1 << 8).contains("isa\t\t: rv64aci\n"));
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! CPU models: what `-cpu MODEL` (or `QEMU_CPU`) may choose, per
//! architecture, named as QEMU spells them, and what each tells the guest
//! (AT_HWCAP, AT_HWCAP2, the identity /proc/cpuinfo shows).

use super::Abi;

/// One CPU model the engine offers.
#[derive(Debug, PartialEq, Eq)]
pub struct CpuModel {
    /// QEMU's name (matched without regard to case).
    pub name: &'static str,
    /// The engine's model number (`uc_ctl` CPU model).
    pub id: i32,
    /// AT_HWCAP (x86: computed from CPUID instead, see `CpuSupport::facts`).
    pub hwcap: u64,
    /// The main ID register: MIDR (arm, aarch64); 0 elsewhere.
    pub ident: u64,
}

/// A chosen model.
pub type Cpu = &'static CpuModel;

/// What the guest learns about its CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuFacts {
    pub hwcap: u64,
    pub hwcap2: u64,
    /// x86: vendor, family, model, stepping and name from CPUID (none for
    /// the default model, which /proc/cpuinfo shows as qemu-user does).
    pub x86: Option<X86Ident>,
    /// AT_PLATFORM when the model changes it (arm: v4l to v8l; i386: i486
    /// to i686); the architecture's own otherwise.
    pub platform: Option<&'static str>,
    /// Entries the architecture adds to the auxiliary vector (ppc64: the
    /// cache line sizes `dcbz` and glibc's memset rely on).
    pub auxv: &'static [(u64, u64)],
}

/// arm's AT_PLATFORM for a model's MIDR, as Linux names the
/// architecture: ARMv8 parts (0xdxx), ARMv7 (0xcxx), ARM11 (0xbxx), then
/// the older architecture field.
pub fn arm_platform(midr: u64) -> &'static str {
    let part = midr >> 4 & 0xfff;
    match midr >> 16 & 0xf {
        0xf if midr >> 24 == 0x41 && part & 0xf00 == 0xd00 => "v8l",
        0xf if part & 0xf00 == 0xb00 => "v6l",
        0xf => "v7l",
        7 => "v6l",
        5 | 6 => "v5l",
        _ => "v4l",
    }
}

/// An x86 CPU's identity as CPUID gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct X86Ident {
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub name: String,
}

const fn m(name: &'static str, id: i32, hwcap: u64, ident: u64) -> CpuModel {
    CpuModel {
        name,
        id,
        hwcap,
        ident,
    }
}

/// x86 (x86_64 and i386): every model of the engine; AT_HWCAP comes from
/// CPUID.
pub const X86: &[CpuModel] = &[
    m("qemu64", 0, 0, 0),
    m("phenom", 1, 0, 0),
    m("core2duo", 2, 0, 0),
    m("kvm64", 3, 0, 0),
    m("qemu32", 4, 0, 0),
    m("kvm32", 5, 0, 0),
    m("coreduo", 6, 0, 0),
    m("486", 7, 0, 0),
    m("pentium", 8, 0, 0),
    m("pentium2", 9, 0, 0),
    m("pentium3", 10, 0, 0),
    m("athlon", 11, 0, 0),
    m("n270", 12, 0, 0),
    m("Conroe", 13, 0, 0),
    m("Penryn", 14, 0, 0),
    m("Nehalem", 15, 0, 0),
    m("Westmere", 16, 0, 0),
    m("SandyBridge", 17, 0, 0),
    m("IvyBridge", 18, 0, 0),
    m("Haswell", 19, 0, 0),
    m("Broadwell", 20, 0, 0),
    m("Skylake-Client", 21, 0, 0),
    m("Skylake-Server", 22, 0, 0),
    m("Cascadelake-Server", 23, 0, 0),
    m("Cooperlake", 24, 0, 0),
    m("Icelake-Client", 25, 0, 0),
    m("Icelake-Server", 26, 0, 0),
    m("Denverton", 27, 0, 0),
    m("Snowridge", 28, 0, 0),
    m("KnightsMill", 29, 0, 0),
    m("Opteron_G1", 30, 0, 0),
    m("Opteron_G2", 31, 0, 0),
    m("Opteron_G3", 32, 0, 0),
    m("Opteron_G4", 33, 0, 0),
    m("Opteron_G5", 34, 0, 0),
    m("EPYC", 35, 0, 0),
    m("Dhyana", 36, 0, 0),
    m("EPYC-Rome", 37, 0, 0),
    // Every extension the translator has (3DNow!, SSE4.2, BMI2, ...; no
    // AVX): QEMU's "max" under TCG, as engine patch 0033 adds it.
    m("max", 38, 0, 0),
];
/// The engine's own default for x86 (it runs Haswell when no model is set).
pub const X86_DEFAULT: usize = 19;

/// arm64 AT_HWCAP bits.
const A64_FP: u64 = 1 << 0;
const A64_ASIMD: u64 = 1 << 1;
const A64_AES: u64 = 1 << 3;
const A64_PMULL: u64 = 1 << 4;
const A64_SHA1: u64 = 1 << 5;
const A64_SHA2: u64 = 1 << 6;
const A64_CRC32: u64 = 1 << 7;
const A64_ATOMICS: u64 = 1 << 8;
pub const A64_PACA: u64 = 1 << 30;
pub const A64_PACG: u64 = 1 << 31;
/// ARMv8.0 with the crypto extension: the three Cortex models.
const A64_V80: u64 = A64_FP | A64_ASIMD | A64_AES | A64_PMULL | A64_SHA1 | A64_SHA2 | A64_CRC32;

/// aarch64. "max" (the default) is a Cortex-A57 with the later
/// architecture's features, LSE atomics and pointer authentication among
/// them (AT_HWCAP names only those ht-user has checked).
pub const AARCH64: &[CpuModel] = &[
    m("cortex-a57", 0, A64_V80, 0x411f_d070),
    m("cortex-a53", 1, A64_V80, 0x410f_d034),
    m("cortex-a72", 2, A64_V80, 0x410f_d083),
    m(
        "max",
        3,
        A64_V80 | A64_ATOMICS | A64_PACA | A64_PACG,
        0x411f_d070,
    ),
];
pub const AARCH64_DEFAULT: usize = 3;

/// 32-bit arm AT_HWCAP from a list of bits.
const fn arm_bits(bits: &[u32]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < bits.len() {
        mask |= 1 << bits[i];
        i += 1;
    }
    mask
}
// Bits: swp 0, half 1, thumb 2, fast_mult 4, vfp 6, edsp 7, iwmmxt 9,
// thumbee 11, neon 12, vfpv3 13, vfpv3d16 14, tls 15, vfpv4 16, idiva 17,
// idivt 18, vfpd32 19, lpae 20. Each model's set follows its features in
// the engine (qemu-user computes AT_HWCAP the same way).
const ARM_V4: u64 = arm_bits(&[0, 1, 2, 4]);
const ARM_V5: u64 = ARM_V4 | arm_bits(&[7]);
const ARM_V5_VFP: u64 = ARM_V5 | arm_bits(&[6]);
const ARM_XSCALE: u64 = ARM_V5 | arm_bits(&[9]);
const ARM_V6K_VFP: u64 = ARM_V5_VFP | arm_bits(&[15]);
const ARM_A8: u64 = ARM_V6K_VFP | arm_bits(&[11, 12, 13, 19]);
const ARM_R5: u64 = ARM_V5 | arm_bits(&[15, 17, 18]);
const ARM_R5F: u64 = ARM_R5 | arm_bits(&[6, 13, 14]);
/// Cortex-A15 (the default) and A7.
pub const ARM_A15: u64 = ARM_V6K_VFP | arm_bits(&[12, 13, 16, 17, 18, 19, 20]);

/// arm: the A and R profile models of the engine (the M profile has no
/// ARM state: it cannot run a Linux program).
pub const ARM: &[CpuModel] = &[
    m("arm926", 0, ARM_V5_VFP, 0x4106_9265),
    m("arm946", 1, ARM_V5, 0x4105_9461),
    m("arm1026", 2, ARM_V5_VFP, 0x4106_a262),
    m("arm1136-r2", 3, ARM_V5_VFP, 0x4107_b362),
    m("arm1136", 4, ARM_V6K_VFP, 0x4117_b363),
    m("arm1176", 5, ARM_V6K_VFP, 0x410f_b767),
    m("arm11mpcore", 6, ARM_V6K_VFP, 0x410f_b022),
    m("cortex-r5", 12, ARM_R5, 0x411f_c153),
    m("cortex-r5f", 13, ARM_R5F, 0x411f_c153),
    m("cortex-a7", 14, ARM_A15, 0x410f_c075),
    m("cortex-a8", 15, ARM_A8, 0x410f_c080),
    m("cortex-a9", 16, ARM_A8, 0x410f_c090),
    m("cortex-a15", 17, ARM_A15, 0x412f_c0f1),
    m("ti925t", 18, ARM_V4, 0x5402_9252),
    m("sa1100", 19, ARM_V4, 0x4401_a11b),
    m("sa1110", 20, ARM_V4, 0x6901_b119),
    m("pxa250", 21, ARM_XSCALE, 0x6905_2100),
    m("pxa255", 22, ARM_XSCALE, 0x6905_2d00),
    m("pxa260", 23, ARM_XSCALE, 0x6905_2903),
    m("pxa261", 24, ARM_XSCALE, 0x6905_2d05),
    m("pxa262", 25, ARM_XSCALE, 0x6905_2d06),
    m("pxa270", 26, ARM_XSCALE, 0x6905_4110),
    m("pxa270-a0", 27, ARM_XSCALE, 0x6905_4110),
    m("pxa270-a1", 28, ARM_XSCALE, 0x6905_4111),
    m("pxa270-b0", 29, ARM_XSCALE, 0x6905_4112),
    m("pxa270-b1", 30, ARM_XSCALE, 0x6905_4113),
    m("pxa270-c0", 31, ARM_XSCALE, 0x6905_4114),
    m("pxa270-c5", 32, ARM_XSCALE, 0x6905_4117),
    m("max", 33, ARM_A15, 0x411f_d070),
];
pub const ARM_DEFAULT: usize = 12;

/// riscv64 AT_HWCAP: one bit per single-letter extension.
const fn rv(letters: &[u8]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < letters.len() {
        mask |= 1 << (letters[i] - b'a');
        i += 1;
    }
    mask
}
pub const RV_IMAFDC: u64 = rv(b"imafdc");

/// riscv64 ("rv64" is the engine's base model, which it gives the same
/// extensions as "any").
pub const RISCV64: &[CpuModel] = &[
    m("any", 0, RV_IMAFDC, 0),
    m("rv64", 1, RV_IMAFDC, 0),
    m("sifive-e51", 2, rv(b"imac"), 0),
    m("sifive-u54", 3, RV_IMAFDC, 0),
];
/// The engine's own default for riscv64.
pub const RISCV64_DEFAULT: usize = 3;

/// mipsel: the MIPS32 models (I7200 is nanoMIPS, another instruction set:
/// not offered).
pub const MIPS32: &[CpuModel] = &[
    m("4Kc", 0, 0, 0),
    m("4Km", 1, 0, 0),
    m("4KEcR1", 2, 0, 0),
    m("4KEmR1", 3, 0, 0),
    m("4KEc", 4, 0, 0),
    m("4KEm", 5, 0, 0),
    m("24Kc", 6, 0, 0),
    m("24KEc", 7, 0, 0),
    m("24Kf", 8, 0, 0),
    m("34Kf", 9, 0, 0),
    m("74Kf", 10, 0, 0),
    m("M14K", 11, 0, 0),
    m("M14Kc", 12, 0, 0),
    m("P5600", 13, 0, 0),
    m("mips32r6-generic", 14, 0, 0),
];
pub const MIPS32_DEFAULT: usize = 10;

/// mips64el: the engine's MIPS64 models. The default is qemu-user's for
/// programs before release 6 (the I6400 is its release 6 choice).
pub const MIPS64: &[CpuModel] = &[
    m("R4000", 0, 0, 0),
    m("VR5432", 1, 0, 0),
    m("5Kc", 2, 0, 0),
    m("5Kf", 3, 0, 0),
    m("20Kc", 4, 0, 0),
    m("MIPS64R2-generic", 5, 0, 0),
    m("5KEc", 6, 0, 0),
    m("5KEf", 7, 0, 0),
    m("I6400", 8, 0, 0),
    m("I6500", 9, 0, 0),
    m("Loongson-2E", 10, 0, 0),
    m("Loongson-2F", 11, 0, 0),
    m("mips64dspr2", 12, 0, 0),
];
pub const MIPS64_DEFAULT: usize = 7;

/// ppc64le: the engine's default 64-bit model alone (an ISA 3.0 CPU the
/// engine calls POWER10); the engine cannot switch models by number.
pub const PPC64: &[CpuModel] = &[m("power9", -1, 0, 0)];

/// s390x: the engine's default model ("qemu"), as qemu-s390x runs.
pub const S390X: &[CpuModel] = &[m("qemu", -1, 0, 0)];

/// A `-cpu` name that is none of the architecture's models.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown CPU model '{name}' for {arch}; valid models: {valid}")]
pub struct UnknownCpuModel {
    pub name: String,
    pub arch: &'static str,
    /// Every model's name, separated by spaces.
    pub valid: String,
}

/// The model of `abi` called `name` (any case); the error lists them all.
pub fn find(abi: &dyn Abi, name: &str) -> Result<Cpu, UnknownCpuModel> {
    let models = abi.cpu_models();
    models
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| UnknownCpuModel {
            name: name.to_string(),
            arch: abi.name(),
            valid: names(models),
        })
}

fn names(models: &[CpuModel]) -> String {
    models.iter().map(|c| c.name).collect::<Vec<_>>().join(" ")
}

/// `-cpu help`: every architecture's models, the default marked.
pub fn help() -> String {
    let mut out = String::from("Available CPU models (-cpu MODEL or QEMU_CPU=MODEL):\n");
    for abi in super::all() {
        let default = abi.default_cpu().name;
        out.push_str(&format!("{}:\n", abi.name()));
        for c in abi.cpu_models() {
            let mark = if c.name == default { " (default)" } else { "" };
            out.push_str(&format!("  {}{mark}\n", c.name));
        }
    }
    out
}

/// Whether `value` asks for the model list (`-cpu help`, as qemu-user).
pub fn is_help(value: &str) -> bool {
    value == "help" || value == "?"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_numbers_are_distinct_and_defaults_in_range() {
        for list in [X86, AARCH64, ARM, RISCV64, MIPS32] {
            let mut ids: Vec<i32> = list.iter().map(|c| c.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), list.len());
        }
        assert_eq!(X86[X86_DEFAULT].name, "Haswell");
        assert_eq!(AARCH64[AARCH64_DEFAULT].name, "max");
        assert_eq!(ARM[ARM_DEFAULT].name, "cortex-a15");
        assert_eq!(RISCV64[RISCV64_DEFAULT].name, "sifive-u54");
        assert_eq!(MIPS32[MIPS32_DEFAULT].name, "74Kf");
    }

    #[test]
    fn names_match_without_case_and_errors_list_the_models() {
        let abi = super::super::for_elf(goblin::elf::header::EM_AARCH64, true, true).unwrap();
        assert_eq!(find(abi, "Cortex-A53").unwrap().name, "cortex-a53");
        let err = find(abi, "pentium").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown CPU model 'pentium' for aarch64; \
             valid models: cortex-a57 cortex-a53 cortex-a72 max"
        );
        assert!(help().contains("  74Kf (default)\n"));
        assert_eq!(arm_platform(ARM[ARM_DEFAULT].ident), "v7l");
        let platforms: Vec<&str> = ["arm926", "arm1176", "cortex-r5", "max", "sa1100"]
            .iter()
            .map(|n| arm_platform(ARM.iter().find(|c| c.name == *n).unwrap().ident))
            .collect();
        assert_eq!(platforms, ["v5l", "v6l", "v7l", "v8l", "v4l"]);
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! aarch64 CPU feature registers read from user space, as Linux serves
//! them (`Documentation/arch/arm64/cpu-feature-registers.rst`): an EL0
//! `mrs` of an ID register traps, and the kernel answers with a
//! sanitised value and steps over the instruction. AT_HWCAP's `cpuid` bit
//! says the service exists; glibc reads MIDR_EL1 through it.
//!
//! What a field shows follows what AT_HWCAP and AT_HWCAP2 announce, so the
//! two views of the CPU agree: a feature the process was not told about
//! reads as absent, whatever the engine's model has.

use super::GuestCpu;
use unicorn_engine::{RegisterARM64, RegisterARM64CP};

/// AT_HWCAP's `cpuid`: EL0 reads of the ID registers are emulated.
pub(crate) const HWCAP_CPUID: u64 = 1 << 11;

/// Which auxiliary vector word a feature is announced in.
#[derive(Clone, Copy)]
enum Cap {
    Hwcap(u32),
    Hwcap2(u32),
}

impl Cap {
    fn announced(self, hwcap: u64, hwcap2: u64) -> bool {
        match self {
            Cap::Hwcap(bit) => hwcap >> bit & 1 != 0,
            Cap::Hwcap2(bit) => hwcap2 >> bit & 1 != 0,
        }
    }
}

/// How one 4-bit field of a register is shown to user space.
enum Show {
    /// Visible: the highest level the CPU has whose capability is
    /// announced, or `absent` when none is.
    Levels {
        levels: &'static [(u64, Cap)],
        absent: u64,
    },
    /// Visible as the CPU has it when the capability is announced (the
    /// pointer-authentication algorithm fields), 0 otherwise.
    Whole(Cap),
    /// Hidden: always this value (Linux's "safe value").
    Fixed(u64),
}

struct Field {
    shift: u32,
    show: Show,
}

const fn levels(shift: u32, levels: &'static [(u64, Cap)]) -> Field {
    Field {
        shift,
        show: Show::Levels { levels, absent: 0 },
    }
}

const fn fixed(shift: u32, value: u64) -> Field {
    Field {
        shift,
        show: Show::Fixed(value),
    }
}

use Cap::{Hwcap as H, Hwcap2 as H2};

/// ID_AA64PFR0_EL1: FP and AdvSIMD are signed (0xf: not implemented),
/// EL0 and EL1 read as AArch64-only, SVE shows only when announced.
const PFR0: &[Field] = &[
    fixed(0, 1),
    fixed(4, 1),
    Field {
        shift: 16,
        show: Show::Levels {
            levels: &[(0, H(0)), (1, H(9))],
            absent: 0xf,
        },
    },
    Field {
        shift: 20,
        show: Show::Levels {
            levels: &[(0, H(1)), (1, H(10))],
            absent: 0xf,
        },
    },
    levels(32, &[(1, H(22))]),
    levels(48, &[(1, H(24))]),
];
/// ID_AA64PFR1_EL1: BT, SSBS, MTE.
const PFR1: &[Field] = &[
    levels(0, &[(1, H2(17))]),
    levels(4, &[(1, H(28)), (2, H(28))]),
    levels(8, &[(2, H2(18))]),
];
/// ID_AA64DFR0_EL1: everything hidden, DebugVer pinned to ARMv8 debug.
const DFR0: &[Field] = &[fixed(0, 6)];
/// ID_AA64ISAR0_EL1: the instruction set extensions.
const ISAR0: &[Field] = &[
    levels(4, &[(1, H(3)), (2, H(4))]),
    levels(8, &[(1, H(5))]),
    levels(12, &[(1, H(6)), (2, H(21))]),
    levels(16, &[(1, H(7))]),
    levels(20, &[(2, H(8))]),
    levels(28, &[(1, H(12))]),
    levels(32, &[(1, H(17))]),
    levels(36, &[(1, H(18))]),
    levels(40, &[(1, H(19))]),
    levels(44, &[(1, H(20))]),
    levels(48, &[(1, H(23))]),
    levels(52, &[(1, H(27)), (2, H2(7))]),
    levels(60, &[(1, H2(16))]),
];
/// ID_AA64ISAR1_EL1.
const ISAR1: &[Field] = &[
    levels(0, &[(1, H(16)), (2, H2(0))]),
    Field {
        shift: 4,
        show: Show::Whole(H(30)),
    },
    Field {
        shift: 8,
        show: Show::Whole(H(30)),
    },
    levels(12, &[(1, H(13))]),
    levels(16, &[(1, H(14))]),
    levels(20, &[(1, H(15)), (2, H(26))]),
    Field {
        shift: 24,
        show: Show::Whole(H(31)),
    },
    Field {
        shift: 28,
        show: Show::Whole(H(31)),
    },
    levels(32, &[(1, H2(8))]),
    levels(36, &[(1, H(29))]),
    levels(44, &[(1, H2(14))]),
    levels(48, &[(1, H2(15))]),
    levels(52, &[(1, H2(13))]),
];
/// ID_AA64MMFR0_EL1: hidden; the 4 KiB and 64 KiB granule fields read as
/// "not implemented" (0xf), the rest 0.
const MMFR0: &[Field] = &[fixed(24, 0xf), fixed(28, 0xf)];
/// ID_AA64MMFR2_EL1: AT (unaligned single-copy atomicity).
const MMFR2: &[Field] = &[levels(32, &[(1, H(25))])];

/// The feature registers Linux tracks, by (CRm, op2) within op0=3,
/// op1=0, CRn=0. Untracked ones in CRm 4-7 read as zero.
fn tracked(crm: u32, op2: u32) -> Option<&'static [Field]> {
    Some(match (crm, op2) {
        (4, 0) => PFR0,
        (4, 1) => PFR1,
        (5, 0) => DFR0,
        (6, 0) => ISAR0,
        (6, 1) => ISAR1,
        (7, 0) => MMFR0,
        (7, 2) => MMFR2,
        _ => return None,
    })
}

/// Linux's SYS_MPIDR_SAFE_VAL: only the "uniprocessor format" bit 31 is
/// reserved-one; affinity is hidden.
const MPIDR_SAFE: u64 = 1 << 31;

/// The value user space sees for a register whose CPU value is `raw`.
fn sanitise(fields: &[Field], raw: u64, hwcap: u64, hwcap2: u64) -> u64 {
    fields.iter().fold(0, |value, field| {
        let cpu = raw >> field.shift & 0xf;
        let shown = match field.show {
            Show::Fixed(v) => v,
            Show::Whole(cap) if cap.announced(hwcap, hwcap2) => cpu,
            Show::Whole(_) => 0,
            Show::Levels { levels, absent } => levels
                .iter()
                .filter(|(level, cap)| cpu >= *level && cap.announced(hwcap, hwcap2))
                .map(|(level, _)| *level)
                .max()
                .unwrap_or(absent),
        };
        value | shown << field.shift
    })
}

/// `mrs Xt, <op0:op1:CRn:CRm:op2>`: the system register and Rt.
struct Mrs {
    op0: u32,
    op1: u32,
    crn: u32,
    crm: u32,
    op2: u32,
    rt: u32,
}

fn decode_mrs(insn: u32) -> Option<Mrs> {
    // 1101 0101 0011 o0 op1 CRn CRm op2 Rt (L = 1, op0 = 2 + o0).
    (insn & 0xfff0_0000 == 0xd530_0000).then(|| Mrs {
        op0: 2 + (insn >> 19 & 1),
        op1: insn >> 16 & 7,
        crn: insn >> 12 & 0xf,
        crm: insn >> 8 & 0xf,
        op2: insn >> 5 & 7,
        rt: insn & 31,
    })
}

/// What Linux answers for the register `mrs` names, or None when the
/// kernel lets the SIGILL through (not in the emulated space).
fn emulated_value(uc: &dyn GuestCpu, mrs: &Mrs) -> Option<u64> {
    if (mrs.op0, mrs.op1, mrs.crn) != (3, 0, 0) {
        return None;
    }
    let facts = uc.facts();
    match mrs.crm {
        0 => match mrs.op2 {
            0 => Some(uc.model().ident),
            5 => Some(MPIDR_SAFE),
            6 => Some(0),
            _ => None,
        },
        4..=7 => Some(match tracked(mrs.crm, mrs.op2) {
            Some(fields) => {
                let mut reg = RegisterARM64CP::new()
                    .op0(3)
                    .crn(0)
                    .crm(mrs.crm)
                    .op2(mrs.op2);
                let raw = uc.read_arm64_sysreg(&mut reg).map_or(0, |()| reg.val);
                sanitise(fields, raw, facts.hwcap, facts.hwcap2)
            }
            None => 0,
        }),
        _ => None,
    }
}

/// An undefined-instruction exception at `pc`: when it is an `mrs` of a
/// register Linux emulates, writes the value to Rt, steps over it and
/// returns true.
pub(crate) fn emulate_mrs(uc: &mut dyn GuestCpu, pc: u64) -> bool {
    if uc.facts().hwcap & HWCAP_CPUID == 0 {
        return false;
    }
    let Some(mrs) = decode_mrs(super::insn_word(uc, pc)) else {
        return false;
    };
    let Some(value) = emulated_value(uc, &mrs) else {
        return false;
    };
    if mrs.rt != 31 {
        let _ = uc.reg_write(super::aarch64::gpr(mrs.rt as i32), value);
    }
    let _ = uc.reg_write(RegisterARM64::PC, pc + 4);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP_ASIMD: u64 = 1 << 0 | 1 << 1;

    #[test]
    fn mrs_decodes_the_register_and_rt() {
        // mrs x3, id_aa64isar0_el1 (S3_0_C0_C6_0).
        let m = decode_mrs(0xd538_0603).unwrap();
        assert_eq!(
            (m.op0, m.op1, m.crn, m.crm, m.op2, m.rt),
            (3, 0, 0, 6, 0, 3)
        );
        // msr id_aa64isar0_el1, x3 is not a read.
        assert!(decode_mrs(0xd518_0603).is_none());
    }

    #[test]
    fn unannounced_features_read_as_absent() {
        // A CPU with AES+PMULL (2), SHA1, SHA2+SHA512 (2), CRC32, LSE (2),
        // RDM and RNDR, announced: AES, PMULL, SHA1, SHA2 (not SHA512),
        // CRC32, ATOMICS.
        let raw = 0x1000_0000_1021_2120;
        let hwcap = FP_ASIMD | 0b1_1111_1000;
        assert_eq!(sanitise(ISAR0, raw, hwcap, 0), 0x0000_0000_0021_1120);
        // Nothing announced: nothing shows.
        assert_eq!(sanitise(ISAR0, raw, 0, 0), 0);
    }

    #[test]
    fn hidden_fields_show_linux_safe_values() {
        // PFR0 of a CPU with EL0-EL3 in both states, FP and AdvSIMD with
        // half precision, SVE: FP and AdvSIMD at the announced level, EL0
        // and EL1 AArch64-only, SVE absent (not announced).
        let raw = 0x0000_0001_0011_2222;
        assert_eq!(sanitise(PFR0, raw, FP_ASIMD, 0), 0x0000_0000_0000_0011);
        assert_eq!(sanitise(PFR0, raw, 0, 0), 0x0000_0000_00ff_0011);
        assert_eq!(sanitise(MMFR0, 0x0000_0000_0000_1122, 0, 0), 0xff00_0000);
        assert_eq!(sanitise(DFR0, 0x0000_0000_1030_5106, 0, 0), 6);
    }

    #[test]
    fn pointer_authentication_fields_show_whole_when_announced() {
        let raw = 0x0000_0000_1100_0110;
        let paca = 1 << 30;
        let pacg = 1 << 31;
        assert_eq!(sanitise(ISAR1, raw, paca | pacg, 0), 0x0000_0000_1100_0110);
        assert_eq!(sanitise(ISAR1, raw, paca, 0), 0x0000_0000_0000_0110);
    }
}

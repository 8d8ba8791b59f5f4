// SPDX-License-Identifier: GPL-2.0-or-later
//! The guest's registers as gdb numbers them, per architecture: each
//! architecture pairs a register file layout of `gdbstub_arch` (which also
//! gives gdb its target description) with the engine's register names.

use gdbstub::arch::Arch;
use gdbstub_arch::x86::reg::{X86SegmentRegs, X87FpuInternalRegs, F80};
use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::{
    RegisterARM, RegisterARM64, RegisterMIPS, RegisterPPC, RegisterRISCV, RegisterS390X,
    RegisterX86,
};

use crate::machine::Engine;

/// How one architecture's registers travel between the engine and gdb.
pub trait DebugRegs {
    type Arch: Arch;
    /// Fills gdb's register file from the engine.
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error>;
    /// Writes gdb's register file back to the engine.
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error>;
}

pub enum X86_64 {}
pub enum I386 {}
pub enum Aarch64 {}
pub enum Arm {}
pub enum Riscv64 {}
pub enum Mipsel {}
pub enum Mips64el {}
pub enum Ppc64le {}
pub enum S390x {}

const X86_64_GPRS: [RegisterX86; 16] = [
    RegisterX86::RAX,
    RegisterX86::RBX,
    RegisterX86::RCX,
    RegisterX86::RDX,
    RegisterX86::RSI,
    RegisterX86::RDI,
    RegisterX86::RBP,
    RegisterX86::RSP,
    RegisterX86::R8,
    RegisterX86::R9,
    RegisterX86::R10,
    RegisterX86::R11,
    RegisterX86::R12,
    RegisterX86::R13,
    RegisterX86::R14,
    RegisterX86::R15,
];

const ST: [RegisterX86; 8] = [
    RegisterX86::ST0,
    RegisterX86::ST1,
    RegisterX86::ST2,
    RegisterX86::ST3,
    RegisterX86::ST4,
    RegisterX86::ST5,
    RegisterX86::ST6,
    RegisterX86::ST7,
];

fn xmm(i: usize) -> i32 {
    RegisterX86::XMM0 as i32 + i as i32
}

fn read_u128(uc: &Engine<'_>, reg: i32) -> Result<u128, uc_error> {
    let bytes = uc.reg_read_long(reg)?;
    let mut b = [0u8; 16];
    let n = bytes.len().min(16);
    b[..n].copy_from_slice(&bytes[..n]);
    Ok(u128::from_le_bytes(b))
}

/// Segment selectors, the x87 stack and its control registers, the SSE
/// registers: the same on x86_64 and i386.
fn read_x86_common(
    uc: &Engine<'_>,
    segments: &mut X86SegmentRegs,
    st: &mut [F80; 8],
    fpu: &mut X87FpuInternalRegs,
    xmm_regs: &mut [u128],
    mxcsr: &mut u32,
) -> Result<(), uc_error> {
    let r = |reg: RegisterX86| uc.reg_read(reg).map(|v| v as u32);
    segments.cs = r(RegisterX86::CS)?;
    segments.ss = r(RegisterX86::SS)?;
    segments.ds = r(RegisterX86::DS)?;
    segments.es = r(RegisterX86::ES)?;
    segments.fs = r(RegisterX86::FS)?;
    segments.gs = r(RegisterX86::GS)?;
    for (slot, reg) in st.iter_mut().zip(ST) {
        let bytes = uc.reg_read_long(reg)?;
        let n = bytes.len().min(10);
        slot[..n].copy_from_slice(&bytes[..n]);
    }
    fpu.fctrl = r(RegisterX86::FPCW)? & 0xffff;
    fpu.fstat = r(RegisterX86::FPSW)? & 0xffff;
    fpu.ftag = r(RegisterX86::FPTAG)? & 0xffff;
    fpu.fiseg = r(RegisterX86::FCS)? & 0xffff;
    fpu.fioff = r(RegisterX86::FIP)?;
    fpu.foseg = r(RegisterX86::FDS)? & 0xffff;
    fpu.fooff = r(RegisterX86::FDP)?;
    fpu.fop = r(RegisterX86::FOP)? & 0x7ff;
    for (i, slot) in xmm_regs.iter_mut().enumerate() {
        *slot = read_u128(uc, xmm(i))?;
    }
    *mxcsr = r(RegisterX86::MXCSR)?;
    Ok(())
}

/// Writes what gdb may change on x86: the x87 stack and control word, the
/// SSE registers and MXCSR (segment selectors stay as Linux set them).
fn write_x86_common(
    uc: &mut Engine<'_>,
    st: &[F80; 8],
    fpu: &X87FpuInternalRegs,
    xmm_regs: &[u128],
    mxcsr: u32,
) -> Result<(), uc_error> {
    for (value, reg) in st.iter().zip(ST) {
        uc.reg_write_long(reg, value)?;
    }
    uc.reg_write(RegisterX86::FPCW, u64::from(fpu.fctrl & 0xffff))?;
    for (i, value) in xmm_regs.iter().enumerate() {
        uc.reg_write_long(xmm(i), &value.to_le_bytes())?;
    }
    uc.reg_write(RegisterX86::MXCSR, u64::from(mxcsr))
}

impl DebugRegs for X86_64 {
    type Arch = gdbstub_arch::x86::X86_64_SSE;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (slot, reg) in regs.regs.iter_mut().zip(X86_64_GPRS) {
            *slot = uc.reg_read(reg)?;
        }
        regs.rip = uc.reg_read(RegisterX86::RIP)?;
        regs.eflags = uc.reg_read(RegisterX86::EFLAGS)? as u32;
        read_x86_common(
            uc,
            &mut regs.segments,
            &mut regs.st,
            &mut regs.fpu,
            &mut regs.xmm,
            &mut regs.mxcsr,
        )
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (value, reg) in regs.regs.iter().zip(X86_64_GPRS) {
            uc.reg_write(reg, *value)?;
        }
        uc.reg_write(RegisterX86::RIP, regs.rip)?;
        uc.reg_write(RegisterX86::EFLAGS, u64::from(regs.eflags))?;
        write_x86_common(uc, &regs.st, &regs.fpu, &regs.xmm, regs.mxcsr)
    }
}

impl DebugRegs for I386 {
    type Arch = gdbstub_arch::x86::X86_SSE;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        let r = |reg: RegisterX86| uc.reg_read(reg).map(|v| v as u32);
        regs.eax = r(RegisterX86::EAX)?;
        regs.ecx = r(RegisterX86::ECX)?;
        regs.edx = r(RegisterX86::EDX)?;
        regs.ebx = r(RegisterX86::EBX)?;
        regs.esp = r(RegisterX86::ESP)?;
        regs.ebp = r(RegisterX86::EBP)?;
        regs.esi = r(RegisterX86::ESI)?;
        regs.edi = r(RegisterX86::EDI)?;
        regs.eip = r(RegisterX86::EIP)?;
        regs.eflags = r(RegisterX86::EFLAGS)?;
        read_x86_common(
            uc,
            &mut regs.segments,
            &mut regs.st,
            &mut regs.fpu,
            &mut regs.xmm,
            &mut regs.mxcsr,
        )
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (reg, value) in [
            (RegisterX86::EAX, regs.eax),
            (RegisterX86::ECX, regs.ecx),
            (RegisterX86::EDX, regs.edx),
            (RegisterX86::EBX, regs.ebx),
            (RegisterX86::ESP, regs.esp),
            (RegisterX86::EBP, regs.ebp),
            (RegisterX86::ESI, regs.esi),
            (RegisterX86::EDI, regs.edi),
            (RegisterX86::EIP, regs.eip),
            (RegisterX86::EFLAGS, regs.eflags),
        ] {
            uc.reg_write(reg, u64::from(value))?;
        }
        write_x86_common(uc, &regs.st, &regs.fpu, &regs.xmm, regs.mxcsr)
    }
}

fn a64_x(i: usize) -> i32 {
    // X0..X28 are consecutive; X29 and X30 are numbered apart.
    match i {
        29 => RegisterARM64::X29 as i32,
        30 => RegisterARM64::X30 as i32,
        _ => RegisterARM64::X0 as i32 + i as i32,
    }
}

impl DebugRegs for Aarch64 {
    type Arch = gdbstub_arch::aarch64::AArch64;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, slot) in regs.x.iter_mut().enumerate() {
            *slot = uc.reg_read(a64_x(i))?;
        }
        regs.sp = uc.reg_read(RegisterARM64::SP)?;
        regs.pc = uc.reg_read(RegisterARM64::PC)?;
        regs.cpsr = uc.reg_read(RegisterARM64::PSTATE)? as u32;
        for (i, slot) in regs.v.iter_mut().enumerate() {
            *slot = read_u128(uc, RegisterARM64::Q0 as i32 + i as i32)?;
        }
        regs.fpcr = uc.reg_read(RegisterARM64::FPCR)? as u32;
        regs.fpsr = uc.reg_read(RegisterARM64::FPSR)? as u32;
        Ok(())
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, value) in regs.x.iter().enumerate() {
            uc.reg_write(a64_x(i), *value)?;
        }
        uc.reg_write(RegisterARM64::SP, regs.sp)?;
        uc.reg_write(RegisterARM64::PC, regs.pc)?;
        // Only the condition flags: the rest of PSTATE is the CPU's.
        uc.reg_write(RegisterARM64::NZCV, u64::from(regs.cpsr & 0xf000_0000))?;
        for (i, value) in regs.v.iter().enumerate() {
            uc.reg_write_long(RegisterARM64::Q0 as i32 + i as i32, &value.to_le_bytes())?;
        }
        uc.reg_write(RegisterARM64::FPCR, u64::from(regs.fpcr))?;
        uc.reg_write(RegisterARM64::FPSR, u64::from(regs.fpsr))
    }
}

impl DebugRegs for Arm {
    type Arch = gdbstub_arch::arm::Armv4t;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, slot) in regs.r.iter_mut().enumerate() {
            *slot = uc.reg_read(RegisterARM::R0 as i32 + i as i32)? as u32;
        }
        regs.sp = uc.reg_read(RegisterARM::SP)? as u32;
        regs.lr = uc.reg_read(RegisterARM::LR)? as u32;
        regs.pc = uc.reg_read(RegisterARM::PC)? as u32;
        regs.cpsr = uc.reg_read(RegisterARM::CPSR)? as u32;
        Ok(())
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, value) in regs.r.iter().enumerate() {
            uc.reg_write(RegisterARM::R0 as i32 + i as i32, u64::from(*value))?;
        }
        uc.reg_write(RegisterARM::SP, u64::from(regs.sp))?;
        uc.reg_write(RegisterARM::LR, u64::from(regs.lr))?;
        // The Thumb bit of CPSR is the engine's state; the pc keeps it.
        let thumb = uc.reg_read(RegisterARM::CPSR)? & 0x20 != 0;
        uc.reg_write(RegisterARM::PC, u64::from(regs.pc) | u64::from(thumb))
    }
}

impl DebugRegs for Riscv64 {
    type Arch = gdbstub_arch::riscv::Riscv64;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, slot) in regs.x.iter_mut().enumerate() {
            *slot = uc.reg_read(RegisterRISCV::X0 as i32 + i as i32)?;
        }
        regs.pc = uc.reg_read(RegisterRISCV::PC)?;
        Ok(())
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, value) in regs.x.iter().enumerate().skip(1) {
            uc.reg_write(RegisterRISCV::X0 as i32 + i as i32, *value)?;
        }
        uc.reg_write(RegisterRISCV::PC, regs.pc)
    }
}

impl DebugRegs for Mipsel {
    type Arch = gdbstub_arch::mips::Mips;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        let r = |reg: i32| uc.reg_read(reg).map(|v| v as u32);
        for (i, slot) in regs.r.iter_mut().enumerate() {
            *slot = r(RegisterMIPS::ZERO as i32 + i as i32)?;
        }
        regs.lo = r(RegisterMIPS::LO as i32)?;
        regs.hi = r(RegisterMIPS::HI as i32)?;
        regs.pc = r(RegisterMIPS::PC as i32)?;
        regs.cp0.status = r(RegisterMIPS::CP0_STATUS as i32)?;
        for (i, slot) in regs.fpu.r.iter_mut().enumerate() {
            *slot = r(RegisterMIPS::F0 as i32 + i as i32)?;
        }
        regs.fpu.fcsr = r(RegisterMIPS::FCSR as i32)?;
        regs.fpu.fir = r(RegisterMIPS::FIR as i32)?;
        Ok(())
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, value) in regs.r.iter().enumerate().skip(1) {
            uc.reg_write(RegisterMIPS::ZERO as i32 + i as i32, u64::from(*value))?;
        }
        uc.reg_write(RegisterMIPS::LO, u64::from(regs.lo))?;
        uc.reg_write(RegisterMIPS::HI, u64::from(regs.hi))?;
        uc.reg_write(RegisterMIPS::PC, u64::from(regs.pc))
    }
}

impl DebugRegs for Mips64el {
    type Arch = gdbstub_arch::mips::Mips64;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        let r = |reg: i32| uc.reg_read(reg);
        for (i, slot) in regs.r.iter_mut().enumerate() {
            *slot = r(RegisterMIPS::ZERO as i32 + i as i32)?;
        }
        regs.lo = r(RegisterMIPS::LO as i32)?;
        regs.hi = r(RegisterMIPS::HI as i32)?;
        regs.pc = r(RegisterMIPS::PC as i32)?;
        regs.cp0.status = r(RegisterMIPS::CP0_STATUS as i32)?;
        for (i, slot) in regs.fpu.r.iter_mut().enumerate() {
            *slot = r(RegisterMIPS::F0 as i32 + i as i32)?;
        }
        regs.fpu.fcsr = r(RegisterMIPS::FCSR as i32)?;
        regs.fpu.fir = r(RegisterMIPS::FIR as i32)?;
        Ok(())
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, value) in regs.r.iter().enumerate().skip(1) {
            uc.reg_write(RegisterMIPS::ZERO as i32 + i as i32, *value)?;
        }
        uc.reg_write(RegisterMIPS::LO, regs.lo)?;
        uc.reg_write(RegisterMIPS::HI, regs.hi)?;
        uc.reg_write(RegisterMIPS::PC, regs.pc)
    }
}

impl DebugRegs for Ppc64le {
    type Arch = super::ppc64::Ppc64;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, slot) in regs.r.iter_mut().enumerate() {
            *slot = uc.reg_read(RegisterPPC::R0 as i32 + i as i32)?;
        }
        for (i, slot) in regs.f.iter_mut().enumerate() {
            *slot = uc.reg_read(RegisterPPC::FPR0 as i32 + i as i32)?;
        }
        regs.pc = uc.reg_read(RegisterPPC::PC)?;
        regs.msr = uc.reg_read(RegisterPPC::MSR)?;
        regs.cr = uc.reg_read(RegisterPPC::CR)? as u32;
        regs.lr = uc.reg_read(RegisterPPC::LR)?;
        regs.ctr = uc.reg_read(RegisterPPC::CTR)?;
        regs.xer = uc.reg_read(RegisterPPC::XER)? as u32;
        regs.fpscr = uc.reg_read(RegisterPPC::FPSCR)? as u32;
        Ok(())
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, value) in regs.r.iter().enumerate() {
            uc.reg_write(RegisterPPC::R0 as i32 + i as i32, *value)?;
        }
        for (i, value) in regs.f.iter().enumerate() {
            uc.reg_write(RegisterPPC::FPR0 as i32 + i as i32, *value)?;
        }
        // The MSR stays the process's: gdb cannot switch the CPU's mode.
        uc.reg_write(RegisterPPC::CR, u64::from(regs.cr))?;
        uc.reg_write(RegisterPPC::LR, regs.lr)?;
        uc.reg_write(RegisterPPC::CTR, regs.ctr)?;
        uc.reg_write(RegisterPPC::XER, u64::from(regs.xer))?;
        uc.reg_write(RegisterPPC::FPSCR, u64::from(regs.fpscr))?;
        uc.reg_write(RegisterPPC::PC, regs.pc)
    }
}

impl DebugRegs for S390x {
    type Arch = super::s390x::S390x;
    fn read(uc: &Engine<'_>, regs: &mut <Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        regs.pswm = uc.reg_read(RegisterS390X::PSWM)?;
        regs.pswa = uc.reg_read(RegisterS390X::PC)?;
        for (i, slot) in regs.r.iter_mut().enumerate() {
            *slot = uc.reg_read(RegisterS390X::R0 as i32 + i as i32)?;
        }
        for (i, slot) in regs.acr.iter_mut().enumerate() {
            *slot = uc.reg_read(RegisterS390X::A0 as i32 + i as i32)? as u32;
        }
        regs.fpc = uc.reg_read(RegisterS390X::FPC)? as u32;
        for (i, slot) in regs.f.iter_mut().enumerate() {
            *slot = uc.reg_read(RegisterS390X::F0 as i32 + i as i32)?;
        }
        Ok(())
    }
    fn write(uc: &mut Engine<'_>, regs: &<Self::Arch as Arch>::Registers) -> Result<(), uc_error> {
        for (i, value) in regs.r.iter().enumerate() {
            uc.reg_write(RegisterS390X::R0 as i32 + i as i32, *value)?;
        }
        for (i, value) in regs.acr.iter().enumerate() {
            uc.reg_write(RegisterS390X::A0 as i32 + i as i32, u64::from(*value))?;
        }
        uc.reg_write(RegisterS390X::FPC, u64::from(regs.fpc))?;
        for (i, value) in regs.f.iter().enumerate() {
            uc.reg_write(RegisterS390X::F0 as i32 + i as i32, *value)?;
        }
        // The PSW mask stays the process's: gdb cannot switch the CPU's mode.
        uc.reg_write(RegisterS390X::PC, regs.pswa)
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! aarch64: `svc #0`, number in x8, arguments x0-x5, result in x0, TLS in
//! TPIDR_EL0 (set by the guest itself).

use super::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::{RegisterARM64, RegisterARM64CP};

use super::aarch64_idregs::{emulate_mrs, HWCAP_CPUID};
use super::arm::{fault_event, EXCP_SWI, EXCP_UDEF};
use super::{below, Abi, AbiInfo, SyscallRequest, MMAP_TOP_64};
use crate::abi::types::{encode_stat_generic64, Stat};
use crate::abi::{Errno, Outcome, Sys, SyscallTable};
use crate::arch::{CpuEvent, GuestCpu, SysInstruction, TrapHooks};
use crate::mem::{Encoder, Endian, Fault, Layout, StructBuilder};

pub struct Aarch64;

fn table() -> &'static SyscallTable {
    super::syscall_table!(syscalls::aarch64::Sysno, true)
}

/// x0..x30 (x29 and x30 are apart from the others in the engine's
/// numbering).
pub(super) fn gpr(n: i32) -> i32 {
    match n {
        29 => RegisterARM64::X29.into(),
        30 => RegisterARM64::X30.into(),
        n => x(n),
    }
}

/// The kernel's rt_sigframe: siginfo (128), then ucontext: flags, link,
/// stack, a 128-byte sigmask area, and the 16-aligned sigcontext
/// (fault_address, x0-x30, sp, pc, pstate, 4096 bytes of records).
const UC_SIGMASK: usize = 40;
const MCONTEXT: usize = 176;
const SIGFRAME_SIZE: u64 = 128 + 176 + 288 + 4096;

/// The address accessed by the instruction at `pc` when it is one that
/// must be aligned whatever SCTLR says (load/store exclusive, acquire and
/// release, LSE atomics): all address `[Xn|SP]` with no offset.
fn exclusive_or_atomic_address(uc: &dyn GuestCpu, pc: u64) -> Option<u64> {
    let insn = super::insn_word(uc, pc);
    let exclusive = insn & 0x3f00_0000 == 0x0800_0000;
    let atomic = insn & 0x3f20_0c00 == 0x3820_0000;
    if !(exclusive || atomic) {
        return None;
    }
    let rn = ((insn >> 5) & 31) as i32;
    let base = if rn == 31 {
        RegisterARM64::SP.into()
    } else {
        x(rn)
    };
    uc.reg_read(base).ok()
}

use super::cpu::{A64_PACA as HWCAP_PACA, A64_PACG as HWCAP_PACG};

/// A system register as the engine's CP_REG interface names it
/// (op0, op1, CRn, CRm, op2).
fn sysreg(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> RegisterARM64CP {
    RegisterARM64CP::new()
        .op0(op0)
        .op1(op1)
        .crn(crn)
        .crm(crm)
        .op2(op2)
}

fn write_sysreg(uc: &mut dyn GuestCpu, reg: RegisterARM64CP, value: u64) -> Result<(), ArchError> {
    let reg = reg.val(value);
    uc.write_arm64_sysreg(&reg).engine(format!(
        "write system register {}:{}:c{}:c{}:{}",
        reg.op0, reg.op1, reg.crn, reg.crm, reg.op2
    ))
}

fn read_sysreg(uc: &dyn GuestCpu, reg: RegisterARM64CP) -> u64 {
    let mut reg = reg;
    uc.read_arm64_sysreg(&mut reg).map_or(0, |()| reg.val)
}

const SCTLR_EL1: RegisterARM64CP = RegisterARM64CP::new().op0(3).crn(1);
const TCR_EL1: RegisterARM64CP = RegisterARM64CP::new().op0(3).crn(2).op2(2);
const HCR_EL2: RegisterARM64CP = RegisterARM64CP::new().op0(3).op1(4).crn(1).crm(1);
const SCR_EL3: RegisterARM64CP = RegisterARM64CP::new().op0(3).op1(6).crn(1).crm(1);
/// SCTLR_EL1.EnIA, EnIB, EnDA, EnDB: the four address keys in use.
const SCTLR_EN_KEYS: u64 = 1 << 31 | 1 << 30 | 1 << 27 | 1 << 13;
/// CPACR_EL1 (ZEN: SVE not trapped at EL0 and EL1), CPTR_EL3 (EZ: not
/// trapped to EL3) and the three ZCR_ELx, whose smallest LEN sets the
/// vector length.
const CPACR_EL1: RegisterARM64CP = RegisterARM64CP::new().op0(3).crn(1).op2(2);
const CPTR_EL3: RegisterARM64CP = RegisterARM64CP::new().op0(3).op1(6).crn(1).crm(1).op2(2);
const CPACR_ZEN: u64 = 3 << 16;
const CPTR_EZ: u64 = 1 << 8;
const ZCR_ELX: [RegisterARM64CP; 3] = [
    RegisterARM64CP::new().op0(3).crn(1).crm(2),
    RegisterARM64CP::new().op0(3).op1(4).crn(1).crm(2),
    RegisterARM64CP::new().op0(3).op1(6).crn(1).crm(2),
];
/// The vector length a process starts with: 64 bytes (ZCR LEN 3), Linux's
/// default (`/proc/sys/abi/sve_default_vector_length`).
const SVE_DEFAULT_LEN: u64 = 3;

/// Lets the process execute SVE instructions, as Linux does on a CPU that
/// has them, at Linux's default vector length. AT_HWCAP does not announce
/// SVE (so glibc keeps its non-SVE string functions): programs built for
/// SVE run instead of dying of SIGILL.
fn enable_sve(uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
    let value = read_sysreg(uc, CPTR_EL3) | CPTR_EZ;
    write_sysreg(uc, CPTR_EL3, value)?;
    let value = read_sysreg(uc, CPACR_EL1) | CPACR_ZEN;
    write_sysreg(uc, CPACR_EL1, value)?;
    for zcr in ZCR_ELX {
        write_sysreg(uc, zcr, SVE_DEFAULT_LEN)?;
    }
    Ok(())
}

/// SCTLR_EL1.BT0 and BT1: `paciasp` and `pacibsp` accept only branches
/// that BTI's "call" rules accept, at EL0 and at EL1 (Linux sets both).
const SCTLR_BT0_BT1: u64 = 3 << 35;
/// AT_HWCAP2's BTI bit.
pub(crate) const HWCAP2_BTI: u64 = 1 << 17;
/// mmap and mprotect's PROT_BTI: guarded pages.
const PROT_BTI: u64 = 0x10;
/// TCR_EL1.TBI0: the top byte of a user address is ignored (a tag), as
/// Linux sets it; pointer authentication codes then sit in bits 54..48.
const TCR_TBI0: u64 = 1 << 37;
/// HCR_EL2.RW (EL1 is AArch64), APK and API (key registers and pac/aut
/// instructions not trapped).
const HCR_RW_APK_API: u64 = 1 << 31 | 1 << 40 | 1 << 41;
/// SCR_EL3.NS, RW, APK and API. Non-secure: the engine ignores HCR_EL2 in
/// the secure state and would trap every pac/aut instruction to EL2.
const SCR_NS_RW_APK_API: u64 = 1 | 1 << 10 | 1 << 16 | 1 << 17;

/// The pointer authentication keys, in PR_PAC_RESET_KEYS bit order (APIA,
/// APIB, APDA, APDB, APGA): each a (Lo, Hi) pair of system registers.
fn key_registers(key: usize) -> [RegisterARM64CP; 2] {
    // APIAKeyLo_EL1 is S3_0_C2_C1_0; APIB follows at op2 2, APDA and APDB
    // in CRm 2, APGA in CRm 3.
    let (crm, op2) = [(1, 0), (1, 2), (2, 0), (2, 2), (3, 0)][key];
    [sysreg(3, 0, 2, crm, op2), sysreg(3, 0, 2, crm, op2 + 1)]
}

/// All five keys (PR_PAC_RESET_KEYS' APIA | APIB | APDA | APDB | APGA).
const PAC_ALL_KEYS: u64 = 0x1f;

/// Gives the keys of `mask` new random values.
fn reset_pac_keys(uc: &mut dyn GuestCpu, mask: u64) -> Result<(), ArchError> {
    for key in (0..5).filter(|k| mask & 1 << k != 0) {
        let mut bytes = [0u8; 16];
        crate::host::fill_random(&mut bytes).map_err(|e| {
            ArchError::Host(format!(
                "no random bytes for the pointer authentication keys: {e}"
            ))
        })?;
        let [lo, hi] = key_registers(key);
        write_sysreg(uc, lo, u64::from_le_bytes(bytes[..8].try_into().unwrap()))?;
        write_sysreg(uc, hi, u64::from_le_bytes(bytes[8..].try_into().unwrap()))?;
    }
    Ok(())
}

/// Turns pointer authentication on as Linux does for a process: every key
/// enabled, random keys (a new program gets new ones; fork and threads
/// keep them: they are part of the CPU state), tagged user addresses.
fn enable_pointer_authentication(uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
    let value = read_sysreg(uc, SCR_EL3) | SCR_NS_RW_APK_API;
    write_sysreg(uc, SCR_EL3, value)?;
    let value = read_sysreg(uc, HCR_EL2) | HCR_RW_APK_API;
    write_sysreg(uc, HCR_EL2, value)?;
    let value = read_sysreg(uc, TCR_EL1) | TCR_TBI0;
    write_sysreg(uc, TCR_EL1, value)?;
    let value = read_sysreg(uc, SCTLR_EL1) | SCTLR_EN_KEYS;
    write_sysreg(uc, SCTLR_EL1, value)?;
    reset_pac_keys(uc, PAC_ALL_KEYS)
}

const PR_PAC_RESET_KEYS: u64 = 54;

/// prctl(PR_PAC_RESET_KEYS, keys, 0, 0, 0): new random values for the
/// calling thread's `keys` (all five when 0).
fn pac_reset_keys(uc: &mut dyn GuestCpu, args: &[u64; 6]) -> Outcome {
    let mask = if args[1] == 0 { PAC_ALL_KEYS } else { args[1] };
    if mask & !PAC_ALL_KEYS != 0 || args[2..5].iter().any(|&a| a != 0) {
        return Outcome::Error(Errno::EINVAL);
    }
    if uc.facts().hwcap & (HWCAP_PACA | HWCAP_PACG) == 0 {
        return Outcome::Error(Errno::EINVAL);
    }
    match reset_pac_keys(uc, mask) {
        Ok(()) => Outcome::Value(0),
        Err(_) => Outcome::Error(Errno(libc::EIO)),
    }
}

/// PSTATE.BTYPE (bits 11:10): the kind of the last indirect branch, which
/// a guarded page's instruction there must accept.
const PSTATE_BTYPE: u64 = 3 << 10;
/// BTYPE after a call through a register (`blr`).
const BTYPE_C: u64 = 2 << 10;

/// The PSTATE a signal frame saves: the flags and BTYPE (the rest is
/// EL0t's zeros).
fn saved_pstate(uc: &dyn GuestCpu) -> u64 {
    let flags = uc.reg_read(RegisterARM64::NZCV).unwrap_or(0) & 0xf000_0000;
    flags | uc.reg_read(RegisterARM64::PSTATE).unwrap_or(0) & PSTATE_BTYPE
}

/// Sets PSTATE.BTYPE to `btype` (already in place, bits 11:10).
fn set_btype(uc: &mut dyn GuestCpu, btype: u64) {
    if let Ok(pstate) = uc.reg_read(RegisterARM64::PSTATE) {
        let _ = uc.reg_write(RegisterARM64::PSTATE, pstate & !PSTATE_BTYPE | btype);
    }
}

/// SCTLR_EL1 bits Linux sets for user space: UCI (cache maintenance by
/// address), nTWE and nTWI (wfe/wfi do not trap), UCT (CTR_EL0), DZE
/// (`dc zva`), SA0 (SP alignment checked at EL0).
const SCTLR_EL0_ACCESS: u64 = 1 << 26 | 1 << 18 | 1 << 16 | 1 << 15 | 1 << 14 | 1 << 4;
/// CNTKCTL_EL1.EL0VCTEN: the virtual counter readable at EL0.
const CNTKCTL_EL1: RegisterARM64CP = RegisterARM64CP::new().op0(3).crn(14).crm(1);
const CNTKCTL_EL0VCTEN: u64 = 1 << 1;

/// Puts the CPU at EL0 (PSTATE EL0t), where Linux runs a process, with
/// what Linux lets EL0 use: a privileged instruction or system register
/// then traps as on Linux (SIGILL, or the ID register emulation).
fn run_at_el0(uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
    let value = read_sysreg(uc, CNTKCTL_EL1) | CNTKCTL_EL0VCTEN;
    write_sysreg(uc, CNTKCTL_EL1, value)?;
    let pstate = uc.reg_read(RegisterARM64::PSTATE).unwrap_or(0);
    uc.reg_write(RegisterARM64::PSTATE, pstate & !0x1f)
        .engine("set PSTATE to EL0t")?;
    // Last: a system register write rebuilds the engine's cached CPU
    // state (its current EL among it); a PSTATE write alone does not.
    let value = read_sysreg(uc, SCTLR_EL1) | SCTLR_EL0_ACCESS;
    write_sysreg(uc, SCTLR_EL1, value)
}

fn x(n: i32) -> i32 {
    // X0..X28 are consecutive in Unicorn's numbering.
    RegisterARM64::X0 as i32 + n
}

const INFO: AbiInfo = AbiInfo {
    name: "aarch64",
    elf_machine: goblin::elf::header::EM_AARCH64,
    is_64bit: true,
    endian: Endian::Little,
    unicorn: (Arch::ARM64, Mode::ARM),
    layout: Layout {
        mmap_top: MMAP_TOP_64,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0x7fff_ffff_f000,
    pie_base: 0x55_5555_0000,
    platform: "aarch64",
    uname_machine: "aarch64",
    pipe_second_result: None,
    kernel: KernelAbi {
        min_signal_stack: 5120,
        open_flags: super::ARM_OPEN_FLAGS,
        prot_guarded: PROT_BTI,
        ..KernelAbi::GENERIC
    },
    regs: super::ThreadRegs {
        result: RegisterARM64::X0 as i32,
        sp: RegisterARM64::SP as i32,
        pc: RegisterARM64::PC as i32,
        tls: RegisterARM64::TPIDR_EL0 as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::TlsBeforeCtid,
    cpus: &Aarch64,
    frames: &Aarch64,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: false,
        icache_instruction: true,
        coherent_icache: false,
    },
};

impl Abi for Aarch64 {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }

    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        // "max" by default: LSE atomics (ldadd, cas) and pointer
        // authentication need more than the engine's default A72 model.
        let cpu = uc.model();
        uc.set_engine_model(cpu.id)
            .engine(format!("select the aarch64 CPU model {}", cpu.name))?;
        // 4 KiB engine pages, as Linux uses, instead of the engine's 1 KiB
        // default: a quarter of the TLB fills on memory sweeps.
        uc.set_engine_page_size(4096)
            .engine("set the engine's page size")?;
        if uc.facts().hwcap & HWCAP_PACA != 0 {
            enable_pointer_authentication(uc)?;
        }
        if uc.model() == super::CpuSupport::default_cpu(self) {
            enable_sve(uc)?;
        }
        if uc.facts().hwcap2 & HWCAP2_BTI != 0 {
            // As Linux: BR into a `paciasp` on a guarded page is refused
            // unless through x16 or x17.
            let value = read_sysreg(uc, SCTLR_EL1) | SCTLR_BT0_BT1;
            write_sysreg(uc, SCTLR_EL1, value)?;
        }
        Ok(())
    }

    /// `ic ivau, Xt` (SYS #3, C7, C5, #1): the instruction cache line
    /// holding Xt. The engine's CPU models report 64-byte lines
    /// (CTR_EL0.IminLine 4), which is how far the guest steps.
    fn icache_flush(&self, sys: &SysInstruction) -> Option<(u64, u64)> {
        const LINE: u64 = 64;
        let ic_ivau = (sys.op0, sys.op1, sys.crn, sys.crm, sys.op2) == (1, 3, 7, 5, 1);
        ic_ivau.then_some((sys.value & !(LINE - 1), LINE))
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        if intno == EXCP_SWI {
            return CpuEvent::Syscall;
        }
        let pc = uc.reg_read(RegisterARM64::PC).unwrap_or(0);
        if intno == EXCP_UDEF && emulate_mrs(uc, pc) {
            return CpuEvent::Handled;
        }
        let misaligned = Aarch64.misaligned_pc(uc);
        fault_event(uc, intno, pc, misaligned, || {
            exclusive_or_atomic_address(uc, pc)
        })
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        for n in 0..=28 {
            uc.reg_write(x(n), 0).engine(format!("set x{n}"))?;
        }
        uc.reg_write(RegisterARM64::SP, sp).engine("set sp")?;
        uc.reg_write(RegisterARM64::PC, entry).engine("set pc")?;
        run_at_el0(uc)
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let r = |n: i32| uc.reg_read(x(n)).unwrap_or(0);
        SyscallRequest {
            nr: r(8),
            args: [r(0), r(1), r(2), r(3), r(4), r(5)],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        let _ = uc.reg_write(x(0), ret as u64);
    }

    fn arch_syscall(
        &self,
        uc: &mut dyn GuestCpu,
        _nr: u64,
        sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome> {
        (sys == Some(Sys::prctl) && args[0] == PR_PAC_RESET_KEYS).then(|| pac_reset_keys(uc, args))
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterARM64::PC).unwrap_or(0)
    }

    fn m5op(&self, uc: &dyn GuestCpu) -> Option<super::M5Op> {
        let func = super::m5op_encoding::aarch64(super::insn_word(uc, self.pc(uc)))?;
        let r = |n| uc.reg_read(x(n)).unwrap_or(0);
        Some(super::M5Op {
            func,
            args: [r(0), r(1)],
            len: 4,
        })
    }

    fn misaligned_pc(&self, uc: &dyn GuestCpu) -> bool {
        self.pc(uc) & 3 != 0
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        let mut out = String::new();
        for n in 0..=28 {
            let v = uc.reg_read(x(n)).unwrap_or(0);
            out.push_str(&format!("x{n:<2}={v:016x}"));
            out.push(if n % 4 == 3 { '\n' } else { ' ' });
        }
        for (name, reg) in [
            ("fp", RegisterARM64::X29),
            ("lr", RegisterARM64::X30),
            ("sp", RegisterARM64::SP),
            ("pc", RegisterARM64::PC),
        ] {
            out.push_str(&format!("{name}={:016x} ", uc.reg_read(reg).unwrap_or(0)));
        }
        out.trim_end().to_string()
    }

    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        encode_stat_generic64(st, enc)
    }
}

impl super::CpuSupport for Aarch64 {
    fn models(&self) -> &'static [super::cpu::CpuModel] {
        super::cpu::AARCH64
    }
    fn default_cpu(&self) -> super::cpu::Cpu {
        &super::cpu::AARCH64[super::cpu::AARCH64_DEFAULT]
    }
    fn facts(&self, cpu: super::cpu::Cpu) -> Result<super::cpu::CpuFacts, ArchError> {
        // The engine's "max" has BTI (ID_AA64PFR1_EL1.BT); the Cortex
        // models are ARMv8.0.
        let max = cpu == self.default_cpu();
        Ok(super::cpu::CpuFacts {
            // Every arm64 Linux emulates EL0 reads of the ID registers.
            hwcap: cpu.hwcap | HWCAP_CPUID,
            hwcap2: if max { HWCAP2_BTI } else { 0 },
            ..Default::default()
        })
    }
    fn cpuinfo(&self, cpu: super::cpu::Cpu, facts: &super::cpu::CpuFacts) -> String {
        super::cpuinfo::aarch64(facts.hwcap, facts.hwcap2, cpu.ident)
    }
}

impl super::SignalFrames for Aarch64 {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &super::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        // rt_sigframe (siginfo, ucontext), then a frame record {fp, lr}.
        let size = SIGFRAME_SIZE + 16;
        let frame = below(f.sp, size)? & !15;
        let record = frame + SIGFRAME_SIZE;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(size as usize, enc);
        b.bytes_at(0, f.info);
        let u = 128;
        b.u64(u + 16, f.altstack.sp)
            .u32(u + 24, f.altstack.flags)
            .u64(u + 32, f.altstack.size)
            .u64(u + UC_SIGMASK, f.saved_mask);
        let mc = u + MCONTEXT;
        b.u64(mc, f.fault.map_or(0, |(addr, _)| addr));
        for n in 0..31 {
            b.u64(mc + 8 + 8 * n as usize, uc.reg_read(gpr(n)).unwrap_or(0));
        }
        b.u64(mc + 256, uc.reg_read(RegisterARM64::SP).unwrap_or(0))
            .u64(mc + 264, self.pc(uc))
            .u64(mc + 272, saved_pstate(uc));
        // __reserved holds only the terminating record: the FP/SIMD state
        // stays with ht-user (see `delivery`).
        b.u64(
            SIGFRAME_SIZE as usize,
            uc.reg_read(RegisterARM64::X29).unwrap_or(0),
        )
        .u64(
            SIGFRAME_SIZE as usize + 8,
            uc.reg_read(RegisterARM64::X30).unwrap_or(0),
        );
        uc.mem_mut().write(frame, &b.bytes)?;
        let set = |uc: &mut dyn GuestCpu, r: i32, v: u64| {
            let _ = uc.reg_write(r, v);
        };
        set(uc, x(0), f.sig);
        set(uc, x(1), frame);
        set(uc, x(2), frame + u as u64);
        set(uc, RegisterARM64::SP.into(), frame);
        set(uc, RegisterARM64::X29.into(), record);
        set(uc, RegisterARM64::X30.into(), f.return_to);
        set(uc, RegisterARM64::PC.into(), f.handler);
        // A handler on a guarded page must start with a `bti c` (or
        // `paciasp`): Linux enters it as a call through a register.
        set_btype(uc, BTYPE_C);
        Ok((frame, f.handler))
    }
    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        _rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let raw = uc.mem().read_vec(frame, SIGFRAME_SIZE as usize)?;
        let word = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().unwrap());
        let mc = 128 + MCONTEXT;
        for n in 0..31 {
            let _ = uc.reg_write(gpr(n), word(mc + 8 + 8 * n as usize));
        }
        let pc = word(mc + 264);
        let _ = uc.reg_write(RegisterARM64::SP, word(mc + 256));
        let _ = uc.reg_write(RegisterARM64::PC, pc);
        let pstate = word(mc + 272);
        let _ = uc.reg_write(RegisterARM64::NZCV, pstate & 0xf000_0000);
        // Linux keeps a valid EL0t PSTATE (mode and nRW 0) as the handler
        // left it, BTYPE included, and any other as its flags alone.
        let btype = if pstate & 0x1f == 0 {
            pstate & PSTATE_BTYPE
        } else {
            0
        };
        set_btype(uc, btype);
        Ok((word(128 + UC_SIGMASK), pc))
    }
    fn sigreturn_code(&self, _rt: bool) -> Vec<u32> {
        // mov x8, #139 (rt_sigreturn); svc #0
        vec![0xd280_1168, 0xd400_0001]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(op1: u32, crn: u32, crm: u32, op2: u32, value: u64) -> SysInstruction {
        SysInstruction {
            op0: 1,
            op1,
            crn,
            crm,
            op2,
            value,
        }
    }

    #[test]
    fn only_ic_ivau_flushes_code_and_a_whole_line() {
        // ic ivau, x0
        assert_eq!(
            Aarch64.icache_flush(&sys(3, 7, 5, 1, 0x40_1234)),
            Some((0x40_1200, 64))
        );
        // dc zva (memset's), dc cvau (before ic ivau), dc civac
        for (op1, crn, crm, op2) in [(3, 7, 4, 1), (3, 7, 11, 1), (3, 7, 14, 1)] {
            assert_eq!(Aarch64.icache_flush(&sys(op1, crn, crm, op2, 0x1000)), None);
        }
    }
}

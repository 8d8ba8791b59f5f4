// SPDX-License-Identifier: GPL-2.0-or-later
//! mipsel (o32): `syscall`, number in v0, arguments a0-a3 then the stack
//! (sp+16, sp+20), result in v0 with the error flag in a3 and a positive
//! errno of MIPS's own numbering. Flags, signals and ioctls have MIPS values;
//! TLS lives in UserLocal, read by `rdhwr $29` (emulated when the CPU
//! model lacks it, as the Linux kernel does).

use crate::arch::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterMIPS;

use crate::abi::types::Stat;
use crate::abi::{Errno, Outcome, Sys, SyscallTable};
use crate::arch::{below, Abi, AbiInfo, SyscallRequest, Trap, TLB_STAGGER};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{Encoder, Endian, Fault, Layout, StructBuilder};

mod frames;
pub(crate) mod numbers;

use numbers::*;

pub struct Mipsel;

const EXCP_SYSCALL: u32 = 17;
const EXCP_BREAK: u32 = 18;
const EXCP_RI: u32 = 20;
const EXCP_OVERFLOW: u32 = 21;
const EXCP_TRAP: u32 = 22;
const EXCP_FPE: u32 = 23;
const EXCP_ADEL: u32 = 12;
const EXCP_ADES: u32 = 13;
/// Status.CU1: the FPU is usable.
const STATUS_CU1: u64 = 1 << 29;
/// CP0 Status MX: the DSP ASE enabled (it takes effect only on a CPU model
/// that has it, `-cpu 74Kf`); Linux enables it for every process there.
const STATUS_MX: u64 = 1 << 24;

/// ELF header flags (e_flags) of MIPS programs.
const EF_MIPS_ABI2: u32 = 0x20;
const EF_MIPS_NAN2008: u32 = 0x400;
const EF_MIPS_ABI: u32 = 0xf000;
const EF_MIPS_ABI_O32: u32 = 0x1000;
const EF_MIPS_ARCH: u32 = 0xf000_0000;
const EF_MIPS_ARCH_32R6: u32 = 0x9000_0000;

fn table() -> &'static SyscallTable {
    crate::arch::syscall_table!(syscalls::mips::Sysno, false)
}

/// The address a misaligned load or store used: base register plus the
/// signed 16-bit offset of the I-type instruction at pc (or in the delay
/// slot after it, when pc is the branch), within `addr_mask`.
fn misaligned_address(uc: &dyn GuestCpu, addr_mask: u64) -> Option<u64> {
    let pc = uc.reg_read(RegisterMIPS::PC).unwrap_or(0);
    // Loads and stores (0x3f: the 64-bit sd).
    let is_memory_op = |insn: u32| matches!(insn >> 26, 0x20..=0x2e | 0x30..=0x3f);
    let insn = [pc, pc + 4]
        .into_iter()
        .map(|at| crate::arch::insn_word(uc, at))
        .find(|&i| is_memory_op(i))?;
    let base = uc.reg_read(r(((insn >> 21) & 31) as i32)).ok()?;
    let offset = i64::from(insn as u16 as i16);
    Some((base as i64).wrapping_add(offset) as u64 & addr_mask)
}

pub(crate) const fn r(n: i32) -> i32 {
    RegisterMIPS::R0 as i32 + n
}

pub(crate) const V0: i32 = 2;
pub(crate) const V1: i32 = 3;
pub(crate) const A0: i32 = 4;
pub(crate) const A3: i32 = 7;
pub(crate) const T9: i32 = 25;
pub(crate) const SP: i32 = 29;
pub(crate) const RA: i32 = 31;

/// `rdhwr $rt, $29`: the TLS read user code issues.
fn rdhwr_ulr_target(insn: u32) -> Option<i32> {
    (insn & 0xffe0_ffff == 0x7c00_e83b).then_some(((insn >> 16) & 0x1f) as i32)
}

const INFO: AbiInfo = AbiInfo {
    name: "mipsel",
    elf_machine: goblin::elf::header::EM_MIPS,
    is_64bit: false,
    endian: Endian::Little,
    unicorn: (Arch::MIPS, Mode::MIPS32),
    layout: Layout {
        mmap_top: 0x7000_0000 - TLB_STAGGER,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0x7fff_0000,
    pie_base: 0x5555_0000,
    platform: "mips",
    uname_machine: "mips",
    pipe_second_result: Some(r(V1)),
    kernel: KernelAbi {
        // flags, handler, then a 128-signal mask.
        sigaction_size: 24,
        sigaction_layout: Some(crate::arch::SigactionLayout {
            handler: 4,
            flags: 0,
            flags_size: 4,
            restorer: None,
            mask: 8,
        }),
        sa_siginfo: 8,
        trap_si_code: crate::abi::signal::SI_KERNEL,
        ill_si_code: crate::abi::signal::SI_KERNEL,
        has_legacy_frame: true,
        stack_t_size_first: true,
        sigset_size: 16,
        siginfo_code_first: true,
        // SI_ASYNCIO, SI_TIMER and SI_MESGQ are -2, -3, -4 on MIPS.
        si_timer: -3,
        signals: SIGNALS,
        // SIG_BLOCK is 1 on MIPS, SIG_UNBLOCK 2, SIG_SETMASK 3.
        sig_block: 1,
        rlimits: RLIMITS,
        open_flags: OPEN_FLAGS,
        mmap_flags: MMAP_FLAGS,
        ioctls: Some(IOCTLS),
        fcntl_cmds: FCNTL_CMDS,
        socket_types: SOCKET_TYPES,
        sol_socket: Some((MIPS_SOL_SOCKET, SOCKOPTS)),
        ipc_layout: crate::arch::IpcLayout::Mips32,
        ipc_parse_version: true,
        // SHMLBA is 256 KiB (the largest cache alias), enforced.
        shmlba: (0x4_0000, true),
        // o32 aligns 64-bit arguments to an even slot.
        pairs_aligned: true,
        ..KernelAbi::GENERIC
    },
    // result: thread_start below also clears the a3 error flag.
    regs: crate::arch::ThreadRegs {
        result: RegisterMIPS::V0 as i32,
        sp: RegisterMIPS::SP as i32,
        pc: RegisterMIPS::PC as i32,
        tls: RegisterMIPS::CP0_USERLOCAL as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::TlsBeforeCtid,
    cpus: &Mipsel,
    frames: &Mipsel,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: false,
        icache_instruction: false,
        coherent_icache: false,
    },
};

impl Abi for Mipsel {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }
    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        let cpu = uc.model();
        uc.set_engine_model(cpu.id)
            .engine(format!("select the MIPS CPU model {}", cpu.name))?;
        Ok(())
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        exception(uc, intno, WORD)
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        init_registers(uc, entry, sp, 0)
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let reg = |n: i32| uc.reg_read(r(n)).unwrap_or(0) & 0xffff_ffff;
        let sp = reg(SP);
        let mem = uc.mem();
        let stack = |off: u64| mem.read_u32(sp + off).map(u64::from).unwrap_or(0);
        SyscallRequest {
            nr: reg(V0),
            args: [
                reg(A0),
                reg(A0 + 1),
                reg(A0 + 2),
                reg(A3),
                stack(16),
                stack(20),
            ],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        write_syscall_result(uc, ret, WORD);
    }

    fn arch_syscall(
        &self,
        uc: &mut dyn GuestCpu,
        _nr: u64,
        sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome> {
        arch_syscall(uc, sys, args, WORD, 0x8000_0000)
    }

    fn thread_start(
        &self,
        uc: &mut dyn GuestCpu,
        stack: u64,
        tls: Option<u64>,
    ) -> Result<(), ArchError> {
        thread_start(uc, stack, tls, WORD)
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterMIPS::PC).unwrap_or(0)
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        let mut out = String::new();
        for n in 0..32 {
            out.push_str(&format!("${n:<2}={:08x}", uc.reg_read(r(n)).unwrap_or(0)));
            out.push(if n % 8 == 7 { '\n' } else { ' ' });
        }
        out.push_str(&format!("pc={:08x}", self.pc(uc)));
        out
    }

    /// o32 `struct statfs64` (96 bytes): MIPS puts the fragment size
    /// third and the free-inode counts before `f_bavail`.
    fn encode_statfs64(&self, s: &crate::abi::types::StatFs, enc: Encoder) -> Option<Vec<u8>> {
        let mut b = StructBuilder::new(96, enc);
        b.u32(0, s.fs_type as u32)
            .u32(4, s.bsize as u32)
            .u32(8, s.frsize as u32)
            .u64(16, s.blocks)
            .u64(24, s.bfree)
            .u64(32, s.files)
            .u64(40, s.ffree)
            .u64(48, s.bavail)
            .u32(56, s.fsid[0] as u32)
            .u32(60, s.fsid[1] as u32)
            .u32(64, s.namelen as u32)
            .u32(68, s.flags as u32);
        Some(b.bytes)
    }

    /// o32 `struct stat64` (104 bytes).
    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        encode_mips_stat(st, enc)
    }
}

/// o32 `struct stat64`, which n64's `struct stat` repeats (104 bytes).
pub(crate) fn encode_mips_stat(st: &Stat, enc: Encoder) -> Vec<u8> {
    let mut b = StructBuilder::new(104, enc);
    b.u32(0, st.dev as u32)
        .u64(16, st.ino)
        .u32(24, st.mode)
        .u32(28, st.nlink as u32)
        .u32(32, st.uid)
        .u32(36, st.gid)
        .u32(40, st.rdev as u32)
        .u64(56, st.size as u64)
        .u32(64, st.atime.0 as u32)
        .u32(68, st.atime.1 as u32)
        .u32(72, st.mtime.0 as u32)
        .u32(76, st.mtime.1 as u32)
        .u32(80, st.ctime.0 as u32)
        .u32(84, st.ctime.1 as u32)
        .u32(88, st.blksize as u32)
        .u64(96, st.blocks as u64);
    b.bytes
}

impl crate::arch::CpuSupport for Mipsel {
    fn models(&self) -> &'static [crate::arch::cpu::CpuModel] {
        crate::arch::cpu::MIPS32
    }
    fn default_cpu(&self) -> crate::arch::cpu::Cpu {
        &crate::arch::cpu::MIPS32[crate::arch::cpu::MIPS32_DEFAULT]
    }
    /// As qemu-user chooses: a MIPS32 release 6 program gets the r6
    /// model (r6 re-encodes instructions), one built for IEEE 754-2008
    /// NaNs a model with them (P5600).
    fn default_cpu_for(&self, flags: u32) -> crate::arch::cpu::Cpu {
        let named = |name: &str| {
            crate::arch::cpu::MIPS32
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| self.default_cpu())
        };
        if flags & EF_MIPS_ARCH == EF_MIPS_ARCH_32R6 {
            named("mips32r6-generic")
        } else if flags & EF_MIPS_NAN2008 != 0 {
            named("P5600")
        } else {
            self.default_cpu()
        }
    }
    /// Linux's o32 check: no n32 (EF_MIPS_ABI2), and an ABI field of o32
    /// or none (old toolchains left it 0).
    fn check_elf_flags(&self, flags: u32) -> Result<(), ArchError> {
        if flags & EF_MIPS_ABI2 != 0 {
            return Err(ArchError::Unsupported(
                "a MIPS n32 program (EF_MIPS_ABI2); ht-user runs o32 programs".into(),
            ));
        }
        match flags & EF_MIPS_ABI {
            0 | EF_MIPS_ABI_O32 => Ok(()),
            abi => Err(ArchError::Unsupported(format!(
                "a MIPS program of ABI {} (e_flags {flags:#x}); ht-user runs o32 programs",
                match abi {
                    0x2000 => "o64".to_string(),
                    0x3000 => "EABI32".to_string(),
                    0x4000 => "EABI64".to_string(),
                    other => format!("{other:#x}"),
                }
            ))),
        }
    }
    fn cpuinfo(&self, cpu: crate::arch::cpu::Cpu, _facts: &crate::arch::cpu::CpuFacts) -> String {
        crate::arch::cpuinfo::mips(cpu.name)
    }
}

/// o32's registers: 32 bits of the engine's.
const WORD: u64 = 0xffff_ffff;

// What o32 and n64 (mips64el) share, for registers of `word` (the mask of
// the ABI's register width).

/// An exception as Linux answers it on MIPS.
pub(crate) fn exception(uc: &mut dyn GuestCpu, intno: u32, word: u64) -> CpuEvent {
    match intno {
        EXCP_SYSCALL => CpuEvent::Syscall,
        EXCP_RI if emulate_rdhwr(uc) => CpuEvent::Handled,
        EXCP_BREAK | EXCP_TRAP => CpuEvent::Trap(Trap::at_pc(locate_trap(
            uc,
            intno == EXCP_BREAK,
            word == u64::MAX,
        ))),
        EXCP_ADEL | EXCP_ADES => CpuEvent::Trap(Trap {
            signal: libc::SIGBUS,
            addr: misaligned_address(uc, word),
            vector: None,
            code: None,
        }),
        other => CpuEvent::Trap(Trap::at_pc(match other {
            EXCP_RI => libc::SIGILL,
            EXCP_OVERFLOW | EXCP_FPE => libc::SIGFPE,
            _ => libc::SIGSEGV,
        })),
    }
}

/// The start state: the FPU, the DSP ASE and `status` (n64: Status.FR),
/// cleared registers, sp, t9 and pc at the entry; the clean engine state
/// delay slots are left through is saved.
pub(crate) fn init_registers(
    uc: &mut dyn GuestCpu,
    entry: u64,
    sp: u64,
    status: u64,
) -> Result<(), ArchError> {
    let now = uc.reg_read(RegisterMIPS::CP0_STATUS).unwrap_or(0);
    uc.reg_write(
        RegisterMIPS::CP0_STATUS,
        now | STATUS_CU1 | STATUS_MX | status,
    )
    .engine("enable the FPU and DSP")?;
    for n in 1..32 {
        uc.reg_write(r(n), 0).engine(format!("set ${n}"))?;
    }
    uc.reg_write(r(SP), sp).engine("set sp")?;
    // PIC start code expects its own address in t9.
    uc.reg_write(r(T9), entry).engine("set t9")?;
    uc.reg_write(RegisterMIPS::PC, entry).engine("set pc")?;
    let clean = uc.save_state().engine("save the initial CPU state")?;
    uc.slot().clean_context = Some(clean);
    Ok(())
}

/// v0 and the a3 error flag, with MIPS's errno.
pub(crate) fn write_syscall_result(uc: &mut dyn GuestCpu, ret: i64, word: u64) {
    let (v0, err) = if (-4095..0).contains(&ret) {
        (mips_errno(-ret as i32) as u64, 1)
    } else {
        (ret as u64 & word, 0)
    };
    let _ = uc.reg_write(r(V0), v0);
    let _ = uc.reg_write(r(A3), err);
}

/// set_thread_area and cacheflush, for a user address space ending at
/// `user_top`.
pub(crate) fn arch_syscall(
    uc: &mut dyn GuestCpu,
    sys: Option<Sys>,
    args: &[u64; 6],
    word: u64,
    user_top: u64,
) -> Option<Outcome> {
    match sys {
        Some(Sys::set_thread_area) => {
            let _ = uc.reg_write(RegisterMIPS::CP0_USERLOCAL, args[0]);
            Some(Outcome::Value(0))
        }
        // cacheflush(addr, nbytes, cache): the translations of code
        // written where the engine's store checks do not see it go.
        Some(Sys::cacheflush) => {
            let (addr, len) = (args[0] & word, args[1] & word);
            if addr.checked_add(len).is_none_or(|end| end > user_top) {
                return Some(Outcome::Error(Errno::EFAULT));
            }
            uc.mem_mut().invalidate_code(addr, len);
            Some(Outcome::Value(0))
        }
        _ => None,
    }
}

/// A new thread: clone's result 0 (a3 clear), its stack and UserLocal.
pub(crate) fn thread_start(
    uc: &mut dyn GuestCpu,
    stack: u64,
    tls: Option<u64>,
    word: u64,
) -> Result<(), ArchError> {
    write_syscall_result(uc, 0, word);
    if stack != 0 {
        uc.reg_write(r(SP), stack).engine("set sp")?;
    }
    if let Some(tls) = tls {
        uc.reg_write(RegisterMIPS::CP0_USERLOCAL, tls)
            .engine("set UserLocal")?;
    }
    Ok(())
}

/// Whether the instruction at `pc` is in the delay slot of a branch or
/// jump, by the instruction before it: where a fault or trap leaves the
/// engine with its delay-slot state set. (Nothing jumps into a delay
/// slot, and other stops are at block boundaries, never inside a slot.)
pub(crate) fn in_delay_slot(uc: &dyn GuestCpu, pc: u64) -> bool {
    let Ok(insn) = uc.mem().read_u32(pc.wrapping_sub(4)) else {
        return false;
    };
    let (op, rs, rt) = (insn >> 26, (insn >> 21) & 31, (insn >> 16) & 31);
    match op {
        // jr, jalr
        0 => matches!(insn & 0x3f, 0x08 | 0x09),
        // bltz, bgez and their likely and linking forms
        1 => matches!(rt, 0..=3 | 0x10..=0x13),
        // j, jal, beq, bne, blez, bgtz and the likely forms
        2..=7 | 0x14..=0x17 => true,
        // bc1f/bc1t, bc2f/bc2t and likely forms
        0x11 | 0x12 => rs == 8,
        _ => false,
    }
}

/// Clears the engine's delay-slot state (which no register holds) by
/// going back to the state saved at process start and putting back the
/// registers a process can change; the caller sets the pc.
pub(crate) fn leave_delay_slot(uc: &mut dyn GuestCpu) {
    let Some(clean) = uc.slot().clean_context.take() else {
        return;
    };
    let mut ids: Vec<i32> = (1..32).map(r).collect();
    ids.extend((0..32).map(|n| RegisterMIPS::F0 as i32 + n));
    ids.extend(
        [
            RegisterMIPS::HI,
            RegisterMIPS::LO,
            RegisterMIPS::FCSR,
            RegisterMIPS::CP0_USERLOCAL,
        ]
        .map(i32::from),
    );
    let values: Vec<u64> = ids.iter().map(|&id| uc.reg_read(id).unwrap_or(0)).collect();
    let _ = uc.restore_state(&clean);
    for (id, v) in ids.into_iter().zip(values) {
        let _ = uc.reg_write(id, v);
    }
    uc.slot().clean_context = Some(clean);
}

/// A trap or break exception at the pc (the engine keeps the pc of the
/// instruction that raised it): the signal for its code, Linux's SIGFPE
/// for the overflow and divide-by-zero codes compilers use, else SIGTRAP.
/// `wide`: 64-bit registers (n64); o32's are 32 bits.
fn locate_trap(uc: &mut dyn GuestCpu, brk: bool, wide: bool) -> i32 {
    // Not a faulting access: the frame takes the pc as it is.
    uc.take_fault_pc();
    let pc = uc.reg_read(RegisterMIPS::PC).unwrap_or(0);
    let reg = |n: u32| {
        let v = uc.reg_read(r(n as i32)).unwrap_or(0);
        if wide {
            v as i64
        } else {
            i64::from(v as u32 as i32)
        }
    };
    let code = uc
        .mem()
        .read_u32(pc)
        .ok()
        .and_then(|insn| trap_code(insn, brk, &reg));
    match code {
        Some(BRK_OVERFLOW | BRK_DIVZERO) => libc::SIGFPE,
        _ => libc::SIGTRAP,
    }
}

/// Trap codes of Linux's `asm/break.h` that mean SIGFPE.
const BRK_OVERFLOW: u32 = 6;
const BRK_DIVZERO: u32 = 7;

/// `insn`'s code if it is a break (`brk`) or a conditional trap whose
/// condition holds for the registers `reg` reads (sign-extended); the code
/// as Linux decodes it (immediate traps have none).
fn trap_code(insn: u32, brk: bool, reg: &dyn Fn(u32) -> i64) -> Option<u32> {
    let (op, funct) = (insn >> 26, insn & 0x3f);
    let (rs, rt) = ((insn >> 21) & 31, (insn >> 16) & 31);
    if brk {
        if op != 0 || funct != 0x0d {
            return None;
        }
        let code = (insn >> 6) & 0xf_ffff;
        return Some(if code >= 1 << 10 {
            ((code & 0x3ff) << 10) | (code >> 10)
        } else {
            code
        });
    }
    // tge, tgeu, tlt, tltu, teq, -, tne: SPECIAL functs 0x30.. and REGIMM
    // rt values 8.. (the immediate forms) in the same order.
    let (kind, b, code) = match op {
        0 if (0x30..=0x36).contains(&funct) => (funct - 0x30, reg(rt), (insn >> 6) & 0x3ff),
        1 if (8..=14).contains(&rt) => (rt - 8, i64::from(insn as u16 as i16), 0),
        _ => return None,
    };
    let a = reg(rs);
    // Sign extension keeps the unsigned order of 32-bit values.
    let fires = match kind {
        0 => a >= b,
        1 => a as u64 >= b as u64,
        2 => a < b,
        3 => (a as u64) < b as u64,
        4 => a == b,
        6 => a != b,
        _ => return None,
    };
    fires.then_some(code)
}

/// Reserved-instruction trap on `rdhwr $rt, $29`: hand the guest its TLS
/// pointer and continue after the instruction, as Linux does for CPUs
/// without UserLocal. Returns false for any other instruction.
fn emulate_rdhwr(uc: &mut dyn GuestCpu) -> bool {
    let pc = uc.reg_read(RegisterMIPS::PC).unwrap_or(0);
    let Ok(insn) = uc.mem().read_u32(pc) else {
        return false;
    };
    let Some(rt) = rdhwr_ulr_target(insn) else {
        return false;
    };
    let tls = uc.reg_read(RegisterMIPS::CP0_USERLOCAL).unwrap_or(0);
    let _ = uc.reg_write(r(rt), tls);
    let _ = uc.reg_write(RegisterMIPS::PC, pc + 4);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_follows_the_programs_flags() {
        let model = |flags: u32| crate::arch::CpuSupport::default_cpu_for(&Mipsel, flags).name;
        // mips32r2, o32, PIC: the usual default.
        assert_eq!(model(0x7000_1007), "74Kf");
        assert_eq!(model(0), "74Kf");
        assert_eq!(model(0x7000_1407), "P5600");
        assert_eq!(model(0x9000_1007), "mips32r6-generic");
        assert_eq!(model(0x9000_1407), "mips32r6-generic");
    }

    #[test]
    fn errno_table_spot_checks() {
        assert_eq!(mips_errno(libc::ENOENT), 2);
        assert_eq!(mips_errno(libc::ENOSYS), 89);
        assert_eq!(mips_errno(libc::ENAMETOOLONG), 78);
        assert_eq!(mips_errno(libc::ENOTEMPTY), 93);
        assert_eq!(mips_errno(libc::ETIMEDOUT), 145);
        assert_eq!(mips_errno(libc::EOVERFLOW), 79);
        assert_eq!(mips_errno(libc::ECONNRESET), 131);
        assert_eq!(mips_errno(libc::ENOBUFS), 132);
        assert_eq!(mips_errno(libc::ESHUTDOWN), 143);
        assert_eq!(mips_errno(libc::EADDRINUSE), 125);
        assert_eq!(mips_errno(libc::ECHRNG), 37);
        assert_eq!(mips_errno(libc::EBADE), 50);
        assert_eq!(mips_errno(libc::ELIBEXEC), 87);
        assert_eq!(mips_errno(libc::ENOTNAM), 137);
        assert_eq!(mips_errno(libc::EKEYREJECTED), 164);
        assert_eq!(mips_errno(libc::EDQUOT), 1133);
    }

    #[test]
    fn open_flags_round_trip() {
        let guest = 0x0100 | 0x0400 | 0x0008 | 0x80000; // CREAT|EXCL|APPEND|CLOEXEC
        let host = crate::arch::translate_bits(guest, OPEN_FLAGS, true);
        assert_eq!(
            host,
            (libc::O_CREAT | libc::O_EXCL | libc::O_APPEND | libc::O_CLOEXEC) as u64
        );
        assert_eq!(crate::arch::translate_bits(host, OPEN_FLAGS, false), guest);
    }

    #[test]
    fn trap_decoding() {
        // $zero and v1 hold 0, the others 5.
        let regs = |n: u32| if n == 0 || n == 3 { 0 } else { 5 };
        // teq v1, zero, 7 (division by zero) fires with v1 = 0.
        assert_eq!(trap_code(0x0060_01f4, false, &regs), Some(7));
        // teq v0, zero, 7 does not with v0 = 5.
        assert_eq!(trap_code(0x0040_01f4, false, &regs), None);
        // teqi v0, 5 fires, without a code; teq zero, zero always.
        assert_eq!(trap_code(0x044c_0005, false, &regs), Some(0));
        assert_eq!(trap_code(0x0000_0034, false, &regs), Some(0));
        // break 7, as old compilers emit for division by zero.
        assert_eq!(trap_code(0x0007_000d, true, &regs), Some(7));
        assert_eq!(trap_code(0x0007_000d, false, &regs), None);
    }

    #[test]
    fn rdhwr_decoding() {
        assert_eq!(rdhwr_ulr_target(0x7c03_e83b), Some(3));
        assert_eq!(rdhwr_ulr_target(0x7c02_e83b), Some(2));
        assert_eq!(rdhwr_ulr_target(0x7c03_083b), None);
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! arm (EABI, hard-float): `svc #0`, number in r7, arguments r0-r5, result
//! in r0, 64-bit arguments in even/odd register pairs, TLS in TPIDRURO
//! (set with the private `set_tls` call), kuser helpers at 0xffff0000.

use super::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterARM;

use super::{below, Abi, AbiInfo, SyscallRequest, Trap, MMAP_TOP_32};
use crate::abi::types::Stat;
use crate::abi::{Errno, Outcome, Sys, SyscallTable};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{AddressSpace, Encoder, Endian, Fault, Layout, Perms, StructBuilder};

pub struct Arm;

/// Exception numbers the engine's Arm target reports (QEMU's EXCP_*, the
/// same for arm and aarch64).
pub(super) const EXCP_UDEF: u32 = 1;
pub(super) const EXCP_SWI: u32 = 2;
pub(super) const EXCP_DATA_ABORT: u32 = 4;
pub(super) const EXCP_BKPT: u32 = 7;

/// What a fault of the engine's Arm target (arm and aarch64 alike) is:
/// `misaligned_pc`, a fetch from a misaligned pc, is Linux's PC alignment
/// fault (SIGBUS at the pc); a data abort on a page the TLB hook did not
/// refuse is an alignment fault at the address `exclusive` finds (the
/// exclusive or atomic access at the pc); the rest by exception number.
pub(super) fn fault_event(
    uc: &dyn GuestCpu,
    intno: u32,
    pc: u64,
    misaligned_pc: bool,
    exclusive: impl FnOnce() -> Option<u64>,
) -> CpuEvent {
    if misaligned_pc {
        return CpuEvent::Trap(Trap::misaligned(pc));
    }
    if intno == EXCP_DATA_ABORT && !uc.page_was_refused() {
        if let Some(addr) = exclusive() {
            return CpuEvent::Trap(Trap::misaligned(addr));
        }
    }
    CpuEvent::Trap(Trap::at_pc(match intno {
        EXCP_UDEF => libc::SIGILL,
        EXCP_BKPT => libc::SIGTRAP,
        _ => libc::SIGSEGV,
    }))
}

/// Private calls in the 0xf0000 range.
const ARM_NR_BREAKPOINT: u64 = 0xf0001;
const ARM_NR_CACHEFLUSH: u64 = 0xf0002;
const ARM_NR_USR26: u64 = 0xf0003;
const ARM_NR_USR32: u64 = 0xf0004;
const ARM_NR_SET_TLS: u64 = 0xf0005;
const ARM_NR_GET_TLS: u64 = 0xf0006;

const VECTORS_PAGE: u64 = 0xffff_0000;
const CPSR_USER_MODE: u64 = 0x10;
const CPSR_THUMB: u64 = 1 << 5;
/// The IT-block state bits of the CPSR.
const CPSR_IT: u64 = 0x0600_fc00;
/// `struct ucontext`: flags, link, stack (12), sigcontext (84), a
/// 128-byte sigmask area, 512 bytes of coprocessor space.
const UCONTEXT_SIZE: u64 = 744;
const UC_SIGMASK: usize = 104;

fn table() -> &'static SyscallTable {
    super::syscall_table!(syscalls::arm::Sysno, false)
}

/// The address accessed by the load/store exclusive at `pc` (these must
/// be aligned whatever SCTLR says): `[Rn]` in ARM state; in Thumb state
/// `[Rn, #imm8*4]` for the word forms, `[Rn]` for the others.
/// The old ABI (OABI) names the system call in the `swi` instruction
/// itself, `swi 0x900000 + NR` (0x9f0000 + n for the ARM-private calls);
/// EABI programs use `swi 0` with the number in r7. As qemu-arm does, the
/// number of an OABI call is taken from the instruction. Its arguments are
/// read as for EABI: OABI's 64-bit arguments, not aligned to an even
/// register, are not translated.
fn oabi_syscall_number(uc: &dyn GuestCpu) -> Option<u64> {
    let thumb = uc.reg_read(RegisterARM::CPSR).ok()? & CPSR_THUMB != 0;
    if thumb {
        return None;
    }
    // The pc is past the swi when the exception is taken.
    let pc = uc.reg_read(RegisterARM::PC).ok()?;
    let insn = super::insn_word(uc, pc.checked_sub(4)?);
    let immediate = u64::from(insn & 0x00ff_ffff);
    (insn & 0x0f00_0000 == 0x0f00_0000 && immediate & 0x00f0_0000 == OABI_SYSCALL_BASE)
        .then(|| immediate - OABI_SYSCALL_BASE)
}

const OABI_SYSCALL_BASE: u64 = 0x90_0000;

fn exclusive_address(uc: &dyn GuestCpu, pc: u64, thumb: bool) -> Option<u64> {
    let insn = super::insn_word(uc, pc);
    let (rn, offset) = if thumb {
        // First halfword in the low half: 1110 1000 0p0l Rn.
        let (hw1, hw2) = (insn & 0xffff, insn >> 16);
        match hw1 & 0xfff0 {
            0xe840 | 0xe850 => (hw1 & 15, (hw2 & 0xff) * 4),
            0xe8c0 | 0xe8d0 => (hw1 & 15, 0),
            _ => return None,
        }
    } else if insn & 0x0f80_00f0 == 0x0180_0090 {
        ((insn >> 16) & 15, 0)
    } else {
        return None;
    };
    let base = uc.reg_read(r(rn as i32)).ok()?;
    Some((base + u64::from(offset)) & 0xffff_ffff)
}

fn r(n: i32) -> i32 {
    RegisterARM::R0 as i32 + n
}

/// r0..r15 (sp, lr and pc are apart in the engine's numbering).
fn gpr(n: i32) -> i32 {
    match n {
        13 => RegisterARM::SP.into(),
        14 => RegisterARM::LR.into(),
        15 => RegisterARM::PC.into(),
        n => r(n),
    }
}

/// The kuser helpers Linux maps at the top of every arm process, for one
/// CPU: get_tls reads TPIDRURO, cmpxchg needs no atomics because only one
/// guest thread runs at a time.
fn kuser_page() -> Vec<(u64, &'static [u32])> {
    const BX_LR: u32 = 0xe12f_ff1e;
    vec![
        // __kuser_cmpxchg64(oldval* r0, newval* r1, ptr r2): r0 = 0 and C
        // set on success. push {r4-r7}; ldrd r4,[r0]; ldrd r6,[r2];
        // eors r3,r4,r6; eorseq r3,r5,r7; ldrdeq r6,[r1]; strdeq r6,[r2];
        // rsbs r0,r3,#0; pop {r4-r7}; bx lr
        (
            0xf60,
            &[
                0xe92d_00f0,
                0xe1c0_40d0,
                0xe1c2_60d0,
                0xe034_3006,
                0x0035_3007,
                0x01c1_60d0,
                0x01c2_60f0,
                0xe273_0000,
                0xe8bd_00f0,
                BX_LR,
            ],
        ),
        // __kuser_memory_barrier: dmb ish; bx lr
        (0xfa0, &[0xf57f_f05b, BX_LR]),
        // __kuser_cmpxchg(oldval r0, newval r1, ptr r2): r0 = 0 on success
        // ldr r3,[r2]; subs r3,r3,r0; streq r1,[r2]; rsbs r0,r3,#0; bx lr
        (
            0xfc0,
            &[0xe592_3000, 0xe053_3000, 0x0582_1000, 0xe273_0000, BX_LR],
        ),
        // __kuser_get_tls: mrc p15,0,r0,c13,c0,3; bx lr
        (0xfe0, &[0xee1d_0f70, BX_LR]),
    ]
}

/// The kuser helper version (the word at 0xffff0ffc): 5, the one with
/// __kuser_cmpxchg64, as Linux since 3.1.
const KUSER_HELPER_VERSION: u32 = 5;

const INFO: AbiInfo = AbiInfo {
    name: "arm",
    elf_machine: goblin::elf::header::EM_ARM,
    is_64bit: false,
    endian: Endian::Little,
    unicorn: (Arch::ARM, Mode::ARM),
    layout: Layout {
        mmap_top: MMAP_TOP_32,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0xbf00_0000,
    pie_base: 0x2a00_0000,
    platform: "v7l",
    uname_machine: "armv7l",
    pipe_second_result: None,
    kernel: KernelAbi {
        ipc_parse_version: true,
        sigaction_size: 20,
        has_legacy_frame: true,
        open_flags: super::ARM_OPEN_FLAGS,
        shmlba: (4 * crate::mem::PAGE_SIZE, true),
        // EABI passes 64-bit values in an even/odd register pair.
        pairs_aligned: true,
        ..KernelAbi::GENERIC
    },
    regs: super::ThreadRegs {
        result: RegisterARM::R0 as i32,
        sp: RegisterARM::SP as i32,
        pc: RegisterARM::PC as i32,
        tls: RegisterARM::C13_C0_3 as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::TlsBeforeCtid,
    cpus: &Arm,
    frames: &Arm,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: false,
        icache_instruction: false,
        coherent_icache: false,
    },
};

impl Abi for Arm {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }
    fn map_special_pages(&self, mem: &mut AddressSpace) -> Result<(), ArchError> {
        super::map_kernel_page(mem, VECTORS_PAGE, Perms::RX, "[vectors]")?;
        let enc = mem.encoder();
        for (offset, words) in kuser_page() {
            let bytes: Vec<u8> = words.iter().flat_map(|w| enc.u32(*w)).collect();
            mem.write_privileged(VECTORS_PAGE + offset, &bytes)
                .map_err(|e| ArchError::Host(e.to_string()))?;
        }
        mem.write_privileged(VECTORS_PAGE + 0xffc, &enc.u32(KUSER_HELPER_VERSION))
            .map_err(|e| ArchError::Host(e.to_string()))?;
        Ok(())
    }

    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        let cpu = uc.model();
        uc.set_engine_model(cpu.id)
            .engine(format!("select the arm CPU model {}", cpu.name))?;
        // 4 KiB engine pages, as Linux uses, instead of the engine's 1 KiB.
        uc.set_engine_page_size(4096)
            .engine("set the engine's page size")?;
        Ok(())
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        if intno == EXCP_SWI {
            return CpuEvent::Syscall;
        }
        let pc = uc.reg_read(RegisterARM::PC).unwrap_or(0);
        let thumb = uc.reg_read(RegisterARM::CPSR).unwrap_or(0) & CPSR_THUMB != 0;
        // bx to an address with bit 1 set in ARM state is misaligned.
        let misaligned = Arm.misaligned_pc(uc);
        fault_event(uc, intno, pc, misaligned, || {
            exclusive_address(uc, pc, thumb)
        })
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        // FP/SIMD on: coprocessors 10 and 11 accessible, FPEXC.EN set.
        uc.reg_write(RegisterARM::C1_C0_2, 0xf << 20)
            .engine("set CPACR")?;
        uc.reg_write(RegisterARM::FPEXC, 1 << 30)
            .engine("set FPEXC")?;
        let thumb = if entry & 1 != 0 { CPSR_THUMB } else { 0 };
        uc.reg_write(RegisterARM::CPSR, CPSR_USER_MODE | thumb)
            .engine("set CPSR")?;
        for n in 0..13 {
            uc.reg_write(r(n), 0).engine("set r0-r12")?;
        }
        uc.reg_write(RegisterARM::LR, 0).engine("set lr")?;
        uc.reg_write(RegisterARM::SP, sp).engine("set sp")?;
        uc.reg_write(RegisterARM::PC, entry).engine("set pc")?;
        Ok(())
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let reg = |n: i32| uc.reg_read(r(n)).unwrap_or(0) & 0xffff_ffff;
        SyscallRequest {
            nr: oabi_syscall_number(uc).unwrap_or_else(|| reg(7)),
            args: [reg(0), reg(1), reg(2), reg(3), reg(4), reg(5)],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        let _ = uc.reg_write(r(0), ret as u64 & 0xffff_ffff);
    }

    fn arch_syscall(
        &self,
        uc: &mut dyn GuestCpu,
        nr: u64,
        sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome> {
        let nr = if sys == Some(Sys::set_tls) {
            ARM_NR_SET_TLS
        } else {
            nr
        };
        Some(match nr {
            ARM_NR_SET_TLS => match uc.reg_write(RegisterARM::C13_C0_3, args[0]) {
                Ok(()) => Outcome::Value(0),
                Err(_) => Outcome::Error(Errno::EINVAL),
            },
            ARM_NR_GET_TLS => Outcome::Value(uc.reg_read(RegisterARM::C13_C0_3).unwrap_or(0)),
            // cacheflush(start, end, flags): code written through another
            // view of the page, or while it was not executable, is not
            // seen by the engine's store checks; drop its translations.
            ARM_NR_CACHEFLUSH => {
                let (start, end, flags) = (args[0], args[1], args[2]);
                if end < start || flags != 0 {
                    Outcome::Error(Errno::EINVAL)
                } else {
                    let mem = &mut uc.mem_mut();
                    mem.invalidate_code(start, end - start);
                    Outcome::Value(0)
                }
            }
            ARM_NR_BREAKPOINT => {
                uc.raise_trap(Trap::at_pc(libc::SIGTRAP));
                Outcome::Value(0)
            }
            ARM_NR_USR26 | ARM_NR_USR32 => Outcome::Error(Errno::EINVAL),
            _ => return None,
        })
    }

    fn syscall_insn_len(&self, uc: &dyn GuestCpu) -> u64 {
        if uc.reg_read(RegisterARM::CPSR).unwrap_or(0) & CPSR_THUMB != 0 {
            2
        } else {
            4
        }
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterARM::PC).unwrap_or(0)
    }

    fn misaligned_pc(&self, uc: &dyn GuestCpu) -> bool {
        let thumb = uc.reg_read(RegisterARM::CPSR).unwrap_or(0) & CPSR_THUMB != 0;
        !thumb && self.pc(uc) & 3 != 0
    }

    fn m5op(&self, uc: &dyn GuestCpu) -> Option<super::M5Op> {
        let pc = self.pc(uc);
        let word = super::insn_word(uc, pc);
        let thumb = uc.reg_read(RegisterARM::CPSR).unwrap_or(0) & CPSR_THUMB != 0;
        let func = if thumb {
            super::m5op_encoding::thumb(word as u16, (word >> 16) as u16)
        } else {
            super::m5op_encoding::arm(word)
        }?;
        // 64-bit arguments in register pairs (AAPCS): r0:r1, r2:r3.
        let reg = |n| uc.reg_read(r(n)).unwrap_or(0) & 0xffff_ffff;
        Some(super::M5Op {
            func,
            args: [reg(0) | reg(1) << 32, reg(2) | reg(3) << 32],
            len: 4,
        })
    }

    fn resume_address(&self, uc: &dyn GuestCpu) -> u64 {
        let thumb = uc.reg_read(RegisterARM::CPSR).unwrap_or(0) & CPSR_THUMB != 0;
        self.pc(uc) | u64::from(thumb)
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        let mut out = String::new();
        for n in 0..13 {
            out.push_str(&format!("r{n:<2}={:08x}", uc.reg_read(r(n)).unwrap_or(0)));
            out.push(if n % 4 == 3 { '\n' } else { ' ' });
        }
        for (name, reg) in [
            ("sp", RegisterARM::SP),
            ("lr", RegisterARM::LR),
            ("pc", RegisterARM::PC),
            ("cpsr", RegisterARM::CPSR),
        ] {
            out.push_str(&format!(" {name}={:08x}", uc.reg_read(reg).unwrap_or(0)));
        }
        out
    }

    /// `struct stat64` of the arm EABI (104 bytes, 64-bit fields 8-aligned).
    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        let mut b = StructBuilder::new(104, enc);
        b.u64(0, st.dev)
            .u32(12, st.ino as u32)
            .u32(16, st.mode)
            .u32(20, st.nlink as u32)
            .u32(24, st.uid)
            .u32(28, st.gid)
            .u64(32, st.rdev)
            .u64(48, st.size as u64)
            .u32(56, st.blksize as u32)
            .u64(64, st.blocks as u64)
            .u32(72, st.atime.0 as u32)
            .u32(76, st.atime.1 as u32)
            .u32(80, st.mtime.0 as u32)
            .u32(84, st.mtime.1 as u32)
            .u32(88, st.ctime.0 as u32)
            .u32(92, st.ctime.1 as u32)
            .u64(96, st.ino);
        b.bytes
    }
}

impl super::CpuSupport for Arm {
    fn models(&self) -> &'static [super::cpu::CpuModel] {
        super::cpu::ARM
    }
    fn default_cpu(&self) -> super::cpu::Cpu {
        &super::cpu::ARM[super::cpu::ARM_DEFAULT]
    }
    fn facts(&self, cpu: super::cpu::Cpu) -> Result<super::cpu::CpuFacts, ArchError> {
        Ok(super::cpu::CpuFacts {
            hwcap: cpu.hwcap,
            platform: Some(super::cpu::arm_platform(cpu.ident)),
            ..Default::default()
        })
    }
    fn cpuinfo(&self, cpu: super::cpu::Cpu, facts: &super::cpu::CpuFacts) -> String {
        super::cpuinfo::arm(facts.hwcap, cpu.ident)
    }
}

impl super::SignalFrames for Arm {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &super::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        // rt_sigframe: siginfo, ucontext, retcode; the legacy sigframe has
        // no siginfo.
        let info_size = if f.rt { 128 } else { 0 };
        let size = info_size + UCONTEXT_SIZE + 16;
        let frame = below(f.sp, size)? & !7;
        let u = info_size as usize;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(size as usize, enc);
        if f.rt {
            b.bytes_at(0, f.info);
        }
        b.u32(u + 8, f.altstack.sp as u32)
            .u32(u + 12, f.altstack.flags)
            .u32(u + 16, f.altstack.size as u32);
        let mc = u + 20;
        if let Some((addr, write)) = f.fault {
            // trap_no 14 (data abort), error_code with the write bit.
            b.u32(mc, 14)
                .u32(mc + 4, if write { 1 << 11 } else { 0 })
                .u32(mc + 80, addr as u32);
        }
        b.u32(mc + 8, f.saved_mask as u32);
        for n in 0..16 {
            b.u32(
                mc + 12 + 4 * n as usize,
                uc.reg_read(gpr(n)).unwrap_or(0) as u32,
            );
        }
        b.u32(mc + 76, uc.reg_read(RegisterARM::CPSR).unwrap_or(0) as u32)
            .u32(u + UC_SIGMASK, f.saved_mask as u32)
            .u32(u + UC_SIGMASK + 4, (f.saved_mask >> 32) as u32);
        uc.mem_mut().write(frame, &b.bytes)?;
        let set = |uc: &mut dyn GuestCpu, reg: i32, v: u64| {
            let _ = uc.reg_write(reg, v);
        };
        set(uc, r(0), f.sig);
        if f.rt {
            set(uc, r(1), frame);
            set(uc, r(2), frame + u as u64);
        }
        set(uc, RegisterARM::SP.into(), frame);
        set(uc, RegisterARM::LR.into(), f.return_to);
        // A Thumb handler (bit 0) starts in Thumb state, outside any IT block.
        let cpsr = uc.reg_read(RegisterARM::CPSR).unwrap_or(0) & !(CPSR_THUMB | CPSR_IT);
        let thumb = if f.handler & 1 != 0 { CPSR_THUMB } else { 0 };
        set(uc, RegisterARM::CPSR.into(), cpsr | thumb);
        // Bit 0 of the pc selects the Thumb state.
        set(uc, RegisterARM::PC.into(), f.handler);
        Ok((frame, f.handler))
    }
    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let u = if rt { 128 } else { 0 };
        let raw = uc.mem().read_vec(frame + u, UCONTEXT_SIZE as usize)?;
        let word =
            |off: usize| u64::from(u32::from_le_bytes(raw[off..off + 4].try_into().unwrap()));
        let mc = 20;
        for n in 0..16 {
            let _ = uc.reg_write(gpr(n), word(mc + 12 + 4 * n as usize));
        }
        // User mode; the handler may change flags and the Thumb bit only.
        let cpsr = (word(mc + 76) & !0x1df) | CPSR_USER_MODE;
        let _ = uc.reg_write(RegisterARM::CPSR, cpsr);
        // Writing the pc sets the Thumb state from its bit 0.
        let pc = (word(mc + 72) & !1) | u64::from(cpsr & CPSR_THUMB != 0);
        let _ = uc.reg_write(RegisterARM::PC, pc);
        let mask = word(UC_SIGMASK) | word(UC_SIGMASK + 4) << 32;
        Ok((mask, pc))
    }
    fn sigreturn_code(&self, rt: bool) -> Vec<u32> {
        // mov r7, #173 (rt_sigreturn) or #119 (sigreturn); svc #0
        let nr = if rt { 173 } else { 119 };
        vec![0xe3a0_7000 | nr, 0xef00_0000]
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! riscv64: `ecall`, number in a7, arguments a0-a5, result in a0, TLS in tp
//! (set by the guest itself).

use super::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterRISCV;

use super::{below, Abi, AbiInfo, SyscallRequest, Trap, TLB_STAGGER};
use crate::abi::types::{encode_stat_generic64, Stat};
use crate::abi::{Errno, Outcome, Sys, SyscallTable};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{Encoder, Endian, Fault, Layout, StructBuilder};

pub struct Riscv64;

/// Exception causes (the privileged specification's numbering).
const CAUSE_MISALIGNED_FETCH: u32 = 0;
const CAUSE_ILLEGAL_INSTRUCTION: u32 = 2;
const CAUSE_BREAKPOINT: u32 = 3;
const CAUSE_MISALIGNED_LOAD: u32 = 4;
const CAUSE_MISALIGNED_STORE: u32 = 6;
const CAUSE_USER_ECALL: u32 = 8;
const CAUSE_SUPERVISOR_ECALL: u32 = 9;
const CAUSE_MACHINE_ECALL: u32 = 11;
const EBREAK: u32 = 0x0010_0073;
const C_EBREAK: u16 = 0x9002;
/// mstatus.FS = dirty: the FPU is usable, as Linux leaves it for user code.
const MSTATUS_FS_DIRTY: u64 = 0x6000;

/// `struct ucontext`: flags, link, stack_t, the signal mask in a 128-byte
/// area, then the 16-aligned sigcontext: 32 general registers (pc in
/// place of x0) and 528 bytes of FP state.
const UC_SIGMASK: usize = 40;
const UC_MCONTEXT: usize = 176;
const UCONTEXT_SIZE: usize = UC_MCONTEXT + 256 + 528;

fn table() -> &'static SyscallTable {
    super::syscall_table!(syscalls::riscv64::Sysno, true)
}

fn x(n: i32) -> i32 {
    RegisterRISCV::X0 as i32 + n
}

const RA: i32 = 1;
const SP: i32 = 2;
const A0: i32 = 10;
const A7: i32 = 17;

/// riscv_flush_icache (__NR_arch_specific_syscall + 15) and its one flag.
const NR_RISCV_FLUSH_ICACHE: u64 = 259;
const FLUSH_ICACHE_LOCAL: u64 = 1;

const INFO: AbiInfo = AbiInfo {
    name: "riscv64",
    elf_machine: goblin::elf::header::EM_RISCV,
    is_64bit: true,
    endian: Endian::Little,
    unicorn: (Arch::RISCV, Mode::RISCV64),
    layout: Layout {
        mmap_top: 0x3f_f000_0000 - TLB_STAGGER,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0x3f_ffff_f000,
    pie_base: 0x2a_aaaa_a000,
    platform: "riscv64",
    uname_machine: "riscv64",
    pipe_second_result: None,
    kernel: KernelAbi {
        // handler, flags, mask: riscv has no sa_restorer.
        sigaction_size: 24,
        sigaction_layout: Some(super::SigactionLayout {
            handler: 0,
            flags: 8,
            flags_size: 8,
            restorer: None,
            mask: 16,
        }),
        ..KernelAbi::GENERIC
    },
    regs: super::ThreadRegs {
        result: RegisterRISCV::A0 as i32,
        sp: RegisterRISCV::SP as i32,
        pc: RegisterRISCV::PC as i32,
        tls: RegisterRISCV::TP as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::TlsBeforeCtid,
    cpus: &Riscv64,
    frames: &Riscv64,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: true,
        icache_instruction: false,
        coherent_icache: false,
    },
};

impl Abi for Riscv64 {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }

    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        // The default (sifive-u54) is the engine's own.
        let cpu = uc.model();
        if cpu != super::CpuSupport::default_cpu(self) {
            uc.set_engine_model(cpu.id)
                .engine(format!("select the riscv64 CPU model {}", cpu.name))?;
        }
        Ok(())
    }

    fn exception(&self, uc: &mut dyn GuestCpu, cause: u32) -> CpuEvent {
        match cause {
            // The engine has already moved pc past the ecall.
            CAUSE_USER_ECALL | CAUSE_SUPERVISOR_ECALL | CAUSE_MACHINE_ECALL => CpuEvent::Syscall,
            CAUSE_MISALIGNED_LOAD | CAUSE_MISALIGNED_STORE => {
                // Only atomics (LR/SC, AMOs) must be aligned; they address
                // (rs1) with no offset.
                let pc = uc.reg_read(RegisterRISCV::PC).unwrap_or(0);
                let insn = super::insn_word(uc, pc);
                CpuEvent::Trap(if insn & 0x7f == 0x2f {
                    let rs1 = ((insn >> 15) & 31) as i32;
                    Trap::misaligned(uc.reg_read(x(rs1)).unwrap_or(pc))
                } else {
                    Trap::at_pc(libc::SIGBUS)
                })
            }
            other => CpuEvent::Trap(Trap::at_pc(match other {
                CAUSE_ILLEGAL_INSTRUCTION => libc::SIGILL,
                CAUSE_BREAKPOINT => libc::SIGTRAP,
                CAUSE_MISALIGNED_FETCH => libc::SIGBUS,
                _ => libc::SIGSEGV,
            })),
        }
    }

    // The engine stops at `ebreak` as at an invalid instruction instead of
    // raising the breakpoint exception: Linux's SIGTRAP, at the ebreak as
    // the kernel reports it.
    fn invalid_instruction(&self, uc: &mut dyn GuestCpu) -> Option<Trap> {
        let pc = uc.reg_read(RegisterRISCV::PC).unwrap_or(0);
        let mem = uc.mem();
        let half = |at: u64| {
            mem.read_vec(at, 2)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
        };
        let low = half(pc);
        let ebreak = low == C_EBREAK || (u32::from(half(pc + 2)) << 16 | u32::from(low)) == EBREAK;
        ebreak.then(|| Trap::at_pc(libc::SIGTRAP))
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        for n in 1..32 {
            uc.reg_write(x(n), 0).engine(format!("set x{n}"))?;
        }
        let mstatus = uc.reg_read(RegisterRISCV::MSTATUS).unwrap_or(0);
        uc.reg_write(RegisterRISCV::MSTATUS, mstatus | MSTATUS_FS_DIRTY)
            .engine("enable the FPU")?;
        uc.reg_write(RegisterRISCV::SP, sp).engine("set sp")?;
        uc.reg_write(RegisterRISCV::PC, entry).engine("set pc")?;
        Ok(())
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let r = |n: i32| uc.reg_read(x(n)).unwrap_or(0);
        SyscallRequest {
            nr: r(A7),
            args: [r(A0), r(A0 + 1), r(A0 + 2), r(A0 + 3), r(A0 + 4), r(A0 + 5)],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        let _ = uc.reg_write(x(A0), ret as u64);
    }

    fn arch_syscall(
        &self,
        uc: &mut dyn GuestCpu,
        nr: u64,
        _sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome> {
        (nr == NR_RISCV_FLUSH_ICACHE).then(|| {
            // riscv_flush_icache(start, end, flags): Linux flushes the
            // whole instruction cache whatever the range; the only flag
            // is SYS_RISCV_FLUSH_ICACHE_LOCAL.
            if args[2] & !FLUSH_ICACHE_LOCAL != 0 {
                return Outcome::Error(Errno::EINVAL);
            }
            uc.mem_mut().invalidate_all_code();
            Outcome::Value(0)
        })
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterRISCV::PC).unwrap_or(0)
    }

    fn m5op(&self, uc: &dyn GuestCpu) -> Option<super::M5Op> {
        let func = super::m5op_encoding::riscv(super::insn_word(uc, self.pc(uc)))?;
        let r = |n| uc.reg_read(x(n)).unwrap_or(0);
        Some(super::M5Op {
            func,
            args: [r(A0), r(A0 + 1)],
            len: 4,
        })
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        let mut out = String::new();
        for n in 0..32 {
            let v = uc.reg_read(x(n)).unwrap_or(0);
            out.push_str(&format!("x{n:<2}={v:016x}"));
            out.push(if n % 4 == 3 { '\n' } else { ' ' });
        }
        out.push_str(&format!("pc={:016x}", self.pc(uc)));
        out
    }

    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        encode_stat_generic64(st, enc)
    }
}

impl super::CpuSupport for Riscv64 {
    fn models(&self) -> &'static [super::cpu::CpuModel] {
        super::cpu::RISCV64
    }
    fn default_cpu(&self) -> super::cpu::Cpu {
        &super::cpu::RISCV64[super::cpu::RISCV64_DEFAULT]
    }
    fn cpuinfo(&self, _cpu: super::cpu::Cpu, facts: &super::cpu::CpuFacts) -> String {
        super::cpuinfo::riscv64(facts.hwcap)
    }
}

impl super::SignalFrames for Riscv64 {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &super::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        // rt_sigframe: siginfo, ucontext.
        let size = 128 + UCONTEXT_SIZE;
        let frame = below(f.sp, size as u64)? & !15;
        let u = 128;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(size, enc);
        b.bytes_at(0, f.info)
            .u64(u + 16, f.altstack.sp)
            .u32(u + 24, f.altstack.flags)
            .u64(u + 32, f.altstack.size)
            .u64(u + UC_SIGMASK, f.saved_mask);
        // sc_regs: pc, then x1..x31.
        let mc = u + UC_MCONTEXT;
        b.u64(mc, self.pc(uc));
        for n in 1..32 {
            b.u64(mc + 8 * n as usize, uc.reg_read(x(n)).unwrap_or(0));
        }
        // The D extension's state, for handlers that read it; sigreturn
        // restores it from the saved engine state.
        for n in 0..32 {
            let v = uc.reg_read(RegisterRISCV::F0 as i32 + n).unwrap_or(0);
            b.u64(mc + 256 + 8 * n as usize, v);
        }
        let fcsr = uc.reg_read(RegisterRISCV::FCSR).unwrap_or(0);
        b.u32(mc + 512, fcsr as u32);
        uc.mem_mut().write(frame, &b.bytes)?;
        let set = |uc: &mut dyn GuestCpu, n: i32, v: u64| {
            let _ = uc.reg_write(x(n), v);
        };
        set(uc, A0, f.sig);
        set(uc, A0 + 1, frame);
        set(uc, A0 + 2, frame + u as u64);
        set(uc, RA, f.return_to);
        set(uc, SP, frame);
        let _ = uc.reg_write(RegisterRISCV::PC, f.handler);
        Ok((frame, f.handler))
    }
    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        _rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let raw = uc.mem().read_vec(frame + 128, UC_MCONTEXT + 256)?;
        let word = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().unwrap());
        for n in 1..32 {
            let _ = uc.reg_write(x(n), word(UC_MCONTEXT + 8 * n as usize));
        }
        let pc = word(UC_MCONTEXT);
        let _ = uc.reg_write(RegisterRISCV::PC, pc);
        Ok((word(UC_SIGMASK), pc))
    }
    fn sigreturn_code(&self, _rt: bool) -> Vec<u32> {
        // li a7, 139 (rt_sigreturn); ecall
        vec![0x08b0_0893, 0x0000_0073]
    }
}

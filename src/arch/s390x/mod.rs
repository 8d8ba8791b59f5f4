// SPDX-License-Identifier: GPL-2.0-or-later
//! s390x (IBM Z, 64-bit, big-endian): `svc N` (N the system call number,
//! or r1's when N is 0), arguments r2-r7, the result in r2 (a negative
//! errno). mmap takes a pointer to its six arguments. The thread pointer is
//! split over access registers a0 (high half) and a1 (low half).

use crate::arch::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterS390X;

use crate::abi::types::{Stat, StatFs};
use crate::abi::SyscallTable;
use crate::arch::{Abi, AbiInfo, SyscallRequest, Trap};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{Encoder, Endian, Layout, StructBuilder};

mod frames;

pub struct S390x;

/// Exceptions as the engine numbers them.
const EXCP_SVC: u32 = 2;
const EXCP_PGM: u32 = 3;

/// The PSW of a user process: problem state, 64-bit addressing (EA, BA).
const PSW_MASK_USER: u64 = 0x0001_0001_8000_0000;
/// Control register 0 as Linux gives a process: its reset value with the
/// additional floating-point registers and the vector registers enabled.
const CR0_USER: u64 = 0x6_00e0;

/// mmap's system call number: its one argument points at the six.
const NR_MMAP: u64 = 90;

fn r(n: i32) -> i32 {
    RegisterS390X::R0 as i32 + n
}

fn table() -> &'static SyscallTable {
    crate::arch::syscall_table!(syscalls::s390x::Sysno, true)
}

const INFO: AbiInfo = AbiInfo {
    name: "s390x",
    elf_machine: goblin::elf::header::EM_S390,
    is_64bit: true,
    endian: Endian::Big,
    unicorn: (Arch::S390X, Mode::BIG_ENDIAN),
    // Linux gives a process a 4 TiB address space (three-level tables)
    // until it asks for more.
    layout: Layout {
        mmap_top: 0x3ff_f000_0000 - crate::arch::TLB_STAGGER,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0x3ff_ffff_f000,
    // Linux: ELF_ET_DYN_BASE, two thirds of a 4 TiB address space.
    pie_base: 0x2aa_0000_0000,
    platform: "z900",
    uname_machine: "s390x",
    pipe_second_result: None,
    kernel: KernelAbi {
        ipc_layout: crate::arch::IpcLayout::S390x,
        ipc_parse_version: true,
        fault_addr_is_page: true,
        ..KernelAbi::GENERIC
    },
    regs: crate::arch::ThreadRegs {
        result: RegisterS390X::R2 as i32,
        sp: RegisterS390X::R15 as i32,
        pc: RegisterS390X::PC as i32,
        tls: RegisterS390X::A1 as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::StackFirst,
    cpus: &S390x,
    frames: &S390x,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: false,
        icache_instruction: false,
        // z/Architecture fetches what stores wrote (no flush instruction).
        coherent_icache: true,
    },
};

impl Abi for S390x {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }
    fn prepare(&self, _uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        Ok(())
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        let pc = self.pc(uc);
        match intno {
            // The PSW is at the svc: the call returns after it.
            EXCP_SVC => {
                let _ = uc.reg_write(RegisterS390X::PC as i32, pc + 2);
                CpuEvent::Syscall
            }
            // A program check other than a page fault (those reach the
            // memory hooks) completes or suppresses its instruction: the
            // PSW is past it, si_addr at it, as Linux reports them.
            EXCP_PGM => {
                let code = uc.reg_read(REG_PGM_CODE).unwrap_or(0) as u32;
                let fpc = uc.reg_read(RegisterS390X::FPC as i32).unwrap_or(0) as u32;
                let (signal, si_code) = program_check_signal(code, fpc);
                let mut first = [0u8; 1];
                let _ = uc.mem().read(pc, &mut first);
                let _ = uc.reg_write(RegisterS390X::PC as i32, pc + insn_len(first[0]));
                CpuEvent::Trap(Trap {
                    addr: Some(pc),
                    code: Some(si_code),
                    ..Trap::at_pc(signal)
                })
            }
            _ => CpuEvent::Trap(Trap::at_pc(libc::SIGSEGV)),
        }
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        uc.reg_write(RegisterS390X::PSWM, PSW_MASK_USER)
            .engine("set the PSW mask (problem state, 64-bit)")?;
        uc.reg_write(RegisterS390X::CR0, CR0_USER)
            .engine("set CR0 (AFP and vector registers)")?;
        for n in 0..16 {
            uc.reg_write(r(n), 0).engine(format!("set r{n}"))?;
        }
        uc.reg_write(RegisterS390X::R15, sp).engine("set r15")?;
        uc.reg_write(RegisterS390X::PC, entry).engine("set pc")?;
        Ok(())
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let reg = |n: i32| uc.reg_read(r(n)).unwrap_or(0);
        // The pc is past the two-byte svc, whose second byte is the number.
        let mut imm = [0u8];
        let _ = uc.mem().read(self.pc(uc).wrapping_sub(1), &mut imm);
        let nr = match imm[0] {
            0 => reg(1),
            n => u64::from(n),
        };
        let mut args = [reg(2), reg(3), reg(4), reg(5), reg(6), reg(7)];
        if nr == NR_MMAP {
            // struct s390_mmap_arg_struct: six longs.
            let at = args[0];
            let mem = uc.mem();
            for (i, slot) in args.iter_mut().enumerate() {
                *slot = mem.read_u64(at + 8 * i as u64).unwrap_or(0);
            }
        }
        SyscallRequest { nr, args }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        let _ = uc.reg_write(RegisterS390X::R2, ret as u64);
    }

    fn syscall_insn_len(&self, _uc: &dyn GuestCpu) -> u64 {
        2
    }

    fn thread_start(
        &self,
        uc: &mut dyn GuestCpu,
        stack: u64,
        tls: Option<u64>,
    ) -> Result<(), ArchError> {
        self.write_syscall_result(uc, 0);
        if stack != 0 {
            uc.reg_write(RegisterS390X::R15, stack).engine("set r15")?;
        }
        if let Some(tls) = tls {
            uc.reg_write(RegisterS390X::A0, tls >> 32)
                .engine("set a0")?;
            uc.reg_write(RegisterS390X::A1, tls & 0xffff_ffff)
                .engine("set a1")?;
        }
        Ok(())
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterS390X::PC).unwrap_or(0)
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        let mut out = String::new();
        for n in 0..16 {
            out.push_str(&format!("r{n:<2}={:016x}", uc.reg_read(r(n)).unwrap_or(0)));
            out.push(if n % 4 == 3 { '\n' } else { ' ' });
        }
        let reg = |id: RegisterS390X| uc.reg_read(id).unwrap_or(0);
        out.push_str(&format!(
            "psw={:016x} pc={:016x} a0={:08x} a1={:08x}",
            reg(RegisterS390X::PSWM),
            self.pc(uc),
            reg(RegisterS390X::A0),
            reg(RegisterS390X::A1)
        ));
        out
    }

    /// s390x's `struct stat`: the times come before the block size.
    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        let mut b = StructBuilder::new(144, enc);
        b.u64(0, st.dev)
            .u64(8, st.ino)
            .u64(16, st.nlink)
            .u32(24, st.mode)
            .u32(28, st.uid)
            .u32(32, st.gid)
            .u64(40, st.rdev)
            .u64(48, st.size as u64)
            .u64(56, st.atime.0 as u64)
            .u64(64, st.atime.1 as u64)
            .u64(72, st.mtime.0 as u64)
            .u64(80, st.mtime.1 as u64)
            .u64(88, st.ctime.0 as u64)
            .u64(96, st.ctime.1 as u64)
            .u64(104, st.blksize as u64)
            .u64(112, st.blocks as u64);
        b.bytes
    }

    /// s390x's `struct statfs`: 32-bit type, block size, name length,
    /// fragment size and flags around the 64-bit counts, 88 bytes.
    fn encode_statfs(&self, s: &StatFs, enc: Encoder) -> Vec<u8> {
        crate::abi::types::encode_statfs_int_fields(s, 88, enc)
    }
}

/// The engine's register holding the last program-interruption code
/// (engine patch 0050), after the control registers.
const REG_PGM_CODE: i32 = RegisterS390X::CR15 as i32 + 1;

/// An instruction's length from its first byte: the two high bits of the
/// opcode say 2, 4, 4 or 6 bytes.
fn insn_len(first: u8) -> u64 {
    match first >> 6 {
        0 => 2,
        3 => 6,
        _ => 4,
    }
}

/// The signal and si_code of a program check, as s390's Linux chooses
/// them (arch/s390/kernel/traps.c); `fpc` holds the data or vector
/// exception code in its second byte.
fn program_check_signal(code: u32, fpc: u32) -> (i32, i32) {
    use crate::abi::signal::*;
    let dxc = (fpc >> 8) & 0xff;
    match code & 0x7f {
        0x01 => (libc::SIGILL, ILL_ILLOPC),
        0x02 | 0x13 => (libc::SIGILL, ILL_PRVOPC),
        0x05 => (libc::SIGILL, ILL_ILLADR),
        // Data: an IEEE exception (DXC bits 6 and 7 clear) says which;
        // any other (compare-and-trap's 0xff, a decimal digit) is code 0.
        0x07 if dxc != 0 => {
            let ieee = [
                (0x80, FPE_FLTINV),
                (0x40, FPE_FLTDIV),
                (0x20, FPE_FLTOVF),
                (0x10, FPE_FLTUND),
                (0x08, FPE_FLTRES),
            ];
            let si_code = if dxc & 3 == 0 {
                ieee.iter()
                    .find(|(bit, _)| dxc & bit != 0)
                    .map_or(0, |&(_, c)| c)
            } else {
                0
            };
            (libc::SIGFPE, si_code)
        }
        0x08 | 0x0a => (libc::SIGFPE, FPE_INTOVF),
        0x09 | 0x0b => (libc::SIGFPE, FPE_INTDIV),
        0x0c => (libc::SIGFPE, FPE_FLTOVF),
        0x0d => (libc::SIGFPE, FPE_FLTUND),
        0x0e => (libc::SIGFPE, FPE_FLTRES),
        0x0f => (libc::SIGFPE, FPE_FLTDIV),
        // Vector processing: the vector interruption code.
        0x1b => {
            let si_code = match dxc & 0xf {
                1 => FPE_FLTINV,
                2 => FPE_FLTDIV,
                3 => FPE_FLTOVF,
                4 => FPE_FLTUND,
                5 => FPE_FLTRES,
                _ => 0,
            };
            (libc::SIGFPE, si_code)
        }
        // Execute, specification, operand, data without a code and the
        // rest.
        _ => (libc::SIGILL, ILL_ILLOPN),
    }
}

/// AT_HWCAP as qemu-s390x gives its CPU: ESA/390 mode, z/Architecture,
/// STFLE, message security assist, long displacement, extended immediate,
/// decimal floating point, ETF3 enhancement, high GPRs.
const S390_HWCAP: u64 = 1 | 2 | 4 | 8 | 16 | 32 | 64 | 256 | 512;

impl crate::arch::CpuSupport for S390x {
    fn models(&self) -> &'static [crate::arch::cpu::CpuModel] {
        crate::arch::cpu::S390X
    }
    fn default_cpu(&self) -> crate::arch::cpu::Cpu {
        &crate::arch::cpu::S390X[0]
    }
    fn facts(&self, _cpu: crate::arch::cpu::Cpu) -> Result<crate::arch::cpu::CpuFacts, ArchError> {
        Ok(crate::arch::cpu::CpuFacts {
            hwcap: S390_HWCAP,
            ..Default::default()
        })
    }
    fn cpuinfo(&self, _cpu: crate::arch::cpu::Cpu, _facts: &crate::arch::cpu::CpuFacts) -> String {
        "vendor_id       : IBM/S390\n\
         # processors    : 1\n\
         bogomips per cpu: 13370.00\n\
         max thread id   : 0\n\
         features\t: esan3 zarch stfle msa ldisp eimm dfp etf3eh highgprs\n\
         processor 0: version = 00,  identification = 000000,  machine = 2964\n"
            .to_string()
    }
}

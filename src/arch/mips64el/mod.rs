// SPDX-License-Identifier: GPL-2.0-or-later
//! mips64el (n64): `syscall`, number in v0 (5000 and up), arguments a0-a5
//! ($4-$9), result in v0 with the error flag in a3 and a positive errno of
//! MIPS's numbering. Registers and the FPU are 64 bits wide (Status.FR);
//! flags, signals, ioctls, delay slots, traps and the `rdhwr $29` TLS read
//! are MIPS's, shared with mipsel (o32).

use crate::arch::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterMIPS;

use crate::abi::types::{Stat, StatFs};
use crate::abi::{Outcome, Sys, SyscallTable};
use crate::arch::mipsel::numbers::*;
use crate::arch::mipsel::{self as mips, r, A0, A3, SP, V0, V1};
use crate::arch::{Abi, AbiInfo, SyscallRequest, TLB_STAGGER};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{Encoder, Endian, Layout, StructBuilder};

mod frames;

pub struct Mips64el;

/// Status.FR: 32 64-bit FP registers, as the n64 ABI requires.
const STATUS_FR: u64 = 1 << 26;

/// ELF header flags: the architecture level of a release 6 program.
const EF_MIPS_ARCH: u32 = 0xf000_0000;
const EF_MIPS_ARCH_64R6: u32 = 0xa000_0000;

/// The top of the n64 user address space Linux gives a process on a CPU
/// with 40 virtual address bits (1 TiB).
const TASK_SIZE: u64 = 0x100_0000_0000;

fn table() -> &'static SyscallTable {
    crate::arch::syscall_table!(syscalls::mips64::Sysno, true)
}

const INFO: AbiInfo = AbiInfo {
    name: "mips64el",
    elf_machine: goblin::elf::header::EM_MIPS,
    is_64bit: true,
    endian: Endian::Little,
    unicorn: (Arch::MIPS, Mode::MIPS64),
    layout: Layout {
        mmap_top: TASK_SIZE - 0x1000_0000 - TLB_STAGGER,
        mmap_bottom: 0x1_0000,
    },
    stack_top: TASK_SIZE - 0x1000,
    // Linux: two thirds of TASK_SIZE.
    pie_base: 0xaa_aaaa_a000,
    platform: "mips64",
    uname_machine: "mips64",
    pipe_second_result: Some(r(V1)),
    kernel: KernelAbi {
        // flags (a 32-bit word, then padding), handler, a 128-signal mask.
        sigaction_size: 32,
        sigaction_layout: Some(crate::arch::SigactionLayout {
            handler: 8,
            flags: 0,
            flags_size: 4,
            restorer: None,
            mask: 16,
        }),
        sa_siginfo: 8,
        trap_si_code: crate::abi::signal::SI_KERNEL,
        ill_si_code: crate::abi::signal::SI_KERNEL,
        // n64 has rt_sigreturn alone.
        has_legacy_frame: false,
        stack_t_size_first: true,
        sigset_size: 16,
        siginfo_code_first: true,
        si_timer: -3,
        signals: SIGNALS,
        sig_block: 1,
        rlimits: RLIMITS,
        open_flags: OPEN_FLAGS,
        mmap_flags: MMAP_FLAGS,
        ioctls: Some(IOCTLS),
        fcntl_cmds: FCNTL_CMDS,
        socket_types: SOCKET_TYPES,
        sol_socket: Some((MIPS_SOL_SOCKET, SOCKOPTS)),
        // n64's System V IPC structures are the generic 64-bit ones.
        ipc_layout: crate::arch::IpcLayout::Generic,
        ipc_parse_version: true,
        shmlba: (0x4_0000, true),
        ..KernelAbi::GENERIC
    },
    regs: crate::arch::ThreadRegs {
        result: RegisterMIPS::V0 as i32,
        sp: RegisterMIPS::SP as i32,
        pc: RegisterMIPS::PC as i32,
        tls: RegisterMIPS::CP0_USERLOCAL as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::TlsBeforeCtid,
    cpus: &Mips64el,
    frames: &Mips64el,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: false,
        icache_instruction: false,
        coherent_icache: false,
    },
};

impl Abi for Mips64el {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }
    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        let cpu = uc.model();
        uc.set_engine_model(cpu.id)
            .engine(format!("select the MIPS64 CPU model {}", cpu.name))
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        mips::exception(uc, intno, u64::MAX)
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        // The engine starts in kernel mode (Status.ERL), where 64-bit
        // instructions and addresses need no further switch.
        mips::init_registers(uc, entry, sp, STATUS_FR)
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let reg = |n: i32| uc.reg_read(r(n)).unwrap_or(0);
        SyscallRequest {
            nr: reg(V0),
            args: [
                reg(A0),
                reg(A0 + 1),
                reg(A0 + 2),
                reg(A3),
                reg(A0 + 4),
                reg(A0 + 5),
            ],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        mips::write_syscall_result(uc, ret, u64::MAX);
    }

    fn arch_syscall(
        &self,
        uc: &mut dyn GuestCpu,
        _nr: u64,
        sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome> {
        mips::arch_syscall(uc, sys, args, u64::MAX, TASK_SIZE)
    }

    fn thread_start(
        &self,
        uc: &mut dyn GuestCpu,
        stack: u64,
        tls: Option<u64>,
    ) -> Result<(), ArchError> {
        mips::thread_start(uc, stack, tls, u64::MAX)
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterMIPS::PC).unwrap_or(0)
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        let mut out = String::new();
        for n in 0..32 {
            out.push_str(&format!("${n:<2}={:016x}", uc.reg_read(r(n)).unwrap_or(0)));
            out.push(if n % 4 == 3 { '\n' } else { ' ' });
        }
        out.push_str(&format!("pc={:016x}", self.pc(uc)));
        out
    }

    /// n64 `struct statfs` (128 bytes of longs): MIPS puts the fragment
    /// size third and the free-inode counts before `f_bavail`.
    fn encode_statfs(&self, s: &StatFs, enc: Encoder) -> Vec<u8> {
        let mut b = StructBuilder::new(128, enc);
        b.u64(0, s.fs_type)
            .u64(8, s.bsize)
            .u64(16, s.frsize)
            .u64(24, s.blocks)
            .u64(32, s.bfree)
            .u64(40, s.files)
            .u64(48, s.ffree)
            .u64(56, s.bavail)
            .u32(64, s.fsid[0] as u32)
            .u32(68, s.fsid[1] as u32)
            .u64(72, s.namelen)
            .u64(80, s.flags);
        b.bytes
    }

    /// n64 `struct stat`: the o32 `stat64` layout (104 bytes).
    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        crate::arch::mipsel::encode_mips_stat(st, enc)
    }
}

impl crate::arch::CpuSupport for Mips64el {
    fn models(&self) -> &'static [crate::arch::cpu::CpuModel] {
        crate::arch::cpu::MIPS64
    }
    fn default_cpu(&self) -> crate::arch::cpu::Cpu {
        &crate::arch::cpu::MIPS64[crate::arch::cpu::MIPS64_DEFAULT]
    }
    /// As qemu-user chooses: a MIPS64 release 6 program gets the I6400,
    /// any other the 5KEf.
    fn default_cpu_for(&self, flags: u32) -> crate::arch::cpu::Cpu {
        if flags & EF_MIPS_ARCH == EF_MIPS_ARCH_64R6 {
            crate::arch::cpu::MIPS64
                .iter()
                .find(|c| c.name == "I6400")
                .unwrap_or_else(|| self.default_cpu())
        } else {
            self.default_cpu()
        }
    }
    fn cpuinfo(&self, cpu: crate::arch::cpu::Cpu, _facts: &crate::arch::cpu::CpuFacts) -> String {
        crate::arch::cpuinfo::mips64(cpu.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_follows_the_programs_flags() {
        let model = |flags: u32| crate::arch::CpuSupport::default_cpu_for(&Mips64el, flags).name;
        // mips64r2, n64, PIC: Debian's default.
        assert_eq!(model(0x8000_0007), "5KEf");
        assert_eq!(model(0xa000_0407), "I6400");
    }

    #[test]
    fn statfs_puts_the_fragment_size_third() {
        let s = StatFs {
            fs_type: 0xef53,
            bsize: 4096,
            frsize: 1024,
            blocks: 10,
            bfree: 9,
            bavail: 8,
            files: 7,
            ffree: 6,
            fsid: [1, 2],
            namelen: 255,
            flags: 0x20,
        };
        let b = Mips64el.encode_statfs(
            &s,
            Encoder {
                endian: Endian::Little,
            },
        );
        let word = |off: usize| u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
        assert_eq!(b.len(), 128);
        assert_eq!(
            [word(0), word(8), word(16), word(24), word(40), word(56)],
            [0xef53, 4096, 1024, 10, 7, 8]
        );
        assert_eq!(word(64), 2 << 32 | 1);
        assert_eq!((word(72), word(80)), (255, 0x20));
    }
}

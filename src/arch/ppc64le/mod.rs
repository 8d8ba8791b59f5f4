// SPDX-License-Identifier: GPL-2.0-or-later
//! ppc64le (64-bit POWER, little-endian, ELFv2): `sc`, number in r0,
//! arguments r3-r8, result in r3 with the error flag in CR0.SO and a
//! positive errno. The engine builds the PowerPC target big-endian; the
//! process runs with `MSR[LE]` set, as Linux runs a ppc64le process. TLS is
//! r13, set by the guest.

use crate::arch::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterPPC;

use crate::abi::types::{encode_stat_x86_64, Stat};
use crate::abi::SyscallTable;
use crate::arch::{Abi, AbiInfo, SyscallRequest, Trap, MMAP_TOP_64};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{Encoder, Endian, Layout};

mod frames;

pub struct Ppc64le;

/// Exceptions as the engine numbers them (POWERPC_EXCP_*).
const EXCP_DSI: u32 = 2;
const EXCP_ISI: u32 = 3;
const EXCP_ALIGN: u32 = 5;
const EXCP_PROGRAM: u32 = 6;
const EXCP_FPU: u32 = 7;
const EXCP_SYSCALL: u32 = 8;
const EXCP_TRACE: u32 = 17;
const EXCP_VPU: u32 = 73;
const EXCP_VSXU: u32 = 94;
const EXCP_HV_EMU: u32 = 96;

/// The MSR of a ppc64le process: 64-bit (SF), vector and VSX available,
/// external interrupts, problem state (user mode), FP, machine check,
/// instruction and data relocation, recoverable, little-endian.
const MSR_USER_LE: u64 = 0x8000_0000_0280_f033;

/// CR0's summary-overflow bit, the system call's error flag.
const CR0_SO: u64 = 1;

fn r(n: i32) -> i32 {
    RegisterPPC::R0 as i32 + n
}

fn table() -> &'static SyscallTable {
    crate::arch::syscall_table!(syscalls::powerpc64::Sysno, true)
}

/// open(2) flags that differ: (ppc bit, x86 bit). arm's directory and
/// no-follow bits, with O_LARGEFILE and O_DIRECT the other way round.
const OPEN_FLAGS: &[(u64, u64)] = &[
    (0o40000, 0o200000),  // O_DIRECTORY
    (0o100000, 0o400000), // O_NOFOLLOW
    (0o200000, 0o100000), // O_LARGEFILE
    (0o400000, 0o40000),  // O_DIRECT
];

/// mmap(2) flags that differ: (ppc bit, x86 bit).
const MMAP_FLAGS: &[(u64, u64)] = &[
    (0x40, 0x4000), // MAP_NORESERVE
    (0x80, 0x2000), // MAP_LOCKED
];

/// SOL_SOCKET options whose numbers differ from the generic ones.
const SOCKOPTS: &[(u64, i32)] = &[
    (16, libc::SO_RCVLOWAT),
    (17, libc::SO_SNDLOWAT),
    (18, libc::SO_RCVTIMEO),
    (19, libc::SO_SNDTIMEO),
    (20, libc::SO_PASSCRED),
    (21, libc::SO_PEERCRED),
    (1, libc::SO_DEBUG),
    (2, libc::SO_REUSEADDR),
    (3, libc::SO_TYPE),
    (4, libc::SO_ERROR),
    (5, libc::SO_DONTROUTE),
    (6, libc::SO_BROADCAST),
    (7, libc::SO_SNDBUF),
    (8, libc::SO_RCVBUF),
    (9, libc::SO_KEEPALIVE),
    (10, libc::SO_OOBINLINE),
    (12, libc::SO_PRIORITY),
    (13, libc::SO_LINGER),
    (15, libc::SO_REUSEPORT),
    (30, libc::SO_ACCEPTCONN),
    (38, libc::SO_PROTOCOL),
    (39, libc::SO_DOMAIN),
];

/// The ioctls ht-user translates: (ppc request, host request). ppc's
/// `_IOC` puts the direction in the top three bits. termios requests are
/// not translated (ppc's `struct termios` differs).
const IOCTLS: &[(u64, u64)] = &[
    (0x4008_7468, 0x5413), // TIOCGWINSZ
    (0x8008_7467, 0x5414), // TIOCSWINSZ
    (0x4004_667f, 0x541b), // FIONREAD
    (0x8004_667e, 0x5421), // FIONBIO
    (0x2000_6601, 0x5451), // FIOCLEX
    (0x2000_6602, 0x5450), // FIONCLEX
    (0x4004_7477, 0x540f), // TIOCGPGRP
    (0x8004_7476, 0x5410), // TIOCSPGRP
];

const INFO: AbiInfo = AbiInfo {
    name: "ppc64le",
    elf_machine: goblin::elf::header::EM_PPC64,
    is_64bit: true,
    endian: Endian::Little,
    // Opened big-endian (the engine's only PowerPC byte order), run
    // little-endian through MSR[LE].
    unicorn: (Arch::PPC, Mode(Mode::PPC64.0 | Mode::BIG_ENDIAN.0)),
    layout: Layout {
        mmap_top: MMAP_TOP_64,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0x7fff_ffff_f000,
    // Linux: ELF_ET_DYN_BASE of a 64-bit task.
    pie_base: 0x1_0000_0000,
    platform: "power9",
    uname_machine: "ppc64le",
    pipe_second_result: None,
    kernel: KernelAbi {
        open_flags: OPEN_FLAGS,
        mmap_flags: MMAP_FLAGS,
        ioctls: Some(IOCTLS),
        sol_socket: Some((1, SOCKOPTS)),
        ipc_layout: crate::arch::IpcLayout::Ppc64,
        ipc_parse_version: true,
        ..KernelAbi::GENERIC
    },
    regs: crate::arch::ThreadRegs {
        result: RegisterPPC::R3 as i32,
        sp: RegisterPPC::R1 as i32,
        pc: RegisterPPC::PC as i32,
        tls: RegisterPPC::R13 as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::TlsBeforeCtid,
    cpus: &Ppc64le,
    frames: &Ppc64le,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: false,
        icache_instruction: false,
        // POWER9's instruction cache snoops stores (PPC_FEATURE_ICACHE_SNOOP):
        // a store to code reaches every engine, as on x86.
        coherent_icache: true,
    },
};

impl Abi for Ppc64le {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }
    fn prepare(&self, _uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        // The engine's default model (its "POWER10", ISA 3.0): choosing a
        // model by number is broken in the engine.
        Ok(())
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        match intno {
            EXCP_SYSCALL => CpuEvent::Syscall,
            EXCP_PROGRAM | EXCP_TRACE => {
                let insn = crate::arch::insn_word(uc, self.pc(uc));
                // twi, tdi, tw, td: a trap instruction (SIGTRAP); any
                // other program check is a privileged or illegal one.
                let trap = matches!(insn >> 26, 2 | 3)
                    || matches!(insn & 0xfc00_07fe, 0x7c00_0008 | 0x7c00_0088);
                CpuEvent::Trap(Trap::at_pc(if trap { libc::SIGTRAP } else { libc::SIGILL }))
            }
            EXCP_HV_EMU | EXCP_VPU | EXCP_VSXU => CpuEvent::Trap(Trap::at_pc(libc::SIGILL)),
            EXCP_FPU => CpuEvent::Trap(Trap::at_pc(libc::SIGFPE)),
            EXCP_ALIGN => {
                let insn = crate::arch::insn_word(uc, self.pc(uc));
                let reg = |n: u32| uc.reg_read(r(n as i32)).unwrap_or(0);
                CpuEvent::Trap(match reserved_access_address(insn, reg) {
                    Some(addr) => Trap::misaligned(addr),
                    None => Trap::at_pc(libc::SIGBUS),
                })
            }
            EXCP_DSI | EXCP_ISI => CpuEvent::Trap(Trap::at_pc(libc::SIGSEGV)),
            _ => CpuEvent::Trap(Trap::at_pc(libc::SIGSEGV)),
        }
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        uc.reg_write(RegisterPPC::MSR, MSR_USER_LE)
            .engine("set the MSR (64-bit, little-endian, user)")?;
        for n in 0..32 {
            uc.reg_write(r(n), 0).engine(format!("set r{n}"))?;
        }
        uc.reg_write(RegisterPPC::R1, sp).engine("set r1")?;
        // ELFv2: a function's global entry point finds its TOC from r12.
        uc.reg_write(RegisterPPC::R12, entry).engine("set r12")?;
        uc.reg_write(RegisterPPC::PC, entry).engine("set pc")?;
        Ok(())
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let reg = |n: i32| uc.reg_read(r(n)).unwrap_or(0);
        SyscallRequest {
            nr: reg(0),
            args: [reg(3), reg(4), reg(5), reg(6), reg(7), reg(8)],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        let cr0 = uc.reg_read(RegisterPPC::CR0).unwrap_or(0);
        let (value, cr0) = if (-4095..0).contains(&ret) {
            ((-ret) as u64, cr0 | CR0_SO)
        } else {
            (ret as u64, cr0 & !CR0_SO)
        };
        let _ = uc.reg_write(RegisterPPC::R3, value);
        let _ = uc.reg_write(RegisterPPC::CR0, cr0);
    }

    fn thread_start(
        &self,
        uc: &mut dyn GuestCpu,
        stack: u64,
        tls: Option<u64>,
    ) -> Result<(), ArchError> {
        self.write_syscall_result(uc, 0);
        if stack != 0 {
            uc.reg_write(RegisterPPC::R1, stack).engine("set r1")?;
        }
        if let Some(tls) = tls {
            uc.reg_write(RegisterPPC::R13, tls).engine("set r13")?;
        }
        Ok(())
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterPPC::PC).unwrap_or(0)
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        let mut out = String::new();
        for n in 0..32 {
            out.push_str(&format!("r{n:<2}={:016x}", uc.reg_read(r(n)).unwrap_or(0)));
            out.push(if n % 4 == 3 { '\n' } else { ' ' });
        }
        let reg = |id: RegisterPPC| uc.reg_read(id).unwrap_or(0);
        out.push_str(&format!(
            "pc={:016x} lr={:016x} ctr={:016x} cr={:08x} xer={:08x}",
            self.pc(uc),
            reg(RegisterPPC::LR),
            reg(RegisterPPC::CTR),
            reg(RegisterPPC::CR),
            reg(RegisterPPC::XER)
        ));
        out
    }

    /// ppc64's `struct stat` is x86_64's layout.
    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        encode_stat_x86_64(st, enc)
    }
}

/// The address a load-and-reserve or store-conditional (`lwarx`,
/// `stdcx.`...: X-form, (RA|0) + RB) accesses: the instructions that must
/// be aligned in user mode, whose alignment fault reports that address
/// (Linux's DAR). `None` for any other instruction.
fn reserved_access_address(insn: u32, reg: impl Fn(u32) -> u64) -> Option<u64> {
    // lbarx, lharx, lwarx, ldarx, lqarx, stbcx., sthcx., stwcx., stdcx., stqcx.
    const XO: [u32; 10] = [52, 116, 20, 84, 276, 694, 726, 150, 214, 182];
    if insn >> 26 != 31 || !XO.contains(&(insn >> 1 & 0x3ff)) {
        return None;
    }
    let (ra, rb) = (insn >> 16 & 31, insn >> 11 & 31);
    let base = if ra == 0 { 0 } else { reg(ra) };
    Some(base.wrapping_add(reg(rb)))
}

/// AT_HWCAP as Linux reports a POWER9: 32- and 64-bit, AltiVec, FPU, MMU,
/// ISA 2.05 and 2.06, decimal floating point, VSX, a snooping instruction
/// cache and true little-endian.
const PPC_HWCAP: u64 = 0x8000_0000 // PPC_FEATURE_32
    | 0x4000_0000 // PPC_FEATURE_64
    | 0x1000_0000 // PPC_FEATURE_HAS_ALTIVEC
    | 0x0800_0000 // PPC_FEATURE_HAS_FPU
    | 0x0400_0000 // PPC_FEATURE_HAS_MMU
    | 0x0000_2000 // PPC_FEATURE_ICACHE_SNOOP
    | 0x0000_1000 // PPC_FEATURE_ARCH_2_05
    | 0x0000_0400 // PPC_FEATURE_HAS_DFP
    | 0x0000_0100 // PPC_FEATURE_ARCH_2_06
    | 0x0000_0080 // PPC_FEATURE_HAS_VSX
    | 0x0000_0002; // PPC_FEATURE_TRUE_LE
/// AT_HWCAP2: ISA 2.07 with isel, tar and the vector crypto instructions,
/// ISA 3.00: what the engine's CPU executes (as qemu-user derives it).
const PPC_HWCAP2: u64 = 0x8000_0000 // PPC_FEATURE2_ARCH_2_07
    | 0x0800_0000 // PPC_FEATURE2_HAS_ISEL
    | 0x0400_0000 // PPC_FEATURE2_HAS_TAR
    | 0x0200_0000 // PPC_FEATURE2_HAS_VEC_CRYPTO
    | 0x0080_0000; // PPC_FEATURE2_ARCH_3_00
/// The cache line sizes Linux gives a ppc64 process (AT_DCACHEBSIZE,
/// AT_ICACHEBSIZE, AT_UCACHEBSIZE): the engine's `dcbz` clears 128 bytes,
/// and glibc sizes its `dcbz` loops from AT_DCACHEBSIZE.
const PPC_AUXV: &[(u64, u64)] = &[(19, 128), (20, 128), (21, 0)];

impl crate::arch::CpuSupport for Ppc64le {
    fn models(&self) -> &'static [crate::arch::cpu::CpuModel] {
        crate::arch::cpu::PPC64
    }
    fn default_cpu(&self) -> crate::arch::cpu::Cpu {
        &crate::arch::cpu::PPC64[0]
    }
    fn facts(&self, _cpu: crate::arch::cpu::Cpu) -> Result<crate::arch::cpu::CpuFacts, ArchError> {
        Ok(crate::arch::cpu::CpuFacts {
            hwcap: PPC_HWCAP,
            hwcap2: PPC_HWCAP2,
            auxv: PPC_AUXV,
            ..Default::default()
        })
    }
    fn cpuinfo(&self, _cpu: crate::arch::cpu::Cpu, _facts: &crate::arch::cpu::CpuFacts) -> String {
        "processor\t: 0\n\
         cpu\t\t: POWER9 (architected), altivec supported\n\
         clock\t\t: 1000.000000MHz\n\
         revision\t: 2.2 (pvr 004e 1202)\n\n\
         timebase\t: 512000000\n\
         platform\t: ht-user\n"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::reserved_access_address;

    #[test]
    fn an_alignment_fault_reports_the_reserved_access_address() {
        let reg = |n: u32| u64::from(n) * 0x1000 + 1;
        // lwarx r9, 0, r3: RA is 0, the address is r3 alone.
        assert_eq!(reserved_access_address(0x7d20_1828, reg), Some(0x3001));
        // stdcx. r9, r4, r5
        assert_eq!(
            reserved_access_address(0x7d24_29ad, reg),
            Some(0x4001 + 0x5001)
        );
        // lwz r9, 0(r3) is no reserved access.
        assert_eq!(reserved_access_address(0x8123_0000, reg), None);
    }
}

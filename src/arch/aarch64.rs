// SPDX-License-Identifier: GPL-2.0-or-later
//! aarch64: `svc #0`, number in x8, arguments x0-x5, result in x0, TLS in
//! TPIDR_EL0 (set by the guest itself).

use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::{Arm64CpuModel, RegisterARM64};

use super::{translate_bits, Abi, AbiInfo, SyscallRequest, Trap, ARM_OPEN_FLAGS, MMAP_TOP_64};
use crate::machine::{self, Engine};
use crate::mem::{Encoder, Endian, Layout};
use crate::syscall::types::{encode_stat_generic64, Stat};
use crate::syscall::{Outcome, Sys, SyscallTable};

pub struct Aarch64;

/// Exception numbers the engine reports (QEMU's EXCP_*).
const EXCP_UDEF: u32 = 1;
const EXCP_SWI: u32 = 2;
const EXCP_PREFETCH_ABORT: u32 = 3;
const EXCP_DATA_ABORT: u32 = 4;
const EXCP_BKPT: u32 = 7;

fn table() -> &'static SyscallTable {
    super::syscall_table!(syscalls::aarch64::Sysno, true)
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
    // fp, asimd, aes, pmull, sha1, sha2, crc32, atomics: all present on the
    // engine's "max" CPU model.
    hwcap: 0b1_1111_1011,
    uname_machine: "aarch64",
};

impl Abi for Aarch64 {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }
    fn cpuinfo(&self) -> String {
        super::cpuinfo::aarch64(self.hwcap())
    }
    fn syscall_table(&self) -> &'static SyscallTable {
        table()
    }
    fn open_flags_to_host(&self, flags: u64) -> i32 {
        translate_bits(flags, ARM_OPEN_FLAGS, true) as i32
    }
    fn open_flags_from_host(&self, flags: i32) -> u64 {
        translate_bits(flags as u32 as u64, ARM_OPEN_FLAGS, false)
    }
    fn sigaction_size(&self) -> usize {
        32
    }

    fn prepare(&self, uc: &mut Engine<'_>) -> Result<(), String> {
        // LSE atomics (ldadd, cas) need more than the default A72 model.
        uc.ctl_set_cpu_model(Arm64CpuModel::MAX as i32)
            .map_err(|e| format!("cannot select the aarch64 CPU model: {e:?}"))?;
        // 4 KiB engine pages, as Linux uses, instead of the engine's 1 KiB
        // default: a quarter of the TLB fills on memory sweeps.
        uc.ctl_set_page_size(4096)
            .map_err(|e| format!("cannot set the engine's page size: {e:?}"))?;
        uc.add_intr_hook(|uc, intno| match intno {
            EXCP_SWI => machine::on_syscall(uc),
            other => {
                let signal = match other {
                    EXCP_UDEF => libc::SIGILL,
                    EXCP_BKPT => libc::SIGTRAP,
                    EXCP_PREFETCH_ABORT | EXCP_DATA_ABORT => libc::SIGSEGV,
                    _ => libc::SIGSEGV,
                };
                machine::on_trap(uc, Trap { signal })
            }
        })
        .map_err(|e| format!("cannot hook exceptions: {e:?}"))?;
        Ok(())
    }

    fn init_registers(&self, uc: &mut Engine<'_>, entry: u64, sp: u64) -> Result<(), String> {
        for n in 0..=28 {
            uc.reg_write(x(n), 0)
                .map_err(|e| format!("cannot set x{n}: {e:?}"))?;
        }
        uc.reg_write(RegisterARM64::SP, sp)
            .map_err(|e| format!("cannot set sp: {e:?}"))?;
        uc.reg_write(RegisterARM64::PC, entry)
            .map_err(|e| format!("cannot set pc: {e:?}"))?;
        Ok(())
    }

    fn read_syscall(&self, uc: &Engine<'_>) -> SyscallRequest {
        let r = |n: i32| uc.reg_read(x(n)).unwrap_or(0);
        SyscallRequest {
            nr: r(8),
            args: [r(0), r(1), r(2), r(3), r(4), r(5)],
        }
    }

    fn write_syscall_result(&self, uc: &mut Engine<'_>, ret: i64) {
        let _ = uc.reg_write(x(0), ret as u64);
    }

    fn arch_syscall(
        &self,
        _uc: &mut Engine<'_>,
        _nr: u64,
        _sys: Option<Sys>,
        _args: &[u64; 6],
    ) -> Option<Outcome> {
        None
    }

    fn thread_regs(&self) -> super::ThreadRegs {
        super::ThreadRegs {
            result: RegisterARM64::X0.into(),
            sp: RegisterARM64::SP.into(),
            tls: RegisterARM64::TPIDR_EL0.into(),
        }
    }

    fn pc(&self, uc: &Engine<'_>) -> u64 {
        uc.reg_read(RegisterARM64::PC).unwrap_or(0)
    }

    fn dump_registers(&self, uc: &Engine<'_>) -> String {
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

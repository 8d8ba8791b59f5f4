// SPDX-License-Identifier: GPL-2.0-or-later
//! aarch64: `svc #0`, number in x8, arguments x0-x5, result in x0, TLS in
//! TPIDR_EL0 (set by the guest itself).

use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::{Arm64CpuModel, RegisterARM64};

use super::{
    below, translate_bits, Abi, AbiInfo, SyscallRequest, Trap, ARM_OPEN_FLAGS, MMAP_TOP_64,
};
use crate::machine::{self, Engine};
use crate::mem::{Encoder, Endian, Fault, Layout, StructBuilder};
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

/// x0..x30 (x29 and x30 are apart from the others in the engine's
/// numbering).
fn gpr(n: i32) -> i32 {
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
fn exclusive_or_atomic_address(uc: &Engine<'_>, pc: u64) -> Option<u64> {
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
                let pc = uc.reg_read(RegisterARM64::PC).unwrap_or(0);
                // A branch to a misaligned address: Linux's PC alignment
                // fault, SIGBUS at that address.
                if Aarch64.misaligned_pc(uc) {
                    return machine::on_trap(uc, Trap::misaligned(pc));
                }
                if other == EXCP_DATA_ABORT && uc.get_data().last_fault.is_none() {
                    // Not a page the TLB hook refused: an alignment fault.
                    if let Some(addr) = exclusive_or_atomic_address(uc, pc) {
                        return machine::on_trap(uc, Trap::misaligned(addr));
                    }
                }
                let signal = match other {
                    EXCP_UDEF => libc::SIGILL,
                    EXCP_BKPT => libc::SIGTRAP,
                    EXCP_PREFETCH_ABORT | EXCP_DATA_ABORT => libc::SIGSEGV,
                    _ => libc::SIGSEGV,
                };
                machine::on_trap(uc, Trap::at_pc(signal))
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

    fn min_signal_stack(&self) -> u64 {
        5120
    }

    fn push_signal_frame(
        &self,
        uc: &mut Engine<'_>,
        f: &super::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        // rt_sigframe (siginfo, ucontext), then a frame record {fp, lr}.
        let size = SIGFRAME_SIZE + 16;
        let frame = below(f.sp, size)? & !15;
        let record = frame + SIGFRAME_SIZE;
        let enc = uc.get_data().process.mem.encoder();
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
            .u64(mc + 272, uc.reg_read(RegisterARM64::NZCV).unwrap_or(0));
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
        uc.get_data_mut().process.mem.write(frame, &b.bytes)?;
        let set = |uc: &mut Engine<'_>, r: i32, v: u64| {
            let _ = uc.reg_write(r, v);
        };
        set(uc, x(0), f.sig);
        set(uc, x(1), frame);
        set(uc, x(2), frame + u as u64);
        set(uc, RegisterARM64::SP.into(), frame);
        set(uc, RegisterARM64::X29.into(), record);
        set(uc, RegisterARM64::X30.into(), f.return_to);
        set(uc, RegisterARM64::PC.into(), f.handler);
        Ok((frame, f.handler))
    }

    fn pop_signal_frame(
        &self,
        uc: &mut Engine<'_>,
        frame: u64,
        _rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let raw = uc
            .get_data()
            .process
            .mem
            .read_vec(frame, SIGFRAME_SIZE as usize)?;
        let word = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().unwrap());
        let mc = 128 + MCONTEXT;
        for n in 0..31 {
            let _ = uc.reg_write(gpr(n), word(mc + 8 + 8 * n as usize));
        }
        let pc = word(mc + 264);
        let _ = uc.reg_write(RegisterARM64::SP, word(mc + 256));
        let _ = uc.reg_write(RegisterARM64::PC, pc);
        let _ = uc.reg_write(RegisterARM64::NZCV, word(mc + 272) & 0xf000_0000);
        Ok((word(128 + UC_SIGMASK), pc))
    }

    fn sigreturn_code(&self, _rt: bool) -> Vec<u32> {
        // mov x8, #139 (rt_sigreturn); svc #0
        vec![0xd280_1168, 0xd400_0001]
    }

    fn thread_regs(&self) -> super::ThreadRegs {
        super::ThreadRegs {
            result: RegisterARM64::X0.into(),
            sp: RegisterARM64::SP.into(),
            pc: RegisterARM64::PC.into(),
            tls: RegisterARM64::TPIDR_EL0.into(),
        }
    }

    fn pc(&self, uc: &Engine<'_>) -> u64 {
        uc.reg_read(RegisterARM64::PC).unwrap_or(0)
    }

    fn misaligned_pc(&self, uc: &Engine<'_>) -> bool {
        self.pc(uc) & 3 != 0
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

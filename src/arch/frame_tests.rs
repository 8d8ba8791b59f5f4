// SPDX-License-Identifier: GPL-2.0-or-later
//! Every architecture's signal frames, built and read back on a fake CPU
//! (registers in a map, a real address space): no engine is needed, since
//! the architectures see the CPU only through [`GuestCpu`].

use std::collections::HashMap;
use std::sync::Arc;

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::{Context, RegisterARM64CP};

use super::cpu::{Cpu, CpuFacts};
use super::{Abi, ArchSlot, GuestCpu, SignalFrame, Trap};
use crate::abi::signal::AltStack;
use crate::mem::{AddressSpace, HostMapping, Perms, RegionKind};

/// A CPU that is a map of registers (unset ones read 0) over a real
/// address space with one stack region.
struct FakeCpu {
    abi: &'static dyn Abi,
    facts: CpuFacts,
    regs: HashMap<i32, u64>,
    mem: AddressSpace,
    slot: ArchSlot,
    traps: Vec<Trap>,
}

const STACK: u64 = 0x10_0000;
const STACK_LEN: u64 = 0x10_0000;

impl FakeCpu {
    fn new(abi: &'static dyn Abi) -> FakeCpu {
        let mut mem = AddressSpace::new(abi.endian(), abi.layout());
        let host = HostMapping::anonymous(STACK_LEN as usize).unwrap();
        mem.map(
            STACK,
            STACK_LEN,
            Perms::RW,
            Perms(7),
            RegionKind::Memory {
                name: "[stack]".into(),
            },
            Some(Arc::new(host)),
            0,
        );
        FakeCpu {
            abi,
            facts: abi.cpu_facts(abi.default_cpu()).unwrap(),
            regs: HashMap::new(),
            mem,
            slot: ArchSlot::default(),
            traps: Vec::new(),
        }
    }
}

impl GuestCpu for FakeCpu {
    fn abi(&self) -> &'static dyn Abi {
        self.abi
    }
    fn model(&self) -> Cpu {
        self.abi.default_cpu()
    }
    fn facts(&self) -> &CpuFacts {
        &self.facts
    }
    fn read_reg(&self, reg: i32) -> Result<u64, uc_error> {
        Ok(self.regs.get(&reg).copied().unwrap_or(0))
    }
    fn write_reg(&mut self, reg: i32, value: u64) -> Result<(), uc_error> {
        self.regs.insert(reg, value);
        Ok(())
    }
    fn write_reg_bytes(&mut self, _reg: i32, _value: &[u8]) -> Result<(), uc_error> {
        Ok(())
    }
    fn read_arm64_sysreg(&self, reg: &mut RegisterARM64CP) -> Result<(), uc_error> {
        reg.val = 0;
        Ok(())
    }
    fn write_arm64_sysreg(&mut self, _reg: &RegisterARM64CP) -> Result<(), uc_error> {
        Ok(())
    }
    fn set_engine_model(&mut self, _model: i32) -> Result<(), uc_error> {
        Ok(())
    }
    fn set_engine_page_size(&mut self, _size: u32) -> Result<(), uc_error> {
        Ok(())
    }
    fn save_state(&mut self) -> Result<Context, uc_error> {
        Err(uc_error::ARG)
    }
    fn restore_state(&mut self, _state: &Context) -> Result<(), uc_error> {
        Err(uc_error::ARG)
    }
    fn mem(&self) -> super::MemRef<'_> {
        Box::new(&self.mem)
    }
    fn mem_mut(&mut self) -> super::MemMut<'_> {
        Box::new(&mut self.mem)
    }
    fn page_was_refused(&self) -> bool {
        false
    }
    fn take_fault_pc(&mut self) -> Option<u64> {
        None
    }
    fn slot(&mut self) -> &mut ArchSlot {
        &mut self.slot
    }
    fn raise_trap(&mut self, trap: Trap) {
        self.traps.push(trap);
    }
}

/// The frame kinds an ABI has: rt always, the legacy one where it exists.
fn kinds(abi: &dyn Abi) -> Vec<bool> {
    if abi.has_legacy_frame() {
        vec![true, false]
    } else {
        vec![true]
    }
}

/// A delivery of signal 10 with a recognisable siginfo, on the thread's
/// own stack at `sp`.
fn delivery(info: &[u8], sp: u64, rt: bool) -> SignalFrame<'_> {
    SignalFrame {
        sig: 10,
        info,
        handler: 0x40_1000,
        return_to: 0x40_2000,
        sp,
        on_own_stack: true,
        saved_mask: 0x8000_4001,
        altstack: AltStack::default(),
        rt,
        fault: None,
        trap: None,
    }
}

#[test]
fn frames_point_the_cpu_at_the_handler_below_the_stack() {
    for abi in super::all() {
        for rt in kinds(abi) {
            let name = format!("{} rt={rt}", abi.name());
            let mut cpu = FakeCpu::new(abi);
            let regs = abi.thread_regs();
            let sp = STACK + STACK_LEN - 0x1000 + 8;
            cpu.regs.insert(regs.sp, sp);
            cpu.regs.insert(regs.pc, 0x40_0100);
            let info: Vec<u8> = (0..128).map(|i| i as u8 ^ 0x5a).collect();
            let (frame, start) = abi
                .push_signal_frame(&mut cpu, &delivery(&info, sp, rt))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(start, 0x40_1000, "{name}: starts at the handler");
            assert_eq!(abi.pc(&cpu), 0x40_1000, "{name}: pc");
            assert!(frame < sp && frame >= STACK, "{name}: frame {frame:#x}");
            let new_sp = cpu.regs[&regs.sp];
            assert!(
                new_sp <= frame + 16 && new_sp > STACK,
                "{name}: sp {new_sp:#x}"
            );
            // The ABI's stack alignment at a function's entry: x86 as
            // after a call (the return address pushed), the others as is.
            let (align, pushed) = match abi.name() {
                "x86_64" => (16, 8),
                "i386" => (16, 4),
                "aarch64" | "riscv64" | "mips64el" | "ppc64le" => (16, 0),
                _ => (8, 0),
            };
            assert_eq!(
                (new_sp + pushed) % align,
                0,
                "{name}: the handler's stack is aligned"
            );
            if rt {
                // The siginfo is in the frame, whole.
                let bytes = cpu.mem.read_vec(frame, (sp - frame) as usize).unwrap();
                assert!(
                    bytes.windows(128).any(|w| w == &info[..]),
                    "{name}: siginfo not in the frame"
                );
            }
        }
    }
}

#[test]
fn sigreturn_gives_back_the_interrupted_registers_and_mask() {
    for abi in super::all() {
        for rt in kinds(abi) {
            let name = format!("{} rt={rt}", abi.name());
            let mut cpu = FakeCpu::new(abi);
            let regs = abi.thread_regs();
            let sp = STACK + STACK_LEN - 0x2000;
            cpu.regs.insert(regs.sp, sp);
            cpu.regs.insert(regs.pc, 0x40_0100);
            cpu.regs.insert(regs.result, 0x1234_5678);
            let info = [0u8; 128];
            let (frame, _) = abi
                .push_signal_frame(&mut cpu, &delivery(&info, sp, rt))
                .unwrap();
            // The handler clobbers what it likes.
            cpu.regs.insert(regs.result, 0xdead);
            cpu.regs.insert(regs.sp, 0x99_0000);
            let (mask, resume) = abi
                .pop_signal_frame(&mut cpu, frame, rt)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let word = |v: u64| if abi.is_64bit() { v } else { v & 0xffff_ffff };
            assert_eq!(resume, 0x40_0100, "{name}: resumes where it was");
            assert_eq!(word(cpu.regs[&regs.sp]), sp, "{name}: sp");
            assert_eq!(
                word(cpu.regs[&regs.result]),
                0x1234_5678,
                "{name}: result register"
            );
            assert_eq!(word(mask), 0x8000_4001 & word(u64::MAX), "{name}: mask");
        }
    }
}

#[test]
fn a_stack_pointer_too_low_for_the_frame_is_a_fault() {
    for abi in super::all() {
        let mut cpu = FakeCpu::new(abi);
        let info = [0u8; 128];
        // Just above the bottom of the only mapping: the frame would go
        // below it, into unmapped memory (or wrap below 0).
        for sp in [STACK + 64, 64] {
            assert!(
                abi.push_signal_frame(&mut cpu, &delivery(&info, sp, true))
                    .is_err(),
                "{}: sp {sp:#x}",
                abi.name()
            );
        }
    }
}

/// AArch64 enters a handler as a call through a register (BTYPE "call"),
/// so a handler on a guarded page must begin with a landing pad; the
/// frame keeps the interrupted BTYPE, and sigreturn puts it back only
/// from a valid EL0 PSTATE.
#[test]
fn aarch64_handlers_start_with_btype_call() {
    use unicorn_engine::RegisterARM64;
    let abi: &'static dyn Abi = &super::aarch64::Aarch64;
    let mut cpu = FakeCpu::new(abi);
    let sp = STACK + STACK_LEN - 0x1000;
    let pstate = RegisterARM64::PSTATE as i32;
    cpu.regs.insert(RegisterARM64::SP as i32, sp);
    cpu.regs.insert(pstate, 1 << 10);
    let info = [0u8; 128];
    let (frame, _) = abi
        .push_signal_frame(&mut cpu, &delivery(&info, sp, true))
        .unwrap();
    assert_eq!(cpu.regs[&pstate] & 0xc00, 2 << 10, "BTYPE call");
    abi.pop_signal_frame(&mut cpu, frame, true).unwrap();
    assert_eq!(cpu.regs[&pstate] & 0xc00, 1 << 10, "BTYPE restored");
    // A handler that writes an invalid PSTATE (as QEMU's BTI tests do)
    // resumes with BTYPE 0.
    let (frame, _) = abi
        .push_signal_frame(&mut cpu, &delivery(&info, sp, true))
        .unwrap();
    let pstate_at = frame + 128 + 176 + 272;
    let enc = cpu.mem.encoder();
    cpu.mem.write(pstate_at, &enc.u64(1 | 1 << 10)).unwrap();
    abi.pop_signal_frame(&mut cpu, frame, true).unwrap();
    assert_eq!(cpu.regs[&pstate] & 0xc00, 0, "BTYPE cleared");
}

/// x86's segment-not-present and stack faults are SIGBUS with SI_KERNEL
/// (the kernel's own), other SIGBUS traps (#AC) the usual alignment code;
/// the trap carries it, with the vector and error code for the frame.
#[test]
fn x86_segment_faults_carry_their_si_code() {
    use unicorn_engine::RegisterX86;
    let mut cpu = FakeCpu::new(&super::x86_64::X86_64);
    cpu.regs.insert(RegisterX86::EXCP_ERROR_CODE as i32, 0x2b);
    for (vector, signal, code) in [
        (11, libc::SIGBUS, Some(crate::abi::signal::SI_KERNEL)),
        (12, libc::SIGBUS, Some(crate::abi::signal::SI_KERNEL)),
        (17, libc::SIGBUS, None),
        (13, libc::SIGSEGV, None),
        (6, libc::SIGILL, None),
    ] {
        let trap = super::x86_64::trap_for_interrupt(&cpu, vector);
        assert_eq!((trap.signal, trap.code), (signal, code), "vector {vector}");
        let v = trap.vector.unwrap();
        assert_eq!((v.number, v.error_code), (vector, 0x2b));
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! n64 signal frames: the rt frame alone (siginfo and ucontext), built for
//! a handler and read back by rt_sigreturn.

use super::*;
use crate::arch::below;
use crate::arch::mipsel::{in_delay_slot, leave_delay_slot, RA, T9};
use crate::mem::Fault;

/// n64 `struct sigcontext`: 32 general registers, 32 FP registers, mdhi,
/// hi1-3, mdlo, lo1-3, pc (all 64 bits), then fpc_csr, used_math, dsp and
/// a reserved word.
const SC_REGS: usize = 0;
const SC_FPREGS: usize = 256;
const SC_MDHI: usize = 512;
const SC_MDLO: usize = 544;
const SC_PC: usize = 576;
const SC_FPC_CSR: usize = 584;
const SC_USED_MATH: usize = 588;
const SIGCONTEXT_SIZE: usize = 600;
/// The o32 argument save area and two padding words the kernel keeps at
/// the start of every ABI's rt frame.
const FRAME_HEAD: usize = 24;
/// rt_sigframe: siginfo, then the ucontext: flags, link, stack_t (sp,
/// size, flags: 24 bytes), the sigcontext and a 16-byte sigset.
const RT_UC: usize = FRAME_HEAD + 128;
const UC_STACK: usize = 16;
const UC_MCONTEXT: usize = 40;
const UC_SIGMASK: usize = UC_MCONTEXT + SIGCONTEXT_SIZE;
const FRAME_SIZE: usize = RT_UC + UC_SIGMASK + 16;

impl crate::arch::SignalFrames for Mips64el {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &crate::arch::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        let (sc, mask) = (RT_UC + UC_MCONTEXT, RT_UC + UC_SIGMASK);
        // The kernel keeps 32 bytes below the interrupted code's stack
        // pointer free (for the FPU emulator's trampoline).
        let sp = if f.on_own_stack {
            below(f.sp, 32)?
        } else {
            f.sp
        };
        let frame = below(sp, FRAME_SIZE as u64)? & !15;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(FRAME_SIZE, enc);
        let reg = |uc: &dyn GuestCpu, id: i32| uc.reg_read(id).unwrap_or(0);
        // A fault in a branch delay slot resumes at the branch, as the
        // kernel's EPC does (see mipsel's frames).
        let mut pc = self.pc(uc);
        if f.fault.is_some() {
            if let Some(at) = uc.take_fault_pc() {
                pc = at;
            }
        }
        let in_slot = in_delay_slot(uc, pc);
        if in_slot {
            pc -= 4;
        }
        b.u64(sc + SC_PC, pc);
        for n in 1..32 {
            b.u64(sc + SC_REGS + 8 * n as usize, reg(uc, r(n)));
        }
        for n in 0..32 {
            let v = reg(uc, RegisterMIPS::F0 as i32 + n);
            b.u64(sc + SC_FPREGS + 8 * n as usize, v);
        }
        b.u32(sc + SC_FPC_CSR, reg(uc, RegisterMIPS::FCSR.into()) as u32)
            .u32(sc + SC_USED_MATH, 1)
            .u64(sc + SC_MDHI, reg(uc, RegisterMIPS::HI.into()))
            .u64(sc + SC_MDLO, reg(uc, RegisterMIPS::LO.into()))
            .u64(mask, f.saved_mask)
            .bytes_at(FRAME_HEAD, f.info)
            .u64(RT_UC + UC_STACK, f.altstack.sp)
            .u64(RT_UC + UC_STACK + 8, f.altstack.size)
            .u32(RT_UC + UC_STACK + 16, f.altstack.flags);
        uc.mem_mut().write(frame, &b.bytes)?;
        if in_slot {
            leave_delay_slot(uc);
        }
        let set = |uc: &mut dyn GuestCpu, n: i32, v: u64| {
            let _ = uc.reg_write(r(n), v);
        };
        set(uc, A0, f.sig);
        set(uc, A0 + 1, frame + FRAME_HEAD as u64);
        set(uc, A0 + 2, frame + RT_UC as u64);
        set(uc, SP, frame);
        set(uc, RA, f.return_to);
        // PIC code finds its GOT from its own address in t9.
        set(uc, T9, f.handler);
        let _ = uc.reg_write(RegisterMIPS::PC, f.handler);
        Ok((frame, f.handler))
    }
    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        _rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let (sc, mask) = (RT_UC + UC_MCONTEXT, RT_UC + UC_SIGMASK);
        let raw = uc.mem().read_vec(frame, FRAME_SIZE)?;
        // The engine state saved at delivery may be that of a fault in a
        // delay slot (its pc no longer tells): the frame's pc is where to go.
        leave_delay_slot(uc);
        let word = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().unwrap());
        for n in 1..32 {
            let _ = uc.reg_write(r(n), word(sc + SC_REGS + 8 * n as usize));
        }
        let _ = uc.reg_write(RegisterMIPS::HI, word(sc + SC_MDHI));
        let _ = uc.reg_write(RegisterMIPS::LO, word(sc + SC_MDLO));
        let pc = word(sc + SC_PC);
        let _ = uc.reg_write(RegisterMIPS::PC, pc);
        Ok((word(mask), pc))
    }
    fn sigreturn_code(&self, _rt: bool) -> Vec<u32> {
        // li v0, 5211 (n64 rt_sigreturn); syscall
        vec![0x2402_0000 | 5211, 0x0000_000c]
    }
}

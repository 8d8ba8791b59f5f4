// SPDX-License-Identifier: GPL-2.0-or-later
//! ppc64 rt signal frame (arch/powerpc/kernel/signal_64.c): the ucontext
//! with its sigcontext, a trampoline area, pointers to the siginfo and
//! the ucontext, the siginfo and the ELFv2 red zone; the handler's stack
//! frame sits 128 bytes below, its back chain pointing at the
//! interrupted stack.

use super::*;
use crate::arch::below;
use crate::mem::{Fault, StructBuilder};

/// ucontext: flags, link, stack_t (sp, flags, size), the 64-bit sigmask
/// and 15 unused sigsets, then the sigcontext.
const UC_STACK: usize = 16;
const UC_SIGMASK: usize = 40;
const UC_MCONTEXT: usize = 168;
/// sigcontext: 4 unused words, signal, handler, oldmask, the pointer to
/// gp_regs, 48 general registers' slots, 33 FP slots (fpscr last), the
/// vector registers' pointer and their reserve.
const SC_SIGNAL: usize = 32;
const SC_HANDLER: usize = 40;
const SC_OLDMASK: usize = 48;
const SC_REGS: usize = 56;
const SC_GP_REGS: usize = 64;
const SC_FP_REGS: usize = 448;
const SIGCONTEXT_SIZE: usize = 1528;
/// gp_regs slots after r0-r31 (`struct pt_regs`).
const PT_NIP: usize = 32;
const PT_MSR: usize = 33;
const PT_ORIG_R3: usize = 34;
const PT_CTR: usize = 35;
const PT_LNK: usize = 36;
const PT_XER: usize = 37;
const PT_CCR: usize = 38;
const UCONTEXT_SIZE: usize = UC_MCONTEXT + SIGCONTEXT_SIZE;
/// rt_sigframe: the ucontext, two unused words, the 7-word trampoline,
/// pinfo, puc, the siginfo, then the 512-byte red zone.
const PINFO: usize = UCONTEXT_SIZE + 16 + 32;
const PUC: usize = PINFO + 8;
const INFO_AT: usize = PUC + 8;
/// What the frame holds; the 512 bytes above it are the interrupted
/// code's red zone (ELFv2), skipped and never written.
const FRAME_USED: usize = INFO_AT + 128;
const FRAME_SIZE: usize = FRAME_USED + 512;
/// The handler's own minimal stack frame below the signal frame.
const SIGNAL_FRAMESIZE: u64 = 128;
/// The MSR bit sigreturn takes from the frame.
const MSR_LE: u64 = 1;

impl crate::arch::SignalFrames for Ppc64le {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &crate::arch::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        let frame = below(f.sp, FRAME_SIZE as u64)? & !15;
        let handler_sp = below(frame, SIGNAL_FRAMESIZE)?;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(FRAME_USED, enc);
        let reg = |uc: &dyn GuestCpu, id: RegisterPPC| uc.reg_read(id).unwrap_or(0);
        let mut pc = self.pc(uc);
        if f.fault.is_some() {
            if let Some(at) = uc.take_fault_pc() {
                pc = at;
            }
        }
        let sc = UC_MCONTEXT;
        let gp = sc + SC_GP_REGS;
        for n in 0..32 {
            b.u64(gp + 8 * n as usize, uc.reg_read(r(n)).unwrap_or(0));
        }
        b.u64(gp + 8 * PT_NIP, pc)
            .u64(gp + 8 * PT_MSR, reg(uc, RegisterPPC::MSR))
            .u64(gp + 8 * PT_ORIG_R3, uc.reg_read(r(3)).unwrap_or(0))
            .u64(gp + 8 * PT_CTR, reg(uc, RegisterPPC::CTR))
            .u64(gp + 8 * PT_LNK, reg(uc, RegisterPPC::LR))
            .u64(gp + 8 * PT_XER, reg(uc, RegisterPPC::XER))
            .u64(gp + 8 * PT_CCR, reg(uc, RegisterPPC::CR));
        for n in 0..32 {
            let v = uc.reg_read(RegisterPPC::FPR0 as i32 + n).unwrap_or(0);
            b.u64(sc + SC_FP_REGS + 8 * n as usize, v);
        }
        b.u64(sc + SC_FP_REGS + 8 * 32, reg(uc, RegisterPPC::FPSCR))
            .u32(sc + SC_SIGNAL, f.sig as u32)
            .u64(sc + SC_HANDLER, f.handler)
            .u64(sc + SC_OLDMASK, f.saved_mask)
            .u64(sc + SC_REGS, frame + gp as u64)
            .u64(UC_SIGMASK, f.saved_mask)
            .u64(UC_STACK, f.altstack.sp)
            .u32(UC_STACK + 8, f.altstack.flags)
            .u64(UC_STACK + 16, f.altstack.size)
            .u64(PINFO, frame + INFO_AT as u64)
            .u64(PUC, frame)
            .bytes_at(INFO_AT, f.info);
        uc.mem_mut().write(frame, &b.bytes)?;
        // The handler's frame: its back chain is the interrupted stack.
        let old_sp = uc.reg_read(RegisterPPC::R1).unwrap_or(0);
        uc.mem_mut().write(handler_sp, &enc.u64(old_sp))?;
        let set = |uc: &mut dyn GuestCpu, id: i32, v: u64| {
            let _ = uc.reg_write(id, v);
        };
        set(uc, RegisterPPC::R1 as i32, handler_sp);
        set(uc, r(3), f.sig);
        set(uc, r(4), frame + INFO_AT as u64);
        set(uc, r(5), frame);
        set(uc, r(6), frame);
        // ELFv2: the entry point computes its TOC from r12.
        set(uc, r(12), f.handler);
        set(uc, RegisterPPC::CTR as i32, f.handler);
        set(uc, RegisterPPC::LR as i32, f.return_to);
        set(uc, RegisterPPC::PC as i32, f.handler);
        Ok((frame, f.handler))
    }

    /// rt_sigreturn finds the frame 128 bytes above the stack pointer the
    /// handler returns with.
    fn signal_frame_at_return(&self, uc: &dyn GuestCpu, _rt: bool) -> u64 {
        uc.reg_read(RegisterPPC::R1).unwrap_or(0) + SIGNAL_FRAMESIZE
    }

    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        _rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let raw = uc.mem().read_vec(frame, FRAME_USED)?;
        let word = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().unwrap());
        let gp = UC_MCONTEXT + SC_GP_REGS;
        for n in 0..32 {
            let _ = uc.reg_write(r(n), word(gp + 8 * n as usize));
        }
        let pc = word(gp + 8 * PT_NIP);
        let _ = uc.reg_write(RegisterPPC::PC, pc);
        let _ = uc.reg_write(RegisterPPC::CTR, word(gp + 8 * PT_CTR));
        let _ = uc.reg_write(RegisterPPC::LR, word(gp + 8 * PT_LNK));
        let _ = uc.reg_write(RegisterPPC::XER, word(gp + 8 * PT_XER) & 0xffff_ffff);
        let _ = uc.reg_write(RegisterPPC::CR, word(gp + 8 * PT_CCR) & 0xffff_ffff);
        // Only the byte order comes back from the frame's MSR.
        let msr = uc.reg_read(RegisterPPC::MSR).unwrap_or(MSR_USER_LE);
        let le = word(gp + 8 * PT_MSR) & MSR_LE;
        let _ = uc.reg_write(RegisterPPC::MSR, msr & !MSR_LE | le);
        for n in 0..32 {
            let v = word(UC_MCONTEXT + SC_FP_REGS + 8 * n as usize);
            let _ = uc.reg_write(RegisterPPC::FPR0 as i32 + n, v);
        }
        Ok((word(UC_SIGMASK), pc))
    }

    fn sigreturn_code(&self, _rt: bool) -> Vec<u32> {
        // li r0, 172 (rt_sigreturn); sc
        vec![0x3800_00ac, 0x4400_0002]
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! s390x rt signal frame (arch/s390/kernel/signal.c): the 160-byte save
//! area the handler may use, the sigreturn `svc`, the siginfo and the
//! extended ucontext; its first word is the back chain to the interrupted
//! stack, and the handler runs with r15 at the frame.

use super::*;
use crate::arch::below;
use crate::mem::Fault;

/// rt_sigframe: the callee's save area, svc_insn, the siginfo, the ucontext.
const SVC_INSN: usize = 160;
const INFO_AT: usize = 168;
const UC: usize = 296;
/// ucontext_extended: flags, link, stack_t, then _sigregs (PSW mask and
/// address, r0-r15, a0-a15, fpc and its pad, f0-f15), the sigmask, 120
/// bytes for its growth and the vector registers' area.
const UC_STACK: usize = UC + 16;
const SR_PSW_MASK: usize = UC + 40;
const SR_PSW_ADDR: usize = UC + 48;
const SR_GPRS: usize = UC + 56;
const SR_ACRS: usize = UC + 184;
const SR_FPC: usize = UC + 248;
const SR_FPRS: usize = UC + 256;
const UC_SIGMASK: usize = UC + 384;
const FRAME_SIZE: usize = UC + 1024;
/// The PSW bits a handler may change: the condition code and program mask.
const PSW_MASK_CC_PM: u64 = 0x0000_3f00_0000_0000;

impl crate::arch::SignalFrames for S390x {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &crate::arch::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        let frame = below(f.sp, FRAME_SIZE as u64)? & !7;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(FRAME_SIZE, enc);
        let reg = |uc: &dyn GuestCpu, id: i32| uc.reg_read(id).unwrap_or(0);
        let mut pc = self.pc(uc);
        if f.fault.is_some() {
            if let Some(at) = uc.take_fault_pc() {
                pc = at;
            }
        }
        // The back chain: the interrupted code's stack pointer.
        b.u64(0, reg(uc, RegisterS390X::R15 as i32));
        // svc rt_sigreturn, for a handler without a restorer.
        b.u16(SVC_INSN, 0x0a00 | 173);
        b.bytes_at(INFO_AT, f.info)
            .u64(UC_STACK, f.altstack.sp)
            .u32(UC_STACK + 8, f.altstack.flags)
            .u64(UC_STACK + 16, f.altstack.size)
            .u64(SR_PSW_MASK, reg(uc, RegisterS390X::PSWM as i32))
            .u64(SR_PSW_ADDR, pc)
            .u32(SR_FPC, reg(uc, RegisterS390X::FPC as i32) as u32)
            .u64(UC_SIGMASK, f.saved_mask);
        for n in 0..16 {
            b.u64(SR_GPRS + 8 * n as usize, reg(uc, r(n)));
            let acr = reg(uc, RegisterS390X::A0 as i32 + n) as u32;
            b.u32(SR_ACRS + 4 * n as usize, acr);
            let fpr = reg(uc, RegisterS390X::F0 as i32 + n);
            b.u64(SR_FPRS + 8 * n as usize, fpr);
        }
        uc.mem_mut().write(frame, &b.bytes)?;
        let set = |uc: &mut dyn GuestCpu, id: i32, v: u64| {
            let _ = uc.reg_write(id, v);
        };
        set(uc, RegisterS390X::R15 as i32, frame);
        set(uc, r(2), f.sig);
        set(uc, r(3), frame + INFO_AT as u64);
        set(uc, r(4), frame + UC as u64);
        set(uc, r(14), f.return_to);
        set(uc, RegisterS390X::PC as i32, f.handler);
        Ok((frame, f.handler))
    }

    /// rt_sigreturn finds the frame at the stack pointer the handler
    /// returns with.
    fn signal_frame_at_return(&self, uc: &dyn GuestCpu, _rt: bool) -> u64 {
        uc.reg_read(RegisterS390X::R15).unwrap_or(0)
    }

    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        _rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let raw = uc.mem().read_vec(frame, FRAME_SIZE)?;
        let enc = uc.mem().encoder();
        let word = |off: usize| enc.decode_u64(raw[off..off + 8].try_into().unwrap());
        let half = |off: usize| enc.decode_u32(raw[off..off + 4].try_into().unwrap());
        for n in 0..16 {
            let _ = uc.reg_write(r(n), word(SR_GPRS + 8 * n as usize));
            let acr = u64::from(half(SR_ACRS + 4 * n as usize));
            let _ = uc.reg_write(RegisterS390X::A0 as i32 + n, acr);
            let _ = uc.reg_write(RegisterS390X::F0 as i32 + n, word(SR_FPRS + 8 * n as usize));
        }
        let _ = uc.reg_write(RegisterS390X::FPC, u64::from(half(SR_FPC)));
        // Only the condition code and the program mask come from the frame.
        let mask = uc.reg_read(RegisterS390X::PSWM).unwrap_or(PSW_MASK_USER);
        let from_frame = word(SR_PSW_MASK) & PSW_MASK_CC_PM;
        let _ = uc.reg_write(RegisterS390X::PSWM, mask & !PSW_MASK_CC_PM | from_frame);
        let pc = word(SR_PSW_ADDR);
        let _ = uc.reg_write(RegisterS390X::PC, pc);
        Ok((word(UC_SIGMASK), pc))
    }

    fn sigreturn_code(&self, _rt: bool) -> Vec<u32> {
        // svc 173 (rt_sigreturn), then two zero bytes never reached.
        vec![0x0aad_0000]
    }
}

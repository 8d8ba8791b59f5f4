// SPDX-License-Identifier: GPL-2.0-or-later
//! o32 signal frames: the rt frame (siginfo and ucontext) and the legacy
//! one, built for a handler and read back by sigreturn.

use super::*;

/// o32 `struct sigcontext` (8-aligned): regmask, status, pc, 32 general
/// registers, 32 FP registers (64 bits each), acx, fpc_csr, fpc_eir,
/// used_math, dsp, mdhi, mdlo, then hi1..lo3.
const SC_PC: usize = 8;
const SC_REGS: usize = 16;
const SC_FPREGS: usize = SC_REGS + 256;
const SC_FPC_CSR: usize = SC_FPREGS + 256 + 4;
const SC_USED_MATH: usize = SC_FPREGS + 256 + 12;
const SC_MDHI: usize = SC_FPREGS + 256 + 24;
const SC_MDLO: usize = SC_MDHI + 8;
const SIGCONTEXT_SIZE: usize = SC_MDLO + 8 + 24;
/// Argument save area (4 words) and padding at the start of both frames.
const FRAME_HEAD: usize = 24;
/// rt_sigframe: siginfo, then the ucontext: flags, link, stack_t, the
/// sigcontext (8-aligned) and a 16-byte sigset.
const RT_UC: usize = FRAME_HEAD + 128;
const UC_MCONTEXT: usize = 24;
const UC_SIGMASK: usize = UC_MCONTEXT + SIGCONTEXT_SIZE;
const UCONTEXT_SIZE: usize = UC_SIGMASK + 16;
/// sigframe: the sigcontext and the sigset.
const LEGACY_SIZE: usize = FRAME_HEAD + SIGCONTEXT_SIZE + 16;

impl crate::arch::SignalFrames for Mipsel {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &crate::arch::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        // Both frames start with the o32 argument save area and two
        // words of padding; rt_sigframe then holds siginfo and ucontext,
        // sigframe the sigcontext and the mask.
        let (size, sc, mask) = if f.rt {
            (
                RT_UC + UCONTEXT_SIZE,
                RT_UC + UC_MCONTEXT,
                RT_UC + UC_SIGMASK,
            )
        } else {
            (LEGACY_SIZE, FRAME_HEAD, FRAME_HEAD + SIGCONTEXT_SIZE)
        };
        // The kernel keeps 32 bytes below the interrupted code's stack
        // pointer free (for the FPU emulator's trampoline).
        let sp = if f.on_own_stack {
            below(f.sp, 32)?
        } else {
            f.sp
        };
        let frame = below(sp, size as u64)? & !7;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(size, enc);
        let reg = |uc: &dyn GuestCpu, id: i32| uc.reg_read(id).unwrap_or(0) & 0xffff_ffff;
        // A fault in a branch delay slot resumes at the branch, as the
        // kernel's EPC does. The engine's pc is then the branch's target
        // (after a faulting access) or the slot's (after a trap), and its
        // delay-slot state stays set, which the handler must not start in.
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
        // The FP state, for handlers that read it; sigreturn restores it
        // from the saved engine state.
        for n in 0..32 {
            let v = uc.reg_read(RegisterMIPS::F0 as i32 + n).unwrap_or(0);
            b.u64(sc + SC_FPREGS + 8 * n as usize, v);
        }
        b.u32(sc + SC_FPC_CSR, reg(uc, RegisterMIPS::FCSR.into()) as u32)
            .u32(sc + SC_USED_MATH, 1)
            .u64(sc + SC_MDHI, reg(uc, RegisterMIPS::HI.into()))
            .u64(sc + SC_MDLO, reg(uc, RegisterMIPS::LO.into()))
            .u64(mask, f.saved_mask);
        if f.rt {
            // stack_t is sp, size, flags on MIPS.
            b.bytes_at(FRAME_HEAD, f.info)
                .u32(RT_UC + 8, f.altstack.sp as u32)
                .u32(RT_UC + 12, f.altstack.size as u32)
                .u32(RT_UC + 16, f.altstack.flags);
        }
        uc.mem_mut().write(frame, &b.bytes)?;
        if in_slot {
            leave_delay_slot(uc);
        }
        let set = |uc: &mut dyn GuestCpu, n: i32, v: u64| {
            let _ = uc.reg_write(r(n), v);
        };
        let (info, ctx) = if f.rt {
            (frame + FRAME_HEAD as u64, frame + RT_UC as u64)
        } else {
            (0, frame + FRAME_HEAD as u64)
        };
        set(uc, A0, f.sig);
        set(uc, A0 + 1, info);
        set(uc, A0 + 2, ctx);
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
        rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let (size, sc, mask) = if rt {
            (
                RT_UC + UCONTEXT_SIZE,
                RT_UC + UC_MCONTEXT,
                RT_UC + UC_SIGMASK,
            )
        } else {
            (LEGACY_SIZE, FRAME_HEAD, FRAME_HEAD + SIGCONTEXT_SIZE)
        };
        let raw = uc.mem().read_vec(frame, size)?;
        // The engine state saved at delivery may be that of a fault in a
        // delay slot (its pc no longer tells): the frame's pc is where to go.
        leave_delay_slot(uc);
        let word =
            |off: usize| u64::from(u32::from_le_bytes(raw[off..off + 4].try_into().unwrap()));
        for n in 1..32 {
            let _ = uc.reg_write(r(n), word(sc + SC_REGS + 8 * n as usize));
        }
        let _ = uc.reg_write(RegisterMIPS::HI, word(sc + SC_MDHI));
        let _ = uc.reg_write(RegisterMIPS::LO, word(sc + SC_MDLO));
        let pc = word(sc + SC_PC);
        let _ = uc.reg_write(RegisterMIPS::PC, pc);
        Ok((word(mask) | word(mask + 4) << 32, pc))
    }
    fn sigreturn_code(&self, rt: bool) -> Vec<u32> {
        // li v0, 4193 (rt_sigreturn) or 4119 (sigreturn); syscall
        let nr = if rt { 4193 } else { 4119 };
        vec![0x2402_0000 | nr, 0x0000_000c]
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Signal delivery: what the kernel does on the way back to user mode.
//!
//! Everything here runs between two `emu_start` calls (the scheduler's
//! loop, `sched::run`), never inside a hook: a hook that makes a signal
//! deliverable (a system call, a trap, a host signal noticed by the poll
//! hook) only sets `Machine::signal_due` and stops the engine at a block
//! boundary. Then [`before_run`] completes a pending sigreturn and takes
//! one deliverable signal of the current thread: a handler gets the
//! architecture's rt signal frame (`SignalFrames::push_signal_frame`) and the
//! engine starts at the handler; a default action ends the process (or is
//! nothing, or stops it on the host).
//!
//! The frame in guest memory holds what a handler may read or change
//! (`siginfo_t`, the general registers, the signal mask). The rest of the
//! CPU state (floating point and vector registers) is kept here, in an
//! engine context saved at delivery and restored by the matching
//! sigreturn before the frame's registers are applied, so a handler that
//! uses SIMD never corrupts the interrupted code.

use crate::machine::blocks::{self, BlockUse};
use unicorn_engine::unicorn_const::{uc_error, MemType};
use unicorn_engine::Context;

use crate::abi::{Outcome, Sys};
use crate::arch::SignalFrame;
use crate::kernel::signal::{
    bit, default_action, DefaultAction, Info, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART,
    SA_RESTORER, SEGV_ACCERR, SEGV_MAPERR, SIG_DFL, SI_KERNEL, SS_ONSTACK,
};
use crate::machine::{Engine, Machine, StopReason};
use crate::mem::{Perms, RegionKind};
use crate::syscall::signal as sig;

/// Engine contexts kept per delivered frame; older ones are dropped
/// first (handlers that longjmp out never return through sigreturn).
const MAX_SAVED_CONTEXTS: usize = 256;

/// A synchronous fault waiting to be delivered to the thread that caused
/// it: host signal, si_code, address, and whether it was a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingFault {
    pub signal: i32,
    pub code: i32,
    pub addr: u64,
    pub write: bool,
    /// x86: the exception that raised it.
    pub trap: Option<crate::arch::TrapVector>,
}

/// The CPU state under one delivered frame.
pub struct SavedContext {
    tid: u32,
    frame: u64,
    ctx: Context,
}

/// Turns host signals that arrived for the guest into guest signals.
pub fn intake_host(m: &mut Machine) {
    sig::intake_host(&mut m.lock_process());
}

/// Whether the engine must stop for signal work after the current hook:
/// a deliverable signal, a sigreturn, or the poll hook to install.
pub fn due(m: &mut Machine) -> bool {
    intake_host(m);
    sig::deliverable(&m.lock_process()) != 0
        || m.signals.sigreturn_due.is_some()
        || m.fault.pending_fault.is_some()
        || (!m.blocks.serves(BlockUse::SignalPoll) && needs_poll_hook(m))
}

/// Whether the guest handles a signal the host may send it: only then
/// must running code notice host signals (the poll hook costs every
/// block something). Signals the host never forwards (its own faults,
/// the C library's 32 and 33) reach handlers without it.
fn needs_poll_hook(m: &Machine) -> bool {
    // The watcher thread stops the engine when one arrives.
    if crate::signals::watcher_stops_engine() {
        return false;
    }
    let handled = m.lock_process().signals.handled();
    // A timer's expiration is a host signal whatever its guest signal.
    if !m.lock_process().timers.is_empty() {
        return true;
    }
    (1..=64u64)
        .filter(|&g| handled & bit(g) != 0)
        .any(|g| crate::signals::forwarded(m.abi.host_signal(g) as i32))
}

/// Called by a hook: stop at the next block boundary for signal work.
pub fn request(uc: &mut Engine<'_>) {
    uc.get_data_mut().signals.signal_due = true;
    let _ = uc.emu_stop();
}

/// Before the engine runs the current thread from `start`: completes a
/// sigreturn, installs the poll hook, delivers one signal. Returns where
/// to start.
pub fn before_run(uc: &mut Engine<'_>, mut start: u64) -> Result<u64, StopReason> {
    crate::machine::cpu::apply_code_flushes(uc)?;
    let m = uc.get_data_mut();
    m.signals.signal_due = false;
    intake_host(m);
    if !m.blocks.serves(BlockUse::SignalPoll) && needs_poll_hook(m) {
        install_poll_hook(uc)?;
    }
    if let Some(rt) = uc.get_data_mut().signals.sigreturn_due.take() {
        start = sigreturn(uc, rt)?;
    }
    if let Some(f) = uc.get_data_mut().fault.pending_fault.take() {
        queue_fault(uc.get_data_mut(), f);
    }
    loop {
        let m = uc.get_data_mut();
        let Some(info) = sig::take_deliverable(&mut m.lock_process()) else {
            return Ok(start);
        };
        let action = m.lock_process().signals.action(info.signo);
        let host = m.abi.host_signal(info.signo) as i32;
        let taken = action.is_handler()
            || (action.handler == SIG_DFL
                && matches!(
                    default_action(host),
                    DefaultAction::Terminate | DefaultAction::Core
                ));
        if m.trace.strace && taken {
            let line =
                crate::kernel::signal::strace_line(host, &info, m.lock_process().word_size());
            if let Some(r) = m.trace.recorder.as_mut() {
                r.text(line);
            }
        }
        if action.is_handler() {
            return push_frame(uc, info, action);
        }
        if action.handler != SIG_DFL {
            continue;
        }
        match default_action(host) {
            DefaultAction::Ignore | DefaultAction::Continue => {}
            DefaultAction::Stop => {
                // Stopped on the host, as the shell's job control expects.
                // SAFETY: plain call on this process.
                unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
            }
            DefaultAction::Terminate | DefaultAction::Core => {
                let pc = m.abi.pc(uc);
                return Err(match info.fields {
                    crate::kernel::signal::InfoFields::Fault { addr } => StopReason::Fault {
                        signal: host,
                        pc,
                        page: (host == libc::SIGSEGV || host == libc::SIGBUS)
                            .then_some(addr & !0xfff),
                    },
                    _ => StopReason::Exit(crate::abi::ExitKind::Killed(host)),
                });
            }
        }
    }
}

/// A fault the thread caused goes to it first. If it is blocked or
/// ignored, the kernel unblocks it and resets it to the default action.
fn queue_fault(m: &mut Machine, f: PendingFault) {
    let g = m.abi.guest_signal(f.signal as u64);
    m.fault.last_trap = f.trap.map(|t| (g, t));
    let p = &mut m.lock_process();
    let t = &mut p.threads.current_mut().signals;
    let blocked = t.mask & bit(g) != 0;
    t.mask &= !bit(g);
    if blocked || p.signals.action(g).handler == crate::kernel::signal::SIG_IGN {
        p.signals.set_action(g, Default::default());
    }
    let info = if f.code == SI_KERNEL {
        Info::sent(g, SI_KERNEL, 0, 0)
    } else {
        Info::fault(g, f.code, f.addr)
    };
    p.threads.current_mut().signals.pending.add(info);
}

fn push_frame(
    uc: &mut Engine<'_>,
    info: Info,
    action: crate::kernel::signal::Action,
) -> Result<u64, StopReason> {
    let abi = uc.get_data().abi;
    let sp_reg = abi.thread_regs().sp;
    let sp = uc.reg_read(sp_reg).unwrap_or(0);
    let rt = !abi.has_legacy_frame() || action.flags & abi.sa_siginfo() != 0;
    let restorer = abi.sigaction_layout().restorer.is_some()
        && action.flags & SA_RESTORER != 0
        && action.restorer != 0;
    let return_to = if restorer {
        action.restorer
    } else {
        sigreturn_page(uc, rt)?
    };
    let m = uc.get_data_mut();
    let mut p = crate::machine::lock_process_of(&m.process, &m.parallel);
    let t = &mut p.threads.current_mut().signals;
    let alt = t.altstack;
    let switch = action.flags & SA_ONSTACK != 0 && alt.enabled() && !alt.contains(sp);
    let saved_mask = t.saved_mask.take().unwrap_or(t.mask);
    let mut uc_stack = alt;
    if alt.contains(sp) {
        uc_stack.flags |= SS_ONSTACK;
    }
    let fault = match info.fields {
        crate::kernel::signal::InfoFields::Fault { addr } => Some((addr, m.fault.last_fault_write)),
        _ => None,
    };
    let trap = match m.fault.last_trap {
        Some((signo, trap)) if signo == info.signo => {
            m.fault.last_trap = None;
            Some(trap)
        }
        _ => None,
    };
    let info_bytes = sig::encode_siginfo(&p, &info);
    drop(p);
    let frame = SignalFrame {
        sig: info.signo,
        info: &info_bytes,
        handler: action.handler,
        return_to,
        sp: if switch { alt.top() } else { sp },
        on_own_stack: !switch,
        saved_mask,
        altstack: uc_stack,
        rt,
        fault,
        trap,
    };
    let internal = |e: uc_error| StopReason::Internal(format!("cannot save the CPU state: {e:?}"));
    let mut ctx = uc.context_alloc().map_err(internal)?;
    uc.context_save(&mut ctx).map_err(internal)?;
    let pc = abi.pc(uc);
    match abi.push_signal_frame(uc, &frame) {
        Ok((frame_addr, start)) => {
            let m = uc.get_data_mut();
            let tid = m.lock_process().threads.current_tid();
            m.signals.signal_contexts.push(SavedContext {
                tid,
                frame: frame_addr,
                ctx,
            });
            if m.signals.signal_contexts.len() > MAX_SAVED_CONTEXTS {
                m.signals.signal_contexts.remove(0);
            }
            let mut mask = saved_mask | action.mask;
            if action.flags & SA_NODEFER == 0 {
                mask |= bit(info.signo);
            }
            m.lock_process().threads.current_mut().signals.mask = mask;
            if action.flags & SA_RESETHAND != 0 {
                m.lock_process()
                    .signals
                    .set_action(info.signo, Default::default());
            }
            tracing::debug!(
                "signal {} delivered to handler {:#x}, frame {frame_addr:#x}, interrupted pc {pc:#x}",
                info.signo,
                action.handler
            );
            Ok(start)
        }
        // No room for the frame: the kernel kills with SIGSEGV.
        Err(e) => Err(StopReason::Fault {
            signal: libc::SIGSEGV,
            pc,
            page: Some(e.addr & !0xfff),
        }),
    }
}

/// The page holding the sigreturn code (rt at offset 0, legacy at 64),
/// mapped read+exec on first use.
fn sigreturn_page(uc: &mut Engine<'_>, rt: bool) -> Result<u64, StopReason> {
    let abi = uc.get_data().abi;
    let offset = if rt { 0 } else { 64 };
    if let Some(page) = uc.get_data().lock_process().sigreturn_page {
        return Ok(page + offset);
    }
    let m = uc.get_data_mut();
    let mut p = m.lock_process();
    let mem = &mut p.mem;
    let fail =
        |what: String| StopReason::Internal(format!("cannot map the sigreturn page: {what}"));
    let page = mem.find_free(4096).ok_or_else(|| fail("no room".into()))?;
    let host = crate::mem::HostMapping::anonymous(4096).map_err(|e| fail(e.to_string()))?;
    mem.map(
        page,
        4096,
        Perms::RX,
        Perms::RX,
        RegionKind::Memory {
            name: "[sigpage]".into(),
        },
        Some(std::sync::Arc::new(host)),
        0,
    );
    let enc = mem.encoder();
    for (at, rt) in [(0, true), (64, false)] {
        let code: Vec<u8> = abi
            .sigreturn_code(rt)
            .iter()
            .flat_map(|w| enc.u32(*w))
            .collect();
        mem.write_privileged(page + at, &code)
            .map_err(|e| fail(e.to_string()))?;
    }
    p.sigreturn_page = Some(page);
    drop(p);
    crate::machine::memory::apply_pending(uc).map_err(|e| fail(e.to_string()))?;
    Ok(page + offset)
}

/// rt_sigreturn / sigreturn: the CPU state from before the handler, with
/// the registers as the frame now holds them, and the saved mask.
fn sigreturn(uc: &mut Engine<'_>, rt: bool) -> Result<u64, StopReason> {
    let abi = uc.get_data().abi;
    let frame = abi.signal_frame_at_return(uc, rt);
    let m = uc.get_data_mut();
    let tid = m.lock_process().threads.current_tid();
    if let Some(at) = m
        .signals
        .signal_contexts
        .iter()
        .rposition(|s| s.tid == tid && s.frame == frame)
    {
        let saved = m.signals.signal_contexts.remove(at);
        // Frames above it were left by longjmp.
        let mut i = 0;
        while i < m.signals.signal_contexts.len() {
            if i >= at && m.signals.signal_contexts[i].tid == tid {
                m.signals.signal_contexts.remove(i);
            } else {
                i += 1;
            }
        }
        uc.context_restore(&saved.ctx)
            .map_err(|e| StopReason::Internal(format!("cannot restore the CPU state: {e:?}")))?;
    }
    let pc = abi.pc(uc);
    match abi.pop_signal_frame(uc, frame, rt) {
        Ok((mask, resume)) => {
            tracing::debug!("sigreturn from frame {frame:#x} to {resume:#x}");
            let m = uc.get_data_mut();
            let unblockable = bit(m.abi.guest_signal(libc::SIGKILL as u64))
                | bit(m.abi.guest_signal(libc::SIGSTOP as u64));
            m.lock_process().threads.current_mut().signals.mask = mask & !unblockable;
            Ok(resume)
        }
        // A frame the guest cannot read back: SIGSEGV, as the kernel does.
        Err(e) => Err(StopReason::Fault {
            signal: libc::SIGSEGV,
            pc,
            page: Some(e.addr & !0xfff),
        }),
    }
}

/// System calls that need the engine: rt_sigreturn, sigreturn (finished
/// in `before_run`) and sigaltstack (which looks at the stack pointer).
pub fn syscall(uc: &mut Engine<'_>, sys: Option<Sys>, a: &[u64; 6]) -> Option<Outcome> {
    match sys? {
        Sys::rt_sigreturn => {
            uc.get_data_mut().signals.sigreturn_due = Some(true);
            Some(Outcome::Resumed)
        }
        Sys::sigreturn if uc.get_data().abi.has_legacy_frame() => {
            uc.get_data_mut().signals.sigreturn_due = Some(false);
            Some(Outcome::Resumed)
        }
        Sys::sigaltstack => {
            let sp = uc.reg_read(uc.get_data().abi.thread_regs().sp).unwrap_or(0);
            Some(
                crate::syscall::signal::sigaltstack(&mut uc.get_data_mut().lock_process(), a, sp)
                    .into(),
            )
        }
        _ => None,
    }
}

/// After a system call that was interrupted (`Outcome::Restart`): whether it
/// runs again after the handler (SA_RESTART, or no handler runs) instead
/// of returning EINTR.
pub fn restart_interrupted(m: &mut Machine) -> bool {
    intake_host(m);
    let p = &m.lock_process();
    let ready = sig::deliverable(p);
    let sync = |s: u64| crate::kernel::signal::is_synchronous(p.abi.host_signal(s) as i32);
    match crate::kernel::signal::next_of(ready, sync) {
        Some(s) => {
            let a = p.signals.action(s);
            !a.is_handler() || a.flags & SA_RESTART != 0
        }
        None => true,
    }
}

/// Whether an engine error is a fault the guest handles: then it is
/// queued for [`before_run`] and the TLB entry that reported its address
/// is dropped.
pub fn catch_fault(uc: &mut Engine<'_>, err: uc_error) -> bool {
    if let Some((addr, write)) = crate::mem::host_fault::take_guest_fault() {
        return catch_host_fault(uc, addr, write);
    }
    let misaligned_pc = err == uc_error::INSN_INVALID && uc.get_data().abi.misaligned_pc(uc);
    // An undefined instruction may be a gem5 m5op ht-user performs.
    if err == uc_error::INSN_INVALID && !misaligned_pc && crate::machine::m5ops::try_emulate(uc) {
        return true;
    }
    let m = uc.get_data_mut();
    // A trap hook already queued the signal, and the engine still reports
    // the exception that stopped it (riscv's ebreak, MIPS address errors,
    // whose hook knows the address).
    let reported_by_hook = matches!(
        err,
        uc_error::EXCEPTION
            | uc_error::READ_UNALIGNED
            | uc_error::WRITE_UNALIGNED
            | uc_error::FETCH_UNALIGNED
    );
    if reported_by_hook && m.fault.pending_fault.is_some() {
        return true;
    }
    let (signal, code) = match err {
        uc_error::READ_UNMAPPED | uc_error::WRITE_UNMAPPED | uc_error::FETCH_UNMAPPED => {
            (libc::SIGSEGV, fault_code(m))
        }
        uc_error::READ_PROT | uc_error::WRITE_PROT | uc_error::FETCH_PROT => {
            (libc::SIGSEGV, SEGV_ACCERR)
        }
        uc_error::EXCEPTION if m.fault.last_fault.is_some() => (libc::SIGSEGV, fault_code(m)),
        uc_error::READ_UNALIGNED | uc_error::WRITE_UNALIGNED | uc_error::FETCH_UNALIGNED => {
            (libc::SIGBUS, crate::kernel::signal::BUS_ADRALN)
        }
        // Fetching at a misaligned pc (arm: bx to bit 1 set in ARM state):
        // Linux's PC alignment fault.
        uc_error::INSN_INVALID if misaligned_pc => {
            (libc::SIGBUS, crate::kernel::signal::BUS_ADRALN)
        }
        uc_error::INSN_INVALID => (libc::SIGILL, m.abi.ill_si_code()),
        _ => return false,
    };
    let pc = m.abi.pc(uc);
    let m = uc.get_data_mut();
    let write = matches!(err, uc_error::WRITE_UNMAPPED | uc_error::WRITE_PROT)
        || matches!(m.fault.last_fault, Some((_, MemType::WRITE)));
    // An undecodable or misaligned instruction is reported at the pc.
    let addr = match err {
        uc_error::INSN_INVALID => pc,
        _ => m
            .fault
            .fault_addr
            .take()
            .or(m.fault.last_fault.map(|(page, _)| page))
            .unwrap_or(pc),
    };
    // Pages past the end of a mapped file: SIGBUS, as on Linux, unless
    // the file has grown over the page since (then the access runs again).
    let past_end = |m: &Machine| {
        matches!(
            m.lock_process().mem.region_at(addr).map(|r| &r.kind),
            Some(crate::mem::RegionKind::PastEndOfFile { .. })
        )
    };
    if past_end(m) {
        m.lock_process().mem.follow_file_sizes();
        if !past_end(m) {
            m.fault.last_fault = None;
            m.fault.fault_addr = None;
            return crate::machine::memory::apply_pending(uc).is_ok();
        }
    }
    let past_end = past_end(m);
    let (signal, code) = if signal == libc::SIGSEGV && past_end {
        (libc::SIGBUS, crate::kernel::signal::BUS_ADRERR)
    } else {
        (signal, code)
    };
    let addr = m.abi.fault_si_addr(addr);
    take_fault_or_end(uc, signal, code, addr, write, pc)
}

/// Queues fault `signal`/`code` at `addr` (the instruction at `pc`) for
/// [`before_run`] when the guest handles it, and drops the TLB entry that
/// reported it; otherwise ends the run with it (the caller reports it).
/// Says whether the run goes on.
/// `-d guest_errors`: a fault or trap the guest takes, in the log.
fn log_guest_error(m: &mut Machine, signal: i32, code: i32, addr: u64, pc: u64) {
    if !m.trace.debug.guest_errors {
        return;
    }
    let line = format!(
        "guest error: {} (si_code {code}) at address {addr:#x}, pc {pc:#x}, thread {}",
        crate::kernel::signal::name(signal),
        m.thread_index
    );
    if let Some(r) = m.trace.recorder.as_mut() {
        r.text(line);
    }
}

fn take_fault_or_end(
    uc: &mut Engine<'_>,
    signal: i32,
    code: i32,
    addr: u64,
    write: bool,
    pc: u64,
) -> bool {
    let m = uc.get_data_mut();
    log_guest_error(m, signal, code, addr, pc);
    if !handles(m, signal) {
        m.stop = Some(StopReason::Fault {
            signal,
            pc,
            page: matches!(signal, libc::SIGSEGV | libc::SIGBUS).then_some(addr & !0xfff),
        });
        if m.trace.strace {
            let info = Info::fault(m.abi.guest_signal(signal as u64), code, addr);
            let line =
                crate::kernel::signal::strace_line(signal, &info, m.lock_process().word_size());
            if let Some(r) = m.trace.recorder.as_mut() {
                r.text(line);
            }
        }
        return false;
    }
    m.fault.last_fault = None;
    m.fault.last_fault_write = write;
    m.fault.pending_fault = Some(PendingFault {
        signal,
        code,
        addr,
        write,
        trap: None,
    });
    // The TLB may hold the entry that reported the exact address.
    let _ = uc.ctl_flush_tlb();
    true
}

/// The guest touched a page of a file mapping that another process had
/// truncated (the host's SIGBUS, `mem::host_fault`): SIGBUS/BUS_ADRERR at
/// `addr`, as on Linux, unless the file has grown over the page again
/// (then the access runs again).
fn catch_host_fault(uc: &mut Engine<'_>, addr: u64, write: bool) -> bool {
    let m = uc.get_data_mut();
    // The handler marked the shrink; taking the mark here keeps the run
    // loop from following the sizes a second time.
    crate::mem::host_fault::settle();
    m.lock_process().mem.follow_file_sizes();
    // Past the end of a shared file, or in a mapping that is no shared
    // file's (whose host pages can only fault this way from a file).
    let faults = m.lock_process().mem.region_at(addr).is_some_and(|r| {
        matches!(r.kind, crate::mem::RegionKind::PastEndOfFile { .. })
            || r.backing.as_ref().is_some_and(|b| !b.is_shared_file())
    });
    if crate::machine::memory::apply_pending(uc).is_err() {
        return false;
    }
    if !faults {
        // Grown back (or unmapped meanwhile: the access runs again and
        // faults as it now must).
        return true;
    }
    let pc = uc.get_data().abi.pc(uc);
    uc.get_data_mut().fault.fault_addr = None;
    take_fault_or_end(
        uc,
        libc::SIGBUS,
        crate::kernel::signal::BUS_ADRERR,
        addr,
        write,
        pc,
    )
}

/// SEGV_MAPERR for an address nothing is mapped at, else SEGV_ACCERR.
fn fault_code(m: &Machine) -> i32 {
    let addr = m.fault.fault_addr.or(m.fault.last_fault.map(|(p, _)| p));
    match addr {
        Some(a) if m.lock_process().mem.perms_at(a).is_some() => SEGV_ACCERR,
        _ => SEGV_MAPERR,
    }
}

/// Whether the guest has a handler that will take host signal `signal`
/// raised by the current thread (blocked or ignored faults kill).
fn handles(m: &Machine, signal: i32) -> bool {
    let g = m.abi.guest_signal(signal as u64);
    let blocked = m.lock_process().threads.current().signals.mask & bit(g) != 0;
    m.lock_process().signals.action(g).is_handler() && !blocked
}

/// A CPU trap (from the architecture's interrupt hook): delivered to the
/// guest's handler when it has one. False: the caller ends the run.
pub fn catch_trap(uc: &mut Engine<'_>, trap: crate::arch::Trap) -> bool {
    let signal = trap.signal;
    let pc = uc.get_data().abi.pc(uc);
    let m = uc.get_data_mut();
    // The architecture's own code (x86's segment faults: SI_KERNEL), else
    // the usual one for the signal.
    let code = trap.code.unwrap_or(match signal {
        libc::SIGFPE => crate::kernel::signal::FPE_INTDIV,
        libc::SIGTRAP => m.abi.trap_si_code(),
        libc::SIGILL => m.abi.ill_si_code(),
        libc::SIGBUS => crate::kernel::signal::BUS_ADRALN,
        _ => SI_KERNEL,
    });
    log_guest_error(m, signal, code, trap.addr.unwrap_or(pc), pc);
    if !handles(m, signal) {
        return false;
    }
    m.fault.pending_fault = Some(PendingFault {
        signal,
        code,
        addr: trap.addr.unwrap_or(pc),
        write: false,
        trap: trap.vector,
    });
    request(uc);
    true
}

/// Installs the block hook that notices host signals for the guest while
/// it computes (a handler was installed), when no watcher thread can stop
/// the engine for them (see `signals`). It costs two loads per block.
fn install_poll_hook(uc: &mut Engine<'_>) -> Result<(), StopReason> {
    blocks::need(uc, BlockUse::SignalPoll)
        .map_err(|e| StopReason::Internal(format!("cannot hook blocks: {e:?}")))
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Signal system calls: dispositions, masks, sending (kill, tgkill,
//! sigqueue), waiting (sigsuspend, pause, sigtimedwait), pending sets and
//! timers. Generation lives here too (`send`): it queues the signal on the
//! process or a thread and interrupts a thread blocked in a system call.
//! Delivery to handlers is `crate::machine::delivery`'s, after the call returns.

use super::types::encode_time_pair;
use super::{Errno, Outcome, Sys, SysResult};
use crate::kernel::signal::{
    bit, default_action, next_of, Action, DefaultAction, Info, InfoFields, SIG_DFL, SIG_IGN,
    SI_QUEUE, SI_TKILL, SI_USER,
};
use crate::kernel::thread::{Block, State, Wait};
use crate::kernel::Process;
use crate::mem::StructBuilder;

mod send;
pub use send::*;

const SIGKILL: u64 = 9;
const SIGSTOP: u64 = 19;

/// Signals no mask can block (host numbering, as SIGKILL/SIGSTOP are on
/// every ABI but MIPS's SIGSTOP is 23).
fn unblockable(p: &Process) -> u64 {
    bit(p.abi.guest_signal(SIGKILL)) | bit(p.abi.guest_signal(SIGSTOP))
}

fn valid_signal(sig: u64) -> bool {
    (1..=64).contains(&sig)
}

/// The host's number for guest signal `sig`.
pub fn host_of(p: &Process, sig: u64) -> i32 {
    p.abi.host_signal(sig) as i32
}

fn decode_action(p: &Process, raw: &[u8]) -> Action {
    let l = p.abi.sigaction_layout();
    let enc = p.mem.encoder();
    let word = p.word_size();
    let read = |at: usize, size: usize| -> u64 {
        if size == 8 {
            enc.decode_u64(raw[at..at + 8].try_into().unwrap())
        } else {
            u64::from(enc.decode_u32(raw[at..at + 4].try_into().unwrap()))
        }
    };
    // The mask's first 64 signals: two words on 32-bit ABIs.
    let mask = if word == 8 {
        read(l.mask, 8)
    } else {
        read(l.mask, 4) | read(l.mask + 4, 4) << 32
    };
    Action {
        handler: read(l.handler, word),
        flags: read(l.flags, l.flags_size),
        restorer: l.restorer.map_or(0, |at| read(at, word)),
        mask,
    }
}

fn encode_action(p: &Process, a: &Action) -> Vec<u8> {
    let l = p.abi.sigaction_layout();
    let mut b = StructBuilder::new(p.abi.sigaction_size(), p.mem.encoder());
    let word = p.word_size();
    let put = |b: &mut StructBuilder, at: usize, size: usize, v: u64| {
        if size == 8 {
            b.u64(at, v);
        } else {
            b.u32(at, v as u32);
        }
    };
    put(&mut b, l.handler, word, a.handler);
    put(&mut b, l.flags, l.flags_size, a.flags);
    if let Some(at) = l.restorer {
        put(&mut b, at, word, a.restorer);
    }
    if word == 8 {
        b.u64(l.mask, a.mask);
    } else {
        b.u32(l.mask, a.mask as u32)
            .u32(l.mask + 4, (a.mask >> 32) as u32);
    }
    b.bytes
}

pub fn rt_sigaction(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (sig, act, oact, setsize) = (a[0], a[1], a[2], a[3]);
    if setsize != p.abi.sigset_size() as u64 || !valid_signal(sig) {
        return Err(Errno::EINVAL);
    }
    let new = if act != 0 {
        let raw = p.mem.read_vec(act, p.abi.sigaction_size())?;
        Some(decode_action(p, &raw))
    } else {
        None
    };
    if new.is_some() && unblockable(p) & bit(sig) != 0 {
        return Err(Errno::EINVAL);
    }
    if oact != 0 {
        let old = encode_action(p, &p.signals.action(sig));
        p.mem.write(oact, &old)?;
    }
    if let Some(mut new) = new {
        new.mask &= !unblockable(p);
        p.signals.set_action(sig, new);
        if ignored(p, sig) {
            // Pending instances of a signal that becomes ignored vanish.
            p.signals.pending.discard(sig);
            for tid in p.threads.tids().collect::<Vec<_>>() {
                if let Some(t) = p.threads.get_mut(tid) {
                    t.signals.pending.discard(sig);
                }
            }
        }
        crate::signals::follow_guest(host_of(p, sig), disposition(p, sig));
    }
    Ok(0)
}

/// What the host should do with a host signal the guest has a
/// disposition for.
pub fn disposition(p: &Process, sig: u64) -> crate::signals::Disposition {
    use crate::signals::Disposition;
    let a = p.signals.action(sig);
    match a.handler {
        SIG_DFL => Disposition::Default,
        SIG_IGN => Disposition::Ignore,
        _ => Disposition::Handle,
    }
}

/// Whether `sig` is discarded when generated: ignored explicitly or by
/// default.
pub fn ignored(p: &Process, sig: u64) -> bool {
    let a = p.signals.action(sig);
    a.handler == SIG_IGN
        || (a.handler == SIG_DFL
            && matches!(
                default_action(host_of(p, sig)),
                DefaultAction::Ignore | DefaultAction::Continue
            ))
}

/// Guest signals (bit `n - 1` for signal `n`) whose action is SIG_IGN:
/// they stay ignored across execve.
pub fn ignored_signals(p: &Process) -> u64 {
    p.signals.ignored()
}

/// Sets the guest signals of `mask` to SIG_IGN (a new program's start).
pub fn set_ignored_signals(p: &mut Process, mask: u64) {
    let never = unblockable(p);
    for sig in (1..=64u64).filter(|s| mask & bit(*s) != 0 && never & bit(*s) == 0) {
        p.signals.set_action(
            sig,
            Action {
                handler: SIG_IGN,
                ..Action::default()
            },
        );
    }
}

/// The current thread's mask.
pub fn current_mask(p: &Process) -> u64 {
    p.threads.current().signals.mask
}

fn read_sigset(p: &Process, addr: u64) -> Result<u64, Errno> {
    Ok(p.mem.read_u64(addr)?)
}

fn write_sigset(p: &mut Process, addr: u64, set: u64) -> Result<(), Errno> {
    p.mem.write_u64(addr, set)?;
    // Signals above 64 (MIPS has 128) are never set here.
    let extra = p.abi.sigset_size() - 8;
    p.mem.write(addr + 8, &vec![0; extra])?;
    Ok(())
}

pub fn rt_sigprocmask(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (how, set, oset, setsize) = (p.abi.sigprocmask_how_to_host(a[0]), a[1], a[2], a[3]);
    if setsize != p.abi.sigset_size() as u64 {
        return Err(Errno::EINVAL);
    }
    let new = if set != 0 {
        Some(read_sigset(p, set)?)
    } else {
        None
    };
    let old = current_mask(p);
    if let Some(new) = new {
        let mask = match how {
            0 => old | new,
            1 => old & !new,
            2 => new,
            _ => return Err(Errno::EINVAL),
        } & !unblockable(p);
        p.threads.current_mut().signals.mask = mask;
    }
    if oset != 0 {
        write_sigset(p, oset, old)?;
    }
    Ok(0)
}

pub fn rt_sigpending(p: &mut Process, a: &[u64; 6]) -> SysResult {
    if a[1] != p.abi.sigset_size() as u64 {
        return Err(Errno::EINVAL);
    }
    let t = p.threads.current();
    let set = (t.signals.pending.set() | p.signals.pending.set()) & t.signals.mask;
    write_sigset(p, a[0], set)?;
    Ok(0)
}

/// Pending signals the current thread would take now.
pub fn deliverable(p: &Process) -> u64 {
    // None once the current thread has exited.
    match p.threads.get(p.threads.current_tid()) {
        Some(t) => (t.signals.pending.set() | p.signals.pending.set()) & !t.signals.mask,
        None => 0,
    }
}

/// rt_sigsuspend(mask): waits with a temporary mask until a handler runs
/// (the frame saves the old mask) or the process ends.
pub fn rt_sigsuspend(p: &mut Process, a: &[u64; 6]) -> Outcome {
    if a[1] != p.abi.sigset_size() as u64 {
        return Outcome::Error(Errno::EINVAL);
    }
    let mask = match read_sigset(p, a[0]) {
        Ok(m) => m & !unblockable(p),
        Err(e) => return Outcome::Error(e),
    };
    let t = &mut p.threads.current_mut().signals;
    t.saved_mask = Some(t.mask);
    t.mask = mask;
    wait_for_signal(p, 0, None)
}

pub fn pause(p: &mut Process) -> Outcome {
    wait_for_signal(p, 0, None)
}

/// Blocks the current thread until a signal interrupts it (then EINTR),
/// or, for a signal in `taken`, until it can take one (sigtimedwait).
fn wait_for_signal(p: &mut Process, taken: u64, deadline: Option<u64>) -> Outcome {
    if deliverable(p) != 0 {
        return Outcome::Error(Errno::EINTR);
    }
    p.threads.request_block(Block::new(
        Wait::Signal { taken },
        deadline,
        Outcome::Error(Errno::EAGAIN),
    ))
}

/// rt_sigtimedwait(set, info, timeout, setsize): takes a pending signal of
/// `set` without running its handler.
pub fn rt_sigtimedwait(p: &mut Process, a: &[u64; 6], time64: bool) -> Outcome {
    let r = (|| -> Result<Outcome, Errno> {
        if a[3] != p.abi.sigset_size() as u64 {
            return Err(Errno::EINVAL);
        }
        let set = read_sigset(p, a[0])? & !unblockable(p);
        if let Some(info) = take_from(p, set) {
            if a[1] != 0 {
                let bytes = encode_siginfo(p, &info);
                p.mem.write(a[1], &bytes)?;
            }
            return Ok(Outcome::Value(info.signo));
        }
        let deadline = if a[2] != 0 {
            let word = if time64 { 8 } else { p.word_size() };
            let raw = p.mem.read_vec(a[2], word * 2)?;
            let (s, ns) = super::types::decode_time_pair(&raw, word, p.mem.encoder());
            if s < 0 || !(0..1_000_000_000).contains(&ns) {
                return Err(Errno::EINVAL);
            }
            Some(super::futex::monotonic_deadline(
                libc::CLOCK_MONOTONIC,
                s,
                ns,
                false,
            ))
        } else {
            None
        };
        if deadline.is_some_and(|d| d <= crate::host::monotonic_ns()) {
            return Err(Errno::EAGAIN);
        }
        Ok(wait_for_signal(p, set, deadline))
    })();
    r.unwrap_or_else(Outcome::Error)
}

/// Takes a pending signal of `set` (thread first, then process). A
/// timer's signal gets the overruns counted while it was pending.
fn take_from(p: &mut Process, set: u64) -> Option<Info> {
    super::timer::intake(p);
    let sync = |s: u64| crate::kernel::signal::is_synchronous(p.abi.host_signal(s) as i32);
    let own = p.threads.current().signals.pending.set() & set;
    let mut info = if let Some(sig) = next_of(own, sync) {
        p.threads.current_mut().signals.pending.take(sig)?
    } else {
        let shared = p.signals.pending.set() & set;
        let sig = next_of(shared, sync)?;
        p.signals.pending.take(sig)?
    };
    super::timer::taken(p, &mut info);
    Some(info)
}

/// Takes the next signal the current thread handles now (synchronous ones
/// and its own first).
pub fn take_deliverable(p: &mut Process) -> Option<Info> {
    let mask = p.threads.get(p.threads.current_tid())?.signals.mask;
    take_from(p, !mask)
}

/// `siginfo_t` in the guest's layout (128 bytes).
pub fn encode_siginfo(p: &Process, info: &Info) -> Vec<u8> {
    let w = p.word_size();
    let mut b = StructBuilder::new(128, p.mem.encoder());
    let (code_at, errno_at) = if p.abi.siginfo_code_first() {
        (4, 8)
    } else {
        (8, 4)
    };
    let code = if info.code == crate::kernel::signal::SI_TIMER {
        p.abi.si_timer()
    } else {
        info.code
    };
    b.u32(0, info.signo as u32)
        .u32(errno_at, info.errno as u32)
        .u32(code_at, code as u32);
    // The union starts after the three ints, aligned to a word.
    let u = if w == 8 { 16 } else { 12 };
    let word = |b: &mut StructBuilder, at: usize, v: u64| {
        if w == 8 {
            b.u64(at, v);
        } else {
            b.u32(at, v as u32);
        }
    };
    match info.fields {
        InfoFields::Sender { pid, uid, value } => {
            b.u32(u, pid).u32(u + 4, uid);
            word(&mut b, u + 8, value);
        }
        InfoFields::Fault { addr } => word(&mut b, u, addr),
        InfoFields::Child { pid, uid, status } => {
            b.u32(u, pid).u32(u + 4, uid).u32(u + 8, status as u32);
        }
        InfoFields::Timer {
            timer,
            overrun,
            value,
        } => {
            // si_tid, si_overrun, si_sigval.
            b.u32(u, timer as u32).u32(u + 4, overrun as u32);
            word(&mut b, u + 8, value);
        }
    }
    b.bytes
}

/// Where a signal is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Process,
    Thread(u32),
}

/// alarm(seconds): the host's alarm; its SIGALRM becomes the guest's.
pub fn alarm(a: &[u64; 6]) -> SysResult {
    let left = match a[0] as u32 {
        0 => nix::unistd::alarm::cancel(),
        seconds => nix::unistd::alarm::set(seconds),
    };
    Ok(u64::from(left.unwrap_or(0)))
}

/// setitimer/getitimer: the host's timers (ITIMER_REAL, VIRTUAL, PROF),
/// whose signals become the guest's. `struct itimerval` in guest words.
pub fn itimer(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    let w = p.word_size();
    let which = a[0] as i32;
    let read = |p: &Process, at: u64| -> Result<libc::itimerval, Errno> {
        let raw = p.mem.read_vec(at, 4 * w)?;
        let enc = p.mem.encoder();
        let field = |i: usize| -> i64 {
            if w == 8 {
                enc.decode_u64(raw[i * 8..i * 8 + 8].try_into().unwrap()) as i64
            } else {
                i64::from(enc.decode_u32(raw[i * 4..i * 4 + 4].try_into().unwrap()) as i32)
            }
        };
        Ok(libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: field(0),
                tv_usec: field(1),
            },
            it_value: libc::timeval {
                tv_sec: field(2),
                tv_usec: field(3),
            },
        })
    };
    let write = |p: &mut Process, at: u64, v: &libc::itimerval| -> Result<(), Errno> {
        let enc = p.mem.encoder();
        let mut bytes = encode_time_pair(v.it_interval.tv_sec, v.it_interval.tv_usec, w, enc);
        bytes.extend(encode_time_pair(
            v.it_value.tv_sec,
            v.it_value.tv_usec,
            w,
            enc,
        ));
        p.mem.write(at, &bytes)?;
        Ok(())
    };
    // SAFETY: zeroed itimerval is a valid value.
    let mut old: libc::itimerval = unsafe { std::mem::zeroed() };
    if sys == Sys::getitimer {
        // SAFETY: writes into our struct.
        if unsafe { libc::getitimer(which, &mut old) } < 0 {
            return Err(Errno::last());
        }
        write(p, a[1], &old)?;
        return Ok(0);
    }
    let new = if a[1] != 0 {
        read(p, a[1])?
    } else {
        // SAFETY: zeroed itimerval is a valid value.
        unsafe { std::mem::zeroed() }
    };
    // SAFETY: pointers to our structs.
    if unsafe { libc::setitimer(which, &new, &mut old) } < 0 {
        return Err(Errno::last());
    }
    if a[2] != 0 {
        write(p, a[2], &old)?;
    }
    Ok(0)
}

/// Turns host signals that arrived for the guest, and the expirations of
/// its timers, into guest signals.
pub fn intake_host(p: &mut Process) {
    if !crate::signals::guest_signal_waiting() {
        return;
    }
    for (host, code, pid, uid, status) in crate::signals::take_guest_pending() {
        let g = p.abi.guest_signal(host as u64);
        let info = if host == libc::SIGCHLD {
            child_info(g, pid, uid, code, status)
        } else {
            host_info(g, code, pid, uid)
        };
        send(p, Target::Process, info);
    }
    super::timer::intake(p);
}

/// SIGCHLD from the host for a child of this process.
pub fn child_info(sig: u64, pid: u32, uid: u32, code: i32, status: i32) -> Info {
    Info {
        signo: sig,
        code,
        errno: 0,
        fields: InfoFields::Child { pid, uid, status },
    }
}

/// A signal from another host process (or the terminal, or a timer).
pub fn host_info(sig: u64, code: i32, pid: u32, uid: u32) -> Info {
    Info {
        signo: sig,
        code: if code == SI_QUEUE { SI_QUEUE } else { code },
        errno: 0,
        fields: InfoFields::Sender { pid, uid, value: 0 },
    }
}

/// sigaltstack: `sp` is the calling thread's stack pointer (a thread
/// running on its alternate stack may not change it).
pub fn sigaltstack(p: &mut Process, a: &[u64; 6], sp: u64) -> Result<u64, Errno> {
    use crate::abi::signal::SS_ONSTACK;
    use crate::kernel::signal::{AltStack, SS_DISABLE};
    let w = p.word_size();
    // stack_t: sp, flags, size; MIPS: sp, size, flags.
    let (flags_at, size_at) = if p.abi.stack_t_size_first() {
        (2 * w, w)
    } else {
        (w, 2 * w)
    };
    let cur = p.threads.current().signals.altstack;
    let on = cur.contains(sp);
    let new = if a[0] != 0 {
        let raw = p.mem.read_vec(a[0], 3 * w)?;
        let enc = p.mem.encoder();
        let word = |at: usize| {
            if w == 8 {
                enc.decode_u64(raw[at..at + 8].try_into().unwrap())
            } else {
                u64::from(enc.decode_u32(raw[at..at + 4].try_into().unwrap()))
            }
        };
        let flags = enc.decode_u32(raw[flags_at..flags_at + 4].try_into().unwrap());
        Some(AltStack {
            sp: word(0),
            size: word(size_at),
            flags,
        })
    } else {
        None
    };
    if a[1] != 0 {
        let mut b = StructBuilder::new(3 * w, p.mem.encoder());
        let flags = if !cur.enabled() {
            SS_DISABLE
        } else if on {
            SS_ONSTACK
        } else {
            0
        };
        if w == 8 {
            b.u64(0, cur.sp).u64(size_at, cur.size);
        } else {
            b.u32(0, cur.sp as u32).u32(size_at, cur.size as u32);
        }
        b.u32(flags_at, flags);
        p.mem.write(a[1], &b.bytes)?;
    }
    if let Some(mut new) = new {
        if on {
            return Err(Errno::EPERM);
        }
        // SS_AUTODISARM (1 << 31) is accepted and not applied.
        let mode = new.flags & !(1 << 31);
        if mode == SS_DISABLE {
            new = AltStack::default();
        } else if mode != 0 && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        } else if new.size < p.abi.min_signal_stack() {
            return Err(Errno::ENOMEM);
        } else {
            new.flags = 0;
        }
        p.threads.current_mut().signals.altstack = new;
    }
    Ok(0)
}

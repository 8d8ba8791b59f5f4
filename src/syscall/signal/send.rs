// SPDX-License-Identifier: GPL-2.0-or-later
//! Sending signals: kill and its relatives, SIGPIPE, and what a sent
//! signal does to a thread blocked in a call.

use super::*;

/// Generates `info.signo` for the process or one of its threads: queued
/// (unless ignored), and a thread that can take it is interrupted in its
/// blocking call. Returns whether it was queued.
pub fn send(p: &mut Process, target: Target, info: Info) -> bool {
    let sig = info.signo;
    let blocked_everywhere = match target {
        Target::Thread(tid) => p
            .threads
            .get(tid)
            .is_none_or(|t| t.signals.mask & bit(sig) != 0),
        Target::Process => p
            .threads
            .tids()
            .all(|tid| p.threads.get(tid).unwrap().signals.mask & bit(sig) != 0),
    };
    if ignored(p, sig) && !blocked_everywhere {
        return false;
    }
    let taker = match target {
        Target::Thread(tid) => {
            match p.threads.get_mut(tid) {
                Some(t) => t.signals.pending.add(info),
                None => return false,
            }
            Some(tid)
        }
        Target::Process => {
            p.signals.pending.add(info);
            // The current thread if it can take it, else the first that can.
            let cur = p.threads.current_tid();
            // sigtimedwait unblocks the signals it waits for, as Linux
            // does while it waits.
            let can = |tid: u32| {
                p.threads.get(tid).is_some_and(|t| {
                    t.signals.mask & bit(sig) == 0
                        || matches!(&t.state, State::Blocked(b, _)
                            if matches!(b.wait, Wait::Signal { taken } if taken & bit(sig) != 0))
                })
            };
            if can(cur) && p.threads.current_running() {
                Some(cur)
            } else {
                p.threads.tids().find(|&t| can(t))
            }
        }
    };
    if let Some(tid) = taker {
        // With parallel scheduling it may be running on its own engine.
        p.threads.poke(tid);
        interrupt(p, tid, sig);
    }
    true
}

/// A blocked thread that can take `sig` now stops waiting: sigtimedwait
/// takes it, other calls return EINTR or are restarted (see
/// `machine::finish_syscall`).
fn interrupt(p: &mut Process, tid: u32, sig: u64) {
    let Some(t) = p.threads.get(tid) else {
        return;
    };
    let State::Blocked(block, call) = &t.state else {
        return;
    };
    let unblocked = t.signals.mask & bit(sig) == 0;
    let outcome = match block.wait {
        Wait::Signal { taken } if taken & bit(sig) != 0 => None,
        _ if !unblocked => return,
        _ => Some(interrupted(p, call.nr)),
    };
    p.threads.wake(tid, outcome);
}

/// What an interrupted call returns: a restart for calls Linux restarts
/// under SA_RESTART (the table's RESTART trait), EINTR for the others
/// (sleeps, polls, waits for signals).
pub fn interrupted(p: &Process, nr: u64) -> Outcome {
    match p.abi.syscall_table().lookup(nr) {
        Some(sys) if sys.restarts() => Outcome::Restart,
        _ => Outcome::Error(Errno::EINTR),
    }
}

/// kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo.
pub fn kill(p: &mut Process, sys: Sys, a: &[u64; 6]) -> Outcome {
    let (target, sig) = match sys {
        Sys::tgkill | Sys::rt_tgsigqueueinfo => (a[1], a[2]),
        _ => (a[0], a[1]),
    };
    if sig > 64 {
        return Outcome::Error(Errno::EINVAL);
    }
    let uid = nix::unistd::getuid().as_raw();
    let mut info = Info::sent(sig, SI_USER, p.pid, uid);
    if matches!(sys, Sys::rt_sigqueueinfo | Sys::rt_tgsigqueueinfo) {
        let at = if sys == Sys::rt_tgsigqueueinfo {
            a[3]
        } else {
            a[2]
        };
        match p.mem.read_vec(at, 128) {
            Ok(raw) => {
                let enc = p.mem.encoder();
                let code = if p.abi.siginfo_code_first() { 4 } else { 8 };
                let code = enc.decode_u32(raw[code..code + 4].try_into().unwrap()) as i32;
                // Only the kernel may claim kernel codes (or kill's).
                if code >= 0 || code == SI_TKILL {
                    return Outcome::Error(Errno::EPERM);
                }
                let u = if p.word_size() == 8 { 16 } else { 12 };
                let value = if p.word_size() == 8 {
                    enc.decode_u64(raw[u + 8..u + 16].try_into().unwrap())
                } else {
                    u64::from(enc.decode_u32(raw[u + 8..u + 12].try_into().unwrap()))
                };
                let pid = enc.decode_u32(raw[u..u + 4].try_into().unwrap());
                let uid = enc.decode_u32(raw[u + 4..u + 8].try_into().unwrap());
                info = Info {
                    signo: sig,
                    code,
                    errno: 0,
                    fields: InfoFields::Sender { pid, uid, value },
                };
            }
            Err(_) => return Outcome::Error(Errno::EFAULT),
        }
    } else if sys != Sys::kill {
        info.code = SI_TKILL;
    }
    let own_thread =
        |p: &Process, t: u64| u32::try_from(t).is_ok_and(|t| p.threads.get(t).is_some());
    let dest = match sys {
        Sys::kill | Sys::rt_sigqueueinfo => {
            let t = p.sarg(target);
            if t == i64::from(p.pid) {
                Some(Target::Process)
            } else if t == 0 || t < -1 {
                // A process group: the host signals every member, this one
                // takes its own copy as a guest signal.
                return kill_group(p, t, sig, info);
            } else {
                None
            }
        }
        Sys::tgkill | Sys::rt_tgsigqueueinfo => {
            if p.sarg(a[0]) <= 0 || p.sarg(target) <= 0 {
                return Outcome::Error(Errno::EINVAL);
            }
            if a[0] == u64::from(p.pid) && own_thread(p, target) {
                Some(Target::Thread(target as u32))
            } else if a[0] == u64::from(p.pid) {
                return Outcome::Error(Errno::ESRCH);
            } else {
                None
            }
        }
        _ => {
            if p.sarg(target) <= 0 {
                return Outcome::Error(Errno::EINVAL);
            }
            if own_thread(p, target) {
                Some(Target::Thread(target as u32))
            } else {
                return Outcome::Error(Errno::ESRCH);
            }
        }
    };
    let Some(dest) = dest else {
        // Another host process: the guest's business.
        let host = if sig == 0 { 0 } else { host_of(p, sig) };
        // SAFETY: plain calls on another process.
        let rc = unsafe {
            match sys {
                Sys::tgkill | Sys::rt_tgsigqueueinfo => {
                    libc::syscall(libc::SYS_tgkill, a[0] as i32, target as i32, host) as i32
                }
                _ => libc::kill(target as i32, host),
            }
        };
        return if rc < 0 {
            Outcome::Error(Errno::last())
        } else {
            Outcome::Value(0)
        };
    };
    if sig != 0 {
        send(p, dest, info);
    }
    Outcome::Value(0)
}

fn kill_group(p: &mut Process, t: i64, sig: u64, info: Info) -> Outcome {
    let own_group = nix::unistd::getpgrp().as_raw();
    let group = if t == 0 { own_group } else { (-t) as i32 };
    let host = if sig == 0 { 0 } else { host_of(p, sig) };
    let mut rc = 0;
    if group == own_group && sig != 0 && host != libc::SIGKILL && host != libc::SIGSTOP {
        // SAFETY: plain call; the group is the guest's. The copy the
        // host delivers to this process is discarded (`run_blocked`).
        crate::signals::run_blocked(host, || rc = unsafe { libc::kill(-group, host) });
        if rc == 0 {
            send(p, Target::Process, info);
        }
    } else {
        // SAFETY: plain call.
        rc = unsafe { libc::kill(-group, host) };
    }
    if rc < 0 {
        Outcome::Error(Errno::last())
    } else {
        Outcome::Value(0)
    }
}

/// A write to a pipe nobody reads: SIGPIPE to the writing thread, and
/// EPIPE (which the guest sees if it handles or ignores SIGPIPE).
pub fn broken_pipe(p: &mut Process) -> Outcome {
    const HOST_SIGPIPE: u64 = libc::SIGPIPE as u64;
    let sig = p.abi.guest_signal(HOST_SIGPIPE);
    let tid = p.threads.current_tid();
    let uid = nix::unistd::getuid().as_raw();
    send(p, Target::Thread(tid), Info::sent(sig, SI_USER, p.pid, uid));
    Outcome::Error(Errno::EPIPE)
}

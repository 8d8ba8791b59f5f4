// SPDX-License-Identifier: GPL-2.0-or-later
//! POSIX timers: timer_create, timer_settime, timer_gettime,
//! timer_getoverrun, timer_delete (and the `*64` time calls of 32-bit
//! ABIs).
//!
//! Each guest timer is a host timer on the same clock, set and read with
//! the guest's values, so arming, TIMER_ABSTIME, intervals, the remaining
//! time and clock changes are the host kernel's. Whatever the guest's
//! sigevent says, the host timer (unless SIGEV_NONE) sends
//! `signals::TIMER_SIGNAL` to the emulator thread with the timer's
//! expiration counter in its value: like any host signal for the guest it
//! interrupts a host call and ends the scheduler's wait, and the handler
//! only counts. [`intake`] turns counts into guest signals with Linux's
//! semantics: a timer's signal is queued once, expirations while it is
//! pending are overruns, and [`taken`] hands the count to the siginfo
//! when the signal is delivered.

use super::signal::{send, Target};
use super::types::encode_time_pair;
use super::{Errno, SysResult};
use crate::kernel::signal::{Info, InfoFields, SI_TIMER};
use crate::kernel::timer::{add_overruns, Notify, Timer};
use crate::kernel::Process;

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;
/// Bytes of `struct sigevent` on every ABI.
const SIGEVENT_SIZE: usize = 64;
const HOST_SIGALRM: u64 = libc::SIGALRM as u64;

/// The host clock for guest clock `clock`, or the error Linux gives.
fn host_clock(clock: i32) -> Result<libc::clockid_t, Errno> {
    match clock {
        libc::CLOCK_REALTIME
        | libc::CLOCK_MONOTONIC
        | libc::CLOCK_PROCESS_CPUTIME_ID
        | libc::CLOCK_THREAD_CPUTIME_ID
        | libc::CLOCK_BOOTTIME
        | libc::CLOCK_TAI => Ok(clock),
        // Clocks without timers.
        libc::CLOCK_MONOTONIC_RAW | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => {
            Err(Errno(libc::EOPNOTSUPP))
        }
        // CPU clocks by id (glibc names its own process and thread so):
        // the calling process's or thread's only.
        c if c < 0 => {
            let id = !(c >> 3);
            let kind = c & 3;
            let thread = c & 4 != 0;
            if kind == 3 || c & 7 == 7 {
                return Err(Errno::EINVAL);
            }
            match (thread, id) {
                (false, 0) => Ok(libc::CLOCK_PROCESS_CPUTIME_ID),
                (true, 0) => Ok(libc::CLOCK_THREAD_CPUTIME_ID),
                _ => Err(Errno::EINVAL),
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The guest's `struct sigevent`: (value, signo, notify, thread id).
fn read_sigevent(p: &Process, addr: u64) -> Result<(u64, u64, i32, u32), Errno> {
    let raw = p.mem.read_vec(addr, SIGEVENT_SIZE)?;
    let enc = p.mem.encoder();
    let int = |at: usize| enc.decode_u32(raw[at..at + 4].try_into().unwrap());
    let w = p.word_size();
    let value = if w == 8 {
        enc.decode_u64(raw[0..8].try_into().unwrap())
    } else {
        u64::from(int(0))
    };
    Ok((value, u64::from(int(w)), int(w + 4) as i32, int(w + 8)))
}

/// timer_create(clockid, sevp, timerid).
pub fn timer_create(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let event = if a[1] != 0 {
        Some(read_sigevent(p, a[1])?)
    } else {
        None
    };
    let clock = a[0] as i32;
    let host = host_clock(clock);
    let alarm = matches!(
        clock,
        libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM
    );
    if !alarm {
        host?;
    }
    // Linux takes the id before it checks the rest.
    let id = p.timers.allocate_id();
    let notify = match event {
        None => Notify::Signal {
            signo: p.abi.guest_signal(HOST_SIGALRM),
            // sival_int = the id: the union's first four bytes, which on a
            // big-endian 64-bit ABI are the high half of its word.
            value: if p.word_size() == 8 && p.mem.encoder().endian == crate::mem::Endian::Big {
                u64::from(id as u32) << 32
            } else {
                u64::from(id as u32)
            },
            thread: None,
        },
        Some((value, signo, notify, tid)) => {
            let thread = match notify {
                SIGEV_NONE => None,
                SIGEV_SIGNAL | SIGEV_THREAD => None,
                n if n == SIGEV_SIGNAL | SIGEV_THREAD_ID => {
                    if p.threads.get(tid).is_none() {
                        return Err(Errno::EINVAL);
                    }
                    Some(tid)
                }
                _ => return Err(Errno::EINVAL),
            };
            if notify == SIGEV_NONE {
                Notify::None
            } else if !(1..=64).contains(&signo) {
                return Err(Errno::EINVAL);
            } else {
                Notify::Signal {
                    signo,
                    value,
                    thread,
                }
            }
        }
    };
    p.mem.write(a[2], &p.mem.encoder().u32(id as u32))?;
    if alarm {
        // Alarm timers need CAP_WAKE_ALARM, which the guest does not have.
        return Err(Errno::EPERM);
    }
    let host_clock = host?;
    let slot = p
        .timers
        .free_slot(crate::signals::TIMER_SLOTS)
        .ok_or(Errno::EAGAIN)?;
    // SAFETY: a zeroed sigevent is a valid value.
    let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
    if notify == Notify::None {
        sev.sigev_notify = libc::SIGEV_NONE;
    } else {
        crate::signals::own_timer_signal();
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = crate::signals::TIMER_SIGNAL;
        sev.sigev_value = libc::sigval {
            sival_ptr: crate::signals::timer_value(slot) as *mut libc::c_void,
        };
        // SAFETY: gettid has no arguments; handlers run on the emulator
        // thread, which takes every signal for the guest.
        sev.sigev_notify_thread_id = unsafe { libc::gettid() };
    }
    let mut host_id: libc::c_int = 0;
    // SAFETY: the kernel reads our sigevent and writes one int.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_timer_create,
            host_clock,
            &sev as *const libc::sigevent,
            &mut host_id as *mut libc::c_int,
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    crate::signals::take_timer_expiries(slot);
    p.timers.insert(Timer {
        id,
        slot,
        host_id,
        notify,
        overrun: 0,
        overrun_last: 0,
    });
    Ok(0)
}

/// Bytes of one field of a guest timespec.
fn time_word(p: &Process, time64: bool) -> usize {
    if time64 {
        8
    } else {
        p.word_size()
    }
}

fn read_itimerspec(p: &Process, addr: u64, time64: bool) -> Result<libc::itimerspec, Errno> {
    let word = time_word(p, time64);
    let raw = p.mem.read_vec(addr, 4 * word)?;
    let enc = p.mem.encoder();
    let pair = |at: usize| -> Result<libc::timespec, Errno> {
        let (sec, mut nsec) = super::types::decode_time_pair(&raw[at..], word, enc);
        if time64 && !p.abi.is_64bit() {
            // A 32-bit kernel keeps the low half of tv_nsec.
            nsec = i64::from(nsec as u32);
        }
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL);
        }
        Ok(libc::timespec {
            tv_sec: sec as libc::time_t,
            tv_nsec: nsec as libc::c_long,
        })
    };
    Ok(libc::itimerspec {
        it_interval: pair(0)?,
        it_value: pair(2 * word)?,
    })
}

fn write_itimerspec(
    p: &mut Process,
    addr: u64,
    v: &libc::itimerspec,
    time64: bool,
) -> Result<(), Errno> {
    let word = time_word(p, time64);
    let enc = p.mem.encoder();
    let mut bytes = encode_time_pair(v.it_interval.tv_sec, v.it_interval.tv_nsec, word, enc);
    bytes.extend(encode_time_pair(
        v.it_value.tv_sec,
        v.it_value.tv_nsec,
        word,
        enc,
    ));
    p.mem.write(addr, &bytes)?;
    Ok(())
}

fn host_id(p: &Process, id: u64) -> Result<i32, Errno> {
    p.timers
        .get(id as i32)
        .map(|t| t.host_id)
        .ok_or(Errno::EINVAL)
}

fn zero_itimerspec() -> libc::itimerspec {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    libc::itimerspec {
        it_interval: zero,
        it_value: zero,
    }
}

/// timer_settime(timerid, flags, new, old).
pub fn timer_settime(p: &mut Process, a: &[u64; 6], time64: bool) -> SysResult {
    if a[2] == 0 {
        return Err(Errno::EINVAL);
    }
    let new = read_itimerspec(p, a[2], time64)?;
    let host = host_id(p, a[0])?;
    // Expirations of the old setting count before it changes.
    intake(p);
    let mut old = zero_itimerspec();
    // SAFETY: the kernel reads and writes our itimerspecs.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_timer_settime,
            host,
            a[1] as libc::c_int,
            &new as *const libc::itimerspec,
            &mut old as *mut libc::itimerspec,
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    if let Some(t) = p.timers.get_mut(a[0] as i32) {
        t.overrun = 0;
        t.overrun_last = 0;
    }
    if a[3] != 0 {
        write_itimerspec(p, a[3], &old, time64)?;
    }
    Ok(0)
}

/// timer_gettime(timerid, curr).
pub fn timer_gettime(p: &mut Process, a: &[u64; 6], time64: bool) -> SysResult {
    let host = host_id(p, a[0])?;
    let mut cur = zero_itimerspec();
    // SAFETY: the kernel writes our itimerspec.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_timer_gettime,
            host,
            &mut cur as *mut libc::itimerspec,
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    write_itimerspec(p, a[1], &cur, time64)?;
    Ok(0)
}

/// timer_getoverrun(timerid): the overruns of the last signal taken.
pub fn timer_getoverrun(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let t = p.timers.get(a[0] as i32).ok_or(Errno::EINVAL)?;
    Ok(t.overrun_last as u64)
}

/// timer_delete(timerid). A signal it queued stays pending.
pub fn timer_delete(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let t = p.timers.remove(a[0] as i32).ok_or(Errno::EINVAL)?;
    // SAFETY: deletes our own host timer.
    unsafe { libc::syscall(libc::SYS_timer_delete, t.host_id) };
    crate::signals::take_timer_expiries(t.slot);
    Ok(0)
}

/// Turns the host timers' expirations counted since the last call into
/// the guest's signals (or overruns of a signal still pending).
pub fn intake(p: &mut Process) {
    if !crate::signals::take_timers_fired() {
        return;
    }
    for (id, slot) in p.timers.slots() {
        let n = crate::signals::take_timer_expiries(slot);
        if n > 0 {
            expire(p, id, u64::from(n));
        }
    }
}

/// Timer `id` expired `n` times.
fn expire(p: &mut Process, id: i32, n: u64) {
    let Some(t) = p.timers.get(id) else {
        return;
    };
    let Notify::Signal {
        signo,
        value,
        thread,
    } = t.notify
    else {
        return;
    };
    let queued = p.signals.pending.has_timer(id)
        || thread
            .and_then(|tid| p.threads.get(tid))
            .is_some_and(|th| th.signals.pending.has_timer(id));
    if queued {
        if let Some(t) = p.timers.get_mut(id) {
            t.overrun = add_overruns(t.overrun, n);
        }
        return;
    }
    let info = Info {
        signo,
        code: SI_TIMER,
        errno: 0,
        fields: InfoFields::Timer {
            timer: id,
            overrun: 0,
            value,
        },
    };
    let target = thread.map_or(Target::Process, Target::Thread);
    let sent = send(p, target, info);
    if let Some(t) = p.timers.get_mut(id) {
        // An ignored signal is dropped and counts nothing.
        t.overrun = if sent { add_overruns(0, n - 1) } else { 0 };
    }
}

/// A timer's signal is being delivered (or taken by sigtimedwait): its
/// siginfo gets the overruns counted while it was pending, which
/// timer_getoverrun reports from now on.
pub fn taken(p: &mut Process, info: &mut Info) {
    let InfoFields::Timer { timer, overrun, .. } = &mut info.fields else {
        return;
    };
    if let Some(t) = p.timers.get_mut(*timer) {
        *overrun = t.overrun;
        t.overrun_last = t.overrun;
        t.overrun = 0;
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Clocks and sleeping.

use super::types::{decode_time_pair, encode_time_pair};
use super::{Errno, SysResult};
use crate::kernel::Process;

fn host_clock(clock: u64) -> Result<libc::timespec, Errno> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec we own; an invalid clock id is EINVAL.
    if unsafe { libc::clock_gettime(clock as libc::clockid_t, &mut ts) } != 0 {
        return Err(Errno::last());
    }
    Ok(ts)
}

/// Bytes per field of a guest timespec: the C long, or 8 for the `*_time64`
/// calls of 32-bit ABIs.
fn time_word(p: &Process, time64: bool) -> usize {
    if time64 {
        8
    } else {
        p.word_size()
    }
}

fn put_timespec(p: &mut Process, addr: u64, sec: i64, nsec: i64, time64: bool) -> SysResult {
    let bytes = encode_time_pair(sec, nsec, time_word(p, time64), p.mem.encoder());
    p.mem.write(addr, &bytes)?;
    Ok(0)
}

fn get_timespec(p: &Process, addr: u64, time64: bool) -> Result<libc::timespec, Errno> {
    let word = time_word(p, time64);
    let bytes = p.mem.read_vec(addr, word * 2)?;
    let (sec, nsec) = decode_time_pair(&bytes, word, p.mem.encoder());
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    })
}

pub fn clock_gettime(p: &mut Process, a: &[u64; 6], time64: bool) -> SysResult {
    let ts = host_clock(a[0])?;
    put_timespec(p, a[1], ts.tv_sec, ts.tv_nsec, time64)
}

pub fn clock_getres(p: &mut Process, a: &[u64; 6], time64: bool) -> SysResult {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec we own.
    if unsafe { libc::clock_getres(a[0] as libc::clockid_t, &mut ts) } != 0 {
        return Err(Errno::last());
    }
    if a[1] == 0 {
        return Ok(0);
    }
    put_timespec(p, a[1], ts.tv_sec, ts.tv_nsec, time64)
}

pub fn gettimeofday(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let ts = host_clock(libc::CLOCK_REALTIME as u64)?;
    if a[0] != 0 {
        put_timespec(p, a[0], ts.tv_sec, ts.tv_nsec / 1000, false)?;
    }
    if a[1] != 0 {
        // struct timezone: always UTC, as modern Linux reports by default.
        p.mem.write(a[1], &[0u8; 8])?;
    }
    Ok(0)
}

pub fn time(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let ts = host_clock(libc::CLOCK_REALTIME as u64)?;
    if a[0] != 0 {
        let enc = p.mem.encoder();
        if p.word_size() == 8 {
            p.mem.write(a[0], &enc.u64(ts.tv_sec as u64))?;
        } else {
            p.mem.write(a[0], &enc.u32(ts.tv_sec as u32))?;
        }
    }
    Ok(ts.tv_sec as u64)
}

pub fn times(p: &mut Process, a: &[u64; 6]) -> SysResult {
    // SAFETY: times fills a struct we own.
    let mut t: libc::tms = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ticks = unsafe { libc::times(&mut t) };
    if a[0] != 0 {
        let enc = p.mem.encoder();
        let word = p.word_size();
        let mut out = Vec::new();
        for v in [t.tms_utime, t.tms_stime, t.tms_cutime, t.tms_cstime] {
            if word == 8 {
                out.extend_from_slice(&enc.u64(v as u64));
            } else {
                out.extend_from_slice(&enc.u32(v as u32));
            }
        }
        p.mem.write(a[0], &out)?;
    }
    Ok(ticks as u64)
}

fn sleep(
    p: &mut Process,
    clock: libc::clockid_t,
    flags: i32,
    req: u64,
    rem: u64,
    time64: bool,
) -> SysResult {
    let mut ts = get_timespec(p, req, time64)?;
    let mut left = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let rc = loop {
        // SAFETY: both timespecs are ours.
        let rc = unsafe { libc::clock_nanosleep(clock, flags, &ts, &mut left) };
        // A host signal that brings the guest nothing to deliver (a
        // timer's whose signal is blocked) does not end the sleep.
        if rc != libc::EINTR || crate::signals::interrupted().is_some() {
            break rc;
        }
        super::signal::intake_host(p);
        if super::signal::deliverable(p) != 0 {
            break rc;
        }
        if flags & libc::TIMER_ABSTIME == 0 {
            ts = left;
        }
    };
    if rc == 0 {
        return Ok(0);
    }
    if rc == libc::EINTR && rem != 0 && flags & libc::TIMER_ABSTIME == 0 {
        put_timespec(p, rem, left.tv_sec, left.tv_nsec, time64)?;
    }
    Err(Errno(rc))
}

pub fn nanosleep(p: &mut Process, a: &[u64; 6]) -> SysResult {
    sleep(p, libc::CLOCK_MONOTONIC, 0, a[0], a[1], false)
}

pub fn clock_nanosleep(p: &mut Process, a: &[u64; 6], time64: bool) -> SysResult {
    sleep(p, a[0] as libc::clockid_t, a[1] as i32, a[2], a[3], time64)
}

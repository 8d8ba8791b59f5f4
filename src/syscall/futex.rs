// SPDX-License-Identifier: GPL-2.0-or-later
//! futex(2) between the guest's threads: WAIT and WAIT_BITSET (with
//! relative or absolute timeouts), WAKE, WAKE_BITSET, REQUEUE,
//! CMP_REQUEUE, WAKE_OP, and the PI lock calls (LOCK_PI, LOCK_PI2,
//! TRYLOCK_PI, UNLOCK_PI). Only one guest thread runs at a time, so a
//! read-check-sleep is atomic with respect to the other threads.
//!
//! A waiter blocks in the scheduler (no host thread sleeps for it); with a
//! single thread nobody could wake it, so WAIT sleeps for its timeout on
//! the host, or until ht-user is interrupted.

use super::{Errno, Outcome};
use crate::kernel::thread::{Block, Wait, TID_MASK};
use crate::kernel::Process;

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_LOCK_PI: u64 = 6;
const FUTEX_UNLOCK_PI: u64 = 7;
const FUTEX_TRYLOCK_PI: u64 = 8;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_LOCK_PI2: u64 = 13;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;

pub use crate::host::clock_ns;

/// A deadline on CLOCK_MONOTONIC for a timeout the guest gave on `clock`,
/// relative or absolute.
pub fn monotonic_deadline(clock: libc::clockid_t, sec: i64, nsec: i64, absolute: bool) -> u64 {
    let ns = (sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec.max(0) as u64);
    let now = clock_ns(libc::CLOCK_MONOTONIC);
    if absolute {
        let left = ns.saturating_sub(clock_ns(clock));
        now.saturating_add(left)
    } else {
        now.saturating_add(ns)
    }
}

/// Reads a guest timespec for a futex timeout; EINVAL when malformed.
fn read_timeout(p: &Process, addr: u64, time64: bool) -> Result<(i64, i64), Errno> {
    let word = if time64 { 8 } else { p.word_size() };
    let raw = p.mem.read_vec(addr, word * 2)?;
    let (sec, nsec) = super::types::decode_time_pair(&raw, word, p.mem.encoder());
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec, nsec))
}

pub fn futex(p: &mut Process, a: &[u64; 6], time64: bool) -> Outcome {
    match futex_op(p, a, time64) {
        Ok(o) => o,
        Err(e) => Outcome::Error(e),
    }
}

fn futex_op(p: &mut Process, a: &[u64; 6], time64: bool) -> Result<Outcome, Errno> {
    let (uaddr, op) = (a[0], a[1]);
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if op & FUTEX_CLOCK_REALTIME != 0
        && !matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_LOCK_PI2)
    {
        return Err(Errno::ENOSYS);
    }
    if uaddr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let clock = if op & FUTEX_CLOCK_REALTIME != 0 {
        libc::CLOCK_REALTIME
    } else {
        libc::CLOCK_MONOTONIC
    };
    let val = a[2] as u32;
    let count = |v: u64| -> Result<u32, Errno> {
        let n = v as u32 as i32;
        if n < 0 {
            Err(Errno::EINVAL)
        } else {
            Ok(n as u32)
        }
    };
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT {
                FUTEX_BITSET_MATCH_ANY
            } else {
                a[5] as u32
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let timeout = match a[3] {
                0 => None,
                t => Some(read_timeout(p, t, time64)?),
            };
            if p.mem.read_u32(uaddr)? != val {
                return Err(Errno::EAGAIN);
            }
            // WAIT's timeout is relative, WAIT_BITSET's absolute.
            let deadline =
                timeout.map(|(s, ns)| monotonic_deadline(clock, s, ns, cmd == FUTEX_WAIT_BITSET));
            if !p.threads.multi() {
                return Ok(wait_alone(deadline));
            }
            Ok(p.threads.request_block(Block::new(
                Wait::Futex {
                    addr: uaddr,
                    bitset,
                },
                deadline,
                Outcome::Error(Errno(libc::ETIMEDOUT)),
            )))
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE {
                FUTEX_BITSET_MATCH_ANY
            } else {
                a[5] as u32
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(Outcome::Value(u64::from(wake(p, uaddr, val, bitset))))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let (nr_wake, nr_requeue, uaddr2) = (count(a[2])?, count(a[3])?, a[4]);
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE && p.mem.read_u32(uaddr)? != a[5] as u32 {
                return Err(Errno::EAGAIN);
            }
            // The first nr_wake waiters wake (none for 0, unlike WAKE), the
            // next nr_requeue move to uaddr2; both count in the result.
            let mut woken = 0;
            let mut moved = 0;
            for tid in p.threads.futex_waiters(uaddr, FUTEX_BITSET_MATCH_ANY) {
                if is_pi_waiter(p, tid) {
                    continue;
                }
                if woken < nr_wake {
                    p.threads.wake(tid, Some(Outcome::Value(0)));
                    woken += 1;
                } else if moved < nr_requeue {
                    if uaddr2 != uaddr {
                        p.threads.requeue(tid, uaddr2);
                    }
                    moved += 1;
                } else {
                    break;
                }
            }
            Ok(Outcome::Value(u64::from(woken + moved)))
        }
        FUTEX_WAKE_OP => wake_op(p, uaddr, count(a[2])?, count(a[3])?, a[4], a[5] as u32),
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            let timeout = match a[3] {
                0 => None,
                t if cmd != FUTEX_TRYLOCK_PI => Some(read_timeout(p, t, time64)?),
                _ => None,
            };
            // LOCK_PI's timeout is absolute on CLOCK_REALTIME.
            let clock = if cmd == FUTEX_LOCK_PI {
                libc::CLOCK_REALTIME
            } else {
                clock
            };
            lock_pi(p, uaddr, cmd == FUTEX_TRYLOCK_PI, timeout, clock)
        }
        FUTEX_UNLOCK_PI => unlock_pi(p, uaddr),
        _ => Err(Errno::ENOSYS),
    }
}

/// A WAIT with no other thread to wake it: the timeout passes, or ht-user
/// is interrupted.
fn wait_alone(deadline: Option<u64>) -> Outcome {
    match deadline {
        None => {
            // SAFETY: pause only returns when a signal arrives.
            unsafe { libc::pause() };
            Outcome::Error(Errno::EINTR)
        }
        Some(d) => {
            let ts = libc::timespec {
                tv_sec: (d / 1_000_000_000) as libc::time_t,
                tv_nsec: (d % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: both pointers are to our timespec / null.
            let rc = unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &ts,
                    std::ptr::null_mut(),
                )
            };
            if rc == libc::EINTR {
                Outcome::Error(Errno::EINTR)
            } else {
                Outcome::Error(Errno(libc::ETIMEDOUT))
            }
        }
    }
}

/// Wakes up to `n` waiters on `addr` whose bitset meets `bitset`, oldest
/// first; as Linux, `n == 0` wakes one. Returns how many woke.
pub fn wake(p: &mut Process, addr: u64, n: u32, bitset: u32) -> u32 {
    let mut woken = 0;
    for tid in p.threads.futex_waiters(addr, bitset) {
        if is_pi_waiter(p, tid) {
            continue;
        }
        p.threads.wake(tid, Some(Outcome::Value(0)));
        woken += 1;
        if woken >= n.max(1) {
            break;
        }
    }
    woken
}

fn is_pi_waiter(p: &Process, tid: u32) -> bool {
    use crate::kernel::thread::State;
    matches!(
        p.threads.get(tid).map(|t| &t.state),
        Some(State::Blocked(
            Block {
                wait: Wait::FutexPi { .. },
                ..
            },
            _
        ))
    )
}

fn wake_op(
    p: &mut Process,
    uaddr: u64,
    nr_wake: u32,
    nr_wake2: u32,
    uaddr2: u64,
    encoded: u32,
) -> Result<Outcome, Errno> {
    if uaddr2 % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let op = (encoded >> 28) & 0xf;
    let cmp = (encoded >> 24) & 0xf;
    let mut oparg = ((encoded << 8) as i32) >> 20;
    let cmparg = ((encoded << 20) as i32) >> 20;
    if op & 8 != 0 {
        // FUTEX_OP_OPARG_SHIFT; Linux masks an out-of-range shift.
        oparg = 1i32.wrapping_shl((oparg & 31) as u32);
    }
    if op & 7 > 4 {
        return Err(Errno::ENOSYS);
    }
    let (old, _) = p.mem.update_u32(uaddr2, |old| {
        let old = old as i32;
        Some(match op & 7 {
            0 => oparg,
            1 => old.wrapping_add(oparg),
            2 => old | oparg,
            3 => old & !oparg,
            _ => old ^ oparg,
        } as u32)
    })?;
    let old = old as i32;
    let hit = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => old < cmparg,
        3 => old <= cmparg,
        4 => old > cmparg,
        5 => old >= cmparg,
        _ => return Err(Errno::ENOSYS),
    };
    let mut n = wake(p, uaddr, nr_wake, FUTEX_BITSET_MATCH_ANY);
    if hit {
        n += wake(p, uaddr2, nr_wake2, FUTEX_BITSET_MATCH_ANY);
    }
    Ok(Outcome::Value(u64::from(n)))
}

/// LOCK_PI / TRYLOCK_PI: take the lock word (0 -> our tid) or wait for its
/// owner to hand it over in UNLOCK_PI. A word whose owner died is taken.
fn lock_pi(
    p: &mut Process,
    uaddr: u64,
    try_only: bool,
    timeout: Option<(i64, i64)>,
    clock: libc::clockid_t,
) -> Result<Outcome, Errno> {
    let tid = p.threads.current_tid();
    // Atomic on the word: other threads' engines change it with their own
    // atomics meanwhile (the lock's fast path in user space).
    let mut taken = false;
    let (val, _) = p.mem.update_u32(uaddr, |val| {
        let owner = val & TID_MASK;
        taken = false;
        if owner == tid {
            return None;
        }
        let owner_alive = owner != 0 && p.threads.get(owner).is_some();
        if !owner_alive {
            // Free, or its owner is gone (Linux would have marked it): ours.
            let died = if owner != 0 { FUTEX_OWNER_DIED } else { 0 };
            taken = true;
            return Some(tid | (val & FUTEX_WAITERS) | died | (val & FUTEX_OWNER_DIED));
        }
        (!try_only).then_some(val | FUTEX_WAITERS)
    })?;
    if val & TID_MASK == tid {
        return Err(Errno(libc::EDEADLK));
    }
    if taken {
        return Ok(Outcome::Value(0));
    }
    if try_only {
        return Err(Errno::EAGAIN);
    }
    let deadline = timeout.map(|(s, ns)| monotonic_deadline(clock, s, ns, true));
    Ok(p.threads.request_block(Block::new(
        Wait::FutexPi { addr: uaddr },
        deadline,
        Outcome::Error(Errno(libc::ETIMEDOUT)),
    )))
}

/// UNLOCK_PI: hands the lock to the oldest waiter, or frees it.
fn unlock_pi(p: &mut Process, uaddr: u64) -> Result<Outcome, Errno> {
    let tid = p.threads.current_tid();
    let waiters: Vec<u32> = p
        .threads
        .futex_waiters(uaddr, FUTEX_BITSET_MATCH_ANY)
        .into_iter()
        .filter(|t| is_pi_waiter(p, *t))
        .collect();
    let next = match waiters.first() {
        Some(&next) => next | if waiters.len() > 1 { FUTEX_WAITERS } else { 0 },
        None => 0,
    };
    // Atomic on the word, as in `lock_pi`.
    let (val, _) = p
        .mem
        .update_u32(uaddr, |val| (val & TID_MASK == tid).then_some(next))?;
    if val & TID_MASK != tid {
        return Err(Errno::EPERM);
    }
    if let Some(&woken) = waiters.first() {
        p.threads.wake(woken, Some(Outcome::Value(0)));
    }
    Ok(Outcome::Value(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_op_decoding() {
        // FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 0) as glibc encodes it.
        let encoded: u32 = (1 << 28) | (4 << 24) | (1 << 12);
        assert_eq!((encoded >> 28) & 0xf, 1);
        assert_eq!(((encoded << 8) as i32) >> 20, 1);
        assert_eq!(((encoded << 20) as i32) >> 20, 0);
        // A negative 12-bit argument sign-extends.
        let neg: u32 = 0xfff;
        assert_eq!(((neg << 20) as i32) >> 20, -1);
    }

    #[test]
    fn absolute_deadline_on_monotonic() {
        let now = clock_ns(libc::CLOCK_MONOTONIC);
        let d = monotonic_deadline(libc::CLOCK_MONOTONIC, 0, 0, true);
        // An absolute time in the past is due now.
        assert!(d >= now && d < now + 1_000_000_000);
        let r = monotonic_deadline(libc::CLOCK_MONOTONIC, 2, 0, false);
        assert!(r >= now + 2_000_000_000);
    }
}

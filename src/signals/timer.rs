// SPDX-License-Identifier: GPL-2.0-or-later
//! The host side of the guest's POSIX timers: [`super::TIMER_SIGNAL`]'s
//! handler installed for good, the expiration counters it fills and
//! their readers.

use std::sync::atomic::Ordering;

use super::{
    set_host_handler, HOST_SI_TIMER, TIMERS_FIRED, TIMER_EXPIRIES, TIMER_SIGNAL,
    TIMER_SIGNAL_OWNED, TIMER_SLOTS, TIMER_VALUE_BASE,
};

/// Installs the handler of [`TIMER_SIGNAL`] for good (before the first
/// host timer is created).
pub fn own_timer_signal() {
    if !TIMER_SIGNAL_OWNED.swap(true, Ordering::SeqCst) {
        set_host_handler(TIMER_SIGNAL);
    }
}

/// The `sigev_value` of the host timer counting into counter `slot`.
pub fn timer_value(slot: usize) -> usize {
    TIMER_VALUE_BASE + slot
}

/// Whether some timer expired since the last call.
pub fn take_timers_fired() -> bool {
    TIMERS_FIRED.swap(false, Ordering::SeqCst)
}

/// Takes the expirations counted in `slot`.
pub fn take_timer_expiries(slot: usize) -> u32 {
    TIMER_EXPIRIES
        .get(slot)
        .map_or(0, |c| c.swap(0, Ordering::SeqCst))
}

/// A forked child: no host timers exist in it, so none of the counts are
/// its own.
pub fn forget_timer_expiries() {
    TIMERS_FIRED.store(false, Ordering::SeqCst);
    for c in &TIMER_EXPIRIES {
        c.store(0, Ordering::SeqCst);
    }
}

/// Counts a host timer's expiration: true when `info` is one of ours.
///
/// # Safety
/// `info` must be the siginfo the kernel passed to an SA_SIGINFO handler.
pub(super) unsafe fn count_timer_expiry(info: *const libc::siginfo_t) -> bool {
    // SAFETY: the caller passes the kernel's siginfo (128 bytes); a timer's
    // fields are si_tid, si_overrun and si_sigval after the three ints,
    // aligned to a pointer.
    let (code, overrun, value) = unsafe {
        let base = info.cast::<u8>();
        let u = if std::mem::size_of::<usize>() == 8 {
            16
        } else {
            12
        };
        (
            (*info).si_code,
            base.add(u + 4).cast::<i32>().read_unaligned(),
            base.add(u + 8).cast::<usize>().read_unaligned(),
        )
    };
    if code != HOST_SI_TIMER || !(TIMER_VALUE_BASE..TIMER_VALUE_BASE + TIMER_SLOTS).contains(&value)
    {
        return false;
    }
    let n = 1u32.saturating_add(overrun.max(0) as u32);
    let counter = &TIMER_EXPIRIES[value - TIMER_VALUE_BASE];
    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
        Some(c.saturating_add(n))
    });
    TIMERS_FIRED.store(true, Ordering::SeqCst);
    true
}

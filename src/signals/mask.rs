// SPDX-License-Identifier: GPL-2.0-or-later
//! Signal masks: every signal kept from helper threads, a signal blocked
//! around a call, and the wait the handled signals can interrupt.

use std::sync::atomic::Ordering;

use super::{guest_signal_waiting, interrupted, reserved, WaitEnd, POKED_FD};

/// Keeps every signal away from helper threads: the handled ones so they
/// interrupt the emulator thread's blocking calls, the others because
/// they are the guest's (see `run_blocked`).
pub fn block_in_this_thread() {
    // SAFETY: manipulates this thread's own signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Lets the host's synchronous fault signals reach this thread again (a
/// guest thread's host thread, started with every signal blocked): a
/// blocked SIGBUS from an access that faults would kill the process
/// whatever its handler (`mem::host_fault`). The others keep their
/// default action either way.
pub fn unblock_faults() {
    // SAFETY: manipulates this thread's own signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGBUS, libc::SIGSEGV, libc::SIGILL, libc::SIGFPE] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Runs `f` (which starts a helper thread) with every signal blocked in
/// this thread, so that the new thread inherits the full mask and never
/// takes a signal, even before it blocks them itself.
pub fn with_all_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: manipulates this thread's own signal mask and restores it.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let r = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

/// Runs `f` with host signal `sig` blocked in this thread and then throws
/// away a `sig` sent to this process meanwhile: for a guest's kill of its
/// own process group, which the host delivers to every member at once
/// (this one takes the guest's action instead). Helper threads block every
/// signal, so the one sent here stays pending until it is discarded.
pub fn run_blocked(sig: i32, f: impl FnOnce()) {
    // SAFETY: manipulates this thread's own signal mask and consumes a
    // pending signal with a zero timeout.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        f();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == sig {}
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// Waits for one of `fds` to be ready or `timeout_ns` to pass (forever
/// without one) while the handled signals can interrupt the wait, and
/// says how it ended: interrupted (before or during the wait), poked, or
/// for a reason of the guest's.
pub fn wait_interruptibly(fds: &mut [libc::pollfd], timeout_ns: Option<u64>) -> WaitEnd {
    let poked_fd = POKED_FD.load(Ordering::SeqCst);
    let mut all: Vec<libc::pollfd> = fds.to_vec();
    all.push(libc::pollfd {
        fd: poked_fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: signal masks of this thread and a ppoll over our own array;
    // every signal ht-user may handle is blocked between the check and
    // ppoll, which unblocks them atomically, so none is missed (one for
    // the guest included).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in (1..=64).filter(|&s| !reserved(s)) {
            libc::sigaddset(&mut set, sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        if interrupted().is_none() && !guest_signal_waiting() {
            let mut during = old;
            for sig in (1..=64).filter(|&s| !reserved(s)) {
                libc::sigdelset(&mut during, sig);
            }
            let ts = timeout_ns.map(|ns| libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            libc::ppoll(all.as_mut_ptr(), all.len() as libc::nfds_t, ts_ptr, &during);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    for (mine, polled) in fds.iter_mut().zip(&all) {
        mine.revents = polled.revents;
    }
    if interrupted().is_some() {
        return WaitEnd::Interrupted;
    }
    if all.last().is_some_and(|p| p.revents != 0) {
        let mut buf = [0u8; 64];
        // SAFETY: drains our non-blocking pipe into a local buffer.
        while unsafe { libc::read(poked_fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        return WaitEnd::Poked;
    }
    WaitEnd::Ready
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! SIGINT, SIGTERM and SIGHUP to ht-user end the run cleanly: the handler
//! records the signal and wakes a watcher thread that stops the engine; a
//! host call the guest is blocked in returns EINTR. The run then flushes
//! the trace and removes the channel files.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use unicorn_engine::unicorn_const::uc_engine;

static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static ENGINE: Mutex<Option<EngineHandle>> = Mutex::new(None);

const HANDLED: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

struct EngineHandle(*mut uc_engine);
// SAFETY: the handle is only used for uc_emu_stop, which Unicorn itself
// calls from its timeout thread; the runner disarms it before the engine
// is freed.
unsafe impl Send for EngineHandle {}

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(sig, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe is fine.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// The signal that interrupted the run, if any.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Installs the handlers and the watcher thread. Call once.
pub fn install() -> std::io::Result<()> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors we own from here on.
    let read_end = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    WAKE_FD.store(fds[1], Ordering::SeqCst);
    std::thread::Builder::new()
        .name("ht-signals".into())
        .spawn(move || watch(read_end))?;
    for sig in HANDLED {
        // SAFETY: sigaction with a handler that only touches atomics and
        // write(2); no SA_RESTART so blocking host calls return EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

fn watch(read_end: OwnedFd) {
    use std::os::fd::AsRawFd;
    block_in_this_thread();
    let fd = read_end.as_raw_fd();
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one descriptor we own.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            continue;
        }
        let mut buf = [0u8; 16];
        // SAFETY: reads into our buffer; the pipe is non-blocking.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if let Some(h) = ENGINE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            // SAFETY: the handle is live while armed (see EngineHandle).
            unsafe { unicorn_engine::unicorn_const::uc_emu_stop(h.0) };
        }
    }
}

/// Lets an interrupt stop this engine. Pair with [`disarm`].
pub fn arm(uc: &crate::machine::Engine<'_>) {
    let handle = uc.get_handle();
    *ENGINE.lock().unwrap_or_else(|e| e.into_inner()) = Some(EngineHandle(handle));
    if interrupted().is_some() {
        // SAFETY: the handle was just given to us live.
        unsafe { unicorn_engine::unicorn_const::uc_emu_stop(handle) };
    }
}

/// Forgets the engine before it is freed.
pub fn disarm() {
    *ENGINE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Keeps the handled signals away from helper threads so they interrupt
/// the emulator thread's blocking calls.
pub fn block_in_this_thread() {
    // SAFETY: manipulates this thread's own signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in HANDLED {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for one of `fds` to be ready or `timeout_ns` to pass (forever
/// without one) while the handled signals can interrupt the wait. Returns
/// false when ht-user was interrupted (before or during the wait).
pub fn wait_interruptibly(fds: &mut [libc::pollfd], timeout_ns: Option<u64>) -> bool {
    // SAFETY: signal masks of this thread and a ppoll over our own array;
    // the handled signals are blocked between the check and ppoll, which
    // unblocks them atomically, so none is missed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in HANDLED {
            libc::sigaddset(&mut set, sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        if interrupted().is_none() {
            let mut during = old;
            for sig in HANDLED {
                libc::sigdelset(&mut during, sig);
            }
            let ts = timeout_ns.map(|ns| libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ts_ptr, &during);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    interrupted().is_none()
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! The watcher thread that stops the engine from outside (interrupts,
//! signals and timer expirations for the guest, monitor requests), and
//! the engine it stops: [`arm`], [`disarm`], [`stop_engine`].

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;

use super::*;

/// Sets the engine the watcher stops (unless the lock is stuck, see
/// `ENGINE_STUCK`; the handler then stops it through `ENGINE_PTR`).
fn set_engine(handle: Option<EngineHandle>) {
    if !ENGINE_STUCK.load(Ordering::SeqCst) {
        *ENGINE.lock().unwrap_or_else(|e| e.into_inner()) = handle;
    }
}

pub(super) fn start_watcher() -> std::io::Result<()> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors we own from here on.
    let read_end = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    WATCH_FD.store(fds[0], Ordering::SeqCst);
    WAKE_FD.store(fds[1], Ordering::SeqCst);
    WAKE_OWNER.store(std::process::id() as i32, Ordering::SeqCst);
    with_all_blocked(|| {
        std::thread::Builder::new()
            .name("ht-signals".into())
            .spawn(move || watch(read_end))
    })?;
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
        // A stop that lands just before the engine starts is lost (starting
        // clears its stop request): ask again until the emulator thread has
        // taken what waits for the guest, or, after an interrupt, until
        // the run is over and the engine disarmed.
        loop {
            let interrupt = interrupted().is_some();
            let armed = if interrupt {
                stop_armed_engine()
            } else {
                stop_armed_engine_for_guest()
            };
            if !armed || (!interrupt && !emulator_work_waiting()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(300));
        }
    }
}

/// Asks the armed engine, if any, to stop while host signals, timer
/// expirations or monitor requests wait for the emulator thread, noting
/// why; false when none is armed.
fn stop_armed_engine_for_guest() -> bool {
    match ENGINE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(h) => {
            if emulator_work_waiting() {
                STOPPED_FOR_GUEST.store(true, Ordering::SeqCst);
                // SAFETY: the handle is live while armed (see EngineHandle).
                unsafe { unicorn_engine::unicorn_const::uc_emu_stop(h.0) };
            }
            true
        }
        None => false,
    }
}

/// Asks the armed engine, if any, to stop, from any thread (gdb's
/// interrupt); false when none is armed.
pub fn stop_engine() -> bool {
    stop_armed_engine()
}

/// Asks the armed engine, if any, to stop; false when none is armed.
fn stop_armed_engine() -> bool {
    match ENGINE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(h) => {
            // SAFETY: the handle is live while armed (see EngineHandle).
            unsafe { unicorn_engine::unicorn_const::uc_emu_stop(h.0) };
            true
        }
        None => false,
    }
}

/// Lets an interrupt stop this engine. Pair with [`disarm`].
pub fn arm<D>(uc: &unicorn_engine::Unicorn<'_, D>) {
    let handle = uc.get_handle();
    set_engine(Some(EngineHandle(handle)));
    ENGINE_PTR.store(handle, Ordering::SeqCst);
    if interrupted().is_some() {
        // SAFETY: the handle was just given to us live.
        unsafe { unicorn_engine::unicorn_const::uc_emu_stop(handle) };
    }
}

/// Forgets the engine before it is freed.
pub fn disarm() {
    ENGINE_PTR.store(std::ptr::null_mut(), Ordering::SeqCst);
    set_engine(None);
}

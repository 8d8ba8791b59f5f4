// SPDX-License-Identifier: GPL-2.0-or-later
//! Host calls that would block, when the guest has more than one thread.
//!
//! A read on an empty pipe or a terminal, a write to a full pipe, poll,
//! nanosleep: run directly they would stop every guest thread, since all
//! of them run on the one host thread. Instead the descriptor's readiness
//! is checked first with a zero-timeout poll; a call that is ready runs as
//! usual, one that is not parks its thread on (host fd, events) and/or a
//! deadline. The scheduler polls the parked descriptors at every switch
//! and, when no thread can run, waits for all of them and the earliest
//! deadline in one host `ppoll`. A parked I/O call runs again when its
//! descriptor is ready; a sleep or poll that reaches its deadline returns
//! what the kernel returns then (0).

use std::os::fd::RawFd;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::{fs, net, Call, Errno, Outcome, Sys};
use crate::kernel::thread::{Block, Wait};
use crate::kernel::Process;

use super::futex::monotonic_deadline;

/// poll(fds, nfds, timeout_ms).
pub(super) fn poll_ms(p: &mut Process, a: &[u64; 6]) -> Outcome {
    let ms = a[2] as u32 as i32;
    let timeout = (ms >= 0).then(|| (i64::from(ms / 1000), i64::from(ms % 1000) * 1_000_000));
    poll_wait(p, a[0], a[1], timeout)
}

/// ppoll(fds, nfds, timeout, sigmask, size) with a `struct timespec`
/// (`time64`: 64-bit fields on 32-bit ABIs).
pub(super) fn ppoll(p: &mut Process, a: &[u64; 6], time64: bool) -> Option<Outcome> {
    let timeout = if a[2] == 0 {
        None
    } else {
        match read_timespec(p, a[2], time64) {
            Ok(t) => Some(t),
            Err(e) => return Some(Outcome::Error(e)),
        }
    };
    Some(poll_wait(p, a[0], a[1], timeout))
}

/// send, sendto, sendmsg: they wait unless their flags (argument
/// `flags_slot`) say MSG_DONTWAIT.
pub(super) fn send_unless_dontwait(
    p: &mut Process,
    a: &Call,
    flags_slot: usize,
) -> Option<Outcome> {
    (a[flags_slot] as i32 & libc::MSG_DONTWAIT == 0).then(|| send_wait(p, a.sys, a))
}

/// recv, recvfrom, recvmsg: as [`send_unless_dontwait`].
pub(super) fn recv_unless_dontwait(
    p: &mut Process,
    a: &Call,
    flags_slot: usize,
) -> Option<Outcome> {
    if a[flags_slot] as i32 & libc::MSG_DONTWAIT != 0 {
        return None;
    }
    io_wait(p, a[0], libc::POLLIN)
}

/// A descriptor's status flags (F_GETFL), if it has them.
fn status_flags(fd: RawFd) -> Option<OFlag> {
    fcntl(fd, FcntlArg::F_GETFL)
        .ok()
        .map(OFlag::from_bits_retain)
}

fn read_timespec(p: &Process, addr: u64, time64: bool) -> Result<(i64, i64), Errno> {
    let word = if time64 { 8 } else { p.word_size() };
    let raw = p.mem.read_vec(addr, word * 2)?;
    let (s, ns) = super::types::decode_time_pair(&raw, word, p.mem.encoder());
    if s < 0 || !(0..1_000_000_000).contains(&ns) {
        return Err(Errno::EINVAL);
    }
    Ok((s, ns))
}

/// Whether `fd` is ready for `events` now (an error counts as ready: the
/// call itself reports it).
fn ready(fd: i32, events: i16) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: polls one pollfd we own, without waiting.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n != 0
}

pub(super) fn io_wait(p: &mut Process, guest_fd: u64, events: i16) -> Option<Outcome> {
    // Unknown descriptors: the handler reports EBADF.
    let fd = p.fds.raw(guest_fd).ok()?;
    let fl = status_flags(fd)?;
    if fl.contains(OFlag::O_NONBLOCK) || ready(fd, events) {
        return None;
    }
    Some(p.threads.request_block(Block::new(
        Wait::Io {
            fds: vec![(fd, events)],
        },
        None,
        Outcome::Value(0),
    )))
}

/// write/writev to a pipe or socket: a blocking host write of more than
/// the free space would stop every thread (the reader may be one of them),
/// so the write is made without blocking. What fits is written and the
/// call returns that count (a short write, as after a signal); with no
/// room at all the thread waits until the descriptor is writable.
pub(super) fn write_wait(p: &mut Process, sys: Sys, a: &[u64; 6]) -> Option<Outcome> {
    let fd = p.fds.raw(a[0]).ok()?;
    let mode = nix::sys::stat::fstat(fd).ok()?.st_mode & libc::S_IFMT;
    let fl = status_flags(fd)?;
    if !(mode == libc::S_IFIFO || mode == libc::S_IFSOCK) || fl.contains(OFlag::O_NONBLOCK) {
        return io_wait(p, a[0], libc::POLLOUT);
    }
    // The descriptor's flags are restored right after.
    let _ = fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK));
    let r = if sys == Sys::write {
        fs::write(p, a)
    } else {
        fs::writev(p, a)
    };
    let _ = fcntl(fd, FcntlArg::F_SETFL(fl));
    match r {
        Err(Errno::EAGAIN) => Some(p.threads.request_block(Block::new(
            Wait::Io {
                fds: vec![(fd, libc::POLLOUT)],
            },
            None,
            Outcome::Value(0),
        ))),
        other => Some(other.into()),
    }
}

/// poll/ppoll: a zero-timeout poll first; with nothing ready and a timeout
/// left, the thread waits on the descriptors until the deadline.
pub(super) fn poll_wait(
    p: &mut Process,
    fds_addr: u64,
    nfds: u64,
    timeout: Option<(i64, i64)>,
) -> Outcome {
    let n = match fs::poll(p, fds_addr, nfds, Some(0)) {
        Ok(n) => n,
        Err(e) => return Outcome::Error(e),
    };
    if n > 0 || timeout == Some((0, 0)) {
        return Outcome::Value(n);
    }
    let mut fds = Vec::new();
    let enc = p.mem.encoder();
    for i in 0..nfds {
        let Ok(raw) = p.mem.read_vec(fds_addr + i * 8, 8) else {
            return Outcome::Error(Errno::EFAULT);
        };
        let guest_fd = enc.decode_u32(raw[..4].try_into().unwrap()) as i32;
        let word = enc.decode_u32(raw[4..].try_into().unwrap());
        let events = match enc.endian {
            crate::mem::Endian::Little => word & 0xffff,
            crate::mem::Endian::Big => word >> 16,
        } as i16;
        if guest_fd >= 0 {
            if let Ok(fd) = p.fds.raw(guest_fd as u64) {
                fds.push((fd, events));
            }
        }
    }
    let deadline = timeout.map(|(s, ns)| monotonic_deadline(libc::CLOCK_MONOTONIC, s, ns, false));
    p.threads
        .request_block(Block::new(Wait::Io { fds }, deadline, Outcome::Value(0)))
}

/// select/pselect6: answered at once when a descriptor is ready or the
/// timeout is zero; otherwise the thread waits on the descriptors until
/// the deadline. While it waits the guest's sets hold the timeout's
/// answer (empty); a descriptor that wakes it gets them back for the retry.
pub(super) fn select_wait(p: &mut Process, sys: Sys, a: &[u64; 6]) -> Outcome {
    let mut answer = || -> Result<Outcome, Errno> {
        let timeout = fs::select_timeout(p, sys, a)?;
        let resumed = p.threads.current_mut().select_wait.take();
        if let Some((sets, _)) = &resumed {
            fs::write_select_sets(p, a, sets)?;
        }
        let sets = fs::read_select_sets(p, a)?;
        let list = fs::select_poll_list(p, a, &sets)?;
        let n = fs::select(p, a, Some(0))?;
        let deadline = match &resumed {
            Some((_, deadline)) => *deadline,
            None => timeout.map(|(s, ns)| monotonic_deadline(libc::CLOCK_MONOTONIC, s, ns, false)),
        };
        let expired = deadline.is_some_and(|d| d <= crate::host::monotonic_ns());
        if n > 0 || expired || timeout == Some((0, 0)) {
            return Ok(Outcome::Value(n));
        }
        p.threads.current_mut().select_wait = Some((sets, deadline));
        let fds = list.iter().map(|&(_, fd, events)| (fd, events)).collect();
        Ok(p.threads
            .request_block(Block::new(Wait::Io { fds }, deadline, Outcome::Value(0))))
    };
    answer().unwrap_or_else(Outcome::Error)
}

/// select/pselect6 as one blocking host call (a single-threaded guest, or
/// the retry of a wait [`select_wait`] parked): the sets a parked wait kept
/// are given back first, and its deadline bounds the call.
pub fn select_on_host(p: &mut Process, sys: Sys, a: &[u64; 6]) -> super::SysResult {
    let timeout = match p.threads.current_mut().select_wait.take() {
        Some((sets, deadline)) => {
            fs::write_select_sets(p, a, &sets)?;
            deadline.map(|d| {
                let left = d.saturating_sub(crate::host::monotonic_ns());
                (0, left as i64)
            })
        }
        None => fs::select_timeout(p, sys, a)?,
    };
    let ms = timeout.map(|(s, ns)| {
        let ms = s
            .saturating_mul(1000)
            .saturating_add((ns + 999_999) / 1_000_000);
        i32::try_from(ms).unwrap_or(i32::MAX)
    });
    fs::select(p, a, ms)
}

pub(super) fn sleep(
    p: &mut Process,
    clock: libc::clockid_t,
    flags: i32,
    req: u64,
    time64: bool,
) -> Outcome {
    let supported = matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI
    );
    if !supported {
        return Outcome::Error(Errno::EINVAL);
    }
    let (s, ns) = match read_timespec(p, req, time64) {
        Ok(t) => t,
        Err(e) => return Outcome::Error(e),
    };
    let absolute = flags & libc::TIMER_ABSTIME != 0;
    let deadline = monotonic_deadline(clock, s, ns, absolute);
    p.threads
        .request_block(Block::new(Wait::Sleep, Some(deadline), Outcome::Value(0)))
}

/// accept/accept4 on a listening socket waits for a connection; on any
/// other descriptor the call runs and reports the error.
pub(super) fn accept_wait(p: &mut Process, guest_fd: u64) -> Option<Outcome> {
    let fd = p.fds.raw(guest_fd).ok()?;
    let mut listening: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt fills an int we own.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut listening as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 || listening == 0 {
        return None;
    }
    io_wait(p, guest_fd, libc::POLLIN)
}

/// send/sendto/sendmsg: sent without blocking; with no room the thread waits
/// until the socket is writable and the call runs again.
pub(super) fn send_wait(p: &mut Process, sys: Sys, a: &[u64; 6]) -> Outcome {
    let args = if sys == Sys::send {
        [a[0], a[1], a[2], a[3], 0, 0]
    } else {
        *a
    };
    let fd = match p.fds.raw(a[0]) {
        Ok(fd) => fd,
        Err(e) => return Outcome::Error(e),
    };
    let extra = if status_flags(fd).is_some_and(|fl| !fl.contains(OFlag::O_NONBLOCK)) {
        libc::MSG_DONTWAIT
    } else {
        0
    };
    let (result, flags) = if sys == Sys::sendmsg {
        (net::sendmsg(p, a, extra), a[2])
    } else {
        (net::sendto(p, &args, extra), a[3])
    };
    match result {
        Err(Errno::EAGAIN) if extra != 0 => p.threads.request_block(Block::new(
            Wait::Io {
                fds: vec![(fd, libc::POLLOUT)],
            },
            None,
            Outcome::Value(0),
        )),
        Err(Errno::EPIPE) if flags as i32 & libc::MSG_NOSIGNAL == 0 => {
            super::signal::broken_pipe(p)
        }
        other => other.into(),
    }
}

/// epoll_wait/epoll_pwait: a zero-timeout wait first; with nothing ready
/// and a timeout left, the thread waits on the epoll descriptor (readable
/// when an event is pending) until the deadline, then the call runs again.
pub(super) fn epoll_block(p: &mut Process, a: &[u64; 6]) -> Outcome {
    let ms = a[3] as u32 as i32;
    let n = match net::epoll_wait(p, a, 0) {
        Ok(n) => n,
        Err(e) => return Outcome::Error(e),
    };
    if n > 0 || ms == 0 {
        return Outcome::Value(n);
    }
    let Ok(epfd) = p.fds.raw(a[0]) else {
        return Outcome::Error(Errno::EBADF);
    };
    let deadline = (ms > 0).then(|| {
        monotonic_deadline(
            libc::CLOCK_MONOTONIC,
            i64::from(ms / 1000),
            i64::from(ms % 1000) * 1_000_000,
            false,
        )
    });
    p.threads.request_block(Block::new(
        Wait::Io {
            fds: vec![(epfd, libc::POLLIN)],
        },
        deadline,
        Outcome::Value(0),
    ))
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! poll, ppoll and select over the host's poll, with the guest's fd sets.

use super::*;

pub fn poll(p: &mut Process, fds_addr: u64, nfds: u64, timeout_ms: Option<i32>) -> SysResult {
    // Linux: more entries than RLIMIT_NOFILE allows descriptors is EINVAL.
    if nfds > p.fds.limit() as u64 {
        return Err(Errno::EINVAL);
    }
    let raw = p.mem.read_vec(fds_addr, nfds as usize * 8)?;
    let enc = p.mem.encoder();
    let mut host: Vec<libc::pollfd> = Vec::with_capacity(nfds as usize);
    for i in 0..nfds as usize {
        let guest_fd = enc.decode_u32(raw[i * 8..i * 8 + 4].try_into().unwrap()) as i32;
        let events_word = enc.decode_u32(raw[i * 8 + 4..i * 8 + 8].try_into().unwrap());
        let events = match enc.endian {
            crate::mem::Endian::Little => events_word & 0xffff,
            crate::mem::Endian::Big => events_word >> 16,
        } as i16;
        // A negative fd is ignored by poll; an unknown one reports POLLNVAL.
        let fd = if guest_fd < 0 {
            -1
        } else {
            p.fds.raw(guest_fd as u64).unwrap_or(i32::MAX)
        };
        host.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
    }
    for h in host.iter_mut() {
        if h.fd == i32::MAX {
            h.revents = libc::POLLNVAL;
        }
    }
    let pollable: Vec<usize> = (0..host.len())
        .filter(|&i| host[i].fd != i32::MAX)
        .collect();
    let mut subset: Vec<libc::pollfd> = pollable.iter().map(|&i| host[i]).collect();
    let invalid = host.len() - subset.len();
    let timeout = if invalid > 0 {
        0
    } else {
        timeout_ms.unwrap_or(-1)
    };
    // SAFETY: `subset` is an array of pollfd we own.
    let n = check_int(unsafe {
        libc::poll(subset.as_mut_ptr(), subset.len() as libc::nfds_t, timeout)
    })?;
    for (k, &i) in pollable.iter().enumerate() {
        host[i].revents = subset[k].revents;
    }
    let mut out = raw.clone();
    for (i, h) in host.iter().enumerate() {
        let revents = h.revents as u16;
        let at = i * 8 + 6;
        out[at..at + 2].copy_from_slice(&enc.u16(revents));
    }
    p.mem.write(fds_addr, &out)?;
    Ok(n + invalid as u64)
}

/// select/pselect6's timeout: `None` waits for ever. select gives a
/// timeval (microseconds), pselect6 a timespec; `_time64` 64-bit fields.
pub fn select_timeout(p: &Process, sys: Sys, a: &[u64; 6]) -> Result<Option<(i64, i64)>, Errno> {
    if a[4] == 0 {
        return Ok(None);
    }
    let word = if sys == Sys::pselect6_time64 {
        8
    } else {
        p.word_size()
    };
    let raw = p.mem.read_vec(a[4], word * 2)?;
    let (s, sub) = crate::abi::types::decode_time_pair(&raw, word, p.mem.encoder());
    let micro = matches!(sys, Sys::select | Sys::_newselect);
    let (limit, scale) = if micro {
        (1_000_000, 1000)
    } else {
        (1_000_000_000, 1)
    };
    if s < 0 || !(0..limit).contains(&sub) {
        return Err(Errno::EINVAL);
    }
    Ok(Some((s, sub * scale)))
}

pub use crate::kernel::thread::FdSets;

/// nfds as Linux uses it: descriptors past the largest it could have open
/// are ignored.
fn select_nfds(p: &Process, a: &[u64; 6]) -> Result<usize, Errno> {
    let nfds = a[0] as i64;
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let open_max = p
        .fds
        .numbers()
        .last()
        .map_or(0, |n| n + 1)
        .max(p.fds.limit());
    Ok(nfds.min(i64::from(open_max)) as usize)
}

/// Reads the sets of select(nfds, readfds, writefds, exceptfds, ...).
pub fn read_select_sets(p: &Process, a: &[u64; 6]) -> Result<FdSets, Errno> {
    let word = p.word_size();
    let len = select_nfds(p, a)?.div_ceil(word * 8) * word;
    let mut sets: FdSets = [None, None, None];
    for (k, set) in sets.iter_mut().enumerate() {
        if a[1 + k] != 0 && len > 0 {
            *set = Some(p.mem.read_vec(a[1 + k], len)?);
        }
    }
    Ok(sets)
}

/// Writes the sets back where the guest gave them.
pub fn write_select_sets(p: &mut Process, a: &[u64; 6], sets: &FdSets) -> Result<(), Errno> {
    for (k, set) in sets.iter().enumerate() {
        if let Some(bytes) = set {
            p.mem.write(a[1 + k], bytes)?;
        }
    }
    Ok(())
}

/// The byte and bit of descriptor n in a set: bit n % 8 of byte n / 8 on
/// a little-endian guest; a big-endian one keeps words in its own order.
fn fd_bit(p: &Process, n: usize) -> (usize, u8) {
    let word = p.word_size();
    let byte = match p.mem.encoder().endian {
        crate::mem::Endian::Little => n / 8,
        crate::mem::Endian::Big => (n / (word * 8)) * word + (word - 1 - (n % (word * 8)) / 8),
    };
    (byte, 1 << (n % 8))
}

const SELECT_WANT: [i16; 3] = [libc::POLLIN, libc::POLLOUT, libc::POLLPRI];

/// The (guest descriptor, host descriptor, poll events) the sets ask
/// about; EBADF for a descriptor the guest has not open.
pub fn select_poll_list(
    p: &Process,
    a: &[u64; 6],
    sets: &FdSets,
) -> Result<Vec<(usize, RawFd, i16)>, Errno> {
    let mut list = Vec::new();
    for n in 0..select_nfds(p, a)? {
        let (byte, bit) = fd_bit(p, n);
        let events = (0..3)
            .filter(|&k| sets[k].as_ref().is_some_and(|b| b[byte] & bit != 0))
            .fold(0i16, |e, k| e | SELECT_WANT[k]);
        if events != 0 {
            list.push((n, p.fds.raw(n as u64)?, events));
        }
    }
    Ok(list)
}

/// select over the host's poll: the sets are read, polled for
/// `timeout_ms` (None: for ever) and written back with only the ready
/// descriptors; the result is how many bits remain set.
pub fn select(p: &mut Process, a: &[u64; 6], timeout_ms: Option<i32>) -> SysResult {
    let sets = read_select_sets(p, a)?;
    let list = select_poll_list(p, a, &sets)?;
    let mut fds: Vec<libc::pollfd> = list
        .iter()
        .map(|&(_, fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is an array of pollfd we own.
    check_int(unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout_ms.unwrap_or(-1),
        )
    })?;
    // What counts as ready for each set, as Linux's select sees it.
    const READY: [i16; 3] = [
        libc::POLLIN | libc::POLLHUP | libc::POLLERR,
        libc::POLLOUT | libc::POLLERR,
        libc::POLLPRI,
    ];
    let mut out: FdSets = sets.clone().map(|s| s.map(|b| vec![0u8; b.len()]));
    let mut count = 0u64;
    for (&(n, _, events), f) in list.iter().zip(&fds) {
        let (byte, bit) = fd_bit(p, n);
        for k in 0..3 {
            if events & SELECT_WANT[k] != 0
                && sets[k].as_ref().is_some_and(|b| b[byte] & bit != 0)
                && f.revents & READY[k] != 0
            {
                if let Some(b) = out[k].as_mut() {
                    b[byte] |= bit;
                }
                count += 1;
            }
        }
    }
    write_select_sets(p, a, &out)?;
    Ok(count)
}

pub fn ppoll(p: &mut Process, a: &[u64; 6], time64: bool) -> SysResult {
    let timeout = if a[2] == 0 {
        None
    } else {
        let word = if time64 { 8 } else { p.word_size() };
        let raw = p.mem.read_vec(a[2], word * 2)?;
        let (s, ns) = crate::abi::types::decode_time_pair(&raw, word, p.mem.encoder());
        if s < 0 || !(0..1_000_000_000).contains(&ns) {
            return Err(Errno::EINVAL);
        }
        Some(
            i32::try_from(s.saturating_mul(1000).saturating_add(ns / 1_000_000))
                .unwrap_or(i32::MAX),
        )
    };
    poll(p, a[0], a[1], timeout)
}

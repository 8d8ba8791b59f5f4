// SPDX-License-Identifier: GPL-2.0-or-later
//! Small host services every layer uses: the clocks, the kernel's random
//! bytes and the CPUs ht-user may run on. One copy each, at the bottom of
//! the crate.

/// Now on host clock `clock`, in nanoseconds (vDSO, no system call for
/// the usual clocks).
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Host monotonic clock in nanoseconds (the clock of event timestamps and
/// of guest threads' deadlines).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Host wall clock in nanoseconds since the epoch.
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// Fills `buf` with random bytes from the host (the guest's keys and
/// AT_RANDOM).
pub fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        } else {
            done += n as usize;
        }
    }
    Ok(())
}

/// The host CPUs ht-user may run on (its affinity mask), by number; the
/// CPU it runs on if the mask cannot be read.
pub fn usable_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    let cpus: Vec<usize> = sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map(|set| {
            (0..CpuSet::count())
                .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    if cpus.is_empty() {
        vec![0]
    } else {
        cpus
    }
}

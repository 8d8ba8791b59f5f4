// SPDX-License-Identifier: GPL-2.0-or-later
//! Identity, limits, clone's dispatch.

use super::types::encode_utsname;
use super::{Errno, Outcome, Sys, SysResult};
use crate::kernel::Process;
use crate::kernel::{host_nofile_limits, NR_OPEN};
use crate::mem::StructBuilder;

/// clone: a call sharing the address space (CLONE_VM, without
/// CLONE_VFORK) creates a thread; anything else is process creation.
pub fn clone(p: &mut Process, a: &[u64; 6]) -> Outcome {
    let args = p.abi.clone_args(a);
    if args.flags & crate::kernel::clone_flags::CLONE_VM != 0
        && args.flags & crate::kernel::clone_flags::CLONE_VFORK == 0
    {
        return super::thread::clone_thread(p, &args);
    }
    Outcome::Error(Errno::ENOSYS)
}

/// clone3(args, size): `struct clone_args` of u64 fields (flags, pidfd,
/// child_tid, parent_tid, exit_signal, stack, stack_size, tls, ...).
pub fn clone3(p: &mut Process, a: &[u64; 6]) -> Outcome {
    const CLONE_ARGS_SIZE_VER0: u64 = 64;
    let (addr, size) = (a[0], a[1]);
    if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
        return Outcome::Error(Errno::EINVAL);
    }
    let mut f = [0u64; 8];
    for (i, v) in f.iter_mut().enumerate() {
        match p.mem.read_u64(addr + i as u64 * 8) {
            Ok(x) => *v = x,
            Err(_) => return Outcome::Error(Errno::EFAULT),
        }
    }
    let [flags, _pidfd, ctid, ptid, exit_signal, stack, stack_size, tls] = f;
    if flags & crate::kernel::clone_flags::CLONE_VM == 0
        || flags & crate::kernel::clone_flags::CLONE_VFORK != 0
    {
        return Outcome::Error(Errno::ENOSYS);
    }
    // The stack is given as its lowest address and size.
    if (stack == 0) != (stack_size == 0) || exit_signal > 64 {
        return Outcome::Error(Errno::EINVAL);
    }
    let args = crate::arch::CloneArgs {
        flags: flags | exit_signal,
        stack: stack.wrapping_add(stack_size),
        ptid,
        ctid,
        tls,
    };
    super::thread::clone_thread(p, &args)
}

pub fn identity(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    // SAFETY: these calls take no pointers and cannot fail, except
    // getpgid/getsid which report errors through -1.
    let v = unsafe {
        match sys {
            Sys::getpid => return Ok(u64::from(p.pid)),
            Sys::getppid => libc::getppid() as i64,
            Sys::getuid => libc::getuid() as i64,
            Sys::geteuid => libc::geteuid() as i64,
            Sys::getgid => libc::getgid() as i64,
            Sys::getegid => libc::getegid() as i64,
            Sys::getpgrp => libc::getpgrp() as i64,
            Sys::getpgid => libc::getpgid(a[0] as i32) as i64,
            Sys::getsid => libc::getsid(a[0] as i32) as i64,
            Sys::umask => libc::umask(a[0] as libc::mode_t & 0o777) as i64,
            _ => return Err(Errno::ENOSYS),
        }
    };
    if v < 0 {
        return Err(Errno::last());
    }
    Ok(v as u64)
}

pub fn setpgid(a: &[u64; 6]) -> SysResult {
    use nix::unistd::Pid;
    nix::unistd::setpgid(Pid::from_raw(a[0] as i32), Pid::from_raw(a[1] as i32))?;
    Ok(0)
}

/// setuid/setgid: the guest may "change" to the ids it already has (what
/// programs do to drop privileges they never had); ht-user's own
/// credentials are never changed.
pub fn set_id(sys: Sys, id: u64) -> SysResult {
    // SAFETY: plain identity queries.
    let (real, effective) = unsafe {
        if sys == Sys::setuid {
            (libc::getuid(), libc::geteuid())
        } else {
            (libc::getgid(), libc::getegid())
        }
    };
    let id = id as u32;
    if id == real || id == effective {
        Ok(0)
    } else {
        Err(Errno::EPERM)
    }
}

pub fn getgroups(p: &mut Process, a: &[u64; 6]) -> SysResult {
    // SAFETY: a size query, then a fill of our own buffer.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if n < 0 {
        return Err(Errno::last());
    }
    let mut groups = vec![0 as libc::gid_t; n as usize];
    // SAFETY: `groups` has room for `n` entries.
    let n = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
    if n < 0 {
        return Err(Errno::last());
    }
    let size = a[0] as i32;
    if size == 0 {
        return Ok(n as u64);
    }
    if size < n {
        return Err(Errno::EINVAL);
    }
    let enc = p.mem.encoder();
    let bytes: Vec<u8> = groups[..n as usize]
        .iter()
        .flat_map(|g| enc.u32(*g))
        .collect();
    p.mem.write(a[1], &bytes)?;
    Ok(n as u64)
}

pub fn getres(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    // SAFETY: no pointers.
    let ids = unsafe {
        if sys == Sys::getresuid {
            [libc::getuid(), libc::geteuid(), libc::geteuid()]
        } else {
            [libc::getgid(), libc::getegid(), libc::getegid()]
        }
    };
    for (i, id) in ids.iter().enumerate() {
        p.mem.write_u32(a[i], *id)?;
    }
    Ok(0)
}

pub fn uname(p: &mut Process, a: &[u64; 6]) -> SysResult {
    // SAFETY: uname fills a struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::uname(&mut u) };
    let field = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let (node, release, version, domain) = (
        field(&u.nodename),
        field(&u.release),
        field(&u.version),
        field(&u.domainname),
    );
    let bytes = encode_utsname([
        "Linux",
        &node,
        &release,
        &version,
        p.abi.uname_machine(),
        &domain,
    ]);
    p.mem.write(a[0], &bytes)?;
    Ok(0)
}

pub fn sysinfo(p: &mut Process, a: &[u64; 6]) -> SysResult {
    // SAFETY: sysinfo fills a struct we own.
    let mut s: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sysinfo(&mut s) } != 0 {
        return Err(Errno::last());
    }
    // Longs are the guest's word; 32-bit guests see the memory in units
    // large enough that the counts fit.
    let word = p.word_size();
    let (unit, shift) = if word == 4 && s.totalram * u64::from(s.mem_unit) > u64::from(u32::MAX) {
        (4096u32, 12 - s.mem_unit.trailing_zeros().min(12))
    } else {
        (s.mem_unit, 0)
    };
    let longs = [
        s.uptime as u64,
        s.loads[0],
        s.loads[1],
        s.loads[2],
        s.totalram >> shift,
        s.freeram >> shift,
        s.sharedram >> shift,
        s.bufferram >> shift,
        s.totalswap >> shift,
        s.freeswap >> shift,
    ];
    let size = if word == 8 { 112 } else { 64 };
    let mut b = StructBuilder::new(size, p.mem.encoder());
    for (i, v) in longs.iter().enumerate() {
        if word == 8 {
            b.u64(i * 8, *v);
        } else {
            b.u32(i * 4, *v as u32);
        }
    }
    let procs_at = 10 * word;
    b.u16(procs_at, s.procs);
    let high_at = procs_at + word; // procs, then padding to the next long
    if word == 8 {
        b.u64(high_at, s.totalhigh).u64(high_at + 8, s.freehigh);
    } else {
        b.u32(high_at, s.totalhigh as u32)
            .u32(high_at + 4, s.freehigh as u32);
    }
    b.u32(high_at + 2 * word, unit);
    p.mem.write(a[0], &b.bytes)?;
    Ok(0)
}

const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_SET_DUMPABLE: u64 = 4;
const PR_GET_DUMPABLE: u64 = 3;

pub fn prctl(p: &mut Process, a: &[u64; 6]) -> SysResult {
    match a[0] {
        PR_SET_NAME => {
            let _ = p.mem.read_cstr(a[1], 4096)?;
            Ok(0)
        }
        PR_GET_NAME => {
            let name = p
                .exe_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut buf = [0u8; 16];
            let n = name.len().min(15);
            buf[..n].copy_from_slice(&name.as_bytes()[..n]);
            p.mem.write(a[1], &buf)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

const RLIMIT_STACK: u64 = 3;
const RLIMIT_NOFILE: u64 = 7;
const RLIMIT_NPROC: u64 = 6;

pub fn prlimit64(p: &mut Process, pid: u64, resource: u64, new: u64, old: u64) -> SysResult {
    let resource = p.abi.rlimit_resource_to_host(resource);
    if pid != 0 && pid != u64::from(p.pid) {
        return Err(Errno::ESRCH);
    }
    let new_limits = if new != 0 {
        Some((p.mem.read_u64(new)?, p.mem.read_u64(new + 8)?))
    } else {
        None
    };
    let current = current_rlimit(p, resource)?;
    if old != 0 {
        p.mem.write_u64(old, current.0)?;
        p.mem.write_u64(old + 8, current.1)?;
    }
    if let Some((cur, max)) = new_limits {
        set_rlimit(p, resource, cur, max)?;
    }
    Ok(0)
}

/// Records a limit for the guest's view; ht-user's own limits are untouched.
fn set_rlimit(p: &mut Process, resource: u64, cur: u64, max: u64) -> SysResult {
    current_rlimit(p, resource)?; // validates `resource`
    if cur > max {
        return Err(Errno::EINVAL);
    }
    if resource == RLIMIT_NOFILE {
        // Raising the hard limit needs CAP_SYS_RESOURCE, and no limit goes
        // past fs.nr_open, as on Linux.
        let (_, hard) = current_rlimit(p, resource)?;
        let privileged = nix::unistd::geteuid().is_root();
        if max > NR_OPEN as u64 || (max > hard && !privileged) {
            return Err(Errno::EPERM);
        }
        p.fds.set_limit(cur as i32);
    }
    if resource == RLIMIT_NPROC {
        // The guest's processes are ht-user's: fork's EAGAIN comes from
        // the host, so the host enforces the guest's limit.
        let l = libc::rlimit {
            rlim_cur: cur,
            rlim_max: max,
        };
        // SAFETY: setrlimit reads a struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &l) } != 0 {
            return Err(Errno::last());
        }
    }
    p.rlimits.retain(|r| u64::from(r.0) != resource);
    p.rlimits.push((resource as u32, cur, max));
    Ok(0)
}

/// getrlimit/setrlimit: `struct rlimit` of two C longs (32-bit ABIs report
/// limits above 4 GiB as infinity).
pub fn rlimit_words(
    p: &mut Process,
    resource: u64,
    new: Option<u64>,
    old: Option<u64>,
) -> SysResult {
    let resource = p.abi.rlimit_resource_to_host(resource);
    let word = p.word_size();
    let enc = p.mem.encoder();
    if let Some(addr) = new {
        let cur = p.mem.read_word(addr, word)?;
        let max = p.mem.read_word(addr + word as u64, word)?;
        let widen = |v: u64| {
            if word == 4 && v == u64::from(u32::MAX) {
                u64::MAX
            } else {
                v
            }
        };
        set_rlimit(p, resource, widen(cur), widen(max))?;
    }
    if let Some(addr) = old {
        let (cur, max) = current_rlimit(p, resource)?;
        let mut bytes = Vec::new();
        for v in [cur, max] {
            if word == 8 {
                bytes.extend_from_slice(&enc.u64(v));
            } else {
                bytes.extend_from_slice(&enc.u32(u32::try_from(v).unwrap_or(u32::MAX)));
            }
        }
        p.mem.write(addr, &bytes)?;
    }
    Ok(0)
}

fn current_rlimit(p: &Process, resource: u64) -> Result<(u64, u64), Errno> {
    if resource > 15 {
        return Err(Errno::EINVAL);
    }
    Ok(
        match p.rlimits.iter().find(|r| u64::from(r.0) == resource) {
            Some(r) => (r.1, r.2),
            None => match resource {
                RLIMIT_NOFILE => {
                    let hard = host_nofile_limits().1;
                    (p.fds.limit() as u64, hard as u64)
                }
                RLIMIT_STACK => (8 << 20, u64::MAX),
                _ => {
                    // SAFETY: getrlimit fills a struct we own.
                    let mut l: libc::rlimit = unsafe { std::mem::zeroed() };
                    // SAFETY: as above.
                    unsafe { libc::getrlimit(resource as _, &mut l) };
                    (l.rlim_cur, l.rlim_max)
                }
            },
        },
    )
}

pub fn getrandom(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let len = (a[1] as usize).min(1 << 25);
    p.mem.check_writable(a[0], len)?;
    let mut buf = vec![0u8; len];
    // SAFETY: getrandom fills our buffer.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), len, a[2] as u32) };
    if n < 0 {
        return Err(Errno::last());
    }
    p.mem.write(a[0], &buf[..n as usize])?;
    Ok(n as u64)
}

/// The CPUs the guest may run on: with the serial scheduler its threads
/// take turns on one; in parallel they run on the host CPUs ht-user may
/// use, as with qemu-user. The mask is as long as the host kernel's
/// (whole 64-bit words), and a buffer shorter than that is EINVAL.
pub fn sched_getaffinity(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let size = a[1] as usize;
    if size % p.word_size() != 0 {
        return Err(Errno::EINVAL);
    }
    let cpus = p.guest_cpus();
    let words = cpus.last().map_or(1, |&last| last / 64 + 1);
    let mut mask = vec![0u8; words * 8];
    for cpu in cpus {
        mask[cpu / 8] |= 1 << (cpu % 8);
    }
    if size < mask.len() {
        return Err(Errno::EINVAL);
    }
    p.mem.write(a[2], &mask)?;
    Ok(mask.len() as u64)
}

pub fn membarrier(a: &[u64; 6]) -> SysResult {
    match a[0] {
        0 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

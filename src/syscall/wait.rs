// SPDX-License-Identifier: GPL-2.0-or-later
//! Waiting for child processes. A guest's children are host processes
//! (fork is a host fork, see `machine::fork`), so wait4 and waitid are the
//! host's; only the results are encoded for the guest: signal numbers in
//! its numbering, `struct rusage` and `siginfo_t` in its layout.

use super::{host_result, Errno, SysResult};
use crate::kernel::Process;
use crate::mem::StructBuilder;

/// `struct rusage`: two `struct timeval` of longs, then 14 longs.
const RUSAGE_WORDS: usize = 18;
const SIGINFO_SIZE: usize = 128;
const P_PIDFD: u64 = 3;

/// A host wait status with its signal numbers in the guest's numbering.
pub fn guest_status(p: &Process, status: i32) -> u32 {
    let status = status as u32;
    let sig = |s: u32| p.abi.guest_signal(u64::from(s)) as u32;
    if status & 0x7f == 0 {
        status // exited: code in bits 8..15
    } else if status & 0xff == 0x7f {
        // stopped: the signal in bits 8..15
        (status & !0xff00) | (sig((status >> 8) & 0xff) & 0xff) << 8
    } else if status == 0xffff {
        status // continued
    } else {
        // killed: the signal in bits 0..6, core flag 0x80
        (status & !0x7f) | (sig(status & 0x7f) & 0x7f)
    }
}

fn encode_rusage(p: &Process, ru: &libc::rusage) -> Vec<u8> {
    let words: [u64; RUSAGE_WORDS] = [
        ru.ru_utime.tv_sec as u64,
        ru.ru_utime.tv_usec as u64,
        ru.ru_stime.tv_sec as u64,
        ru.ru_stime.tv_usec as u64,
        ru.ru_maxrss as u64,
        ru.ru_ixrss as u64,
        ru.ru_idrss as u64,
        ru.ru_isrss as u64,
        ru.ru_minflt as u64,
        ru.ru_majflt as u64,
        ru.ru_nswap as u64,
        ru.ru_inblock as u64,
        ru.ru_oublock as u64,
        ru.ru_msgsnd as u64,
        ru.ru_msgrcv as u64,
        ru.ru_nsignals as u64,
        ru.ru_nvcsw as u64,
        ru.ru_nivcsw as u64,
    ];
    let word = p.word_size();
    let mut b = StructBuilder::new(RUSAGE_WORDS * word, p.mem.encoder());
    for (i, v) in words.iter().enumerate() {
        if word == 8 {
            b.u64(i * 8, *v);
        } else {
            b.u32(i * 4, *v as u32);
        }
    }
    b.bytes
}

fn put_rusage(p: &mut Process, addr: u64, ru: &libc::rusage) -> Result<(), Errno> {
    if addr != 0 {
        let bytes = encode_rusage(p, ru);
        p.mem.write(addr, &bytes)?;
    }
    Ok(())
}

/// wait4(pid, status*, options, rusage*); waitpid is wait4 without rusage.
pub fn wait4(p: &mut Process, pid: u64, status: u64, options: u64, rusage: u64) -> SysResult {
    if status != 0 {
        p.mem.check_writable(status, 4)?;
    }
    if rusage != 0 {
        p.mem.check_writable(rusage, RUSAGE_WORDS * p.word_size())?;
    }
    let mut st: libc::c_int = 0;
    // SAFETY: rusage is plain data the kernel fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to our own locals. A blocked wait returns
    // EINTR when ht-user is interrupted (no SA_RESTART, see signals).
    let rc = host_result(unsafe {
        libc::wait4(p.sarg(pid) as libc::pid_t, &mut st, options as i32, &mut ru)
    } as libc::c_long)?;
    if rc > 0 {
        if status != 0 {
            let guest = guest_status(p, st);
            p.mem.write_u32(status, guest)?;
        }
        put_rusage(p, rusage, &ru)?;
    }
    Ok(rc)
}

/// waitid(idtype, id, siginfo*, options, rusage*).
pub fn waitid(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (idtype, id, info, options, rusage) = (a[0], a[1], a[2], a[3], a[4]);
    let id = if idtype == P_PIDFD {
        p.fds.raw(id)? as u64
    } else {
        id & 0xffff_ffff
    };
    if info != 0 {
        p.mem.check_writable(info, SIGINFO_SIZE)?;
    }
    if rusage != 0 {
        p.mem.check_writable(rusage, RUSAGE_WORDS * p.word_size())?;
    }
    // SAFETY: siginfo_t and rusage are plain data the kernel fills.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the raw call (the C library's waitid takes no rusage) with
    // pointers to our own locals.
    host_result(unsafe {
        libc::syscall(
            libc::SYS_waitid,
            idtype as libc::c_int,
            id as libc::id_t,
            &mut si as *mut libc::siginfo_t,
            options as libc::c_int,
            &mut ru as *mut libc::rusage,
        )
    })?;
    if info != 0 {
        let bytes = encode_siginfo_chld(p, &si);
        p.mem.write(info, &bytes)?;
    }
    put_rusage(p, rusage, &ru)?;
    Ok(0)
}

/// A SIGCHLD `siginfo_t` (or the zeroed one of a WNOHANG wait that found
/// nothing) in the guest's layout.
fn encode_siginfo_chld(p: &Process, si: &libc::siginfo_t) -> Vec<u8> {
    let word = p.word_size();
    let mut b = StructBuilder::new(SIGINFO_SIZE, p.mem.encoder());
    if si.si_signo == 0 {
        return b.bytes;
    }
    // SAFETY: a waitid result is a SIGCHLD siginfo, whose union member is
    // the child's pid, uid and status.
    let (pid, uid, status) = unsafe { (si.si_pid(), si.si_uid(), si.si_status()) };
    let code = si.si_code;
    const CLD_EXITED: i32 = 1;
    let status = if code == CLD_EXITED {
        status as u32
    } else {
        p.abi.guest_signal(status as u64) as u32
    };
    let signo = p.abi.guest_signal(si.si_signo as u64) as u32;
    let (code_at, errno_at) = if p.abi.siginfo_code_first() {
        (4, 8)
    } else {
        (8, 4)
    };
    // The union starts after three ints, aligned to the guest's long.
    let u = if word == 8 { 16 } else { 12 };
    b.u32(0, signo)
        .u32(errno_at, si.si_errno as u32)
        .u32(code_at, code as u32)
        .u32(u, pid as u32)
        .u32(u + 4, uid)
        .u32(u + 8, status);
    b.bytes
}

/// getrusage(who, rusage*).
pub fn getrusage(p: &mut Process, a: &[u64; 6]) -> SysResult {
    // SAFETY: rusage is plain data the kernel fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: fills our local.
    host_result(unsafe { libc::getrusage(a[0] as i32, &mut ru) } as libc::c_long)?;
    let bytes = encode_rusage(p, &ru);
    p.mem.write(a[1], &bytes)?;
    Ok(0)
}

/// setsid(): the guest's process is ht-user's, so its session is too.
pub fn setsid() -> SysResult {
    Ok(nix::unistd::setsid()?.as_raw() as u64)
}

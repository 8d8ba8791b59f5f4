// SPDX-License-Identifier: GPL-2.0-or-later
//! Files, descriptors and directories, served by the host kernel through
//! the guest's descriptor table.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::types::{encode_statx, Stat};
use super::{host_result, Errno, Outcome, Sys, SysResult};
use crate::kernel::dup_host;
use crate::kernel::{procfs, sysroot, Process};
use crate::mem::StructBuilder;

mod meta;
mod paths;
mod poll;

pub use meta::*;
pub use paths::*;
pub use poll::*;

/// The most a single read or write moves at once (a short count is legal).
const IO_CHUNK: usize = 1 << 24;
const PATH_MAX: usize = 4096;

fn check_int(rc: libc::c_int) -> SysResult {
    host_result(rc as libc::c_long)
}

/// Reads a path argument as the host path it names: `/proc/self/exe` is
/// the guest executable, and an absolute path the sysroot has is the
/// sysroot's (see [`crate::kernel::sysroot`]).
pub fn read_path(p: &Process, addr: u64) -> Result<CString, Errno> {
    let bytes = read_raw_path(p, addr)?;
    if procfs::is_self_exe(p, &bytes) {
        return CString::new(p.exe_path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL);
    }
    // /proc/self/fd/N is the guest's descriptor N, never one of ht-user's.
    if let Some((dir, Some(entry))) = procfs::fd_path(p, &bytes) {
        let host = procfs::host_fd_path(p, dir, entry)?;
        return CString::new(host).map_err(|_| Errno::EINVAL);
    }
    if let Some(found) = sysroot::lookup(p.sysroot.as_deref(), &bytes) {
        return CString::new(found.into_os_string().into_vec()).map_err(|_| Errno::EINVAL);
    }
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// Reads a path argument as the guest wrote it.
fn read_raw_path(p: &Process, addr: u64) -> Result<Vec<u8>, Errno> {
    let bytes = p.mem.read_cstr(addr, PATH_MAX)?;
    if bytes.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(bytes)
}

/// A guest `dirfd` argument as a host descriptor.
fn dirfd(p: &Process, fd: u64) -> Result<RawFd, Errno> {
    if fd as i32 == libc::AT_FDCWD {
        Ok(libc::AT_FDCWD)
    } else {
        p.fds.raw(fd)
    }
}

pub fn fd_only(p: &mut Process, fd: u64) -> SysResult {
    p.fds.get(fd).map(|_| 0)
}

pub fn read(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let len = (a[2] as usize).min(IO_CHUNK);
    p.mem.check_writable(a[1], len)?;
    let mut buf = vec![0u8; len];
    // SAFETY: reads at most `len` bytes into our buffer.
    let n = host_result(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), len) } as libc::c_long)?;
    p.mem.write(a[1], &buf[..n as usize])?;
    Ok(n)
}

pub fn pread(p: &mut Process, fd: u64, buf_addr: u64, count: u64, offset: u64) -> SysResult {
    let fd = p.fds.raw(fd)?;
    let len = (count as usize).min(IO_CHUNK);
    p.mem.check_writable(buf_addr, len)?;
    let mut buf = vec![0u8; len];
    // SAFETY: reads at most `len` bytes into our buffer.
    let n = host_result(
        unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, offset as i64) } as libc::c_long,
    )?;
    p.mem.write(buf_addr, &buf[..n as usize])?;
    Ok(n)
}

pub fn write(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let buf = p.mem.read_vec(a[1], (a[2] as usize).min(IO_CHUNK))?;
    // SAFETY: writes from our buffer.
    host_result(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) } as libc::c_long)
}

pub fn pwrite(p: &mut Process, fd: u64, buf_addr: u64, count: u64, offset: u64) -> SysResult {
    let fd = p.fds.raw(fd)?;
    let buf = p.mem.read_vec(buf_addr, (count as usize).min(IO_CHUNK))?;
    // SAFETY: writes from our buffer.
    host_result(
        unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), offset as i64) } as libc::c_long,
    )
}

/// Reads a guest iovec array as (base, len) pairs.
pub(super) fn read_iovecs(p: &Process, addr: u64, count: u64) -> Result<Vec<(u64, usize)>, Errno> {
    if count > 1024 {
        return Err(Errno::EINVAL);
    }
    let word = p.word_size();
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let at = addr + i * 2 * word as u64;
        let base = p.mem.read_word(at, word)?;
        let len = p.mem.read_word(at + word as u64, word)? as usize;
        out.push((base, len));
    }
    Ok(out)
}

pub fn writev(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let mut data = Vec::new();
    for (base, len) in read_iovecs(p, a[1], a[2])? {
        let take = len.min(IO_CHUNK.saturating_sub(data.len()));
        data.extend_from_slice(&p.mem.read_vec(base, take)?);
    }
    // One host write keeps the gathered record together, as writev does.
    // SAFETY: writes from our buffer.
    host_result(unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) } as libc::c_long)
}

pub fn readv(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let iovs = read_iovecs(p, a[1], a[2])?;
    let total: usize = iovs.iter().map(|v| v.1).sum::<usize>().min(IO_CHUNK);
    for (base, len) in &iovs {
        p.mem.check_writable(*base, *len)?;
    }
    let mut buf = vec![0u8; total];
    // SAFETY: reads at most `total` bytes into our buffer.
    let n = host_result(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), total) } as libc::c_long)?
        as usize;
    let mut done = 0;
    for (base, len) in iovs {
        if done >= n {
            break;
        }
        let take = len.min(n - done);
        p.mem.write(base, &buf[done..done + take])?;
        done += take;
    }
    Ok(n as u64)
}

pub fn openat(p: &mut Process, dir: u64, path: u64, flags: u64, mode: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    if let Some(contents) = procfs::synthetic_file(p, path.as_bytes()) {
        return open_generated(p, &contents, p.abi.open_flags_to_host(flags));
    }
    if let Some((which, None)) = procfs::fd_path(p, path.as_bytes()) {
        return open_fd_directory(p, which, p.abi.open_flags_to_host(flags));
    }
    let flags = p.abi.open_flags_to_host(flags);
    // SAFETY: path is NUL-terminated; the result is checked.
    let rc = unsafe {
        libc::openat(
            dir,
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    check_int(rc)?;
    // SAFETY: rc is a fresh descriptor we now own.
    let host = unsafe { OwnedFd::from_raw_fd(rc) };
    if flags & libc::O_TRUNC != 0 {
        keep_channel_data_size(p);
        p.mem.follow_file_sizes();
    }
    let fd = p.fds.insert(host, flags & libc::O_CLOEXEC != 0, 0)?;
    Ok(fd as u64)
}

/// The guest's /proc/self/fd (or fdinfo): a host directory descriptor
/// whose entries ht-user lists itself, one per guest descriptor.
fn open_fd_directory(p: &mut Process, which: procfs::FdDir, flags: i32) -> SysResult {
    let host = std::fs::File::open("/proc/self/fd")?;
    let fd = p.fds.insert_listed(
        host.into(),
        flags & libc::O_CLOEXEC != 0,
        0,
        Some(Box::default()),
    )?;
    // Listed once open, so that it shows its own descriptor, as Linux does.
    let listing = procfs::fd_listing(p, which);
    if let Some(slot) = p.fds.listing_mut(fd as u64) {
        *slot = listing;
    }
    Ok(fd as u64)
}

/// A descriptor reading `contents` from the start (an anonymous memfd).
fn open_generated(p: &mut Process, contents: &[u8], flags: i32) -> SysResult {
    // SAFETY: the name is a NUL-terminated literal; the result is checked.
    let rc = unsafe { libc::memfd_create(c"ht-user-proc".as_ptr(), libc::MFD_CLOEXEC) };
    check_int(rc)?;
    // SAFETY: rc is a fresh descriptor we now own.
    let host = unsafe { OwnedFd::from_raw_fd(rc) };
    let mut file = std::fs::File::from(host);
    std::io::Write::write_all(&mut file, contents)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
    let fd = p.fds.insert(file.into(), flags & libc::O_CLOEXEC != 0, 0)?;
    Ok(fd as u64)
}

/// sendfile(out, in, offset*, count): the host copies between the two
/// descriptors; `offset` (a 64-bit value) is read and updated if given.
pub fn sendfile(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (out_fd, in_fd) = (p.fds.raw(a[0])?, p.fds.raw(a[1])?);
    let count = (a[3] as usize).min(IO_CHUNK);
    let mut offset = if a[2] != 0 {
        Some(p.mem.read_u64(a[2])? as i64)
    } else {
        None
    };
    if a[2] != 0 {
        p.mem.check_writable(a[2], 8)?;
    }
    let off_ptr = offset
        .as_mut()
        .map_or(std::ptr::null_mut(), |o| o as *mut i64);
    // SAFETY: both descriptors are ours; off_ptr is null or our i64.
    let n = host_result(unsafe { libc::sendfile(out_fd, in_fd, off_ptr, count) } as libc::c_long)?;
    if let Some(o) = offset {
        p.mem.write_u64(a[2], o as u64)?;
    }
    Ok(n)
}

pub fn close(p: &mut Process, a: &[u64; 6]) -> SysResult {
    p.fds.close(a[0]).map(|()| 0)
}

pub fn lseek(p: &mut Process, a: &[u64; 6]) -> SysResult {
    if let Some(listing) = p.fds.listing_mut(a[0]) {
        // A generated directory's offsets are entry indexes (rewinddir).
        if a[2] as i32 != libc::SEEK_SET {
            return Err(Errno::EINVAL);
        }
        listing.next = a[1] as usize;
        return Ok(a[1]);
    }
    let fd = p.fds.raw(a[0])?;
    // SAFETY: plain call on a descriptor we own.
    let pos = host_result(unsafe { libc::lseek(fd, p.sarg(a[1]), a[2] as i32) })?;
    if !p.abi.is_64bit() && pos > u64::from(u32::MAX >> 1) {
        return Err(Errno(libc::EOVERFLOW));
    }
    Ok(pos)
}

/// `_llseek(fd, offset_high, offset_low, result*, whence)` of 32-bit ABIs.
pub fn llseek(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let offset = ((a[1] as u32 as u64) << 32 | a[2] as u32 as u64) as i64;
    p.mem.check_writable(a[3], 8)?;
    // SAFETY: plain call on a descriptor we own.
    let pos = host_result(unsafe { libc::lseek(fd, offset, a[4] as i32) })?;
    p.mem.write_u64(a[3], pos)?;
    Ok(0)
}

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TIOCGPGRP: u64 = 0x540f;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const FIONREAD: u64 = 0x541b;
const FIONBIO: u64 = 0x5421;
const FIONCLEX: u64 = 0x5450;
const FIOCLEX: u64 = 0x5451;
/// The kernel's `struct termios` (not glibc's larger one).
const KERNEL_TERMIOS_SIZE: usize = 36;

pub fn ioctl(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let (request, arg) = (p.abi.ioctl_to_host(a[1]), a[2]);
    let enc = p.mem.encoder();
    match request {
        TCGETS => {
            let mut raw = [0u8; KERNEL_TERMIOS_SIZE];
            // SAFETY: TCGETS writes the kernel termios (36 bytes) into `raw`.
            check_int(unsafe { libc::ioctl(fd, TCGETS as _, raw.as_mut_ptr()) })?;
            // Four host-endian u32 flags words, then c_line and c_cc bytes.
            let mut b = StructBuilder::new(KERNEL_TERMIOS_SIZE, enc);
            for i in 0..4 {
                b.u32(
                    i * 4,
                    u32::from_ne_bytes(raw[i * 4..i * 4 + 4].try_into().unwrap()),
                );
            }
            b.bytes_at(16, &raw[16..]);
            p.mem.write(arg, &b.bytes)?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            let guest = p.mem.read_vec(arg, KERNEL_TERMIOS_SIZE)?;
            let mut raw = [0u8; KERNEL_TERMIOS_SIZE];
            for i in 0..4 {
                let v = enc.decode_u32(guest[i * 4..i * 4 + 4].try_into().unwrap());
                raw[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
            }
            raw[16..].copy_from_slice(&guest[16..]);
            // SAFETY: the request reads 36 bytes from `raw`.
            check_int(unsafe { libc::ioctl(fd, request as _, raw.as_ptr()) })
        }
        TIOCGWINSZ => {
            // SAFETY: winsize is plain data filled by the kernel.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            // SAFETY: TIOCGWINSZ fills `ws`.
            check_int(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) })?;
            let mut b = StructBuilder::new(8, enc);
            b.u16(0, ws.ws_row)
                .u16(2, ws.ws_col)
                .u16(4, ws.ws_xpixel)
                .u16(6, ws.ws_ypixel);
            p.mem.write(arg, &b.bytes)?;
            Ok(0)
        }
        TIOCSWINSZ => {
            let g = p.mem.read_vec(arg, 8)?;
            let u16_at = |i: usize| {
                let v = u16::from_ne_bytes([g[i], g[i + 1]]);
                match enc.endian {
                    crate::mem::Endian::Little => u16::from_le(v),
                    crate::mem::Endian::Big => u16::from_be(v),
                }
            };
            let ws = libc::winsize {
                ws_row: u16_at(0),
                ws_col: u16_at(2),
                ws_xpixel: u16_at(4),
                ws_ypixel: u16_at(6),
            };
            // SAFETY: TIOCSWINSZ reads `ws`.
            check_int(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) })
        }
        TIOCGPGRP | FIONREAD => {
            let mut v: libc::c_int = 0;
            // SAFETY: both requests write one int.
            check_int(unsafe { libc::ioctl(fd, request as _, &mut v) })?;
            p.mem.write_u32(arg, v as u32)?;
            Ok(0)
        }
        FIONBIO => {
            let v = p.mem.read_u32(arg)? as libc::c_int;
            // SAFETY: FIONBIO reads one int.
            check_int(unsafe { libc::ioctl(fd, libc::FIONBIO, &v) })
        }
        FIOCLEX | FIONCLEX => {
            p.fds.entry_mut(a[0])?.cloexec = request == FIOCLEX;
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}

pub fn faccessat(p: &mut Process, dir: u64, path: u64, mode: u64, flags: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::faccessat(dir, path.as_ptr(), mode as i32, flags as i32) })
}

pub fn pipe2(p: &mut Process, addr: u64, flags: u64) -> SysResult {
    p.mem.check_writable(addr, 8)?;
    let (rfd, wfd) = pipe_pair(p, flags)?;
    p.mem.write_u32(addr, rfd as u32)?;
    p.mem.write_u32(addr + 4, wfd as u32)?;
    Ok(0)
}

/// The original pipe(2): both descriptors in registers where the ABI
/// returns them so (MIPS), else in the guest's array.
pub fn pipe(p: &mut Process, addr: u64) -> Outcome {
    if p.abi.info().pipe_second_result.is_some() {
        return match pipe_pair(p, 0) {
            Ok((rd, wr)) => Outcome::Pair(rd as u64, wr as u64),
            Err(e) => Outcome::Error(e),
        };
    }
    pipe2(p, addr, 0).into()
}

/// A new pipe in the descriptor table, with the guest's pipe2 `flags`.
pub fn pipe_pair(p: &mut Process, flags: u64) -> Result<(i32, i32), Errno> {
    let flags = p.abi.open_flags_to_host(flags);
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two ints.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors are fresh and ours.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let rfd = p.fds.insert(r, cloexec, 0)?;
    match p.fds.insert(w, cloexec, 0) {
        Ok(wfd) => Ok((rfd, wfd)),
        Err(e) => {
            let _ = p.fds.close(rfd as u64);
            Err(e)
        }
    }
}

pub fn dup(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let host = dup_host(p.fds.get(a[0])?)?;
    Ok(p.fds.insert(host, false, 0)? as u64)
}

pub fn dup3(p: &mut Process, old: u64, new: u64, flags: u64, is_dup2: bool) -> SysResult {
    let src = p.fds.get(old)?;
    if old == new {
        return if is_dup2 { Ok(new) } else { Err(Errno::EINVAL) };
    }
    if flags & !(libc::O_CLOEXEC as u64) != 0 {
        return Err(Errno::EINVAL);
    }
    let host = dup_host(src)?;
    let new_fd = i32::try_from(new).map_err(|_| Errno::EBADF)?;
    p.fds
        .insert_at(new_fd, host, flags & libc::O_CLOEXEC as u64 != 0)?;
    Ok(new)
}

pub fn fcntl(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let cmd = p.abi.fcntl_cmd_to_host(a[1]) as i32;
    match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let from = i32::try_from(a[2]).map_err(|_| Errno::EINVAL)?;
            let host = dup_host(p.fds.get(a[0])?)?;
            Ok(p.fds.insert(host, cmd == libc::F_DUPFD_CLOEXEC, from)? as u64)
        }
        libc::F_GETFD => Ok(u64::from(p.fds.entry_mut(a[0])?.cloexec)),
        libc::F_SETFD => {
            p.fds.entry_mut(a[0])?.cloexec = a[2] & libc::FD_CLOEXEC as u64 != 0;
            Ok(0)
        }
        libc::F_GETFL => {
            // SAFETY: F_GETFL takes no pointer.
            let host = check_int(unsafe { libc::fcntl(fd, cmd) })?;
            Ok(p.abi.open_flags_from_host(host as i32))
        }
        libc::F_SETFL => {
            let host = p.abi.open_flags_to_host(a[2]);
            // SAFETY: F_SETFL takes an int.
            check_int(unsafe { libc::fcntl(fd, cmd, host) })
        }
        libc::F_GETOWN | libc::F_GETPIPE_SZ | libc::F_GET_SEALS => {
            // SAFETY: these commands take no pointer.
            check_int(unsafe { libc::fcntl(fd, cmd) })
        }
        libc::F_SETOWN | libc::F_SETPIPE_SZ | libc::F_ADD_SEALS => {
            // SAFETY: these commands take an int.
            check_int(unsafe { libc::fcntl(fd, cmd, a[2] as libc::c_int) })
        }
        libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW => flock(p, fd, cmd, a[2]),
        _ => Err(Errno::EINVAL),
    }
}

/// `struct flock` on 64-bit guests: i16 type, i16 whence, pad, i64 start,
/// i64 len, i32 pid, pad (32 bytes).
fn flock(p: &mut Process, fd: RawFd, cmd: i32, addr: u64) -> SysResult {
    if p.word_size() != 8 {
        return Err(Errno::EINVAL);
    }
    let g = p.mem.read_vec(addr, 32)?;
    let enc = p.mem.encoder();
    let u16_at = |i: usize| (enc.decode_u32([g[i], g[i + 1], 0, 0]) & 0xffff) as i16;
    let (typ, whence) = match enc.endian {
        crate::mem::Endian::Little => (u16_at(0), u16_at(2)),
        crate::mem::Endian::Big => (
            i16::from_be_bytes([g[0], g[1]]),
            i16::from_be_bytes([g[2], g[3]]),
        ),
    };
    // SAFETY: flock is plain data.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = typ;
    fl.l_whence = whence;
    fl.l_start = enc.decode_u64(g[8..16].try_into().unwrap()) as i64;
    fl.l_len = enc.decode_u64(g[16..24].try_into().unwrap()) as i64;
    fl.l_pid = enc.decode_u32(g[24..28].try_into().unwrap()) as i32;
    // SAFETY: the lock commands read and may fill `fl`.
    check_int(unsafe { libc::fcntl(fd, cmd, &mut fl) })?;
    if cmd == libc::F_GETLK || cmd == libc::F_OFD_GETLK {
        let mut b = StructBuilder::new(32, enc);
        b.u16(0, fl.l_type as u16)
            .u16(2, fl.l_whence as u16)
            .u64(8, fl.l_start as u64)
            .u64(16, fl.l_len as u64)
            .u32(24, fl.l_pid as u32);
        p.mem.write(addr, &b.bytes)?;
    }
    Ok(0)
}

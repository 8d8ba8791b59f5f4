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

fn host_fstatat(dir: RawFd, path: &CString, flags: i32) -> Result<libc::stat, Errno> {
    // SAFETY: fstatat fills a stat we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated; st is ours.
    check_int(unsafe { libc::fstatat(dir, path.as_ptr(), &mut st, flags) })?;
    Ok(st)
}

fn put_stat(p: &mut Process, addr: u64, st: &libc::stat) -> SysResult {
    let bytes = p.abi.encode_stat(&Stat::from(st), p.mem.encoder());
    p.mem.write(addr, &bytes)?;
    Ok(0)
}

pub fn fstat(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let st = host_fstatat(fd, &CString::default(), libc::AT_EMPTY_PATH)?;
    put_stat(p, a[1], &st)
}

pub fn fstatat(p: &mut Process, dir: u64, path: u64, buf: u64, flags: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    let st = host_fstatat(dir, &path, flags as i32)?;
    put_stat(p, buf, &st)
}

pub fn statx(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let dir = dirfd(p, a[0])?;
    let path = read_path(p, a[1])?;
    // SAFETY: statx fills a struct we own.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated; stx is ours.
    check_int(unsafe { libc::statx(dir, path.as_ptr(), a[2] as i32, a[3] as u32, &mut stx) })?;
    let bytes = encode_statx(&stx, p.mem.encoder());
    p.mem.write(a[4], &bytes)?;
    Ok(0)
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

pub fn getdents64(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let enc = p.mem.encoder();
    if let Some(listing) = p.fds.listing_mut(a[0]) {
        let out = listed_dirents(listing, a[2] as usize, enc)?;
        p.mem.write(a[1], &out)?;
        return Ok(out.len() as u64);
    }
    let fd = p.fds.raw(a[0])?;
    let len = (a[2] as usize).min(1 << 20);
    p.mem.check_writable(a[1], len)?;
    let mut buf = vec![0u8; len];
    // SAFETY: the kernel writes at most `len` bytes of dirents into `buf`.
    let n = host_result(unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), len) })?
        as usize;
    // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name. Same
    // layout everywhere; only the byte order of the numbers may differ.
    let enc = p.mem.encoder();
    let mut at = 0;
    while at + 19 <= n {
        let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
        let ino = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap());
        let off = u64::from_ne_bytes(buf[at + 8..at + 16].try_into().unwrap());
        buf[at..at + 8].copy_from_slice(&enc.u64(ino));
        buf[at + 8..at + 16].copy_from_slice(&enc.u64(off));
        buf[at + 16..at + 18].copy_from_slice(&enc.u16(reclen as u16));
        if reclen == 0 {
            break;
        }
        at += reclen;
    }
    p.mem.write(a[1], &buf[..n])?;
    Ok(n as u64)
}

/// The next entries of a generated directory as linux_dirent64 records
/// that fit in `len` bytes (EINVAL if not even one does).
fn listed_dirents(
    listing: &mut crate::kernel::Listing,
    len: usize,
    enc: crate::mem::Encoder,
) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    while let Some((kind, name)) = listing.entries.get(listing.next) {
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        if out.len() + reclen > len {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        let index = listing.next as u64 + 1;
        out.extend_from_slice(&enc.u64(index)); // d_ino
        out.extend_from_slice(&enc.u64(index)); // d_off: where the next starts
        out.extend_from_slice(&enc.u16(reclen as u16));
        out.push(*kind);
        out.extend_from_slice(name.as_bytes());
        out.resize(out.len() + reclen - 19 - name.len(), 0);
        listing.next += 1;
    }
    Ok(out)
}

pub fn getcwd(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let cwd = std::env::current_dir()?;
    let mut bytes = cwd.as_os_str().as_bytes().to_vec();
    bytes.push(0);
    if bytes.len() > a[1] as usize {
        return Err(Errno::ERANGE);
    }
    p.mem.write(a[0], &bytes)?;
    Ok(bytes.len() as u64)
}

pub fn chdir(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let path = read_path(p, a[0])?;
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::chdir(path.as_ptr()) })
}

pub fn fchdir(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    // SAFETY: plain call on our descriptor.
    check_int(unsafe { libc::fchdir(fd) })
}

pub fn renameat(p: &mut Process, od: u64, op: u64, nd: u64, np: u64, flags: u64) -> SysResult {
    let (od, nd) = (dirfd(p, od)?, dirfd(p, nd)?);
    let (op, np) = (read_path(p, op)?, read_path(p, np)?);
    // SAFETY: both paths are NUL-terminated.
    host_result(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            od,
            op.as_ptr(),
            nd,
            np.as_ptr(),
            flags as u32,
        )
    })
}

pub fn mkdirat(p: &mut Process, dir: u64, path: u64, mode: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::mkdirat(dir, path.as_ptr(), mode as libc::mode_t) })
}

pub fn unlinkat(p: &mut Process, dir: u64, path: u64, flags: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::unlinkat(dir, path.as_ptr(), flags as i32) })
}

pub fn readlinkat(p: &mut Process, dir: u64, path: u64, buf: u64, size: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let raw = read_raw_path(p, path)?;
    if size == 0 || (size as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let target: Vec<u8> = if procfs::is_self_exe(p, &raw) {
        p.exe_path.as_os_str().as_bytes().to_vec()
    } else {
        let path = read_path(p, path)?;
        let mut out = vec![0u8; PATH_MAX];
        // SAFETY: readlinkat writes at most PATH_MAX bytes into `out`.
        let n = host_result(unsafe {
            libc::readlinkat(dir, path.as_ptr(), out.as_mut_ptr().cast(), out.len())
        } as libc::c_long)?;
        out.truncate(n as usize);
        out
    };
    let n = target.len().min(size as usize);
    p.mem.write(buf, &target[..n])?;
    Ok(n as u64)
}

pub fn symlinkat(p: &mut Process, target: u64, dir: u64, path: u64) -> SysResult {
    // The link's text is stored as written, never translated.
    let target = CString::new(read_raw_path(p, target)?).map_err(|_| Errno::EINVAL)?;
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    // SAFETY: both strings are NUL-terminated.
    check_int(unsafe { libc::symlinkat(target.as_ptr(), dir, path.as_ptr()) })
}

pub fn linkat(p: &mut Process, od: u64, op: u64, nd: u64, np: u64, flags: u64) -> SysResult {
    let (od, nd) = (dirfd(p, od)?, dirfd(p, nd)?);
    let (op, np) = (read_path(p, op)?, read_path(p, np)?);
    // SAFETY: both paths are NUL-terminated.
    check_int(unsafe { libc::linkat(od, op.as_ptr(), nd, np.as_ptr(), flags as i32) })
}

pub fn fchmodat(p: &mut Process, dir: u64, path: u64, mode: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::fchmodat(dir, path.as_ptr(), mode as libc::mode_t, 0) })
}

pub fn fchownat(p: &mut Process, dir: u64, path: u64, uid: u64, gid: u64, flags: u64) -> SysResult {
    let dir = dirfd(p, dir)?;
    let path = read_path(p, path)?;
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::fchownat(dir, path.as_ptr(), uid as u32, gid as u32, flags as i32) })
}

pub fn fchown(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    // SAFETY: plain call on our descriptor.
    check_int(unsafe { libc::fchown(fd, a[1] as u32, a[2] as u32) })
}

pub fn fchmod(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    // SAFETY: plain call on our descriptor.
    check_int(unsafe { libc::fchmod(fd, a[1] as libc::mode_t) })
}

pub fn truncate(p: &mut Process, path: u64, len: i64) -> SysResult {
    let path = read_path(p, path)?;
    // SAFETY: path is NUL-terminated.
    let r = check_int(unsafe { libc::truncate(path.as_ptr(), len) });
    keep_channel_data_size(p);
    p.mem.follow_file_sizes();
    r
}

pub fn ftruncate(p: &mut Process, fd: u64, len: i64) -> SysResult {
    let fd = p.fds.raw(fd)?;
    // SAFETY: plain call on our descriptor.
    let r = check_int(unsafe { libc::ftruncate(fd, len) });
    keep_channel_data_size(p);
    p.mem.follow_file_sizes();
    r
}

/// fallocate(2): allocating can grow the file, punching or collapsing
/// ranges can shrink it; shared mappings follow the size.
pub fn fallocate(p: &mut Process, fd: u64, mode: u64, offset: i64, len: i64) -> SysResult {
    let fd = p.fds.raw(fd)?;
    // SAFETY: plain call on our descriptor.
    let r = check_int(unsafe { libc::fallocate(fd, mode as i32, offset, len) });
    keep_channel_data_size(p);
    p.mem.follow_file_sizes();
    r
}

/// Gives the hypertrace data file back its size after the guest shrank
/// it: ht-user reads the event arguments through a shared mapping of it,
/// which would fault past the new end (SIGBUS). The arguments read 0
/// until the guest writes them again.
fn keep_channel_data_size(p: &Process) {
    use std::os::unix::fs::MetadataExt;
    let Some((path, id, size)) = &p.channel_data else {
        return;
    };
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if (meta.dev(), meta.ino()) != *id || meta.len() >= *size {
        return;
    }
    let restored = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(*size));
    match restored {
        Ok(()) => eprintln!(
            "ht-user: warning: the guest truncated {}; its size is restored",
            path.display()
        ),
        Err(e) => eprintln!(
            "ht-user: cannot restore the size of {}: {e}",
            path.display()
        ),
    }
}

pub fn fsync(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    // SAFETY: plain calls on our descriptor.
    check_int(unsafe {
        if sys == Sys::fsync {
            libc::fsync(fd)
        } else {
            libc::fdatasync(fd)
        }
    })
}

pub fn utimensat(p: &mut Process, a: &[u64; 6], time64: bool) -> SysResult {
    let dir = dirfd(p, a[0])?;
    let path = if a[1] == 0 {
        None
    } else {
        Some(read_path(p, a[1])?)
    };
    let times = if a[2] == 0 {
        None
    } else {
        let word = if time64 { 8 } else { p.word_size() };
        let raw = p.mem.read_vec(a[2], word * 4)?;
        let enc = p.mem.encoder();
        let (s0, n0) = super::types::decode_time_pair(&raw[..word * 2], word, enc);
        let (s1, n1) = super::types::decode_time_pair(&raw[word * 2..], word, enc);
        Some([
            libc::timespec {
                tv_sec: s0,
                tv_nsec: n0,
            },
            libc::timespec {
                tv_sec: s1,
                tv_nsec: n1,
            },
        ])
    };
    let path_ptr = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
    let times_ptr = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: pointers are either null or to our own data; the raw syscall
    // is used because a null path (futimens) is legal for the kernel.
    host_result(unsafe {
        libc::syscall(libc::SYS_utimensat, dir, path_ptr, times_ptr, a[3] as i32)
    })
}

fn host_statfs(p: &Process, target: u64, by_fd: bool) -> Result<libc::statfs, Errno> {
    // SAFETY: statfs is plain data filled by the kernel.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    if by_fd {
        let fd = p.fds.raw(target)?;
        // SAFETY: fills `s`.
        check_int(unsafe { libc::fstatfs(fd, &mut s) })?;
    } else {
        let path = read_path(p, target)?;
        // SAFETY: path is NUL-terminated; fills `s`.
        check_int(unsafe { libc::statfs(path.as_ptr(), &mut s) })?;
    }
    Ok(s)
}

fn fsid(s: &libc::statfs) -> [i32; 2] {
    // SAFETY: fsid is two ints in every libc layout.
    unsafe { std::mem::transmute(s.f_fsid) }
}

pub fn statfs(p: &mut Process, a: &[u64; 6], by_fd: bool) -> SysResult {
    let s = host_statfs(p, a[0], by_fd)?;
    if p.word_size() != 8 {
        return Err(Errno::ENOSYS);
    }
    let fsid = fsid(&s);
    let mut b = StructBuilder::new(120, p.mem.encoder());
    b.u64(0, s.f_type as u64)
        .u64(8, s.f_bsize as u64)
        .u64(16, s.f_blocks)
        .u64(24, s.f_bfree)
        .u64(32, s.f_bavail)
        .u64(40, s.f_files)
        .u64(48, s.f_ffree)
        .u32(56, fsid[0] as u32)
        .u32(60, fsid[1] as u32)
        .u64(64, s.f_namelen as u64)
        .u64(72, s.f_frsize as u64)
        .u64(80, 0);
    p.mem.write(a[1], &b.bytes)?;
    Ok(0)
}

/// statfs64(path, size, buf) and fstatfs64 of 32-bit ABIs: the struct the
/// ABI describes (None: this ABI's layout is not supported).
pub fn statfs64(p: &mut Process, a: &[u64; 6], by_fd: bool) -> SysResult {
    let s = host_statfs(p, a[0], by_fd)?;
    let fsid = fsid(&s);
    let stat = super::types::StatFs {
        fs_type: s.f_type as u64,
        bsize: s.f_bsize as u64,
        blocks: s.f_blocks,
        bfree: s.f_bfree,
        bavail: s.f_bavail,
        files: s.f_files,
        ffree: s.f_ffree,
        fsid,
        namelen: s.f_namelen as u64,
        frsize: s.f_frsize as u64,
        flags: 0,
    };
    let bytes = p
        .abi
        .encode_statfs64(&stat, p.mem.encoder())
        .ok_or(Errno::ENOSYS)?;
    if (a[1] as usize) < bytes.len() {
        return Err(Errno::EINVAL);
    }
    p.mem.write(a[2], &bytes)?;
    Ok(0)
}

/// The xattr calls' name argument (at most 255 bytes, as in Linux).
fn xattr_name(p: &Process, addr: u64) -> Result<CString, Errno> {
    let name = p.mem.read_cstr(addr, 256)?;
    if name.len() > 255 {
        return Err(Errno(libc::ERANGE));
    }
    CString::new(name).map_err(|_| Errno::EINVAL)
}

/// getxattr, lgetxattr, fgetxattr(target, name, value*, size).
pub fn getxattr(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    let name = xattr_name(p, a[1])?;
    let size = (a[3] as usize).min(1 << 16);
    p.mem.check_writable(a[2], size)?;
    let mut buf = vec![0u8; size];
    let ptr = if size == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    let n = if sys == Sys::fgetxattr {
        let fd = p.fds.raw(a[0])?;
        // SAFETY: writes at most `size` bytes into `buf`.
        unsafe { libc::fgetxattr(fd, name.as_ptr(), ptr, size) }
    } else {
        let path = read_path(p, a[0])?;
        // SAFETY: both strings are NUL-terminated; writes at most `size` bytes.
        unsafe {
            if sys == Sys::lgetxattr {
                libc::lgetxattr(path.as_ptr(), name.as_ptr(), ptr, size)
            } else {
                libc::getxattr(path.as_ptr(), name.as_ptr(), ptr, size)
            }
        }
    };
    let n = host_result(n as libc::c_long)? as usize;
    if size > 0 {
        p.mem.write(a[2], &buf[..n.min(size)])?;
    }
    Ok(n as u64)
}

/// listxattr, llistxattr, flistxattr(target, list*, size).
pub fn listxattr(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    let size = (a[2] as usize).min(1 << 16);
    p.mem.check_writable(a[1], size)?;
    let mut buf = vec![0u8; size];
    let ptr = if size == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    let n = if sys == Sys::flistxattr {
        let fd = p.fds.raw(a[0])?;
        // SAFETY: writes at most `size` bytes into `buf`.
        unsafe { libc::flistxattr(fd, ptr, size) }
    } else {
        let path = read_path(p, a[0])?;
        // SAFETY: the path is NUL-terminated; writes at most `size` bytes.
        unsafe {
            if sys == Sys::llistxattr {
                libc::llistxattr(path.as_ptr(), ptr, size)
            } else {
                libc::listxattr(path.as_ptr(), ptr, size)
            }
        }
    };
    let n = host_result(n as libc::c_long)? as usize;
    if size > 0 {
        p.mem.write(a[1], &buf[..n.min(size)])?;
    }
    Ok(n as u64)
}

/// copy_file_range(in, off_in*, out, off_out*, len, flags): the host copies;
/// the 64-bit offsets are read and updated when given.
pub fn copy_file_range(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (fd_in, fd_out) = (p.fds.raw(a[0])?, p.fds.raw(a[2])?);
    let mut offsets = [None, None];
    for (slot, addr) in [a[1], a[3]].into_iter().enumerate() {
        if addr != 0 {
            p.mem.check_writable(addr, 8)?;
            offsets[slot] = Some(p.mem.read_u64(addr)? as i64);
        }
    }
    let [mut off_in, mut off_out] = offsets;
    let ptr = |o: &mut Option<i64>| o.as_mut().map_or(std::ptr::null_mut(), |v| v as *mut i64);
    let len = (a[4] as usize).min(IO_CHUNK);
    // SAFETY: both descriptors are ours; the offset pointers are null or
    // point to our i64s.
    let n = host_result(unsafe {
        libc::copy_file_range(
            fd_in,
            ptr(&mut off_in),
            fd_out,
            ptr(&mut off_out),
            len,
            a[5] as u32,
        )
    } as libc::c_long)?;
    for (addr, off) in [(a[1], off_in), (a[3], off_out)] {
        if let Some(o) = off {
            p.mem.write_u64(addr, o as u64)?;
        }
    }
    Ok(n)
}

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
    let (s, sub) = super::types::decode_time_pair(&raw, word, p.mem.encoder());
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
        let (s, ns) = super::types::decode_time_pair(&raw, word, p.mem.encoder());
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

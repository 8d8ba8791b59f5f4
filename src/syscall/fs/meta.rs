// SPDX-License-Identifier: GPL-2.0-or-later
//! What the host says about files: stat, statx, statfs, extended
//! attributes; copy_file_range.

use super::*;

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
    let bytes = p.abi.encode_statfs(&guest_statfs(&s), p.mem.encoder());
    p.mem.write(a[1], &bytes)?;
    Ok(0)
}

/// The host's answer in the form every guest layout is built from.
fn guest_statfs(s: &libc::statfs) -> crate::abi::types::StatFs {
    crate::abi::types::StatFs {
        fs_type: s.f_type as u64,
        bsize: s.f_bsize as u64,
        blocks: s.f_blocks,
        bfree: s.f_bfree,
        bavail: s.f_bavail,
        files: s.f_files,
        ffree: s.f_ffree,
        fsid: fsid(s),
        namelen: s.f_namelen as u64,
        frsize: s.f_frsize as u64,
        flags: 0,
    }
}

/// statfs64(path, size, buf) and fstatfs64 (32-bit ABIs and ppc64): the struct the
/// ABI describes (None: this ABI's layout is not supported).
pub fn statfs64(p: &mut Process, a: &[u64; 6], by_fd: bool) -> SysResult {
    let stat = guest_statfs(&host_statfs(p, a[0], by_fd)?);
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

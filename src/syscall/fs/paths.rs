// SPDX-License-Identifier: GPL-2.0-or-later
//! Directories and paths: listing, creating, renaming, linking and removing
//! entries, permissions and owners, sizes, times and syncs.

use super::*;

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
pub(super) fn keep_channel_data_size(p: &Process) {
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
        let (s0, n0) = crate::abi::types::decode_time_pair(&raw[..word * 2], word, enc);
        let (s1, n1) = crate::abi::types::decode_time_pair(&raw[word * 2..], word, enc);
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

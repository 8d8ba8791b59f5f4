// SPDX-License-Identifier: GPL-2.0-or-later
//! mmap and friends, over the guest address space.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::sync::Arc;

use super::{Errno, SysResult};
use crate::kernel::Process;
use crate::mem::{page_ceil, page_floor, HostMapping, Perms, ProtectError, RegionKind, PAGE_SIZE};

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MADV_DONTNEED: u64 = 4;

fn aligned(addr: u64) -> bool {
    addr % PAGE_SIZE == 0
}

/// Chooses where a new mapping of `len` bytes goes.
fn place(p: &Process, hint: u64, len: u64, flags: u64) -> Result<u64, Errno> {
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if !aligned(hint) || hint.checked_add(len).is_none() {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_FIXED == 0 && !p.mem.is_free(hint, hint + len) {
            return Err(Errno::EEXIST);
        }
        return Ok(hint);
    }
    let hint = page_floor(hint);
    if hint != 0 && hint.checked_add(len).is_some() && p.mem.is_free(hint, hint + len) {
        return Ok(hint);
    }
    p.mem.find_free(len).ok_or(Errno::ENOMEM)
}

pub fn mmap(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (hint, len, prot, fd, offset) = (a[0], a[1], a[2], a[4], a[5]);
    let flags = p.abi.mmap_flags_to_host(a[3]);
    let map_type = flags & 0x0f;
    if len == 0
        || !aligned(offset)
        || !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE)
    {
        return Err(Errno::EINVAL);
    }
    let len = page_ceil(len).ok_or(Errno::ENOMEM)?;
    // A file range must fit in the file offsets Linux allows (loff_t).
    if flags & MAP_ANONYMOUS == 0
        && offset
            .checked_add(len)
            .is_none_or(|end| end > i64::MAX as u64)
    {
        return Err(Errno(libc::EOVERFLOW));
    }
    let shared = map_type != MAP_PRIVATE;
    let perms = p.abi.perms_from_prot(prot);
    let start = place(p, hint, len, flags)?;

    if flags & MAP_ANONYMOUS != 0 {
        let host = if shared {
            HostMapping::shared_anonymous(len as usize)
        } else {
            HostMapping::anonymous(len as usize)
        };
        let host = host.map_err(|_| Errno::ENOMEM)?;
        let name = if shared { "/dev/zero (deleted)" } else { "" };
        p.mem.map(
            start,
            len,
            perms,
            Perms(7),
            RegionKind::Memory { name: name.into() },
            Some(Arc::new(host)),
            0,
        );
        return Ok(start);
    }

    // An owned duplicate: the mapping outlives this borrow of the table.
    let owned = p.fds.get(fd)?.try_clone_to_owned().map_err(Errno::from)?;
    let file = owned.as_fd();
    let meta = fd_metadata(file)?;
    if p.control_file == Some((meta.dev(), meta.ino())) {
        if !shared {
            return Err(Errno::EINVAL);
        }
        p.mem.map(
            start,
            len,
            perms,
            Perms::RW,
            RegionKind::HypertraceControl,
            None,
            offset as usize,
        );
        return Ok(start);
    }
    if !meta.is_file() && !meta.file_type().is_block_device() && !meta.file_type().is_char_device()
    {
        return Err(Errno::ENODEV);
    }
    // SAFETY: F_GETFL takes no argument.
    let access = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&file), libc::F_GETFL) }
        & libc::O_ACCMODE;
    if access == libc::O_WRONLY {
        return Err(Errno::EACCES);
    }
    let writable_file = access == libc::O_RDWR;
    if shared && perms.writable() && !writable_file {
        return Err(Errno::EACCES);
    }
    let name = file_name(file);
    if shared {
        map_shared_file(
            p,
            start,
            len,
            perms,
            file,
            offset,
            meta.len(),
            writable_file,
            name,
        )?;
    } else {
        map_private_file(p, start, len, perms, file, offset, meta.len(), name)?;
    }
    Ok(start)
}

fn fd_metadata(fd: BorrowedFd<'_>) -> Result<std::fs::Metadata, Errno> {
    let dup = fd.try_clone_to_owned().map_err(Errno::from)?;
    let file = std::fs::File::from(dup);
    file.metadata().map_err(Errno::from)
}

fn file_name(fd: BorrowedFd<'_>) -> String {
    let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    std::fs::read_link(link)
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// A private file mapping is a copy: the guest's pages hold the file's
/// bytes at map time (zeros after its end in the last page), so no access
/// can fault the host the way a mapping past end-of-file would.
#[allow(clippy::too_many_arguments)]
fn map_private_file(
    p: &mut Process,
    start: u64,
    len: u64,
    perms: Perms,
    file: BorrowedFd<'_>,
    offset: u64,
    file_len: u64,
    name: String,
) -> Result<(), Errno> {
    // Pages wholly past the end of the file fault, as on Linux.
    let in_file = page_ceil(file_len.saturating_sub(offset))
        .unwrap_or(0)
        .min(len);
    if in_file < len {
        map_past_end(
            p,
            start + in_file,
            len - in_file,
            perms,
            Perms(7),
            name.clone(),
        )?;
    }
    let len = in_file;
    if len == 0 {
        return Ok(());
    }
    let mut host = HostMapping::anonymous(len as usize).map_err(|_| Errno::ENOMEM)?;
    let to_copy = file_len.saturating_sub(offset).min(len) as usize;
    host.fill_from(file, 0, to_copy, offset);
    if fd_metadata(file).is_ok_and(|m| m.is_file()) {
        // Kept so that MADV_DONTNEED can read the file again.
        let own = crate::kernel::dup_host(file)?;
        host = host.with_origin(Arc::new(own), offset);
    }
    p.mem.map(
        start,
        len,
        perms,
        Perms(7),
        RegionKind::Memory { name },
        Some(Arc::new(host)),
        0,
    );
    Ok(())
}

/// Pages of a file mapping wholly past the file's end: nothing may be
/// accessed there (SIGBUS, see `delivery`); the host never faults on
/// them, since its memory behind them is anonymous.
fn map_past_end(
    p: &mut Process,
    start: u64,
    len: u64,
    perms: Perms,
    max_perms: Perms,
    name: String,
) -> Result<(), Errno> {
    let host = HostMapping::anonymous(len as usize).map_err(|_| Errno::ENOMEM)?;
    p.mem.map(
        start,
        len,
        perms,
        max_perms,
        RegionKind::PastEndOfFile { name },
        Some(Arc::new(host)),
        0,
    );
    Ok(())
}

/// A shared file mapping uses the host's page cache so other mappings of
/// the file (and the hypertrace data channel) see the same bytes. Pages
/// past end-of-file fault with SIGBUS instead of faulting the host, and
/// follow the file's size afterwards (`AddressSpace::follow_file_sizes`).
#[allow(clippy::too_many_arguments)]
fn map_shared_file(
    p: &mut Process,
    start: u64,
    len: u64,
    perms: Perms,
    file: BorrowedFd<'_>,
    offset: u64,
    file_len: u64,
    writable_file: bool,
    name: String,
) -> Result<(), Errno> {
    let in_file = page_ceil(file_len.saturating_sub(offset))
        .unwrap_or(0)
        .min(len);
    let max_perms = if writable_file { Perms(7) } else { Perms::RX };
    p.mem.unmap(start, len);
    if fd_metadata(file).is_ok_and(|m| m.is_file()) {
        // The whole length is mapped on the host, past the file's end too,
        // so that the pages a growing file covers can become memory.
        let own = crate::kernel::dup_host(file)?;
        let host = HostMapping::file(file.as_fd(), len as usize, offset, true, writable_file)
            .map_err(Errno::from)?
            .with_shared_file(Arc::new(own), offset);
        p.mem.map(
            start,
            len,
            perms,
            max_perms,
            RegionKind::Memory { name },
            Some(Arc::new(host)),
            0,
        );
        p.mem.follow_file_sizes();
        return Ok(());
    }
    if in_file > 0 {
        let host = HostMapping::file(file.as_fd(), in_file as usize, offset, true, writable_file)
            .map_err(Errno::from)?;
        p.mem.map(
            start,
            in_file,
            perms,
            max_perms,
            RegionKind::Memory { name: name.clone() },
            Some(Arc::new(host)),
            0,
        );
    }
    if in_file < len {
        map_past_end(p, start + in_file, len - in_file, perms, max_perms, name)?;
    }
    Ok(())
}

pub fn munmap(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (addr, len) = (a[0], a[1]);
    if !aligned(addr) || len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_ceil(len).ok_or(Errno::EINVAL)?;
    p.mem.unmap(addr, len);
    Ok(0)
}

pub fn mprotect(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (addr, len) = (a[0], a[1]);
    if !aligned(addr) {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let len = page_ceil(len).ok_or(Errno::ENOMEM)?;
    match p.mem.protect(addr, len, p.abi.perms_from_prot(a[2])) {
        Ok(()) => Ok(0),
        Err(ProtectError::Unmapped) => Err(Errno::ENOMEM),
        Err(ProtectError::Denied) => Err(Errno::EACCES),
    }
}

pub fn mremap(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (old, old_len, new_len, flags, new_addr) = (a[0], a[1], a[2], a[3], a[4]);
    if !aligned(old) || new_len == 0 || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(Errno::EINVAL);
    }
    let old_len = page_ceil(old_len).ok_or(Errno::EINVAL)?;
    let new_len = page_ceil(new_len).ok_or(Errno::ENOMEM)?;
    let region = p.mem.region_at(old).cloned().ok_or(Errno::EFAULT)?;
    if old_len == 0 || old + old_len > region.end {
        return Err(Errno::EFAULT);
    }
    // The control channel and SysV shared memory attachments cannot move.
    let sysv = region
        .backing
        .as_ref()
        .is_some_and(|b| b.sysv_shm_id().is_some());
    if region.kind == RegionKind::HypertraceControl || sysv {
        return Err(Errno::EINVAL);
    }
    if new_len <= old_len && flags & MREMAP_FIXED == 0 {
        if new_len < old_len {
            p.mem.unmap(old + new_len, old_len - new_len);
        }
        return Ok(old);
    }
    let grow_in_place = flags & MREMAP_FIXED == 0 && p.mem.is_free(old + old_len, old + new_len);
    let target = if grow_in_place {
        old
    } else if flags & MREMAP_FIXED != 0 {
        if !aligned(new_addr) {
            return Err(Errno::EINVAL);
        }
        new_addr
    } else if flags & MREMAP_MAYMOVE != 0 {
        p.mem.find_free(new_len).ok_or(Errno::ENOMEM)?
    } else {
        return Err(Errno::ENOMEM);
    };
    // Contents move into fresh anonymous memory (shared file mappings would
    // lose their sharing, so they cannot grow this way).
    let is_shared_file = matches!(&region.kind, RegionKind::Memory { name } if !name.is_empty() && name != "/dev/zero (deleted)")
        && region.max_perms != Perms(7);
    if is_shared_file {
        return Err(Errno::EINVAL);
    }
    let mut contents = vec![0u8; old_len.min(new_len) as usize];
    p.mem.read_privileged(old, &mut contents)?;
    let mut host = HostMapping::anonymous(new_len as usize).map_err(|_| Errno::ENOMEM)?;
    // A private file copy stays one at its new place.
    let origin = region
        .backing
        .as_ref()
        .and_then(|b| b.origin_at(region.backing_offset + (old - region.start) as usize));
    if let Some((file, offset)) = origin {
        host = host.with_origin(file, offset);
    }
    p.mem.unmap(old, old_len);
    p.mem.map(
        target,
        new_len,
        region.perms,
        region.max_perms,
        region.kind.clone(),
        Some(Arc::new(host)),
        0,
    );
    p.mem.write_privileged(target, &contents)?;
    Ok(target)
}

pub fn msync(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (addr, len) = (a[0], page_ceil(a[1]).ok_or(Errno::ENOMEM)?);
    if !aligned(addr) {
        return Err(Errno::EINVAL);
    }
    let stop = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
    let mut cursor = addr;
    while cursor < stop {
        let r = p.mem.region_at(cursor).cloned().ok_or(Errno::ENOMEM)?;
        let end = r.end.min(stop);
        if let Some(b) = &r.backing {
            let off = r.backing_offset + (cursor - r.start) as usize;
            b.sync(off, (end - cursor) as usize).map_err(Errno::from)?;
        }
        cursor = end;
    }
    Ok(0)
}

pub fn madvise(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (addr, len, advice) = (a[0], a[1], a[2]);
    if !aligned(addr) {
        return Err(Errno::EINVAL);
    }
    let len = page_ceil(len).ok_or(Errno::EINVAL)?;
    let stop = addr.checked_add(len).ok_or(Errno::EINVAL)?;
    if advice == MADV_DONTNEED {
        let mut cursor = addr;
        while cursor < stop {
            let r = p.mem.region_at(cursor).cloned().ok_or(Errno::ENOMEM)?;
            let end = r.end.min(stop);
            // Private memory reads back as zeros; shared pages keep the file's bytes.
            let private = r.max_perms == Perms(7)
                && !matches!(&r.kind, RegionKind::Memory { name } if name == "/dev/zero (deleted)");
            if let (true, Some(b)) = (private, &r.backing) {
                let off = r.backing_offset + (cursor - r.start) as usize;
                b.discard(off, (end - cursor) as usize)
                    .map_err(Errno::from)?;
            }
            cursor = end;
        }
    }
    Ok(0)
}

/// Pages mincore reports per host call and guest write, so a huge range
/// needs no huge buffer.
const MINCORE_CHUNK_PAGES: u64 = 1 << 16;

/// mincore: one byte per page into the guest's vector, bit 0 set where the
/// host has the page in memory. Every page must be mapped (ENOMEM, as on
/// Linux); pages without host memory behind them (the hypertrace control
/// page, pages past a file's end) read as not resident.
pub fn mincore(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (addr, len, vec) = (a[0], a[1], a[2]);
    if !aligned(addr) {
        return Err(Errno::EINVAL);
    }
    let len = page_ceil(len).ok_or(Errno::ENOMEM)?;
    let stop = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
    let mut cursor = addr;
    while cursor < stop {
        let r = p.mem.region_at(cursor).cloned().ok_or(Errno::ENOMEM)?;
        let end = r
            .end
            .min(stop)
            .min(cursor + MINCORE_CHUNK_PAGES * PAGE_SIZE);
        let pages = match (&r.backing, &r.kind) {
            (Some(b), RegionKind::Memory { .. }) => {
                let off = r.backing_offset + (cursor - r.start) as usize;
                b.residency(off, (end - cursor) as usize)
                    .map_err(Errno::from)?
                    .iter()
                    .map(|page| page & 1)
                    .collect()
            }
            _ => vec![0u8; ((end - cursor) / PAGE_SIZE) as usize],
        };
        let at = vec + (cursor - addr) / PAGE_SIZE;
        p.mem.write(at, &pages).map_err(|_| Errno::EFAULT)?;
        cursor = end;
    }
    Ok(0)
}

pub fn brk(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let requested = a[0];
    let brk = p.brk;
    if requested < brk.start {
        return Ok(brk.current);
    }
    let Some(new_end) = page_ceil(requested) else {
        return Ok(brk.current);
    };
    if new_end > brk.mapped_end {
        let grow = new_end - brk.mapped_end;
        if !p.mem.is_free(brk.mapped_end, new_end) {
            return Ok(brk.current);
        }
        let Ok(host) = HostMapping::anonymous(grow as usize) else {
            return Ok(brk.current);
        };
        p.mem.map(
            brk.mapped_end,
            grow,
            Perms::RW,
            Perms(7),
            RegionKind::Memory {
                name: "[heap]".into(),
            },
            Some(Arc::new(host)),
            0,
        );
    } else if new_end < brk.mapped_end {
        p.mem.unmap(new_end, brk.mapped_end - new_end);
    }
    p.brk.mapped_end = new_end;
    p.brk.current = requested;
    Ok(requested)
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Host memory that backs guest regions.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// A host mapping owned by ht-user and unmapped when the last guest region
/// using it goes away.
#[derive(Debug)]
pub struct HostMapping {
    ptr: *mut u8,
    len: usize,
    /// The host protection it was mapped with.
    prot: i32,
    /// For a private copy of a file: the file, and the file offset of the
    /// mapping's first byte. Discarded pages read the file again.
    origin: Option<(Arc<OwnedFd>, u64)>,
    /// For a shared mapping of a regular file: the file, and the file
    /// offset of the mapping's first byte. Its pages past the file's end
    /// fault the host, so the guest never reaches them (see
    /// `AddressSpace::follow_file_sizes`).
    shared_file: Option<(Arc<OwnedFd>, u64)>,
    /// For a SysV shared memory attachment: the segment's id. Dropping
    /// detaches it (host shmdt) instead of unmapping.
    sysv_shm: Option<i32>,
    /// For a file mapping: watched for the file shrinking under it (a host
    /// SIGBUS, see `host_fault`) while mapped.
    watch: Option<super::host_fault::Registration>,
}

// SAFETY: the mapping is plain memory; all access goes through raw pointers
// under the address space's checks, and the emulator runs on one thread.
unsafe impl Send for HostMapping {}
// SAFETY: see above; shared references only hand out raw pointers.
unsafe impl Sync for HostMapping {}

impl HostMapping {
    /// Zeroed, private, lazily committed memory.
    pub fn anonymous(len: usize) -> io::Result<Self> {
        Self::mmap(
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            None,
            0,
        )
    }

    /// Zeroed memory shared with forked children (the guest's
    /// `MAP_SHARED | MAP_ANONYMOUS`).
    pub fn shared_anonymous(len: usize) -> io::Result<Self> {
        Self::mmap(
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            None,
            0,
        )
    }

    /// A mapping of `fd` at `offset`, shared or private as the guest asked.
    /// `writable` says whether the host may write (false for a shared
    /// mapping of a read-only file).
    pub fn file(
        fd: BorrowedFd<'_>,
        len: usize,
        offset: u64,
        shared: bool,
        writable: bool,
    ) -> io::Result<Self> {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let flags = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        Self::mmap(len, prot, flags, Some(fd), offset)
    }

    fn mmap(
        len: usize,
        prot: i32,
        flags: i32,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let raw_fd = fd.map_or(-1, |f| f.as_raw_fd());
        // SAFETY: a fresh mapping chosen by the kernel (no MAP_FIXED), so it
        // cannot alias any Rust object; the result is checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                flags,
                raw_fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(HostMapping {
            ptr: ptr.cast(),
            len,
            prot,
            origin: None,
            shared_file: None,
            sysv_shm: None,
            watch: None,
        })
    }

    /// Attaches the host's SysV shared memory segment `shmid` (read-only
    /// with `readonly`) where the host chooses; `len` is the segment's size
    /// rounded up to pages. Errors are the host's shmat errors.
    pub fn sysv_shm(shmid: i32, len: usize, readonly: bool) -> io::Result<Self> {
        let flags = if readonly { libc::SHM_RDONLY } else { 0 };
        // SAFETY: without an address the kernel places the segment in free
        // host address space, so it cannot alias any Rust object; the
        // result is checked below.
        let ptr = unsafe { libc::shmat(shmid, std::ptr::null(), flags) };
        if ptr as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(HostMapping {
            ptr: ptr.cast(),
            len,
            prot: libc::PROT_READ | if readonly { 0 } else { libc::PROT_WRITE },
            origin: None,
            shared_file: None,
            sysv_shm: Some(shmid),
            watch: None,
        })
    }

    /// The SysV shared memory segment this mapping attaches, if it is one.
    pub fn sysv_shm_id(&self) -> Option<i32> {
        self.sysv_shm
    }

    /// Marks this (anonymous) mapping as a private copy of `file` from
    /// `offset` on: [`HostMapping::discard`] then brings the file's bytes
    /// back, as Linux does for a private file mapping.
    pub fn with_origin(mut self, file: Arc<OwnedFd>, offset: u64) -> Self {
        self.origin = Some((file, offset));
        self
    }

    /// The file this mapping copies and the file offset of byte `at`.
    pub fn origin_at(&self, at: usize) -> Option<(Arc<OwnedFd>, u64)> {
        self.origin
            .as_ref()
            .map(|(f, off)| (Arc::clone(f), off + at as u64))
    }

    /// Marks this mapping as a shared mapping of the regular file `file`
    /// from `offset` on.
    pub fn with_shared_file(mut self, file: Arc<OwnedFd>, offset: u64) -> Self {
        // Another process may truncate the file under the mapping.
        self.watch = Some(super::host_fault::watch(
            self.ptr,
            self.len,
            file.as_raw_fd(),
            offset,
            self.prot,
        ));
        self.shared_file = Some((file, offset));
        self
    }

    /// The file this mapping shares and the file offset of byte `at`.
    pub fn shared_file_at(&self, at: usize) -> Option<(Arc<OwnedFd>, u64)> {
        self.shared_file
            .as_ref()
            .map(|(f, off)| (Arc::clone(f), off + at as u64))
    }

    /// Whether this is a shared mapping of a regular file.
    pub fn is_shared_file(&self) -> bool {
        self.shared_file.is_some()
    }

    /// Reads `file` from `file_offset` into bytes `at..at + len` until the
    /// file ends (the rest keeps its contents); returns the bytes read.
    pub fn fill_from(
        &self,
        file: BorrowedFd<'_>,
        at: usize,
        len: usize,
        file_offset: u64,
    ) -> usize {
        assert!(at + len <= self.len);
        let mut done = 0;
        while done < len {
            let Ok(pos) = libc::off_t::try_from(file_offset + done as u64) else {
                break;
            };
            // SAFETY: reads into our own mapping, within its length
            // (asserted above).
            let n = unsafe {
                libc::pread(
                    file.as_raw_fd(),
                    self.ptr.add(at + done).cast(),
                    len - done,
                    pos,
                )
            };
            if n <= 0 {
                break;
            }
            done += n as usize;
        }
        done
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to byte `offset`; callers keep `offset` within `len`.
    pub fn ptr_at(&self, offset: usize) -> *mut u8 {
        assert!(
            offset <= self.len,
            "offset {offset} past mapping of {}",
            self.len
        );
        // SAFETY: offset is within the mapping (asserted).
        unsafe { self.ptr.add(offset) }
    }

    /// Applies madvise(MADV_DONTNEED) to a page-aligned sub-range: it reads
    /// back as zeros, or as the file's current bytes for a private copy of
    /// a file.
    pub fn discard(&self, offset: usize, len: usize) -> io::Result<()> {
        assert!(offset + len <= self.len);
        // SAFETY: the range lies inside our own mapping.
        let rc = unsafe { libc::madvise(self.ptr.add(offset).cast(), len, libc::MADV_DONTNEED) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some((file, file_offset)) = self.origin_at(offset) {
            use std::os::fd::AsFd;
            self.fill_from(file.as_fd(), offset, len, file_offset);
        }
        Ok(())
    }

    /// mincore for a page-aligned sub-range: one byte per page, bit 0 set
    /// where the page is resident in the host's memory.
    pub fn residency(&self, offset: usize, len: usize) -> io::Result<Vec<u8>> {
        assert!(offset + len <= self.len);
        let mut pages = vec![0u8; len.div_ceil(4096)];
        // SAFETY: the range lies inside our own mapping, and `pages` has one
        // byte for each of its pages.
        let rc = unsafe { libc::mincore(self.ptr.add(offset).cast(), len, pages.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(pages)
    }

    /// msync for a sub-range of a shared file mapping.
    pub fn sync(&self, offset: usize, len: usize) -> io::Result<()> {
        assert!(offset + len <= self.len);
        // SAFETY: the range lies inside our own mapping.
        let rc = unsafe { libc::msync(self.ptr.add(offset).cast(), len, libc::MS_SYNC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for HostMapping {
    fn drop(&mut self) {
        // Unwatched before the range can be reused.
        drop(self.watch.take());
        // SAFETY: we own this mapping (or attachment) and nothing refers
        // to it any more (guest regions hold an Arc to it).
        unsafe {
            if self.sysv_shm.is_some() {
                libc::shmdt(self.ptr.cast());
            } else {
                libc::munmap(self.ptr.cast(), self.len);
            }
        }
    }
}

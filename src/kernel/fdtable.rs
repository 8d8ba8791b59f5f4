// SPDX-License-Identifier: GPL-2.0-or-later
//! Guest file descriptors. Each guest descriptor owns a host descriptor of
//! its own, so the guest can never close or clobber ht-user's files (the
//! trace log, the channel files) and dup/close behave as in Linux.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::abi::Errno;

/// The most descriptors a process may have whatever its RLIMIT_NOFILE
/// (Linux's `fs.nr_open` default): the ceiling of a guest's limit.
pub const NR_OPEN: i32 = 1 << 20;

/// The host's own RLIMIT_NOFILE (soft, hard), each at most [`NR_OPEN`]:
/// what the guest starts with, as it would natively. ht-user's own few
/// descriptors are not taken off it.
pub fn host_nofile_limits() -> (i32, i32) {
    // SAFETY: zeroed rlimit is a valid value for getrlimit to fill.
    let mut l: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit fills a struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } != 0 {
        return (1024, 4096);
    }
    let clamp = |v: libc::rlim_t| i32::try_from(v.min(NR_OPEN as libc::rlim_t)).unwrap_or(NR_OPEN);
    (clamp(l.rlim_cur), clamp(l.rlim_max))
}

#[derive(Debug)]
pub struct FdEntry {
    pub host: OwnedFd,
    pub cloexec: bool,
    /// A directory ht-user lists itself (`/proc/self/fd`): its entries
    /// instead of the host directory's.
    pub listing: Option<Box<Listing>>,
}

/// The entries of a generated directory and how far `getdents64` has
/// read them.
#[derive(Debug, Default)]
pub struct Listing {
    /// (d_type, name), in order.
    pub entries: Vec<(u8, String)>,
    /// Index of the next entry to return (the directory offset).
    pub next: usize,
}

#[derive(Debug)]
pub struct FdTable {
    entries: BTreeMap<i32, FdEntry>,
    /// Highest descriptor number plus one: the guest's RLIMIT_NOFILE
    /// soft limit.
    limit: i32,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable {
            entries: BTreeMap::new(),
            limit: host_nofile_limits().0,
        }
    }
}

/// Duplicates a host descriptor with close-on-exec set on the host side
/// (the guest's flag is tracked separately).
pub fn dup_host(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid borrowed descriptor returns a new
    // descriptor that we take ownership of only on success.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if rc < 0 {
        return Err(Errno::last());
    }
    // SAFETY: rc is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc) })
}

impl FdTable {
    /// Guest 0, 1, 2 as copies of ht-user's own standard streams; a closed
    /// host stream stays closed for the guest too.
    pub fn with_stdio() -> std::io::Result<Self> {
        let mut t = FdTable::default();
        for fd in 0..3 {
            // SAFETY: borrowing our own standard descriptor for the dup.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            if let Ok(host) = dup_host(borrowed) {
                t.entries.insert(
                    fd,
                    FdEntry {
                        host,
                        cloexec: false,
                        listing: None,
                    },
                );
            }
        }
        Ok(t)
    }

    /// A table of descriptors an earlier ht-user passed on through execve:
    /// (guest number, host descriptor) pairs. Each host descriptor becomes
    /// close-on-exec again; numbers that are not open are skipped.
    pub fn from_inherited(pairs: &[(i32, RawFd)]) -> Self {
        let mut t = FdTable::default();
        for &(guest, host) in pairs {
            if !(0..t.limit).contains(&guest) || t.entries.contains_key(&guest) {
                continue;
            }
            // SAFETY: F_SETFD on a descriptor number; fails if it is not open.
            if host < 0 || unsafe { libc::fcntl(host, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                continue;
            }
            // SAFETY: the descriptor was passed to this process for the
            // guest alone (by machine::exec) and nothing else here owns it.
            let host = unsafe { OwnedFd::from_raw_fd(host) };
            t.entries.insert(
                guest,
                FdEntry {
                    host,
                    cloexec: false,
                    listing: None,
                },
            );
        }
        t
    }

    /// The descriptors that survive execve (close-on-exec clear), as
    /// (guest number, host descriptor) pairs.
    pub fn inheritable(&self) -> Vec<(i32, RawFd)> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.cloexec)
            .map(|(&n, e)| (n, e.host.as_raw_fd()))
            .collect()
    }

    pub fn get(&self, fd: u64) -> Result<BorrowedFd<'_>, Errno> {
        let fd = i32::try_from(fd as i64).map_err(|_| Errno::EBADF)?;
        self.entries
            .get(&fd)
            .map(|e| e.host.as_fd())
            .ok_or(Errno::EBADF)
    }

    pub fn raw(&self, fd: u64) -> Result<RawFd, Errno> {
        self.get(fd).map(|f| f.as_raw_fd())
    }

    pub fn entry_mut(&mut self, fd: u64) -> Result<&mut FdEntry, Errno> {
        let fd = i32::try_from(fd as i64).map_err(|_| Errno::EBADF)?;
        self.entries.get_mut(&fd).ok_or(Errno::EBADF)
    }

    fn lowest_free(&self, from: i32) -> Result<i32, Errno> {
        let mut candidate = from;
        for (&n, _) in self.entries.range(from..) {
            if n != candidate {
                break;
            }
            candidate += 1;
        }
        if candidate >= self.limit {
            Err(Errno::EMFILE)
        } else {
            Ok(candidate)
        }
    }

    /// Installs `host` at the lowest free number >= `from`.
    pub fn insert(&mut self, host: OwnedFd, cloexec: bool, from: i32) -> Result<i32, Errno> {
        self.insert_listed(host, cloexec, from, None)
    }

    /// [`FdTable::insert`] of a directory whose entries ht-user gives.
    pub fn insert_listed(
        &mut self,
        host: OwnedFd,
        cloexec: bool,
        from: i32,
        listing: Option<Box<Listing>>,
    ) -> Result<i32, Errno> {
        let fd = self.lowest_free(from)?;
        self.entries.insert(
            fd,
            FdEntry {
                host,
                cloexec,
                listing,
            },
        );
        Ok(fd)
    }

    /// The open guest descriptors, lowest first.
    pub fn numbers(&self) -> impl Iterator<Item = i32> + '_ {
        self.entries.keys().copied()
    }

    /// The generated listing behind guest descriptor `fd`, if it has one.
    pub fn listing_mut(&mut self, fd: u64) -> Option<&mut Listing> {
        let fd = i32::try_from(fd as i64).ok()?;
        self.entries.get_mut(&fd)?.listing.as_deref_mut()
    }

    /// Installs `host` at exactly `fd`, closing what was there.
    pub fn insert_at(&mut self, fd: i32, host: OwnedFd, cloexec: bool) -> Result<(), Errno> {
        if !(0..self.limit).contains(&fd) {
            return Err(Errno::EBADF);
        }
        self.entries.insert(
            fd,
            FdEntry {
                host,
                cloexec,
                listing: None,
            },
        );
        Ok(())
    }

    /// The guest's RLIMIT_NOFILE soft limit: new descriptors are below it.
    pub fn limit(&self) -> i32 {
        self.limit
    }

    /// Sets the limit (already checked against [`NR_OPEN`]); descriptors
    /// open above it stay open, as on Linux.
    pub fn set_limit(&mut self, limit: i32) {
        self.limit = limit.clamp(0, NR_OPEN);
    }

    pub fn close(&mut self, fd: u64) -> Result<(), Errno> {
        let fd = i32::try_from(fd as i64).map_err(|_| Errno::EBADF)?;
        self.entries.remove(&fd).map(|_| ()).ok_or(Errno::EBADF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devnull() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn lowest_free_and_close() {
        let mut t = FdTable::default();
        assert_eq!(t.insert(devnull(), false, 0).unwrap(), 0);
        assert_eq!(t.insert(devnull(), false, 0).unwrap(), 1);
        assert_eq!(t.insert(devnull(), false, 0).unwrap(), 2);
        t.close(1).unwrap();
        assert_eq!(t.insert(devnull(), false, 0).unwrap(), 1);
        assert_eq!(t.insert(devnull(), false, 10).unwrap(), 10);
        assert_eq!(t.close(7), Err(Errno::EBADF));
        assert_eq!(t.get(u64::MAX).err(), Some(Errno::EBADF));
    }

    #[test]
    fn passed_on_through_execve() {
        use std::os::fd::IntoRawFd;
        let mut t = FdTable::default();
        t.insert_at(0, devnull(), false).unwrap();
        t.insert_at(4, devnull(), true).unwrap();
        t.insert_at(7, devnull(), false).unwrap();
        let kept: Vec<i32> = t.inheritable().iter().map(|p| p.0).collect();
        assert_eq!(kept, [0, 7]);
        // The receiving side adopts open descriptors at the guest numbers
        // and skips ones that are not open.
        let a = devnull().into_raw_fd();
        let b = devnull().into_raw_fd();
        let table = FdTable::from_inherited(&[(3, a), (9, b), (5, 1_000_000), (-1, 0)]);
        assert!(table.get(3).is_ok() && table.get(9).is_ok());
        assert_eq!(table.get(5).err(), Some(Errno::EBADF));
        // SAFETY: querying the flags of a descriptor the table owns.
        let flags = unsafe { libc::fcntl(table.raw(3).unwrap(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }

    #[test]
    fn table_full_is_emfile() {
        let mut t = FdTable::default();
        assert_eq!(t.limit(), host_nofile_limits().0);
        t.set_limit(16);
        t.insert_at(15, devnull(), false).unwrap();
        assert_eq!(t.insert(devnull(), false, 15), Err(Errno::EMFILE));
        assert_eq!(t.insert_at(16, devnull(), false), Err(Errno::EBADF));
        // Lowering the limit below an open descriptor leaves it open.
        t.set_limit(8);
        assert!(t.get(15).is_ok());
        assert_eq!(t.insert(devnull(), false, 8), Err(Errno::EMFILE));
    }
}

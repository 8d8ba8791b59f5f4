// SPDX-License-Identifier: GPL-2.0-or-later
//! Linux errno values as the guest sees them (before an ABI's own
//! numbering: MIPS's, written by its `write_syscall_result`), and host
//! results turned into them.

use crate::mem::Fault;

/// A Linux errno value (the generic numbering shared by x86, arm, riscv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const ESRCH: Errno = Errno(libc::ESRCH);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EBADF: Errno = Errno(libc::EBADF);
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    pub const ENODEV: Errno = Errno(libc::ENODEV);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const EMFILE: Errno = Errno(libc::EMFILE);
    pub const ENOTTY: Errno = Errno(libc::ENOTTY);
    pub const ERANGE: Errno = Errno(libc::ERANGE);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const ENAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);
    pub const EPIPE: Errno = Errno(libc::EPIPE);
    pub const ECHILD: Errno = Errno(libc::ECHILD);
    pub const ENOEXEC: Errno = Errno(libc::ENOEXEC);
    pub const E2BIG: Errno = Errno(libc::E2BIG);
    pub const ELOOP: Errno = Errno(libc::ELOOP);

    /// The calling thread's host errno.
    pub fn last() -> Errno {
        Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }

    pub fn name(self) -> &'static str {
        syscalls::Errno::new(self.0).name().unwrap_or("E?")
    }

    /// The C library's text for the errno, as strace and qemu print it.
    pub fn description(self) -> String {
        let text = std::io::Error::from_raw_os_error(self.0).to_string();
        match text.rfind(" (os error") {
            Some(cut) => text[..cut].to_string(),
            None => text,
        }
    }
}

impl From<Fault> for Errno {
    fn from(_: Fault) -> Errno {
        Errno::EFAULT
    }
}

impl From<nix::errno::Errno> for Errno {
    fn from(e: nix::errno::Errno) -> Errno {
        Errno(e as i32)
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

pub type SysResult = Result<u64, Errno>;

/// A host system call's raw result: a negative value means the host set
/// errno.
pub fn host_result(rc: libc::c_long) -> SysResult {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc as u64)
    }
}

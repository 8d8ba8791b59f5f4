// SPDX-License-Identifier: GPL-2.0-or-later
//! The vocabulary every layer above shares: errno values, a system call's
//! outcome, the set of calls and their per-architecture numbering, guest
//! structure layouts and signal constants. Plain data, no engine and no
//! process state.

pub(crate) mod calls;
mod errno;
pub mod ipc_types;
pub mod signal;
mod sys;
pub mod types;

pub use errno::{host_result, Errno, SysResult};
pub use sys::{Arg, Call, Sys, SyscallTable};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    Exited(i32),
    Killed(i32),
}

/// What a system call did, for the architecture to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Value(u64),
    Error(Errno),
    /// The process is over; no result is written.
    Exit(ExitKind),
    /// The calling thread has ended; the others run on.
    ThreadExit,
    /// The calling thread waits (for what: `Threads::take_block`); the
    /// call completes when it is woken.
    Blocked,
    /// The registers were replaced (sigreturn): nothing is written.
    Resumed,
    /// Interrupted by a signal: the call runs again after the handler if
    /// it has SA_RESTART, else returns EINTR. Never seen by the guest.
    Restart,
    /// Two results: the first where results go, the second in the
    /// register the ABI names for it (`AbiInfo::pipe_second_result`).
    Pair(u64, u64),
}

impl From<SysResult> for Outcome {
    fn from(r: SysResult) -> Outcome {
        match r {
            Ok(v) => Outcome::Value(v),
            Err(e) => Outcome::Error(e),
        }
    }
}

impl Outcome {
    /// The value as the kernel returns it in the result register.
    pub fn as_raw(self) -> i64 {
        match self {
            Outcome::Value(v) | Outcome::Pair(v, _) => v as i64,
            Outcome::Error(e) => -i64::from(e.0),
            Outcome::Restart => -i64::from(libc::EINTR),
            Outcome::Exit(_) | Outcome::ThreadExit | Outcome::Blocked | Outcome::Resumed => 0,
        }
    }
}

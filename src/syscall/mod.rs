// SPDX-License-Identifier: GPL-2.0-or-later
//! Architecture-independent system calls.
//!
//! Each architecture maps its numbers onto [`Sys`] (names from the kernel's
//! tables via the `syscalls` crate); handlers get the [`Process`] and the
//! raw arguments, never the engine, and return an [`Outcome`].

mod block;
mod fs;
mod futex;
mod ipc;
mod mm;
mod net;
mod process;
pub mod signal;
pub mod strace;
mod table;
mod thread;
mod time;
pub mod timer;
mod wait;

pub use fs::read_path;
pub use signal::{ignored_signals, set_ignored_signals};

pub use crate::abi::types;
pub use crate::abi::{host_result, Call, Errno, ExitKind, Outcome, Sys, SysResult};
use crate::kernel::Process;

/// Runs the architecture-independent handler for `sys`.
pub fn dispatch(p: &mut Process, sys: Sys, a: &[u64; 6]) -> Outcome {
    let call = Call { sys, args: *a };
    // With timers signalling, a host call that would block could be
    // interrupted by their host signal although no guest signal is due:
    // it waits in the scheduler too (sleeps handle that themselves).
    let timers = p.timers.signalling()
        && !matches!(
            sys,
            Sys::nanosleep | Sys::clock_nanosleep | Sys::clock_nanosleep_time64
        );
    if sys.may_wait() && (p.threads.multi() || timers) {
        // A call that would block the host waits in the scheduler instead.
        if let Some(outcome) = table::wait_first(p, &call) {
            return outcome;
        }
    }
    if sys == Sys::socketcall {
        // i386: the call and its arguments are in guest memory.
        return match net::decode_socketcall(p, a) {
            Ok((sys, args)) => dispatch(p, sys, &args),
            Err(e) => Outcome::Error(e),
        };
    }
    let outcome = table::handle(p, &call);
    let nosignal = match sys {
        Sys::sendto | Sys::send => a[3] as i32 & libc::MSG_NOSIGNAL != 0,
        Sys::sendmsg => a[2] as i32 & libc::MSG_NOSIGNAL != 0,
        _ => false,
    };
    if outcome == Outcome::Error(Errno::EPIPE) && sys.raises_sigpipe() && !nosignal {
        return signal::broken_pipe(p);
    }
    outcome
}

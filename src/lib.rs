// SPDX-License-Identifier: GPL-2.0-or-later
//! ht-user: a user-mode Linux emulator on Unicorn whose guests emit trace
//! events through a hypertrace channel (one memory store per event).
//!
//! The binary is a thin CLI over [`runner::run`]; see ARCHITECTURE.md for
//! the module map. Programs embedding ht-user use [`Runner`] and implement
//! [`EventHandler`] (see `examples/region_cache.rs`).

// The ABIs translate guest numbers (open flags, signals, ioctls, errno,
// structure layouts) into the host's, and take the host to be x86_64
// Linux: refuse to build elsewhere rather than pass wrong values.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!(
    "ht-user runs on x86_64 Linux hosts: its translations of guest flags, \
     signals and structures target that host's numbering"
);

pub mod abi;
pub mod analysis;
pub mod arch;
pub mod cli;
pub mod embed;
pub mod gdb;
pub mod host;
pub mod hypertrace;
pub mod kernel;
pub mod loader;
pub mod machine;
pub mod mem;
pub mod monitor;
pub mod runner;
pub mod signals;
pub mod syscall;
pub mod trace;

pub use embed::Runner;
pub use machine::handler::{
    Block, EventHandler, HypertraceEvent, MemAccess, SyscallEntry, SyscallExit,
};
pub use runner::{RunReport, SetupError};

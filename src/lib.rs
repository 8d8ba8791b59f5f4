// SPDX-License-Identifier: GPL-2.0-or-later
//! ht-user: a user-mode Linux emulator on Unicorn whose guests emit trace
//! events through a hypertrace channel (one memory store per event).
//!
//! The binary is a thin CLI over [`runner::run`]; see ARCHITECTURE.md for
//! the module map. Programs embedding ht-user use [`Runner`] and implement
//! [`EventHandler`] (see `examples/region_cache.rs`).

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

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

// The public API is deliberate: the embedding interface at the root
// (`Runner`, `EventHandler` and its events, `RunReport` with its
// `StopReason`, `SetupError`) and the modules the binaries, the fuzz
// targets and the integration tests reach into, each with the reason.
// Everything else is crate-private, so unused code is reported.
mod abi;
// Trace tools: ht-trace's commands, its tests and the trace_reader fuzz target.
pub mod analysis;
// Architectures: ht-trace names a trace's system calls, ht-user lists CPU models.
pub mod arch;
// Command lines: ht-user's and ht-trace's documentation, the options fuzz target.
pub mod cli;
// The embedding interface: Runner and its configuration errors.
pub mod embed;
mod gdb;
mod host;
// The hypertrace channel: op codes and name ids for the tests, options for fuzzing.
pub mod hypertrace;
mod kernel;
// ELF loading: the elf_loader fuzz target.
pub mod loader;
// Engine layer: ht-user's exec trampoline and fork state, -sched options,
// the engine controls the engine tests check.
pub mod machine;
// Guest memory: the elf_loader fuzz target's AddressSpace, ht-user's host_fault.
pub mod mem;
// The -monitor: ht-user's address, command parsing for the tests and fuzzing.
pub mod monitor;
// Load and run: ht-user's entry point, RunReport, SetupError.
pub mod runner;
// Host signals: ht-user's handlers and its death by the guest's signal.
pub mod signals;
mod syscall;
// The trace pipeline and file format: ht-trace, the tests and the fuzz targets.
pub mod trace;

pub use abi::ExitKind;
pub use embed::Runner;
pub use machine::handler::{
    Block, EventHandler, HypertraceEvent, MemAccess, SyscallEntry, SyscallExit,
};
pub use machine::StopReason;
pub use runner::{RunReport, SetupError};

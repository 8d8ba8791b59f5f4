// SPDX-License-Identifier: GPL-2.0-or-later
//! Event handlers for programs that embed ht-user (see [`crate::Runner`]).
//!
//! A handler sees the same events the trace would record, as they happen,
//! on the emulation thread: hypertrace events always (when the channel is
//! on), memory accesses, blocks and system calls while those trace events
//! are enabled (by `-trace`, a hypertrace rule or the monitor). A handler
//! that only wants memory accesses inside regions enables nothing itself
//! and lets a region rule do it.

/// A store into the hypertrace control channel.
#[derive(Clone, Copy, Debug)]
pub struct HypertraceEvent<'a> {
    /// Host CLOCK_MONOTONIC ns when the store arrived.
    pub ts_ns: u64,
    /// Guest thread that stored.
    pub thread: u32,
    pub client: u32,
    pub arg1: u64,
    /// arg2..argN: the client's data slots.
    pub args: &'a [u64],
    /// The thread's guest instructions retired and blocks executed, exact
    /// at the store, when ht-user counts them (`-hypertrace ...,counters=on`).
    pub counts: Option<crate::trace::file::InsnCounts>,
}

/// A guest load or store, before it executes (`guest_mem_before_exec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemAccess {
    pub thread: u32,
    /// The instruction making the access.
    pub pc: u64,
    pub vaddr: u64,
    /// Bytes accessed: 1, 2, 4 or 8 (wider accesses arrive split).
    pub size: u32,
    pub is_store: bool,
    /// The value stored (0 for loads).
    pub value: u64,
}

/// A translation block about to execute (`guest_exec_tb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub thread: u32,
    pub pc: u64,
    /// Bytes.
    pub size: u32,
    /// Guest instructions in the block.
    pub insns: u32,
}

/// A system call on entry (`guest_user_syscall`).
#[derive(Clone, Copy, Debug)]
pub struct SyscallEntry<'a> {
    pub thread: u32,
    /// The guest architecture's number.
    pub number: u64,
    /// Linux's name for it, when ht-user knows the number.
    pub name: Option<&'static str>,
    pub args: &'a [u64; 6],
}

/// A system call's result (`guest_user_syscall_ret`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallExit {
    pub thread: u32,
    pub number: u64,
    /// The value returned to the guest (negative errno on failure).
    pub ret: i64,
}

/// Receives events on the emulation thread. Every method has an empty
/// default: implement the ones you need. Keep them quick; the guest waits.
pub trait EventHandler {
    fn hypertrace(&mut self, _event: &HypertraceEvent<'_>) {}
    fn mem_access(&mut self, _access: &MemAccess) {}
    fn block(&mut self, _block: &Block) {}
    fn syscall(&mut self, _call: &SyscallEntry<'_>) {}
    fn syscall_ret(&mut self, _ret: &SyscallExit) {}
    /// The run ended (after the last event).
    fn finish(&mut self) {}
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! The parts of [`Machine`](super::Machine) that are state only: what the
//! run records, the last fault, signal work between runs, ht-user's own
//! engine operations, gdb's pauses.

use crate::trace::clock::EventClock;
use crate::trace::rules::Rules;
use crate::trace::{EventSet, Recorder, Writer};

/// A stop for gdb (`-g`): a breakpoint or the end of a step stops the
/// engine before an instruction and the scheduler returns to gdb.
#[derive(Debug, Default)]
pub struct DebugPause {
    pub due: bool,
    /// The breakpoint the guest resumes from: its first hit is the
    /// instruction gdb continues with, not a new stop.
    pub skip_at: Option<u64>,
    /// A watched address was accessed (the watchpoint's start and whether
    /// the access wrote): the guest stops after the instruction.
    pub watch_hit: Option<(u64, bool)>,
}

/// What the run records and how (part of [`Machine`](super::Machine)).
pub struct TraceState {
    pub recorder: Option<Recorder>,
    /// The writer thread `recorder` feeds (replaced in a forked child).
    pub writer: Option<Writer>,
    /// Trace events enabled now (`-trace`, rules, the monitor).
    pub enabled: EventSet,
    /// Hypertrace actions (`-hypertrace-on`, `-hypertrace-region`).
    pub rules: Rules,
    /// Engine hooks behind the enabled events (see `instrument`).
    pub hooks: crate::machine::instrument::Hooks,
    /// The enabled events need other hooks: the runner stops the engine
    /// after the current instruction and installs or removes them.
    pub reconfigure_due: bool,
    /// Hooked events that hypertrace rules switch: their engine hooks stay
    /// installed for the whole run and record only while the event is on,
    /// so a region starts and ends exactly at its control store without
    /// stopping the engine.
    pub resident_hooks: EventSet,
    /// Whether events go to the trace sinks (an embedding program may take
    /// them through its handler only).
    pub record_events: bool,
    /// The last host clock reading, and memory accesses or blocks left
    /// before the next: reading the clock per access would cost more than
    /// the access, so their records share a reading (never older than the
    /// previous record's).
    pub last_ts: u64,
    pub coarse_left: u32,
    /// Where event timestamps come from (the TSC where it is invariant).
    pub clock: EventClock,
    pub strace: bool,
    /// Whether the engine counts instructions and blocks (engine patch
    /// 0023) for hypertrace events.
    pub insn_counting: bool,
    /// qemu-user's `-d` items this run logs.
    pub debug: crate::trace::debug::DebugItems,
    /// `-d in_asm`: the disassembler, and the blocks already shown.
    pub disasm: Option<crate::machine::disasm::Disassembler>,
    pub shown_blocks: std::collections::HashSet<u64>,
    /// Files mapped for execution are written into the trace (module
    /// events, for `ht-trace profile`).
    pub report_modules: bool,
    /// The (start, path) of the modules written so far.
    pub modules_reported: std::collections::HashSet<(u64, String)>,
    pub args_scratch: Vec<u64>,
}

impl TraceState {
    /// A thread's trace state with nothing switched on beyond `enabled`
    /// and `strace`, and nothing hooked or shown yet.
    pub fn new(
        (recorder, writer): (Recorder, Option<Writer>),
        enabled: EventSet,
        clock: EventClock,
        strace: bool,
        extra_args: usize,
    ) -> Self {
        TraceState {
            recorder: Some(recorder),
            writer,
            enabled,
            rules: Rules::default(),
            hooks: crate::machine::instrument::Hooks::default(),
            reconfigure_due: false,
            resident_hooks: EventSet::default(),
            record_events: true,
            last_ts: 0,
            coarse_left: 0,
            clock,
            strace,
            insn_counting: false,
            debug: Default::default(),
            disasm: None,
            shown_blocks: Default::default(),
            report_modules: false,
            modules_reported: Default::default(),
            args_scratch: vec![0; extra_args],
        }
    }
}

/// The last fault the engine reported (part of [`Machine`](super::Machine)).
#[derive(Default)]
pub struct FaultState {
    /// The last access the TLB refused: (page address, access kind).
    pub last_fault: Option<(u64, unicorn_engine::unicorn_const::MemType)>,
    /// The exact address of the last faulting access, when known.
    pub fault_addr: Option<u64>,
    /// The pc of the last faulting access, when known: on MIPS the engine
    /// may complete the branch whose delay slot faulted before it stops.
    pub fault_pc: Option<u64>,
    /// Whether the fault being delivered was a write (for the frame).
    pub last_fault_write: bool,
    /// A fault to deliver to the current thread's handler.
    pub pending_fault: Option<crate::machine::delivery::PendingFault>,
    /// The CPU trap behind the fault queued last (guest signal and the
    /// trap), for its signal frame.
    pub last_trap: Option<(u64, crate::arch::TrapVector)>,
}

/// Signal work waiting for the scheduler's loop (part of [`Machine`](super::Machine); see
/// `delivery`).
#[derive(Default)]
pub struct SignalState {
    /// Signal work waits for the scheduler's loop (see `delivery`).
    pub signal_due: bool,
    /// rt_sigreturn (true) or legacy sigreturn (false) to complete.
    pub sigreturn_due: Option<bool>,
    /// CPU state under each delivered signal frame.
    pub signal_contexts: Vec<crate::machine::delivery::SavedContext>,
}

/// ht-user's own engine memory operations (part of [`Machine`](super::Machine)).
#[derive(Default)]
pub struct TlbState {
    /// Set while ht-user itself changes the engine's memory map.
    pub engine_op_in_progress: bool,
    /// TLB fills since the last resize flush (see
    /// `machine::memory::TLB_FILLS_BEFORE_RESIZE`).
    pub tlb_fills: u32,
    /// Code the guest's instruction-cache maintenance invalidated, as
    /// (start, length), for every engine before the guest runs on
    /// (`cpu::apply_code_flushes`).
    pub code_flushes: Vec<(u64, u64)>,
}

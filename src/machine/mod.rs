// SPDX-License-Identifier: GPL-2.0-or-later
//! The state Unicorn carries for its hooks, and the hooks' entry points:
//! a system call, a CPU trap, a store into the hypertrace control page.

use unicorn_engine::Unicorn;

pub(crate) mod blocks;
pub mod build;
pub(crate) mod code_watch;
pub(crate) mod cpu;
pub(crate) mod delivery;
pub(crate) mod disasm;
pub mod engine_ctl;
pub mod exec;
pub mod fork;
pub(crate) mod handler;
pub(crate) mod host_events;
pub(crate) mod instrument;
pub(crate) mod m5ops;
pub(crate) mod memory;
pub mod parallel;
pub mod sched;
mod state;

use crate::arch::{Abi, Trap};
use crate::hypertrace::Channel;
use crate::kernel::thread::PendingCall;
use crate::kernel::{Process, SharedProcess};
use crate::machine::fork::Lineage;
use crate::syscall::{self, strace, Errno, ExitKind, Outcome, Sys};
use crate::trace::clock::EventClock;
use crate::trace::file::InsnCounts;
use crate::trace::{mem_info, EventKind, EventRecord, EventSet, Recorder, Writer};
use handler::EventHandler;
pub use state::{DebugPause, FaultState, SignalState, TlbState, TraceState};

pub type Engine<'a> = Unicorn<'a, Machine>;

/// Memory-access and block records per host clock reading.
const COARSE_STAMP_EVERY: u32 = 256;

/// Why emulation stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    Exit(ExitKind),
    /// A CPU exception the guest cannot handle (no signal delivery yet).
    /// `page` is the guest page whose access was refused, when known.
    Fault {
        signal: i32,
        pc: u64,
        page: Option<u64>,
    },
    /// ht-user itself received SIGINT/SIGTERM/SIGHUP.
    Interrupted(i32),
    /// `quit` from the monitor.
    Quit,
    /// The engine refused an operation (a bug or resource exhaustion).
    Internal(String),
}

pub struct Machine {
    pub abi: &'static dyn Abi,
    /// The process this engine's thread belongs to (see `SharedProcess`).
    pub process: SharedProcess,
    /// The running guest thread's index (the "cpu" of trace events): kept
    /// here so that recording an event takes no lock.
    pub thread_index: u32,
    /// The process's CPU model and what it tells the guest (fixed for the
    /// process's life), at hand without the process lock.
    pub cpu_model: crate::arch::cpu::Cpu,
    pub cpu_facts: crate::arch::cpu::CpuFacts,
    pub hypertrace: Option<std::sync::Arc<Channel>>,
    /// What forked children and executed programs need from the run.
    pub lineage: std::sync::Arc<Lineage>,
    /// The monitor has requests: the runner serves them between blocks.
    pub monitor_due: bool,
    /// gdb's breakpoints and steps (`-g`).
    pub debug_pause: DebugPause,
    /// An embedding program's handler (see `Runner`).
    pub handler: Option<Box<dyn EventHandler>>,
    pub stop: Option<StopReason>,
    /// In a vfork child: the parent waiting for this process's exec or end.
    pub vfork_parent: Option<crate::machine::fork::VforkParent>,
    /// Guest threads' CPU contexts and time slices.
    pub sched: crate::machine::sched::Scheduler,
    /// The gem5 m5ops' state (statistics intervals open).
    pub m5: crate::machine::m5ops::M5State,
    /// What the run records and how: sinks, enabled events, hooks.
    pub trace: TraceState,
    /// The last fault the engine reported, for its signal.
    pub fault: FaultState,
    /// Signal work between engine runs.
    pub signals: SignalState,
    /// What one architecture needs kept (MIPS: a clean context).
    pub arch: crate::arch::ArchSlot,
    /// ht-user's own changes to the engine's memory map and TLB.
    pub tlb: TlbState,
    /// The one block hook and what it serves now.
    pub blocks: blocks::BlockHook,
    /// With parallel scheduling: the thread this engine runs, and the run.
    pub parallel: Option<parallel::ParallelThread>,
}

impl Machine {
    pub fn new(
        abi: &'static dyn Abi,
        process: Process,
        hypertrace: Option<Channel>,
        (recorder, writer): (Recorder, Writer),
        lineage: Lineage,
        enabled: EventSet,
        strace: bool,
    ) -> Self {
        let extra = lineage.extra_args();
        let trace = TraceState::new(
            (recorder, Some(writer)),
            enabled,
            EventClock::new(),
            strace,
            extra,
        );
        let parts = build::MachineParts {
            abi,
            thread_index: process.current_cpu(),
            cpu_model: process.cpu,
            cpu_facts: process.cpu_facts.clone(),
            process: SharedProcess::new(process),
            hypertrace: hypertrace.map(std::sync::Arc::new),
            lineage: std::sync::Arc::new(lineage),
        };
        Machine::assemble(parts, trace)
    }

    /// The process, locked. With parallel scheduling the lock makes this
    /// engine's thread the one system calls act for.
    pub fn lock_process(&self) -> std::sync::MutexGuard<'_, Process> {
        lock_process_of(&self.process, &self.parallel)
    }

    pub(crate) fn recorder(&mut self) -> &mut Recorder {
        self.trace
            .recorder
            .as_mut()
            .expect("recorder lives until the run ends")
    }

    /// A precise host timestamp, remembered for coarse ones.
    pub(crate) fn stamp(&mut self) -> u64 {
        let TraceState {
            clock, recorder, ..
        } = &mut self.trace;
        self.trace.last_ts = match recorder {
            Some(r) => r.stamp(|| clock.now_ns()),
            None => clock.now_ns(),
        };
        self.trace.coarse_left = COARSE_STAMP_EVERY;
        self.trace.last_ts
    }

    /// This thread left guest code (`-sched parallel`): its recorder
    /// sends what it holds, and the next record reads the clock, so that
    /// the binary trace need not wait for this thread to put the others'
    /// records in time order (`trace::merge`).
    pub(crate) fn trace_idle(&mut self) {
        if let Some(r) = self.trace.recorder.as_mut() {
            r.go_idle();
        }
        self.trace.coarse_left = 0;
    }

    /// The timestamp of a memory access or block record.
    #[inline]
    fn coarse_stamp(&mut self) -> u64 {
        if self.trace.coarse_left == 0 {
            return self.stamp();
        }
        self.trace.coarse_left -= 1;
        self.trace.last_ts
    }

    /// A guest store into the control channel at `offset` of the file;
    /// `counts` are the storing thread's counters at the store (when
    /// counted). Returns true when hypertrace rules changed which engine
    /// hooks the enabled events need: the caller stops the engine.
    pub fn on_control_store(
        &mut self,
        offset: u64,
        size: usize,
        value: u64,
        counts: Option<InsnCounts>,
    ) -> bool {
        let Some(channel) = self.hypertrace.as_ref() else {
            return false;
        };
        let Some((client, arg1)) = channel.decode_store(offset, size, value) else {
            return false;
        };
        if arg1 == crate::hypertrace::op::NAME {
            self.on_name_store(client);
            return false;
        }
        self.emit_hypertrace(client, arg1, counts, false)
    }

    /// Delivers one hypertrace event to the handler, the trace and the
    /// rules. With `args_ready` its arguments after arg1 are in
    /// `args_scratch` already, else they are read from the channel.
    #[inline]
    pub(crate) fn emit_hypertrace(
        &mut self,
        client: u32,
        arg1: u64,
        counts: Option<InsnCounts>,
        args_ready: bool,
    ) -> bool {
        let wants_event =
            self.trace.enabled.contains(EventKind::Hypertrace) || self.handler.is_some();
        if !wants_event && self.trace.rules.is_empty() {
            return false;
        }
        let ts_ns = self.stamp();
        let Some(channel) = self.hypertrace.as_ref() else {
            return false;
        };
        // Without a handler or rules the arguments go straight to the batch.
        let scratch = args_ready || self.handler.is_some() || !self.trace.rules.is_empty();
        if scratch && !args_ready {
            channel.read_args(client, &mut self.trace.args_scratch);
        }
        let cpu = self.thread_index;
        if let Some(h) = self.handler.as_mut() {
            h.hypertrace(&handler::HypertraceEvent {
                ts_ns,
                thread: cpu,
                client,
                arg1,
                args: &self.trace.args_scratch,
                counts,
            });
        }
        if self.trace.enabled.contains(EventKind::Hypertrace) && self.trace.record_events {
            let record = EventRecord::hypertrace(ts_ns, cpu, client, arg1);
            let recorder = self
                .trace
                .recorder
                .as_mut()
                .expect("recorder lives until the run ends");
            // The counters follow the arguments when the trace has them
            // (zero in an event ht-user makes where none were read).
            let counts = counts.or(self.trace.insn_counting.then(InsnCounts::default));
            let counters = counts.map(|c| [c.insns, c.blocks]).into_iter().flatten();
            if scratch {
                recorder.push_from(
                    record,
                    self.trace.args_scratch.iter().copied().chain(counters),
                );
            } else {
                recorder.push_from(
                    record,
                    channel
                        .args(client, self.trace.args_scratch.len())
                        .chain(counters),
                );
            }
        }
        if self.trace.rules.is_empty() {
            return false;
        }
        let before = self.trace.enabled;
        if !self.trace.rules.apply(
            client,
            arg1,
            &self.trace.args_scratch,
            &mut self.trace.enabled,
        ) {
            return false;
        }
        self.events_changed(before)
    }

    /// After `enabled` changed from `before`: whether engine hooks must
    /// change (then `reconfigure_due` is set).
    pub fn events_changed(&mut self, before: EventSet) -> bool {
        let switched = crate::machine::instrument::HOOKED.0 & !self.trace.resident_hooks.0;
        if (before.0 ^ self.trace.enabled.0) & switched != 0 {
            self.trace.reconfigure_due = true;
        }
        self.trace.reconfigure_due
    }

    /// Appends a record of `kind` to the trace when events are recorded;
    /// `coarse` takes the shared clock reading of accesses and blocks.
    #[inline]
    fn record(&mut self, kind: EventKind, aux: u32, arg1: u64, words: &[u64], coarse: bool) {
        if !self.trace.record_events {
            return;
        }
        let ts_ns = if coarse {
            self.coarse_stamp()
        } else {
            self.stamp()
        };
        let cpu = self.thread_index;
        let record = EventRecord {
            ts_ns,
            cpu,
            kind,
            aux,
            arg1,
        };
        self.recorder().push_record(record, words);
    }

    /// A guest load or store about to execute (memory hook).
    #[inline]
    pub fn on_mem_access(&mut self, pc: u64, vaddr: u64, size: usize, is_store: bool, value: u64) {
        if !self.trace.enabled.contains(EventKind::MemAccess) {
            return;
        }
        let value = if !is_store {
            0
        } else if size >= 8 {
            value
        } else {
            value & ((1u64 << (8 * size)) - 1)
        };
        let cpu = self.thread_index;
        if let Some(h) = self.handler.as_mut() {
            h.mem_access(&handler::MemAccess {
                thread: cpu,
                pc,
                vaddr,
                size: size as u32,
                is_store,
                value,
            });
        }
        let big = self.abi.endian() == crate::mem::Endian::Big;
        let info = mem_info::encode(size, is_store, big);
        self.record(EventKind::MemAccess, info, vaddr, &[pc, value], true);
    }

    /// A translation block about to execute (block hook).
    #[inline]
    /// `-d exec` and `-d cpu`: the block about to run, in the log.
    pub fn log_block(uc: &mut Engine<'_>, pc: u64, size_insns: u32) {
        let thumb = uc.get_data().abi.resume_address(uc) & 1 != 0;
        let m = uc.get_data_mut();
        let mut text = String::new();
        if m.trace.debug.in_asm && m.trace.shown_blocks.insert(pc) {
            if let Some(d) = &m.trace.disasm {
                let code = m
                    .lock_process()
                    .mem
                    .read_vec(pc, (size_insns & 0xffff) as usize)
                    .unwrap_or_default();
                text.push_str("----------------\nIN:\n");
                for line in d.block(&code, pc, thumb) {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }
        let m = uc.get_data();
        if m.trace.debug.cpu {
            text.push_str(&m.abi.dump_registers(uc));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        if m.trace.debug.exec {
            text.push_str(&format!(
                "Trace {}: [{pc:016x}] {} insns, {} bytes\n",
                m.thread_index,
                size_insns >> 16,
                size_insns & 0xffff
            ));
        }
        let text = text.trim_end_matches('\n').to_string();
        if !text.is_empty() {
            uc.get_data_mut().recorder().text(text);
        }
    }

    /// `size_insns`: the block's size in bytes in bits 0-15, its
    /// instruction count in bits 16-31 (engine patch 0031), kept so in the
    /// record's `aux`.
    pub fn on_block(&mut self, pc: u64, size_insns: u32) {
        if !self.trace.enabled.contains(EventKind::ExecTb) {
            return;
        }
        let cpu = self.thread_index;
        if let Some(h) = self.handler.as_mut() {
            h.block(&handler::Block {
                thread: cpu,
                pc,
                size: size_insns & 0xffff,
                insns: size_insns >> 16,
            });
        }
        self.record(EventKind::ExecTb, size_insns, pc, &[], true);
    }

    fn on_syscall_entry(&mut self, nr: u64, sys: Option<syscall::Sys>, args: &[u64; 6]) {
        if !self.trace.enabled.contains(EventKind::Syscall) {
            return;
        }
        let cpu = self.thread_index;
        if let Some(h) = self.handler.as_mut() {
            h.syscall(&handler::SyscallEntry {
                thread: cpu,
                number: nr,
                name: sys.map(syscall::Sys::name),
                args,
            });
        }
        self.record(EventKind::Syscall, nr as u32, args[0], &args[1..], false);
    }

    fn on_syscall_exit(&mut self, nr: u64, ret: i64) {
        if !self.trace.enabled.contains(EventKind::SyscallRet) {
            return;
        }
        let cpu = self.thread_index;
        if let Some(h) = self.handler.as_mut() {
            h.syscall_ret(&handler::SyscallExit {
                thread: cpu,
                number: nr,
                ret,
            });
        }
        self.record(EventKind::SyscallRet, nr as u32, ret as u64, &[], false);
    }

    pub fn request_stop(uc: &mut Engine<'_>, reason: StopReason) {
        let m = uc.get_data_mut();
        if m.stop.is_none() {
            m.stop = Some(reason);
        }
        let _ = uc.emu_stop();
    }
}

/// [`Machine::lock_process`] borrowing only the two fields it needs.
pub(crate) fn lock_process_of<'a>(
    process: &'a SharedProcess,
    parallel: &Option<parallel::ParallelThread>,
) -> std::sync::MutexGuard<'a, Process> {
    let mut p = process.lock();
    if let Some(t) = parallel {
        p.threads.set_current(t.tid);
    }
    p
}

/// Called by the architecture's trap hook for every guest system call.
pub fn on_syscall(uc: &mut Engine<'_>) {
    let abi = uc.get_data().abi;
    let req = abi.read_syscall(uc);
    let sys = abi.syscall_table().lookup(req.nr);
    // A refused fetch the translator only probed for (engine patch 0017)
    // leaves no fault behind: it must not be taken for a later one's.
    uc.get_data_mut().fault.last_fault = None;
    // Once per call, not again when the scheduler retries a blocked one.
    uc.get_data_mut().on_syscall_entry(req.nr, sys, &req.args);
    run_syscall(uc, req.nr, &req.args);
}

/// Runs system call `nr` of the current thread and reports its outcome:
/// from the trap hook, or from the scheduler when a blocked call is retried.
pub fn run_syscall(uc: &mut Engine<'_>, nr: u64, args: &[u64; 6]) {
    let abi = uc.get_data().abi;
    if uc.get_data().parallel.is_some() {
        parallel::leave_guest(uc);
    }
    let sys = abi.syscall_table().lookup(nr);
    // Event lines recorded so far reach a log shared with the guest's
    // output before anything this call writes.
    if sys.is_some_and(Sys::may_write_output) {
        uc.get_data_mut().recorder().sync_before_guest_output();
    }
    let outcome = match crate::machine::fork::process_call(uc, sys, args)
        .or_else(|| crate::machine::delivery::syscall(uc, sys, args))
    {
        Some(o) => o,
        None => match (abi.arch_syscall(uc, nr, sys, args), sys) {
            (Some(o), _) => o,
            (None, Some(sys)) => {
                let mut p = uc.get_data_mut().lock_process();
                let outcome = syscall::dispatch(&mut p, sys, args);
                if outcome == Outcome::Blocked {
                    // Blocked under the lock that checked the condition,
                    // so that no other thread's wake-up comes in between.
                    if let Some(block) = p.threads.take_block() {
                        let call = PendingCall { nr, args: *args };
                        p.threads.block_current(block, call);
                    }
                }
                outcome
            }
            (None, None) => Outcome::Error(Errno::ENOSYS),
        },
    };
    // A file shrank under the call's access to guest memory (another
    // process truncated it): the guest's pages past its end fault now.
    uc.get_data_mut().lock_process().mem.settle_host_faults();
    match crate::machine::memory::apply_pending(uc) {
        Ok(engine_ops) => uc.get_data_mut().sched.charge_syscall(engine_ops),
        Err(e) => {
            Machine::request_stop(uc, StopReason::Internal(e.to_string()));
            return;
        }
    }
    if matches!(
        sys,
        Some(Sys::mmap | Sys::mmap2 | Sys::mprotect | Sys::mremap)
    ) {
        uc.get_data_mut().report_new_modules();
    }
    finish_syscall(uc, PendingCall { nr, args: *args }, outcome);
}

/// Reports a call's outcome: the result register, the strace line, the
/// end of the process or thread, or the thread's wait. Asks the scheduler
/// to step in when the thread cannot go on or created a thread.
pub fn finish_syscall(uc: &mut Engine<'_>, call: PendingCall, mut outcome: Outcome) {
    let abi = uc.get_data().abi;
    let sys = abi.syscall_table().lookup(call.nr);
    let m = uc.get_data_mut();
    // A host call that a signal for the guest interrupted.
    if outcome == Outcome::Error(Errno::EINTR) {
        crate::machine::delivery::intake_host(m);
        let interrupted = crate::syscall::signal::interrupted(&m.lock_process(), call.nr);
        if crate::syscall::signal::deliverable(&m.lock_process()) != 0
            || interrupted == Outcome::Restart
        {
            // With nothing to deliver (a timer's host signal, a signal
            // the guest blocks) a restartable call runs again, as Linux
            // never interrupted it.
            outcome = interrupted;
        }
    }
    if outcome == Outcome::Restart {
        if crate::machine::delivery::restart_interrupted(m) {
            // Run again after the handler: back to the call instruction,
            // its registers untouched.
            if m.trace.strace {
                let line = strace::format_call(
                    &m.lock_process(),
                    call.nr,
                    sys,
                    &call.args,
                    outcome,
                    false,
                );
                m.recorder().text(line);
            }
            let len = abi.syscall_insn_len(uc);
            abi.rewind_pc(uc, len);
            crate::machine::delivery::request(uc);
            return;
        }
        outcome = Outcome::Error(Errno::EINTR);
    }
    if outcome == Outcome::Blocked {
        // The strace line comes when the call completes. `run_syscall`
        // blocked the thread under the lock that checked its condition
        // (and it may have been woken since).
        let blocked = {
            let p = m.lock_process();
            p.threads.waits_or_was_woken(p.threads.current_tid())
        };
        if !blocked {
            // A handler said Blocked without saying on what (a bug): the
            // run ends with a report, not a panic.
            let what = format!("system call {} blocked on nothing", call.nr);
            Machine::request_stop(uc, StopReason::Internal(what));
            return;
        }
    } else {
        // Noted once per number, or every time with -d unimp.
        let unsupported = outcome == Outcome::Error(Errno::ENOSYS)
            && sys.is_none()
            && (m.lock_process().unsupported_seen.insert(call.nr) || m.trace.debug.unimp);
        if m.trace.strace || unsupported {
            let line = strace::format_call(
                &m.lock_process(),
                call.nr,
                sys,
                &call.args,
                outcome,
                unsupported,
            );
            m.recorder().text(line);
        }
        match outcome {
            Outcome::Exit(kind) => Machine::request_stop(uc, StopReason::Exit(kind)),
            Outcome::ThreadExit | Outcome::Resumed => {}
            other => {
                uc.get_data_mut().on_syscall_exit(call.nr, other.as_raw());
                abi.write_syscall_result(uc, other.as_raw());
                if let (Outcome::Pair(_, second), Some(reg)) =
                    (other, abi.info().pipe_second_result)
                {
                    let _ = uc.reg_write(reg, second);
                }
            }
        }
    }
    if uc.get_data().lock_process().threads.needs_scheduler() {
        crate::machine::sched::request(uc);
    }
    if uc.get_data().parallel.is_some() && uc.get_data().lock_process().threads.current_running() {
        // Back to guest code: first what other threads changed meanwhile.
        if let Err(e) = parallel::catch_up(uc) {
            Machine::request_stop(uc, StopReason::Internal(e.to_string()));
        }
    }
    if crate::machine::delivery::due(uc.get_data_mut()) {
        crate::machine::delivery::request(uc);
    }
    if let Some(sig) = crate::signals::interrupted() {
        Machine::request_stop(uc, StopReason::Interrupted(sig));
    }
}

/// Called by the architecture's interrupt hook for CPU exceptions.
pub fn on_trap(uc: &mut Engine<'_>, trap: Trap) {
    // An illegal instruction may be a gem5 m5op ht-user performs.
    if trap.signal == libc::SIGILL && crate::machine::m5ops::try_emulate(uc) {
        return;
    }
    if crate::machine::delivery::catch_trap(uc, trap) {
        return;
    }
    let pc = uc.get_data().abi.pc(uc);
    Machine::request_stop(
        uc,
        StopReason::Fault {
            signal: trap.signal,
            pc,
            page: None,
        },
    );
}

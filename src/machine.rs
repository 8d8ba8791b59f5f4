// SPDX-License-Identifier: GPL-2.0-or-later
//! The state Unicorn carries for its hooks, and the hooks' entry points:
//! a system call, a CPU trap, a store into the hypertrace control page.

use unicorn_engine::Unicorn;

use crate::arch::{Abi, Trap};
use crate::hypertrace::Channel;
use crate::kernel::thread::PendingCall;
use crate::kernel::Process;
use crate::syscall::{self, strace, Errno, ExitKind, Outcome};
use crate::trace::{EventRecord, Recorder};

pub type Engine<'a> = Unicorn<'a, Machine>;

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
    /// The engine refused an operation (a bug or resource exhaustion).
    Internal(String),
}

pub struct Machine {
    pub abi: &'static dyn Abi,
    pub process: Process,
    pub hypertrace: Option<Channel>,
    pub recorder: Option<Recorder>,
    /// Whether the `guest_hypertrace` trace event is enabled.
    pub hypertrace_enabled: bool,
    pub strace: bool,
    pub stop: Option<StopReason>,
    /// The last access the TLB refused: (page address, access kind).
    pub last_fault: Option<(u64, unicorn_engine::unicorn_const::MemType)>,
    /// Set while ht-user itself changes the engine's memory map.
    pub engine_op_in_progress: bool,
    /// TLB fills since the last flush, and whether a flush is due (see
    /// `mem::engine::TLB_FILLS_BEFORE_RESIZE`).
    pub tlb_fills: u32,
    pub tlb_resize_due: bool,
    /// Guest threads' CPU contexts and time slices.
    pub sched: crate::sched::Scheduler,
    args_scratch: Vec<u64>,
}

impl Machine {
    pub fn new(
        abi: &'static dyn Abi,
        process: Process,
        hypertrace: Option<Channel>,
        recorder: Recorder,
        hypertrace_enabled: bool,
        strace: bool,
    ) -> Self {
        let extra = recorder.extra_args();
        Machine {
            abi,
            process,
            hypertrace,
            recorder: Some(recorder),
            hypertrace_enabled,
            strace,
            stop: None,
            last_fault: None,
            engine_op_in_progress: false,
            tlb_fills: 0,
            tlb_resize_due: false,
            sched: crate::sched::Scheduler::default(),
            args_scratch: vec![0; extra],
        }
    }

    fn recorder(&mut self) -> &mut Recorder {
        self.recorder
            .as_mut()
            .expect("recorder lives until the run ends")
    }

    /// A guest store into the control channel at `offset` of the file.
    pub fn on_control_store(&mut self, offset: u64, size: usize, value: u64) {
        let Some(channel) = self.hypertrace.as_mut() else {
            return;
        };
        let Some((client, arg1)) = channel.decode_store(offset, size, value) else {
            return;
        };
        if !self.hypertrace_enabled {
            return;
        }
        let ts_ns = crate::trace::monotonic_ns();
        channel.read_args(client, &mut self.args_scratch);
        let record = EventRecord {
            ts_ns,
            cpu: self.process.current_cpu(),
            client,
            arg1,
        };
        let recorder = self
            .recorder
            .as_mut()
            .expect("recorder lives until the run ends");
        recorder.push(record, &self.args_scratch);
    }

    pub fn request_stop(uc: &mut Engine<'_>, reason: StopReason) {
        let m = uc.get_data_mut();
        if m.stop.is_none() {
            m.stop = Some(reason);
        }
        let _ = uc.emu_stop();
    }
}

/// Called by the architecture's trap hook for every guest system call.
pub fn on_syscall(uc: &mut Engine<'_>) {
    let abi = uc.get_data().abi;
    let req = abi.read_syscall(uc);
    run_syscall(uc, req.nr, &req.args);
}

/// Runs system call `nr` of the current thread and reports its outcome:
/// from the trap hook, or from the scheduler when a blocked call is retried.
pub fn run_syscall(uc: &mut Engine<'_>, nr: u64, args: &[u64; 6]) {
    let abi = uc.get_data().abi;
    let sys = abi.syscall_table().lookup(nr);
    // Events recorded so far reach the log before anything this call prints.
    uc.get_data_mut().recorder().sync();
    let outcome = match (abi.arch_syscall(uc, nr, sys, args), sys) {
        (Some(o), _) => o,
        (None, Some(sys)) => syscall::dispatch(&mut uc.get_data_mut().process, sys, args),
        (None, None) => Outcome::Error(Errno::ENOSYS),
    };
    if let Err(e) = crate::mem::engine::apply_pending(uc) {
        Machine::request_stop(uc, StopReason::Internal(e.to_string()));
        return;
    }
    finish_syscall(uc, PendingCall { nr, args: *args }, outcome);
}

/// Reports a call's outcome: the result register, the strace line, the
/// end of the process or thread, or the thread's wait. Asks the scheduler
/// to step in when the thread cannot go on or created a thread.
pub fn finish_syscall(uc: &mut Engine<'_>, call: PendingCall, outcome: Outcome) {
    let abi = uc.get_data().abi;
    let sys = abi.syscall_table().lookup(call.nr);
    let m = uc.get_data_mut();
    if outcome == Outcome::Blocked {
        // The strace line comes when the call completes.
        let block = m
            .process
            .threads
            .take_block()
            .expect("a handler that blocks says on what");
        m.process.threads.block_current(block, call);
    } else {
        let unsupported = outcome == Outcome::Error(Errno::ENOSYS)
            && sys.is_none()
            && m.process.unsupported_seen.insert(call.nr);
        if m.strace || unsupported {
            let line =
                strace::format_call(&m.process, call.nr, sys, &call.args, outcome, unsupported);
            m.recorder().text(line);
        }
        match outcome {
            Outcome::Exit(kind) => Machine::request_stop(uc, StopReason::Exit(kind)),
            Outcome::ThreadExit => {}
            other => abi.write_syscall_result(uc, other.as_raw()),
        }
    }
    if uc.get_data().process.threads.needs_scheduler() {
        crate::sched::request(uc);
    }
    if let Some(sig) = crate::signals::interrupted() {
        Machine::request_stop(uc, StopReason::Interrupted(sig));
    }
}

/// Called by the architecture's interrupt hook for CPU exceptions.
pub fn on_trap(uc: &mut Engine<'_>, trap: Trap) {
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

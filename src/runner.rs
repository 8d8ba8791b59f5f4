// SPDX-License-Identifier: GPL-2.0-or-later
//! Builds a process from an executable and runs it to the end, owning
//! shutdown: whatever way the guest stops, the trace is flushed and the
//! channel files are removed.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::Unicorn;

use crate::hypertrace::{Channel, ChannelOptions};
use crate::kernel::Process;
use crate::loader;
use crate::machine::{Machine, StopReason};
use crate::mem::engine as mem_engine;
use crate::trace::file::{ClockAnchor, TraceInfo};
use crate::trace::{TraceEvents, Writer, WriterReport};

/// Everything a run needs, as the command line gives it.
#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    pub program: PathBuf,
    /// argv, argv[0] included.
    pub argv: Vec<OsString>,
    /// Environment as `KEY=VALUE` strings.
    pub env: Vec<OsString>,
    pub hypertrace: Option<ChannelOptions>,
    pub trace_events: TraceEvents,
    /// Trace log destination (`-D`); stderr when absent.
    pub log_file: Option<PathBuf>,
    /// Binary trace destination (`-trace-file`).
    pub trace_file: Option<PathBuf>,
    pub strace: bool,
    /// Guest thread scheduling (`-sched`).
    pub sched: crate::sched::SchedOptions,
}

/// How the run ended and what the trace holds.
#[derive(Debug)]
pub struct RunReport {
    pub stop: StopReason,
    pub events_recorded: u64,
    pub ignored_stores: u64,
    pub writer: WriterReport,
    /// Threads created, context switches, preemptions.
    pub sched: crate::sched::SchedStats,
}

impl RunReport {
    /// ht-user's exit status: the guest's, 128+signal for a killed guest
    /// or an interrupted run, 1 when the trace could not be written whole.
    pub fn exit_status(&self) -> i32 {
        let guest = match &self.stop {
            StopReason::Exit(crate::syscall::ExitKind::Exited(code)) => *code,
            StopReason::Exit(crate::syscall::ExitKind::Killed(sig)) => 128 + sig,
            StopReason::Fault { signal, .. } => 128 + signal,
            StopReason::Interrupted(sig) => 128 + sig,
            StopReason::Internal(_) => 1,
        };
        if guest == 0 && self.writer.error.is_some() {
            1
        } else {
            guest
        }
    }
}

/// A run that could not start. The message is one line.
#[derive(Debug)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

fn open_log(path: Option<&PathBuf>) -> Result<Box<dyn Write + Send>, SetupError> {
    let dup = |fd: std::os::fd::BorrowedFd<'_>| -> Result<Box<dyn Write + Send>, SetupError> {
        let owned: OwnedFd = fd
            .try_clone_to_owned()
            .map_err(|e| SetupError(format!("cannot use the log stream: {e}")))?;
        Ok(Box::new(File::from(owned)))
    };
    match path {
        None => dup(std::io::stderr().as_fd()),
        // Share the stream (and its file offset) instead of reopening it,
        // so log lines and guest output interleave instead of overwriting.
        Some(p) if p.as_os_str() == "/dev/stdout" => dup(std::io::stdout().as_fd()),
        Some(p) if p.as_os_str() == "/dev/stderr" => dup(std::io::stderr().as_fd()),
        Some(p) => File::create(p)
            .map(|f| Box::new(f) as Box<dyn Write + Send>)
            .map_err(|e| SetupError(format!("cannot open log file {}: {e}", p.display()))),
    }
}

fn fault_signal(err: uc_error) -> Option<i32> {
    match err {
        uc_error::READ_UNMAPPED
        | uc_error::WRITE_UNMAPPED
        | uc_error::FETCH_UNMAPPED
        | uc_error::READ_PROT
        | uc_error::WRITE_PROT
        | uc_error::FETCH_PROT => Some(libc::SIGSEGV),
        uc_error::READ_UNALIGNED | uc_error::WRITE_UNALIGNED | uc_error::FETCH_UNALIGNED => {
            Some(libc::SIGBUS)
        }
        uc_error::INSN_INVALID => Some(libc::SIGILL),
        _ => None,
    }
}

/// Loads `cfg.program` and runs it to completion.
pub fn run(cfg: &RunConfig) -> Result<RunReport, SetupError> {
    let bytes = std::fs::read(&cfg.program)
        .map_err(|e| SetupError(format!("cannot read {}: {e}", cfg.program.display())))?;
    let info = loader::inspect(&cfg.program, &bytes).map_err(|e| SetupError(e.0))?;
    let abi = info.abi;

    let log = open_log(cfg.log_file.as_ref())?;
    let channel = match &cfg.hypertrace {
        Some(opts) => Some(Channel::create(opts, abi.endian()).map_err(|e| SetupError(e.0))?),
        None => None,
    };
    let extra_args = channel
        .as_ref()
        .map_or(0, |c| c.layout.client_args as usize - 1);
    let trace_info = TraceInfo::for_run(
        std::process::id(),
        extra_args as u32 + 1,
        abi.name(),
        &cfg.program,
        &cfg.argv,
        channel.as_ref().map(|c| c.layout.max_clients),
        ClockAnchor::now(),
    );
    let sink = crate::trace::open_sink(
        log,
        cfg.log_file.is_some(),
        cfg.trace_file.as_deref(),
        &trace_info,
    )
    .map_err(SetupError)?;
    let (recorder, writer) = Writer::start(sink, extra_args)
        .map_err(|e| SetupError(format!("cannot start the trace writer: {e}")))?;

    let exe_path = std::fs::canonicalize(&cfg.program).unwrap_or_else(|_| cfg.program.clone());
    let mut process = Process::new(abi, exe_path.clone())
        .map_err(|e| SetupError(format!("cannot set up the process: {e}")))?;
    process.control_file = channel.as_ref().map(Channel::control_id);

    let image = loader::load(&info, &bytes, &mut process.mem).map_err(|e| SetupError(e.0))?;
    abi.map_special_pages(&mut process.mem)
        .map_err(SetupError)?;
    process.brk = crate::kernel::Brk {
        start: image.brk_start,
        current: image.brk_start,
        mapped_end: image.brk_start,
    };
    let argv: Vec<Vec<u8>> = cfg.argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = cfg.env.iter().map(|e| e.as_bytes().to_vec()).collect();
    let execfn = cfg.program.clone().into_os_string().into_vec();
    let stack = loader::build_stack(abi, &mut process.mem, &image, &execfn, &argv, &envp)
        .map_err(|e| SetupError(e.0))?;
    process.auxv = stack.auxv.clone();

    let hypertrace_enabled = cfg.trace_events.is_enabled("guest_hypertrace");
    let mut machine = Machine::new(
        abi,
        process,
        channel,
        recorder,
        hypertrace_enabled,
        cfg.strace,
    );
    machine.sched = crate::sched::Scheduler::new(cfg.sched);
    let (arch, mode) = abi.unicorn();
    let mut uc = Unicorn::new_with_data(arch, mode, machine)
        .map_err(|e| SetupError(format!("cannot create the {} emulator: {e:?}", abi.name())))?;
    abi.prepare(&mut uc).map_err(SetupError)?;
    if abi.virtual_tlb() {
        mem_engine::install_tlb(&mut uc).map_err(|e| SetupError(e.to_string()))?;
    }
    mem_engine::apply_pending(&mut uc).map_err(|e| SetupError(e.to_string()))?;
    abi.init_registers(&mut uc, image.entry, stack.sp)
        .map_err(SetupError)?;

    crate::signals::arm(&uc);
    let result = crate::sched::run(&mut uc, image.entry);
    crate::signals::disarm();

    let pc = abi.pc(&uc);
    let stop = match (uc.get_data_mut().stop.take(), result) {
        (Some(reason), _) => reason,
        // A refused TLB fill surfaces as EXCEPTION: the page fault of Linux.
        (None, Err(uc_error::EXCEPTION)) if uc.get_data().last_fault.is_some() => {
            StopReason::Fault {
                signal: libc::SIGSEGV,
                pc,
                page: uc.get_data().last_fault.map(|(page, _)| page),
            }
        }
        (None, Err(e)) => match fault_signal(e) {
            Some(signal) => StopReason::Fault {
                signal,
                pc,
                page: None,
            },
            None => StopReason::Internal(format!("emulator error {e:?} at pc {pc:#x}")),
        },
        (None, Ok(())) => match crate::signals::interrupted() {
            Some(sig) => StopReason::Interrupted(sig),
            // The engine stops by itself on a privileged halt, which Linux
            // answers with SIGSEGV (how musl's abort ends when all else fails).
            None => StopReason::Fault {
                signal: libc::SIGSEGV,
                pc,
                page: None,
            },
        },
    };
    if let StopReason::Fault { .. } | StopReason::Internal(_) = stop {
        tracing::debug!("registers at stop:\n{}", abi.dump_registers(&uc));
    }
    let m = uc.get_data_mut();
    let recorder = m.recorder.take().expect("recorder present until shutdown");
    let channel = m.hypertrace.take();
    let events_recorded = recorder.events_recorded;
    let sched = m.sched.stats;
    tracing::debug!(
        "scheduler: {} threads created, {} switches, {} preemptions, {} ns in {} timed switches",
        sched.threads,
        sched.switches,
        sched.preemptions,
        sched.switch_ns,
        sched.timed_switches
    );
    drop(uc);
    let writer = writer.finish(recorder);
    let ignored_stores = channel.as_ref().map_or(0, |c| c.ignored_stores);
    drop(channel);
    Ok(RunReport {
        stop,
        events_recorded,
        ignored_stores,
        writer,
        sched,
    })
}

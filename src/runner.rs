// SPDX-License-Identifier: GPL-2.0-or-later
//! Builds a process from an executable and runs it to the end, owning
//! shutdown: whatever way the guest stops, the trace is flushed and the
//! channel files are removed.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use unicorn_engine::unicorn_const::uc_error;

use crate::hypertrace::{Channel, ChannelOptions};
use crate::kernel::Process;
use crate::loader;
use crate::machine::fork::Lineage;
use crate::machine::memory as mem_engine;
use crate::machine::{Machine, StopReason};
use crate::trace::file::{ClockAnchor, TraceInfo};
use crate::trace::{EventKind, EventSet, TraceEvents, WriterReport};

mod conclude;
mod error;
pub use conclude::conclude;

pub use error::SetupError;

/// Everything a run needs, as the command line gives it.
#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    pub program: PathBuf,
    /// argv, `argv[0]` included.
    pub argv: Vec<OsString>,
    /// Environment as `KEY=VALUE` strings.
    pub env: Vec<OsString>,
    pub hypertrace: Option<ChannelOptions>,
    pub trace_events: TraceEvents,
    /// Hypertrace actions switching events on and off.
    pub rules: crate::trace::rules::Rules,
    /// Trace log destination (`-D`); stderr when absent.
    pub log_file: Option<PathBuf>,
    /// Binary trace destination (`-trace-file`).
    pub trace_file: Option<PathBuf>,
    /// Layout of the binary trace's records (`-trace-format`).
    pub trace_format: crate::trace::file::Layout,
    pub strace: bool,
    /// qemu-user's `-d` items.
    pub debug: crate::trace::debug::DebugItems,
    /// Sysroot for dynamic executables and the guest's absolute paths
    /// (`-L`, `QEMU_LD_PREFIX`).
    pub sysroot: Option<PathBuf>,
    /// `-monitor`: where the human monitor listens.
    pub monitor: Option<crate::monitor::MonitorAddr>,
    /// `-g`: where the program waits for gdb before its first instruction.
    pub gdb: Option<crate::gdb::GdbAddr>,
    /// Set when an earlier ht-user of the same run executed this one (a
    /// guest's execve): the pid of the run's first process.
    pub root_pid: Option<u32>,
    /// With `root_pid`: the descriptor of the run's shared count of lost
    /// events (see `machine::fork::share_loss_count`).
    pub loss_fd: Option<i32>,
    /// With `root_pid`: the identities of the channel files the run
    /// created, removed by the run's first process even when unusable.
    pub channel_ids: Option<Vec<crate::hypertrace::FileId>>,
    /// Guest descriptors passed on through execve: (guest, host) pairs.
    pub inherited_fds: Option<Vec<(i32, i32)>>,
    /// Guest signals ignored and blocked before execve (masks, bit n-1
    /// for guest signal n).
    pub inherited_signals: Option<(u64, u64)>,
    /// ht-user options for a guest's execve of a guest program (paths
    /// made absolute; no -E, -U, -0 or -monitor).
    pub exec_options: Vec<OsString>,
    /// Guest thread scheduling (`-sched`).
    pub sched: crate::machine::sched::SchedOptions,
    /// The CPU model (`-cpu`, `QEMU_CPU`), checked against the program's
    /// architecture when it is loaded; the architecture's default when
    /// absent.
    pub cpu: Option<String>,
}

/// How the run ended and what the trace holds.
#[derive(Debug)]
pub struct RunReport {
    pub stop: StopReason,
    pub events_recorded: u64,
    pub ignored_stores: u64,
    pub writer: WriterReport,
    /// Threads created, context switches, preemptions.
    pub sched: crate::machine::sched::SchedStats,
    /// Events the run's forked children (and the programs they executed)
    /// could not record; 0 in the children themselves.
    pub descendant_losses: u64,
}

impl RunReport {
    /// ht-user's exit status: the guest's, 128+signal for a killed guest
    /// or an interrupted run, 1 when the trace (this process's or a
    /// descendant's) could not be written whole and the guest exited 0.
    pub fn exit_status(&self) -> i32 {
        let guest = match &self.stop {
            StopReason::Exit(crate::abi::ExitKind::Exited(code)) => *code,
            StopReason::Exit(crate::abi::ExitKind::Killed(sig)) => 128 + sig,
            StopReason::Fault { signal, .. } => 128 + signal,
            StopReason::Interrupted(sig) => 128 + sig,
            StopReason::Quit => 0,
            StopReason::Internal(_) => 1,
        };
        // A forked child's status is its guest's, which its guest parent
        // sees: trace trouble is counted for the run's first process.
        let descendant = crate::machine::fork::is_descendant();
        if guest == 0 && !descendant && (self.writer.error.is_some() || self.descendant_losses > 0)
        {
            1
        } else {
            guest
        }
    }
}

/// The text log stream. A log file is opened for appending, so that the
/// processes of a run (forked children, executed programs) add their
/// lines to it; only the first process of a run truncates it.
fn open_log(path: Option<&PathBuf>, truncate: bool) -> Result<OwnedFd, SetupError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dup = |fd: std::os::fd::BorrowedFd<'_>| -> Result<OwnedFd, SetupError> {
        fd.try_clone_to_owned().map_err(SetupError::LogStream)
    };
    match path {
        None => dup(std::io::stderr().as_fd()),
        // Share the stream (and its file offset) instead of reopening it,
        // so log lines and guest output interleave instead of overwriting.
        Some(p) if p.as_os_str() == "/dev/stdout" => dup(std::io::stdout().as_fd()),
        Some(p) if p.as_os_str() == "/dev/stderr" => dup(std::io::stderr().as_fd()),
        Some(p) => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(truncate)
            .custom_flags(libc::O_APPEND)
            .open(p)
            .map(OwnedFd::from)
            .map_err(|source| SetupError::LogFile {
                path: p.clone(),
                source,
            }),
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

/// The events the command line enables: from the start or by a rule.
fn configured_events(cfg: &RunConfig) -> EventSet {
    EventSet(cfg.trace_events.kinds().0 | cfg.rules.controlled().0)
}

/// Every event the run may record: the configured ones and (any of them
/// but the unavailable ones) those the monitor may enable.
fn possible_events(cfg: &RunConfig) -> EventSet {
    let mut set = configured_events(cfg);
    if cfg.monitor.is_some() {
        for kind in EventKind::ALL {
            set.set(kind, true);
        }
    }
    set
}

/// [`possible_events`] and, when the channel's events carry arguments
/// after arg1 (room for a name id), the names the guest may register.
fn recordable_events(cfg: &RunConfig, extra_args: usize) -> EventSet {
    let mut set = possible_events(cfg);
    let names = cfg.hypertrace.is_some() && extra_args > 0 && set.contains(EventKind::Hypertrace);
    set.set(EventKind::HypertraceName, names);
    set
}

/// Loads `cfg.program` and runs it to completion.
pub fn run(cfg: &RunConfig) -> Result<RunReport, SetupError> {
    Ok(load(cfg, None, true)?.run())
}

/// A loaded guest, ready to run.
pub struct Loaded {
    pub(crate) uc: crate::machine::Engine<'static>,
    pub(crate) entry: u64,
    monitor: Option<crate::monitor::Monitor>,
    gdb: Option<crate::gdb::GdbServer>,
    /// `-sched parallel`.
    parallel: bool,
}

/// Loads `cfg.program` into a new engine. Events also go to `handler`;
/// with `record_events` false they go only there.
/// Refuses to run on an engine other than the one this ht-user was built
/// with (a stray system libunicorn, or another build's patch series): its
/// missing patches would give wrong results, not errors.
fn check_engine() -> Result<(), SetupError> {
    let linked = unicorn_engine_sys::linked_patch_series();
    if linked == unicorn_engine_sys::PATCH_SERIES {
        Ok(())
    } else {
        Err(SetupError::EnginePatchSeries {
            linked,
            built: unicorn_engine_sys::PATCH_SERIES,
        })
    }
}

pub fn load(
    cfg: &RunConfig,
    handler: Option<Box<dyn crate::machine::handler::EventHandler>>,
    record_events: bool,
) -> Result<Loaded, SetupError> {
    check_engine()?;
    let parallel = parallel_scheduling(cfg, handler.is_some())?;
    let bytes =
        loader::read_image(&cfg.program, true).map_err(|source| SetupError::ReadProgram {
            path: cfg.program.clone(),
            source,
        })?;
    let info = loader::inspect(&cfg.program, &bytes)?;
    let abi = info.abi;
    let cpu = match &cfg.cpu {
        // A program the guest executed may be of another architecture
        // (an aarch64 program running an arm one): the model named for
        // the first does not apply to it.
        Some(name) if cfg.root_pid.is_some() => {
            crate::arch::cpu::find(abi, name).unwrap_or_else(|e| {
                tracing::debug!("{e}: the default model instead");
                abi.default_cpu_for(info.flags)
            })
        }
        Some(name) => crate::arch::cpu::find(abi, name)?,
        None => abi.default_cpu_for(info.flags),
    };
    let cpu_facts = abi.cpu_facts(cpu)?;

    let my_pid = std::process::id();
    let root_pid = cfg.root_pid.unwrap_or(my_pid);
    if my_pid == root_pid || cfg.loss_fd.is_some() {
        crate::machine::fork::share_loss_count(cfg.loss_fd);
    }
    let monitor =
        match &cfg.monitor {
            Some(addr) => Some(crate::monitor::Monitor::start(addr).map_err(|source| {
                SetupError::Monitor {
                    addr: addr.clone(),
                    source,
                }
            })?),
            None => None,
        };
    // Bound now: a port in use is an error before anything runs.
    let gdb = cfg
        .gdb
        .as_ref()
        .map(crate::gdb::GdbServer::bind)
        .transpose()?;
    let channel = match &cfg.hypertrace {
        // A program executed by a guest of this run uses the run's channel.
        Some(opts) if cfg.root_pid.is_some() && Channel::files_exist(opts) => Some(Channel::adopt(
            opts,
            abi.endian(),
            my_pid == root_pid,
            cfg.channel_ids.as_deref(),
        )?),
        Some(opts) => {
            let channel = Channel::create(opts, abi.endian())?;
            if channel.took_over_abandoned {
                eprintln!(
                    "ht-user: warning: removed the channel files {}-* that a run which has \
                     ended left behind",
                    opts.base.display()
                );
            }
            Some(channel)
        }
        None => None,
    };
    let extra_args = channel
        .as_ref()
        .map_or(0, |c| c.layout.client_args as usize - 1);
    // Hypertrace events carry the thread's instruction and block counts
    // (engine patch 0023) when the channel asks for them (counters=on).
    let insn_counting = channel.is_some() && cfg.hypertrace.as_ref().is_some_and(|h| h.counters);

    let exe_path = std::fs::canonicalize(&cfg.program).unwrap_or_else(|_| cfg.program.clone());
    let mut process = Process::new(abi, exe_path.clone()).map_err(SetupError::Process)?;
    process.cpu = cpu;
    process.cpu_facts = cpu_facts;
    process.control_file = channel.as_ref().map(Channel::control_id);
    process.channel_data = channel.as_ref().map(Channel::data_file);
    if let Some(pairs) = &cfg.inherited_fds {
        process.fds = crate::kernel::FdTable::from_inherited(pairs);
    }
    // Signals ignored at the start stay ignored (execve keeps them, and
    // so does a shell starting a background job); so does the mask.
    let (ignored, blocked) = cfg
        .inherited_signals
        .unwrap_or((crate::signals::started_ignored(), 0));
    let to_guest = |mask: u64| {
        (1..=64u64)
            .filter(|h| mask & 1 << (h - 1) != 0)
            .map(|h| abi.guest_signal(h))
            .fold(0u64, |m, g| m | crate::kernel::signal::bit(g))
    };
    crate::syscall::set_ignored_signals(&mut process, to_guest(ignored));
    process.threads.current_mut().signals.mask = to_guest(blocked);
    for sig in
        (1..=64u64).filter(|&g| process.signals.ignored() & crate::kernel::signal::bit(g) != 0)
    {
        crate::signals::follow_guest(
            abi.host_signal(sig) as i32,
            crate::signals::Disposition::Ignore,
        );
    }

    process.sysroot = cfg.sysroot.clone();
    let exe_label = exe_path.display().to_string();
    let image =
        loader::load(&info, &bytes, &mut process.mem, None, &exe_label).map_err(|source| {
            SetupError::MapProgram {
                path: cfg.program.clone(),
                source,
            }
        })?;
    let interp = match &info.interp {
        Some(name) => {
            let path = loader::find_interpreter(&cfg.program, name, cfg.sysroot.as_deref())?;
            Some(loader::load_interpreter(
                &cfg.program,
                &path,
                abi,
                &mut process.mem,
            )?)
        }
        None => None,
    };
    abi.map_special_pages(&mut process.mem)?;
    process.brk = crate::kernel::Brk {
        start: image.brk_start,
        current: image.brk_start,
        mapped_end: image.brk_start,
    };
    let argv: Vec<Vec<u8>> = cfg.argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = cfg.env.iter().map(|e| e.as_bytes().to_vec()).collect();
    let execfn = cfg.program.clone().into_os_string().into_vec();
    let stack = loader::build_stack(
        abi,
        &process.cpu_facts,
        &mut process.mem,
        &image,
        interp.map_or(0, |i| i.bias),
        &execfn,
        &argv,
        &envp,
    )?;
    // A dynamic program starts in its interpreter.
    let entry = interp.map_or(image.entry, |i| i.entry);
    process.auxv = stack.auxv.clone();

    // The outputs are opened last, once nothing else can fail: a start
    // that fails leaves the previous log and trace as they were.
    let log = open_log(cfg.log_file.as_ref(), cfg.root_pid.is_none())?;
    let trace_info = TraceInfo::for_run(
        my_pid,
        extra_args as u32 + 1,
        abi.name(),
        &cfg.program,
        &cfg.argv,
        channel.as_ref().map(|c| c.layout.max_clients),
        ClockAnchor::now(),
    )
    .with_kinds(recordable_events(cfg, extra_args))
    .with_layout(cfg.trace_format)
    .with_counters(insn_counting)
    .with_exec_tb_insns();
    // Children write their binary traces next to it: an absolute path
    // keeps them there when the guest changes directory.
    let trace_base = cfg
        .trace_file
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    let lineage = Lineage::new(
        root_pid,
        log,
        cfg.log_file.is_some(),
        trace_base,
        trace_info,
        extra_args,
        cfg.exec_options.clone(),
    );
    // A guest at its process limit may execute programs that cannot start
    // threads: their trace is then written inline.
    let (recorder, writer, _) = lineage.start_recorder(my_pid, cfg.root_pid.is_some())?;

    let mut machine = Machine::new(
        abi,
        process,
        channel,
        (recorder, writer),
        lineage,
        cfg.trace_events.kinds(),
        cfg.strace,
    );
    machine.trace.rules = cfg.rules.clone();
    machine.trace.resident_hooks =
        EventSet(cfg.rules.controlled().0 & crate::machine::instrument::HOOKED.0);
    machine.trace.reconfigure_due = (machine.trace.enabled.0 | machine.trace.resident_hooks.0)
        & crate::machine::instrument::HOOKED.0
        != 0;
    machine.handler = handler;
    machine.trace.record_events = record_events;
    machine.sched = crate::machine::sched::Scheduler::new(crate::machine::sched::SchedOptions {
        parallel,
        ..cfg.sched
    });
    machine.trace.insn_counting = insn_counting;
    // Blocks are attributed to functions (ht-trace profile) through the
    // modules mapped for execution: reported when the command line traces
    // blocks (not for what the monitor might switch on).
    machine.trace.report_modules = configured_events(cfg).contains(EventKind::ExecTb);
    machine.report_new_modules();
    machine.trace.debug = cfg.debug;
    if cfg.debug.in_asm {
        machine.trace.disasm = Some(crate::machine::disasm::Disassembler::for_arch(abi.name())?);
    }
    if cfg.debug.needs_block_hook() {
        machine.trace.reconfigure_due = true;
    }
    if cfg.debug.page {
        // -d page: the memory map the program starts with.
        let maps = crate::kernel::procfs::maps(&machine.lock_process());
        let text = format!(
            "page layout at the start of {}:\n{}",
            cfg.program.display(),
            String::from_utf8_lossy(&maps).trim_end()
        );
        if let Some(r) = machine.trace.recorder.as_mut() {
            r.text(text);
        }
    }
    let mut uc = crate::machine::build::engine_for(machine)?;
    mem_engine::apply_pending(&mut uc)?;
    abi.init_registers(&mut uc, entry, stack.sp)?;

    if let (Some(monitor), false) = (&monitor, crate::signals::watcher_stops_engine()) {
        // Requests are served between blocks; the signal watcher stops the
        // engine for them. Without a watcher this hook does, at one load
        // per block.
        crate::machine::blocks::poll_monitor(&mut uc, monitor.attention())
            .map_err(SetupError::MonitorHook)?;
    }
    Ok(Loaded {
        uc,
        entry,
        monitor,
        gdb,
        parallel,
    })
}

/// Whether the run schedules its threads in parallel: by default, unless
/// something serves one engine between runs or takes every event of the
/// run (`-g`, `-monitor`, an event handler), which gets the serial
/// scheduler; `-sched parallel` with one of them is refused.
fn parallel_scheduling(cfg: &RunConfig, event_handler: bool) -> Result<bool, SetupError> {
    if !cfg.sched.parallel {
        return Ok(false);
    }
    let with = if cfg.gdb.is_some() {
        Some("-g")
    } else if cfg.monitor.is_some() {
        Some("-monitor")
    } else if event_handler {
        Some("an event handler")
    } else {
        None
    };
    match with {
        Some(with) if cfg.sched.chosen => Err(SetupError::ParallelWith(with)),
        Some(_) => Ok(false),
        None => Ok(true),
    }
}

impl Loaded {
    /// Where gdb connects, if `-g` was given.
    pub fn gdb_address(&self) -> Option<&crate::gdb::GdbAddr> {
        self.gdb.as_ref().map(|g| g.addr())
    }

    /// Where the monitor listens, if there is one.
    pub fn monitor_description(&self) -> Option<String> {
        self.monitor.as_ref().map(|m| m.local_description())
    }

    /// Runs the guest to its end; whatever way it stops, the trace is
    /// flushed and the channel files are removed.
    pub fn run(self) -> RunReport {
        let Loaded {
            mut uc,
            entry,
            mut monitor,
            gdb,
            parallel,
        } = self;
        crate::signals::arm(&uc);
        let result = match &gdb {
            Some(server) => crate::gdb::serve(&mut uc, entry, &mut monitor, server),
            None if parallel => {
                // A child forked from another thread ends on that thread.
                crate::machine::parallel::on_forked_thread_end(|uc| {
                    conclude(finish_run(uc, Ok(())))
                });
                crate::machine::parallel::start(&mut uc)
                    .and_then(|()| crate::machine::parallel::run(&mut uc, entry))
            }
            None => crate::machine::sched::run(&mut uc, entry, &mut monitor),
        };
        crate::signals::disarm();
        crate::monitor::forget_in_child(&mut uc, &mut monitor);
        finish_run(uc, result)
    }
}

/// The report of a process whose engine `uc` stopped with `result`: how
/// it ended, its trace finished.
fn finish_run(mut uc: crate::machine::Engine<'static>, result: Result<(), uc_error>) -> RunReport {
    let abi = uc.get_data().abi;
    let pc = abi.pc(&uc);
    let stop = match (uc.get_data_mut().stop.take(), result) {
        (Some(reason), _) => reason,
        // A refused TLB fill surfaces as EXCEPTION: the page fault of Linux.
        (None, Err(uc_error::EXCEPTION)) if uc.get_data().fault.last_fault.is_some() => {
            StopReason::Fault {
                signal: libc::SIGSEGV,
                pc,
                page: uc.get_data().fault.last_fault.map(|(page, _)| page),
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
    if let Some(parent) = m.vfork_parent.take() {
        // A vfork child ending without exec: its parent resumes now.
        parent.send(&m.lock_process().mem);
    }
    if let Some(handler) = m.handler.as_mut() {
        handler.finish();
    }
    let recorder = m
        .trace
        .recorder
        .take()
        .expect("recorder present until shutdown");
    let writer = m
        .trace
        .writer
        .take()
        .expect("writer present until shutdown");
    // The engine goes before the writer finishes: the writer must not
    // stop it any more.
    recorder.set_nudge(None);
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
    let ignored_stores = channel.as_ref().map_or(0, |c| c.ignored_stores());
    drop(channel);
    use crate::machine::fork;
    let descendant = fork::is_descendant();
    if descendant && fork::own_trace_lost() {
        fork::report_descendant_loss(events_recorded);
    } else if descendant && writer.error.is_some() {
        fork::report_descendant_loss(writer.events_lost);
    }
    RunReport {
        stop,
        events_recorded,
        ignored_stores,
        writer,
        sched,
        descendant_losses: if descendant {
            0
        } else {
            fork::descendant_losses()
        },
    }
}

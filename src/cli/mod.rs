// SPDX-License-Identifier: GPL-2.0-or-later
//! qemu-user style command line: options before the program, single-dash
//! long options (`-hypertrace`, `-strace`) as well as `--` forms, and
//! QEMU's environment variables.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::Parser;

use crate::hypertrace::ChannelOptions;
use crate::runner::RunConfig;
use crate::trace::TraceEvents;

mod args;
mod docs;
#[cfg(test)]
mod tests;

use args::{
    env_edits, exec_options, log_file_for_pid, normalise, rule_options, unknown_single_dash_option,
};
pub use docs::{
    completions, help_text, ht_user_completions, ht_user_manpage, manpage, wants_cpu_help,
    wants_debug_help, wants_docs, wants_trace_help, DocError, DocRequest,
};

/// The variable the guest library reads when `qemu_hypertrace_init` is
/// given no base: ht-user sets it to the channel's base for the guest.
pub const HYPERTRACE_BASE_VARIABLE: &str = "QEMU_HYPERTRACE_BASE";

#[derive(Parser, Debug)]
#[command(
    name = "ht-user",
    version,
    about = "Run a Linux program of another (or the same) architecture with a hypertrace channel",
    long_about = "Run a Linux program of another (or the same) architecture with a hypertrace \
                  channel. With -hypertrace, the guest can emit trace events with one memory \
                  store; each becomes a host-timestamped guest_hypertrace line in QEMU's log \
                  format.",
    after_help = "Environment: QEMU_STRACE (like -strace), QEMU_LOG_FILENAME (like -D), QEMU_LOG (like -d), \
                  QEMU_LD_PREFIX (like -L), QEMU_CPU (like -cpu), QEMU_SET_ENV (like -E), \
                  QEMU_UNSET_ENV (like -U), QEMU_ARGV0 (like -0), QEMU_GDB (like -g).\nExample: ht-user -hypertrace /tmp/ht ./guest /tmp/ht\n\
                  Shell completions: ht-user --completions bash|zsh|fish|elvish|powershell; \
                  manual page: ht-user --manpage"
)]
struct Cli {
    /// Create the hypertrace channel files BASE-config, BASE-data, BASE-control.
    #[arg(
        long,
        value_name = "[path=]BASE[,max-clients=N][,args=N][,counters=on|off]"
    )]
    hypertrace: Option<String>,

    /// Enable trace events, QEMU syntax (repeatable).
    #[arg(long = "trace", value_name = "[enable=]PATTERN|events=FILE")]
    trace: Vec<String>,

    /// When a hypertrace event matches, switch trace events on or off, e.g.
    /// 'arg1=1:enable guest_mem_before_exec' (repeatable, applied in order).
    #[arg(long = "hypertrace-on", value_name = "MATCH:ACTION[;ACTION]")]
    hypertrace_on: Vec<String>,

    /// Enable PATTERN only inside regions (arg1=1 opens, arg1=0 closes,
    /// or the guest's regions named TEXT; nested regions count), e.g.
    /// 'guest_mem_before_exec' or 'guest_exec_tb,name=compute' (repeatable).
    #[arg(
        long = "hypertrace-region",
        value_name = "PATTERN[,open=V][,close=V][,client=N][,name=TEXT]"
    )]
    hypertrace_region: Vec<String>,

    /// Serve QEMU's human monitor (trace-event, info trace-events, info
    /// registers, quit) on a socket: unix:PATH,server,nowait or
    /// tcp:[HOST]:PORT,server,nowait (HOST defaults to 127.0.0.1).
    #[arg(
        long,
        value_name = "unix:PATH,server,nowait|tcp:HOST:PORT,server,nowait"
    )]
    monitor: Option<String>,

    /// Wait for gdb on PORT (127.0.0.1), HOST:PORT or a Unix socket PATH
    /// before the first instruction (QEMU_GDB too).
    #[arg(short = 'g', value_name = "PORT|HOST:PORT|PATH")]
    gdb: Option<String>,

    /// Write the trace log (events, -strace) to FILE instead of stderr.
    #[arg(short = 'D', value_name = "FILE")]
    log_file: Option<PathBuf>,

    /// Log ITEMs as qemu-user does: in_asm, exec, cpu, page, strace,
    /// unimp, guest_errors, trace:PATTERN ('-d help' lists them; QEMU_LOG
    /// too).
    #[arg(short = 'd', value_name = "ITEM[,...]")]
    debug: Option<String>,

    /// Write the events to FILE as a binary trace (for ht-trace). Without -D,
    /// the text log then carries only -strace lines.
    #[arg(long = "trace-file", value_name = "FILE")]
    trace_file: Option<PathBuf>,

    /// Layout of the binary trace's records: compact (chunks of
    /// delta-encoded records, format 2.0; the default) or fixed (fixed-size
    /// records, format 1.1, for numpy.frombuffer).
    #[arg(
        long = "trace-format",
        value_name = "compact|fixed",
        default_value = "compact"
    )]
    trace_format: crate::trace::file::Layout,

    /// Set an environment variable for the guest (repeatable, comma lists allowed).
    #[arg(short = 'E', value_name = "VAR=VALUE")]
    set_env: Vec<String>,

    /// Remove an environment variable for the guest (repeatable, comma lists allowed).
    #[arg(short = 'U', value_name = "VAR")]
    unset_env: Vec<String>,

    /// Sysroot of the guest: the interpreter of a dynamically linked program and
    /// the guest's absolute paths are looked up under PATH first, then on the host.
    #[arg(short = 'L', value_name = "PATH")]
    ld_prefix: Option<PathBuf>,

    /// CPU model to emulate, as QEMU names it (any case); '-cpu help'
    /// lists each architecture's models and its default.
    #[arg(long = "cpu", value_name = "MODEL")]
    cpu: Option<String>,

    /// Use ARGV0 as the guest's argv[0].
    #[arg(short = '0', value_name = "ARGV0")]
    argv0: Option<OsString>,

    /// Log every system call with its arguments and result.
    #[arg(long)]
    strace: bool,

    /// Record what `ht-trace profile` needs inside every region (the
    /// seed's arg1=1 .. arg1=0 and the guest's named regions): the blocks
    /// executed and the system calls.
    #[arg(long = "hypertrace-profile")]
    hypertrace_profile: bool,

    /// Internal (a guest's execve): the pid of the run's first ht-user.
    #[arg(long = "ht-root-pid", hide = true)]
    ht_root_pid: Option<u32>,

    /// Internal (a guest's execve): the descriptor of the run's count of
    /// events its processes lost.
    #[arg(long = "ht-loss-fd", hide = true)]
    ht_loss_fd: Option<i32>,

    /// Internal (a guest's execve): the channel files' identities,
    /// DEV:INO for -data, -control and -config.
    #[arg(long = "ht-channel-ids", hide = true)]
    ht_channel_ids: Option<String>,

    /// Internal (a guest's execve): guest descriptors passed on, GUEST:HOST,...
    #[arg(long = "ht-fds", hide = true)]
    ht_fds: Option<String>,

    /// Internal (a guest's execve): ignored and blocked guest signals, hex.
    #[arg(long = "ht-signals", hide = true)]
    ht_signals: Option<String>,

    /// Internal (a guest's execve): a guest environment variable that must
    /// not be ht-user's own (the host's dynamic loader reads LD_*).
    #[arg(long = "ht-env", hide = true)]
    ht_env: Vec<OsString>,
    /// Guest thread scheduling: parallel (the default: every thread on its
    /// own host thread; serial where -g or -monitor is given) or serial
    /// (one thread at a time, time slices in translated blocks, a seed
    /// that varies their lengths; deterministic).
    #[arg(long, value_name = "parallel|[serial,][slice=BLOCKS][,seed=N]")]
    sched: Option<String>,

    /// The guest executable.
    #[arg(value_name = "PROGRAM")]
    program: PathBuf,

    /// Arguments passed to the guest.
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<OsString>,
}

/// Options that take a value, by name without dashes.
const WITH_VALUE: &[&str] = &[
    "d",
    "g",
    "hypertrace",
    "hypertrace-on",
    "hypertrace-region",
    "monitor",
    "trace",
    "trace-file",
    "trace-format",
    "sched",
    "cpu",
    "D",
    "E",
    "U",
    "L",
    "0",
];
/// Long options QEMU spells with one dash.
const SINGLE_DASH_LONG: &[&str] = &[
    "hypertrace",
    "hypertrace-profile",
    "hypertrace-on",
    "hypertrace-region",
    "monitor",
    "trace",
    "trace-file",
    "trace-format",
    "strace",
    "sched",
    "cpu",
    "help",
    "version",
];

/// An option value clap took but ht-user cannot use, as clap reports it.
fn bad(why: impl std::fmt::Display) -> clap::Error {
    clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{why}\n"))
}

/// The error for an option ht-user does not have.
fn unknown_option(option: &str) -> clap::Error {
    clap::Error::raw(
        clap::error::ErrorKind::UnknownArgument,
        format!(
            "unknown option '{option}' (ht-user's options: ht-user --help)\n\n\
             Usage: ht-user [OPTIONS] <PROGRAM> [ARGS]...\n"
        ),
    )
}

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

pub fn parse(args: Vec<OsString>) -> Result<(RunConfig, Vec<String>), clap::Error> {
    let normalised = normalise(args);
    if let Some(option) = unknown_single_dash_option(&normalised) {
        return Err(unknown_option(&option));
    }
    let cli = Cli::try_parse_from(normalised.iter()).map_err(|e| {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        // `--foo` is named as `-foo` is, not as a value clap could not
        // place.
        match (e.kind(), e.get(ContextKind::InvalidArg)) {
            (ErrorKind::UnknownArgument, Some(ContextValue::String(arg)))
                if arg.starts_with('-') =>
            {
                unknown_option(arg.split('=').next().unwrap_or(arg))
            }
            _ => e,
        }
    })?;
    let mut warnings = Vec::new();

    let hypertrace = cli
        .hypertrace
        .as_deref()
        .map(ChannelOptions::parse)
        .transpose()
        .map_err(bad)?;
    let sched = cli
        .sched
        .as_deref()
        .map(crate::machine::sched::SchedOptions::parse)
        .transpose()
        .map_err(bad)?
        .unwrap_or_default();
    let mut trace_events = TraceEvents::default();
    if hypertrace.is_some() {
        trace_events.set("guest_hypertrace", true);
    }
    for t in &cli.trace {
        warnings.extend(trace_events.apply_option(t).map_err(bad)?);
    }
    // -d (else QEMU_LOG, as in qemu-user): log items, and trace patterns.
    let debug_text = cli
        .debug
        .clone()
        .or_else(|| std::env::var("QEMU_LOG").ok().filter(|v| !v.is_empty()));
    let (debug, debug_patterns) = match &debug_text {
        Some(text) => crate::trace::debug::DebugItems::parse(text).map_err(bad)?,
        None => Default::default(),
    };
    for pattern in &debug_patterns {
        warnings.extend(trace_events.apply_option(pattern).map_err(bad)?);
    }
    let mut rules = crate::trace::rules::Rules::default();
    let rule_args = rule_options(&normalised);
    if rule_args.len() != cli.hypertrace_on.len() + cli.hypertrace_region.len() {
        // A spelling clap accepts but the scan above does not see.
        return Err(bad(
            "write -hypertrace-on and -hypertrace-region with their value as the next argument",
        ));
    }
    for (is_on, spec) in rule_args {
        if is_on {
            rules.add_on(&spec).map_err(bad)?;
        } else {
            rules.add_region(&spec).map_err(bad)?;
        }
    }
    if cli.hypertrace_profile {
        rules.add_profile();
    }
    if !rules.is_empty() && hypertrace.is_none() {
        warnings.push(
            "-hypertrace-on/-hypertrace-region/-hypertrace-profile without -hypertrace: no event will trigger them"
                .to_string(),
        );
    }

    // -E and -U apply in command-line order, as in qemu-user; clap keeps
    // each option's values but not their interleaving.
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    // The guest library finds the channel without being told twice
    // (`qemu_hypertrace_init(NULL)`); absolute, so that a guest that
    // changes directory still finds it. -E and -U below can change it.
    if let (Some(h), None) = (&hypertrace, cli.ht_root_pid) {
        let base = std::path::absolute(&h.base).unwrap_or_else(|_| h.base.clone());
        env.retain(|(k, _)| k != HYPERTRACE_BASE_VARIABLE);
        env.push((HYPERTRACE_BASE_VARIABLE.into(), base.into_os_string()));
    }
    let edits = env_edits(&normalised);
    debug_assert_eq!(edits.len(), cli.set_env.len() + cli.unset_env.len());
    // QEMU_SET_ENV and QEMU_UNSET_ENV act as -E and -U given before the
    // command line's, as in qemu-user; a program the guest executes gets
    // the environment its execve gave.
    let from_variables = [("QEMU_SET_ENV", true), ("QEMU_UNSET_ENV", false)]
        .into_iter()
        .filter(|_| cli.ht_root_pid.is_none())
        .filter_map(|(name, is_set)| {
            let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
            Some((is_set, value))
        });
    let edits: Vec<(bool, String)> = from_variables.chain(edits).collect();
    for (is_set, list) in edits {
        for item in list.split(',') {
            if is_set {
                let (k, v) = item
                    .split_once('=')
                    .ok_or_else(|| bad(format!("-E expects VAR=VALUE, got '{item}'")))?;
                env.retain(|(key, _)| key != k);
                env.push((k.into(), v.into()));
            } else {
                env.retain(|(k, _)| k != item);
            }
        }
    }
    for item in &cli.ht_env {
        let bytes = item.as_bytes();
        if let Some(eq) = bytes.iter().position(|&b| b == b'=') {
            let k = std::ffi::OsStr::from_bytes(&bytes[..eq]).to_owned();
            let v = std::ffi::OsStr::from_bytes(&bytes[eq + 1..]).to_owned();
            env.retain(|(key, _)| *key != k);
            env.push((k, v));
        }
    }
    let env = env
        .into_iter()
        .map(|(k, v)| {
            let mut s = k;
            s.push("=");
            s.push(v);
            s
        })
        .collect();

    // -0 wins over QEMU_ARGV0 (only for the program ht-user starts).
    let argv0 = cli.argv0.or_else(|| {
        std::env::var_os("QEMU_ARGV0").filter(|v| !v.is_empty() && cli.ht_root_pid.is_none())
    });
    let mut argv = vec![argv0.unwrap_or_else(|| cli.program.clone().into_os_string())];
    argv.extend(cli.args);
    let log_file = cli
        .log_file
        .or_else(|| std::env::var_os("QEMU_LOG_FILENAME").map(PathBuf::from))
        .map(|path| log_file_for_pid(path, std::process::id()))
        .transpose()
        .map_err(bad)?;
    if cli.trace_file.as_deref() == Some(std::path::Path::new("-")) {
        // Standard output is the guest's: a binary trace there would be
        // mixed with what the program prints.
        return Err(bad(
            "-trace-file -: standard output is the guest's (its output and the trace \
             would mix); give a file",
        ));
    }
    if cli.trace_file.is_some() && hypertrace.is_none() && trace_events.kinds().0 == 0 {
        warnings.push("-trace-file without -hypertrace: the trace will hold no events".to_string());
    }
    // -L wins over QEMU_LD_PREFIX, as in qemu-user; an empty value is none.
    // Made absolute: the guest may change its working directory.
    let mut sysroot = cli
        .ld_prefix
        .or_else(|| std::env::var_os("QEMU_LD_PREFIX").map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    if let Some(root) = sysroot.as_ref().filter(|p| !p.is_dir()) {
        warnings.push(format!(
            "sysroot {} is not a directory; ignored",
            root.display()
        ));
        sysroot = None;
    }
    let inherited_fds = cli
        .ht_fds
        .as_deref()
        .map(crate::machine::exec::parse_fds)
        .transpose()
        .map_err(bad)?;
    // -cpu wins over QEMU_CPU; an empty value is none.
    let cpu = cli
        .cpu
        .or_else(|| std::env::var("QEMU_CPU").ok())
        .filter(|c| !c.is_empty());
    let exec_options = exec_options(
        &normalised,
        hypertrace.as_ref(),
        log_file.as_ref(),
        sysroot.as_ref(),
        cpu.as_deref(),
    );
    let channel_ids = cli
        .ht_channel_ids
        .as_deref()
        .map(crate::hypertrace::parse_file_ids)
        .transpose()
        .map_err(bad)?;
    let inherited_signals = cli
        .ht_signals
        .as_deref()
        .map(crate::machine::exec::parse_signals)
        .transpose()
        .map_err(bad)?;
    Ok((
        RunConfig {
            root_pid: cli.ht_root_pid,
            loss_fd: cli.ht_loss_fd,
            channel_ids,
            inherited_fds,
            inherited_signals,
            exec_options,
            program: cli.program,
            argv,
            env,
            hypertrace,
            trace_events,
            rules,
            monitor: cli
                .monitor
                .as_deref()
                .map(crate::monitor::parse_spec)
                .transpose()
                .map_err(|e| bad(format!("-monitor: {e}")))?,
            gdb: cli
                .gdb
                .or_else(|| std::env::var("QEMU_GDB").ok())
                .filter(|g| !g.is_empty() && cli.ht_root_pid.is_none())
                .as_deref()
                .map(crate::gdb::GdbAddr::parse)
                .transpose()
                .map_err(bad)?,
            log_file,
            trace_file: cli.trace_file,
            trace_format: cli.trace_format,
            strace: cli.strace || env_flag("QEMU_STRACE") || debug.strace,
            debug,
            sysroot,
            sched,
            cpu,
        },
        warnings,
    ))
}

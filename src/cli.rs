// SPDX-License-Identifier: GPL-2.0-or-later
//! qemu-user style command line: options before the program, single-dash
//! long options (`-hypertrace`, `-strace`) as well as `--` forms, and
//! QEMU's environment variables.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::Parser;

use crate::hypertrace::ChannelOptions;
use crate::runner::RunConfig;
use crate::trace::TraceEvents;

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
    /// Guest thread scheduling: time slice in translated blocks, and a seed
    /// that varies slice lengths (default: fixed slices, deterministic).
    #[arg(long, value_name = "[slice=BLOCKS][,seed=N]")]
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

/// Rewrites qemu-style arguments into the form clap parses: `-strace` to
/// `--strace`, and a `--` before the program so its own options stay its.
fn normalise(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut iter = args.into_iter();
    if let Some(first) = iter.next() {
        out.push(first);
    }
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str().map(str::to_string) else {
            // An option whose value (joined with '=') is not UTF-8: what
            // an executed program's ht-user gets for the guest's argv[0]
            // or environment (`-0=...`, `--ht-env=...`).
            let bytes = arg.as_bytes();
            if bytes.starts_with(b"-") && bytes.contains(&b'=') {
                out.push(arg);
                continue;
            }
            out.push("--".into());
            out.push(arg);
            break;
        };
        if text == "--" {
            out.push(arg);
            break;
        }
        if !text.starts_with('-') || text == "-" {
            out.push("--".into());
            out.push(arg);
            break;
        }
        let bare = text.trim_start_matches('-');
        let name = bare.split('=').next().unwrap_or(bare);
        let rewritten = if !text.starts_with("--") && SINGLE_DASH_LONG.contains(&name) {
            format!("-{text}")
        } else {
            text.clone()
        };
        let attached =
            bare.contains('=') || (!text.starts_with("--") && name.len() == 1 && bare.len() > 1);
        if WITH_VALUE.contains(&name) && !attached {
            // Joined with '=' so a value starting with '-' stays a value.
            match iter.next() {
                Some(value) => {
                    let mut joined = OsString::from(format!("{rewritten}="));
                    joined.push(value);
                    out.push(joined);
                }
                None => out.push(rewritten.into()),
            }
        } else {
            out.push(rewritten.into());
        }
    }
    out.extend(iter);
    out
}

/// The -hypertrace-on (true) and -hypertrace-region (false) values of
/// normalised arguments, in command-line order.
fn rule_options(normalised: &[OsString]) -> Vec<(bool, String)> {
    let mut rules = Vec::new();
    for arg in normalised.iter().skip(1) {
        // Not UTF-8: another option's value (`-0`, `-D`), never a rule.
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        for (prefix, is_on) in [("--hypertrace-on=", true), ("--hypertrace-region=", false)] {
            if let Some(value) = text.strip_prefix(prefix) {
                rules.push((is_on, value.to_string()));
            }
        }
    }
    rules
}

/// The -E (true) and -U (false) values of normalised arguments, in order.
fn env_edits(normalised: &[OsString]) -> Vec<(bool, String)> {
    let mut edits = Vec::new();
    for arg in normalised.iter().skip(1) {
        // Not UTF-8: another option's value (`-0`, `-D`); clap refuses
        // such -E and -U values.
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        for (prefix, is_set) in [("-E", true), ("-U", false)] {
            if let Some(value) = text.strip_prefix(prefix) {
                edits.push((is_set, value.strip_prefix('=').unwrap_or(value).to_string()));
            }
        }
    }
    edits
}

/// The options of normalised arguments to give an ht-user that runs a
/// program the guest executes: paths absolute (the guest may have changed
/// directory), without -E, -U and -0 (the guest's execve gives argv and
/// environment) and without the internal ones; the CPU model as chosen
/// (from -cpu or QEMU_CPU).
fn exec_options(
    normalised: &[OsString],
    hypertrace: Option<&ChannelOptions>,
    log_file: Option<&PathBuf>,
    sysroot: Option<&PathBuf>,
    cpu: Option<&str>,
) -> Vec<OsString> {
    let abs = |v: &OsStr| -> OsString {
        if v.is_empty() {
            return OsString::new();
        }
        std::path::absolute(v)
            .map(PathBuf::into_os_string)
            .unwrap_or_else(|_| v.to_owned())
    };
    let mut out = Vec::new();
    let mut saw_log = false;
    // Bytes, not text: a value may be any bytes (`-D` and `-0` take
    // paths and argv[0]), and the options after it still count.
    for arg in normalised.iter().skip(1) {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            break;
        }
        let long = bytes.starts_with(b"--");
        let bare = &bytes[bytes.iter().take_while(|&&b| b == b'-').count()..];
        // Short options may carry their value attached (`-Dfile`, `-D=file`).
        let (name, value) = if long || bare.is_empty() {
            match bare.iter().position(|&b| b == b'=') {
                Some(i) => (&bare[..i], Some(&bare[i + 1..])),
                None => (bare, None),
            }
        } else {
            let first = match bare[0] {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => 1,
            };
            let (n, rest) = bare.split_at(first.min(bare.len()));
            let rest = rest.strip_prefix(b"=").unwrap_or(rest);
            (n, (!rest.is_empty()).then_some(rest))
        };
        let name = std::str::from_utf8(name).unwrap_or("");
        let value = value.map(OsStr::from_bytes);
        match (name, value) {
            // The monitor is served by the run's first process (its
            // socket cannot be bound twice); -L is given as checked below.
            // gdb debugs the program it started, not those it executes.
            ("E" | "U" | "0" | "L" | "cpu" | "monitor" | "g", _) => {}
            (
                "ht-root-pid" | "ht-fds" | "ht-env" | "ht-signals" | "ht-channel-ids"
                | "ht-loss-fd",
                _,
            ) => {}
            ("hypertrace", _) => {
                if let Some(h) = hypertrace {
                    let mut o = OsString::from("--hypertrace=path=");
                    o.push(abs(h.base.as_os_str()));
                    o.push(format!(",max-clients={},args={}", h.max_clients, h.args));
                    if h.counters {
                        o.push(",counters=on");
                    }
                    out.push(o);
                }
            }
            ("D", Some(v)) => {
                saw_log = true;
                let mut o = OsString::from("-D=");
                o.push(abs(v));
                out.push(o);
            }
            ("trace-file", Some(v)) => {
                let mut o = OsString::from("--trace-file=");
                o.push(abs(v));
                out.push(o);
            }
            ("trace", Some(v)) => {
                let mut o = OsString::from("--trace=");
                match v.as_bytes().strip_prefix(b"events=") {
                    Some(file) => {
                        o.push("events=");
                        o.push(abs(OsStr::from_bytes(file)));
                    }
                    None => o.push(v),
                }
                out.push(o);
            }
            _ => out.push(arg.clone()),
        }
    }
    // A log named by QEMU_LOG_FILENAME must not move with the directory.
    if let (false, Some(p)) = (saw_log, log_file) {
        let mut o = OsString::from("-D=");
        o.push(abs(p.as_os_str()));
        out.push(o);
    }
    // The sysroot as checked (absolute), from -L or QEMU_LD_PREFIX.
    if let Some(root) = sysroot {
        let mut o = OsString::from("-L=");
        o.push(root);
        out.push(o);
    }
    if let Some(model) = cpu {
        out.push(format!("--cpu={model}").into());
    }
    out
}

/// The first option of normalised arguments that is spelled with one dash
/// and is none of ht-user's (`-seed`, `-one-insn-per-tb`, `-plugin`): clap would
/// read `-seed` as the flags `-s -e -e -d` and name the wrong one.
fn unknown_single_dash_option(normalised: &[OsString]) -> Option<String> {
    normalised
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .filter(|a| a.starts_with('-') && !a.starts_with("--") && a.len() > 1)
        .find(|a| {
            !matches!(
                a.as_bytes()[1],
                b'D' | b'd' | b'g' | b'E' | b'U' | b'L' | b'0' | b'h' | b'V'
            ) || (matches!(a.as_bytes()[1], b'h' | b'V') && a.len() > 2)
        })
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
}

/// `-D` and QEMU_LOG_FILENAME as qemu-user reads them: one `%d` in the
/// name becomes the process id; any other `%` is an error.
fn log_file_for_pid(path: PathBuf, pid: u32) -> Result<PathBuf, String> {
    let Some(text) = path.to_str() else {
        return Ok(path);
    };
    match text.find('%') {
        None => Ok(path),
        Some(at) if text[at..].starts_with("%d") && !text[at + 2..].contains('%') => Ok(
            PathBuf::from(format!("{}{pid}{}", &text[..at], &text[at + 2..])),
        ),
        Some(_) => Err(format!(
            "-D {text}: bad log file name: only one %d (the process id) is allowed"
        )),
    }
}

/// Whether the command line asks for the list of trace events:
/// `-trace help` (or `?`), which needs no program, as in qemu-user.
pub fn wants_trace_help(args: &[OsString]) -> bool {
    normalise(args.to_vec())
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .filter_map(|a| a.strip_prefix("--trace="))
        .any(|value| matches!(value, "help" | "?"))
}

/// Whether the command line (or QEMU_LOG) asks for the list of `-d`
/// items: `-d help`, which needs no program.
pub fn wants_debug_help(args: &[OsString]) -> bool {
    let from_args = normalise(args.to_vec())
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str().map(str::to_string))
        .filter_map(|a| a.strip_prefix("-d=").map(str::to_string))
        .last();
    let value = from_args.or_else(|| std::env::var("QEMU_LOG").ok());
    value.is_some_and(|v| v.split(',').any(|i| matches!(i.trim(), "help" | "?")))
}

/// Whether the command line (or QEMU_CPU) asks for the list of CPU
/// models: `-cpu help` (or `?`), which needs no program, as in qemu-user.
pub fn wants_cpu_help(args: &[OsString]) -> bool {
    let normalised = normalise(args.to_vec());
    let from_args = normalised
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .filter_map(|a| a.strip_prefix("--cpu="))
        .last();
    match from_args {
        Some(value) => crate::arch::cpu::is_help(value),
        None => std::env::var("QEMU_CPU").is_ok_and(|v| crate::arch::cpu::is_help(&v)),
    }
}

/// What `ht-user --completions SHELL` or `ht-user --manpage` asks for,
/// when it is the whole command line.
pub enum DocRequest {
    Completions(String),
    Manpage,
}

pub fn wants_docs(args: &[OsString]) -> Option<DocRequest> {
    let words: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
    match words.as_slice() {
        ["--completions" | "-completions", shell] => {
            Some(DocRequest::Completions(shell.to_string()))
        }
        ["--manpage" | "-manpage"] => Some(DocRequest::Manpage),
        _ => None,
    }
}

/// The shell completion script for `command` (named `name`), for `shell`
/// (bash, zsh, fish, elvish, powershell).
pub fn completions(
    mut command: clap::Command,
    name: &str,
    shell: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    use clap_complete::Shell;
    let shell: Shell = shell
        .parse()
        .map_err(|_| format!("unknown shell '{shell}' (bash, zsh, fish, elvish, powershell)"))?;
    clap_complete::generate(shell, &mut command, name, out);
    Ok(())
}

/// ht-user's completion script: the options as clap parses them (both
/// `-hypertrace` and `--hypertrace` work on the command line).
pub fn ht_user_completions(shell: &str, out: &mut dyn std::io::Write) -> Result<(), String> {
    use clap::CommandFactory;
    completions(Cli::command(), "ht-user", shell, out)
}

/// `command`'s manual page (roff, section 1).
pub fn manpage(command: clap::Command) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .map_err(|e| format!("cannot render the manual page: {e}"))?;
    Ok(out)
}

/// ht-user's manual page, with the options spelled as qemu-user users
/// write them (`-hypertrace`, as in the help).
pub fn ht_user_manpage() -> Result<Vec<u8>, String> {
    use clap::CommandFactory;
    let page = String::from_utf8(manpage(Cli::command())?).map_err(|e| e.to_string())?;
    let mut fixed = page;
    for name in SINGLE_DASH_LONG {
        // roff writes each dash as `\-`.
        fixed = fixed.replace(&format!("\\-\\-{name}"), &format!("\\-{name}"));
    }
    Ok(fixed.into_bytes())
}

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Parses the command line into a run configuration. Errors carry clap's
/// formatted message (and its exit code for --help/--version).
/// For clap's help "error" (`-h`, `--help`): the help as qemu-user users
/// write the options, `-hypertrace` where clap prints `--hypertrace` (both
/// spellings are accepted), short or long as asked.
pub fn help_text(e: &clap::Error) -> Option<String> {
    use clap::CommandFactory;
    if e.kind() != clap::error::ErrorKind::DisplayHelp {
        return None;
    }
    let mut cmd = Cli::command();
    let help = if e.to_string().contains(HELP_LONG_MARK) {
        cmd.render_long_help()
    } else {
        cmd.render_help()
    };
    Some(
        help.to_string()
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                let clap_own = trimmed.starts_with("--help") || trimmed.starts_with("--version");
                match trimmed.strip_prefix('-') {
                    Some(single) if trimmed.starts_with("--") && !clap_own => {
                        format!("  {single}\n")
                    }
                    _ => format!("{line}\n"),
                }
            })
            .collect(),
    )
}

/// A phrase only the long help (`--help`) has: the second sentence of
/// `long_about`.
const HELP_LONG_MARK: &str = "With -hypertrace, the guest can emit";

pub fn parse(args: Vec<OsString>) -> Result<(RunConfig, Vec<String>), clap::Error> {
    let normalised = normalise(args);
    if let Some(option) = unknown_single_dash_option(&normalised) {
        return Err(clap::Error::raw(
            clap::error::ErrorKind::UnknownArgument,
            format!(
                "unknown option '{option}' (ht-user's options: ht-user --help)\n\n\
                 Usage: ht-user [OPTIONS] <PROGRAM> [ARGS]...\n"
            ),
        ));
    }
    let cli = Cli::try_parse_from(normalised.iter())?;
    let mut warnings = Vec::new();
    let bad =
        |msg: String| clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{msg}\n"));

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
            "write -hypertrace-on and -hypertrace-region with their value as the next argument"
                .to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn qemu_style_line_from_the_seed() {
        let (cfg, warnings) = parse(args(&[
            "ht-user",
            "-hypertrace",
            "/tmp/hypertrace",
            "-trace",
            "enable=guest*",
            "-D",
            "/dev/stdout",
            "prog",
            "/tmp/hypertrace",
        ]))
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            cfg.hypertrace.unwrap().base,
            PathBuf::from("/tmp/hypertrace")
        );
        assert!(cfg.trace_events.is_enabled("guest_hypertrace"));
        assert_eq!(cfg.log_file, Some(PathBuf::from("/dev/stdout")));
        assert_eq!(cfg.program, PathBuf::from("prog"));
        assert_eq!(cfg.argv, args(&["prog", "/tmp/hypertrace"]));
    }

    #[test]
    fn gdb_port_is_ours_and_not_the_executed_programs() {
        let (cfg, _) = parse(args(&["ht-user", "-g", "1234", "prog", "-g", "5"])).unwrap();
        assert_eq!(
            cfg.gdb,
            Some(crate::gdb::GdbAddr::Tcp("127.0.0.1:1234".parse().unwrap()))
        );
        assert_eq!(cfg.argv, args(&["prog", "-g", "5"]));
        assert!(cfg.exec_options.is_empty(), "{:?}", cfg.exec_options);
        let (cfg, _) = parse(args(&["ht-user", "-g/tmp/gdb.sock", "prog"])).unwrap();
        assert_eq!(
            cfg.gdb,
            Some(crate::gdb::GdbAddr::Unix("/tmp/gdb.sock".into()))
        );
        let err = parse(args(&["ht-user", "-g", "99999", "prog"])).unwrap_err();
        assert!(err.to_string().contains("99999"), "{err}");
    }

    #[test]
    fn guest_options_are_not_ours() {
        let (cfg, _) = parse(args(&[
            "ht-user", "--strace", "prog", "-strace", "--help", "-D", "x",
        ]))
        .unwrap();
        assert!(cfg.strace);
        assert_eq!(cfg.argv, args(&["prog", "-strace", "--help", "-D", "x"]));
        assert_eq!(cfg.log_file, None);
    }

    #[test]
    fn log_file_names_take_the_pid_as_qemu_does() {
        let name = |s: &str| log_file_for_pid(PathBuf::from(s), 42);
        assert_eq!(name("/tmp/log"), Ok(PathBuf::from("/tmp/log")));
        assert_eq!(name("/tmp/log.%d"), Ok(PathBuf::from("/tmp/log.42")));
        assert_eq!(name("/tmp/%d.log"), Ok(PathBuf::from("/tmp/42.log")));
        assert!(name("/tmp/log.%s").is_err());
        assert!(name("/tmp/%d.%d").is_err());
        assert!(name("/tmp/log%").is_err());
    }

    #[test]
    fn unknown_single_dash_options_are_named_whole() {
        let unknown = |list: &[&str]| unknown_single_dash_option(&normalise(args(list)));
        assert_eq!(
            unknown(&["ht-user", "-seed", "1", "prog"]),
            Some("-seed".into())
        );
        assert_eq!(
            unknown(&["ht-user", "-one-insn-per-tb", "prog"]),
            Some("-one-insn-per-tb".into())
        );
        assert_eq!(unknown(&["ht-user", "-hx", "prog"]), Some("-hx".into()));
        for known in [
            &[
                "ht-user", "-strace", "-D", "/tmp/l", "-Dlog", "-E", "A=1", "prog",
            ][..],
            &[
                "ht-user", "-0", "zero", "-L", "/", "-U", "X", "-cpu", "max", "prog",
            ],
            &["ht-user", "-h"],
            &["ht-user", "-g", "1234", "prog"],
            &["ht-user", "prog", "-seed", "-g"],
        ] {
            assert_eq!(unknown(known), None, "{known:?}");
        }
    }

    #[test]
    fn trace_help_is_asked_for() {
        assert!(wants_trace_help(&args(&["ht-user", "-trace", "help"])));
        assert!(wants_trace_help(&args(&["ht-user", "-trace", "?", "prog"])));
        assert!(!wants_trace_help(&args(&[
            "ht-user", "-trace", "guest*", "prog"
        ])));
        assert!(!wants_trace_help(&args(&[
            "ht-user", "prog", "-trace", "help"
        ])));
    }

    #[test]
    fn env_edits_and_argv0() {
        let (cfg, _) = parse(args(&[
            "ht-user", "-E", "A=1,B=2", "-U", "PATH", "-0", "zero", "prog",
        ]))
        .unwrap();
        assert!(cfg.env.contains(&OsString::from("A=1")));
        assert!(cfg.env.contains(&OsString::from("B=2")));
        assert!(!cfg
            .env
            .iter()
            .any(|e| e.to_string_lossy().starts_with("PATH=")));
        assert_eq!(cfg.argv[0], OsString::from("zero"));
    }

    #[test]
    fn errors_are_reported() {
        assert!(parse(args(&["ht-user"])).is_err());
        assert!(parse(args(&["ht-user", "-hypertrace", "path=/x,args=0", "p"])).is_err());
        assert!(parse(args(&["ht-user", "-E", "novalue", "p"])).is_err());
        assert!(parse(args(&["ht-user", "-bogus", "p"])).is_err());
        let (_, w) = parse(args(&["ht-user", "-trace", "nosuch", "p"])).unwrap();
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn trace_file_option() {
        let (cfg, w) = parse(args(&[
            "ht-user",
            "-hypertrace",
            "/b",
            "-trace-file",
            "/tmp/t.bin",
            "p",
            "-trace-file",
        ]))
        .unwrap();
        assert!(w.is_empty());
        assert_eq!(cfg.trace_file, Some(PathBuf::from("/tmp/t.bin")));
        assert_eq!(cfg.argv, args(&["p", "-trace-file"]));
        let (cfg, w) = parse(args(&["ht-user", "--trace-file=x", "p"])).unwrap();
        assert_eq!(cfg.trace_file, Some(PathBuf::from("x")));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn trace_format_option() {
        use crate::trace::file::Layout;
        let (cfg, _) = parse(args(&["ht-user", "-trace-file", "t", "p"])).unwrap();
        assert_eq!(cfg.trace_format, Layout::Compact);
        assert!(cfg
            .exec_options
            .iter()
            .all(|o| !o.to_string_lossy().contains("format")));
        let (cfg, _) = parse(args(&[
            "ht-user",
            "-trace-format",
            "fixed",
            "-trace-file",
            "t",
            "p",
            "-trace-format",
        ]))
        .unwrap();
        assert_eq!(cfg.trace_format, Layout::Fixed);
        assert_eq!(cfg.argv, args(&["p", "-trace-format"]));
        // An executed program writes the same layout.
        assert!(
            cfg.exec_options
                .contains(&OsString::from("--trace-format=fixed")),
            "{:?}",
            cfg.exec_options
        );
        let (cfg, _) = parse(args(&["ht-user", "-trace-format=compact", "p"])).unwrap();
        assert_eq!(cfg.trace_format, Layout::Compact);
        let e = parse(args(&["ht-user", "-trace-format", "zip", "p"])).unwrap_err();
        assert!(e.to_string().contains("compact or fixed"), "{e}");
    }

    #[test]
    fn env_edits_follow_command_line_order() {
        let (cfg, _) = parse(args(&[
            "ht-user",
            "-E",
            "HT_X=1,HT_Y=2",
            "-U",
            "HT_Y",
            "-E",
            "HT_Z=3",
            "p",
        ]))
        .unwrap();
        assert!(cfg.env.contains(&OsString::from("HT_X=1")));
        assert!(!cfg
            .env
            .iter()
            .any(|e| e.to_string_lossy().starts_with("HT_Y=")));
        let (cfg, _) = parse(args(&["ht-user", "-U", "HT_Y", "-E", "HT_Y=back", "p"])).unwrap();
        assert!(cfg.env.contains(&OsString::from("HT_Y=back")));
    }

    #[test]
    fn options_for_an_executed_program() {
        let cwd = std::env::current_dir().unwrap();
        let events = tempfile::NamedTempFile::new().unwrap();
        let events_opt = format!("events={}", events.path().display());
        let (cfg, _) = parse(args(&[
            "ht-user",
            "-hypertrace",
            "path=ht,args=2",
            "-D",
            "log.txt",
            "-trace-file=/abs/t.bin",
            "-trace",
            &events_opt,
            "-trace",
            "guest*",
            "-E",
            "A=1",
            "-U",
            "B",
            "-0",
            "zero",
            "-strace",
            "-L.",
            "prog",
            "-D",
            "guest-arg",
        ]))
        .unwrap();
        let at = |p: &str| cwd.join(p).display().to_string();
        let want: Vec<OsString> = [
            format!("--hypertrace=path={},max-clients=64,args=2", at("ht")),
            format!("-D={}", at("log.txt")),
            "--trace-file=/abs/t.bin".to_string(),
            format!("--trace={events_opt}"),
            "--trace=guest*".to_string(),
            "--strace".to_string(),
            format!("-L={}", std::path::absolute(".").unwrap().display()),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(cfg.exec_options, want);
        assert_eq!(cfg.root_pid, None);
        assert_eq!(cfg.inherited_fds, None);
        // What an executed program's ht-user is given back.
        let (cfg, _) = parse(args(&[
            "ht-user",
            "--ht-root-pid=42",
            "--ht-fds=0:5,1:6",
            "-0=argv0",
            "--",
            "prog",
        ]))
        .unwrap();
        assert_eq!(cfg.root_pid, Some(42));
        assert_eq!(cfg.inherited_fds, Some(vec![(0, 5), (1, 6)]));
        assert_eq!(cfg.argv, args(&["argv0"]));
        assert!(cfg.exec_options.is_empty());
        let (cfg, _) = parse(args(&[
            "ht-user",
            "--ht-env=LD_LIBRARY_PATH=/guest/lib,x",
            "--ht-env=LD_PRELOAD=",
            "prog",
        ]))
        .unwrap();
        assert!(cfg
            .env
            .contains(&OsString::from("LD_LIBRARY_PATH=/guest/lib,x")));
        assert!(cfg.env.contains(&OsString::from("LD_PRELOAD=")));
        let (cfg, _) = parse(args(&["ht-user", "--ht-fds=", "prog"])).unwrap();
        assert_eq!(cfg.inherited_fds, Some(vec![]));
        // Values that are not UTF-8 stay values.
        use std::os::unix::ffi::OsStringExt;
        let odd = |prefix: &str| {
            let mut v = prefix.as_bytes().to_vec();
            v.extend_from_slice(b"\xff\xfe");
            OsString::from_vec(v)
        };
        let list = vec![
            OsString::from("ht-user"),
            odd("--ht-env=LD_X="),
            odd("-0="),
            OsString::from("--"),
            OsString::from("prog"),
        ];
        let (cfg, _) = parse(list).unwrap();
        assert_eq!(cfg.argv, vec![odd("")]);
        assert!(cfg.env.contains(&odd("LD_X=")));
    }

    #[test]
    fn options_after_a_value_that_is_not_utf8_still_count() {
        // Found by fuzzing: the scans for -E/-U, rules and an executed
        // program's options stopped at the first value that is not UTF-8,
        // dropping the options after it (and tripping a debug assertion).
        use std::os::unix::ffi::OsStringExt;
        let odd = |prefix: &[u8]| {
            let mut v = prefix.to_vec();
            v.extend_from_slice(b"\xff\xfe");
            OsString::from_vec(v)
        };
        let list = vec![
            OsString::from("ht-user"),
            OsString::from("-0"),
            odd(b"zero"),
            OsString::from("-D"),
            odd(b"/abs/log"),
            OsString::from("-E"),
            OsString::from("HT_FUZZ_A=1"),
            OsString::from("-hypertrace"),
            OsString::from("/abs/ht"),
            OsString::from("-hypertrace-on"),
            OsString::from("arg1=1:enable guest_exec_tb"),
            OsString::from("-strace"),
            OsString::from("prog"),
        ];
        let (cfg, _) = parse(list).unwrap();
        assert_eq!(cfg.argv, vec![odd(b"zero")]);
        assert!(cfg.env.contains(&OsString::from("HT_FUZZ_A=1")));
        assert!(!cfg.rules.is_empty());
        assert_eq!(cfg.log_file, Some(PathBuf::from(odd(b"/abs/log"))));
        let mut log = OsString::from("-D=");
        log.push(odd(b"/abs/log"));
        assert_eq!(
            cfg.exec_options,
            vec![
                log,
                OsString::from("--hypertrace=path=/abs/ht,max-clients=64,args=4"),
                OsString::from("--hypertrace-on=arg1=1:enable guest_exec_tb"),
                OsString::from("--strace"),
            ]
        );
    }

    #[test]
    fn cpu_option_is_passed_on_and_help_needs_no_program() {
        let (cfg, _) = parse(args(&["ht-user", "-cpu", "Cortex-A53", "p", "-cpu", "x"])).unwrap();
        assert_eq!(cfg.cpu.as_deref(), Some("Cortex-A53"));
        assert_eq!(cfg.argv, args(&["p", "-cpu", "x"]));
        assert_eq!(
            cfg.exec_options,
            args(&["--cpu=Cortex-A53"]),
            "the model reaches executed programs once"
        );
        assert!(wants_cpu_help(&args(&["ht-user", "-cpu", "help"])));
        assert!(wants_cpu_help(&args(&["ht-user", "-strace", "-cpu=?"])));
        assert!(!wants_cpu_help(&args(&[
            "ht-user", "-cpu", "max", "p", "-cpu", "help"
        ])));
    }

    #[test]
    fn sysroot_option_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let (cfg, w) = parse(args(&["ht-user", "-L", root, "p"])).unwrap();
        assert!(w.is_empty());
        assert_eq!(cfg.sysroot.as_deref(), Some(dir.path()));
        // Relative paths become absolute.
        let (cfg, _) = parse(args(&["ht-user", "-L", ".", "p"])).unwrap();
        assert!(cfg.sysroot.unwrap().is_absolute());
        let (cfg, w) = parse(args(&["ht-user", "-L", "/nonexistent/sysroot", "p"])).unwrap();
        assert_eq!(cfg.sysroot, None);
        assert_eq!(w.len(), 1, "{w:?}");
        // The guest's own -L is not ht-user's.
        let (cfg, _) = parse(args(&["ht-user", "p", "-L", root])).unwrap();
        assert_eq!(cfg.argv, args(&["p", "-L", root]));
    }

    #[test]
    fn hypertrace_disabled_by_trace_option() {
        let (cfg, _) = parse(args(&[
            "ht-user",
            "-hypertrace",
            "/b",
            "-trace",
            "-guest_hypertrace",
            "p",
        ]))
        .unwrap();
        assert!(!cfg.trace_events.is_enabled("guest_hypertrace"));
    }
}

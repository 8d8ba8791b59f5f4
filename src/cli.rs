// SPDX-License-Identifier: GPL-2.0-or-later
//! qemu-user style command line: options before the program, single-dash
//! long options (`-hypertrace`, `-strace`) as well as `--` forms, and
//! QEMU's environment variables.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::hypertrace::ChannelOptions;
use crate::runner::RunConfig;
use crate::trace::TraceEvents;

#[derive(Parser, Debug)]
#[command(
    name = "ht-user",
    version,
    about = "Run a Linux program of another (or the same) architecture with a hypertrace channel",
    long_about = "Run a static Linux executable under emulation. With -hypertrace, the guest can \
                  emit trace events with one memory store; each becomes a host-timestamped \
                  guest_hypertrace line in QEMU's log format.",
    after_help = "Environment: QEMU_STRACE (like -strace), QEMU_LOG_FILENAME (like -D), \
                  QEMU_LD_PREFIX (like -L).\nExample: ht-user -hypertrace /tmp/ht ./guest /tmp/ht"
)]
struct Cli {
    /// Create the hypertrace channel files BASE-config, BASE-data, BASE-control.
    #[arg(long, value_name = "[path=]BASE[,max-clients=N][,args=N]")]
    hypertrace: Option<String>,

    /// Enable trace events, QEMU syntax (repeatable).
    #[arg(long = "trace", value_name = "[enable=]PATTERN|events=FILE")]
    trace: Vec<String>,

    /// Write the trace log (events, -strace) to FILE instead of stderr.
    #[arg(short = 'D', value_name = "FILE")]
    log_file: Option<PathBuf>,

    /// Write the events to FILE as a binary trace (for ht-trace). Without -D,
    /// the text log then carries only -strace lines.
    #[arg(long = "trace-file", value_name = "FILE")]
    trace_file: Option<PathBuf>,

    /// Set an environment variable for the guest (repeatable, comma lists allowed).
    #[arg(short = 'E', value_name = "VAR=VALUE")]
    set_env: Vec<String>,

    /// Remove an environment variable for the guest (repeatable, comma lists allowed).
    #[arg(short = 'U', value_name = "VAR")]
    unset_env: Vec<String>,

    /// Sysroot for dynamically linked guests. Only static executables run so far;
    /// a dynamic one is refused with its interpreter's name.
    #[arg(short = 'L', value_name = "PATH")]
    ld_prefix: Option<PathBuf>,

    /// Use ARGV0 as the guest's argv[0].
    #[arg(short = '0', value_name = "ARGV0")]
    argv0: Option<OsString>,

    /// Log every system call with its arguments and result.
    #[arg(long)]
    strace: bool,

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
    "hypertrace",
    "trace",
    "trace-file",
    "sched",
    "D",
    "E",
    "U",
    "L",
    "0",
];
/// Long options QEMU spells with one dash.
const SINGLE_DASH_LONG: &[&str] = &[
    "hypertrace",
    "trace",
    "trace-file",
    "strace",
    "sched",
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

/// The -E (true) and -U (false) values of normalised arguments, in order.
fn env_edits(normalised: &[OsString]) -> Vec<(bool, String)> {
    let mut edits = Vec::new();
    for arg in normalised.iter().skip(1) {
        let Some(text) = arg.to_str() else { break };
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

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Parses the command line into a run configuration. Errors carry clap's
/// formatted message (and its exit code for --help/--version).
pub fn parse(args: Vec<OsString>) -> Result<(RunConfig, Vec<String>), clap::Error> {
    let normalised = normalise(args);
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
        .map(crate::sched::SchedOptions::parse)
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

    // -E and -U apply in command-line order, as in qemu-user; clap keeps
    // each option's values but not their interleaving.
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let edits = env_edits(&normalised);
    debug_assert_eq!(edits.len(), cli.set_env.len() + cli.unset_env.len());
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
    let env = env
        .into_iter()
        .map(|(k, v)| {
            let mut s = k;
            s.push("=");
            s.push(v);
            s
        })
        .collect();

    let mut argv = vec![cli
        .argv0
        .unwrap_or_else(|| cli.program.clone().into_os_string())];
    argv.extend(cli.args);
    let log_file = cli
        .log_file
        .or_else(|| std::env::var_os("QEMU_LOG_FILENAME").map(PathBuf::from));
    if cli.trace_file.is_some() && hypertrace.is_none() {
        warnings.push("-trace-file without -hypertrace: the trace will hold no events".to_string());
    }
    let _sysroot = cli
        .ld_prefix
        .or_else(|| std::env::var_os("QEMU_LD_PREFIX").map(PathBuf::from));
    Ok((
        RunConfig {
            program: cli.program,
            argv,
            env,
            hypertrace,
            trace_events,
            log_file,
            trace_file: cli.trace_file,
            strace: cli.strace || env_flag("QEMU_STRACE"),
            sched,
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

// SPDX-License-Identifier: GPL-2.0-or-later
//! The qemu-style arguments rewritten for clap and read for what clap
//! does not keep: rules and environment edits in order, the options an
//! executed program's ht-user gets, the log file's name.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::{SINGLE_DASH_LONG, WITH_VALUE};
use crate::hypertrace::ChannelOptions;

/// Rewrites qemu-style arguments into the form clap parses: `-strace` to
/// `--strace`, and a `--` before the program so its own options stay its.
pub(super) fn normalise(args: Vec<OsString>) -> Vec<OsString> {
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
pub(super) fn rule_options(normalised: &[OsString]) -> Vec<(bool, String)> {
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
pub(super) fn env_edits(normalised: &[OsString]) -> Vec<(bool, String)> {
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
pub(super) fn exec_options(
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
                    if !h.counters {
                        o.push(",counters=off");
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
pub(super) fn unknown_single_dash_option(normalised: &[OsString]) -> Option<String> {
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

/// A log file name (`-D`, QEMU_LOG_FILENAME) with a `%` other than one
/// `%d`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("-D {0}: bad log file name: only one %d (the process id) is allowed")]
pub struct LogFileNameError(pub String);

/// `-D` and QEMU_LOG_FILENAME as qemu-user reads them: one `%d` in the
/// name becomes the process id; any other `%` is an error.
pub(super) fn log_file_for_pid(path: PathBuf, pid: u32) -> Result<PathBuf, LogFileNameError> {
    let Some(text) = path.to_str() else {
        return Ok(path);
    };
    match text.find('%') {
        None => Ok(path),
        Some(at) if text[at..].starts_with("%d") && !text[at + 2..].contains('%') => Ok(
            PathBuf::from(format!("{}{pid}{}", &text[..at], &text[at + 2..])),
        ),
        Some(_) => Err(LogFileNameError(text.to_string())),
    }
}

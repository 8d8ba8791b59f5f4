// SPDX-License-Identifier: GPL-2.0-or-later
//! What needs no program: the lists asked for with `help` (trace events,
//! `-d` items, CPU models), completion scripts, the manual page and the
//! help as qemu-user users write the options.

use std::ffi::OsString;

use super::{normalise, Cli, SINGLE_DASH_LONG};

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

/// A shell completion script or manual page that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// A shell clap_complete does not write scripts for.
    #[error("unknown shell '{0}' (bash, zsh, fish, elvish, powershell)")]
    UnknownShell(String),
    /// clap_mangen's rendering failed.
    #[error("cannot render the manual page: {0}")]
    Manpage(#[source] std::io::Error),
    /// The rendered page is not UTF-8 text.
    #[error("the manual page is not UTF-8 text: {0}")]
    ManpageText(#[source] std::string::FromUtf8Error),
}

/// The shell completion script for `command` (named `name`), for `shell`
/// (bash, zsh, fish, elvish, powershell).
pub fn completions(
    command: clap::Command,
    name: &str,
    shell: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), DocError> {
    use clap_complete::Shell;
    let shell: Shell = shell
        .parse()
        .map_err(|_| DocError::UnknownShell(shell.to_string()))?;
    let mut visible = without_hidden(&command);
    clap_complete::generate(shell, &mut visible, name, out);
    Ok(())
}

/// `command` without its hidden options (ht-user's internal `--ht-*`
/// options, which clap's completion generators would offer), with its
/// visible arguments and subcommands as they are.
fn without_hidden(command: &clap::Command) -> clap::Command {
    // A completion script is generated once per process: leaking the
    // names is what gives them the 'static lifetime clap asks for.
    let name: &'static str = Box::leak(command.get_name().to_owned().into_boxed_str());
    let mut copy = clap::Command::new(name);
    if let Some(about) = command.get_about() {
        copy = copy.about(about.clone());
    }
    for alias in command.get_all_aliases() {
        let alias: &'static str = Box::leak(alias.to_owned().into_boxed_str());
        copy = copy.alias(alias);
    }
    // Hidden positionals stay: completion never offers them, and other
    // arguments may name them (ht-trace compare's extra files).
    copy = copy.args(
        command
            .get_arguments()
            .filter(|a| !a.is_hide_set() || a.is_positional())
            .cloned(),
    );
    copy.subcommands(command.get_subcommands().map(without_hidden))
}

/// ht-user's completion script: the options as clap parses them (both
/// `-hypertrace` and `--hypertrace` work on the command line).
pub fn ht_user_completions(shell: &str, out: &mut dyn std::io::Write) -> Result<(), DocError> {
    use clap::CommandFactory;
    completions(Cli::command(), "ht-user", shell, out)
}

/// `command`'s manual page (roff, section 1).
pub fn manpage(command: clap::Command) -> Result<Vec<u8>, DocError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .map_err(DocError::Manpage)?;
    Ok(out)
}

/// ht-user's manual page, with the options spelled as qemu-user users
/// write them (`-hypertrace`, as in the help).
pub fn ht_user_manpage() -> Result<Vec<u8>, DocError> {
    use clap::CommandFactory;
    let page = String::from_utf8(manpage(Cli::command())?).map_err(DocError::ManpageText)?;
    let mut fixed = page;
    for name in SINGLE_DASH_LONG {
        // roff writes each dash as `\-`.
        fixed = fixed.replace(&format!("\\-\\-{name}"), &format!("\\-{name}"));
    }
    Ok(fixed.into_bytes())
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

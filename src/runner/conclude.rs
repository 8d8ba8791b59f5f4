// SPDX-License-Identifier: GPL-2.0-or-later
//! How a process of a run ends: its messages (an uncaught signal, an
//! interrupt, an incomplete trace) and its exit status, or its death by
//! the guest's signal in a forked child.

use super::RunReport;
use crate::abi::ExitKind;
use crate::machine::StopReason;

fn signal_text(sig: i32) -> String {
    // SAFETY: strsignal returns a static or thread-local string; we copy it
    // at once and only this thread calls it.
    unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            format!("signal {sig}")
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Whether a signal's default action dumps core.
fn dumps_core(sig: i32) -> bool {
    [
        libc::SIGQUIT,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGABRT,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGSEGV,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGSYS,
    ]
    .contains(&sig)
}

/// Says how the run of `report` ended and returns ht-user's exit status;
/// a forked child killed by a signal dies by it here.
pub fn conclude(report: RunReport) -> i32 {
    match &report.stop {
        StopReason::Exit(ExitKind::Exited(_)) => {}
        // Signals that end a process without a core (SIGPIPE in a
        // pipeline, SIGTERM) end it silently, as in qemu-user.
        StopReason::Exit(ExitKind::Killed(sig)) if dumps_core(*sig) => {
            eprintln!(
                "ht-user: uncaught target signal {sig} ({}) - core dumped",
                signal_text(*sig)
            );
        }
        StopReason::Exit(ExitKind::Killed(_)) => {}
        StopReason::Fault { signal, pc, page } => {
            let at = page.map_or(String::new(), |p| format!(", access to page {p:#x}"));
            eprintln!(
                "ht-user: uncaught target signal {signal} ({}) - core dumped (guest pc {pc:#x}{at})",
                signal_text(*signal)
            );
        }
        // A forked child dies of the signal silently, as a process does;
        // its trace is flushed all the same.
        StopReason::Interrupted(_) if crate::machine::fork::is_descendant() => {}
        StopReason::Interrupted(sig) => {
            eprintln!(
                "ht-user: interrupted by signal {sig} ({}); trace flushed with {} events, channel files removed",
                signal_text(*sig),
                report.writer.events_written
            );
        }
        StopReason::Quit => eprintln!(
            "ht-user: quit from the monitor; trace flushed with {} events, channel files removed",
            report.writer.events_written
        ),
        StopReason::Internal(msg) => eprintln!("ht-user: internal error: {msg}"),
    }
    if let Some(err) = &report.writer.error {
        eprintln!(
            "ht-user: the trace is incomplete: {} events written, {} lost: {err}",
            report.writer.events_written, report.writer.events_lost
        );
    }
    if report.descendant_losses > 0 {
        eprintln!(
            "ht-user: the trace is incomplete: child processes lost {} events (see their messages above)",
            report.descendant_losses
        );
    }
    if report.ignored_stores > 0 {
        eprintln!(
            "ht-user: warning: {} stores to the control channel were ignored (client beyond max-clients, or not a 4- or 8-byte aligned store)",
            report.ignored_stores
        );
    }
    // A forked child ends as its guest did, so that the guest parent's
    // wait sees a signal as a signal (as qemu-user does).
    if crate::machine::fork::is_descendant() {
        match report.stop {
            StopReason::Exit(ExitKind::Killed(sig))
            | StopReason::Fault { signal: sig, .. }
            | StopReason::Interrupted(sig) => crate::signals::die_by(sig),
            _ => {}
        }
    }
    report.exit_status()
}

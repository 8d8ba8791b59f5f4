// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-user [options] program [args...]`

use ht_user::{cli, runner, signals, ExitKind, StopReason};

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

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == ht_user::machine::exec::HOST_EXEC_FLAG)
    {
        // A guest executed a host program: this is only the trampoline.
        return ht_user::machine::exec::host_exec_main(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("HT_USER_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match cli::wants_docs(&args) {
        Some(cli::DocRequest::Completions(shell)) => {
            return match cli::ht_user_completions(&shell, &mut std::io::stdout()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("ht-user: {e}");
                    2
                }
            };
        }
        Some(cli::DocRequest::Manpage) => {
            return match cli::ht_user_manpage() {
                Ok(page) => {
                    use std::io::Write;
                    let _ = std::io::stdout().write_all(&page);
                    0
                }
                Err(e) => {
                    eprintln!("ht-user: {e}");
                    1
                }
            };
        }
        None => {}
    }
    if cli::wants_debug_help(&args) {
        print!("{}", ht_user::trace::debug::DebugItems::help());
        return 0;
    }
    if cli::wants_cpu_help(&args) {
        print!("{}", ht_user::arch::cpu::help());
        return 0;
    }
    if cli::wants_trace_help(&args) {
        for name in ht_user::trace::events::KNOWN_EVENTS {
            println!("{name}");
        }
        return 0;
    }
    let (cfg, warnings) = match cli::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            if let Some(help) = cli::help_text(&e) {
                print!("{help}");
                return 0;
            }
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    for w in warnings {
        eprintln!("ht-user: warning: {w}");
    }
    if let Err(e) = signals::install().and_then(|()| ht_user::mem::host_fault::install()) {
        eprintln!("ht-user: cannot install signal handlers: {e}");
        return 1;
    }
    let loaded = match runner::load(&cfg, None, true) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("ht-user: {e}");
            return 1;
        }
    };
    // `-monitor tcp::0` lets the system pick the port: say which.
    if let Some(ht_user::monitor::MonitorAddr::Tcp(asked)) = &cfg.monitor {
        if asked.port() == 0 {
            if let Some(bound) = loaded.monitor_description() {
                eprintln!("ht-user: monitor listening on {bound}");
            }
        }
    }
    let report = loaded.run();
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
        StopReason::Interrupted(_) if ht_user::machine::fork::is_descendant() => {}
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
    if ht_user::machine::fork::is_descendant() {
        match report.stop {
            StopReason::Exit(ExitKind::Killed(sig))
            | StopReason::Fault { signal: sig, .. }
            | StopReason::Interrupted(sig) => signals::die_by(sig),
            _ => {}
        }
    }
    report.exit_status()
}

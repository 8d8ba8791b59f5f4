// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-user [options] program [args...]`

use ht_user::{cli, runner, signals};

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
    runner::conclude(loaded.run())
}

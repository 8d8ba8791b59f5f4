// SPDX-License-Identifier: GPL-2.0-or-later
//! `-sched parallel`: every guest thread on an engine and a host thread of
//! its own. The same guests give the same results as with the serial
//! scheduler (whose results the other suites check exactly): threads,
//! atomics, futexes, address-space changes between threads, blocking
//! calls, signals, fork, sockets, timers, IPC. Run for the architecture
//! under test (`HT_ARCH`).

mod common;

use common::*;

fn run_with(sched: Option<&str>, name: &str, args: &[&str]) -> Run {
    let options: Vec<&str> = sched.map_or(Vec::new(), |s| vec!["-sched", s]);
    let mut cmd = ht(options);
    cmd.arg(guest(name)).args(args);
    finish_within(spawn(&mut cmd), TIMEOUT)
}

/// Runs the guest serially and in parallel: the same output and status.
fn same_in_parallel(name: &str, args: &[&str]) {
    if !guest(name).is_file() {
        eprintln!("note: no {name} guest for {}, skipped", arch());
        return;
    }
    let serial = run_with(Some("serial"), name, args);
    let parallel = run_with(Some("parallel"), name, args);
    assert_eq!(
        (parallel.code(), parallel.stdout.as_str()),
        (serial.code(), serial.stdout.as_str()),
        "{name} {args:?}: left parallel, right serial; parallel stderr:\n{}",
        parallel.stderr
    );
}

#[test]
fn thread_guests_give_the_serial_results() {
    same_in_parallel("threads-sync", &["4", "2000"]);
    same_in_parallel("threads-futex", &[]);
    same_in_parallel("threads-block", &[]);
    same_in_parallel("threads-cpu", &["4", "64"]);
    for how in ["", "leader", "last", "fork"] {
        let args: Vec<&str> = if how.is_empty() { vec![] } else { vec![how] };
        same_in_parallel("threads-exit", &args);
    }
}

#[test]
fn address_space_changes_reach_every_engine() {
    // Threads mapping, filling and unmapping at once; a page another thread
    // unmapped, protected or replaced; brk grown by another thread.
    for _ in 0..5 {
        same_in_parallel("threads-memory", &["4", "200"]);
    }
}

#[test]
fn atomics_are_exact_in_fifty_parallel_runs() {
    if !guest("threads-atomics").is_file() {
        return;
    }
    let serial = run_with(Some("serial"), "threads-atomics", &["8", "2000"]);
    serial.assert_code(0);
    for run in 0..50 {
        let parallel = run_with(Some("parallel"), "threads-atomics", &["8", "2000"]);
        assert_eq!(
            parallel.stdout, serial.stdout,
            "run {run}: {}",
            parallel.stderr
        );
        parallel.assert_code(0);
    }
}

#[test]
fn processes_files_and_signals_behave_as_with_the_serial_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (name, args) in [
        ("hello", vec![]),
        ("signals", vec![]),
        ("fork-exec", vec![]),
        ("posix-timers", vec![]),
        ("sysv-ipc", vec![]),
        ("jit", vec![]),
    ] {
        same_in_parallel(name, &args);
    }
    for name in ["files", "memory", "sockets"] {
        let sub = tempfile::tempdir_in(d).unwrap();
        same_in_parallel(name, &[sub.path().to_str().unwrap()]);
    }
}

/// Code written by one thread and run by another: where the guest flushes
/// the instruction cache with a system call (arm, riscv64, mipsel) or an
/// instruction (aarch64's `ic ivau`), the flush reaches every engine; on
/// x86, which has no flush, and on ppc64le, whose instruction cache snoops
/// stores, the store itself does (engine patch 0042,
/// `machine::code_watch`). With `spin` neither thread makes a system call
/// while it waits for the other, so only the store can tell the runner's
/// engine (498 of 500 were wrong on x86 without it).
#[test]
fn code_written_by_one_thread_is_new_in_every_engine() {
    for mode in [&["threads"][..], &["threads", "spin"]] {
        for _ in 0..3 {
            let r = run_with(Some("parallel"), "jit", mode);
            r.assert_code(0);
            assert_eq!(
                r.stdout, "written by one thread, run by another: 500 functions, 0 wrong\n",
                "{mode:?}"
            );
        }
    }
}

#[test]
fn parallel_refuses_what_serves_one_engine() {
    let hello = guest("hello");
    let r = run_ht(["-sched", "parallel", "-g", "0", hello.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr
            .contains("-sched parallel cannot be used with -g yet"),
        "{}",
        r.stderr
    );
    let r = run_ht(["-sched", "parallel,slice=5", hello.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains("slice and seed are the serial"),
        "{}",
        r.stderr
    );
}

/// A child forked from a thread other than the first ends on that
/// thread's host thread as a process does: its trace is finished (the
/// record count filled in) whether it exits or dies of a signal.
#[test]
fn a_child_forked_from_a_second_thread_finishes_its_trace() {
    use ht_user::trace::file::TraceFile;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("fork.bin");
    let mut cmd = ht([
        "-sched",
        "parallel",
        "-trace",
        "guest_user_syscall*",
        "-trace-file",
        trace.to_str().unwrap(),
    ]);
    cmd.arg(guest("threads-exit")).arg("fork");
    let r = finish_within(spawn(&mut cmd), TIMEOUT);
    r.assert_code(0);
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // The parent's and its two children's (FILE.PID).
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let t = TraceFile::open(f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.declared_count, Some(t.records), "{}", f.display());
        assert!(t.records > 0, "{}", f.display());
        if let Some(pid) = f.extension().and_then(|e| e.to_str()?.parse::<u32>().ok()) {
            assert_eq!(t.info.pid, pid, "{}", f.display());
        }
    }
}

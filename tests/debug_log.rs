// SPDX-License-Identifier: GPL-2.0-or-later
//! qemu-user's `-d ITEM[,...]` (and `QEMU_LOG`): exec, cpu, page, strace,
//! unimp, guest_errors, trace:PATTERN and help; unsupported items are a
//! clear error.

mod common;

use std::collections::HashMap;

use common::{arch, finish, guest, ht, spawn, temp_base};

/// The guest's ELF entry point (an arm Thumb entry without its Thumb bit).
fn entry(name: &str) -> u64 {
    let bytes = std::fs::read(guest(name)).unwrap();
    let e = goblin::elf::Elf::parse(&bytes).unwrap().entry;
    if arch() == "arm" {
        e & !1
    } else {
        e
    }
}

/// Runs `guest args` with `options`; returns (exit code, stdout, stderr).
fn run(options: &[&str], name: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = ht(options);
    cmd.arg(guest(name)).args(args);
    let r = finish(spawn(&mut cmd));
    (r.code(), r.stdout.clone(), r.stderr.clone())
}

/// The pcs of the `Trace N: [PC] ...` lines.
fn traced_pcs(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.strip_prefix("Trace 0: ["))
        .map(|l| u64::from_str_radix(&l[..16], 16).unwrap())
        .collect()
}

#[test]
fn exec_shows_every_block_from_the_entry_point() {
    let (code, out, log) = run(&["-d", "exec"], "hello", &[]);
    assert_eq!(code, 0, "{log}");
    assert!(out.contains("hello"), "{out}");
    let pcs = traced_pcs(&log);
    assert!(pcs.len() > 10, "{log}");
    assert_eq!(pcs[0], entry("hello"), "the first block is the entry point");
    // Each line: instructions and bytes, no more instructions than bytes.
    for l in log.lines().filter(|l| l.starts_with("Trace ")) {
        let words: Vec<&str> = l.split_whitespace().collect();
        let insns: u64 = words[3].parse().unwrap();
        let bytes: u64 = words[5].parse().unwrap();
        assert!(insns >= 1 && insns <= bytes, "{l}");
    }
}

#[test]
fn cpu_shows_the_registers_before_each_block() {
    let (code, _, log) = run(&["-d", "exec,cpu"], "hello", &[]);
    assert_eq!(code, 0, "{log}");
    let lines: Vec<&str> = log.lines().collect();
    let traces: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("Trace 0: ["))
        .collect();
    assert!(traces.len() > 10);
    // Registers come right before each Trace line: never two Trace lines
    // in a row, and the first line of the log is a register line.
    assert!(!lines[0].starts_with("Trace"), "{}", lines[0]);
    for w in traces.windows(2) {
        assert!(w[1] > w[0] + 1, "no registers before line {}", w[1]);
    }
    // The dump before the first block shows the entry point.
    let first = lines[..traces[0]].join("\n").to_lowercase();
    assert!(first.contains(&format!("{:x}", entry("hello"))), "{first}");
}

#[test]
fn page_shows_the_map_the_program_starts_with() {
    let (code, _, log) = run(&["-d", "page"], "hello", &[]);
    assert_eq!(code, 0);
    assert!(log.starts_with("page layout at the start of "), "{log}");
    let path = guest("hello").display().to_string();
    assert!(
        log.lines()
            .any(|l| l.contains(" r-xp ") && l.ends_with(&path)),
        "{log}"
    );
    assert!(log.lines().any(|l| l.ends_with("[stack]")), "{log}");
}

#[test]
fn strace_is_the_same_as_the_option() {
    // Each run's pid (the first word of a line, and set_tid_address's
    // result) differs.
    let strip_pid = |log: &str| -> Vec<String> {
        let pid = log.split_whitespace().next().unwrap_or("").to_string();
        log.lines().map(|l| l.replace(&pid, "PID")).collect()
    };
    let (_, _, a) = run(&["-d", "strace"], "hello", &[]);
    let (_, _, b) = run(&["-strace"], "hello", &[]);
    assert_eq!(strip_pid(&a), strip_pid(&b));
    assert!(a.contains("exit_group(0)"), "{a}");
}

#[test]
fn guest_errors_shows_the_faults_the_guest_takes() {
    let (code, _, log) = run(&["-d", "guest_errors"], "signals", &[]);
    assert_eq!(code, 0, "{log}");
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("guest error: "))
        .collect();
    assert!(!errors.is_empty(), "{log}");
    assert!(
        errors.iter().any(|l| l.starts_with("guest error: SIGSEGV")),
        "{errors:?}"
    );
    let (_, _, quiet) = run(&[], "signals", &[]);
    assert!(!quiet.contains("guest error"));
}

#[test]
fn unimp_notes_every_unsupported_call() {
    // The fuzzer creates files with random names: in a scratch directory.
    let scratch = tempfile::tempdir().unwrap();
    let notes = |options: &[&str]| -> HashMap<String, usize> {
        let mut cmd = ht(options);
        cmd.arg(guest("syscall-fuzz"))
            .args(["7", "4000"])
            .current_dir(scratch.path());
        let log = finish(spawn(&mut cmd)).stderr.clone();
        let mut n = HashMap::new();
        for l in log
            .lines()
            .filter(|l| l.contains("[ht-user: unsupported syscall"))
        {
            let nr = l.rsplit("unsupported syscall ").next().unwrap();
            *n.entry(nr.to_string()).or_insert(0) += 1;
        }
        n
    };
    let once = notes(&[]);
    assert!(!once.is_empty(), "the fuzzer calls unsupported numbers");
    assert!(once.values().all(|&n| n == 1), "{once:?}");
    let every = notes(&["-d", "unimp"]);
    assert_eq!(every.keys().len(), once.keys().len());
    assert!(every.values().any(|&n| n > 1), "{every:?}");
}

#[test]
fn trace_items_enable_events_and_the_log_file_takes_the_pid() {
    let (dir, _) = temp_base();
    let log = dir.path().join("log.%d");
    let trace = dir.path().join("t.bin");
    let (code, _, _) = run(
        &[
            "-d",
            "exec,trace:guest_exec_tb",
            "-D",
            log.to_str().unwrap(),
            "-trace-file",
            trace.to_str().unwrap(),
        ],
        "hello",
        &[],
    );
    assert_eq!(code, 0);
    let logs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("log."))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0][4..].parse::<u32>().is_ok(), "{logs:?}");
    let text = std::fs::read_to_string(dir.path().join(&logs[0])).unwrap();
    let f = ht_user::trace::file::TraceFile::open(&trace).unwrap();
    let blocks = f
        .records()
        .filter(|r| r.as_ref().unwrap().kind == ht_user::trace::EventKind::ExecTb)
        .count();
    assert_eq!(
        blocks,
        traced_pcs(&text).len(),
        "a record and a line per block"
    );
}

#[test]
fn help_lists_the_items_and_unsupported_ones_are_refused() {
    let out = ht(["-d", "help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for item in [
        "exec",
        "cpu",
        "page",
        "strace",
        "unimp",
        "guest_errors",
        "trace:PATTERN",
    ] {
        assert!(text.contains(item), "{text}");
    }
    let out = ht(["prog"]).env("QEMU_LOG", "help").output().unwrap();
    assert!(out.status.success(), "QEMU_LOG=help lists them too");
    let (code, _, err) = run(&["-d", "out_asm"], "hello", &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("'out_asm' is not supported: the host code"),
        "{err}"
    );
    let (code, _, err) = run(&["-d", "exec,frob"], "hello", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("'frob'") && err.contains("-d help"), "{err}");
    // QEMU_LOG is -d's variable.
    let mut cmd = ht::<[&str; 0], &str>([]);
    cmd.env("QEMU_LOG", "exec").arg(guest("hello"));
    let r = finish(spawn(&mut cmd));
    assert!(!traced_pcs(&r.stderr).is_empty(), "{} {}", arch(), r.stderr);
}

#[test]
fn in_asm_lists_each_blocks_instructions_once() {
    let (code, _, log) = run(&["-d", "in_asm,exec"], "hello", &[]);
    assert_eq!(code, 0, "{log}");
    let lines: Vec<&str> = log.lines().collect();
    // Each IN: listing, then the Trace line of its block: the disassembler
    // finds as many instructions as the engine translated.
    let mut shown = std::collections::HashSet::new();
    let mut i = 0;
    let mut listings = 0;
    while i < lines.len() {
        if lines[i] == "IN:" {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].starts_with("0x") {
                end += 1;
            }
            let trace = lines[end];
            let pc = u64::from_str_radix(&trace["Trace 0: [".len()..][..16], 16).unwrap();
            let first =
                u64::from_str_radix(lines[start][2..].split(':').next().unwrap(), 16).unwrap();
            assert_eq!(first, pc, "the listing is the block's: {trace}");
            let insns: usize = trace.split_whitespace().nth(3).unwrap().parse().unwrap();
            assert!(
                !lines[start..end].iter().any(|l| l.contains(".byte")),
                "capstone decodes every instruction: {:?}",
                &lines[start..end]
            );
            assert_eq!(
                end - start,
                insns,
                "{:?} against {trace}",
                &lines[start..end]
            );
            assert!(shown.insert(pc), "block {pc:#x} listed twice");
            listings += 1;
            i = end;
        }
        i += 1;
    }
    assert!(listings > 5, "{log}");
    let distinct: std::collections::HashSet<u64> = traced_pcs(&log).into_iter().collect();
    assert_eq!(listings, distinct.len());
    assert_eq!(*traced_pcs(&log).first().unwrap(), entry("hello"));
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Regions of interest drive tracing: memory accesses, blocks and system
//! calls recorded exactly between two hypertrace events, checked against a
//! run that records everything and against the guest's known sequence.

mod common;

use std::path::Path;

use common::*;
use ht_user::trace::file::TraceFile;
use ht_user::trace::{mem_info, EventKind};

/// One record, without its timestamp (runs differ only in timing).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    kind: EventKind,
    aux: u32,
    arg1: u64,
    words: Vec<u64>,
}

fn records(path: &Path) -> Vec<Rec> {
    let f = TraceFile::open(path).unwrap_or_else(|e| panic!("{e}"));
    f.records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{e}"));
            Rec {
                kind: r.kind,
                aux: r.client,
                arg1: r.arg1,
                words: r.args().collect(),
            }
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Runs `guest` with the channel at DIR/ht, `options` and a binary trace;
/// returns the records and stdout.
fn traced(dir: &Path, options: &[&str], guest_name: &str, args: &[&str]) -> (Vec<Rec>, String) {
    let base = dir.join("ht");
    let trace = dir.join(format!("{}.bin", options.len()));
    let mut cmd = ht(["-hypertrace", s(&base), "-trace-file", s(&trace)]);
    cmd.args(options)
        .arg(guest(guest_name))
        .arg(s(&base))
        .args(args);
    let run = finish(spawn(&mut cmd));
    run.assert_code(0);
    let recs = records(&trace)
        .into_iter()
        .filter(|r| !is_module_record(r))
        .collect();
    (recs, run.stdout)
}

/// A record of the modules ht-user writes for `ht-trace profile` when
/// blocks are traced (a module event or the name of its path).
fn is_module_record(r: &Rec) -> bool {
    match r.kind {
        EventKind::HypertraceName => r.aux >= ht_user::hypertrace::HOST_NAME_IDS,
        EventKind::Hypertrace => r.arg1 == ht_user::hypertrace::op::MODULE,
        _ => false,
    }
}

/// The guest's machine word in bytes.
fn word_size() -> u64 {
    match arch().as_str() {
        "i386" | "arm" | "mipsel" => 4,
        _ => 8,
    }
}

fn hypertrace_positions(recs: &[Rec], arg1: u64) -> Vec<usize> {
    recs.iter()
        .enumerate()
        .filter(|(_, r)| r.kind == EventKind::Hypertrace && r.arg1 == arg1)
        .map(|(i, _)| i)
        .collect()
}

fn buffer_address(stdout: &str) -> u64 {
    let hex = stdout
        .lines()
        .find_map(|l| l.strip_prefix("buf=0x"))
        .unwrap_or_else(|| panic!("no buf= line in {stdout:?}"));
    u64::from_str_radix(hex, 16).unwrap()
}

#[test]
fn memory_tracing_works_on_every_architecture() {
    // arm and mipsel included: the engine keeps their IT-block and
    // delay-slot state across memory hooks (engine patch 0003).
    let dir = tempfile::tempdir().unwrap();
    let (recs, _) = traced(
        dir.path(),
        &["-trace", "enable=guest_mem_before_exec"],
        "memregion",
        &[],
    );
    let accesses = recs
        .iter()
        .filter(|r| r.kind == EventKind::MemAccess)
        .count();
    assert!(accesses > 1000, "{accesses} accesses recorded");
}

#[test]
fn region_records_exactly_the_accesses_between_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let (all, out_all) = traced(
        dir.path(),
        &["-trace", "enable=guest_mem_before_exec"],
        "memregion",
        &[],
    );
    let (region, out_region) = traced(
        dir.path(),
        &["-hypertrace-region", "guest_mem_before_exec"],
        "memregion",
        &[],
    );
    assert_eq!(out_all, out_region, "the guest behaves the same either way");

    // Each event recorded once: the store the engine replays after
    // switching hooks is not a second event.
    for recs in [&all, &region] {
        assert_eq!(hypertrace_positions(recs, 1).len(), 1);
        assert_eq!(hypertrace_positions(recs, 0).len(), 1);
    }
    // In the full run the control store itself is the access just before
    // its event (the memory hook runs before the store lands).
    let open = hypertrace_positions(&all, 1)[0];
    let close = hypertrace_positions(&all, 0)[0];
    // (32-bit guests store the 64-bit value as two halves.)
    let halves = 8 / word_size() as usize;
    for (event, value) in [(open, 1), (close, 0)] {
        let stores = &all[event - halves..event];
        assert!(
            stores
                .iter()
                .all(|r| r.kind == EventKind::MemAccess && mem_info::is_store(r.aux)),
            "{stores:?}"
        );
        let stored: u64 = stores.iter().map(|r| r.words[1]).sum();
        assert_eq!(stored, value, "the control store: {stores:?}");
    }
    // The region run holds exactly the accesses after the opening store up
    // to and including the closing one, nothing before or after.
    let expected: Vec<&Rec> = all[open + 1..close].iter().collect();
    let r_open = hypertrace_positions(&region, 1)[0];
    let r_close = hypertrace_positions(&region, 0)[0];
    assert_eq!(r_open, 0, "nothing recorded before the region opens");
    assert_eq!(
        r_close,
        region.len() - 1,
        "nothing recorded after it closes"
    );
    let got: Vec<&Rec> = region[r_open + 1..r_close].iter().collect();
    assert!(got.len() > 20, "{got:?}");
    assert_eq!(got, expected);
}

#[test]
fn region_holds_the_guests_known_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, stdout) = traced(
        dir.path(),
        &["-hypertrace-region", "guest_mem_before_exec"],
        "memregion",
        &[],
    );
    let buf = buffer_address(&stdout);
    let on_buffer: Vec<(u64, u32, bool, u64)> = recs
        .iter()
        .filter(|r| r.kind == EventKind::MemAccess && (buf..buf + 128).contains(&r.arg1))
        .map(|r| {
            (
                r.arg1 - buf,
                mem_info::size(r.aux),
                mem_info::is_store(r.aux),
                r.words[1],
            )
        })
        .collect();
    let w = word_size();
    let mut expected = Vec::new();
    for i in 0..8u64 {
        // touch() left word k == k before the region.
        expected.push((w * (8 + i), w as u32, false, 0));
        expected.push((w * i, w as u32, true, (8 + i) * 3 + i));
    }
    expected.push((96, 4, true, 0x1122_3344));
    expected.push((104, 1, false, 0));
    expected.push((112, 2, true, 0xbeef));
    assert_eq!(on_buffer, expected);
    // Every access has the pc of guest code and a plausible size.
    for r in recs.iter().filter(|r| r.kind == EventKind::MemAccess) {
        assert!(r.words[0] > 0, "{r:?}");
        assert!([1, 2, 4, 8, 16].contains(&mem_info::size(r.aux)), "{r:?}");
    }
}

#[test]
fn on_rules_and_blocks_follow_the_same_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, _) = traced(
        dir.path(),
        &[
            "-hypertrace-on",
            "arg1=1:enable guest_exec_tb",
            "-hypertrace-on",
            "arg1=0:disable guest_exec_tb",
        ],
        "memregion",
        &["1000"],
    );
    let open = hypertrace_positions(&recs, 1)[0];
    let close = hypertrace_positions(&recs, 0)[0];
    assert_eq!((open, close), (0, recs.len() - 1), "{recs:?}");
    let blocks: Vec<&Rec> = recs[1..close].iter().collect();
    assert!(blocks.iter().all(|r| r.kind == EventKind::ExecTb));
    // The 1000-iteration loop runs its block about 1000 times.
    let mut counts = std::collections::HashMap::new();
    for b in &blocks {
        *counts.entry(b.arg1).or_insert(0) += 1;
    }
    let hottest = counts.values().max().copied().unwrap_or(0);
    assert!((990..=1010).contains(&hottest), "{counts:?}");
    // aux: the block's size in bytes, then its instructions (patch 0031).
    assert!(blocks.iter().all(|b| {
        let (size, insns) = (b.aux & 0xffff, b.aux >> 16);
        size > 0 && size < 4096 && insns > 0 && insns <= size
    }));
}

#[test]
fn traced_blocks_come_with_the_modules_they_run_in() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht");
    let trace = dir.path().join("t.bin");
    let mut cmd = ht(["-hypertrace", s(&base), "-trace-file", s(&trace)]);
    cmd.args(["-hypertrace-region", "guest_exec_tb"])
        .arg(guest("memregion"))
        .arg(s(&base));
    finish(spawn(&mut cmd)).assert_code(0);
    let recs = records(&trace);
    // The program's executable mapping, named by its path, before any block.
    let name: Vec<u8> = recs
        .iter()
        .filter(|r| r.kind == EventKind::HypertraceName)
        .flat_map(|r| r.words.iter().flat_map(|w| w.to_le_bytes()))
        .take_while(|&b| b != 0)
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&name),
        guest("memregion").to_string_lossy()
    );
    let module = recs
        .iter()
        .position(|r| r.kind == EventKind::Hypertrace && r.arg1 == ht_user::hypertrace::op::MODULE)
        .expect("a module event");
    let (start, end) = (recs[module].words[1], recs[module].words[2]);
    let blocks: Vec<&Rec> = recs
        .iter()
        .filter(|r| r.kind == EventKind::ExecTb)
        .collect();
    assert!(!blocks.is_empty());
    assert!(
        recs.iter()
            .position(|r| r.kind == EventKind::ExecTb)
            .unwrap()
            > module
    );
    for b in blocks {
        assert!(
            start <= b.arg1 && b.arg1 < end,
            "{:#x} outside {start:#x}..{end:#x}",
            b.arg1
        );
    }
}

#[test]
fn rules_that_never_match_record_nothing_but_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, _) = traced(
        dir.path(),
        &["-hypertrace-region", "guest_exec_tb,open=7,close=8"],
        "memregion",
        &[],
    );
    let kinds: Vec<EventKind> = recs.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [EventKind::Hypertrace, EventKind::Hypertrace]);
}

#[test]
fn syscall_events_carry_numbers_arguments_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let run = finish(spawn(
        ht(["-trace", "enable=guest_user_syscall*", "-D", s(&log)])
            .arg(guest("hello"))
            .arg("x"),
    ));
    run.assert_code(0);
    let text = std::fs::read_to_string(&log).unwrap();
    let field = |line: &str, name: &str| -> u64 {
        let v = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line}"));
        u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap()
    };
    let lines: Vec<&str> = text.lines().collect();
    // One thread: each call is followed by its result, except the last
    // (exit_group does not return).
    let (last, pairs) = lines.split_last().expect("some system calls");
    assert!(last.contains(":guest_user_syscall "), "{last}");
    assert_eq!(field(last, "arg1="), 0, "exit status 0: {last}");
    assert_eq!(pairs.len() % 2, 0, "{text}");
    let mut wrote_stdout = false;
    for pair in pairs.chunks(2) {
        assert!(pair[0].contains(":guest_user_syscall "), "{}", pair[0]);
        assert!(pair[1].contains(":guest_user_syscall_ret "), "{}", pair[1]);
        assert_eq!(field(pair[0], "num="), field(pair[1], "num="), "{pair:?}");
        // write/writev of the guest's line to fd 1 returns its length.
        if field(pair[0], "arg1=") == 1 && field(pair[1], "ret=") == run.stdout.len() as u64 {
            wrote_stdout = true;
        }
    }
    assert!(wrote_stdout, "{text}");
    // Every line has QEMU's log prefix: PID@SECONDS.MICROS:NAME cpu=0x0
    for line in &lines {
        let (pid, rest) = line.split_once('@').unwrap();
        assert_eq!(pid.parse::<u32>().unwrap(), run.pid, "{line}");
        assert!(
            rest.contains(":guest_user_syscall") && rest.contains(" cpu=0x0  num="),
            "{line}"
        );
    }
}

#[test]
fn log_and_binary_trace_agree_for_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht");
    let trace = dir.path().join("t.bin");
    let log = dir.path().join("log");
    let mut cmd = ht([
        "-hypertrace",
        s(&base),
        "-trace-file",
        s(&trace),
        "-D",
        s(&log),
        "-trace",
        "enable=guest_user_syscall*",
        "-hypertrace-region",
        "guest_mem_before_exec",
        "-hypertrace-region",
        "guest_exec_tb",
    ]);
    cmd.arg(guest("memregion")).arg(s(&base));
    finish(spawn(&mut cmd)).assert_code(0);
    let converted = std::process::Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(["convert", "--to", "log", s(&trace)])
        .output()
        .unwrap();
    assert!(converted.status.success(), "{converted:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(String::from_utf8_lossy(&converted.stdout), logged);
    for name in [
        ":guest_hypertrace ",
        ":guest_exec_tb ",
        ":guest_user_syscall ",
        ":guest_user_syscall_ret ",
    ] {
        assert!(logged.contains(name), "{name} missing");
    }
    assert!(logged.contains(":guest_mem_before_exec "));
}

#[test]
fn bad_rules_are_refused_with_the_reason() {
    for (args, needle) in [
        (
            vec!["-hypertrace-on", "arg1=1 enable guest_exec_tb"],
            "MATCH:ACTION",
        ),
        (
            vec!["-hypertrace-on", "arg1=1:enable guest_nothing"],
            "does not exist",
        ),
        (
            vec!["-hypertrace-region", "guest_exec_tb,open=2,close=2"],
            "differ",
        ),
    ] {
        let run = finish(spawn(ht(args).arg(guest("hello"))));
        assert_eq!(run.code(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

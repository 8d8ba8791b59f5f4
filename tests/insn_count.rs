// SPDX-License-Identifier: GPL-2.0-or-later
//! Exact instruction counts at hypertrace events (engine patch 0023): the
//! `insn-count` guest runs hand-written loops between two control stores,
//! whose instruction counts are known from the listing; every run gives
//! exactly those counts, and the same counts at every event run after run.

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use common::{arch, guest, ht_user, temp_base};
use ht_user::trace::file::{EventKind, InsnCounts, TraceFile};

/// Loop lengths the guest runs, one region each.
const LOOPS: [u64; 4] = [1, 10, 1000, 4097];

/// Instructions from just after the opening event to the closing event
/// included, for a loop of `n` iterations (see guest/tests/insn-count.c).
fn expected_insns(arch: &str, n: u64) -> u64 {
    match arch {
        "x86_64" | "aarch64" | "riscv64" => 2 * n + 2,
        "i386" | "arm" => 2 * n + 3,
        "mipsel" => 3 * n + 3,
        // One 64-bit store closes the region.
        "mips64el" => 3 * n + 2,
        // mtctr, the bdnz loop, the closing std.
        "ppc64le" => n + 2,
        // lgr, the brctg loop, the closing stg.
        "s390x" => n + 2,
        other => panic!("no instruction count expectation for {other}"),
    }
}

/// The `-hypertrace` value `path=BASE,OPTIONS`.
fn channel_spec(base: &Path, options: &str) -> OsString {
    let mut spec = OsString::from("path=");
    spec.push(base);
    spec.push(",");
    spec.push(options);
    spec
}

/// Runs the guest once; returns the counters at each event by arg1.
fn counted_run(dir: &Path, run: usize) -> HashMap<u64, InsnCounts> {
    let base = dir.join("ht");
    let trace = dir.join(format!("run{run}.httrace"));
    let spec = channel_spec(&base, "counters=on");
    let mut cmd = Command::new(ht_user());
    cmd.arg("-hypertrace")
        .arg(&spec)
        .arg("-trace-file")
        .arg(&trace)
        .arg(guest("insn-count"))
        .arg(&base)
        .args(LOOPS.map(|n| n.to_string()));
    let out = cmd.output().expect("run ht-user");
    assert!(
        out.status.success(),
        "insn-count failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = TraceFile::open(&trace).expect("read the trace");
    assert!(file.info.counters, "the trace has no instruction counters");
    let mut at = HashMap::new();
    for ev in file.records() {
        let ev = ev.expect("record");
        if ev.kind != EventKind::Hypertrace {
            continue;
        }
        let counts = ev.counts.expect("a hypertrace record without counters");
        assert!(
            at.insert(ev.arg1, counts).is_none(),
            "arg1={} emitted twice",
            ev.arg1
        );
    }
    assert_eq!(at.len(), 2 * LOOPS.len(), "events: {at:?}");
    at
}

#[test]
fn regions_count_exactly_the_instructions_between_their_stores() {
    let arch = arch();
    let (dir, _) = temp_base();
    let first = counted_run(dir.path(), 0);
    for (k, n) in LOOPS.into_iter().enumerate() {
        let open = first[&(2 * k as u64 + 1)];
        let close = first[&(2 * k as u64 + 2)];
        assert_eq!(
            close.insns - open.insns,
            expected_insns(&arch, n),
            "{arch}: region {k} ({n} iterations)"
        );
        // Every iteration ends in a branch back: one block each at least.
        let blocks = close.blocks - open.blocks;
        assert!(
            (n..=n + 4).contains(&blocks),
            "{arch}: region {k}: {blocks} blocks for {n} iterations"
        );
    }
    // The same program, arguments and environment: the same counts at
    // every event, start-up included.
    for run in 1..3 {
        assert_eq!(counted_run(dir.path(), run), first, "{arch}: run {run}");
    }
}

#[test]
fn ht_trace_report_gives_the_exact_counts_per_region() {
    let arch = arch();
    let (dir, _) = temp_base();
    counted_run(dir.path(), 0);
    let trace = dir.path().join("run0.httrace");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ht-trace"));
    cmd.arg("report").arg("--json");
    for k in 0..LOOPS.len() {
        cmd.arg("--region")
            .arg(format!("r{k}={}:{}", 2 * k + 1, 2 * k + 2));
    }
    let out = cmd.arg(&trace).output().expect("run ht-trace");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    for (k, n) in LOOPS.into_iter().enumerate() {
        let region = report["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == format!("r{k}"))
            .unwrap_or_else(|| panic!("region r{k} missing: {report}"));
        let want = expected_insns(&arch, n);
        assert_eq!(region["insns"]["count"], 1, "{region}");
        assert_eq!(region["insns"]["min"], want, "{region}");
        assert_eq!(region["insns"]["max"], want, "{region}");
    }
    // The text report has the instruction table.
    let text = Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(["report", "--region", "r0=1:2"])
        .arg(&trace)
        .output()
        .expect("run ht-trace");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("median insns"), "{text}");
    let want = expected_insns(&arch, LOOPS[0]).to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with("r0") && l.split_whitespace().any(|w| w == want)),
        "{text}"
    );
}

#[test]
fn the_qemu_log_lines_keep_qemus_format() {
    let (dir, _) = temp_base();
    let base = dir.path().join("ht");
    let log = dir.path().join("log");
    let spec = channel_spec(&base, "args=2,counters=on");
    let out = Command::new(ht_user())
        .arg("-hypertrace")
        .arg(&spec)
        .arg("-D")
        .arg(&log)
        .arg(guest("insn-count"))
        .arg(&base)
        .arg("3")
        .output()
        .expect("run ht-user");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("guest_hypertrace"))
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    for line in events {
        // The channel's arguments only: the counters are not QEMU fields.
        assert!(!line.contains("insns"), "{line}");
        let args = line
            .split_whitespace()
            .filter(|w| w.starts_with("arg"))
            .count();
        assert_eq!(args, 2, "args=2: arg1 and arg2 only: {line}");
    }
}

#[test]
fn csv_and_the_python_reader_carry_the_counters_in_both_layouts() {
    let (dir, _) = temp_base();
    let base = dir.path().join("ht");
    let spec = channel_spec(&base, "counters=on");
    for format in ["compact", "fixed"] {
        let trace = dir.path().join(format!("{format}.httrace"));
        let out = Command::new(ht_user())
            .arg("-hypertrace")
            .arg(&spec)
            .arg("-trace-file")
            .arg(&trace)
            .arg("-trace-format")
            .arg(format)
            .arg(guest("insn-count"))
            .arg(&base)
            .arg("5")
            .output()
            .expect("run ht-user");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = TraceFile::open(&trace).unwrap();
        let minor = if format == "compact" { (2, 1) } else { (1, 2) };
        assert_eq!(file.version, minor, "{format}: the counters' minor version");
        let csv = Command::new(env!("CARGO_BIN_EXE_ht-trace"))
            .args(["convert", "--to", "csv"])
            .arg(&trace)
            .output()
            .unwrap();
        assert!(
            csv.status.success(),
            "{}",
            String::from_utf8_lossy(&csv.stderr)
        );
        let csv = String::from_utf8(csv.stdout).unwrap();
        let header = csv.lines().next().unwrap();
        assert!(header.ends_with(",insns,blocks"), "{header}");
        // The two events: their last columns are the counts the reader saw.
        let rows: Vec<Vec<u64>> = csv
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').take(2).map(|v| v.parse().unwrap()).collect())
            .collect();
        assert_eq!(rows.len(), 2, "{csv}");
        assert_eq!(
            rows[1][1] - rows[0][1],
            expected_insns(&arch(), 5),
            "{format}: {csv}"
        );
        let reader = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/read_trace.py");
        let py = Command::new("python3")
            .arg(&reader)
            .arg("--csv")
            .arg(&trace)
            .output()
            .unwrap();
        assert!(
            py.status.success(),
            "{}",
            String::from_utf8_lossy(&py.stderr)
        );
        assert_eq!(String::from_utf8(py.stdout).unwrap(), csv, "{format}");
    }
}

/// Each guest thread counts its own instructions: threads that run the
/// same loop, switched by the scheduler many times, see the same exact
/// count between consecutive events, and each starts from zero.
#[test]
fn every_thread_counts_its_own_instructions() {
    const THREADS: u64 = 4;
    const EVENTS: u64 = 100_000;
    let (dir, base) = temp_base();
    let trace = dir.path().join("threads.httrace");
    let spec = channel_spec(&base, "counters=on");
    let out = Command::new(ht_user())
        .arg("-hypertrace")
        .arg(&spec)
        .arg("-trace-file")
        .arg(&trace)
        .arg(guest("threads-events"))
        .arg(&base)
        .arg(THREADS.to_string())
        .arg(EVENTS.to_string())
        .output()
        .expect("run ht-user");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = TraceFile::open(&trace).unwrap();
    let mut by_client: HashMap<u32, Vec<(u32, InsnCounts)>> = HashMap::new();
    let mut switches = 0;
    let mut last_thread = None;
    for ev in file.events() {
        let ev = ev.unwrap();
        if last_thread.is_some_and(|t| t != ev.thread) {
            switches += 1;
        }
        last_thread = Some(ev.thread);
        by_client
            .entry(ev.client)
            .or_default()
            .push((ev.thread, ev.counts.unwrap()));
    }
    assert_eq!(by_client.len(), THREADS as usize);
    assert!(
        switches >= 4,
        "the threads' events interleave ({switches} switches)"
    );
    let mut steps = std::collections::BTreeSet::new();
    for (client, events) in &by_client {
        assert_eq!(events.len() as u64, EVENTS, "client {client}");
        assert!(
            events.iter().all(|(t, _)| *t == events[0].0),
            "client {client}: one thread"
        );
        for pair in events.windows(2) {
            steps.insert(pair[1].1.insns - pair[0].1.insns);
        }
        // A new thread starts from zero: its first event comes after far
        // fewer instructions than the main thread's start-up took.
        assert!(
            events[0].1.insns < 10_000,
            "client {client}: {:?}",
            events[0]
        );
    }
    assert_eq!(
        steps.len(),
        1,
        "the same loop, the same count between events on every thread: {steps:?}"
    );
}

#[test]
fn ht_trace_compare_gives_the_exact_instruction_ratio() {
    let (dir, base) = temp_base();
    let spec = channel_spec(&base, "counters=on");
    let trace = |name: &str, n: &str| {
        let path = dir.path().join(name);
        let out = Command::new(ht_user())
            .arg("-hypertrace")
            .arg(&spec)
            .arg("-trace-file")
            .arg(&path)
            .arg(guest("insn-count"))
            .arg(&base)
            .arg(n)
            .output()
            .expect("run ht-user");
        assert!(out.status.success());
        path
    };
    let (a, b) = (trace("a.httrace", "100"), trace("b.httrace", "300"));
    let out = Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(["compare", "--region", "loop=1:2"])
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run ht-trace");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let arch = arch();
    let (na, nb) = (expected_insns(&arch, 100), expected_insns(&arch, 300));
    let want = format!(
        "loop: instructions B/A {:.2} exactly ({nb} against {na}",
        nb as f64 / na as f64
    );
    assert!(text.contains(&want), "want '{want}' in:\n{text}");
    // The same comparison as JSON.
    let out = Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(["compare", "--json", "--region", "loop=1:2"])
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run ht-trace");
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let region = &json["regions"][0];
    assert_eq!(region["name"], "loop", "{json}");
    assert_eq!(region["a"]["insns"]["median"], na, "{json}");
    assert_eq!(region["b"]["insns"]["median"], nb, "{json}");
    let ratio = region["insns_median_ratio"].as_f64().unwrap();
    assert!((ratio - nb as f64 / na as f64).abs() < 1e-12, "{json}");
    assert_eq!(region["verdict"], "too_few", "one region a side: {json}");
    assert_eq!(json["a"]["events"], 2, "{json}");
}

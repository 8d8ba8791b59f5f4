// SPDX-License-Identifier: GPL-2.0-or-later
//! Named regions and points (the guest library's qemu_hypertrace_name,
//! region_begin/end and point): the names reach the trace's string table
//! once, `ht-trace report` shows regions by name with no `--region`
//! options, a forked child's trace knows its parent's names, and
//! `-hypertrace-region PATTERN,name=TEXT` traces inside one named region.
//! The `named-regions` guest runs on every architecture.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{guest, ht, temp_base};
use ht_user::trace::file::{EventKind, TraceFile};

const ITERATIONS: u64 = 100;
const IDS_LINE: &str = "ids: early=1 long=2 quoted=3 hot=4 hot again=4 empty=0";
const QUOTED: &str = "na\u{ef}ve \"quoted\"";

fn long_name() -> String {
    "x".repeat(255)
}

/// Runs named-regions under ht-user with a channel and a binary trace in
/// `dir`; returns its stdout.
fn traced_run(dir: &Path, extra: &[&str]) -> String {
    let base = dir.join("ht");
    let trace = dir.join("run.bin");
    let out = ht(["-hypertrace".as_ref(), base.as_os_str()])
        .arg("-trace-file")
        .arg(&trace)
        .args(extra)
        .arg(guest("named-regions"))
        .arg(ITERATIONS.to_string())
        .output()
        .expect("run ht-user");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "named-regions failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn report_json(trace: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .arg("report")
        .arg("--json")
        .arg(trace)
        .output()
        .expect("run ht-trace");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

/// (count, unclosed) per region name.
fn region_counts(report: &serde_json::Value) -> HashMap<String, (u64, u64)> {
    report["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                (
                    r["count"].as_u64().unwrap(),
                    r["unclosed"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn regions_are_reported_by_name_with_no_region_options() {
    let (dir, _) = temp_base();
    let stdout = traced_run(dir.path(), &[]);
    assert!(stdout.contains(IDS_LINE), "{stdout}");
    assert!(stdout.contains("channel: 4 arguments"), "{stdout}");

    let report = report_json(&dir.path().join("run.bin"));
    let counts = region_counts(&report);
    let want: HashMap<String, (u64, u64)> = [
        ("early".to_string(), (1, 0)),
        ("compute".to_string(), (ITERATIONS, 0)),
        ("io".to_string(), (ITERATIONS, 0)),
        ("hot".to_string(), (ITERATIONS, 0)),
        (QUOTED.to_string(), (1, 0)),
        (long_name(), (1, 0)),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, want);
    assert_eq!(report["unmatched_closes"], 0);
    let progress = report["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 1, "{progress:?}");
    assert_eq!(progress[0]["name"], "tick");
    assert_eq!(progress[0]["count"], ITERATIONS / 10);
    // The NAME stores are the trace's string table, not events: 2 per
    // iteration of compute and io, 1 per hot, the ticks, early, quoted
    // and long.
    let events = 4 * ITERATIONS + 2 * ITERATIONS + ITERATIONS / 10 + 6;
    assert_eq!(report["events"], events);

    // Each name is stored once, whole, in records of the name kind.
    let file = TraceFile::open(&dir.path().join("run.bin")).unwrap();
    let names = name_records(&file);
    assert_eq!(names.get(&3).map(String::as_str), Some(QUOTED));
    assert_eq!(names.get(&2), Some(&long_name()));
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(
        file.info.get("events").as_deref(),
        Some("guest_hypertrace,guest_hypertrace_name")
    );
}

/// The names of a trace's name records, assembled the way a reader of
/// docs/trace-format.md would.
fn name_records(file: &TraceFile) -> HashMap<u32, String> {
    let mut bytes: HashMap<u32, Vec<u8>> = HashMap::new();
    for r in file.records() {
        let r = r.unwrap();
        if r.kind != EventKind::HypertraceName {
            continue;
        }
        let (offset, len) = ((r.arg1 & 0xffff_ffff) as usize, (r.arg1 >> 32) as usize);
        let buf = bytes.entry(r.client).or_default();
        assert_eq!(buf.len(), offset, "pieces in order");
        let piece: Vec<u8> = r.args().flat_map(u64::to_le_bytes).collect();
        buf.extend_from_slice(&piece[..(len - offset).min(piece.len())]);
    }
    bytes
        .into_iter()
        .map(|(id, b)| (id, String::from_utf8(b).unwrap()))
        .collect()
}

#[test]
fn a_forked_child_trace_knows_its_parents_names() {
    let (dir, _) = temp_base();
    traced_run(dir.path(), &[]);
    let children: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("run.bin."))
        })
        .collect();
    assert_eq!(children.len(), 1, "{children:?}");
    let report = report_json(&children[0]);
    let counts = region_counts(&report);
    assert_eq!(counts.get("child work"), Some(&(1, 0)), "{counts:?}");
    // The parent's names came first, before the child registered its own.
    let file = TraceFile::open(&children[0]).unwrap();
    let names = name_records(&file);
    assert_eq!(names.get(&5).map(String::as_str), Some("compute"));
    assert_eq!(names.get(&8).map(String::as_str), Some("child work"));
}

#[test]
fn the_log_names_each_name_once() {
    let (dir, base) = temp_base();
    let log = dir.path().join("log.txt");
    let out = ht([
        "-hypertrace".as_ref(),
        base.as_os_str(),
        "-D".as_ref(),
        log.as_os_str(),
    ])
    .arg(guest("named-regions"))
    .arg("3")
    .output()
    .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    // The parent's lines; the forked child's (same log) repeat its names
    // under its own pid, so that each process's lines stand alone.
    let parent = text.split('@').next().unwrap().to_string();
    let names: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(":guest_hypertrace_name ") && l.starts_with(&format!("{parent}@")))
        .collect();
    let child_names = text
        .lines()
        .filter(|l| l.contains(":guest_hypertrace_name ") && !l.starts_with(&format!("{parent}@")))
        .count();
    assert_eq!(
        child_names,
        names.len() + 1,
        "the parent's names and 'child work'"
    );
    assert!(
        names
            .iter()
            .any(|l| l.ends_with("id=5 offset=0 len=7 text=\"compute\"")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|l| l.ends_with("id=3 offset=0 len=15 text=\"na\\xc3\\xafve \\\"quoted\\\"\"")),
        "{names:?}"
    );
    // 255 bytes in pieces of 40 (the record's three argument words and,
    // counting being on by default, its two counter words): 7 lines.
    assert_eq!(names.iter().filter(|l| l.contains(" id=2 ")).count(), 7);
    let compute_lines = names.iter().filter(|l| l.contains("\"compute\"")).count();
    assert_eq!(compute_lines, 1, "registered once, named once");
}

#[test]
fn markers_do_nothing_without_a_channel() {
    let out = ht([guest("named-regions").as_os_str(), "5".as_ref()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("no channel ("), "{stdout}");
    assert!(stdout.contains(IDS_LINE), "{stdout}");
    assert!(stdout.contains("done: 5 iterations"), "{stdout}");
}

#[test]
fn a_region_option_by_name_traces_inside_that_region_only() {
    let (dir, _) = temp_base();
    traced_run(
        dir.path(),
        &["-hypertrace-region", "guest_exec_tb,name=hot"],
    );
    let file = TraceFile::open(&dir.path().join("run.bin")).unwrap();
    let (mut inside, mut blocks, mut blocks_inside) = (false, 0u64, 0u64);
    let hot = 4;
    for r in file.records() {
        let r = r.unwrap();
        match r.kind {
            EventKind::Hypertrace if r.arg(2) == Some(hot) => {
                if r.arg1 == ht_user::hypertrace::op::BEGIN {
                    inside = true;
                } else if r.arg1 == ht_user::hypertrace::op::END {
                    inside = false;
                }
            }
            EventKind::ExecTb => {
                blocks += 1;
                blocks_inside += inside as u64;
            }
            _ => {}
        }
    }
    assert!(blocks >= ITERATIONS, "blocks traced: {blocks}");
    assert_eq!(
        blocks, blocks_inside,
        "every block traced lies inside 'hot'"
    );
}

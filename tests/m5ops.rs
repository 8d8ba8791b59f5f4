// SPDX-License-Identifier: GPL-2.0-or-later
//! gem5's m5ops in their instruction form: a program annotated for gem5
//! (the `m5ops` guest, with the encodings of gem5's util/m5 for x86_64,
//! aarch64, arm in both instruction set states and riscv64) runs under
//! ht-user as it is, its work items and statistics intervals become named
//! regions, and the void ops leave the caller's registers alone. gem5
//! defines no m5ops for i386 and mipsel, whose guest says so.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{arch, guest, ht, temp_base};
use ht_user::trace::file::{EventKind, TraceFile};

const ITEMS: u64 = 6;

fn has_m5ops() -> bool {
    matches!(arch().as_str(), "x86_64" | "aarch64" | "arm" | "riscv64")
}

/// Runs the guest with `args` before it; returns its stdout.
fn run_m5ops(args: &[&std::ffi::OsStr]) -> String {
    let out = ht(args)
        .arg(guest("m5ops"))
        .arg(ITEMS.to_string())
        .output()
        .expect("run ht-user");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "m5ops failed ({:?}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if has_m5ops() {
        assert!(
            stdout.ends_with(&format!("rpns nonzero\n{ITEMS} work items, 0 failures\n")),
            "{stdout}"
        );
    } else {
        assert_eq!(stdout, "gem5 defines no m5ops for this architecture\n");
    }
    stdout
}

fn report(trace: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(["report", "--json"])
        .arg(trace)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn work_items_and_statistics_intervals_become_named_regions() {
    let (dir, base) = temp_base();
    let trace = dir.path().join("run.bin");
    let mut spec = base.into_os_string();
    spec.push(",counters=on");
    run_m5ops(&[
        "-hypertrace".as_ref(),
        &spec,
        "-trace-file".as_ref(),
        trace.as_os_str(),
    ]);
    if !has_m5ops() {
        return;
    }
    let j = report(&trace);
    let regions: HashMap<&str, &serde_json::Value> = j["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r))
        .collect();
    let mut want = vec![
        ("m5 work 0", ITEMS / 2),
        ("m5 work 1", ITEMS / 2),
        ("m5 stats", 2),
    ];
    if arch() == "arm" {
        // The work item in the other instruction set state.
        want.push(("m5 work 7", 1));
    }
    let mut names: Vec<&str> = regions.keys().copied().collect();
    names.sort_unstable();
    let mut want_names: Vec<&str> = want.iter().map(|w| w.0).collect();
    want_names.sort_unstable();
    assert_eq!(names, want_names);
    for (name, count) in want {
        let r = regions[name];
        assert_eq!(r["count"], count, "{name}");
        assert_eq!(r["unclosed"], 0, "{name}");
    }
    // The same work between the markers: the same instruction count.
    for name in ["m5 work 0", "m5 work 1"] {
        let insns = &regions[name]["insns"];
        assert_eq!(insns["count"], ITEMS / 2, "{name}: {insns}");
        assert_eq!(insns["min"], insns["max"], "{name}: {insns}");
    }
    let points: Vec<(&str, u64)> = j["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["count"].as_u64().unwrap()))
        .collect();
    // A dump with no interval open, and the dump-and-reset after a dump.
    assert_eq!(points, vec![("m5 dump_stats", 2)]);
    assert_eq!(j["unmatched_closes"], 0);

    // The work id and thread id travel as arg3 and arg4 of the event.
    let file = TraceFile::open(&trace).unwrap();
    let begins: Vec<(u64, u64)> = file
        .records()
        .map(Result::unwrap)
        .filter(|r| r.kind == EventKind::Hypertrace && r.arg1 == ht_user::hypertrace::op::BEGIN)
        .filter_map(|r| Some((r.arg(3)?, r.arg(4)?)))
        .take(3)
        .collect();
    assert_eq!(begins, vec![(0, 0), (1, 0), (0, 0)]);
}

#[test]
fn m5ops_run_without_a_channel() {
    run_m5ops(&[]);
}

#[test]
fn a_region_option_follows_one_work_id() {
    let (dir, base) = temp_base();
    let trace = dir.path().join("run.bin");
    run_m5ops(&[
        "-hypertrace".as_ref(),
        base.as_os_str(),
        "-trace-file".as_ref(),
        trace.as_os_str(),
        "-hypertrace-region".as_ref(),
        "guest_exec_tb,name=m5 work 1".as_ref(),
    ]);
    if !has_m5ops() {
        return;
    }
    let file = TraceFile::open(&trace).unwrap();
    let (mut inside, mut blocks, mut outside) = (false, 0u64, 0u64);
    for r in file.records().map(Result::unwrap) {
        match r.kind {
            EventKind::Hypertrace if r.arg(3) == Some(1) => {
                inside = r.arg1 == ht_user::hypertrace::op::BEGIN;
            }
            EventKind::ExecTb => {
                blocks += 1;
                outside += u64::from(!inside);
            }
            _ => {}
        }
    }
    assert!(blocks > 0, "no block traced inside 'm5 work 1'");
    assert_eq!(
        outside, 0,
        "{outside} of {blocks} blocks outside 'm5 work 1'"
    );
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! The conversions' unit tests.

use super::chrome_json::BATCH;
use super::*;
use crate::trace::file::{ClockAnchor, TraceBuilder, TraceInfo};
use std::ffi::OsString;
use std::path::Path;

/// Client 0 opens and closes a region around a progress point; client 2
/// emits one progress point.
fn chrome_of_sample() -> serde_json::Value {
    let anchor = ClockAnchor {
        monotonic_ns: 5_000,
        realtime_ns: 1_700_000_000_000_000_000,
    };
    let info = TraceInfo::for_run(
        77,
        2,
        "x86_64",
        Path::new("prog"),
        &[OsString::from("prog")],
        Some(64),
        anchor,
    );
    let mut b = TraceBuilder::new(info);
    b.push(5_000, 0, 0, 1, &[0]);
    b.push(5_400, 0, 0, 9, &[3]);
    b.push(6_500, 0, 0, 0, &[0]);
    b.push(7_001, 1, 2, 9, &[4]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.bin");
    std::fs::write(&p, b.finish()).unwrap();
    let file = TraceFile::open(&p).unwrap();
    let mut out = Vec::new();
    let n = chrome(&file, &[RegionSpec::default_spec()], &mut out).unwrap();
    assert_eq!(n, 4);
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn chrome_events_carry_the_fields_perfetto_reads() {
    let j = chrome_of_sample();
    let evs = j["traceEvents"].as_array().unwrap();
    // Every event: a phase, a name, numeric pid and tid; timed ones a
    // numeric ts in microseconds.
    for e in evs {
        assert!(e["ph"].is_string() && e["name"].is_string(), "{e}");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
        if e["ph"] != "M" {
            assert!(e["ts"].is_number(), "{e}");
        }
    }
    let region = evs.iter().find(|e| e["ph"] == "X").unwrap();
    assert_eq!(region["name"], "region");
    assert_eq!(region["ts"].as_f64().unwrap(), 0.0);
    assert_eq!(region["dur"].as_f64().unwrap(), 1.5);
    assert_eq!(region["args"]["client"], 0);
    let instants: Vec<_> = evs.iter().filter(|e| e["ph"] == "i").collect();
    assert_eq!(instants.len(), 2);
    assert_eq!(instants[0]["ts"].as_f64().unwrap(), 0.4);
    assert_eq!(instants[0]["s"], "t");
    assert_eq!(instants[1]["ts"].as_f64().unwrap(), 2.001);
    assert_eq!(instants[1]["args"]["client"], 2);
    assert_eq!(instants[1]["args"]["arg2"], 4);
}

#[test]
fn chrome_keeps_the_order_across_batches() {
    let anchor = ClockAnchor {
        monotonic_ns: 1_000,
        realtime_ns: 1_700_000_000_000_000_000,
    };
    let info = TraceInfo::for_run(
        9,
        3,
        "x86_64",
        Path::new("prog"),
        &[OsString::from("prog")],
        Some(64),
        anchor,
    );
    let mut b = TraceBuilder::new(info);
    // Several batches' worth: a region and two points each round.
    let rounds = 3 * BATCH as u64 / 2;
    for i in 0..rounds {
        let t = 1_000 + 10 * i;
        b.push(t, 0, 0, 1, &[0, 0]);
        b.push(t + 1, 0, 0, 7, &[i, 1]);
        b.push(t + 2, 0, 0, 0, &[0, 0]);
        b.push(t + 3, 0, 1, 8, &[i, 2]);
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.bin");
    std::fs::write(&p, b.finish()).unwrap();
    let file = TraceFile::open(&p).unwrap();
    let mut out = Vec::new();
    let n = chrome(&file, &[RegionSpec::default_spec()], &mut out).unwrap();
    assert_eq!(n, 4 * rounds);
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let evs = j["traceEvents"].as_array().unwrap();
    let regions = evs.iter().filter(|e| e["ph"] == "X").count() as u64;
    assert_eq!(regions, rounds);
    let records: Vec<u64> = evs
        .iter()
        .filter(|e| e["ph"] == "i")
        .map(|e| e["args"]["record"].as_u64().unwrap())
        .collect();
    assert_eq!(records.len() as u64, 2 * rounds);
    assert!(records.windows(2).all(|w| w[0] < w[1]), "out of order");
    let ts: Vec<f64> = evs
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| e["ts"].as_f64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    // Microseconds with the nanoseconds' three decimals.
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"ts\":0.001,"), "{}", &text[..600]);
}

#[test]
fn chrome_origin_is_exact_in_javascript() {
    let j = chrome_of_sample();
    let o = &j["otherData"];
    assert_eq!(o["origin_monotonic_ns"], "5000");
    assert_eq!(o["origin_wall_ns"], "1700000000000000000");
    assert_eq!(o["origin_wall_s"], 1_700_000_000u64);
    assert_eq!(o["origin_wall_subsec_ns"], 0);
    assert_eq!(o["origin_wall_utc"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(o["program"], "prog");
}

#[test]
fn chrome_tracks_never_use_tid_0() {
    let j = chrome_of_sample();
    let evs = j["traceEvents"].as_array().unwrap();
    // Perfetto folds tid 0 into the process's main thread: only the
    // process_name metadata may use it.
    for e in evs {
        if e["name"] != "process_name" {
            assert_ne!(e["tid"], 0, "{e}");
        }
    }
    let threads: Vec<_> = evs
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| (e["tid"].as_u64().unwrap(), e["args"]["name"].clone()))
        .collect();
    // One track per guest thread and client, in order of appearance.
    assert_eq!(
        threads,
        vec![
            (1, "thread 0 client 0".into()),
            (2, "thread 1 client 2".into())
        ]
    );
    for e in evs.iter().filter(|e| e["ph"] == "X" || e["ph"] == "i") {
        let key = (e["args"]["thread"].as_u64(), e["args"]["client"].as_u64());
        let want = if key == (Some(0), Some(0)) { 1 } else { 2 };
        assert_eq!(e["tid"].as_u64().unwrap(), want, "{e}");
    }
}

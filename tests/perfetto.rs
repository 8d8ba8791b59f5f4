// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace convert --to perfetto` on a real run: a forked run's two
//! files, with system calls traced, become one Perfetto trace whose
//! structure is checked here by decoding the protobuf minimally (the
//! trace processor's own view is scripts/check-perfetto.py's).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{forked_named_regions, temp_base};
use ht_user::analysis::protobuf::{fields, Value};

const ITERATIONS: u64 = 10;

// Field numbers of Perfetto's trace protos this test reads.
const PACKET: u32 = 1;
const TRACK_EVENT: u32 = 11;
const TRACK_DESCRIPTOR: u32 = 60;
const EVENT_TYPE: u32 = 9;
const EVENT_TRACK: u32 = 11;
const DESCRIPTOR_UUID: u32 = 1;
const DESCRIPTOR_PROCESS: u32 = 3;
const DESCRIPTOR_THREAD: u32 = 4;
const SLICE_BEGIN: u64 = 1;
const SLICE_END: u64 = 2;
const INSTANT: u64 = 3;

/// The run's files (system calls traced): the parent's, then the child's.
fn forked_run(dir: &Path) -> Vec<PathBuf> {
    forked_named_regions(dir, "", &["-trace", "guest_user_syscall*"], ITERATIONS)
}

fn ht_trace<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(args)
        .output()
        .unwrap()
}

fn message(bytes: &[u8]) -> Vec<(u32, Value<'_>)> {
    fields(bytes)
        .collect::<Result<Vec<_>, _>>()
        .expect("a well-formed message")
}

fn field<'a>(m: &[(u32, Value<'a>)], f: u32) -> Option<Value<'a>> {
    m.iter().find(|(k, _)| *k == f).map(|(_, v)| *v)
}

#[test]
fn a_forked_run_is_one_balanced_perfetto_trace() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path());
    let out_file = dir.path().join("run.perfetto-trace");
    let mut args = vec![
        "convert".into(),
        "--to".into(),
        "perfetto".into(),
        "-o".into(),
    ];
    args.push(out_file.clone().into_os_string());
    args.extend(files.iter().map(|f| f.clone().into_os_string()));
    let out = ht_trace(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&out_file).unwrap();

    // The same bytes on standard output.
    let piped = ht_trace(
        ["convert", "--to", "perfetto"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain(files.iter().map(|f| f.as_os_str())),
    );
    assert!(piped.status.success());
    assert_eq!(piped.stdout, bytes);

    let mut processes = Vec::new();
    let mut threads = Vec::new();
    let mut tracks = std::collections::HashSet::new();
    // Per track: open slices; the deepest seen.
    let mut depth: HashMap<u64, (i64, i64)> = HashMap::new();
    let (mut events, mut begins, mut instants) = (0, 0, 0);
    let trace = message(&bytes);
    assert!(trace.iter().all(|(f, _)| *f == PACKET));
    for (_, p) in &trace {
        let p = message(p.bytes().unwrap());
        if let Some(d) = field(&p, TRACK_DESCRIPTOR) {
            let d = message(d.bytes().unwrap());
            let uuid = field(&d, DESCRIPTOR_UUID).and_then(Value::uint).unwrap();
            assert!(tracks.insert(uuid), "track {uuid} described twice");
            if field(&d, DESCRIPTOR_PROCESS).is_some() {
                processes.push(uuid);
            }
            if field(&d, DESCRIPTOR_THREAD).is_some() {
                threads.push(uuid);
            }
        }
        if let Some(e) = field(&p, TRACK_EVENT) {
            let e = message(e.bytes().unwrap());
            events += 1;
            let track = field(&e, EVENT_TRACK).and_then(Value::uint).unwrap();
            assert!(
                tracks.contains(&track),
                "track {track} used before described"
            );
            let d = depth.entry(track).or_default();
            match field(&e, EVENT_TYPE).and_then(Value::uint).unwrap() {
                SLICE_BEGIN => {
                    begins += 1;
                    d.0 += 1;
                    d.1 = d.1.max(d.0);
                }
                SLICE_END => {
                    d.0 -= 1;
                    assert!(d.0 >= 0, "an end without a begin on track {track}");
                }
                INSTANT => instants += 1,
                t => panic!("event type {t}"),
            }
        }
    }
    assert_eq!(processes.len(), 2, "a process per file");
    // named-regions: one thread in each process.
    assert_eq!(threads.len(), 2);
    assert!(
        depth.values().all(|&(open, _)| open == 0),
        "every slice ends: {depth:?}"
    );
    // Regions hold system calls: slices nest.
    assert!(
        depth.values().any(|&(_, deepest)| deepest >= 2),
        "{depth:?}"
    );

    // The report's regions and the records' calls, all there.
    let report: serde_json::Value = serde_json::from_slice(
        &ht_trace(
            ["report", "--json"]
                .iter()
                .map(std::ffi::OsStr::new)
                .chain(files.iter().map(|f| f.as_os_str())),
        )
        .stdout,
    )
    .unwrap();
    let regions: u64 = report["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap() + r["unclosed"].as_u64().unwrap())
        .sum();
    let csv = String::from_utf8(
        ht_trace(
            ["convert", "--to", "csv"]
                .iter()
                .map(std::ffi::OsStr::new)
                .chain(files.iter().map(|f| f.as_os_str())),
        )
        .stdout,
    )
    .unwrap();
    let count = |event: &str| {
        csv.lines()
            .filter(|l| l.split(',').nth(2) == Some(event))
            .count() as u64
    };
    let entries = count("guest_user_syscall");
    let returns = count("guest_user_syscall_ret");
    assert!(entries > 0);
    // A call is a slice; a return with no entry (the child's side of
    // fork) is an instant.
    assert_eq!(begins, regions + entries);
    let points =
        report["progress_total"].as_u64().unwrap() + report["unmatched_closes"].as_u64().unwrap();
    let lone_returns = instants - points;
    assert!(lone_returns <= returns);
    assert_eq!(events, 2 * begins + instants);
}

#[test]
fn perfetto_output_to_a_terminal_is_refused() {
    // script(1) gives ht-trace a terminal as standard output.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no script(1) to make a terminal");
        return;
    }
    let (dir, _) = temp_base();
    let files = forked_run(dir.path());
    let cmd = format!(
        "{} convert --to perfetto {}",
        env!("CARGO_BIN_EXE_ht-trace"),
        files[0].display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.contains("writes binary data"), "{text}");
}

#[test]
fn bad_input_fails_with_one_line() {
    let (dir, _) = temp_base();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"not a trace").unwrap();
    let out = ht_trace([
        "convert".as_ref(),
        "--to".as_ref(),
        "perfetto".as_ref(),
        junk.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
}

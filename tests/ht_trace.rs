// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace`: report, compare, convert and plot on traces written by
//! ht-user and on synthetic ones with known figures; broken files give a
//! located error, never a panic.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ht_user::trace::file::{ClockAnchor, TraceBuilder, TraceFile, TraceInfo};
use serde_json::Value;

fn ht_user() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ht-user"))
}

fn ht_trace_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ht-trace"))
}

fn guest(name: &str) -> PathBuf {
    let arch = std::env::var("HT_ARCH")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "x86_64".to_string());
    let dir = match std::env::var_os("HT_TESTDATA") {
        Some(d) if !d.is_empty() => std::path::absolute(d).unwrap(),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(arch),
    };
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs ht-trace; fails the test on a panic whatever the exit status.
fn ht_trace(args: &[&str]) -> Output {
    let out = Command::new(ht_trace_bin()).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && out.status.code() != Some(101),
        "ht-trace {args:?} panicked: {err}"
    );
    out
}

fn ok(args: &[&str]) -> String {
    let out = ht_trace(args);
    assert!(
        out.status.success(),
        "ht-trace {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = ht_trace(args);
    assert_eq!(out.status.code(), Some(1), "ht-trace {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

const ANCHOR: ClockAnchor = ClockAnchor {
    monotonic_ns: 1_000_000,
    realtime_ns: 1_700_000_000_000_000_000,
};

fn synthetic(path: &Path, build: impl FnOnce(&mut TraceBuilder)) {
    let info = TraceInfo::for_run(
        4242,
        3,
        "x86_64",
        Path::new("synthetic"),
        &[OsString::from("synthetic")],
        Some(64),
        ANCHOR,
    );
    let mut b = TraceBuilder::new(info);
    build(&mut b);
    std::fs::write(path, b.finish()).unwrap();
}

/// Regions of 1..=100 us on client 0 with a progress point (arg1=7) in each;
/// one progress point outside; one region left open on client 1.
fn known_trace(path: &Path, scale: u64) {
    trace_with(path, |d| d * 1000 * scale)
}

/// As [`known_trace`], region `d` (1..=100) lasting `duration(d)` ns.
fn trace_with(path: &Path, duration: impl Fn(u64) -> u64) {
    synthetic(path, |b| {
        let mut t = ANCHOR.monotonic_ns + 10;
        for d in 1..=100u64 {
            b.push(t, 0, 0, 1, &[0, 0]);
            b.push(t + 1, 0, 0, 7, &[d, 0]);
            t += duration(d);
            b.push(t, 0, 0, 0, &[0, 0]);
            t += 500;
        }
        b.push(t, 0, 0, 9, &[0, 0]);
        b.push(t + 1, 0, 1, 1, &[0, 0]);
        b.push(t + 2, 0, 1, 0xdead, &[0, 0]);
    });
}

/// The text elements of an SVG, in document order.
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
        .collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn report_of_known_durations_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("k.bin");
    known_trace(&t, 1);
    let j = json(&ok(&["report", "--json", s(&t)]));
    assert_eq!(j["events"], 303);
    let r = &j["regions"][0];
    assert_eq!(r["name"], "region");
    assert_eq!(r["count"], 100);
    assert_eq!(r["total_ns"], 5050 * 1000);
    assert_eq!(r["min_ns"], 1000);
    assert_eq!(r["median_ns"], 50_000);
    assert_eq!(r["p90_ns"], 90_000);
    assert_eq!(r["p99_ns"], 99_000);
    assert_eq!(r["max_ns"], 100_000);
    assert_eq!(r["unclosed"], 1);
    // The progress point inside the region never closed is not counted.
    assert_eq!(r["progress"], 100);
    let rate = r["progress_per_s"].as_f64().unwrap();
    assert!((rate - 100.0 / 5.05e-3).abs() < 1e-6 * rate, "{rate}");
    assert_eq!(j["progress_total"], 102);
    assert_eq!(j["progress_in_regions"], 101);
    assert_eq!(j["unmatched_closes"], 0);
    let p = j["progress"].as_array().unwrap();
    assert_eq!(p[0]["arg1"], 7);
    assert_eq!(p[0]["count"], 100);
    assert_eq!(p.len(), 3);
    assert_eq!(j["metadata"]["program"], "synthetic");

    let text = ok(&["report", s(&t)]);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "region", "100", "5050000", "1000", "50000", "90000", "99000", "100000", "100",
                    "19.8k/s"
                ]),
        "{text}"
    );
    for want in [
        "arg1=7",
        "1 'region' region(s) never closed",
        "clients 0, 1",
        // The summary line in the table's unit (nanoseconds).
        "  region: median 50000 ns, middle half ",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn custom_region_specs() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("k.bin");
    // Interleaved keyed regions, phases a -> b, an unmatched close.
    synthetic(&t, |b| {
        let t0 = ANCHOR.monotonic_ns;
        b.push(t0 + 100, 0, 0, 1, &[5, 0]); // open k=5
        b.push(t0 + 200, 0, 0, 1, &[6, 0]); // open k=6
        b.push(t0 + 300, 0, 0, 0, &[5, 0]); // closes k=5 (200 ns)
        b.push(t0 + 700, 0, 0, 0, &[9, 0]); // no key match: innermost, k=6 (500 ns)
        b.push(t0 + 800, 0, 0, 0, &[0, 0]); // unmatched
        b.push(t0 + 900, 0, 2, 10, &[0, 0]); // phase a
        b.push(t0 + 950, 0, 2, 11, &[0, 0]); // a ends (50), b starts
        b.push(t0 + 1050, 0, 2, 12, &[0, 0]); // b ends (100)
    });
    let j = json(&ok(&[
        "report",
        "--json",
        "--region",
        "w=1:0/arg2",
        "--region",
        "a=10:11",
        "--region",
        "b=11:12",
        s(&t),
    ]));
    let regions = j["regions"].as_array().unwrap();
    let get = |name: &str| {
        regions
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {regions:?}"))
    };
    assert_eq!(get("w arg2=5")["median_ns"], 200);
    assert_eq!(get("w arg2=6")["median_ns"], 500);
    assert_eq!(get("a")["median_ns"], 50);
    assert_eq!(get("b")["median_ns"], 100);
    assert_eq!(j["unmatched_closes"], 1);
    assert_eq!(j["progress_total"], 0);

    let e = fails(&["report", "--region", "x=1:1", s(&t)]);
    assert!(e.contains("must differ"), "{e}");
    let e = fails(&["report", "--region", "a=1:0", "--region", "b=1:2", s(&t)]);
    assert!(e.contains("opens both"), "{e}");
    let e = fails(&["report", "--region", "nonsense", s(&t)]);
    assert!(e.contains("[NAME=]OPEN:CLOSE"), "{e}");
}

/// Runs the regions guest; returns the median region lengths for 1, 2 and
/// 4 units of work, after checking the trace's exact counts.
fn regions_medians(dir: &Path, reps: u64) -> (f64, f64, f64) {
    let base = dir.join("ht");
    let t = dir.join("r.bin");
    let out = Command::new(ht_user())
        .arg("-hypertrace")
        .arg(format!("path={},args=3", s(&base)))
        .args(["-trace-file", s(&t), s(&guest("regions")), s(&base)])
        .arg(reps.to_string())
        .arg("20000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Default spec: all 3*reps regions, every unit's progress point inside.
    let j = json(&ok(&["report", "--json", s(&t)]));
    assert_eq!(j["events"], reps * 13 + 1);
    assert_eq!(j["regions"][0]["count"], 3 * reps);
    assert_eq!(j["progress_total"], reps * 7 + 1);
    assert_eq!(j["progress_in_regions"], reps * 7);
    assert_eq!(j["unmatched_closes"], 0);

    let j = json(&ok(&[
        "report",
        "--json",
        "--region",
        "work=1:0/arg2",
        s(&t),
    ]));
    let median = |k: u64| {
        let r = j["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == format!("work arg2={k}"))
            .unwrap();
        assert_eq!(r["count"], reps);
        assert_eq!(r["progress"], reps * k);
        r["median_ns"].as_f64().unwrap()
    };
    let text = ok(&["report", "--region", "work=1:0/arg2", s(&t)]);
    assert!(text.contains("work arg2=4"), "{text}");
    (median(1), median(2), median(4))
}

#[test]
fn regions_guest_has_ordered_medians_about_1_2_4() {
    let dir = tempfile::tempdir().unwrap();
    // Emulated timing on a shared machine is noisy: the ratios get wide
    // bounds and up to three runs; the counts are exact in every run.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (m1, m2, m4) = regions_medians(dir.path(), 25);
        let (r2, r4) = (m2 / m1, m4 / m1);
        if m1 < m2 && m2 < m4 && (1.5..3.0).contains(&r2) && (2.5..6.0).contains(&r4) {
            return;
        }
        seen.push((m1, m2, m4, r2, r4));
    }
    panic!("medians (1x, 2x, 4x, 2x/1x, 4x/1x) out of bounds in every run: {seen:?}");
}

#[test]
fn compare_gives_ratios_and_notes_noise() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    let c = dir.path().join("c.bin");
    // Tight spreads: 100..=109 us, and three times that.
    trace_with(&a, |d| (100 + d % 10) * 1000);
    trace_with(&b, |d| (100 + d % 10) * 3000);
    trace_with(&c, |d| (100 + (d + 3) % 10) * 1000);
    let text = ok(&["compare", s(&a), s(&b)]);
    let has_row = |text: &str, row: &[&str]| {
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == row)
    };
    assert!(
        has_row(&text, &["median", "ns", "104000", "312000", "3.00"]),
        "{text}"
    );
    assert!(
        has_row(&text, &["region", "count", "100", "100", "1.00"]),
        "{text}"
    );
    assert!(
        has_row(&text, &["min", "ns", "100000", "300000", "3.00"]),
        "{text}"
    );
    assert!(
        text.contains("region: B is slower, median B/A 3.00"),
        "{text}"
    );
    // The notes give the middle halves in the table's unit, ns.
    assert!(
        text.contains("(middle halves A 102000..107000 ns, B 306000..321000 ns do not overlap)"),
        "{text}"
    );
    let text = ok(&["compare", s(&b), s(&a)]);
    assert!(text.contains("B is faster, median B/A 0.33"), "{text}");
    let text = ok(&["compare", s(&a), s(&c)]);
    assert!(text.contains("the spreads overlap"), "{text}");
    assert!(text.contains("may be noise"), "{text}");
}

#[test]
fn convert_to_chrome_csv_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("k.bin");
    known_trace(&t, 1);

    let out = dir.path().join("k.json");
    ok(&["convert", "--to", "chrome", s(&t), "-o", s(&out)]);
    let j = json(&std::fs::read_to_string(&out).unwrap());
    let evs = j["traceEvents"].as_array().unwrap();
    let of = |ph: &str| evs.iter().filter(|e| e["ph"] == ph).collect::<Vec<_>>();
    let complete = of("X");
    assert_eq!(complete.len(), 101); // 100 closed + 1 still open
    assert_eq!(of("i").len(), 102);
    let threads: Vec<_> = of("M")
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    assert_eq!(threads, vec![1, 2]); // tid = client + 1
    let first = complete[0];
    assert_eq!(first["name"], "region");
    assert_eq!(first["tid"], 1);
    assert_eq!(first["args"]["client"], 0);
    assert_eq!(first["dur"].as_f64().unwrap(), 1.0);
    assert_eq!(first["ts"].as_f64().unwrap(), 0.0);
    assert_eq!(first["args"]["duration_ns"], 1000);
    assert_eq!(complete[100]["args"]["unclosed"], true);
    assert_eq!(complete[100]["tid"], 2);
    assert_eq!(complete[100]["args"]["client"], 1);
    assert_eq!(j["otherData"]["program"], "synthetic");
    // The wall-clock origin, exact in JavaScript: a decimal string, and
    // whole seconds and nanoseconds.
    let origin = &j["otherData"];
    assert_eq!(
        origin["origin_wall_ns"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        ANCHOR.realtime_ns + 10
    );
    assert_eq!(origin["origin_wall_s"], ANCHOR.realtime_ns / 1_000_000_000);
    assert_eq!(origin["origin_wall_subsec_ns"], 10);
    assert_eq!(origin["origin_wall_utc"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(
        origin["origin_monotonic_ns"].as_str().unwrap(),
        (ANCHOR.monotonic_ns + 10).to_string()
    );

    let csv = ok(&["convert", "--to", "csv", s(&t)]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 304);
    assert_eq!(
        lines[0],
        "ts_ns,wall_ns,event,pid,thread,client,arg1,arg2,arg3"
    );
    assert_eq!(
        lines[2],
        "1000011,1700000000000000011,guest_hypertrace,4242,0,0,7,1,0"
    );

    let log = ok(&["convert", "--to", "log", s(&t)]);
    assert_eq!(log.lines().count(), 303);
    assert_eq!(
        log.lines().nth(1).unwrap(),
        "4242@1700000000.000000:guest_hypertrace cpu=0x0  arg1=7 arg2=0x0000000000000001 arg3=0x0000000000000000"
    );
    let out = ht_trace(&["convert", "--to", "xml", s(&t)]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit with 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown format"));
}

#[test]
fn plot_writes_svg_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    known_trace(&a, 1);
    known_trace(&b, 2);
    let one = dir.path().join("one.svg");
    ok(&["plot", s(&a), "-o", s(&one)]);
    let svg = std::fs::read_to_string(&one).unwrap();
    assert!(svg.starts_with("<svg "), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    let texts = svg_texts(&svg);
    assert!(texts.contains(&"region"), "{texts:?}");
    assert!(texts.contains(&"n=100 median 50.0 us"), "{texts:?}");
    assert!(texts.contains(&"region duration (log scale)"), "{texts:?}");
    let two = dir.path().join("two.svg");
    ok(&["plot", s(&a), s(&b), "-o", s(&two)]);
    let svg = std::fs::read_to_string(&two).unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts.contains(&"A n=100 median 50.0 us, B n=100 median 100 us"),
        "{texts:?}"
    );
    assert!(texts.contains(&format!("A: {}", s(&a)).as_str()));
    assert!(texts.contains(&"share of regions"));
    // One outlier among 100 regions of about 1 us: the axis ends near the
    // 99th percentile at a round value, ticks fall on round values, and
    // the outlier is counted in the last bin and named.
    let outlier = dir.path().join("outlier.bin");
    trace_with(&outlier, |d| if d == 100 { 1_000_000 } else { 1000 + d });
    ok(&["plot", s(&outlier), "-o", s(&one)]);
    let svg = std::fs::read_to_string(&one).unwrap();
    let texts = svg_texts(&svg);
    let ticks: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| t.ends_with(" us") && t.split(' ').count() == 2)
        .collect();
    assert_eq!(ticks, ["1.00 us", "1.05 us", "1.10 us"], "{texts:?}");
    assert!(
        texts.contains(&"region duration; 1 longer than 1.10 us in the last bin"),
        "{texts:?}"
    );
    // Nothing to plot.
    let none = dir.path().join("none.bin");
    synthetic(&none, |b| b.push(ANCHOR.monotonic_ns, 0, 0, 5, &[]));
    let e = fails(&["plot", s(&none), "-o", s(&one)]);
    assert!(e.contains("no closed regions"), "{e}");
}

#[test]
fn broken_files_give_located_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("k.bin");
    known_trace(&t, 1);
    let good = std::fs::read(&t).unwrap();
    let header = TraceInfo::for_run(
        4242,
        3,
        "x86_64",
        Path::new("synthetic"),
        &[OsString::from("synthetic")],
        Some(64),
        ANCHOR,
    )
    .encode()
    .len();
    let bad = dir.path().join("bad.bin");
    let write = |bytes: &[u8]| std::fs::write(&bad, bytes).unwrap();

    // Truncated in a record.
    write(&good[..good.len() - 10]);
    let e = fails(&["report", s(&bad)]);
    let at = header + 302 * 48;
    assert!(
        e.contains(&format!(
            "record 302 at byte {at}: truncated: incomplete (38 of 48 bytes)"
        )),
        "{e}"
    );
    // ... which --allow-truncated reads, with a warning.
    let out = ht_trace(&["report", "--json", "--allow-truncated", s(&bad)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    assert_eq!(json(&String::from_utf8(out.stdout).unwrap())["events"], 302);
    // Whole records missing although the header counted them.
    write(&good[..header + 48 * 10]);
    let e = fails(&["convert", "--to", "csv", s(&bad)]);
    assert!(e.contains("announces 303 records"), "{e}");
    // Inside the header.
    write(&good[..30]);
    assert!(fails(&["info", s(&bad)]).contains("truncated"));
    write(&good[..header - 4]);
    assert!(fails(&["report", s(&bad)]).contains("truncated"));
    // Not a trace at all; an empty file; a missing file.
    write(b"4242@1700000000.000000:guest_hypertrace cpu=0x0  arg1=7\n");
    assert!(fails(&["report", s(&bad)]).contains("not an ht-user trace"));
    write(b"");
    assert!(fails(&["report", s(&bad)]).contains("truncated"));
    assert!(fails(&["report", "/nonexistent/t.bin"]).contains("cannot open"));
    // A zeroed record in the middle: its timestamp goes back.
    let mut z = good.clone();
    let at = header + 48 * 150;
    z[at..at + 48].fill(0);
    write(&z);
    let e = fails(&["report", s(&bad)]);
    assert!(e.contains(&format!("record 150 at byte {at}")), "{e}");
    // A newer major version.
    let mut v = good.clone();
    v[8] = 3;
    write(&v);
    assert!(fails(&["report", s(&bad)]).contains("version 3.1 is not supported"));

    // Every cut and many single-byte corruptions: exit 0 or 1, never a panic.
    let mut cuts: Vec<usize> = (0..header + 100).collect();
    cuts.extend((header..good.len()).step_by(97));
    for cut in cuts {
        write(&good[..cut]);
        let out = ht_trace(&["report", "--json", s(&bad)]);
        assert_eq!(out.status.code(), Some(1), "cut at {cut}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("bad.bin"));
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..150 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut c = good.clone();
        let at = (x % good.len() as u64) as usize;
        c[at] ^= (x >> 32) as u8 | 1;
        write(&c);
        for args in [
            &["report", s(&bad)][..],
            &["convert", "--to", "chrome", s(&bad)][..],
        ] {
            let out = ht_trace(args);
            assert!(matches!(out.status.code(), Some(0 | 1)), "flip at {at}");
        }
    }
}

/// The same for a compact trace (format 2.0): truncations say where the
/// torn chunk starts, and no cut or flipped byte makes ht-trace panic.
#[test]
fn broken_compact_files_give_located_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("k.bin");
    known_trace(&fixed, 1);
    let t = dir.path().join("c.bin");
    ok(&["convert", "--to", "compact", s(&fixed), "-o", s(&t)]);
    assert_eq!(
        ok(&["report", s(&t)])
            .replace(s(&t), "F")
            .replace("format 2.0", "format V"),
        ok(&["report", s(&fixed)])
            .replace(s(&fixed), "F")
            .replace("format 1.1", "format V")
    );
    let good = std::fs::read(&t).unwrap();
    let header = TraceFile::open(&t).unwrap().header_size;
    assert!(good.len() < header + 303 * 16, "{} bytes", good.len());
    let bad = dir.path().join("bad.bin");
    let write = |bytes: &[u8]| std::fs::write(&bad, bytes).unwrap();

    // Torn inside the (only) chunk: none of its records are read.
    write(&good[..good.len() - 10]);
    let e = fails(&["report", s(&bad)]);
    assert!(
        e.contains(&format!(
            "record 0 at byte {header}: truncated: the chunk at byte {header} is incomplete"
        )),
        "{e}"
    );
    let out = ht_trace(&["info", "--allow-truncated", s(&bad)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    // A flipped tag: an unknown kind, located.
    let mut k = good.clone();
    k[header + 8] = 0x06;
    write(&k);
    let e = fails(&["report", s(&bad)]);
    assert!(
        e.contains(&format!(
            "record 0 at byte {}: corrupt: unknown record kind 6",
            header + 8
        )),
        "{e}"
    );

    for cut in (header..good.len()).step_by(7) {
        write(&good[..cut]);
        let out = ht_trace(&["report", "--json", s(&bad)]);
        assert_eq!(out.status.code(), Some(1), "cut at {cut}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("bad.bin"));
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..150 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut c = good.clone();
        let at = header + (x % (good.len() - header) as u64) as usize;
        c[at] ^= (x >> 32) as u8 | 1;
        write(&c);
        for args in [
            &["report", s(&bad)][..],
            &["convert", "--to", "csv", s(&bad)][..],
        ] {
            let out = ht_trace(args);
            assert!(matches!(out.status.code(), Some(0 | 1)), "flip at {at}");
        }
    }
}

#[test]
fn report_calls_a_never_closed_trace_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.bin");
    known_trace(&path, 1);
    // As its writer left it when killed: the record count never written.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = ht_user::trace::file::RECORD_COUNT_OFFSET as usize;
    bytes[at..at + 8].copy_from_slice(&ht_user::trace::file::COUNT_UNKNOWN.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let out = ok(&["report", s(&path)]);
    assert!(
        out.contains("warning   incomplete: the record count was never written"),
        "{out}"
    );
    // A closed trace carries no such warning.
    known_trace(&path, 1);
    assert!(!ok(&["report", s(&path)]).contains("the record count was never written"));
}

/// Runs ht-trace with `input` on its standard input (a pipe).
fn ht_trace_with_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(ht_trace_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from another thread: a large trace would fill the pipe while
    // ht-trace has not started reading.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "ht-trace {args:?} panicked"
    );
    out
}

#[test]
fn dash_reads_standard_input_and_writes_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("k.bin");
    known_trace(&t, 1);
    let bytes = std::fs::read(&t).unwrap();

    // A trace on standard input, and through a pipe given by name.
    for args in [
        &["report", "--json", "-"][..],
        &["report", "--json", "/dev/stdin"][..],
    ] {
        let out = ht_trace_with_stdin(args, &bytes);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let from_pipe = json(&String::from_utf8(out.stdout).unwrap());
        let from_file = json(&ok(&["report", "--json", s(&t)]));
        assert_eq!(from_pipe["regions"], from_file["regions"], "{args:?}");
        assert_eq!(from_pipe["events"], 303);
    }
    let out = ht_trace_with_stdin(&["info", "-"], &bytes);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("header count 303"));

    // `-o -` and no -o write to standard output, for convert and plot.
    let csv = ok(&["convert", "--to", "csv", s(&t)]);
    assert_eq!(ok(&["convert", "--to", "csv", "-o", "-", s(&t)]), csv);
    assert!(csv.lines().count() > 300);
    assert!(
        !dir.path().join("-").exists(),
        "-o - created a file named '-'"
    );
    for args in [&["plot", s(&t)][..], &["plot", "-o", "-", s(&t)][..]] {
        let svg = ok(args);
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{args:?}"
        );
    }

    // Standard input can be read once.
    let out = ht_trace_with_stdin(&["compare", "-", "-"], &bytes);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only one input can be standard input"));
    // Not a trace on standard input: a located error, no panic.
    let out = ht_trace_with_stdin(&["report", "-"], b"not a trace");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(standard input)"));
}

#[test]
fn regions_table_has_one_row_per_region_with_integer_durations() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("k.bin");
    known_trace(&t, 1);
    let csv = ok(&["convert", "--to", "regions", s(&t)]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "region,pid,client,thread,start_ns,end_ns,duration_ns,start_wall_ns,depth,progress,closed"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 100 closed regions of 1..=100 us on client 0, in order, each with
    // its progress point; then the one left open on client 1.
    assert_eq!(rows.len(), 101);
    for (d, row) in (1..=100u64).zip(&rows) {
        assert_eq!(row[0], "region");
        assert_eq!(row[2], "0");
        assert_eq!(row[6], (d * 1000).to_string());
        let start: u64 = row[4].parse().unwrap();
        assert_eq!(row[5].parse::<u64>().unwrap() - start, d * 1000);
        assert_eq!(
            row[7].parse::<u64>().unwrap(),
            start - ANCHOR.monotonic_ns + ANCHOR.realtime_ns
        );
        assert_eq!(&row[8..], ["0", "1", "1"]);
    }
    assert_eq!(rows[100][2], "1");
    assert_eq!(rows[100][10], "0", "left open");
    // The report's median is the median of the table's closed rows.
    let mut durations: Vec<u64> = rows[..100].iter().map(|r| r[6].parse().unwrap()).collect();
    durations.sort();
    let report = json(&ok(&["report", "--json", s(&t)]));
    assert_eq!(report["regions"][0]["count"], 100);
    assert_eq!(report["regions"][0]["min_ns"], durations[0]);
    assert_eq!(report["regions"][0]["max_ns"], durations[99]);

    // Names with a comma are quoted.
    let csv = ok(&["convert", "--to", "regions", "--region", "a,b=1:0", s(&t)]);
    assert!(csv.lines().nth(1).unwrap().starts_with("\"a,b\","), "{csv}");
}

#[test]
fn a_small_compact_trace_cannot_ask_for_gigabytes() {
    use ht_user::trace::file::{Layout, MAX_EVENT_ARGS};
    use ht_user::trace::{EventKind, EventSet};
    // Compact records of a few bytes expand to fixed-size records in
    // memory, whose size the header sets: the header's argument count and
    // record size are bounded, so a small file cannot expand to gigabytes
    // (a 634-byte trace asking for 14,336 arguments took 1.6 GB before,
    // a 400-byte one declaring huge records 18 GB).
    let dir = tempfile::tempdir().unwrap();
    let build = |args: u32, path: &Path| {
        let info = TraceInfo::for_run(
            4242,
            args,
            "x86_64",
            Path::new("synthetic"),
            &[OsString::from("synthetic")],
            Some(64),
            ANCHOR,
        )
        .with_kinds(EventSet(EventKind::MemAccess.bit()))
        .with_layout(Layout::Compact);
        let mut b = TraceBuilder::new(info);
        for k in 0..500u64 {
            b.push_any(
                ANCHOR.monotonic_ns + k,
                0,
                EventKind::MemAccess,
                3,
                0x1000,
                &[0x400000, 0],
            );
        }
        std::fs::write(path, b.finish()).unwrap();
    };
    let ok_trace = dir.path().join("max.bin");
    build(MAX_EVENT_ARGS, &ok_trace);
    assert!(std::fs::metadata(&ok_trace).unwrap().len() < 64 * 1024);
    let f = TraceFile::open(&ok_trace).unwrap();
    assert_eq!(f.records, 500);
    assert!(ok(&["info", s(&ok_trace)]).contains("500"));

    // The header's record_size is bounded too: records of 256 MB declared
    // by a few hundred bytes (byte 16 of the header).
    let mut huge = std::fs::read(&ok_trace).unwrap();
    huge[16..20].copy_from_slice(&(256u32 << 20).to_le_bytes());
    let huge_trace = dir.path().join("huge-records.bin");
    std::fs::write(&huge_trace, &huge).unwrap();
    let err = fails(&["info", s(&huge_trace)]);
    assert!(err.contains("is larger than any record"), "{err}");

    let too_many = dir.path().join("too-many.bin");
    build(MAX_EVENT_ARGS + 1, &too_many);
    let err = fails(&["info", s(&too_many)]);
    assert!(
        err.contains(&format!(
            "event_args {} is out of range 1..={MAX_EVENT_ARGS}",
            MAX_EVENT_ARGS + 1
        )),
        "{err}"
    );
}

const SUBCOMMANDS: [&str; 8] = [
    "report",
    "compare",
    "convert",
    "plot",
    "profile",
    "info",
    "completions",
    "manpage",
];

#[test]
fn every_subcommand_has_its_manual_page() {
    // The list here (and ht-trace's own, which `manpage` takes its names
    // from) is every subcommand --help lists: a new one cannot be missed.
    let help = ok(&["--help"]);
    let mut listed: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    listed.sort_unstable();
    let mut known = SUBCOMMANDS.to_vec();
    known.sort_unstable();
    assert_eq!(listed, known);
    let page = ok(&["manpage", "report"]);
    assert!(page.contains(".TH ht-trace-report 1"), "{page}");
    assert!(page.contains("\\-\\-json"), "{page}");
    assert!(!page.contains("callgrind"), "{page}");
    let out = ht_trace(&["manpage", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("invalid value 'nosuch'"), "{err}");
    assert!(err.contains("report, compare, convert"), "{err}");
    // The main page points to the subcommands' pages, and no other.
    let main = ok(&["manpage"]);
    assert!(main.contains("ht\\-trace\\-report(1)"), "{main}");
    assert!(!main.contains("ht\\-trace\\-help(1)"), "{main}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    ok(&["manpage", "--dir", s(&out)]);
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|c| format!("ht-trace-{c}.1"))
        .chain(["ht-trace.1".to_string()])
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    for c in SUBCOMMANDS {
        let page = std::fs::read_to_string(out.join(format!("ht-trace-{c}.1"))).unwrap();
        assert_eq!(page, ok(&["manpage", c]), "{c}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("ht-trace.1")).unwrap(),
        main
    );
}

#[test]
fn completions_offer_the_values_of_fixed_set_options() {
    let bash = ok(&["completions", "bash"]);
    // --to's formats (not file names), plot's image formats, the shells,
    // manpage's subcommands.
    for words in [
        "chrome perfetto csv regions parquet log fixed compact",
        "svg png",
        "bash elvish fish powershell zsh",
        "report compare convert plot profile info completions manpage",
    ] {
        assert!(bash.contains(words), "no '{words}' in the bash script");
    }
    let convert = bash
        .split("ht__subcmd__trace__subcmd__convert)")
        .nth(1)
        .expect("a convert section");
    let to = convert.split("--to)").nth(1).unwrap();
    let to = to.split(";;").next().unwrap();
    assert!(to.contains("chrome perfetto csv"), "{to}");
    assert!(!to.contains("compgen -f"), "{to}");
    // Parsing is as before: aliases, and Format's own error.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.bin");
    known_trace(&trace, 1);
    assert_eq!(
        ok(&["convert", "--to", "json", s(&trace)]),
        ok(&["convert", "--to", "chrome", s(&trace)])
    );
    assert_eq!(
        ok(&["convert", "--to", "qemu", s(&trace)]),
        ok(&["convert", "--to", "log", s(&trace)])
    );
    let out = ht_trace(&["convert", "--to", "xml", s(&trace)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(
            "invalid value 'xml' for '--to <FORMAT>': unknown format 'xml' (chrome, perfetto, csv, regions, parquet, log, fixed or compact)"
        ),
        "{err}"
    );
    let out = ht_trace(&["completions", "tcsh"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown shell 'tcsh'"));
}

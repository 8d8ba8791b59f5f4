// SPDX-License-Identifier: GPL-2.0-or-later
//! The binary trace (`-trace-file`): ht-user writes it, the reader reads
//! back exactly what the guest emitted; the text log policy; the Python
//! reader of docs/; the USDT probe note.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ht_user::trace::file::TraceFile;

fn ht_user() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ht-user"))
}

fn ht_trace() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ht-trace"))
}

fn arch() -> String {
    std::env::var("HT_ARCH")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "x86_64".to_string())
}

/// A test guest: from `$HT_TESTDATA` if set, else the committed testdata.
fn guest(name: &str) -> PathBuf {
    let dir = match std::env::var_os("HT_TESTDATA") {
        Some(d) if !d.is_empty() => std::path::absolute(d).unwrap(),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(arch()),
    };
    dir.join(name)
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(ht_user())
        .args(args)
        .env_remove("QEMU_LOG_FILENAME")
        .env_remove("QEMU_STRACE")
        .output()
        .expect("run ht-user");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn round_trip_has_every_event_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht");
    let trace = dir.path().join("t.bin");
    let events = guest("events");
    let n = 20_000u64; // several batches of the writer
    let out = run(&[
        "-hypertrace",
        s(&base),
        "-trace-file",
        s(&trace),
        s(&events),
        s(&base),
        &n.to_string(),
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("emitted {n}\n")
    );
    // No event lines on stderr: the binary trace replaces them.
    assert!(
        !stderr(&out).contains("guest_hypertrace"),
        "{}",
        stderr(&out)
    );

    let f = TraceFile::open(&trace).unwrap();
    // Compact records, with the instruction counters (minor version 1), by
    // default.
    assert_eq!(f.version, (2, 1));
    assert!(f.info.counters);
    assert_eq!(f.declared_count, Some(n));
    assert_eq!(f.records, n);
    assert_eq!(f.info.event_args, 4);
    assert_eq!(f.record_size, 56 + 16);
    assert_eq!(f.info.get("arch").unwrap(), arch());
    assert_eq!(f.info.get("program").unwrap(), s(&events));
    assert_eq!(f.info.get("argc").unwrap(), "4");
    assert_eq!(
        f.info.get("argv").unwrap(),
        format!("{}\0{}\0{n}\03", s(&events), s(&base))
    );
    assert_eq!(f.info.get("max_clients").unwrap(), "64");
    assert!(f
        .info
        .get("tool")
        .unwrap()
        .starts_with(&format!("ht-user {}", env!("CARGO_PKG_VERSION"))));
    let wall = f.info.anchor.realtime_ns;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(
        wall <= now && now - wall < 600_000_000_000,
        "anchor {wall} now {now}"
    );

    let mut count = 0u64;
    for ev in f.events() {
        let ev = ev.unwrap();
        let i = ev.index;
        assert_eq!(ev.arg1, i);
        assert_eq!(ev.client, 3);
        assert_eq!(ev.thread, 0);
        assert_eq!(ev.pid, f.info.pid);
        assert_eq!(ev.args().collect::<Vec<_>>(), vec![i, i * 3 + 1, !i]);
        count += 1;
    }
    assert_eq!(count, n);
    // Channel files are gone.
    for suffix in ["-config", "-data", "-control"] {
        assert!(!Path::new(&format!("{}{suffix}", s(&base))).exists());
    }
}

#[test]
fn argument_count_follows_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht");
    // The sizes include the two counter words (counting is on by default).
    for (args, size) in [(1u32, 48usize), (2, 56), (8, 104)] {
        let trace = dir.path().join(format!("t{args}.bin"));
        let out = run(&[
            "-hypertrace",
            &format!("path={},args={args}", s(&base)),
            "-trace-file",
            s(&trace),
            s(&guest("events")),
            s(&base),
            "5",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let f = TraceFile::open(&trace).unwrap();
        assert_eq!(f.info.event_args, args);
        assert_eq!(f.record_size, size);
        let evs: Vec<_> = f.events().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 5);
        let want: Vec<u64> = [4u64, 13, !4].into_iter().take(args as usize - 1).collect();
        let mut want = want;
        want.resize(args as usize - 1, 0);
        assert_eq!(evs[4].args().collect::<Vec<_>>(), want);
    }
}

#[test]
fn log_and_binary_trace_agree_line_for_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht");
    let trace = dir.path().join("t.bin");
    let log = dir.path().join("t.log");
    let out = run(&[
        "-hypertrace",
        s(&base),
        "-D",
        s(&log),
        "-trace-file",
        s(&trace),
        "-strace",
        s(&guest("events")),
        s(&base),
        "5000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(":guest_hypertrace "))
        .collect();
    assert_eq!(events.len(), 5000);
    // -strace lines are in the log, not in the binary trace.
    assert!(text.lines().any(|l| l.contains(" exit_group(")), "{text}");
    let conv = Command::new(ht_trace())
        .args(["convert", "--to", "log", s(&trace)])
        .output()
        .unwrap();
    assert!(conv.status.success(), "{}", stderr(&conv));
    let conv = String::from_utf8(conv.stdout).unwrap();
    assert_eq!(conv.lines().collect::<Vec<_>>(), events);
}

#[test]
fn text_log_goes_to_stderr_only_without_a_trace_file_or_with_d() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht");
    let trace = dir.path().join("t.bin");
    let events = guest("events");
    let lines = |o: &Output| {
        stderr(o)
            .lines()
            .filter(|l| l.contains(":guest_hypertrace "))
            .count()
    };
    // Neither: events on stderr (QEMU's default).
    let o = run(&["-hypertrace", s(&base), s(&events), s(&base), "7"]);
    assert_eq!(lines(&o), 7);
    // -trace-file only: events only in the file; -strace lines still on stderr.
    let o = run(&[
        "-hypertrace",
        s(&base),
        "-trace-file",
        s(&trace),
        "-strace",
        s(&events),
        s(&base),
        "7",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(&o), 0);
    assert!(stderr(&o).contains(" exit_group("), "{}", stderr(&o));
    assert_eq!(TraceFile::open(&trace).unwrap().records, 7);
    // -D /dev/stderr given explicitly, with -trace-file: both.
    let o = run(&[
        "-hypertrace",
        s(&base),
        "-trace-file",
        s(&trace),
        "-D",
        "/dev/stderr",
        s(&events),
        s(&base),
        "7",
    ]);
    assert_eq!(lines(&o), 7);
    assert_eq!(TraceFile::open(&trace).unwrap().records, 7);
}

#[test]
fn trace_file_without_channel_and_unwritable_trace_file() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.bin");
    let o = run(&["-trace-file", s(&trace), s(&guest("hello"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: -trace-file without -hypertrace"));
    let f = TraceFile::open(&trace).unwrap();
    assert_eq!(
        (f.records, f.declared_count, f.info.event_args),
        (0, Some(0), 1)
    );
    assert_eq!(f.info.get("max_clients"), None);

    let base = dir.path().join("ht");
    let o = run(&[
        "-hypertrace",
        s(&base),
        "-trace-file",
        "/nonexistent-dir/t.bin",
        s(&guest("events")),
        s(&base),
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("cannot create trace file /nonexistent-dir/t.bin"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!Path::new(&format!("{}-control", s(&base))).exists());
}

/// memregion with its region's memory accesses and blocks, every system
/// call and the two hypertrace events, in `format`; with `-D LOG`.
fn all_kinds_trace(dir: &Path, format: &str, extra: &str) -> (PathBuf, PathBuf) {
    let base = dir.join(format!("ht-{format}"));
    let trace = dir.join(format!("{format}.bin"));
    let log = dir.join(format!("{format}.log"));
    let o = run(&[
        "-hypertrace",
        &format!("path={},args=3", s(&base)),
        "-trace-file",
        s(&trace),
        "-trace-format",
        format,
        "-D",
        s(&log),
        "-trace",
        "enable=guest_user_syscall*",
        "-hypertrace-region",
        "guest_mem_before_exec",
        "-hypertrace-region",
        "guest_exec_tb",
        s(&guest("memregion")),
        s(&base),
        extra,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (trace, log)
}

fn ht_trace_out(args: &[&str]) -> String {
    let o = Command::new(ht_trace()).args(args).output().unwrap();
    assert!(o.status.success(), "ht-trace {args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// Every record of every kind as read_trace.py --records prints it.
fn records_csv(path: &Path) -> String {
    let f = TraceFile::open(path).unwrap();
    let mut out = String::new();
    for r in f.records() {
        let r = r.unwrap();
        let mut row = vec![
            r.index.to_string(),
            r.ts_ns.to_string(),
            r.pid.to_string(),
            r.thread.to_string(),
            (r.kind as u32).to_string(),
            r.client.to_string(),
            r.arg1.to_string(),
        ];
        row.extend(r.args().map(|a| a.to_string()));
        if let Some(c) = r.counts {
            row.extend([c.insns.to_string(), c.blocks.to_string()]);
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[test]
fn python_reader_in_docs_matches_ht_trace_csv() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: skipping the docs reader check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reader = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/read_trace.py");
    let python = |args: &[&str]| {
        let o = Command::new("python3")
            .arg(&reader)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "read_trace.py {args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    // Every kind, both layouts: every record as CSV (the same rows from
    // either layout, integers only but for the event name), and every
    // record as read_trace.py --records prints it.
    for format in ["compact", "fixed"] {
        let (trace, _) = all_kinds_trace(dir.path(), format, "300");
        let f = TraceFile::open(&trace).unwrap();
        assert_eq!(f.info.layout.name(), format);
        let kinds: std::collections::HashSet<u32> =
            f.records().map(|r| r.unwrap().kind as u32).collect();
        // The five event kinds and the names of the modules blocks run in.
        assert_eq!(kinds.len(), 6, "{format}: {kinds:?}");
        let csv = ht_trace_out(&["convert", "--to", "csv", s(&trace)]);
        assert_eq!(python(&["--csv", s(&trace)]), csv, "{format}");
        let mut lines = csv.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("ts_ns,wall_ns,event,pid,thread,client,arg1,"));
        let mut events = std::collections::HashSet::new();
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            events.insert(cells[2].to_string());
            for (i, cell) in cells.iter().enumerate().filter(|(i, _)| *i != 2) {
                assert!(
                    cell.is_empty() || cell.parse::<u64>().is_ok(),
                    "{format}: column {i} of {line}"
                );
            }
        }
        assert_eq!(events.len(), 6, "{format}: {events:?}");
        let other = if format == "compact" {
            "fixed"
        } else {
            "compact"
        };
        let converted = dir.path().join(format!("{format}-as-{other}.bin"));
        ht_trace_out(&["convert", "--to", other, "-o", s(&converted), s(&trace)]);
        assert_eq!(
            ht_trace_out(&["convert", "--to", "csv", s(&converted)]),
            csv,
            "{format} converted to {other}"
        );
        let py = python(&["--records", s(&trace)]);
        assert!(py.lines().count() > 600, "{format}");
        assert_eq!(py, records_csv(&trace), "{format}");
        let summary = python(&[s(&trace)]);
        assert!(
            summary.contains(&format!(
                "format {}.",
                if format == "compact" { 2 } else { 1 }
            )),
            "{summary}"
        );
        // The guest's two and ht-user's record of the program's mapping,
        // whose path is the one name.
        assert!(summary.contains("3 events"), "{summary}");
        assert!(summary.contains("\nname 2147483648: /"), "{summary}");
    }

    // Name records (the named-regions guest's names) with the counters on:
    // a name record's words, the counters' two too, all hold the name's
    // bytes and all are in its row; system calls widen the arg columns
    // past them.
    for format in ["compact", "fixed"] {
        let base = dir.path().join(format!("named-{format}"));
        let trace = dir.path().join(format!("named-{format}.bin"));
        let o = run(&[
            "-hypertrace",
            &format!("path={},args=4,counters=on", s(&base)),
            "-trace-file",
            s(&trace),
            "-trace-format",
            format,
            "-trace",
            "enable=guest_user_syscall*",
            s(&guest("named-regions")),
            "3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let csv = ht_trace_out(&["convert", "--to", "csv", s(&trace)]);
        assert_eq!(python(&["--csv", s(&trace)]), csv, "{format}");
        let f = TraceFile::open(&trace).unwrap();
        let names: Vec<Vec<String>> = f
            .records()
            .map(|r| r.unwrap())
            .filter(|r| r.kind as u32 == 5)
            .map(|r| {
                std::iter::once(r.arg1)
                    .chain(r.args())
                    .map(|v| v.to_string())
                    .collect()
            })
            .collect();
        assert!(names.len() > 4, "{format}: {} name records", names.len());
        assert!(
            names.iter().all(|words| words.len() == 1 + 3 + 2),
            "{format}"
        );
        let rows: Vec<Vec<String>> = csv
            .lines()
            .filter(|l| l.contains(",guest_hypertrace_name,"))
            .map(|l| {
                let cells: Vec<String> = l.split(',').map(str::to_string).collect();
                cells[6..]
                    .iter()
                    .take_while(|c| !c.is_empty())
                    .cloned()
                    .collect()
            })
            .collect();
        assert_eq!(rows, names, "{format}");
    }

    // A closed pipe (`| head`) ends the script quietly.
    let trace = dir.path().join("fixed.bin");
    let mut child = Command::new("python3")
        .arg(&reader)
        .arg("--csv")
        .arg(&trace)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        o.status.success() || o.status.signal() == Some(13),
        "{:?}",
        o.status
    );
    assert_eq!(stderr(&o), "");

    let base = dir.path().join("ht");
    let trace = dir.path().join("t.bin");
    let o = run(&[
        "-hypertrace",
        &format!("path={},args=3", s(&base)),
        "-trace-file",
        s(&trace),
        s(&guest("regions")),
        s(&base),
        "3",
        "1000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let py = Command::new("python3")
        .arg(&reader)
        .arg("--csv")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", stderr(&py));
    let rust = Command::new(ht_trace())
        .args(["convert", "--to", "csv", s(&trace)])
        .output()
        .unwrap();
    assert!(rust.status.success(), "{}", stderr(&rust));
    assert_eq!(
        String::from_utf8(py.stdout).unwrap(),
        String::from_utf8(rust.stdout).unwrap()
    );
    // Its summary mode reads the header and counts the events.
    let py = Command::new("python3")
        .arg(&reader)
        .arg(&trace)
        .output()
        .unwrap();
    let text = String::from_utf8(py.stdout).unwrap();
    assert!(text.contains(&format!("arch: {}", arch())), "{text}");
    assert!(text.contains(&format!("{} events", 3 * 13 + 1)), "{text}");
    // And refuses a truncated file.
    let bytes = std::fs::read(&trace).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let py = Command::new("python3")
        .arg(&reader)
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(py.status.code(), Some(1));
    assert!(stderr(&py).contains("truncated"), "{}", stderr(&py));
}

/// The same run's events read the same whichever layout holds them: each
/// layout's trace converts to exactly its run's -D log, and a compact trace
/// re-encoded as fixed (and back) gives ht-trace the same output.
#[test]
fn both_layouts_give_the_same_ht_trace_output() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["compact", "fixed"] {
        let (trace, log) = all_kinds_trace(dir.path(), format, "2000");
        assert_eq!(
            ht_trace_out(&["convert", "--to", "log", s(&trace)]),
            std::fs::read_to_string(&log).unwrap(),
            "{format}"
        );
    }
    let compact = dir.path().join("compact.bin");
    let fixed = dir.path().join("re").join("compact.bin");
    let again = dir.path().join("again").join("compact.bin");
    for d in ["re", "again"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    ht_trace_out(&["convert", "--to", "fixed", s(&compact), "-o", s(&fixed)]);
    ht_trace_out(&["convert", "--to", "compact", s(&fixed), "-o", s(&again)]);
    let (c, f) = (
        TraceFile::open(&compact).unwrap(),
        TraceFile::open(&fixed).unwrap(),
    );
    assert_eq!((c.version, f.version), ((2, 1), (1, 2)), "with counters");
    assert_eq!(c.records, f.records);
    // The fixed file is what numpy.frombuffer reads: header, then records.
    assert_eq!(
        std::fs::metadata(&fixed).unwrap().len(),
        (f.header_size + f.record_size * f.records as usize) as u64
    );
    // Compact: a few bytes a record instead of 56 to 72.
    assert!(
        c.body_bytes * 5 < f.body_bytes,
        "{} {}",
        c.body_bytes,
        f.body_bytes
    );
    for args in [
        &["report"][..],
        &["report", "--json"],
        &["convert", "--to", "csv"],
        &["convert", "--to", "log"],
        &["convert", "--to", "chrome"],
    ] {
        let out = |p: &Path| {
            let mut a = args.to_vec();
            a.push(s(p));
            // The header's version is the one difference.
            ht_trace_out(&a)
                .replace(s(p), "FILE")
                .replace("format 2.1", "format V")
                .replace("format 1.2", "format V")
        };
        let want = out(&compact);
        assert_eq!(out(&fixed), want, "{args:?}");
        assert_eq!(out(&again), want, "{args:?}");
    }
    assert_eq!(records_csv(&compact), records_csv(&fixed));
    assert!(ht_trace_out(&["info", s(&compact)]).contains("compact records"));
}

#[test]
fn usdt_probe_note_is_in_the_binary() {
    let out = match Command::new("readelf").arg("-n").arg(ht_user()).output() {
        Ok(o) => o,
        Err(_) => {
            eprintln!("readelf not found (binutils): skipping the stapsdt check");
            return;
        }
    };
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("Provider: hypertrace")
        .unwrap_or_else(|| panic!("no hypertrace stapsdt note:\n{text}"));
    let note = &text[at..];
    let note = &note[..note.find("\n\n").unwrap_or(note.len())];
    assert!(note.contains("Name: guest_hypertrace"), "{note}");
    // client, arg1, pointer to arg2..argN; and a semaphore, so the probe
    // costs nothing until a tracer attaches.
    let args = note
        .lines()
        .find_map(|l| l.trim().strip_prefix("Arguments:"))
        .unwrap_or_else(|| panic!("{note}"));
    assert_eq!(args.split_whitespace().count(), 3, "{note}");
    assert!(!note.contains("Semaphore: 0x0000000000000000"), "{note}");
    assert!(text.contains("NT_STAPSDT"), "{text}");
}

/// The recording pipeline without the emulator: events pushed through the
/// Recorder to the writer thread and each sink. Prints ns/event; run with
/// `cargo test --release --test trace_file -- --ignored --nocapture`.
#[test]
#[ignore]
fn writer_pipeline_cost_per_event() {
    use ht_user::trace::file::{ClockAnchor, TraceInfo};
    use ht_user::trace::{open_sink, EventRecord, Writer};
    let dir = tempfile::tempdir().unwrap();
    let n = 10_000_000u64;
    let info = TraceInfo::for_run(
        1,
        4,
        "x86_64",
        Path::new("p"),
        &[],
        None,
        ClockAnchor::now(),
    );
    let null =
        || Box::new(std::fs::File::create("/dev/null").unwrap()) as Box<dyn std::io::Write + Send>;
    let file = dir.path().join("t.bin");
    let cases: [(&str, bool, Option<&Path>); 4] = [
        ("QEMU log text to /dev/null", true, None),
        (
            "binary trace to /dev/null",
            false,
            Some(Path::new("/dev/null")),
        ),
        ("binary trace to a file", false, Some(&file)),
        ("both (log /dev/null, binary file)", true, Some(&file)),
    ];
    for (name, log_given, trace) in cases {
        let sink = open_sink(null(), log_given, trace, &info).unwrap();
        let (mut rec, w) = Writer::start(sink, 3).unwrap();
        let t0 = std::time::Instant::now();
        let base = info.anchor.monotonic_ns;
        for i in 0..n {
            let r = EventRecord::hypertrace(base + i, 0, 0, i);
            rec.push(r, &[i, i * 3 + 1, !i]);
        }
        let report = w.finish(rec);
        let dt = t0.elapsed();
        assert_eq!(report.events_written, n);
        println!("{name}: {:.1} ns/event", dt.as_nanos() as f64 / n as f64);
    }
}

/// The writer thread's share of a memory-access trace: encoding batches
/// of memregion-like loads and stores in each layout and writing them to
/// /dev/null, in the calling thread. Prints ns and bytes per record; run
/// with `cargo test --release --test trace_file -- --ignored --nocapture`.
#[test]
#[ignore]
fn writer_encoding_cost_per_memory_access() {
    use ht_user::trace::binary::BinarySink;
    use ht_user::trace::file::{ClockAnchor, Layout, TraceInfo};
    use ht_user::trace::{Batch, EventKind, EventRecord, EventSet, Sink};
    let anchor = ClockAnchor::now();
    let mut batch = Batch {
        extra_args: 3,
        ..Batch::default()
    };
    for k in 0..8192u64 {
        let addr = 0x4c6f00 + 8 * (k / 2 % 8);
        let (aux, pc, value) = if k % 2 == 0 {
            (0x03, 0x401bd4, 0)
        } else {
            (0x13, 0x401bd8, 1_000_000 + k)
        };
        batch.records.push(EventRecord {
            ts_ns: anchor.monotonic_ns + k / 256 * 8000,
            cpu: 0,
            kind: EventKind::MemAccess,
            aux,
            arg1: addr,
        });
        batch.args.extend_from_slice(&[pc, value]);
    }
    let batches = 2500;
    for layout in [Layout::Fixed, Layout::Compact] {
        let dir = tempfile::tempdir().unwrap();
        let info = TraceInfo::for_run(1, 4, "x86_64", Path::new("p"), &[], None, anchor)
            .with_kinds(EventSet(EventKind::MemAccess.bit()))
            .with_layout(layout);
        for (name, path) in [
            ("/dev/null", PathBuf::from("/dev/null")),
            ("a file", dir.path().join("t.bin")),
        ] {
            // This thread's CPU time: what the writer thread spends,
            // whatever else the machine runs.
            let cpu = || {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: clock_gettime writes one timespec we own.
                unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
                ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
            };
            let mut sink = BinarySink::create(&path, &info).unwrap();
            let t0 = std::time::Instant::now();
            let c0 = cpu();
            for _ in 0..batches {
                sink.events(&batch).unwrap();
            }
            sink.finish().unwrap();
            let c = cpu() - c0;
            let dt = t0.elapsed();
            let n = (batches * batch.records.len()) as f64;
            let size = std::fs::metadata(&path).unwrap().len() as f64;
            println!(
                "{} to {name}: {:.1} ns/record wall, {:.1} ns/record CPU{}",
                layout.name(),
                dt.as_nanos() as f64 / n,
                c / n,
                if name == "a file" {
                    format!(", {:.2} bytes/record", size / n)
                } else {
                    String::new()
                }
            );
        }
    }
}

/// The documented reader answers `--help`, an unknown option and a missing
/// file plainly (it crashed on all three with a traceback).
#[test]
fn the_docs_reader_answers_help_and_bad_arguments_plainly() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: skipping the docs reader check");
        return;
    }
    let reader = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/read_trace.py");
    let python = |args: &[&str]| {
        Command::new("python3")
            .arg(&reader)
            .args(args)
            .output()
            .unwrap()
    };
    let help = python(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("read_trace.py --csv TRACE"));
    let unknown = python(&["--bogus", "t.bin"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).starts_with("read_trace.py: unknown option --bogus\n"));
    let missing = python(&["/nonexistent/t.bin"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        "read_trace.py: /nonexistent/t.bin: No such file or directory\n"
    );
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! The hypertrace channel end to end: the seed example's command line, the
//! exact log format, large event streams, channel layout options, trace
//! event selection, the channel files' life cycle (including interrupts)
//! and trace write errors.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// ht-user `options` GUEST `args`.
fn run_guest(options: &[&str], name: &str, args: &[&str]) -> Run {
    let mut cmd = ht(options);
    cmd.arg(guest(name)).args(args);
    run(cmd)
}

/// Names in `dir`, sorted.
fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// arg2.. of event `i` of the `events` guest on a channel with `args`
/// arguments: the guest stores i, 3i+1 and !i into the slots that exist.
fn expected_args(i: u64, args: usize) -> Vec<u64> {
    let stored = [i, i.wrapping_mul(3).wrapping_add(1), !i];
    (0..args - 1)
        .map(|k| stored.get(k).copied().unwrap_or(0))
        .collect()
}

/// Checks a log of the `events` guest: exactly `n` lines, event i with
/// arg1 = i, its data arguments, pid and cpu 0, timestamps in order and
/// inside [start, end] (wall-clock seconds). Returns the lines' common
/// part after the timestamp, for comparisons between runs.
fn check_events_log(
    path: &Path,
    n: u64,
    args: usize,
    pid: u32,
    (start, end): (u64, u64),
) -> Vec<String> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).unwrap());
    let mut line = String::new();
    let mut count = 0u64;
    let mut last_us = 0u64;
    let mut tails = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let text = line
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("incomplete last line {line:?} after {count} events"));
        let e = parse_event(text).unwrap_or_else(|err| panic!("line {count}: {err}"));
        assert_eq!(e.pid, pid, "line {count}: pid");
        assert_eq!(e.cpu, 0, "line {count}: cpu");
        assert_eq!(e.arg1, count, "line {count}: arg1");
        assert_eq!(e.args, expected_args(count, args), "line {count}: args");
        assert!(
            e.time_us() >= last_us,
            "line {count}: timestamp goes backwards: {text}"
        );
        assert!(
            (start..=end).contains(&e.secs),
            "line {count}: timestamp {} outside the run ({start}..={end})",
            e.secs
        );
        last_us = e.time_us();
        if count < 10_000 {
            tails.push(text.split_once(':').unwrap().1.to_string());
        }
        count += 1;
    }
    assert_eq!(count, n, "number of events in {}", path.display());
    tails
}

/// Runs `events BASE N [CLIENT]` with `-hypertrace SPEC -D LOG`, checks the
/// run and its log, and returns the lines' tails.
fn events_run(spec_suffix: &str, n: u64, client: Option<u64>, args: usize) -> Vec<String> {
    events_run_of(&guest("events"), spec_suffix, n, client, args)
}

/// [`events_run`] with the `events` program at `program` (another
/// architecture's).
fn events_run_of(
    program: &Path,
    spec_suffix: &str,
    n: u64,
    client: Option<u64>,
    args: usize,
) -> Vec<String> {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let spec = format!("{}{spec_suffix}", s(&base));
    let n_text = n.to_string();
    let client_text = client.map(|c| c.to_string());
    let mut guest_args = vec![s(&base), n_text.as_str()];
    guest_args.extend(client_text.as_deref());
    let start = now_secs();
    let mut cmd = ht(["-hypertrace", &spec, "-D", s(&log)]);
    cmd.arg(program).args(&guest_args);
    let r = run(cmd);
    let end = now_secs();
    r.assert_code(0);
    assert_eq!(r.stdout, format!("emitted {n}\n"));
    assert_eq!(r.stderr, "");
    let tails = check_events_log(&log, n, args, r.pid, (start, end));
    assert_eq!(dir_entries(dir.path()), ["trace.log"]);
    tails
}

/// Hypertrace events do not depend on the guest's byte order: the same
/// `events` run on this architecture and on one of the other byte order
/// (s390x for a little-endian guest, x86_64 for s390x) logs the same
/// events, argument for argument.
#[test]
fn events_are_the_same_for_either_guest_byte_order() {
    let other = if guest_is_big_endian() {
        "x86_64"
    } else {
        "s390x"
    };
    let other_guest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(other)
        .join("events");
    let here = events_run("", 5000, None, 4);
    let there = events_run_of(&other_guest, "", 5000, None, 4);
    assert_eq!(here.len(), 5000);
    assert!(here == there, "{} and {other} log different events", arch());
}

#[test]
fn log_line_parser_accepts_the_documented_line() {
    let e = parse_event(
        "23071@1473096085.744211:guest_hypertrace cpu=0x5602e1f49c10  arg1=1 \
         arg2=0x000000000000cafe arg3=0x000000000000dead arg4=0x000000000000beef",
    )
    .unwrap();
    assert_eq!(e.pid, 23071);
    assert_eq!((e.secs, e.micros), (1473096085, 744211));
    assert_eq!(e.cpu, 0x5602e1f49c10);
    assert_eq!(e.arg1, 1);
    assert_eq!(e.args, [0xcafe, 0xdead, 0xbeef]);
}

#[test]
fn log_line_parser_rejects_near_misses() {
    let good = "1@2.000003:guest_hypertrace cpu=0x0  arg1=4 arg2=0x0000000000000005";
    assert!(parse_event(good).is_ok());
    for bad in [
        "1@2.00003:guest_hypertrace cpu=0x0  arg1=4 arg2=0x0000000000000005",
        "1@2.000003:guest_hypertrace cpu=0x0 arg1=4 arg2=0x0000000000000005",
        "1@2.000003:guest_hypertrace cpu=0x0  arg1=4 arg2=0x000000000000005",
        "1@2.000003:guest_hypertrace cpu=0x0  arg1=4 arg3=0x0000000000000005",
        "1@2.000003:guest_hypertrace cpu=0x0  arg1=4 arg02=0x0000000000000005",
        "1@2.000003:guest_hypertrace cpu=0x0  arg1=4 arg2=0x000000000000000A",
        "1@2.000003:guest_hypertrace cpu=0x0  arg1=4 arg2=0x0000000000000005 ",
        "x@2.000003:guest_hypertrace cpu=0x0  arg1=4",
        "1@2.000003:guest_other cpu=0x0  arg1=4",
        "1@2.000003:guest_hypertrace cpu=0x0  arg1=0x4",
    ] {
        assert!(parse_event(bad).is_err(), "accepted {bad:?}");
    }
}

const SEED_TAIL_1: &str = "guest_hypertrace cpu=0x0  arg1=1 arg2=0x000000000000cafe \
                           arg3=0x000000000000dead arg4=0x000000000000beef";
const SEED_TAIL_0: &str = "guest_hypertrace cpu=0x0  arg1=0 arg2=0x000000000000cafe \
                           arg3=0x000000000000dead arg4=0x000000000000beef";

/// Checks the two events of seed-example (arg1 1 then 0).
fn check_seed_events(first: &str, last: &str, pid: u32, (start, end): (u64, u64)) {
    let a = parse_event(first).unwrap();
    let b = parse_event(last).unwrap();
    assert_eq!(first.split_once(':').unwrap().1, SEED_TAIL_1);
    assert_eq!(last.split_once(':').unwrap().1, SEED_TAIL_0);
    for e in [&a, &b] {
        assert_eq!(e.pid, pid, "pid is ht-user's");
        assert!(
            (start..=end).contains(&e.secs),
            "timestamp {} outside the run ({start}..={end})",
            e.secs
        );
    }
    assert!(a.time_us() <= b.time_us(), "{first}\n{last}");
}

#[test]
fn seed_example_with_the_seed_command_line() {
    let (dir, base) = temp_base();
    let b = s(&base);
    let start = now_secs();
    let r = run_guest(
        &[
            "-hypertrace",
            b,
            "-trace",
            "enable=guest*",
            "-D",
            "/dev/stdout",
        ],
        "seed-example",
        &[b],
    );
    let end = now_secs();
    r.assert_code(0);
    assert_eq!(r.stderr, "");
    assert!(r.stdout.ends_with('\n'), "{:?}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "stdout:\n{}", r.stdout);
    assert_eq!(lines[1], "Some computation...");
    check_seed_events(lines[0], lines[2], r.pid, (start, end));
    assert!(dir_entries(dir.path()).is_empty(), "channel files left");
}

#[test]
fn seed_example_log_and_output_share_a_redirected_stdout() {
    // stdout is a regular file: log lines and guest output must not
    // overwrite each other.
    let (dir, base) = temp_base();
    let out_path = dir.path().join("out.txt");
    let out = File::create(&out_path).unwrap();
    let b = s(&base);
    let mut cmd = ht(["-hypertrace", b, "-D", "/dev/stdout"]);
    cmd.arg(guest("seed-example"))
        .arg(b)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped());
    let start = now_secs();
    let r = finish(cmd.spawn().unwrap());
    let end = now_secs();
    r.assert_code(0);
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[1], "Some computation...");
    check_seed_events(lines[0], lines[2], r.pid, (start, end));
}

#[test]
fn log_goes_to_stderr_by_default() {
    let (_dir, base) = temp_base();
    let b = s(&base);
    let start = now_secs();
    let r = run_guest(&["-hypertrace", b], "seed-example", &[b]);
    let end = now_secs();
    r.assert_code(0);
    assert_eq!(r.stdout, "Some computation...\n");
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 2, "stderr:\n{}", r.stderr);
    check_seed_events(lines[0], lines[1], r.pid, (start, end));
}

#[test]
fn log_file_from_qemu_log_filename() {
    let (dir, base) = temp_base();
    let log = dir.path().join("env.log");
    let b = s(&base);
    let mut cmd = ht(["-hypertrace", b]);
    cmd.env("QEMU_LOG_FILENAME", &log)
        .arg(guest("seed-example"))
        .arg(b);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "Some computation...\n");
    assert_eq!(r.stderr, "");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(parse_events(&text).len(), 2, "{text}");
}

#[test]
fn base_from_the_guest_environment() {
    // seed-example without an argument reads QEMU_HYPERTRACE_BASE.
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let b = s(&base);
    let env = format!("QEMU_HYPERTRACE_BASE={b}");
    let r = run_guest(
        &["-hypertrace", b, "-E", &env, "-D", s(&log)],
        "seed-example",
        &[],
    );
    r.assert_code(0);
    assert_eq!(r.stdout, "Some computation...\n");
    let text = std::fs::read_to_string(&log).unwrap();
    let events = parse_events(&text);
    assert_eq!(
        events.iter().map(|e| e.arg1).collect::<Vec<_>>(),
        [1, 0],
        "{text}"
    );
}

#[test]
fn events_and_guest_output_keep_their_order() {
    let (_dir, base) = temp_base();
    let b = s(&base);
    let r = run_guest(
        &["-hypertrace", b, "-D", "/dev/stdout"],
        "events",
        &[b, "1000"],
    );
    r.assert_code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1001);
    assert_eq!(lines[1000], "emitted 1000");
    let events = parse_events(&lines[..1000].join("\n"));
    assert!(events.iter().enumerate().all(|(i, e)| e.arg1 == i as u64));
}

#[test]
fn one_million_events() {
    events_run("", 1_000_000, None, 4);
}

#[test]
fn events_from_another_client() {
    let client0 = events_run("", 1000, None, 4);
    let client5 = events_run("", 1000, Some(5), 4);
    assert_eq!(client0, client5, "the client does not show in the lines");
    let last = events_run(",max-clients=64", 10, Some(63), 4);
    assert_eq!(last.len(), 10);
}

#[test]
fn args_option_sets_the_number_of_arguments() {
    for args in [1usize, 2, 4, 8, 16] {
        let tails = events_run(&format!(",args={args}"), 3, None, args);
        let hex_args = tails[1].matches(" arg").count() - 1;
        assert_eq!(hex_args, args - 1, "args={args}: {}", tails[1]);
    }
    let tails = events_run(",args=2", 2, None, 2);
    assert_eq!(
        tails[1],
        "guest_hypertrace cpu=0x0  arg1=1 arg2=0x0000000000000001"
    );
    let tails = events_run(",args=8", 2, None, 8);
    assert_eq!(
        tails[1],
        "guest_hypertrace cpu=0x0  arg1=1 arg2=0x0000000000000001 \
         arg3=0x0000000000000004 arg4=0xfffffffffffffffe arg5=0x0000000000000000 \
         arg6=0x0000000000000000 arg7=0x0000000000000000 arg8=0x0000000000000000"
    );
}

#[test]
fn path_form_of_the_option() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let spec = format!("path={},args=3,max-clients=2", s(&base));
    let r = run_guest(
        &["-hypertrace", &spec, "-D", s(&log)],
        "events",
        &[s(&base), "4", "1"],
    );
    r.assert_code(0);
    let events = parse_events(&std::fs::read_to_string(&log).unwrap());
    assert_eq!(events.len(), 4);
    assert_eq!(events[3].args, [3, 10]);
}

#[test]
fn event_bench_store_and_nostore() {
    let (dir, base) = temp_base();
    let b = s(&base);
    let log = dir.path().join("trace.log");
    let r = run_guest(
        &["-hypertrace", b, "-D", s(&log)],
        "event-bench",
        &[b, "1000", "store"],
    );
    r.assert_code(0);
    assert_eq!(r.stdout, "done 1000\n");
    let events = parse_events(&std::fs::read_to_string(&log).unwrap());
    assert_eq!(events.len(), 1000);
    for (i, e) in events.iter().enumerate() {
        let i = i as u64;
        assert_eq!((e.arg1, e.args.as_slice()), (i, [i, i, 0].as_slice()));
    }

    let r = run_guest(
        &["-hypertrace", b, "-D", s(&log)],
        "event-bench",
        &[b, "1000", "nostore"],
    );
    r.assert_code(0);
    assert_eq!(r.stdout, "done 1000\n");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
}

/// Runs `events BASE 5` with the given -trace arguments; the guest must
/// run normally and nothing may be recorded.
fn assert_tracing_disabled(trace_args: &[&str]) {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let b = s(&base);
    let mut options = vec!["-hypertrace", b];
    options.extend(trace_args);
    options.extend(["-D", s(&log)]);
    let r = run_guest(&options, "events", &[b, "5"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "emitted 5\n");
    assert_eq!(r.stderr, "");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
    assert_eq!(dir_entries(dir.path()), ["trace.log"]);
}

#[test]
fn trace_minus_event_disables_it() {
    assert_tracing_disabled(&["-trace", "-guest_hypertrace"]);
}

#[test]
fn trace_disable_with_attached_value_and_events_file() {
    assert_tracing_disabled(&["--trace=-guest_hypertrace"]);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::write(&events, "# nothing from the guest\n-guest_hypertrace\n").unwrap();
    assert_tracing_disabled(&["-trace", &format!("events={}", s(&events))]);
}

#[test]
fn trace_unknown_event_warns_and_runs() {
    let (_dir, base) = temp_base();
    let b = s(&base);
    let r = run_guest(
        &["-hypertrace", b, "-trace", "enable=nosuch_event"],
        "seed-example",
        &[b],
    );
    r.assert_code(0);
    assert_eq!(r.stdout, "Some computation...\n");
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("ht-user: warning:") && l.contains("nosuch_event")),
        "{}",
        r.stderr
    );
    // The hypertrace event itself stays on.
    let events: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(":guest_hypertrace "))
        .collect();
    assert_eq!(events.len(), 2, "{}", r.stderr);
}

/// Polls `cond` every few milliseconds for up to 30 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A child process that is killed if the test fails before [`finish`].
struct Running(Option<Child>);

impl Running {
    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn finish(mut self) -> Run {
        finish(self.0.take().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `events BASE 20000000` (long enough to be interrupted).
fn start_long_run(base: &Path, log: &Path) -> Running {
    let b = s(base);
    let mut cmd = ht(["-hypertrace", b, "-D", s(log)]);
    cmd.arg(guest("events")).args([b, "20000000"]);
    // The tests send these signals: a run started under nohup (or a shell
    // that ignores SIGINT) would inherit them ignored, and ht-user keeps an
    // inherited ignored signal ignored, as Linux keeps it across execve.
    // SAFETY: signal(2) is async-signal-safe; nothing else runs in the
    // child before exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    Running(Some(spawn(&mut cmd)))
}

#[test]
fn channel_files_during_a_run_and_after_sigterm() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let running = start_long_run(&base, &log);
    wait_for("the channel files", || {
        CHANNEL_SUFFIXES
            .iter()
            .all(|sfx| channel_file(&base, sfx).exists())
    });
    for sfx in CHANNEL_SUFFIXES {
        let meta = std::fs::metadata(channel_file(&base, sfx)).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "BASE{sfx}");
    }
    // The guest reads the configuration with plain loads: its byte order.
    let config = std::fs::read(channel_file(&base, "-config")).unwrap();
    let fields: Vec<u64> = config
        .chunks(8)
        .map(|c| {
            let word = c.try_into().unwrap();
            if guest_is_big_endian() {
                u64::from_be_bytes(word)
            } else {
                u64::from_le_bytes(word)
            }
        })
        .collect();
    // Defaults: 64 clients of 4 arguments; both areas fit in one page.
    assert_eq!(fields, [64, 4, 32, 4096, 4096]);
    for sfx in ["-data", "-control"] {
        let len = std::fs::metadata(channel_file(&base, sfx)).unwrap().len();
        assert_eq!(len, 4096, "size of BASE{sfx}");
    }

    send_signal(running.pid(), libc::SIGTERM);
    let r = running.finish();
    r.assert_code(128 + libc::SIGTERM);
    assert!(
        r.stderr.contains("ht-user: interrupted by signal 15 ("),
        "{}",
        r.stderr
    );
    assert_no_channel_files(&base);
    assert_eq!(dir_entries(dir.path()), ["trace.log"]);
}

/// The number in `... trace flushed with N events ...`.
fn flushed_count(stderr: &str) -> u64 {
    let after = stderr
        .split_once("trace flushed with ")
        .unwrap_or_else(|| panic!("no 'trace flushed with' in:\n{stderr}"))
        .1;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

#[test]
fn sigint_flushes_the_trace_and_removes_the_files() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let start = now_secs();
    let running = start_long_run(&base, &log);
    // Events are flowing once the first buffer reached the file.
    wait_for("events in the log", || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() > 0)
    });
    send_signal(running.pid(), libc::SIGINT);
    let pid = running.pid();
    let r = running.finish();
    r.assert_code(130);
    assert_eq!(r.stdout, "", "the guest did not finish");
    let line = r
        .stderr_lines()
        .into_iter()
        .find(|l| l.starts_with("ht-user: interrupted by signal 2 ("))
        .unwrap_or_else(|| panic!("no interrupt message in:\n{}", r.stderr));
    assert!(line.contains("channel files removed"), "{line}");
    let n = flushed_count(line);
    assert!(n > 0 && n < 20_000_000, "{line}");
    let tails = check_events_log(&log, n, 4, pid, (start, now_secs()));
    assert!(!tails.is_empty());
    assert_no_channel_files(&base);
    assert_eq!(dir_entries(dir.path()), ["trace.log"]);
}

#[test]
fn channel_files_removed_when_the_guest_fails() {
    for (arg, want) in [
        ("7", 7),
        ("abort", 128 + libc::SIGABRT),
        ("segv", 128 + libc::SIGSEGV),
    ] {
        let (dir, base) = temp_base();
        let r = run_guest(&["-hypertrace", s(&base)], "exit-code", &[arg]);
        r.assert_code(want);
        assert_no_channel_files(&base);
        assert!(dir_entries(dir.path()).is_empty());
    }
}

#[test]
fn existing_channel_file_is_refused_and_kept() {
    for sfx in CHANNEL_SUFFIXES {
        let (dir, base) = temp_base();
        let existing = channel_file(&base, sfx);
        std::fs::write(&existing, "keep me").unwrap();
        let b = s(&base);
        let r = run_guest(&["-hypertrace", b], "seed-example", &[b]);
        r.assert_code(1);
        assert_eq!(r.stdout, "", "the guest must not run");
        let lines = r.stderr_lines();
        assert_eq!(lines.len(), 1, "stderr:\n{}", r.stderr);
        assert!(lines[0].starts_with("ht-user: "), "{}", lines[0]);
        assert!(
            lines[0].contains(s(&existing)),
            "message does not name {}: {}",
            existing.display(),
            lines[0]
        );
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
        assert_eq!(
            dir_entries(dir.path()),
            [format!("ht{sfx}")],
            "only the pre-existing file may remain"
        );
    }
}

#[test]
fn client_beyond_max_clients_is_refused_by_the_guest_library() {
    // events checks the client against the published max_clients and exits
    // 1 before storing anything, so nothing is recorded.
    for (max, client) in [(64u64, 70u64), (64, 64), (8, 8)] {
        let (dir, base) = temp_base();
        let log = dir.path().join("trace.log");
        let spec = format!("{},max-clients={max}", s(&base));
        let client = client.to_string();
        let r = run_guest(
            &["-hypertrace", &spec, "-D", s(&log)],
            "events",
            &[s(&base), "10", &client],
        );
        r.assert_code(1);
        assert_eq!(r.stdout, "");
        assert!(
            r.stderr
                .contains(&format!("events: client {client} out of range (max {max})")),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("ignored"), "{}", r.stderr);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
        assert_eq!(dir_entries(dir.path()), ["trace.log"]);
    }
    let tails = events_run(",max-clients=8", 3, Some(7), 4);
    assert_eq!(tails.len(), 3);
}

/// `N events written, M lost` from the incomplete-trace message.
fn written_and_lost(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("ht-user: the trace is incomplete"))
        .unwrap_or_else(|| panic!("no 'the trace is incomplete' line in:\n{stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(2)
        .map(|w| w.parse().unwrap())
        .collect();
    assert!(
        line.contains(" events written, ") && line.contains(" lost"),
        "{line}"
    );
    (numbers[0], numbers[1])
}

#[test]
fn full_disk_is_reported_not_hidden() {
    if !Path::new("/dev/full").exists() {
        eprintln!("note: /dev/full missing, test skipped");
        return;
    }
    let (_dir, base) = temp_base();
    let b = s(&base);
    let r = run_guest(&["-hypertrace", b, "-D", "/dev/full"], "seed-example", &[b]);
    r.assert_code(1);
    assert_eq!(r.stdout, "Some computation...\n");
    let (written, lost) = written_and_lost(&r.stderr);
    assert_eq!(written + lost, 2, "{}", r.stderr);
    assert_no_channel_files(&base);

    let r = run_guest(
        &["-hypertrace", b, "-D", "/dev/full"],
        "events",
        &[b, "100000"],
    );
    r.assert_code(1);
    assert_eq!(r.stdout, "emitted 100000\n");
    let (written, lost) = written_and_lost(&r.stderr);
    assert_eq!(written + lost, 100_000, "{}", r.stderr);
    assert_no_channel_files(&base);
}

#[test]
fn full_disk_counts_no_event_as_written() {
    let (_dir, base) = temp_base();
    let b = s(&base);
    let r = run_guest(&["-hypertrace", b, "-D", "/dev/full"], "seed-example", &[b]);
    r.assert_code(1);
    // /dev/full accepts nothing, so no event reached it.
    assert_eq!(written_and_lost(&r.stderr), (0, 2), "{}", r.stderr);
}

#[test]
fn full_disk_without_events_is_no_error() {
    let r = run_guest(&["-D", "/dev/full"], "hello", &[]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
    assert_eq!(r.stderr, "");
}

#[test]
fn sighup_ends_the_run_cleanly() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let running = start_long_run(&base, &log);
    wait_for("events in the log", || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() > 0)
    });
    send_signal(running.pid(), libc::SIGHUP);
    let r = running.finish();
    r.assert_code(128 + libc::SIGHUP);
    assert!(
        r.stderr.contains("ht-user: interrupted by signal 1 ("),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count() as u64, flushed_count(&r.stderr));
    assert_no_channel_files(&base);
}

#[test]
fn second_run_on_a_busy_base_leaves_the_first_alone() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let running = start_long_run(&base, &log);
    wait_for("the channel files", || {
        CHANNEL_SUFFIXES
            .iter()
            .all(|sfx| channel_file(&base, sfx).exists())
    });
    let b = s(&base);
    let r = run_guest(&["-hypertrace", b], "seed-example", &[b]);
    r.assert_code(1);
    assert_eq!(r.stdout, "");
    let config = channel_file(&base, "-config");
    assert!(r.stderr.contains(s(&config)), "{}", r.stderr);
    for sfx in CHANNEL_SUFFIXES {
        assert!(
            channel_file(&base, sfx).exists(),
            "the refused run removed BASE{sfx} of the running one"
        );
    }
    send_signal(running.pid(), libc::SIGINT);
    let r = running.finish();
    r.assert_code(130);
    assert_no_channel_files(&base);
}

#[test]
fn relative_base_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ht(["-hypertrace", "rel", "-D", "trace.log"]);
    cmd.current_dir(dir.path())
        .arg(guest("events"))
        .args(["rel", "3"]);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "emitted 3\n");
    let text = std::fs::read_to_string(dir.path().join("trace.log")).unwrap();
    assert_eq!(parse_events(&text).len(), 3);
    assert_eq!(dir_entries(dir.path()), ["trace.log"]);
}

#[test]
fn existing_log_file_is_replaced() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    std::fs::write(&log, "old contents\n".repeat(1000)).unwrap();
    let b = s(&base);
    let r = run_guest(&["-hypertrace", b, "-D", s(&log)], "events", &[b, "2"]);
    r.assert_code(0);
    let text = std::fs::read_to_string(&log).unwrap();
    let events = parse_events(&text);
    assert_eq!(events.len(), 2, "{text}");
}

/// ht-user tells the guest where the channel is (QEMU_HYPERTRACE_BASE, an
/// absolute path), so `qemu_hypertrace_init(NULL)` finds it; every marker,
/// inline or through the library's function, becomes one event.
#[test]
fn the_guest_finds_the_channel_from_the_environment() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let mut cmd = ht(["-hypertrace", s(&base), "-D", s(&log)]);
    // A relative base: the variable still names the channel's absolute path.
    cmd.current_dir(dir.path())
        .args(["-E", "OTHER=1"])
        .arg(guest("markers"))
        .arg("20");
    let mut cmd_rel = ht(["-hypertrace", "ht", "-D", s(&log)]);
    cmd_rel
        .current_dir(dir.path())
        .arg(guest("markers"))
        .arg("20");
    for (what, cmd) in [("absolute", cmd), ("relative", cmd_rel)] {
        let r = run(cmd);
        r.assert_code(0);
        assert_eq!(
            r.stdout, "channel: 64 clients, 4 arguments\nemitted 20 markers\n",
            "{what}"
        );
        let events = parse_events(&std::fs::read_to_string(&log).unwrap());
        assert_eq!(events.len(), 20, "{what}");
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.arg1, i as u64, "{what}");
            assert_eq!(e.args[0], 3 * i as u64 + 1, "{what}: data slot 0");
        }
    }
    // -U removes it, as it would any variable: then there is no channel
    // for the guest, and its markers do nothing.
    let mut cmd = ht(["-hypertrace", s(&base), "-U", "QEMU_HYPERTRACE_BASE"]);
    cmd.arg(guest("markers")).arg("20");
    let r = run(cmd);
    r.assert_code(0);
    assert!(r.stdout.starts_with("no channel ("), "{}", r.stdout);
    assert_no_channel_files(&base);
}

/// Without a channel the markers do nothing: the program runs to its end,
/// natively (x86_64), under qemu-user, and under ht-user without
/// -hypertrace, instead of crashing at its first marker.
#[test]
fn markers_do_nothing_without_a_channel() {
    let want = "no channel (Invalid argument): markers do nothing\nemitted 100 markers\n";
    let r = run(ht([guest("markers")]));
    r.assert_code(0);
    assert_eq!(r.stdout, want, "under ht-user without -hypertrace");
    if arch() == "x86_64" && std::env::consts::ARCH == "x86_64" {
        let mut native = Command::new(guest("markers"));
        native.env_remove("QEMU_HYPERTRACE_BASE");
        let r = run(native);
        r.assert_code(0);
        assert_eq!(r.stdout, want, "native");
    }
    if let Some(q) = qemu_or_skip("markers_do_nothing_without_a_channel") {
        let r = run(qemu(&q, [guest("markers")]));
        r.assert_code(0);
        assert_eq!(r.stdout, want, "under qemu-user");
    }
    // A base that names no channel: init fails with ENOENT, markers still
    // do nothing.
    let mut cmd = ht(["-E", "QEMU_HYPERTRACE_BASE=/nonexistent/ht"]);
    cmd.arg(guest("markers")).arg("3");
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "no channel (No such file or directory): markers do nothing\nemitted 3 markers\n"
    );
}

/// A run killed without its clean-up (SIGKILL) leaves its channel files
/// behind; the next run on that base removes them, says so and runs. A
/// live run's files are refused: the owner holds a lock on BASE-data.
#[test]
fn a_killed_runs_channel_files_are_taken_over_and_a_live_runs_are_not() {
    let (_dir, base) = temp_base();
    let b = s(&base);
    let first = ht([
        "-hypertrace",
        b,
        s(&guest("hostile")),
        "wait-data-shrink",
        b,
    ]);
    let (mut first, _out) = spawn_until_line(first, "waiting\n");

    let live = run_guest(&["-hypertrace", b], "seed-example", &[b]);
    live.assert_code(1);
    assert!(
        live.stderr.contains("another ht-user is running with them"),
        "{}",
        live.stderr
    );
    assert_eq!(live.stdout, "", "the guest must not run");

    first.kill().unwrap();
    first.wait().unwrap();
    for sfx in CHANNEL_SUFFIXES {
        assert!(channel_file(&base, sfx).exists(), "SIGKILL leaves {sfx}");
    }
    let next = run_guest(&["-hypertrace", b], "seed-example", &[b]);
    next.assert_code(0);
    assert!(
        next.stderr.contains("removed the channel files") && next.stderr.contains("left behind"),
        "{}",
        next.stderr
    );
    assert_no_channel_files(&base);
}

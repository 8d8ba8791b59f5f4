// SPDX-License-Identifier: GPL-2.0-or-later
//! `-strace`: one `PID name(args) = result` line per system call, on
//! stderr or in the -D file.

mod common;

use std::path::Path;

use common::*;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// The strace lines of a log: `PID name(...)...` with PID = `pid`.
fn strace_lines(text: &str, pid: u32) -> Vec<&str> {
    let prefix = format!("{pid} ");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    for l in &lines {
        let call = l
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("not a strace line of pid {pid}: {l:?}"));
        let name_end = call.find('(').unwrap_or_else(|| panic!("no '(': {l:?}"));
        assert!(
            name_end > 0
                && call[..name_end]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "bad system call name: {l:?}"
        );
    }
    lines
}

/// Checks the strace of hello: its write to fd 1 with a result and its
/// exit_group(0).
fn check_hello_strace(lines: &[&str]) {
    assert!(
        lines.iter().any(|l| {
            let call = l.split_once(' ').unwrap().1;
            (call.starts_with("write(1,") || call.starts_with("writev(1,")) && call.contains(" = ")
        }),
        "no write(1,...) = N line:\n{}",
        lines.join("\n")
    );
    assert_eq!(
        lines.last().map(|l| l.split_once(' ').unwrap().1),
        Some("exit_group(0)"),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn hello_on_stderr() {
    let r = run_ht(["-strace", s(&guest("hello"))]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
    let lines = strace_lines(&r.stderr, r.pid);
    check_hello_strace(&lines);
}

#[test]
fn hello_into_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let r = run_ht(["-strace", "-D", s(&log), s(&guest("hello"))]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
    assert_eq!(r.stderr, "", "strace lines belong in the -D file");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = strace_lines(&text, r.pid);
    check_hello_strace(&lines);
}

#[test]
fn enabled_by_qemu_strace() {
    let mut cmd = ht([s(&guest("hello"))]);
    cmd.env("QEMU_STRACE", "1");
    let r = run(cmd);
    r.assert_code(0);
    check_hello_strace(&strace_lines(&r.stderr, r.pid));
}

#[test]
fn off_by_default() {
    let r = run_ht([s(&guest("hello"))]);
    r.assert_code(0);
    assert_eq!(r.stderr, "");
}

#[test]
fn files_paths_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let r = run_ht(["-strace", "-D", s(&log), s(&guest("files")), s(&scratch)]);
    r.assert_code(0);
    assert!(r.stdout.ends_with("files: all ok\n"), "{}", r.stdout);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = strace_lines(&text, r.pid);

    // Opens show their path quoted.
    let file = format!("\"{}/sub/file\"", s(&scratch));
    let opens: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            let call = l.split_once(' ').unwrap().1;
            call.starts_with("open(") || call.starts_with("openat(")
        })
        .collect();
    assert!(
        opens.iter().any(|l| l.contains(&file)),
        "no open of {file}:\n{text}"
    );
    assert!(
        opens.iter().all(|l| l.contains("(\"") || l.contains(",\"")),
        "an open without a quoted path:\n{text}"
    );
    let missing = format!("\"{}/sub/missing\"", s(&scratch));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&missing)
                && l.ends_with(" = -1 errno=2 (No such file or directory)")),
        "no failing call on {missing} with errno=2:\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("(9999,") && l.ends_with(" = -1 errno=9 (Bad file descriptor)")),
        "no write to fd 9999 failing with EBADF:\n{text}"
    );
    assert!(
        !text.contains("[ht-user: unsupported syscall"),
        "files used an unsupported system call:\n{text}"
    );
    assert_eq!(
        lines.last().map(|l| l.split_once(' ').unwrap().1),
        Some("exit_group(0)")
    );
}

#[test]
fn strace_and_events_share_the_log() {
    let (dir, base) = temp_base();
    let log = dir.path().join("trace.log");
    let b = s(&base);
    let r = run_ht([
        "-strace",
        "-hypertrace",
        b,
        "-D",
        s(&log),
        s(&guest("seed-example")),
        b,
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "Some computation...\n");
    let text = std::fs::read_to_string(&log).unwrap();
    let (events, calls): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| l.contains(":guest_hypertrace "));
    assert_eq!(parse_events(&events.join("\n")).len(), 2, "{text}");
    strace_lines(&calls.join("\n"), r.pid);
    // The guest's output comes between the two events.
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| l.contains("arg1=1 ")).unwrap();
    let last = lines.iter().position(|l| l.contains("arg1=0 ")).unwrap();
    assert!(
        lines[first..last]
            .iter()
            .any(|l| l.contains("write(1,") || l.contains("writev(1,")),
        "{text}"
    );
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! The monitor against a running guest: a test client over a unix socket
//! switches trace events, reads registers and quits, as the seed's
//! external-control flow does with telnet.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ht_user::trace::file::TraceFile;
use ht_user::trace::EventKind;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// A guest that must not outlive a failed test.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let deadline = Instant::now() + Duration::from_secs(20);
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot connect to the monitor: {e}"),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let banner = c.until_prompt();
        assert!(banner.contains("monitor"), "{banner:?}");
        c
    }

    /// Text up to the next `(qemu) ` prompt.
    fn until_prompt(&mut self) -> String {
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while !out.ends_with(b"(qemu) ") {
            let n = self.reader.read(&mut byte).expect("monitor output");
            assert!(n == 1, "monitor closed: {}", String::from_utf8_lossy(&out));
            out.push(byte[0]);
        }
        out.truncate(out.len() - b"(qemu) ".len());
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }

    fn command(&mut self, line: &str) -> String {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
        self.until_prompt()
    }
}

#[test]
fn monitor_switches_events_reads_registers_and_quits() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mon.sock");
    let base = dir.path().join("ht");
    let trace = dir.path().join("t.bin");
    let spec = format!("unix:{},server,nowait", s(&sock));
    let mut cmd = ht([
        "-monitor",
        &spec,
        "-hypertrace",
        s(&base),
        "-trace-file",
        s(&trace),
    ]);
    // Long enough that only `quit` ends it.
    cmd.arg(guest("cpu-bench")).args(["sieve", "1000"]);
    let mut child = KillOnDrop(Some(spawn(&mut cmd)));

    let mut c = Client::connect(&sock);
    let states = c.command("info trace-events");
    for name in ["guest_hypertrace", "guest_exec_tb", "guest_user_syscall"] {
        assert!(states.contains(&format!("{name} : state ")), "{states}");
    }
    assert!(states.contains("guest_exec_tb : state 0"), "{states}");
    assert!(states.contains("guest_hypertrace : state 1"), "{states}");

    assert_eq!(c.command("trace-event guest_exec_tb on").trim(), "");
    let states = c.command("info trace-events guest_exec*");
    assert_eq!(states.trim(), "guest_exec_tb : state 1");

    let regs = c.command("info registers");
    let pc_name = match arch().as_str() {
        "x86_64" => "rip",
        "i386" => "eip",
        _ => "pc",
    };
    assert!(regs.to_lowercase().contains(pc_name), "{regs}");

    let bad = c.command("frobnicate now");
    assert!(bad.contains("unknown command: 'frobnicate"), "{bad}");
    let bad = c.command("trace-event guest_nothing on");
    assert!(bad.contains("Error:"), "{bad}");

    // A second client that drops in the middle of a line changes nothing.
    {
        let mut other = UnixStream::connect(&sock).unwrap();
        other.write_all(b"trace-event guest_exec_tb o").unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        c.command("info trace-events guest_exec_tb").trim(),
        "guest_exec_tb : state 1"
    );
    assert_eq!(c.command("trace-event guest_exec_tb off").trim(), "");

    c.writer.write_all(b"quit\n").unwrap();
    let mut rest = String::new();
    let _ = c.reader.read_to_string(&mut rest);
    let run = finish(child.0.take().unwrap());
    run.assert_code(0);
    assert!(
        run.stderr.contains("quit from the monitor"),
        "{}",
        run.stderr
    );
    // Channel files removed, socket file removed.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["t.bin"], "{left:?}");
    // Blocks were recorded while the event was on, and only then: the
    // trace holds a run of them, nothing else.
    let f = TraceFile::open(&trace).unwrap();
    let kinds: Vec<EventKind> = f.records().map(|r| r.unwrap().kind).collect();
    assert!(kinds.len() > 10, "{}", kinds.len());
    assert!(kinds.iter().all(|k| *k == EventKind::ExecTb));
}

#[test]
fn monitor_spec_errors_are_clear() {
    let run = finish(spawn(
        ht(["-monitor", "tcp:127.0.0.1:4444"]).arg(guest("hello")),
    ));
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("-monitor"), "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taken");
    std::fs::write(&file, "not a socket").unwrap();
    let spec = format!("unix:{},server,nowait", s(&file));
    let run = finish(spawn(ht(["-monitor", &spec]).arg(guest("hello"))));
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("monitor"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a socket");
}

#[test]
fn a_guest_runs_to_its_end_with_a_monitor_nobody_uses() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mon.sock");
    let spec = format!("unix:{},server,nowait", s(&sock));
    let run = finish(spawn(ht(["-monitor", &spec]).arg(guest("hello")).arg("a")));
    run.assert_code(0);
    assert!(run.stdout.starts_with("hello"), "{}", run.stdout);
    assert!(!sock.exists());
    let _ = BufRead::lines(BufReader::new(run.stdout.as_bytes())).count();
}

/// A guest whose threads all wait forever (one in read on a pipe, one in
/// pthread_join) is served by the monitor at once, and `quit` ends it.
#[test]
fn monitor_serves_and_quits_a_guest_whose_threads_all_wait() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mon.sock");
    let spec = format!("unix:{},server,nowait", s(&sock));
    let mut cmd = ht(["-monitor", &spec]);
    cmd.arg(guest("threads-exit")).arg("hang");
    let mut child = KillOnDrop(Some(spawn(&mut cmd)));
    // Commands once the guest says its threads are about to wait (on a
    // loaded machine a quit could otherwise end it before that).
    let stdout = child.0.as_mut().and_then(|c| c.stdout.take()).unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert_eq!(first, "all threads wait\n");
    let mut c = Client::connect(&sock);
    // Answered now, not queued until the guest runs again.
    let states = c.command("info trace-events guest_hypertrace");
    assert_eq!(states.trim(), "guest_hypertrace : state 0");
    c.writer.write_all(b"quit\n").unwrap();
    let mut rest = String::new();
    let _ = c.reader.read_to_string(&mut rest);
    assert!(!rest.contains("queued"), "{rest}");
    let run = finish(child.0.take().unwrap());
    run.assert_code(0);
    assert!(
        run.stderr.contains("quit from the monitor"),
        "{}",
        run.stderr
    );
}

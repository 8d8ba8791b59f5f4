// SPDX-License-Identifier: GPL-2.0-or-later
//! `-g`: Debian's gdb-multiarch debugs a guest through ht-user's gdb
//! server, on every guest architecture: it breaks at main, steps lines
//! and into a function, reads and writes variables, sees a deadly signal
//! where it happens and the program's exit code, and watchpoints stop
//! after the instruction that wrote or read. The interrupt (Ctrl-C)
//! and kill are checked with the remote protocol itself.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{arch, finish, guest, ht, spawn};

/// Starts `gdb-target ARGS` under ht-user waiting for gdb on a Unix
/// socket in `dir`; returns the child and the socket once it listens.
fn start_waiting(dir: &Path, args: &[&str]) -> (Child, PathBuf) {
    let sock = dir.join("gdb.sock");
    let mut cmd = ht(["-g".as_ref(), sock.as_os_str()]);
    cmd.arg(guest("gdb-target")).args(args);
    let mut child = spawn(&mut cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sock.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ht-user ended before listening: {status:?}");
        }
        assert!(Instant::now() < deadline, "ht-user never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, sock)
}

/// Runs gdb-multiarch in batch mode on the guest with `commands`.
fn gdb(sock: &Path, commands: &[&str]) -> String {
    let mut cmd = Command::new("gdb-multiarch");
    cmd.args(["-nx", "-batch", "-q"])
        .args(["-ex", "set pagination off", "-ex", "set confirm off"])
        .arg("-ex")
        .arg(format!("file {}", guest("gdb-target").display()))
        .arg("-ex")
        .arg(format!("target remote {}", sock.display()));
    for c in commands {
        cmd.args(["-ex", c]);
    }
    let out = cmd
        .output()
        .expect("gdb-multiarch (scripts/deps.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "gdb failed:\n{text}");
    text
}

/// Asserts that `needles` appear in `text` in this order.
fn assert_in_order(text: &str, needles: &[&str]) {
    let mut rest = text;
    for n in needles {
        match rest.find(n) {
            Some(at) => rest = &rest[at + n.len()..],
            None => panic!(
                "{n:?} missing (in order) from gdb's output on {}:\n{text}",
                arch()
            ),
        }
    }
}

#[test]
fn gdb_breaks_steps_reads_and_writes_variables_and_sees_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = start_waiting(dir.path(), &[]);
    let text = gdb(
        &sock,
        &[
            "break main",
            "continue",
            "next",
            "next",
            "next",
            "next",
            "next",
            "next",
            "step",
            "print x",
            "up",
            "print counter",
            "down",
            "break 46",
            "continue",
            "print total",
            "print progress",
            "set var progress = 100",
            "print progress",
            "set $before = $pc",
            "stepi",
            "print $pc != $before",
            "continue",
        ],
    );
    assert_in_order(
        &text,
        &[
            "Breakpoint 1, main (argc=1",
            "gdb-target.c:",
            // The file is ./gdb-target.c or gdb-target.c as compilers record it.
            "square (x=0) at ",
            "gdb-target.c:17",
            "$1 = 0",
            "$2 = 42",
            "Breakpoint 2, main",
            "$3 = 14",
            "$4 = 4",
            "$5 = 100",
            "$6 = 1",
            "exited with code 03",
        ],
    );
    let run = finish(child);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert_eq!(run.stdout, "total 14 counter 42\n");
}

#[test]
fn watchpoints_stop_after_the_access() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = start_waiting(dir.path(), &[]);
    let text = gdb(
        &sock,
        &[
            "break main",
            "continue",
            "watch progress",
            "continue",
            "continue",
            "delete",
            "rwatch progress",
            "continue",
            "delete",
            "continue",
        ],
    );
    assert_in_order(
        &text,
        &[
            "Hardware watchpoint 2: progress",
            "Old value = 0",
            "New value = 1",
            "square (x=0)",
            "Old value = 1",
            "New value = 2",
            "square (x=1)",
            "Hardware read watchpoint 3: progress",
            "Value = 2",
            "square (x=2)",
            "exited with code 03",
        ],
    );
    let run = finish(child);
    assert_eq!(run.code(), 3, "{}", run.stderr);
}

#[test]
fn gdb_sees_a_deadly_signal_where_it_happens() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = start_waiting(dir.path(), &["crash"]);
    let text = gdb(&sock, &["continue", "backtrace 2", "continue"]);
    assert_in_order(
        &text,
        &[
            "Program received signal SIGSEGV",
            "crash (",
            "in main",
            "Program terminated with signal SIGSEGV",
        ],
    );
    let run = finish(child);
    assert!(
        run.stderr
            .contains("uncaught target signal 11 (Segmentation fault)"),
        "{}",
        run.stderr
    );
}

#[test]
fn gdb_detaching_lets_the_program_run_on() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = start_waiting(dir.path(), &[]);
    let text = gdb(&sock, &["break square", "continue", "detach"]);
    assert_in_order(&text, &["Breakpoint 1, square (x=0)", "detached]"]);
    let run = finish(child);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert_eq!(run.stdout, "total 14 counter 42\n");
}

#[test]
fn a_forked_child_runs_on_past_the_parents_breakpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = start_waiting(dir.path(), &["fork"]);
    // Only the child calls square(): it leaves the debugger to its parent
    // at the breakpoint and runs on to its exit status.
    let text = gdb(&sock, &["break square", "continue"]);
    assert_in_order(&text, &["exited normally"]);
    let run = finish(child);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(run.stdout, "child exit 7\n");
}

/// One remote protocol packet: `$data#checksum`, acknowledged.
fn send_packet(s: &mut UnixStream, data: &str) {
    let sum = data.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    write!(s, "${data}#{sum:02x}").unwrap();
}

/// Reads until a whole packet arrives (acks skipped); gives its data.
fn read_packet(s: &mut UnixStream) -> String {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        s.read_exact(&mut byte).expect("a packet from ht-user");
        if byte[0] == b'$' {
            break;
        }
    }
    loop {
        s.read_exact(&mut byte).unwrap();
        if byte[0] == b'#' {
            let mut sum = [0u8; 2];
            s.read_exact(&mut sum).unwrap();
            s.write_all(b"+").unwrap();
            return String::from_utf8_lossy(&data).into_owned();
        }
        data.push(byte[0]);
    }
}

#[test]
fn interrupt_stops_a_running_program_and_kill_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = start_waiting(dir.path(), &["spin"]);
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    send_packet(&mut s, "?");
    let first = read_packet(&mut s);
    assert!(first.starts_with('S') || first.starts_with('T'), "{first}");
    send_packet(&mut s, "c");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&[0x03]).unwrap();
    let stop = read_packet(&mut s);
    // SIGINT is gdb's signal 2.
    assert!(stop.starts_with("S02") || stop.starts_with("T02"), "{stop}");
    send_packet(&mut s, "g");
    let regs = read_packet(&mut s);
    // Hex digits, run-length encoded: an error reply is E and two digits.
    assert!(regs.len() > 3 && !regs.starts_with('E'), "{regs}");
    send_packet(&mut s, "k");
    // The acknowledgement: kill has no reply.
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(&ack, b"+");
    drop(s);
    let run = finish(child);
    assert_eq!(run.code(), 128 + 9, "{}", run.stderr);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let run = finish(spawn(ht(["-g", port.as_str()]).arg(guest("gdb-target"))));
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("-g: cannot listen on 127.0.0.1:"),
        "{}",
        run.stderr
    );
}

#[test]
fn gdb_connects_over_tcp_on_the_port_the_system_picked() {
    use std::io::BufRead;
    let mut child = spawn(ht(["-g", "0"]).arg(guest("gdb-target")));
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("ht-user: waiting for gdb on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let text = gdb(Path::new(&addr), &["continue"]);
    assert_in_order(&text, &["exited with code 03"]);
    let run = finish(child);
    assert_eq!(run.code(), 3);
    assert_eq!(run.stdout, "total 14 counter 42\n");
}

/// SIGTERM while ht-user waits for gdb ends the run as any other
/// interruption does (exit 128 + 15, the socket removed): a blocking
/// accept was retried after the signal and only SIGKILL ended it.
#[test]
fn a_signal_ends_the_wait_for_gdb() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = start_waiting(dir.path(), &[]);
    // SAFETY: kill(2) on the child's pid, which has not been reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let run = finish(child);
    assert_eq!(run.code(), 128 + libc::SIGTERM, "{}", run.stderr);
    assert!(
        run.stderr.contains("interrupted by signal 15"),
        "{}",
        run.stderr
    );
    assert!(!sock.exists(), "the socket is removed");
}

/// A socket file nobody listens on (left by a run killed with SIGKILL) is
/// taken over; one a live server listens on is refused.
#[test]
fn a_stale_gdb_socket_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("gdb.sock");
    let live = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let refused = finish(spawn(
        ht(["-g".as_ref(), sock.as_os_str()]).arg(guest("gdb-target")),
    ));
    assert_eq!(refused.code(), 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("Address already in use"),
        "{}",
        refused.stderr
    );
    drop(live); // the file stays, with nobody behind it
    assert!(sock.exists());
    use std::io::BufRead;
    let mut child = spawn(ht(["-g".as_ref(), sock.as_os_str()]).arg(guest("gdb-target")));
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("waiting for gdb on"), "{line}");
    // SAFETY: kill(2) on the child's pid, which has not been reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGTERM));
}

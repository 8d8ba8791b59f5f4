// SPDX-License-Identifier: GPL-2.0-or-later
//! Processes: fork, vfork, execve, pipes and wait with the fork-exec test
//! guest (guest/tests/fork-exec.c), compared with qemu-user where it can
//! run the same thing; events of forked children and executed programs
//! under their own pids; RLIMIT_NPROC's EAGAIN.

mod common;

use std::os::unix::process::CommandExt;

use common::*;
use ht_user::trace::file::TraceFile;

/// What the checks print on Linux (qemu-x86_64 prints exactly this).
const CHECKS: &str = "\
parent read 23 bytes: hello through the pipe
then end of pipe: 0
waitpid returned the child: yes
child: exited 7
parent's global after the child changed its copy: 1
shared mapping after the child wrote: 2, private: 1
child that sent itself SIGTERM: killed by signal 15 (SIGTERM)
vfork child: exited 3
waitid: 0, signo SIGCHLD: yes, code CLD_EXITED: yes, pid: yes, status 9
wait4 without children: -1 ECHILD
waitpid with SIGCHLD ignored: -1 ECHILD
executed child wrote: argc=4 [one] [two words] HT_TEST_A=from-execve fd3 closed
executed child: exited 4
execve /nonexistent/program: -1 ENOENT
execve /dev/null: -1 EACCES
execve /: -1 EACCES
execve of a bad pointer: -1 EFAULT
";

/// Lines about the executed child, which qemu-user without binfmt_misc
/// cannot run for a foreign architecture (its execve is the host's).
fn is_exec_line(line: &str) -> bool {
    line.starts_with("executed child")
}

#[test]
fn fork_exec_pipe_and_wait_checks() {
    let g = guest("fork-exec");
    let r = run_ht([&g]);
    r.assert_code(0);
    assert_eq!(r.stdout, CHECKS, "on {}", arch());
    let Some(q) = qemu_or_skip("fork-exec") else {
        return;
    };
    let mut cmd = qemu(&q, [&g]);
    cmd.env_remove("HT_TEST_A");
    let qr = run(cmd);
    assert_eq!(qr.exit(), r.exit());
    if qr.stdout.contains("executed child: exited 99") {
        // qemu could not execute the guest program: compare the rest.
        let keep = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !is_exec_line(l))
                .map(String::from)
                .collect()
        };
        assert_eq!(keep(&r.stdout), keep(&qr.stdout));
    } else {
        assert_eq!(r.stdout, qr.stdout);
    }
}

#[test]
fn children_trace_under_their_own_pid() {
    children_trace_under_their_own_pid_as("compact");
}

#[test]
fn children_trace_under_their_own_pid_fixed() {
    children_trace_under_their_own_pid_as("fixed");
}

fn children_trace_under_their_own_pid_as(format: &str) {
    let (dir, base) = temp_base();
    let log = dir.path().join("log");
    let trace = dir.path().join("run.bin");
    let g = guest("fork-exec");
    let r = run_ht([
        "-hypertrace".as_ref(),
        base.as_os_str(),
        "-D".as_ref(),
        log.as_os_str(),
        "-trace-file".as_ref(),
        trace.as_os_str(),
        "-trace-format".as_ref(),
        format.as_ref(),
        g.as_os_str(),
        "trace".as_ref(),
        base.as_os_str(),
    ]);
    r.assert_code(0);
    assert_eq!(
        r.stdout, "executed child traced\ntraced child: exited 0\n",
        "{}",
        r.stderr
    );
    assert_no_channel_files(&base);

    // One log for the run: every event once, each under its process's pid.
    let events = parse_events(&std::fs::read_to_string(&log).unwrap());
    let arg1s: Vec<u64> = events.iter().map(|e| e.arg1).collect();
    assert_eq!(arg1s, [1, 2, 4, 3], "events in the order they happened");
    let child = events[1].pid;
    assert_eq!(events[0].pid, r.pid);
    assert_eq!(events[3].pid, r.pid);
    assert_ne!(child, r.pid);
    assert_eq!(
        events[2].pid, child,
        "the executed program is the same process"
    );
    for e in &events {
        assert_eq!(e.args[0], e.arg1, "arg2 comes from the shared data file");
    }
    assert!(events.windows(2).all(|w| w[0].time_us() <= w[1].time_us()));

    // Binary traces: one file per process, the child's named FILE.PID and
    // continued across its execve.
    let parent = TraceFile::open(&trace).unwrap();
    assert_eq!(parent.info.pid, r.pid);
    let got: Vec<u64> = parent.events().map(|e| e.unwrap().arg1).collect();
    assert_eq!(got, [1, 3]);
    let child_trace = dir.path().join(format!("run.bin.{child}"));
    let child_file = TraceFile::open(&child_trace).unwrap();
    assert_eq!(child_file.info.pid, child);
    assert_eq!(child_file.info.layout.name(), format);
    assert_eq!(parent.info.layout.name(), format);
    assert_eq!(child_file.declared_count, Some(2));
    let got: Vec<u64> = child_file.events().map(|e| e.unwrap().arg1).collect();
    assert_eq!(got, [2, 4]);
    // ht-trace reads a child's file like any other.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .arg("report")
        .arg(&child_trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains(&format!("pid {child}")), "{report}");
    assert!(report.contains("events    2 "), "{report}");
    // ht-trace info on the first file names the children's files.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .arg("info")
        .arg(&trace)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(
        info.lines().any(|l| l.starts_with("processes ")
            && l.ends_with(&child_trace.display().to_string())),
        "{info}"
    );
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 3, "log, run.bin and run.bin.{child} only");
}

/// RLIMIT_NPROC's EAGAIN reaches the guest, and every child it did make
/// is reaped. Root ignores the limit, so as root the run is made as a
/// user that runs nothing else.
#[test]
fn fork_beyond_the_process_limit_is_eagain() {
    let g = guest("fork-exec");
    let mut cmd = ht([g.as_os_str(), "nproc".as_ref(), "6".as_ref()]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let uid = unused_uid();
        cmd.uid(uid).gid(uid);
    }
    let r = run(cmd);
    r.assert_code(0);
    let line = r.stdout.trim_end();
    let rest = line
        .strip_prefix("forked ")
        .unwrap_or_else(|| panic!("unexpected output {line:?}\n{}", r.stderr));
    let (forked, rest) = rest.split_once(", then ").unwrap();
    let forked: u32 = forked.parse().unwrap();
    let (err, reaped) = rest.split_once("; reaped ").unwrap();
    assert_eq!(err, "EAGAIN", "{line}");
    assert!(forked < 6, "{line}");
    assert_eq!(reaped.parse::<u32>().unwrap(), forked, "{line}");
}

/// A host program (here the host's echo) runs natively, with the guest's
/// stdout and environment. On x86_64 the host's programs are guest
/// programs: ht-user runs them itself (dynamically linked ones with the
/// host as their sysroot), with the same result.
#[test]
fn exec_of_a_host_program() {
    let echo = std::path::Path::new("/bin/echo");
    if !echo.exists() {
        eprintln!("note: no /bin/echo; skipped");
        return;
    }
    let g = guest("fork-exec");
    let args = [
        g.as_os_str(),
        "exec".as_ref(),
        echo.as_os_str(),
        "from the host".as_ref(),
    ];
    let r = run_ht(args);
    r.assert_code(0);
    assert_eq!(r.stdout, "from the host\n");
    if let Some(q) = qemu_or_skip("exec-host") {
        let qr = run(qemu(&q, args));
        assert_eq!(qr.stdout, r.stdout);
        assert_eq!(qr.exit(), r.exit());
    }
    // The guest's environment, LD_* included, is the program's.
    let env = std::path::Path::new("/usr/bin/env");
    if env.exists() {
        let r = run_ht([
            "-E".as_ref(),
            "LD_HT_TEST=7,HT_TEST_B=8".as_ref(),
            g.as_os_str(),
            "exec".as_ref(),
            env.as_os_str(),
        ]);
        r.assert_code(0);
        let vars: Vec<&str> = r.stdout.lines().collect();
        assert!(vars.contains(&"LD_HT_TEST=7"), "{}", r.stdout);
        assert!(vars.contains(&"HT_TEST_B=8"), "{}", r.stdout);
    }
    // A missing program: ENOENT to the guest, which reports it.
    let r = run_ht([g.as_os_str(), "exec".as_ref(), "/nonexistent".as_ref()]);
    r.assert_code(1);
    assert_eq!(r.stdout, "execve /nonexistent: ENOENT\n");
}

/// The first process executes a guest program that forks: the program
/// keeps the run's channel (and removes it at the end, as its creator's
/// successor), its events continue the first process's trace file.
#[test]
fn exec_in_the_first_process_keeps_channel_and_trace() {
    exec_in_the_first_process_keeps_channel_and_trace_as("compact");
}

#[test]
fn exec_in_the_first_process_keeps_channel_and_trace_fixed() {
    exec_in_the_first_process_keeps_channel_and_trace_as("fixed");
}

fn exec_in_the_first_process_keeps_channel_and_trace_as(format: &str) {
    let (dir, base) = temp_base();
    let log = dir.path().join("log");
    let trace = dir.path().join("run.bin");
    let g = guest("fork-exec");
    let r = run_ht([
        "-hypertrace".as_ref(),
        base.as_os_str(),
        "-D".as_ref(),
        log.as_os_str(),
        "-trace-file".as_ref(),
        trace.as_os_str(),
        "-trace-format".as_ref(),
        format.as_ref(),
        g.as_os_str(),
        "exec".as_ref(),
        g.as_os_str(),
        "trace".as_ref(),
        base.as_os_str(),
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "executed child traced\ntraced child: exited 0\n");
    assert_no_channel_files(&base);
    let events = parse_events(&std::fs::read_to_string(&log).unwrap());
    let arg1s: Vec<u64> = events.iter().map(|e| e.arg1).collect();
    assert_eq!(arg1s, [1, 2, 4, 3]);
    assert_eq!(events[0].pid, r.pid, "execve keeps the pid");
    let f = TraceFile::open(&trace).unwrap();
    assert_eq!(f.info.layout.name(), format);
    assert_eq!(f.declared_count, Some(2));
    assert_eq!(f.info.get("argv").unwrap().split('\0').nth(1), Some("exec"));
    let got: Vec<u64> = f.events().map(|e| e.unwrap().arg1).collect();
    assert_eq!(got, [1, 3]);
}

/// -strace follows every process: each line under its own pid, execve
/// logged before the new program starts.
#[test]
fn strace_follows_children() {
    let (dir, _base) = temp_base();
    let log = dir.path().join("log");
    let g = guest("fork-exec");
    let r = run_ht([
        "-strace".as_ref(),
        "-D".as_ref(),
        log.as_os_str(),
        g.as_os_str(),
    ]);
    r.assert_code(0);
    let text = std::fs::read_to_string(&log).unwrap();
    let parent = r.pid.to_string();
    let exec_line = text
        .lines()
        .find(|l| l.contains(" execve(\"") && l.ends_with(" = 0"))
        .unwrap_or_else(|| panic!("no successful execve line:\n{text}"));
    let child = exec_line.split(' ').next().unwrap();
    assert_ne!(child, parent, "{exec_line}");
    // The executed program's own calls follow under the same pid.
    let after: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != exec_line)
        .filter(|l| l.starts_with(&format!("{child} ")))
        .collect();
    assert!(after.len() > 3, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("{parent} wait4("))
                || l.starts_with(&format!("{parent} waitid("))),
        "{text}"
    );
    assert!(text.contains("execve(\"/nonexistent/program\""), "{text}");
}

/// Ignored signals and the signal mask survive execve, into a guest
/// program and into a host one.
#[test]
fn signal_dispositions_survive_execve() {
    let g = guest("fork-exec");
    let args = [
        g.as_os_str(),
        "sigexec".as_ref(),
        g.as_os_str(),
        "sigcheck".as_ref(),
    ];
    let r = run_ht(args);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "SIGPIPE ignored: yes, SIGTERM ignored: no, SIGUSR1 blocked: yes, SIGUSR2 blocked: no\n"
    );
    if matches!(arch().as_str(), "x86_64" | "i386") {
        if let Some(q) = qemu_or_skip("sigexec") {
            assert_eq!(run(qemu(&q, args)).stdout, r.stdout);
        }
    }
    let grep = std::path::Path::new("/bin/grep");
    if arch() == "x86_64" || !grep.exists() {
        return;
    }
    let r = run_ht([
        g.as_os_str(),
        "sigexec".as_ref(),
        grep.as_os_str(),
        "-E".as_ref(),
        "^Sig(Ign|Blk)".as_ref(),
        "/proc/self/status".as_ref(),
    ]);
    r.assert_code(0);
    let mask = |name: &str| {
        let line = r.stdout.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let bit = |sig: i32| 1u64 << (sig - 1);
    assert_ne!(mask("SigIgn:") & bit(libc::SIGPIPE), 0, "{}", r.stdout);
    assert_ne!(mask("SigBlk:") & bit(libc::SIGUSR1), 0, "{}", r.stdout);
    assert_eq!(mask("SigBlk:") & bit(libc::SIGINT), 0, "{}", r.stdout);
}

/// What glibc's posix_spawn and vfork give on Linux (qemu-user, whose
/// vfork is a plain fork, reports success for the missing program and
/// loses the child's writes).
const SPAWN: &str = "\
posix_spawn of a missing program: No such file or directory
posix_spawn of itself: success
spawned child: exited 5
posix_spawn with a failing file action: No such file or directory
vfork child wrote the parent's variable: 2
vfork child: exited 3
vfork child's failed exec: No such file or directory
vfork child after the failed exec: exited 127
";

#[test]
fn vfork_parent_waits_and_sees_what_the_child_wrote() {
    let g = guest("spawn");
    let r = run_ht([&g]);
    r.assert_code(0);
    assert_eq!(r.stdout, SPAWN, "on {}", arch());
}

/// A child that cannot create its own trace file (here: `FILE.PID` is too
/// long a name) runs its guest all the same: the guest's output and exit
/// statuses are unchanged, the -D log still has every event, and the run's
/// first process says events were lost and exits 1.
#[test]
fn a_child_without_its_trace_file_still_runs_its_guest() {
    let (dir, base) = temp_base();
    let log = dir.path().join("log");
    // 254 bytes: FILE fits in a file name, FILE.PID (for any pid) does not.
    let trace = dir.path().join("t".repeat(254));
    let g = guest("fork-exec");
    let r = run_ht([
        "-hypertrace".as_ref(),
        base.as_os_str(),
        "-D".as_ref(),
        log.as_os_str(),
        "-trace-file".as_ref(),
        trace.as_os_str(),
        g.as_os_str(),
        "trace".as_ref(),
        base.as_os_str(),
    ]);
    assert_eq!(
        r.stdout, "executed child traced\ntraced child: exited 0\n",
        "{}",
        r.stderr
    );
    r.assert_code(1);
    assert!(
        r.stderr.contains("this process's events are lost"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("child processes lost"), "{}", r.stderr);
    let events = parse_events(&std::fs::read_to_string(&log).unwrap());
    let arg1s: Vec<u64> = events.iter().map(|e| e.arg1).collect();
    assert_eq!(arg1s, [1, 2, 4, 3], "the text log has every event");
    let f = TraceFile::open(&trace).unwrap();
    let got: Vec<u64> = f.events().map(|e| e.unwrap().arg1).collect();
    assert_eq!(got, [1, 3], "the first process's own trace is whole");
    assert_no_channel_files(&base);
}

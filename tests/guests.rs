// SPDX-License-Identifier: GPL-2.0-or-later
//! Every test guest under ht-user: stdout and exit status, and, where
//! qemu-x86_64 is installed, the same stdout and exit status as qemu-x86_64
//! gives for the same binary and arguments.

mod common;

use std::ffi::OsString;
use std::path::Path;

use common::*;

/// ht-user `options` GUEST `args`.
fn run_guest(options: &[&str], name: &str, args: &[&str]) -> Run {
    let mut cmd = ht(options);
    cmd.arg(guest(name)).args(args);
    run(cmd)
}

/// The same under qemu-x86_64.
fn run_qemu(q: &Path, options: &[&str], name: &str, args: &[&str]) -> Run {
    let mut cmd = qemu(q, options);
    cmd.arg(guest(name)).args(args);
    run(cmd)
}

/// Asserts that qemu-x86_64 gives the same stdout and exit status as `ht`
/// did; skipped (with a note) when qemu is not installed.
fn assert_same_as_qemu(ht_run: &Run, options: &[&str], name: &str, args: &[&str]) {
    let Some(q) = qemu_or_skip(name) else {
        return;
    };
    let q_run = run_qemu(&q, options, name, args);
    assert_eq!(
        ht_run.stdout, q_run.stdout,
        "{name} {args:?}: stdout differs from qemu-x86_64 (left ht-user, right qemu)"
    );
    assert_eq!(
        ht_run.exit(),
        q_run.exit(),
        "{name} {args:?}: exit status differs from qemu-x86_64\n\
         --- ht-user stderr\n{}\n--- qemu stderr\n{}",
        ht_run.stderr,
        q_run.stderr
    );
}

/// The argv-env output for a given argv and the two variables.
fn argv_env_output(argv: &[&str], a: Option<&str>, b: Option<&str>, auxv: &str) -> String {
    let mut s = format!("argc={}\n", argv.len());
    for (i, arg) in argv.iter().enumerate() {
        s += &format!("argv[{i}]={arg}\n");
    }
    s += &format!("HT_TEST_A={}\n", a.unwrap_or("(unset)"));
    s += &format!("HT_TEST_B={}\n", b.unwrap_or("(unset)"));
    s + auxv + "\n"
}

#[test]
fn hello() {
    let r = run_guest(&[], "hello", &[]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
    assert_eq!(r.stderr, "");
    assert_same_as_qemu(&r, &[], "hello", &[]);
}

#[test]
fn hello_glibc() {
    let r = run_guest(&[], "hello-glibc", &[]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
    assert_eq!(r.stderr, "");
    assert_same_as_qemu(&r, &[], "hello-glibc", &[]);
}

#[test]
fn hello_static_pie() {
    // Some cross toolchains cannot link static-PIE; x86_64 always has it.
    if arch() != "x86_64" && !testdata().join("hello-pie").exists() {
        eprintln!("note: no hello-pie for {}, skipped", arch());
        return;
    }
    let r = run_guest(&[], "hello-pie", &[]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
    assert_eq!(r.stderr, "");
    assert_same_as_qemu(&r, &[], "hello-pie", &[]);
}

#[test]
fn argv_env_passes_arguments_verbatim() {
    let args = [
        "one two",
        "",
        "  leading and trailing  ",
        "x=y",
        "-strace",
        "--help",
    ];
    let r = run_guest(&[], "argv-env", &args);
    r.assert_code(0);
    let program = guest("argv-env");
    let program = program.to_str().expect("UTF-8 test path");
    let mut argv = vec![program];
    argv.extend(args);
    assert_eq!(r.stdout, argv_env_output(&argv, None, None, "auxv ok"));
    assert_same_as_qemu(&r, &[], "argv-env", &args);
}

#[test]
fn argv_env_host_environment_is_inherited() {
    let mut cmd = ht(std::iter::empty::<&str>());
    cmd.env("HT_TEST_A", "from the host").arg(guest("argv-env"));
    let r = run(cmd);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("\nHT_TEST_A=from the host\nHT_TEST_B=(unset)\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn argv_env_set_and_unset_variables() {
    // -E sets (also over a host value), -U removes a host variable.
    let options = ["-E", "HT_TEST_A=set with -E", "-U", "HT_TEST_B"];
    let mut cmd = ht(options);
    cmd.env("HT_TEST_A", "host value")
        .env("HT_TEST_B", "host value")
        .arg(guest("argv-env"))
        .arg("x");
    let r = run(cmd);
    r.assert_code(0);
    let program = guest("argv-env");
    let argv = [program.to_str().unwrap(), "x"];
    assert_eq!(
        r.stdout,
        argv_env_output(&argv, Some("set with -E"), None, "auxv ok")
    );

    if let Some(q) = qemu_or_skip("argv-env -E/-U") {
        let mut cmd = qemu(&q, options);
        cmd.env("HT_TEST_A", "host value")
            .env("HT_TEST_B", "host value")
            .arg(guest("argv-env"))
            .arg("x");
        let q_run = run(cmd);
        assert_eq!(r.stdout, q_run.stdout);
        assert_eq!(r.exit(), q_run.exit());
    }
}

#[test]
fn argv_env_comma_separated_lists() {
    let options = ["-E", "HT_TEST_A=1,HT_TEST_B=2"];
    let r = run_guest(&options, "argv-env", &[]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("\nHT_TEST_A=1\nHT_TEST_B=2\n"),
        "{}",
        r.stdout
    );
    assert_same_as_qemu(&r, &options, "argv-env", &[]);

    let options = ["-U", "HT_TEST_B,HT_TEST_NONE,HT_TEST_A"];
    let mut cmd = ht(options);
    cmd.env("HT_TEST_A", "a").env("HT_TEST_B", "b");
    cmd.arg(guest("argv-env"));
    let r = run(cmd);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("\nHT_TEST_A=(unset)\nHT_TEST_B=(unset)\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn argv_env_unset_then_set() {
    let options = ["-U", "HT_TEST_B", "-E", "HT_TEST_B=again"];
    let mut cmd = ht(options);
    cmd.env("HT_TEST_B", "host").arg(guest("argv-env"));
    let r = run(cmd);
    r.assert_code(0);
    assert!(r.stdout.contains("\nHT_TEST_B=again\n"), "{}", r.stdout);
}

/// qemu-user applies -E and -U in command-line order, so a later -U
/// removes what an earlier -E set.
#[test]
fn argv_env_set_then_unset() {
    let options = ["-E", "HT_TEST_A=1,HT_TEST_B=2", "-U", "HT_TEST_B"];
    let r = run_guest(&options, "argv-env", &[]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("\nHT_TEST_A=1\nHT_TEST_B=(unset)\n"),
        "{}",
        r.stdout
    );
    assert_same_as_qemu(&r, &options, "argv-env", &[]);
}

#[test]
fn argv_env_argv0_option() {
    // A different basename: AT_EXECFN (the real path) no longer matches.
    let r = run_guest(&["-0", "zero"], "argv-env", &["a b"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        argv_env_output(&["zero", "a b"], None, None, "auxv bad AT_EXECFN basename")
    );
    assert_same_as_qemu(&r, &["-0", "zero"], "argv-env", &["a b"]);

    // Same basename elsewhere: argv[0] as given, auxv checks pass.
    let argv0 = "/no/such/dir/argv-env";
    let r = run_guest(&["-0", argv0], "argv-env", &[]);
    r.assert_code(0);
    assert_eq!(r.stdout, argv_env_output(&[argv0], None, None, "auxv ok"));
    assert_same_as_qemu(&r, &["-0", argv0], "argv-env", &[]);
}

#[test]
fn argv_env_relative_program_path() {
    // argv[0] is the program exactly as given on the command line.
    let dir = testdata();
    let mut cmd = ht(["./argv-env"]);
    cmd.current_dir(&dir);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        argv_env_output(&["./argv-env"], None, None, "auxv ok")
    );
}

#[test]
fn exit_code_values() {
    for (arg, want) in [
        (None, 0),
        (Some("0"), 0),
        (Some("7"), 7),
        (Some("255"), 255),
        (Some("256"), 0),
    ] {
        let args: Vec<&str> = arg.into_iter().collect();
        let r = run_guest(&[], "exit-code", &args);
        r.assert_code(want);
        assert_eq!(r.stdout, "");
        assert_eq!(r.stderr, "", "exit-code {args:?}");
        assert_same_as_qemu(&r, &[], "exit-code", &args);
    }
}

fn assert_killed_by(arg: &str, sig: i32) {
    let r = run_guest(&[], "exit-code", &[arg]);
    r.assert_code(128 + sig);
    let lines = r.stderr_lines();
    let prefix = format!("ht-user: uncaught target signal {sig} (");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&prefix) && l.contains(") - core dumped")),
        "no '{prefix}...) - core dumped' line in:\n{}",
        r.stderr
    );
    assert_same_as_qemu(&r, &[], "exit-code", &[arg]);
}

#[test]
fn exit_code_abort_is_signal_6() {
    assert_killed_by("abort", libc::SIGABRT);
}

#[test]
fn exit_code_segv_is_signal_11() {
    assert_killed_by("segv", libc::SIGSEGV);
}

/// Runs a guest that takes a scratch directory, in a fresh one.
fn run_in_scratch(runner: impl FnOnce(&str) -> Run) -> Run {
    let dir = tempfile::tempdir().expect("scratch directory");
    let path = dir.path().to_str().expect("UTF-8 temp path").to_string();
    let r = runner(&path);
    let left: Vec<OsString> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "guest left {left:?} behind");
    r
}

fn scratch_guest(name: &str) {
    let r = run_in_scratch(|dir| run_guest(&[], name, &[dir]));
    r.assert_code(0);
    let fails: Vec<&str> = r.stdout.lines().filter(|l| !l.starts_with("ok ")).collect();
    assert_eq!(
        fails,
        [format!("{name}: all ok").as_str()],
        "stdout:\n{}",
        r.stdout
    );
    if let Some(q) = qemu_or_skip(name) {
        let q_run = run_in_scratch(|dir| run_qemu(&q, &[], name, &[dir]));
        assert_eq!(r.stdout, q_run.stdout, "{name}: stdout differs from qemu");
        assert_eq!(r.exit(), q_run.exit());
    }
}

#[test]
fn files() {
    scratch_guest("files");
}

#[test]
fn memory() {
    scratch_guest("memory");
}

#[test]
fn timecheck() {
    let r = run_guest(&[], "timecheck", &[]);
    r.assert_code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 9, "stdout:\n{}", r.stdout);
    assert!(
        lines.iter().all(|l| l.starts_with("ok ")),
        "stdout:\n{}",
        r.stdout
    );
    assert_same_as_qemu(&r, &[], "timecheck", &[]);
}

#[test]
fn cpu_bench_sieve() {
    let r = run_guest(&[], "cpu-bench", &["sieve"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "sieve: 1270607 primes below 20000000\n");
    assert_same_as_qemu(&r, &[], "cpu-bench", &["sieve"]);
}

#[test]
fn cpu_bench_matmul_matches_qemu() {
    // Floating point: the checksum must be bit-for-bit what qemu computes.
    let r = run_guest(&[], "cpu-bench", &["matmul"]);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("matmul: checksum ") && r.stdout.lines().count() == 1,
        "{}",
        r.stdout
    );
    assert_same_as_qemu(&r, &[], "cpu-bench", &["matmul"]);
}

#[test]
fn cpu_bench_usage_error() {
    let r = run_guest(&[], "cpu-bench", &["nosuch"]);
    r.assert_code(2);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("usage: cpu-bench"), "{}", r.stderr);
    assert_same_as_qemu(&r, &[], "cpu-bench", &["nosuch"]);
}

#[test]
fn guests_with_a_channel_fail_cleanly_without_one() {
    // Without -hypertrace the channel files do not exist: the library
    // reports ENOENT and the guests exit 1 (events) or abort (seed-example).
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht");
    let base = base.to_str().unwrap();
    let r = run_guest(&[], "events", &[base, "10"]);
    r.assert_code(1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .contains("events: qemu_hypertrace_init: No such file or directory"),
        "{}",
        r.stderr
    );
    assert_same_as_qemu(&r, &[], "events", &[base, "10"]);

    let r = run_guest(&[], "seed-example", &[base]);
    r.assert_code(128 + libc::SIGABRT);
    assert!(
        r.stderr.contains("error: qemu_hypertrace_init"),
        "{}",
        r.stderr
    );
    assert_same_as_qemu(&r, &[], "seed-example", &[base]);
}

#[test]
fn fp_control_state_at_start_and_in_handlers_is_linuxs() {
    let r = run_guest(&[], "fp-state", &[]);
    r.assert_code(0);
    let x86 = matches!(arch().as_str(), "x86_64" | "i386");
    if x86 {
        // The kernel's init_fpstate: x87 control word 0x037f (64-bit
        // precision, exceptions masked), empty x87 stack, MXCSR 0x1f80;
        // the same for every signal handler.
        let linux = "fcw=037f ftw=ffff env.fcw=037f mxcsr=00001f80";
        assert!(
            r.stdout.starts_with(&format!("start: {linux}\n")),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(&format!("in handler: {linux}\n")),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("sum of squares 0..999 = 332833500.0\n"),
            "{}",
            r.stdout
        );
        // qemu-user gets the handler's state wrong on x86; the host kernel
        // runs x86 guests itself, so compare with it where it can.
        if cfg!(target_arch = "x86_64") {
            let native = run(std::process::Command::new(guest("fp-state")));
            if native.code() == 0 {
                assert_eq!(
                    r.stdout, native.stdout,
                    "left ht-user, right the host kernel"
                );
            } else {
                eprintln!("note: the host cannot run the {} guest natively", arch());
            }
        }
    } else {
        assert_same_as_qemu(&r, &[], "fp-state", &[]);
    }
}

#[test]
fn code_written_at_run_time_runs_as_written() {
    let r = run_guest(&[], "jit", &[]);
    r.assert_code(0);
    let mut want = String::from(
        "rewritten in place: sum 499500 (want 499500)\n\
         neighbours: 11 7\n\
         mprotect between writing and running: 21 22\n",
    );
    // Code stored through a second view of a shared page is seen where the
    // guest flushes its instruction cache, with a system call (arm,
    // riscv64, mips) or an instruction (aarch64's `ic ivau`), as on Linux
    // (qemu-user 7.2 runs the old code). x86 has no flush: the engine
    // does not see aliased stores and runs the old code, a known
    // limitation (ARCHITECTURE.md, Memory).
    let views = r.stdout.lines().nth(3).unwrap_or_default();
    if matches!(
        arch().as_str(),
        "arm" | "riscv64" | "mipsel" | "mips64el" | "aarch64"
    ) {
        want += "write view, execute view: 31 32\n";
    } else {
        assert!(
            views.starts_with("write view, execute view: 31 "),
            "{}",
            r.stdout
        );
        want += views;
        want += "\n";
    }
    if arch() == "riscv64" {
        // Flag 2 is not SYS_RISCV_FLUSH_ICACHE_LOCAL: EINVAL on Linux
        // (qemu-user 7.2 ignores the flags and its cacheflush calls, and
        // runs stale code from the second view on arm, riscv64 and mips).
        want += "riscv_flush_icache: 0 -1\n";
    }
    assert_eq!(r.stdout, want);
}

#[test]
fn arm_kuser_helpers_are_linuxs_version_5() {
    let r = run_guest(&[], "kuser", &[]);
    r.assert_code(0);
    if arch() != "arm" {
        assert_eq!(r.stdout, "no kuser helpers on this architecture\n");
        return;
    }
    assert_eq!(
        r.stdout,
        "version 5\n\
         get_tls is the thread pointer: 1\n\
         cmpxchg 1->2: swapped, word 2\n\
         cmpxchg 1->3: refused, word 2\n\
         cmpxchg64: swapped, 200000002\n\
         cmpxchg64 high word differs: refused, 200000002\n\
         cmpxchg64 low word differs: refused, 200000002\n"
    );
    assert_same_as_qemu(&r, &[], "kuser", &[]);
}

/// QEMU_SET_ENV, QEMU_UNSET_ENV and QEMU_ARGV0 act as -E, -U and -0, and
/// the command line's options come after them (wins), as in qemu-user.
#[test]
fn argv_env_qemu_environment_variables() {
    let mut cmd = ht(std::iter::empty::<&str>());
    cmd.env("HT_TEST_B", "host value")
        .env("QEMU_SET_ENV", "HT_TEST_A=from QEMU_SET_ENV")
        .env("QEMU_UNSET_ENV", "HT_TEST_B")
        .env("QEMU_ARGV0", "zero")
        .arg(guest("argv-env"))
        .arg("x");
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        argv_env_output(
            &["zero", "x"],
            Some("from QEMU_SET_ENV"),
            None,
            // AT_EXECFN keeps the real path, as with -0.
            "auxv bad AT_EXECFN basename"
        )
    );
    if let Some(q) = qemu_or_skip("argv-env with QEMU_SET_ENV") {
        let mut cmd = qemu(&q, std::iter::empty::<&str>());
        cmd.env("HT_TEST_B", "host value")
            .env("QEMU_SET_ENV", "HT_TEST_A=from QEMU_SET_ENV")
            .env("QEMU_UNSET_ENV", "HT_TEST_B")
            .env("QEMU_ARGV0", "zero")
            .arg(guest("argv-env"))
            .arg("x");
        assert_eq!(run(cmd).stdout, r.stdout);
    }
    // -E and -0 win over the variables.
    let mut cmd = ht(["-E", "HT_TEST_A=from -E", "-0", "first"]);
    cmd.env("QEMU_SET_ENV", "HT_TEST_A=from QEMU_SET_ENV")
        .env("QEMU_ARGV0", "zero")
        .arg(guest("argv-env"));
    let r = run(cmd);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("argc=1\nargv[0]=first\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\nHT_TEST_A=from -E\n"), "{}", r.stdout);
}

/// `-D FILE` with `%d` writes the log to FILE with the process id there,
/// as qemu-user does; a second `%` is refused.
#[test]
fn log_file_name_takes_the_pid() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("log.%d");
    let r = run_guest(&["-strace", "-D", pattern.to_str().unwrap()], "hello", &[]);
    r.assert_code(0);
    let log = dir.path().join(format!("log.{}", r.pid));
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(text.contains("exit_group(0)"), "{text}");
    let bad = dir.path().join("log.%d.%s");
    let r = run_guest(&["-D", bad.to_str().unwrap()], "hello", &[]);
    r.assert_code(1);
    assert!(r.stderr.contains("only one %d"), "{}", r.stderr);
}

/// `-trace help` lists the trace events and exits, without a program.
#[test]
fn trace_help_lists_the_events() {
    let r = run_ht(["-trace", "help"]);
    r.assert_code(0);
    let names: Vec<&str> = r.stdout.lines().collect();
    assert!(names.contains(&"guest_hypertrace"), "{}", r.stdout);
    assert!(names.contains(&"guest_user_syscall"), "{}", r.stdout);
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Tests of the command line: parsing, normalising, the options passed on.

use super::*;

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

#[test]
fn qemu_style_line_from_the_seed() {
    let (cfg, warnings) = parse(args(&[
        "ht-user",
        "-hypertrace",
        "/tmp/hypertrace",
        "-trace",
        "enable=guest*",
        "-D",
        "/dev/stdout",
        "prog",
        "/tmp/hypertrace",
    ]))
    .unwrap();
    assert!(warnings.is_empty());
    assert_eq!(
        cfg.hypertrace.unwrap().base,
        PathBuf::from("/tmp/hypertrace")
    );
    assert!(cfg.trace_events.is_enabled("guest_hypertrace"));
    assert_eq!(cfg.log_file, Some(PathBuf::from("/dev/stdout")));
    assert_eq!(cfg.program, PathBuf::from("prog"));
    assert_eq!(cfg.argv, args(&["prog", "/tmp/hypertrace"]));
}

#[test]
fn gdb_port_is_ours_and_not_the_executed_programs() {
    let (cfg, _) = parse(args(&["ht-user", "-g", "1234", "prog", "-g", "5"])).unwrap();
    assert_eq!(
        cfg.gdb,
        Some(crate::gdb::GdbAddr::Tcp("127.0.0.1:1234".parse().unwrap()))
    );
    assert_eq!(cfg.argv, args(&["prog", "-g", "5"]));
    assert!(cfg.exec_options.is_empty(), "{:?}", cfg.exec_options);
    let (cfg, _) = parse(args(&["ht-user", "-g/tmp/gdb.sock", "prog"])).unwrap();
    assert_eq!(
        cfg.gdb,
        Some(crate::gdb::GdbAddr::Unix("/tmp/gdb.sock".into()))
    );
    let err = parse(args(&["ht-user", "-g", "99999", "prog"])).unwrap_err();
    assert!(err.to_string().contains("99999"), "{err}");
}

#[test]
fn guest_options_are_not_ours() {
    let (cfg, _) = parse(args(&[
        "ht-user", "--strace", "prog", "-strace", "--help", "-D", "x",
    ]))
    .unwrap();
    assert!(cfg.strace);
    assert_eq!(cfg.argv, args(&["prog", "-strace", "--help", "-D", "x"]));
    assert_eq!(cfg.log_file, None);
}

#[test]
fn log_file_names_take_the_pid_as_qemu_does() {
    let name = |s: &str| log_file_for_pid(PathBuf::from(s), 42);
    assert_eq!(name("/tmp/log"), Ok(PathBuf::from("/tmp/log")));
    assert_eq!(name("/tmp/log.%d"), Ok(PathBuf::from("/tmp/log.42")));
    assert_eq!(name("/tmp/%d.log"), Ok(PathBuf::from("/tmp/42.log")));
    assert_eq!(
        name("/tmp/log.%s").unwrap_err().to_string(),
        "-D /tmp/log.%s: bad log file name: only one %d (the process id) is allowed"
    );
    assert!(name("/tmp/%d.%d").is_err());
    assert!(name("/tmp/log%").is_err());
}

#[test]
fn unknown_single_dash_options_are_named_whole() {
    let unknown = |list: &[&str]| unknown_single_dash_option(&normalise(args(list)));
    assert_eq!(
        unknown(&["ht-user", "-seed", "1", "prog"]),
        Some("-seed".into())
    );
    assert_eq!(
        unknown(&["ht-user", "-one-insn-per-tb", "prog"]),
        Some("-one-insn-per-tb".into())
    );
    assert_eq!(unknown(&["ht-user", "-hx", "prog"]), Some("-hx".into()));
    for known in [
        &[
            "ht-user", "-strace", "-D", "/tmp/l", "-Dlog", "-E", "A=1", "prog",
        ][..],
        &[
            "ht-user", "-0", "zero", "-L", "/", "-U", "X", "-cpu", "max", "prog",
        ],
        &["ht-user", "-h"],
        &["ht-user", "-g", "1234", "prog"],
        &["ht-user", "prog", "-seed", "-g"],
    ] {
        assert_eq!(unknown(known), None, "{known:?}");
    }
}

#[test]
fn unknown_double_dash_options_are_named_too() {
    for (list, option) in [
        (&["ht-user", "--foo", "prog"][..], "'--foo'"),
        (&["ht-user", "--foo=3", "prog"], "'--foo'"),
    ] {
        let Err(e) = parse(args(list)) else {
            panic!("{list:?} accepted");
        };
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "error: unknown option {option} (ht-user's options"
            )),
            "{text}"
        );
    }
}

#[test]
fn trace_help_is_asked_for() {
    assert!(wants_trace_help(&args(&["ht-user", "-trace", "help"])));
    assert!(wants_trace_help(&args(&["ht-user", "-trace", "?", "prog"])));
    assert!(!wants_trace_help(&args(&[
        "ht-user", "-trace", "guest*", "prog"
    ])));
    assert!(!wants_trace_help(&args(&[
        "ht-user", "prog", "-trace", "help"
    ])));
}

#[test]
fn env_edits_and_argv0() {
    let (cfg, _) = parse(args(&[
        "ht-user", "-E", "A=1,B=2", "-U", "PATH", "-0", "zero", "prog",
    ]))
    .unwrap();
    assert!(cfg.env.contains(&OsString::from("A=1")));
    assert!(cfg.env.contains(&OsString::from("B=2")));
    assert!(!cfg
        .env
        .iter()
        .any(|e| e.to_string_lossy().starts_with("PATH=")));
    assert_eq!(cfg.argv[0], OsString::from("zero"));
}

#[test]
fn errors_are_reported() {
    assert!(parse(args(&["ht-user"])).is_err());
    assert!(parse(args(&["ht-user", "-hypertrace", "path=/x,args=0", "p"])).is_err());
    assert!(parse(args(&["ht-user", "-E", "novalue", "p"])).is_err());
    assert!(parse(args(&["ht-user", "-bogus", "p"])).is_err());
    let (_, w) = parse(args(&["ht-user", "-trace", "nosuch", "p"])).unwrap();
    assert_eq!(w.len(), 1);
}

#[test]
fn trace_file_option() {
    let (cfg, w) = parse(args(&[
        "ht-user",
        "-hypertrace",
        "/b",
        "-trace-file",
        "/tmp/t.bin",
        "p",
        "-trace-file",
    ]))
    .unwrap();
    assert!(w.is_empty());
    assert_eq!(cfg.trace_file, Some(PathBuf::from("/tmp/t.bin")));
    assert_eq!(cfg.argv, args(&["p", "-trace-file"]));
    let (cfg, w) = parse(args(&["ht-user", "--trace-file=x", "p"])).unwrap();
    assert_eq!(cfg.trace_file, Some(PathBuf::from("x")));
    assert_eq!(w.len(), 1);
}

#[test]
fn trace_format_option() {
    use crate::trace::file::Layout;
    let (cfg, _) = parse(args(&["ht-user", "-trace-file", "t", "p"])).unwrap();
    assert_eq!(cfg.trace_format, Layout::Compact);
    assert!(cfg
        .exec_options
        .iter()
        .all(|o| !o.to_string_lossy().contains("format")));
    let (cfg, _) = parse(args(&[
        "ht-user",
        "-trace-format",
        "fixed",
        "-trace-file",
        "t",
        "p",
        "-trace-format",
    ]))
    .unwrap();
    assert_eq!(cfg.trace_format, Layout::Fixed);
    assert_eq!(cfg.argv, args(&["p", "-trace-format"]));
    // An executed program writes the same layout.
    assert!(
        cfg.exec_options
            .contains(&OsString::from("--trace-format=fixed")),
        "{:?}",
        cfg.exec_options
    );
    let (cfg, _) = parse(args(&["ht-user", "-trace-format=compact", "p"])).unwrap();
    assert_eq!(cfg.trace_format, Layout::Compact);
    let e = parse(args(&["ht-user", "-trace-format", "zip", "p"])).unwrap_err();
    assert!(e.to_string().contains("compact or fixed"), "{e}");
}

#[test]
fn env_edits_follow_command_line_order() {
    let (cfg, _) = parse(args(&[
        "ht-user",
        "-E",
        "HT_X=1,HT_Y=2",
        "-U",
        "HT_Y",
        "-E",
        "HT_Z=3",
        "p",
    ]))
    .unwrap();
    assert!(cfg.env.contains(&OsString::from("HT_X=1")));
    assert!(!cfg
        .env
        .iter()
        .any(|e| e.to_string_lossy().starts_with("HT_Y=")));
    let (cfg, _) = parse(args(&["ht-user", "-U", "HT_Y", "-E", "HT_Y=back", "p"])).unwrap();
    assert!(cfg.env.contains(&OsString::from("HT_Y=back")));
}

#[test]
fn options_for_an_executed_program() {
    let cwd = std::env::current_dir().unwrap();
    let events = tempfile::NamedTempFile::new().unwrap();
    let events_opt = format!("events={}", events.path().display());
    let (cfg, _) = parse(args(&[
        "ht-user",
        "-hypertrace",
        "path=ht,args=2",
        "-D",
        "log.txt",
        "-trace-file=/abs/t.bin",
        "-trace",
        &events_opt,
        "-trace",
        "guest*",
        "-E",
        "A=1",
        "-U",
        "B",
        "-0",
        "zero",
        "-strace",
        "-L.",
        "prog",
        "-D",
        "guest-arg",
    ]))
    .unwrap();
    let at = |p: &str| cwd.join(p).display().to_string();
    let want: Vec<OsString> = [
        format!("--hypertrace=path={},max-clients=64,args=2", at("ht")),
        format!("-D={}", at("log.txt")),
        "--trace-file=/abs/t.bin".to_string(),
        format!("--trace={events_opt}"),
        "--trace=guest*".to_string(),
        "--strace".to_string(),
        format!("-L={}", std::path::absolute(".").unwrap().display()),
    ]
    .iter()
    .map(OsString::from)
    .collect();
    assert_eq!(cfg.exec_options, want);
    assert_eq!(cfg.root_pid, None);
    assert_eq!(cfg.inherited_fds, None);
    // What an executed program's ht-user is given back.
    let (cfg, _) = parse(args(&[
        "ht-user",
        "--ht-root-pid=42",
        "--ht-fds=0:5,1:6",
        "-0=argv0",
        "--",
        "prog",
    ]))
    .unwrap();
    assert_eq!(cfg.root_pid, Some(42));
    assert_eq!(cfg.inherited_fds, Some(vec![(0, 5), (1, 6)]));
    assert_eq!(cfg.argv, args(&["argv0"]));
    assert!(cfg.exec_options.is_empty());
    let (cfg, _) = parse(args(&[
        "ht-user",
        "--ht-env=LD_LIBRARY_PATH=/guest/lib,x",
        "--ht-env=LD_PRELOAD=",
        "prog",
    ]))
    .unwrap();
    assert!(cfg
        .env
        .contains(&OsString::from("LD_LIBRARY_PATH=/guest/lib,x")));
    assert!(cfg.env.contains(&OsString::from("LD_PRELOAD=")));
    let (cfg, _) = parse(args(&["ht-user", "--ht-fds=", "prog"])).unwrap();
    assert_eq!(cfg.inherited_fds, Some(vec![]));
    // Values that are not UTF-8 stay values.
    use std::os::unix::ffi::OsStringExt;
    let odd = |prefix: &str| {
        let mut v = prefix.as_bytes().to_vec();
        v.extend_from_slice(b"\xff\xfe");
        OsString::from_vec(v)
    };
    let list = vec![
        OsString::from("ht-user"),
        odd("--ht-env=LD_X="),
        odd("-0="),
        OsString::from("--"),
        OsString::from("prog"),
    ];
    let (cfg, _) = parse(list).unwrap();
    assert_eq!(cfg.argv, vec![odd("")]);
    assert!(cfg.env.contains(&odd("LD_X=")));
}

#[test]
fn options_after_a_value_that_is_not_utf8_still_count() {
    // Found by fuzzing: the scans for -E/-U, rules and an executed
    // program's options stopped at the first value that is not UTF-8,
    // dropping the options after it (and tripping a debug assertion).
    use std::os::unix::ffi::OsStringExt;
    let odd = |prefix: &[u8]| {
        let mut v = prefix.to_vec();
        v.extend_from_slice(b"\xff\xfe");
        OsString::from_vec(v)
    };
    let list = vec![
        OsString::from("ht-user"),
        OsString::from("-0"),
        odd(b"zero"),
        OsString::from("-D"),
        odd(b"/abs/log"),
        OsString::from("-E"),
        OsString::from("HT_FUZZ_A=1"),
        OsString::from("-hypertrace"),
        OsString::from("/abs/ht"),
        OsString::from("-hypertrace-on"),
        OsString::from("arg1=1:enable guest_exec_tb"),
        OsString::from("-strace"),
        OsString::from("prog"),
    ];
    let (cfg, _) = parse(list).unwrap();
    assert_eq!(cfg.argv, vec![odd(b"zero")]);
    assert!(cfg.env.contains(&OsString::from("HT_FUZZ_A=1")));
    assert!(!cfg.rules.is_empty());
    assert_eq!(cfg.log_file, Some(PathBuf::from(odd(b"/abs/log"))));
    let mut log = OsString::from("-D=");
    log.push(odd(b"/abs/log"));
    assert_eq!(
        cfg.exec_options,
        vec![
            log,
            OsString::from("--hypertrace=path=/abs/ht,max-clients=64,args=4"),
            OsString::from("--hypertrace-on=arg1=1:enable guest_exec_tb"),
            OsString::from("--strace"),
        ]
    );
}

#[test]
fn cpu_option_is_passed_on_and_help_needs_no_program() {
    let (cfg, _) = parse(args(&["ht-user", "-cpu", "Cortex-A53", "p", "-cpu", "x"])).unwrap();
    assert_eq!(cfg.cpu.as_deref(), Some("Cortex-A53"));
    assert_eq!(cfg.argv, args(&["p", "-cpu", "x"]));
    assert_eq!(
        cfg.exec_options,
        args(&["--cpu=Cortex-A53"]),
        "the model reaches executed programs once"
    );
    assert!(wants_cpu_help(&args(&["ht-user", "-cpu", "help"])));
    assert!(wants_cpu_help(&args(&["ht-user", "-strace", "-cpu=?"])));
    assert!(!wants_cpu_help(&args(&[
        "ht-user", "-cpu", "max", "p", "-cpu", "help"
    ])));
}

#[test]
fn sysroot_option_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let (cfg, w) = parse(args(&["ht-user", "-L", root, "p"])).unwrap();
    assert!(w.is_empty());
    assert_eq!(cfg.sysroot.as_deref(), Some(dir.path()));
    // Relative paths become absolute.
    let (cfg, _) = parse(args(&["ht-user", "-L", ".", "p"])).unwrap();
    assert!(cfg.sysroot.unwrap().is_absolute());
    let (cfg, w) = parse(args(&["ht-user", "-L", "/nonexistent/sysroot", "p"])).unwrap();
    assert_eq!(cfg.sysroot, None);
    assert_eq!(w.len(), 1, "{w:?}");
    // The guest's own -L is not ht-user's.
    let (cfg, _) = parse(args(&["ht-user", "p", "-L", root])).unwrap();
    assert_eq!(cfg.argv, args(&["p", "-L", root]));
}

#[test]
fn hypertrace_disabled_by_trace_option() {
    let (cfg, _) = parse(args(&[
        "ht-user",
        "-hypertrace",
        "/b",
        "-trace",
        "-guest_hypertrace",
        "p",
    ]))
    .unwrap();
    assert!(!cfg.trace_events.is_enabled("guest_hypertrace"));
}

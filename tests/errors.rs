// SPDX-License-Identifier: GPL-2.0-or-later
//! Programs ht-user cannot run and command lines it refuses: each ends
//! with exit status 1 and a short message, never with a panic, and leaves
//! no channel files behind.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Runs `program` with a channel in a fresh directory and checks the
/// setup error: exit 1, nothing on stdout, one `ht-user: ` line on stderr
/// naming the program and containing one of `any_of` (case-insensitive),
/// and no channel file left. Returns the line.
fn assert_refused(program: &Path, any_of: &[&str]) -> String {
    assert_refused_with(&[], program, any_of)
}

/// [`assert_refused`] with ht-user options `extra` before the program.
fn assert_refused_with(extra: &[&str], program: &Path, any_of: &[&str]) -> String {
    let (dir, base) = temp_base();
    let mut cmd = ht(["-hypertrace", s(&base)]);
    cmd.args(extra);
    cmd.arg(program).arg(s(&base));
    let r = run(cmd);
    r.assert_code(1);
    assert_eq!(r.stdout, "");
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 1, "want one line, got:\n{}", r.stderr);
    let line = lines[0].to_string();
    assert!(line.starts_with("ht-user: "), "{line}");
    assert!(
        line.contains(s(program)),
        "message does not name {}: {line}",
        program.display()
    );
    let lower = line.to_lowercase();
    assert!(
        any_of.iter().any(|w| lower.contains(&w.to_lowercase())),
        "message mentions none of {any_of:?}: {line}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "channel files left behind"
    );
    line
}

/// Writes `bytes` to a file in `dir`, executable.
fn write_program(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn hello_bytes() -> Vec<u8> {
    std::fs::read(guest("hello")).unwrap()
}

#[test]
fn nonexistent_program() {
    let dir = tempfile::tempdir().unwrap();
    let line = assert_refused(&dir.path().join("no-such-program"), &["no such file"]);
    assert!(line.contains("cannot read"), "{line}");
}

#[test]
fn directory_as_program() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    assert_refused(&sub, &["directory"]);
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_program(dir.path(), "empty", b"");
    assert_refused(&p, &["not an ELF"]);
}

#[test]
fn shell_script() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_program(dir.path(), "script", b"#!/bin/sh\necho hi\n");
    assert_refused(&p, &["not an ELF"]);
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=8u64 {
        let mut bytes = noise(seed, 4096);
        if bytes.starts_with(b"\x7fELF") {
            bytes[0] = 0;
        }
        let p = write_program(dir.path(), &format!("noise-{seed}"), &bytes);
        assert_refused(&p, &["not an ELF"]);
    }
}

#[test]
fn elf_magic_followed_by_random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=24u64 {
        let len = [8usize, 63, 64, 200, 4096][seed as usize % 5];
        let mut bytes = noise(seed, len);
        bytes[..4].copy_from_slice(b"\x7fELF");
        let p = write_program(dir.path(), &format!("elf-noise-{seed}"), &bytes);
        assert_refused(
            &p,
            &["malformed", "truncated", "unsupported", "not an executable"],
        );
    }
}

#[test]
fn truncated_hello() {
    let dir = tempfile::tempdir().unwrap();
    let hello = hello_bytes();
    let p = write_program(dir.path(), "hello-1000", &hello[..1000]);
    assert_refused(&p, &["truncated", "malformed"]);
    for cut in [5usize, 16, 63, 64, 120, 4000] {
        let p = write_program(dir.path(), &format!("hello-{cut}"), &hello[..cut]);
        assert_refused(&p, &["truncated", "malformed"]);
    }
}

/// hello with bytes at `offset` replaced.
fn patched_hello(dir: &Path, name: &str, offset: usize, patch: &[u8]) -> PathBuf {
    let mut bytes = hello_bytes();
    bytes[offset..offset + patch.len()].copy_from_slice(patch);
    write_program(dir, name, &bytes)
}

#[test]
fn wrong_architecture() {
    let dir = tempfile::tempdir().unwrap();
    // e_machine (bytes 18-19, little endian) = 50, EM_IA_64: no emulator for it.
    let p = patched_hello(dir.path(), "hello-ia64", 18, &50u16.to_le_bytes());
    let line = assert_refused(&p, &["ia_64", "ia-64", "ia64"]);
    assert!(line.contains("architecture"), "{line}");
    // EM_ARM in a 64-bit ELF file: no such ABI.
    let p = patched_hello(dir.path(), "hello-arm", 18, &40u16.to_le_bytes());
    let line = assert_refused(&p, &["arm"]);
    assert!(line.contains("architecture"), "{line}");
}

#[test]
fn x86_code_labelled_aarch64() {
    // e_machine = 183, EM_AARCH64. Refused (when aarch64 guests are not
    // supported) or run as aarch64 code, which then faults: either way a
    // clean end, never a panic or a hang.
    let dir = tempfile::tempdir().unwrap();
    let p = patched_hello(dir.path(), "hello-aarch64", 18, &183u16.to_le_bytes());
    let r = run_ht([s(&p)]);
    let fault = [libc::SIGILL, libc::SIGSEGV, libc::SIGBUS].map(|sig| 128 + sig);
    match r.code() {
        1 => assert!(r.stderr.to_lowercase().contains("aarch64"), "{}", r.stderr),
        code if fault.contains(&code) => assert!(
            r.stderr.contains("ht-user: uncaught target signal"),
            "{}",
            r.stderr
        ),
        code => panic!("exit status {code}:\n{}", r.stderr),
    }
    assert_eq!(r.stdout, "");
}

/// The committed mipsel hello with its e_flags (bytes 36-39) replaced.
fn mipsel_hello_with_flags(dir: &Path, name: &str, flags: u32) -> PathBuf {
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mipsel/hello");
    let mut bytes = std::fs::read(hello).expect("testdata/mipsel/hello");
    bytes[36..40].copy_from_slice(&flags.to_le_bytes());
    write_program(dir, name, &bytes)
}

/// MIPS e_flags as Linux's o32 `elf_check_arch` reads them: n32 and the
/// EABIs are refused; o32 and no ABI at all (old toolchains) run.
#[test]
fn mips_abi_flags_are_checked_as_linux_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    // The committed hello: mips32r2, o32, PIC.
    let built = 0x7000_1007;
    let p = mipsel_hello_with_flags(dir.path(), "hello-n32", built | 0x20);
    assert_refused(&p, &["n32"]);
    for (abi, name) in [(0x2000, "o64"), (0x3000, "EABI32"), (0x4000, "EABI64")] {
        let p = mipsel_hello_with_flags(dir.path(), name, (built & !0xf000) | abi);
        assert_refused(&p, &[name]);
    }
    for (name, flags) in [("hello-no-abi", built & !0xf000), ("hello-zero-flags", 0)] {
        let p = mipsel_hello_with_flags(dir.path(), name, flags);
        let r = run_ht([s(&p)]);
        r.assert_code(0);
        assert_eq!(r.stdout, "hello from the guest\n", "{name}");
    }
}

#[test]
fn not_an_executable_type() {
    let dir = tempfile::tempdir().unwrap();
    // e_type (bytes 16-17) = ET_REL.
    let p = patched_hello(dir.path(), "hello-rel", 16, &1u16.to_le_bytes());
    assert_refused(&p, &["not an executable", "REL"]);
}

/// The host's /bin/true with its interpreter renamed to
/// `/nolib/ld-linux-x86-64.so.2` (same length), in `dir`; `None` (after a
/// note) on a host without the usual x86_64 /bin/true.
fn true_with_missing_interpreter(dir: &Path) -> Option<PathBuf> {
    let Ok(mut bytes) = std::fs::read("/bin/true") else {
        eprintln!("note: /bin/true missing, test skipped");
        return None;
    };
    let from = b"/lib64/ld-linux-x86-64.so.2";
    let Some(at) = bytes.windows(from.len()).position(|w| w == from) else {
        eprintln!("note: /bin/true has another interpreter, test skipped");
        return None;
    };
    bytes[at..at + 7].copy_from_slice(b"/nolib/");
    Some(write_program(dir, "true-nolib", &bytes))
}

#[test]
fn missing_interpreter_is_named_and_l_suggested() {
    let dir = tempfile::tempdir().unwrap();
    let Some(program) = true_with_missing_interpreter(dir.path()) else {
        return;
    };
    let line = assert_refused(&program, &["not found"]);
    assert!(
        line.contains("/nolib/ld-linux-x86-64.so.2") && line.contains("-L"),
        "interpreter or -L not named: {line}"
    );
    // With a sysroot that lacks it too, the message names the sysroot.
    let sysroot = dir.path().join("sysroot");
    std::fs::create_dir(&sysroot).unwrap();
    let line = assert_refused_with(&["-L", s(&sysroot)], &program, &["not found"]);
    assert!(line.contains(s(&sysroot)), "sysroot not named: {line}");
}

#[test]
fn bad_interpreters_in_the_sysroot() {
    let dir = tempfile::tempdir().unwrap();
    let Some(program) = true_with_missing_interpreter(dir.path()) else {
        return;
    };
    let sysroot = dir.path().join("sysroot");
    std::fs::create_dir_all(sysroot.join("nolib")).unwrap();
    let interp = sysroot.join("nolib/ld-linux-x86-64.so.2");
    let mut elf_noise = noise(7, 64);
    elf_noise[..4].copy_from_slice(b"\x7fELF");
    let cases: Vec<(Vec<u8>, &[&str])> = vec![
        (b"garbage".to_vec(), &["not an ELF"]),
        (Vec::new(), &["not an ELF"]),
        (
            elf_noise,
            &["malformed", "truncated", "unsupported", "not an executable"],
        ),
        // An interpreter of another architecture.
        (
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/aarch64/hello"))
                .unwrap(),
            &["aarch64"],
        ),
    ];
    for (bytes, any_of) in cases {
        std::fs::write(&interp, &bytes).unwrap();
        let line = assert_refused_with(&["-L", s(&sysroot)], &program, any_of);
        assert!(line.contains("interpreter"), "{line}");
    }
    // QEMU_LD_PREFIX gives the sysroot when -L does not.
    std::fs::write(&interp, b"garbage").unwrap();
    let mut cmd = ht([s(&program)]);
    cmd.env("QEMU_LD_PREFIX", &sysroot);
    let r = run(cmd);
    r.assert_code(1);
    assert!(r.stderr.contains("not an ELF"), "{}", r.stderr);
}

#[test]
fn only_regular_files_are_loaded() {
    // Devices would be read without end (or not at all): refused as
    // execve refuses them, before anything is read.
    for dev in ["/dev/zero", "/dev/urandom", "/dev/null"] {
        assert_refused(Path::new(dev), &["not a regular file"]);
    }
    // A FIFO is refused at once, not waited on.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o755) }, 0);
    assert_refused(&fifo, &["not a regular file"]);
}

#[test]
fn a_program_without_execute_permission_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write_program(dir.path(), "hello-rw", &hello_bytes());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_refused(&p, &["execute permission"]);
}

#[test]
fn device_and_fifo_interpreters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(program) = true_with_missing_interpreter(dir.path()) else {
        return;
    };
    // The interpreter name, rewritten in place to /dev/zero.
    let mut bytes = std::fs::read(&program).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"/nolib/")
        .expect("renamed interpreter");
    bytes[at..at + 10].copy_from_slice(b"/dev/zero\0");
    let zero = write_program(dir.path(), "true-devzero", &bytes);
    let line = assert_refused(&zero, &["not a regular file"]);
    assert!(line.contains("interpreter /dev/zero"), "{line}");
    // A FIFO where the sysroot's interpreter should be.
    let sysroot = dir.path().join("sysroot");
    std::fs::create_dir_all(sysroot.join("nolib")).unwrap();
    let fifo = sysroot.join("nolib/ld-linux-x86-64.so.2");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o755) }, 0);
    let line = assert_refused_with(&["-L", s(&sysroot)], &program, &["not a regular file"]);
    assert!(line.contains("interpreter"), "{line}");
}

/// The 64-bit program headers of `elf`: (file offset of the entry, p_type).
fn program_headers(elf: &[u8]) -> Vec<(usize, u32)> {
    let word = |at: usize, n: usize| {
        let mut v = 0u64;
        for (i, b) in elf[at..at + n].iter().enumerate() {
            v |= u64::from(*b) << (8 * i);
        }
        v
    };
    let phoff = word(32, 8) as usize;
    let phnum = word(56, 2) as usize;
    (0..phnum)
        .map(|i| {
            let at = phoff + i * 56;
            (at, word(at, 4) as u32)
        })
        .collect()
}

#[test]
fn program_headers_are_checked_as_linux_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    // e_phentsize (bytes 54-55) other than the class's 56.
    let p = patched_hello(dir.path(), "hello-phentsize", 54, &57u16.to_le_bytes());
    assert_refused(&p, &["program header entries of 57 bytes"]);
    // 60,000 program headers (e_phnum, bytes 56-57): Linux reads at most
    // one page of them.
    let p = patched_hello(dir.path(), "hello-phnum", 56, &60000u16.to_le_bytes());
    assert_refused(&p, &["60000 program headers"]);
    // A loaded segment whose address and file offset differ within a page.
    let hello = hello_bytes();
    let (load, _) = *program_headers(&hello)
        .iter()
        .find(|(_, kind)| *kind == 1)
        .expect("a PT_LOAD");
    let mut vaddr = [0u8; 8];
    vaddr.copy_from_slice(&hello[load + 16..load + 24]);
    let moved = u64::from_le_bytes(vaddr) + 8;
    let p = patched_hello(
        dir.path(),
        "hello-misaligned",
        load + 16,
        &moved.to_le_bytes(),
    );
    assert_refused(&p, &["differ within a page"]);
}

#[test]
fn an_interpreter_name_without_its_nul_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(program) = true_with_missing_interpreter(dir.path()) else {
        return;
    };
    let mut bytes = std::fs::read(&program).unwrap();
    let name = b"/nolib/ld-linux-x86-64.so.2\0";
    let at = bytes
        .windows(name.len())
        .position(|w| w == name)
        .expect("renamed interpreter");
    bytes[at + name.len() - 1] = b'X';
    let p = write_program(dir.path(), "true-unterminated", &bytes);
    assert_refused(&p, &["not NUL-terminated"]);
}

#[test]
fn bad_section_headers_alone_do_not_stop_a_program() {
    // Linux never reads the section headers of a program it runs.
    let dir = tempfile::tempdir().unwrap();
    let p = patched_hello(dir.path(), "hello-shoff", 40, &u64::MAX.to_le_bytes());
    let r = run_ht([s(&p)]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
}

#[test]
fn a_failed_start_keeps_the_previous_log_and_trace() {
    let (dir, base) = temp_base();
    let log = dir.path().join("run.log");
    let trace = dir.path().join("run.trace");
    let b = s(&base);
    let expect_kept = |why: &str| {
        assert_eq!(std::fs::read(&log).unwrap(), b"previous log\n", "{why}");
        assert_eq!(std::fs::read(&trace).unwrap(), b"previous trace", "{why}");
    };
    std::fs::write(&log, "previous log\n").unwrap();
    std::fs::write(&trace, "previous trace").unwrap();
    // The channel's files exist already.
    let stale = channel_file(&base, "-control");
    std::fs::write(&stale, b"").unwrap();
    let hello = guest("hello");
    let r = run_ht([
        "-hypertrace",
        b,
        "-D",
        s(&log),
        "-trace-file",
        s(&trace),
        s(&hello),
    ]);
    r.assert_code(1);
    expect_kept("channel files exist");
    std::fs::remove_file(&stale).unwrap();
    // The interpreter is missing.
    if let Some(program) = true_with_missing_interpreter(dir.path()) {
        let r = run_ht([
            "-hypertrace",
            b,
            "-D",
            s(&log),
            "-trace-file",
            s(&trace),
            s(&program),
        ]);
        r.assert_code(1);
        assert!(r.stderr.contains("not found"), "{}", r.stderr);
        expect_kept("interpreter missing");
        assert_no_channel_files(&base);
    }
    // The monitor cannot listen there.
    let r = run_ht([
        "-monitor",
        "unix:/nonexistent-dir/monitor.sock,server,nowait",
        "-D",
        s(&log),
        "-trace-file",
        s(&trace),
        s(&hello),
    ]);
    r.assert_code(1);
    expect_kept("monitor address unusable");
}

/// ht-user `args`: clap's usage error (exit 1, no panic).
fn assert_usage_error(args: &[&str], want: &str) {
    let r = run_ht(args);
    r.assert_code(1);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("error:"), "{args:?}: {}", r.stderr);
    assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
}

#[test]
fn unknown_options() {
    let hello = guest("hello");
    for option in ["-bogus", "--bogus", "-Z"] {
        assert_usage_error(&[option, s(&hello)], "Usage");
    }
    // qemu-user options ht-user lacks are named whole: clap alone read
    // `-seed` as `-s` and called that one unexpected.
    for (args, named) in [
        (&["-seed", "1"][..], "'-seed'"),
        (&["-one-insn-per-tb"][..], "'-one-insn-per-tb'"),
        (&["-plugin", "x.so"][..], "'-plugin'"),
    ] {
        let mut all = args.to_vec();
        all.push(s(&hello));
        assert_usage_error(&all, named);
    }
}

#[test]
fn missing_program() {
    assert_usage_error(&[], "Usage");
    assert_usage_error(&["-strace"], "Usage");
}

#[test]
fn bad_option_values() {
    let hello = guest("hello");
    let (dir, base) = temp_base();
    let b = s(&base);
    for spec in [
        format!("{b},args=0"),
        format!("{b},args=17"),
        format!("{b},args=four"),
        format!("{b},max-clients=0"),
        format!("{b},max-clients=65537"),
        format!("{b},colour=red"),
        "path=".to_string(),
        "max-clients=4".to_string(),
    ] {
        assert_usage_error(&["-hypertrace", &spec, s(&hello)], "-hypertrace");
    }
    assert_usage_error(&["-E", "NO_VALUE", s(&hello)], "-E");
    assert_usage_error(&["-g", "99999", s(&hello)], "-g 99999");
    assert_usage_error(&["-g", "localhost:1", s(&hello)], "-g localhost:1");
    assert_usage_error(&["-trace", "file=/tmp/x", s(&hello)], "-D");
    assert_usage_error(&["-trace", "colour=red", s(&hello)], "-trace");
    let missing = dir.path().join("no-events-file");
    assert_usage_error(
        &["-trace", &format!("events={}", s(&missing)), s(&hello)],
        s(&missing),
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "files created by a refused command line"
    );
}

#[test]
fn log_file_cannot_be_created() {
    let (dir, base) = temp_base();
    let log = dir.path().join("no-such-dir").join("trace.log");
    let b = s(&base);
    let r = run_ht([
        "-hypertrace",
        b,
        "-D",
        s(&log),
        s(&guest("seed-example")),
        b,
    ]);
    r.assert_code(1);
    assert_eq!(r.stdout, "");
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].starts_with("ht-user: "), "{}", lines[0]);
    assert!(lines[0].contains(s(&log)), "{}", lines[0]);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn channel_directory_missing() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("no-such-dir").join("ht");
    let b = s(&base);
    let r = run_ht(["-hypertrace", b, s(&guest("seed-example")), b]);
    r.assert_code(1);
    assert_eq!(r.stdout, "");
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].starts_with("ht-user: "), "{}", lines[0]);
    assert!(lines[0].contains(b), "{}", lines[0]);
}

#[test]
fn version() {
    for option in ["--version", "-version", "-V"] {
        let r = run_ht([option]);
        r.assert_code(0);
        assert!(
            r.stdout
                .starts_with(&format!("ht-user {}", env!("CARGO_PKG_VERSION"))),
            "{option}: {}",
            r.stdout
        );
        assert_eq!(r.stderr, "");
    }
}

#[test]
fn help() {
    for option in ["--help", "-help", "-h"] {
        let r = run_ht([option]);
        r.assert_code(0);
        assert!(r.stdout.contains("Usage:"), "{option}: {}", r.stdout);
        for word in ["hypertrace", "-strace", "-D"] {
            assert!(r.stdout.contains(word), "{option}: no {word}: {}", r.stdout);
        }
        // Options as qemu-user users write them, and one description.
        assert!(
            r.stdout.contains("\n  -hypertrace <"),
            "{option}: {}",
            r.stdout
        );
        assert!(!r.stdout.contains("--hypertrace"), "{option}: {}", r.stdout);
        assert!(
            r.stdout.starts_with(
                "Run a Linux program of another (or the same) architecture with a hypertrace channel"
            ),
            "{option}: {}",
            r.stdout
        );
        assert_eq!(r.stderr, "");
    }
}

#[test]
fn options_after_the_program_belong_to_the_guest() {
    let r = run_ht([s(&guest("argv-env")), "--version", "-strace", "-D", "x"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("argv[1]=--version\nargv[2]=-strace\nargv[3]=-D\nargv[4]=x\n"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr, "");
}

/// A minimal static old-ABI (OABI) arm program: e_flags 0, `write` and
/// `exit` as `swi 0x900004` and `swi 0x900001`. Written by the test, since
/// Debian's cross compilers only build EABI programs.
fn oabi_hello(dir: &Path) -> PathBuf {
    let base = 0x10000u32;
    let code_at = 52 + 32;
    let words: [u32; 6] = [
        0xe3a0_0001, // mov r0, #1
        0xe28f_100c, // add r1, pc, #12   (the message after the last swi)
        0xe3a0_200b, // mov r2, #11
        0xef90_0004, // swi 0x900004      (write)
        0xe3a0_0007, // mov r0, #7
        0xef90_0001, // swi 0x900001      (exit)
    ];
    let mut body: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    body.extend_from_slice(b"hello oabi\n");
    let size = (code_at + body.len()) as u32;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x01\x01\x01\x00");
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&40u16.to_le_bytes()); // EM_ARM
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(base + code_at as u32).to_le_bytes()); // e_entry
    elf.extend_from_slice(&52u32.to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags: OABI
    for half in [52u16, 32, 1, 40, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    // PT_LOAD of the whole file, read and execute.
    for word in [1u32, 0, base, base, size, size, 5, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(&body);
    write_program(dir, "oabi-hello", &elf)
}

/// Old-ABI arm system calls take their number from the `swi` instruction,
/// as qemu-arm does.
#[test]
fn an_old_abi_arm_program_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = oabi_hello(dir.path());
    let r = run_ht([s(&p)]);
    r.assert_code(7);
    assert_eq!(r.stdout, "hello oabi\n");
    let strace = run_ht(["-strace", s(&p)]);
    assert!(strace.stderr.contains(" write(1,"), "{}", strace.stderr);
    let qemu_arm = Path::new("/usr/bin/qemu-arm");
    if qemu_arm.exists() {
        let out = std::process::Command::new(qemu_arm)
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7));
        assert_eq!(String::from_utf8_lossy(&out.stdout), r.stdout);
    }
}

/// `-trace-file -` is refused with the reason: standard output is the
/// guest's, and a binary trace there would be mixed with what the program
/// prints (it used to create a file named `-`).
#[test]
fn trace_file_on_standard_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hello = guest("hello");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_ht-user"))
        .current_dir(dir.path())
        .args(["-trace-file", "-"])
        .arg(&hello)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("-trace-file -: standard output is the guest's"),
        "{err}"
    );
    assert!(!dir.path().join("-").exists(), "no file named -");
}

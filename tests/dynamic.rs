// SPDX-License-Identifier: GPL-2.0-or-later
//! Dynamically linked programs: Debian's own coreutils and python3 with a
//! sysroot unpacked from Debian's packages (scripts/fetch-sysroot.sh,
//! never committed), run with -L and compared with qemu-user -L; the
//! guest's view of /proc; the sysroot-first path lookup; a dynamically
//! linked hypertrace guest. Runs for x86_64, i386, aarch64, arm, mipsel,
//! mips64el, ppc64le and s390x.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Architectures this suite covers. Not riscv64: Debian 12 has no riscv64
/// packages.
const ARCHES: &[&str] = &[
    "x86_64", "i386", "aarch64", "arm", "mipsel", "mips64el", "ppc64le", "s390x",
];

/// Debian's sysroot for the architecture under test, fetched once per test
/// binary (tests run in parallel; the script installs it atomically).
fn sysroot() -> Option<PathBuf> {
    static FETCHED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FETCHED.get_or_init(fetch_sysroot).clone()
}

fn fetch_sysroot() -> Option<PathBuf> {
    let arch = arch();
    if !ARCHES.contains(&arch.as_str()) {
        eprintln!("note: the dynamic-executable suite covers {ARCHES:?}, not {arch}: skipped");
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/sysroot").join(&arch);
    if !dir.join(".complete").exists() {
        let status = std::process::Command::new("bash")
            .arg(root.join("scripts/fetch-sysroot.sh"))
            .arg(&arch)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            // CI has the registry and root: there the fetch must work.
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot build the {arch} sysroot"
            );
            eprintln!("note: no {arch} sysroot (package registry unreachable?): skipped");
            return None;
        }
    }
    assert!(dir.join(".complete").exists(), "{}", dir.display());
    Some(dir)
}

/// The program interpreter Debian's glibc uses for the architecture.
fn interpreter() -> &'static str {
    match arch().as_str() {
        "x86_64" => "/lib64/ld-linux-x86-64.so.2",
        "aarch64" => "/lib/ld-linux-aarch64.so.1",
        "arm" => "/lib/ld-linux-armhf.so.3",
        "i386" => "/lib/ld-linux.so.2",
        "mipsel" => "/lib/ld.so.1",
        "mips64el" => "/lib64/ld.so.1",
        "ppc64le" => "/lib64/ld64.so.2",
        "s390x" => "/lib/ld64.so.1",
        other => panic!("no interpreter known for {other}"),
    }
}

/// Where the kernel puts a PIE executable under ht-user (README).
fn pie_base() -> u64 {
    match arch().as_str() {
        "x86_64" => 0x5555_5555_4000,
        "aarch64" => 0x55_5555_0000,
        "arm" => 0x2a00_0000,
        "i386" => 0x5655_5000,
        "mipsel" => 0x5555_0000,
        "mips64el" => 0xaa_aaaa_a000,
        // Linux's ELF_ET_DYN_BASE of a 64-bit powerpc task.
        "ppc64le" => 0x1_0000_0000,
        // Two thirds of s390's 4 TiB, rounded down to 4 GiB (Linux).
        "s390x" => 0x2aa_0000_0000,
        other => panic!("no PIE base known for {other}"),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A command for ht-user with `-L sysroot`, the C locale.
fn ht_dyn(sysroot: &Path) -> std::process::Command {
    let mut cmd = ht(["-L", s(sysroot)]);
    cmd.env("LC_ALL", "C");
    cmd
}

/// A command for qemu-user with `-L sysroot`, the C locale.
fn qemu_dyn(q: &Path, sysroot: &Path) -> std::process::Command {
    let mut cmd = qemu(q, ["-L", s(sysroot)]);
    cmd.env("LC_ALL", "C");
    cmd
}

const TEXT: &str = "b 2 xax\na 10 yay\nc 1 zaz\na 10 yay\n";

/// A scratch directory with a text file `F` and a directory `D`, and
/// `args` with the whole words `F`, `D` and `D/...` replaced.
fn prepare(args: &[&str]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, TEXT).unwrap();
    // A fixed time, so that ls -l of two scratch files agrees.
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(when))
        .unwrap();
    let d = dir.path().join("dir");
    std::fs::create_dir(&d).unwrap();
    for name in ["a.txt", "b.txt", "c.dat"] {
        std::fs::write(d.join(name), name).unwrap();
    }
    let args = args
        .iter()
        .map(|a| match *a {
            "F" => s(&file).to_string(),
            "D" => s(&d).to_string(),
            other => match other.strip_prefix("D/") {
                Some(rest) => s(&d.join(rest)).to_string(),
                None => other.to_string(),
            },
        })
        .collect();
    (dir, args)
}

/// Debian's coreutils (program path inside the sysroot, then arguments).
const COREUTILS: &[&[&str]] = &[
    &["bin/echo", "hello", "world"],
    &["bin/cat", "F"],
    &["usr/bin/sort", "F"],
    &["usr/bin/sort", "-r", "-n", "-k", "2", "F"],
    &["usr/bin/sha256sum", "F"],
    &["usr/bin/md5sum", "F"],
    &["usr/bin/wc", "F"],
    &["usr/bin/head", "-n", "2", "F"],
    &["usr/bin/tail", "-n", "2", "F"],
    &["usr/bin/cut", "-d", " ", "-f", "2", "F"],
    &["usr/bin/od", "-A", "x", "-t", "x1z", "F"],
    &["usr/bin/seq", "1", "3", "10"],
    &["usr/bin/expr", "6", "*", "7"],
    &["usr/bin/factor", "360", "1001"],
    &["usr/bin/basename", "/a/b/c.txt", ".txt"],
    &["bin/ls", "-1", "D"],
    &["bin/ls", "-ln", "--time-style=+%s", "F"],
    &["usr/bin/stat", "-c", "%s %F %a", "F"],
    // statfs (statfs64 on 32-bit guests): type, block sizes, name length.
    &["usr/bin/stat", "-f", "-c", "%T %s %S %l", "D"],
    &["bin/date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S"],
    &["bin/uname", "-m"],
    // A symbolic link inside the sysroot, read through the guest's path.
    &["bin/readlink", "INTERP"],
    &["bin/cat", "D/missing"],
    &["bin/mkdir", "D/new"],
    &["bin/true"],
    &["bin/false"],
];

#[test]
fn coreutils_match_qemu() {
    let Some(root) = sysroot() else { return };
    let Some(q) = qemu_or_skip("coreutils") else {
        return;
    };
    for line in COREUTILS {
        let (program, args) = line.split_first().unwrap();
        let program = root.join(program);
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "INTERP" { interpreter() } else { a })
            .collect();
        let (ht_dir, ht_args) = prepare(&args);
        let mut cmd = ht_dyn(&root);
        cmd.arg(&program).args(&ht_args);
        let mine = run(cmd);
        let (q_dir, q_args) = prepare(&args);
        let mut cmd = qemu_dyn(&q, &root);
        cmd.arg(&program).args(&q_args);
        let theirs = run(cmd);
        // Scratch paths differ between the two runs.
        let normalise = |text: &str, dir: &Path| text.replace(s(dir), "DIR");
        assert_eq!(
            normalise(&mine.stdout, ht_dir.path()),
            normalise(&theirs.stdout, q_dir.path()),
            "{line:?}: stdout differs\n--- ht-user stderr\n{}",
            mine.stderr
        );
        assert_eq!(mine.exit(), theirs.exit(), "{line:?}\n{}", mine.stderr);
        assert!(
            !mine.stderr.contains("ht-user:"),
            "{line:?}: {}",
            mine.stderr
        );
    }
    // Spot checks that the comparison compared something real.
    let (_dir, args) = prepare(&["F"]);
    let mut cmd = ht_dyn(&root);
    cmd.arg(root.join("usr/bin/sha256sum")).args(&args);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        format!(
            "c102b7e0966313537c73a241a92bbcc989ca158e2a7cff244b4c80216e4f9adf  {}\n",
            args[0]
        )
    );
}

#[test]
fn python_matches_qemu() {
    let Some(root) = sysroot() else { return };
    let Some(q) = qemu_or_skip("python3") else {
        return;
    };
    let python = root.join("usr/bin/python3");
    let scripts = [
        "print(sum(range(10)))",
        "import sys, os; print(sys.version_info[:2], sys.byteorder, os.uname().machine, \
         os.path.exists('/usr/lib/python3.11/os.py'))",
        "import hashlib, struct; print(hashlib.sha256(b'abc').hexdigest(), struct.calcsize('P'))",
        "import re; print(re.sub('a+', 'x', 'caaat'))",
        "raise SystemExit(3)",
    ];
    for script in scripts {
        let mut cmd = ht_dyn(&root);
        cmd.arg(&python).args(["-c", script]);
        let mine = run(cmd);
        let mut cmd = qemu_dyn(&q, &root);
        cmd.arg(&python).args(["-c", script]);
        let theirs = run(cmd);
        assert_eq!(mine.stdout, theirs.stdout, "{script}\n{}", mine.stderr);
        assert_eq!(mine.exit(), theirs.exit(), "{script}\n{}", mine.stderr);
    }
    let mut cmd = ht_dyn(&root);
    cmd.arg(&python).args(["-c", "print(sum(range(10)))"]);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "45\n");
}

/// (start, end, name) of each /proc/self/maps line.
fn parse_maps(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next().unwrap();
            let (a, b) = range.split_once('-').unwrap();
            let name = fields.nth(4).unwrap_or("").to_string();
            (
                u64::from_str_radix(a, 16).unwrap(),
                u64::from_str_radix(b, 16).unwrap(),
                name,
            )
        })
        .collect()
}

/// The interpreter is where AT_BASE says, the program where AT_PHDR and
/// AT_ENTRY say, and a PIE program starts at the documented base, the
/// same in every run.
#[test]
fn auxv_and_maps_of_a_dynamic_program() {
    let Some(root) = sysroot() else { return };
    // python3 reads both files in one process.
    let script = "import struct\n\
        maps = open('/proc/self/maps').read()\n\
        raw = open('/proc/self/auxv', 'rb').read()\n\
        w = struct.calcsize('P')\n\
        v = struct.unpack('=%d%s' % (len(raw) // w, 'Q' if w == 8 else 'I'), raw)\n\
        aux = dict(zip(v[0::2], v[1::2]))\n\
        print(maps, end='')\n\
        print('AUXV', aux[3], aux[7], aux[9], aux.get(31, 0) != 0)\n";
    let python = root.join("usr/bin/python3");
    let mut cmd = ht_dyn(&root);
    cmd.arg(&python).args(["-c", script]);
    let r = run(cmd);
    r.assert_code(0);
    let (maps_text, auxv_line) = r.stdout.split_once("AUXV ").expect("AUXV line");
    let aux: Vec<&str> = auxv_line.split_whitespace().collect();
    let (phdr, base, entry): (u64, u64, u64) = (
        aux[0].parse().unwrap(),
        aux[1].parse().unwrap(),
        aux[2].parse().unwrap(),
    );
    assert_eq!(aux[3], "True", "AT_EXECFN missing");
    let maps = parse_maps(maps_text);
    // The interpreter maps by its own (real) file name, from the sysroot.
    let interp_real = std::fs::canonicalize(root.join(&interpreter()[1..])).unwrap();
    let region_of = |addr: u64| {
        maps.iter()
            .find(|(a, b, _)| (*a..*b).contains(&addr))
            .unwrap_or_else(|| panic!("{addr:#x} is in no mapping:\n{maps_text}"))
    };
    assert_ne!(base, 0, "AT_BASE is 0 for a dynamic program");
    let first_interp = maps
        .iter()
        .find(|(_, _, name)| name == s(&interp_real))
        .unwrap_or_else(|| panic!("no interpreter mapping:\n{maps_text}"));
    assert_eq!(first_interp.0, base, "{maps_text}");
    let exe = std::fs::canonicalize(&python).unwrap();
    assert_eq!(region_of(entry).2, s(&exe), "AT_ENTRY\n{maps_text}");
    assert_eq!(region_of(phdr).2, s(&exe), "AT_PHDR\n{maps_text}");

    // A PIE program (coreutils cat) starts at the PIE base, reproducibly.
    let cat = root.join("bin/cat");
    let cat_maps = || {
        let mut cmd = ht_dyn(&root);
        cmd.arg(&cat).arg("/proc/self/maps");
        let r = run(cmd);
        r.assert_code(0);
        r.stdout
    };
    let first = cat_maps();
    assert_eq!(first, cat_maps(), "the layout changed between runs");
    let maps = parse_maps(&first);
    let cat_real = std::fs::canonicalize(&cat).unwrap();
    assert_eq!(maps[0].0, pie_base(), "{first}");
    assert_eq!(maps[0].2, s(&cat_real), "{first}");
    assert!(maps.iter().any(|(_, _, n)| n == "[stack]"), "{first}");
}

#[test]
fn cpuinfo_describes_the_guest_cpu() {
    let Some(root) = sysroot() else { return };
    let mut cmd = ht_dyn(&root);
    cmd.arg(root.join("bin/cat")).arg("/proc/cpuinfo");
    let r = run(cmd);
    r.assert_code(0);
    let text = &r.stdout;
    // One processor per host CPU ht-user may use: threads run in parallel.
    let cpus = host_cpus();
    let processors = text.lines().filter(|l| l.starts_with("processor")).count();
    assert_eq!(processors, cpus, "{text}");
    let first = text.lines().find(|l| l.starts_with("processor")).unwrap();
    if arch() == "s390x" {
        // "processor 0: version = ..."
        assert!(first.starts_with("processor 0: "), "{text}");
    } else {
        assert_eq!(first.split_once(':').unwrap().1.trim(), "0", "{text}");
    }
    let feature_line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line:\n{text}"))
            .split_once(':')
            .unwrap()
            .1
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    match arch().as_str() {
        "x86_64" | "i386" => {
            let flags = feature_line("flags");
            for f in ["fpu", "cmov", "sse", "sse2"] {
                assert!(flags.iter().any(|x| x == f), "{f} missing:\n{text}");
            }
            let long_mode = flags.iter().any(|x| x == "lm");
            assert_eq!(long_mode, arch() == "x86_64", "{text}");
        }
        "mipsel" => {
            assert!(text.contains("cpu model\t\t: MIPS 74Kf"), "{text}");
        }
        "mips64el" => {
            assert!(text.contains("cpu model\t\t: MIPS 5KEf"), "{text}");
            assert!(text.contains(" mips64r2\n"), "{text}");
        }
        "s390x" => {
            assert!(text.contains("vendor_id       : IBM/S390\n"), "{text}");
            assert!(text.contains(" zarch "), "{text}");
        }
        "ppc64le" => {
            assert!(text.contains("cpu\t\t: POWER9"), "{text}");
            // The time base mftb counts at (engine patch 0046).
            assert!(text.contains("\ntimebase\t: 512000000\n"), "{text}");
        }
        "aarch64" => {
            let features = feature_line("Features");
            for f in ["fp", "asimd", "atomics"] {
                assert!(features.iter().any(|x| x == f), "{f} missing:\n{text}");
            }
            assert!(text.contains("CPU architecture: 8\n"), "{text}");
        }
        "arm" => {
            let features = feature_line("Features");
            for f in ["half", "thumb", "vfp", "neon", "tls", "idiva"] {
                assert!(features.iter().any(|x| x == f), "{f} missing:\n{text}");
            }
            assert!(text.contains("(v7l)"), "{text}");
        }
        _ => unreachable!(),
    }
}

/// A private sysroot: the real one's top-level entries as symbolic links,
/// plus `/ht-only/file.txt` and a decoy `/proc/cpuinfo`.
fn private_sysroot(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), dir.path().join(&name)).unwrap();
    }
    std::fs::create_dir(dir.path().join("ht-only")).unwrap();
    std::fs::write(dir.path().join("ht-only/file.txt"), "from the sysroot\n").unwrap();
    std::fs::create_dir(dir.path().join("proc")).unwrap();
    std::fs::write(dir.path().join("proc/cpuinfo"), "decoy\n").unwrap();
    dir
}

/// Guest paths: the sysroot's file when it has one, else the host's;
/// /proc never from the sysroot; -L wins over QEMU_LD_PREFIX.
#[test]
fn paths_try_the_sysroot_first() {
    let Some(root) = sysroot() else { return };
    let private = private_sysroot(&root);
    let sysroot = private.path();
    let host_dir = tempfile::tempdir().unwrap();
    let host_file = host_dir.path().join("host.txt");
    std::fs::write(&host_file, "from the host\n").unwrap();
    let cat = sysroot.join("bin/cat");

    let mut cmd = ht_dyn(sysroot);
    cmd.arg(&cat).args(["/ht-only/file.txt", s(&host_file)]);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "from the sysroot\nfrom the host\n");
    if let Some(q) = qemu_or_skip("sysroot paths") {
        let mut cmd = qemu_dyn(&q, sysroot);
        cmd.arg(&cat).args(["/ht-only/file.txt", s(&host_file)]);
        assert_eq!(run(cmd).stdout, r.stdout, "qemu-user disagrees");
    }

    let mut cmd = ht_dyn(sysroot);
    cmd.arg(&cat).arg("/proc/cpuinfo");
    let r = run(cmd);
    r.assert_code(0);
    // (MIPS's format starts with "system type"; s390's has
    // "processor N:" lines.)
    assert!(
        r.stdout.contains("processor\t") || r.stdout.contains("\nprocessor 0: "),
        "{}",
        r.stdout
    );

    // A relative -L still holds after the guest changes directory.
    let parent = sysroot.parent().unwrap();
    let relative = sysroot.file_name().unwrap().to_str().unwrap();
    let mut cmd = ht(["-L", relative]);
    cmd.current_dir(parent)
        .arg(sysroot.join("usr/bin/python3"))
        .args([
            "-c",
            "import os; os.chdir('/'); print(open('/ht-only/file.txt').read(), end='')",
        ]);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "from the sysroot\n", "{}", r.stderr);

    // -L wins over QEMU_LD_PREFIX; QEMU_LD_PREFIX alone is used.
    let mut cmd = ht_dyn(sysroot);
    cmd.env("QEMU_LD_PREFIX", host_dir.path())
        .arg(&cat)
        .arg("/ht-only/file.txt");
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "from the sysroot\n");
    let mut cmd = ht(Vec::<&str>::new());
    cmd.env("QEMU_LD_PREFIX", sysroot)
        .arg(&cat)
        .arg("/ht-only/file.txt");
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "from the sysroot\n");
}

/// The hypertrace channel works in a dynamically linked PIE guest.
#[test]
fn dynamic_hypertrace_guest() {
    let Some(root) = sysroot() else { return };
    let (_dir, base) = temp_base();
    let mut cmd = ht_dyn(&root);
    cmd.args(["-hypertrace", s(&base)])
        .arg(guest("events-dyn"))
        .args([s(&base), "5"]);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(r.stdout, "emitted 5\n");
    let events = parse_events(&r.stderr);
    assert_eq!(events.len(), 5, "{}", r.stderr);
    for (i, e) in events.iter().enumerate() {
        let i = i as u64;
        assert_eq!(e.arg1, i);
        assert_eq!(e.args, vec![i, i * 3 + 1, !i], "{e:?}");
    }
    assert_no_channel_files(&base);
}

/// x86_64: the host's own dynamically linked programs run without -L and
/// print what they print natively.
#[test]
fn host_programs_without_a_sysroot() {
    if arch() != "x86_64" {
        return;
    }
    let commands: &[&[&str]] = &[
        &["/bin/ls", "-1", "D"],
        &["/usr/bin/sort", "-r", "F"],
        &["/usr/bin/sha256sum", "F"],
        &["/usr/bin/python3", "-c", "print(sum(range(10)))"],
    ];
    for line in commands {
        if !Path::new(line[0]).exists() {
            eprintln!("note: {} missing on this host, skipped", line[0]);
            continue;
        }
        let (_dir, args) = prepare(&line[1..]);
        let mut cmd = ht(Vec::<&str>::new());
        cmd.env("LC_ALL", "C").arg(line[0]).args(&args);
        let mine = run(cmd);
        let mut native = std::process::Command::new(line[0]);
        native.env("LC_ALL", "C").args(&args);
        let theirs = run(native);
        assert_eq!(mine.stdout, theirs.stdout, "{line:?}\n{}", mine.stderr);
        assert_eq!(mine.exit(), theirs.exit(), "{line:?}");
        assert_eq!(mine.exit(), 0, "{line:?}\n{}", mine.stderr);
    }
}

/// The embedding API runs a dynamic guest with a sysroot too.
#[test]
fn embedded_runner_with_a_sysroot() {
    #[derive(Default)]
    struct Arg1s(Vec<u64>);
    impl ht_user::EventHandler for Arg1s {
        fn hypertrace(&mut self, event: &ht_user::HypertraceEvent<'_>) {
            self.0.push(event.arg1);
        }
    }
    let Some(root) = sysroot() else { return };
    let (_dir, base) = temp_base();
    let (report, seen) = ht_user::Runner::new(guest("events-dyn"))
        .args([s(&base), "4"])
        .sysroot(&root)
        .hypertrace(s(&base))
        .unwrap()
        .record_events(false)
        .run_with(Arg1s::default())
        .unwrap();
    assert_eq!(report.exit_status(), 0);
    assert_eq!(seen.0, vec![0, 1, 2, 3]);
    // Without the sysroot, an interpreter the host lacks is missing.
    if !Path::new(interpreter()).exists() {
        let e = ht_user::Runner::new(guest("events-dyn"))
            .args([s(&base), "4"])
            .run()
            .unwrap_err();
        assert!(e.to_string().contains("-L"), "{e}");
    }
}

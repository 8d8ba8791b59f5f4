// SPDX-License-Identifier: GPL-2.0-or-later
//! Real programs nobody here wrote: Debian's busybox-static for each guest
//! architecture, fetched from the package registry by
//! scripts/fetch-busybox.sh (never committed). Every single-process applet
//! below must give qemu-user's stdout and exit status.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Applet command lines; `F` is replaced by a text file, `D` by a directory
/// with a few entries, both in a scratch directory of their own per run.
const APPLETS: &[&[&str]] = &[
    &["echo", "hello", "world"],
    &["printf", "%s-%d-%x\\n", "a", "5", "255"],
    &["seq", "1", "3", "10"],
    &["cat", "F"],
    &["sort", "-r", "F"],
    &["sort", "-n", "-k", "2", "F"],
    &["uniq", "-c", "F"],
    &["wc", "F"],
    &["head", "-n", "2", "F"],
    &["tail", "-n", "2", "F"],
    &["md5sum", "F"],
    &["sha1sum", "F"],
    &["sha256sum", "F"],
    &["sha512sum", "F"],
    &["cut", "-d", " ", "-f", "2", "F"],
    &["tr", "-d", "x"],
    &["expr", "6", "*", "7"],
    &["basename", "/a/b/c.txt", ".txt"],
    &["dirname", "/a/b/c.txt"],
    &["ls", "-1", "D"],
    &["od", "-A", "x", "-t", "x1z", "F"],
    &["true"],
    &["false"],
    &["test", "-d", "D"],
    &["test", "-f", "D/missing"],
    &["sed", "s/a/X/g", "F"],
    &["grep", "-c", "a", "F"],
    &["grep", "-n", "zzz", "F"],
    &["awk", "{ s += $2 } END { print NR, s }", "F"],
    &["factor", "360", "1001"],
    &["date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S"],
    &["uname", "-m"],
    &["nproc"],
    &["stat", "-c", "%s %F", "F"],
    &["find", "D", "-name", "*.txt"],
    &["cat", "D/missing"],
    &["mkdir", "D/new"],
    &["rm", "D/a.txt"],
    &["cp", "F", "D/copy"],
    &["nosuchapplet"],
];

const TEXT: &str = "b 2 xax\na 10 yay\nc 1 zaz\na 10 yay\n";

/// Debian's busybox for the architecture under test, fetched if missing.
/// Fetched once per test binary: tests run in parallel, and a second fetch
/// must not replace the file under a guest that is running it.
fn busybox() -> Option<PathBuf> {
    static FETCHED: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FETCHED.get_or_init(fetch_busybox).clone()
}

fn fetch_busybox() -> Option<PathBuf> {
    let arch = arch();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("target/busybox").join(&arch).join("busybox");
    if !path.exists() {
        let status = Command::new("bash")
            .arg(root.join("scripts/fetch-busybox.sh"))
            .arg(&arch)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            // CI has the registry and root: there the fetch must work.
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot fetch busybox-static for {arch}"
            );
            eprintln!("note: busybox-static for {arch} not available, skipped");
            return None;
        }
    }
    Some(path)
}

/// A scratch directory with `F` and `D`, and the applet's arguments with
/// the whole-word placeholders `F`, `D` and `D/...` replaced.
fn prepare(applet: &[&str]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, TEXT).unwrap();
    let d = dir.path().join("dir");
    std::fs::create_dir(&d).unwrap();
    for name in ["a.txt", "b.txt", "c.dat"] {
        std::fs::write(d.join(name), name).unwrap();
    }
    let args = applet
        .iter()
        .map(|a| match *a {
            "F" => file.display().to_string(),
            "D" => d.display().to_string(),
            other => match other.strip_prefix("D/") {
                Some(rest) => d.join(rest).display().to_string(),
                None => other.to_string(),
            },
        })
        .collect();
    (dir, args)
}

fn run(mut cmd: Command, stdin: &str) -> (String, Option<i32>) {
    use std::io::Write;
    use std::process::Stdio;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    // An applet that does not read its input may exit before the write:
    // a broken pipe then is not the test's failure.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn busybox_applets_match_qemu() {
    let Some(bb) = busybox() else { return };
    let Some(q) = qemu_or_skip("busybox") else {
        return;
    };
    let mut checked = 0;
    for applet in APPLETS {
        let (dir_ht, args_ht) = prepare(applet);
        let mut ht_cmd = ht(Vec::<&str>::new());
        ht_cmd.arg(&bb).args(&args_ht);
        let ht_run = run(ht_cmd, "axbxc\n");
        let (dir_q, args_q) = prepare(applet);
        let mut q_cmd = qemu(&q, Vec::<&str>::new());
        q_cmd.arg(&bb).args(&args_q);
        let q_run = run(q_cmd, "axbxc\n");
        // Paths differ between the two scratch directories.
        let norm = |s: &str, dir: &Path| s.replace(dir.to_str().unwrap(), "SCRATCH");
        assert_eq!(
            norm(&ht_run.0, dir_ht.path()),
            norm(&q_run.0, dir_q.path()),
            "busybox {applet:?} on {}: stdout differs (left ht-user, right qemu)",
            arch()
        );
        assert_eq!(
            ht_run.1,
            q_run.1,
            "busybox {applet:?} on {}: exit status differs",
            arch()
        );
        checked += 1;
    }
    assert_eq!(checked, APPLETS.len());
}

/// /proc/self/maps and /proc/self/auxv describe the guest, not ht-user.
#[test]
fn proc_self_describes_the_guest() {
    let Some(bb) = busybox() else { return };
    let out = ht(Vec::<&str>::new())
        .arg(&bb)
        .args(["cat", "/proc/self/maps"])
        .output()
        .expect("run ht-user");
    assert_eq!(out.status.code(), Some(0));
    let maps = String::from_utf8_lossy(&out.stdout);
    assert!(maps.lines().any(|l| l.ends_with("[stack]")), "{maps}");
    assert!(maps.lines().any(|l| l.ends_with("[heap]")), "{maps}");
    // The executable's segments carry its path, as in Linux.
    let exe = std::fs::canonicalize(&bb).unwrap().display().to_string();
    assert!(maps.lines().any(|l| l.ends_with(&exe)), "{maps}");
    let rest = maps.replace(&exe, "");
    assert!(!rest.contains("ht-user") && !rest.contains(".so"), "{maps}");
    // Each line: start-end perms offset dev inode [name], sorted and disjoint.
    let mut last_end = 0u64;
    for line in maps.lines() {
        let range = line.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) = (
            u64::from_str_radix(start, 16).unwrap(),
            u64::from_str_radix(end, 16).unwrap(),
        );
        assert!(start < end && start >= last_end, "{maps}");
        last_end = end;
    }

    let out = ht(Vec::<&str>::new())
        .arg(&bb)
        .args(["cat", "/proc/self/auxv"])
        .output()
        .expect("run ht-user");
    assert_eq!(out.status.code(), Some(0));
    let word = if guest_is_64_bit() { 8 } else { 4 };
    let words: Vec<u64> = out
        .stdout
        .chunks(word)
        .map(|c| {
            // The guest's words, in its byte order.
            let mut b = [0u8; 8];
            if guest_is_big_endian() {
                b[8 - word..].copy_from_slice(c);
                u64::from_be_bytes(b)
            } else {
                b[..word].copy_from_slice(c);
                u64::from_le_bytes(b)
            }
        })
        .collect();
    assert_eq!(words.len() % 2, 0);
    let pairs: Vec<(u64, u64)> = words.chunks(2).map(|p| (p[0], p[1])).collect();
    assert_eq!(pairs.last(), Some(&(0, 0)), "auxv ends with AT_NULL");
    assert!(pairs.contains(&(6, 4096)), "AT_PAGESZ: {pairs:?}");
}

/// Shell pipelines and command substitution: fork, pipes, execve of
/// busybox itself, wait. Issue 5's own example comes first.
#[test]
fn shell_pipelines_match_qemu() {
    let Some(bb) = busybox() else { return };
    // Whether qemu-user can run an execve of the guest's busybox: only
    // where the host runs it natively (qemu's execve is the host's).
    let qemu_execs = matches!(arch().as_str(), "x86_64" | "i386");
    // (script, stdout, whether it executes a program)
    let scripts: &[(&str, &str, bool)] = &[
        ("seq 100 | sort -r | head -3", "99\n98\n97\n", false),
        (
            "echo a b c | wc -w; (exit 3); echo $?; x=$(echo sub; echo shell); echo $x; \
             /nonexistent 2>/dev/null; echo $?; seq 5 | while read n; do echo -n $n; done; echo",
            "3\n3\nsub shell\n127\n12345\n",
            false,
        ),
        (
            "exec busybox echo replaced; echo not reached",
            "replaced\n",
            true,
        ),
        // Background jobs, the wait builtin (sigsuspend and a SIGCHLD
        // handler), trap handlers and kill.
        (
            "sleep 0.1 & wait; echo waited $?; (exit 3) & wait $!; echo status $?; \
             trap 'echo trapped USR1' USR1; kill -USR1 $$; echo after; \
             sleep 5 & p=$!; kill $p; wait $p; echo killed $?",
            "waited 0\nstatus 3\ntrapped USR1\nafter\nkilled 143\n",
            false,
        ),
        // LD_* reach the executed guest program (not ht-user's loader).
        (
            "LD_HT_TEST=1 busybox env | grep ^LD_HT_",
            "LD_HT_TEST=1\n",
            true,
        ),
    ];
    for &(script, want, execs) in scripts {
        let mut cmd = ht(Vec::<&str>::new());
        cmd.arg(&bb).args(["sh", "-c", script]);
        let (out, code) = run(cmd, "");
        assert_eq!(out, want, "sh -c {script:?} on {}", arch());
        assert_eq!(code, Some(0), "sh -c {script:?} on {}", arch());
        if execs && !qemu_execs {
            continue;
        }
        if let Some(q) = qemu_or_skip("busybox sh") {
            let mut cmd = qemu(&q, Vec::<&str>::new());
            cmd.arg(&bb).args(["sh", "-c", script]);
            let (q_out, q_code) = run(cmd, "");
            assert_eq!(
                out,
                q_out,
                "sh -c {script:?} on {}: stdout differs from qemu",
                arch()
            );
            assert_eq!(code, q_code);
        }
    }
}

/// The guest's RLIMIT_NOFILE is the host's (ht-user's own descriptors are
/// not taken off it), a lowered limit is enforced: a redirection to a
/// descriptor above it fails (EBADF), which ends the shell.
#[test]
fn nofile_limit_is_the_hosts() {
    let Some(bb) = busybox() else { return };
    // SAFETY: zeroed rlimit is valid for getrlimit to fill.
    let mut l: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit fills a struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) }, 0);
    let script =
        "ulimit -n; ulimit -Hn; ulimit -n 64; ulimit -n; exec 70>/dev/null; echo not reached";
    let mut cmd = ht(Vec::<&str>::new());
    cmd.arg(&bb).args(["sh", "-c", script]);
    let (out, code) = run(cmd, "");
    assert_eq!(
        out,
        format!("{}\n{}\n64\n", l.rlim_cur, l.rlim_max),
        "on {}",
        arch()
    );
    assert_eq!(code, Some(1));
    if let Some(q) = qemu_or_skip("busybox ulimit") {
        let mut cmd = qemu(&q, Vec::<&str>::new());
        cmd.arg(&bb).args(["sh", "-c", script]);
        assert_eq!((out, code), run(cmd, ""), "left ht-user, right qemu");
    }
}

/// The CPUs the guest sees (`nproc` asks sched_getaffinity, and
/// /proc/cpuinfo lists them): those ht-user may run on with parallel
/// threads, the default (as qemu-user: APPLETS' `nproc`); one with the
/// serial scheduler, whose threads take turns on one.
#[test]
fn the_guest_sees_the_hosts_cpus_in_parallel_and_one_serially() {
    let Some(bb) = busybox() else { return };
    let cpus = host_cpus();
    let script = "nproc; grep -c ^processor /proc/cpuinfo";
    for (sched, want) in [(None, cpus), (Some("serial"), 1)] {
        let mut cmd = ht(sched.map_or(vec![], |s| vec!["-sched", s]));
        cmd.arg(&bb).args(["sh", "-c", script]);
        assert_eq!(
            run(cmd, ""),
            (format!("{want}\n{want}\n"), Some(0)),
            "{sched:?}"
        );
    }
}

/// A `#!` script whose interpreter is a guest program runs under ht-user.
#[test]
fn script_with_a_guest_interpreter() {
    use std::os::unix::fs::PermissionsExt;
    let Some(bb) = busybox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    std::fs::write(
        &script,
        format!("#!{} sh\necho script says \"$@\"\nexit 6\n", bb.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = ht(Vec::<&str>::new());
    cmd.arg(&bb).args([
        "sh",
        "-c",
        &format!("{} one two; echo $?", script.display()),
    ]);
    let (out, code) = run(cmd, "");
    assert_eq!(out, "script says one two\n6\n");
    assert_eq!(code, Some(0));
}

/// SIGINT to a shell waiting for its pipeline (the whole process group,
/// as a terminal sends it): every ht-user of the run stops cleanly, and
/// the channel files go away.
#[test]
fn interrupt_while_the_shell_waits() {
    interrupt_pipeline("sleep 30 | cat", 2, false);
}

/// The same at the process limit, where the child cannot start helper
/// threads, neither after the fork nor after its execve (as root the
/// limit needs another user: a fresh one).
#[test]
fn interrupt_at_the_process_limit() {
    interrupt_pipeline("ulimit -u 4; (exec busybox sleep 30)", 1, true);
}

fn interrupt_pipeline(pipeline: &str, children_wanted: usize, as_nobody: bool) {
    use std::os::unix::process::CommandExt;
    let Some(bb) = busybox() else { return };
    let (dir, base) = temp_base();
    let mut cmd = ht(["-hypertrace".as_ref(), base.as_os_str()]);
    cmd.arg(&bb)
        .args(["sh", "-c", &format!("{pipeline}; echo not reached")])
        .process_group(0);
    // SAFETY: geteuid has no preconditions.
    if as_nobody && unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let uid = unused_uid();
        cmd.uid(uid).gid(uid);
    }
    let started = std::time::Instant::now();
    let child = spawn(&mut cmd);
    let pid = child.id();
    // Wait until the shell has forked its pipeline and the sleep runs.
    // The shell catches SIGINT (as `sh -c` does on Linux), and so does a
    // forked child until its exec: a SIGINT before the exec would be the
    // subshell's, and the sleep would run its 30 s, on Linux too.
    let children = format!("/proc/{pid}/task/{pid}/children");
    let sleeping = |list: &str| {
        list.split_whitespace().any(|c| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .any(|arg| arg == b"sleep")
        })
    };
    // busybox runs `sleep` in a pipeline as an applet of the forked shell
    // (no exec): there, give the children a moment to set their signals.
    let execs = pipeline.contains("exec busybox sleep");
    while {
        let list = std::fs::read_to_string(&children).unwrap_or_default();
        list.split_whitespace().count() < children_wanted || (execs && !sleeping(&list))
    } {
        if started.elapsed().as_secs() >= 20 {
            send_signal(pid, libc::SIGKILL);
            let r = finish(child);
            panic!("no pipeline started: {r:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if !execs {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // SAFETY: kill(2) on the process group our own child leads.
    assert_eq!(unsafe { libc::kill(-(pid as i32), libc::SIGINT) }, 0);
    let r = finish(child);
    assert_eq!(r.exit(), 130, "{}", r.stderr);
    assert!(!r.stdout.contains("not reached"));
    assert!(started.elapsed().as_secs() < 20);
    assert_no_channel_files(&base);
}

/// `kill 0` signals the shell's whole process group: its background
/// pipeline (ht-users of their own) and the shell itself, which takes the
/// guest's action (here the default: killed by SIGTERM).
#[test]
fn kill_zero_reaches_the_process_group() {
    use std::os::unix::process::CommandExt;
    let Some(bb) = busybox() else { return };
    let script = "busybox sleep 5 | busybox cat & kill 0; echo not reached";
    let started = std::time::Instant::now();
    let mut cmd = ht(Vec::<&str>::new());
    cmd.arg(&bb).args(["sh", "-c", script]).process_group(0);
    let r = finish(spawn(&mut cmd));
    assert_eq!(r.exit(), 128 + libc::SIGTERM, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    // The pipeline held stdout open: it ended with the shell.
    assert!(started.elapsed().as_secs() < 4, "the pipeline survived");
    if let Some(q) = qemu_or_skip("kill 0") {
        let mut cmd = qemu(&q, Vec::<&str>::new());
        cmd.arg(&bb).args(["sh", "-c", script]).process_group(0);
        let qr = finish(spawn(&mut cmd));
        if arch() == "x86_64" || arch() == "i386" {
            assert_eq!(qr.exit(), r.exit());
        }
    }
}

/// Without `-cpu`, a mipsel program built for IEEE 754-2008 NaNs
/// (EF_MIPS_NAN2008 in e_flags) gets a model that has them, as with
/// qemu-user: the P5600.
#[test]
fn mips_nan2008_programs_get_a_model_with_it() {
    if arch() != "mipsel" {
        return;
    }
    let Some(bb) = busybox() else { return };
    let mut bytes = std::fs::read(&bb).unwrap();
    let flags = u32::from_le_bytes(bytes[36..40].try_into().unwrap());
    for (name, flags, model) in [
        ("busybox-legacy-nan", flags & !0x400, "74Kf"),
        ("busybox-nan2008", flags | 0x400, "P5600"),
    ] {
        bytes[36..40].copy_from_slice(&flags.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("busybox");
        std::fs::write(&p, &bytes).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = ht::<[&str; 0], &str>([])
            .arg(&p)
            .args(["cat", "/proc/cpuinfo"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        let text = String::from_utf8_lossy(&out.stdout);
        let shown = text
            .lines()
            .find_map(|l| l.strip_prefix("cpu model\t\t: MIPS "))
            .and_then(|rest| rest.split(' ').next());
        assert_eq!(shown, Some(model), "{name}:\n{text}");
    }
}

/// x86 `-cpu max` (engine patch 0033) names itself as QEMU's TCG "max"
/// does: an AMD vendor and "QEMU TCG CPU version".
#[test]
fn cpuinfo_of_the_x86_max_model() {
    let Some(bb) = busybox() else { return };
    if !matches!(arch().as_str(), "x86_64" | "i386") {
        return;
    }
    let out = ht(["-cpu", "max"])
        .arg(&bb)
        .args(["cat", "/proc/cpuinfo"])
        .output()
        .expect("run ht-user");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["vendor_id\t: AuthenticAMD\n", "QEMU TCG CPU version"] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
}

/// `-cpu`: /proc/cpuinfo describes the chosen model, in the program
/// started and in one it executes (busybox env executes busybox again).
#[test]
fn cpuinfo_follows_the_cpu_model() {
    let Some(bb) = busybox() else { return };
    // Models the Debian binaries run on (armhf needs ARMv7 with VFPv3,
    // mipsel an FPU, i386 cmov, x86_64 SSE2).
    let (model, want, not_default): (&str, &[&str], &str) = match arch().as_str() {
        "x86_64" => (
            "Conroe",
            &["vendor_id\t: GenuineIntel\n", " sse2 "],
            "QEMU Virtual CPU",
        ),
        "i386" => (
            "pentium3",
            &["vendor_id\t: GenuineIntel\n", " sse\n"],
            " sse2",
        ),
        "aarch64" => (
            "cortex-a53",
            &["CPU part\t: 0xd03\n", " crc32 cpuid\n"],
            "paca",
        ),
        "arm" => ("cortex-a9", &["CPU part\t: 0xc09\n", " neon "], "idiva"),
        "mipsel" => ("24Kf", &["cpu model\t\t: MIPS 24Kf\n"], "74Kf"),
        _ => return,
    };
    for args in [
        &["cat", "/proc/cpuinfo"][..],
        &["env", bb.to_str().unwrap(), "cat", "/proc/cpuinfo"][..],
    ] {
        let out = ht(["-cpu", model])
            .arg(&bb)
            .args(args)
            .output()
            .expect("run ht-user");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for w in want {
            assert!(text.contains(w), "{args:?}: {w:?} missing:\n{text}");
        }
        assert!(!text.contains(not_default), "{args:?}:\n{text}");
    }
}

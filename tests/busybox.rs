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
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
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
    let word = if matches!(arch().as_str(), "x86_64" | "aarch64" | "riscv64") {
        8
    } else {
        4
    };
    let words: Vec<u64> = out
        .stdout
        .chunks(word)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..word].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    assert_eq!(words.len() % 2, 0);
    let pairs: Vec<(u64, u64)> = words.chunks(2).map(|p| (p[0], p[1])).collect();
    assert_eq!(pairs.last(), Some(&(0, 0)), "auxv ends with AT_NULL");
    assert!(pairs.contains(&(6, 4096)), "AT_PAGESZ: {pairs:?}");
}

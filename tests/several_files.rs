// SPDX-License-Identifier: GPL-2.0-or-later
//! A forked run leaves one trace per process (FILE, FILE.PID): `ht-trace
//! report`, `convert` and `profile` take them together, `compare` and
//! `plot` a run of them a side (`-a FILE... -b FILE...`). The
//! `named-regions` guest's child opens one "child work" region; the parent
//! opens the rest.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{forked_named_regions, temp_base};

const ITERATIONS: u64 = 10;

/// The run's files: the parent's, then the child's.
fn forked_run(dir: &Path, extra: &[&str]) -> Vec<PathBuf> {
    forked_named_regions(dir, "", extra, ITERATIONS)
}

fn ht_trace(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(args)
        .output()
        .unwrap()
}

fn with_files<'a>(args: &'a [&'a str], files: &'a [PathBuf]) -> Vec<&'a std::ffi::OsStr> {
    let mut v: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    v.extend(files.iter().map(|f| f.as_os_str()));
    v
}

fn json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = ht_trace(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_report_pools_the_processes_of_a_run() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path(), &[]);
    let parent = json(&with_files(&["report", "--json"], &files[..1]));
    let child = json(&with_files(&["report", "--json"], &files[1..]));
    let both = json(&with_files(&["report", "--json"], &files));
    let count = |j: &serde_json::Value, name: &str| {
        j["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map_or(0, |r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count(&parent, "child work"), 0);
    assert_eq!(count(&child, "child work"), 1);
    assert_eq!(count(&both, "child work"), 1);
    assert_eq!(count(&both, "compute"), ITERATIONS);
    assert_eq!(
        both["events"].as_u64().unwrap(),
        parent["events"].as_u64().unwrap() + child["events"].as_u64().unwrap()
    );
    let pids: Vec<u64> = both["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert_ne!(pids[0], pids[1]);
    let text = String::from_utf8(ht_trace(&with_files(&["report"], &files)).stdout).unwrap();
    assert!(text.contains("files     2 traces pooled: "), "{text}");
}

#[test]
fn conversions_put_every_process_in_one_output() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path(), &[]);
    let chrome = json(&with_files(&["convert", "--to", "chrome"], &files));
    let events = chrome["traceEvents"].as_array().unwrap();
    let processes: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .collect();
    assert_eq!(processes.len(), 2, "{processes:?}");
    let child_pid = &processes[1]["pid"];
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "child work" && &e["pid"] == child_pid),
        "the child's region is on the child's process"
    );

    let csv = String::from_utf8(ht_trace(&with_files(&["convert", "--to", "csv"], &files)).stdout)
        .unwrap();
    assert_eq!(csv.lines().filter(|l| l.starts_with("ts_ns,")).count(), 1);
    let pids: std::collections::HashSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "rows of both processes");

    let regions =
        String::from_utf8(ht_trace(&with_files(&["convert", "--to", "regions"], &files)).stdout)
            .unwrap();
    assert_eq!(
        regions.lines().filter(|l| l.starts_with("region,")).count(),
        1
    );
    assert!(regions.lines().any(|l| l.starts_with("child work,")));

    // A binary trace holds one process.
    let out_file = dir.path().join("merged.bin");
    let out = ht_trace(&with_files(
        &["convert", "--to", "fixed", "-o", out_file.to_str().unwrap()],
        &files,
    ));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one at a time"));
    assert!(!out_file.exists(), "nothing written");
}

#[test]
fn a_profile_pools_the_processes_of_a_run() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path(), &["-hypertrace-profile"]);
    let both = json(&with_files(&["profile", "--json"], &files));
    let names: Vec<&str> = both["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"child work") && names.contains(&"compute"),
        "{names:?}"
    );
    let parent = json(&with_files(&["profile", "--json"], &files[..1]));
    let child = json(&with_files(&["profile", "--json"], &files[1..]));
    let blocks = |j: &serde_json::Value| j["blocks_in_regions"].as_u64().unwrap();
    assert_eq!(blocks(&both), blocks(&parent) + blocks(&child));
    assert!(blocks(&child) > 0);
}

/// `args` with each `{}` replaced by the next of `files`.
fn args_with<'a>(args: &[&'a str], files: &'a [PathBuf]) -> Vec<&'a std::ffi::OsStr> {
    let mut next = files.iter();
    args.iter()
        .map(|a| match *a {
            "{}" => next.next().unwrap().as_os_str(),
            a => a.as_ref(),
        })
        .collect()
}

#[test]
fn compare_takes_a_run_of_several_files_a_side() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path(), &[]);
    let pooled = &[files[0].clone(), files[1].clone(), files[0].clone()];
    let j = json(&args_with(
        &["compare", "--json", "-a", "{}", "{}", "-b", "{}"],
        pooled,
    ));
    let paths = |side: &str| -> Vec<String> {
        j[side]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    let name = |p: &PathBuf| p.to_str().unwrap().to_string();
    assert_eq!(paths("a"), [name(&files[0]), name(&files[1])]);
    assert_eq!(paths("b"), [name(&files[0])]);
    let events = |f: &[PathBuf]| json(&with_files(&["report", "--json"], f))["events"].clone();
    assert_eq!(j["a"]["events"], events(&files));
    assert_eq!(j["b"]["events"], events(&files[..1]));
    let verdict = |region: &str| {
        j["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == region)
            .map(|r| r["verdict"].as_str().unwrap().to_string())
    };
    // The child's region is in A's pooled run only; the parent's are in
    // both, the same regions.
    assert_eq!(verdict("child work").as_deref(), Some("only_a"));
    assert_eq!(verdict("compute").as_deref(), Some("noise"));

    let text = ht_trace(&args_with(
        &["compare", "-a", "{}", "{}", "-b", "{}"],
        pooled,
    ));
    let text = String::from_utf8(text.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("A  {}, {} (", name(&files[0]), name(&files[1]))),
        "{text}"
    );

    // One file a side still goes without -a and -b.
    let j = json(&with_files(&["compare", "--json"], &files));
    assert_eq!(j["a"]["files"].as_array().unwrap().len(), 1);
    assert_eq!(j["b"]["file"].as_str().unwrap(), name(&files[1]));
    // A side missing, or both forms at once: refused.
    let out = ht_trace(&with_files(&["compare"], &files[..1]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("compare takes A B, or -a FILE... -b FILE..."));
    let out = ht_trace(&args_with(
        &["compare", "{}", "-a", "{}", "-b", "{}"],
        pooled,
    ));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plot_takes_a_run_of_several_files_a_side() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path(), &[]);
    let svg = |args: &[&str], files: &[PathBuf]| {
        let out = ht_trace(&args_with(args, files));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let title = "font-weight=\"bold\">\nchild work\n</text>";
    let pooled = svg(&["plot", "-a", "{}", "{}"], &files);
    assert!(pooled.contains(title), "the child's region is drawn");
    let legend = format!(">\n{}, {}\n</text>", files[0].display(), files[1].display());
    assert!(pooled.contains(&legend), "{pooled}");
    assert!(!svg(&["plot", "{}"], &files).contains(title));
    let ab = svg(
        &["plot", "-a", "{}", "{}", "-b", "{}"],
        &[files[0].clone(), files[1].clone(), files[0].clone()],
    );
    assert!(ab.contains(&format!(">\nB: {}\n</text>", files[0].display())));
    assert!(ab.contains("share of regions"));
    let out = ht_trace(&with_files(&["plot", "-b"], &files[..1]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("plot takes FILE [B], or -a FILE... [-b FILE...]"));
}

#[test]
fn info_prints_the_header_of_each_file() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path(), &[]);
    let out = ht_trace(&with_files(&["info"], &files));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let named: Vec<&str> = text.lines().filter(|l| l.starts_with("==> ")).collect();
    let expected: Vec<String> = files
        .iter()
        .map(|f| format!("==> {} <==", f.display()))
        .collect();
    assert_eq!(named, expected, "{text}");
    // Each file's header under its line, as `info FILE` prints it alone.
    for (i, f) in files.iter().enumerate() {
        let alone = ht_trace(&with_files(&["info"], std::slice::from_ref(f)));
        let alone = String::from_utf8(alone.stdout).unwrap();
        assert!(!alone.contains("==> "), "{alone}");
        let part = text.split(&expected[i]).nth(1).unwrap();
        let part = part.split("\n==> ").next().unwrap();
        assert_eq!(
            part.trim_start_matches('\n'),
            alone.trim_end().to_string() + "\n"
        );
    }
    // Standard input is read once.
    let out = ht_trace(&with_files(&["info", "-", "-"], &[]));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn compare_and_plot_refuse_more_than_a_and_b() {
    let (dir, _) = temp_base();
    let files = forked_run(dir.path(), &[]);
    let three = [files[0].clone(), files[1].clone(), files[0].clone()];
    for (command, hint) in [
        (
            "compare",
            "ht-trace compare -a old.bin old.bin.* -b new.bin new.bin.*",
        ),
        ("plot", "ht-trace plot -a run.bin run.bin.*"),
    ] {
        let out = ht_trace(&with_files(&[command], &three));
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "ht-trace: {command}: A and B are one file each (3 files given)"
            )),
            "{err}"
        );
        assert!(err.trim_end().ends_with(hint), "{err}");
        // The usage names A and B once each.
        let help = ht_trace(&with_files(&[command, "--help"], &[]));
        let help = String::from_utf8(help.stdout).unwrap();
        let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap();
        assert!(usage.ends_with("[A] [B]"), "{usage}");
    }
}

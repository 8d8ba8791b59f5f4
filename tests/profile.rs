// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-user -hypertrace-profile` and `ht-trace profile`: the `profile`
//! guest (built with its symbol table) calls outer() -> middle() -> leaf(),
//! outer() -> other_leaf() and a recursion of countdown(5) inside each of
//! N named regions "work", and leaf() once more in a seed region. The
//! profile must name those functions from the ELF symbols, add up to each
//! region's exact instruction count, follow the calls and returns, and
//! count the region's system calls, on every architecture.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{guest, ht, temp_base};

const REGIONS: u64 = 12;

struct Run {
    _dir: tempfile::TempDir,
    trace: PathBuf,
}

fn record(extra: &[&str]) -> Run {
    let (dir, base) = temp_base();
    let trace = dir.path().join("run.bin");
    let mut spec = base.into_os_string();
    spec.push(",counters=on");
    let out = ht(["-hypertrace".as_ref(), spec.as_os_str()])
        .args(extra)
        .arg("-trace-file")
        .arg(&trace)
        .arg(guest("profile"))
        .arg(REGIONS.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("profiled {REGIONS} regions\n")
    );
    Run { _dir: dir, trace }
}

fn ht_trace(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(args)
        .output()
        .unwrap()
}

fn json_of(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = ht_trace(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn profile_json(trace: &Path) -> serde_json::Value {
    json_of(&["profile".as_ref(), "--json".as_ref(), trace.as_os_str()])
}

fn region<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no region {name} in {j}"))
}

/// Instructions per function name in a region.
fn functions(r: &serde_json::Value) -> HashMap<String, u64> {
    r["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["insns"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn functions_add_up_to_each_regions_exact_instruction_count() {
    let run = record(&["-hypertrace-profile"]);
    let p = profile_json(&run.trace);
    let report = json_of(&["report".as_ref(), "--json".as_ref(), run.trace.as_os_str()]);
    for name in ["work", "region"] {
        let r = region(&p, name);
        let f = functions(r);
        let sum: u64 = f.values().sum();
        let exact = report["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap()["insns"]["total"]
            .as_u64()
            .unwrap();
        assert_eq!(sum, r["insns"].as_u64().unwrap(), "{name}: {f:?}");
        assert_eq!(sum, exact, "{name}: the counters' exact count");
    }
    let work = functions(region(&p, "work"));
    for f in ["leaf", "other_leaf", "middle", "countdown", "outer", "main"] {
        assert!(work.get(f).is_some_and(|&n| n > 0), "{f} missing: {work:?}");
    }
    // leaf's 200 iterations outweigh other_leaf's 50, which outweigh the
    // rest of the program.
    let mut by_cost: Vec<(&String, &u64)> = work.iter().collect();
    by_cost.sort_by(|a, b| b.1.cmp(a.1));
    assert_eq!(by_cost[0].0, "leaf", "{by_cost:?}");
    assert_eq!(by_cost[1].0, "other_leaf", "{by_cost:?}");
    // The seed region holds one more leaf() and the marking code around it.
    let seed = functions(region(&p, "region"));
    assert!(
        seed["leaf"] * 10 > seed.values().sum::<u64>() * 9,
        "{seed:?}"
    );
    assert!(!seed.contains_key("other_leaf"));
}

/// (caller, callee) -> calls.
fn calls(r: &serde_json::Value) -> HashMap<(String, String), u64> {
    r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["caller"].as_str().unwrap().to_string(),
                    c["callee"].as_str().unwrap().to_string(),
                ),
                c["calls"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn call_stacks_follow_the_calls_and_returns() {
    let run = record(&["-hypertrace-profile"]);
    let dir = run.trace.parent().unwrap();
    let folded = dir.join("stacks.folded");
    let callgrind = dir.join("callgrind.out");
    let svg = dir.join("flame.svg");
    let out = ht_trace(&[
        "profile".as_ref(),
        "--folded".as_ref(),
        folded.as_os_str(),
        "--callgrind".as_ref(),
        callgrind.as_os_str(),
        "--svg".as_ref(),
        svg.as_os_str(),
        run.trace.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("region work: "), "{text}");

    let p = profile_json(&run.trace);
    let c = calls(region(&p, "work"));
    let n = |a: &str, b: &str| c.get(&(a.to_string(), b.to_string())).copied().unwrap_or(0);
    assert_eq!(n("outer", "middle"), REGIONS, "{c:?}");
    assert_eq!(n("middle", "leaf"), REGIONS, "{c:?}");
    assert_eq!(n("outer", "other_leaf"), REGIONS, "{c:?}");
    assert_eq!(n("outer", "countdown"), REGIONS, "{c:?}");
    // countdown(5) recurses five times.
    assert_eq!(n("countdown", "countdown"), 5 * REGIONS, "{c:?}");
    assert_eq!(n("leaf", "other_leaf") + n("other_leaf", "leaf"), 0);

    // Folded stacks: the region, then the calls, outermost first; their
    // counts add up to the region's.
    let stacks = std::fs::read_to_string(&folded).unwrap();
    let mut total: HashMap<&str, u64> = HashMap::new();
    for line in stacks.lines() {
        let (stack, count) = line.rsplit_once(' ').unwrap();
        *total.entry(stack.split(';').next().unwrap()).or_default() +=
            count.parse::<u64>().unwrap();
    }
    assert_eq!(total["work"], region(&p, "work")["insns"].as_u64().unwrap());
    // A region's stacks start in the function its first block runs: the
    // call of outer() ends the block that opens the region, so outer is
    // the root, and main's code after it returns is a root of its own.
    assert!(
        stacks
            .lines()
            .any(|l| l.starts_with("work;outer;middle;leaf ")),
        "{stacks}"
    );
    assert!(
        stacks.lines().any(|l| l.starts_with("work;main ")),
        "{stacks}"
    );
    let deepest = "work;outer;countdown;countdown;countdown;countdown;countdown;countdown ";
    assert!(stacks.lines().any(|l| l.starts_with(deepest)), "{stacks}");

    // Callgrind: each region a part, self costs adding up to its total.
    let cg = std::fs::read_to_string(&callgrind).unwrap();
    assert!(cg.starts_with("# callgrind format\nversion: 1\n"), "{cg}");
    assert!(cg.contains("events: Ir\n"));
    assert!(cg.contains("desc: Region: work\n"));
    assert!(cg.contains("fn=leaf\n") && cg.contains("cfn=leaf\n"));
    let grand = region(&p, "work")["insns"].as_u64().unwrap()
        + region(&p, "region")["insns"].as_u64().unwrap();
    assert!(cg.contains(&format!("\ntotals: {grand}\n")), "{cg}");

    let graph = std::fs::read_to_string(&svg).unwrap();
    assert!(graph.starts_with("<?xml") && graph.trim_end().ends_with("</svg>"));
    assert!(
        graph.contains("<title>leaf ("),
        "the hottest function is drawn"
    );
}

#[test]
fn the_regions_system_calls_are_counted() {
    let run = record(&["-hypertrace-profile"]);
    let p = profile_json(&run.trace);
    let sys = region(&p, "work")["syscalls"].as_array().unwrap().clone();
    assert_eq!(sys.len(), 1, "{sys:?}");
    assert_eq!(sys[0]["name"], "write");
    assert_eq!(sys[0]["count"], REGIONS);
    assert!(region(&p, "region")["syscalls"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn without_blocks_the_profile_says_how_to_record_them() {
    let run = record(&[]);
    let out = ht_trace(&["profile".as_ref(), run.trace.as_os_str()]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-hypertrace-profile"), "{err}");
}

#[test]
fn blocks_are_traced_only_inside_regions() {
    let run = record(&["-hypertrace-profile"]);
    let p = profile_json(&run.trace);
    assert_eq!(p["blocks_outside"], 0, "recorded only inside regions");
    assert!(p["blocks_in_regions"].as_u64().unwrap() > 0);
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! The embedding API: a Rust program runs a guest through `Runner` and
//! sees its events through an `EventHandler`; and the example built on it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ht_user::{EventHandler, HypertraceEvent, MemAccess, Runner, SyscallEntry, SyscallExit};

fn word_bytes() -> u64 {
    match arch().as_str() {
        "i386" | "arm" | "mipsel" => 4,
        _ => 8,
    }
}

/// What happened, in order: hypertrace events and accesses to the buffer.
#[derive(Default)]
struct Recorder {
    log: Vec<String>,
    accesses: u64,
    outside: u64,
    open: bool,
}

impl EventHandler for Recorder {
    fn hypertrace(&mut self, e: &HypertraceEvent<'_>) {
        self.log
            .push(format!("event {} client {}", e.arg1, e.client));
        self.open = e.arg1 == 1;
    }
    fn mem_access(&mut self, a: &MemAccess) {
        self.accesses += 1;
        if !self.open {
            self.outside += 1;
        }
        assert!(a.size.is_power_of_two() && a.size <= 16, "{a:?}");
        assert!(a.is_store || a.value == 0, "{a:?}");
    }
    fn finish(&mut self) {
        self.log.push("finish".to_string());
    }
}

#[test]
fn a_handler_sees_region_accesses_and_nothing_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("ht").display().to_string();
    let log = dir.path().join("log");
    let (report, rec) = Runner::new(guest("memregion"))
        .args([base.as_str(), "1000"])
        .hypertrace(&base)
        .unwrap()
        .region("guest_mem_before_exec")
        .unwrap()
        .log_file(&log)
        .record_events(false)
        .run_with(Recorder::default())
        .unwrap();
    assert_eq!(report.exit_status(), 0, "{:?}", report.stop);
    assert_eq!(rec.log, ["event 1 client 0", "event 0 client 0", "finish"]);
    // The known sequence (19 buffer accesses, a load and a store of one
    // machine word per extra iteration), plus the few accesses of
    // returning from and calling into the library.
    // 32-bit guests keep the 64-bit loop counter on the stack: up to two
    // more accesses per iteration.
    let known = 19 + 2 * 1000;
    let most = if word_bytes() == 4 {
        19 + 4 * 1000
    } else {
        known
    } + 40;
    assert!(
        (known..most).contains(&rec.accesses),
        "{} accesses",
        rec.accesses
    );
    // The closing control store is the last access, made while the region
    // is still open; every other one is inside too.
    assert_eq!(rec.outside, 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
    assert_eq!(report.events_recorded, 0, "nothing went to the trace");
}

#[derive(Default)]
struct Syscalls {
    entries: Vec<(u64, Option<&'static str>, [u64; 6])>,
    exits: Vec<(u64, i64)>,
}

impl EventHandler for Syscalls {
    fn syscall(&mut self, c: &SyscallEntry<'_>) {
        self.entries.push((c.number, c.name, *c.args));
    }
    fn syscall_ret(&mut self, r: &SyscallExit) {
        self.exits.push((r.number, r.ret));
    }
}

#[test]
fn a_handler_sees_system_calls_with_names_and_results() {
    let (report, calls) = Runner::new(guest("hello"))
        .args(["x"])
        .trace("enable=guest_user_syscall*")
        .unwrap()
        .record_events(false)
        .run_with(Syscalls::default())
        .unwrap();
    assert_eq!(report.exit_status(), 0);
    // Every call returned but the last, exit_group.
    assert_eq!(calls.entries.len(), calls.exits.len() + 1);
    let last = calls.entries.last().unwrap();
    assert_eq!(last.1, Some("exit_group"));
    for ((nr, _, _), (ret_nr, _)) in calls.entries.iter().zip(&calls.exits) {
        assert_eq!(nr, ret_nr);
    }
    let wrote = calls
        .entries
        .iter()
        .zip(&calls.exits)
        .any(|((_, name, args), (_, ret))| {
            matches!(name, Some("write" | "writev")) && args[0] == 1 && *ret > 0
        });
    assert!(wrote, "{:?}", calls.entries);
}

#[test]
fn configuration_errors_are_returned_not_panicked() {
    let e = Runner::new(guest("hello")).on("nonsense").unwrap_err();
    assert!(e.to_string().contains("MATCH:ACTION"), "{e}");
    let e = Runner::new(guest("hello")).hypertrace("").unwrap_err();
    assert!(!e.to_string().is_empty());
    let e = Runner::new("/nonexistent/guest").run().unwrap_err();
    assert!(e.to_string().contains("/nonexistent/guest"), "{e}");
}

/// target/<profile>/examples/region_cache, next to this test's deps dir.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    profile_dir.join("examples").join(name)
}

#[test]
fn the_region_cache_example_simulates_the_region() {
    let bin = example("region_cache");
    assert!(bin.exists(), "{} not built", bin.display());
    let out = Command::new(&bin)
        .args(["--sets", "1", "--ways", "1"])
        .arg(guest("memregion"))
        .arg("1000")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total = stdout
        .lines()
        .find(|l| l.starts_with("total: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let numbers: Vec<u64> = total
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (accesses, hits, misses) = (numbers[0], numbers[1], numbers[2]);
    assert_eq!(accesses, hits + misses, "{total}");
    assert!(accesses >= 2019, "{total}");
    // One line of cache: the buffer's two lines, the stack and the
    // channel miss at least once each; repeated increments hit.
    assert!(misses >= 3 && hits >= 1000, "{total}");
    assert!(stdout.contains("region 0: "), "{stdout}");
}

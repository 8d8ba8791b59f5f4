// SPDX-License-Identifier: GPL-2.0-or-later
//! A data-cache simulator limited to the guest's regions of interest.
//!
//!   cargo run --release --example region_cache -- [--sets N] [--ways N] [--line N] GUEST [ARGS...]
//!
//! Runs GUEST with a hypertrace channel whose base path is passed as the
//! guest's first argument (the seed's convention), records memory accesses
//! only between arg1=1 and arg1=0 events, and feeds them to a
//! set-associative LRU cache (default 64 sets x 8 ways x 64-byte lines,
//! 32 KiB). Prints hits, misses and the miss rate per region and overall.
//!
//!   cargo run --release --example region_cache -- testdata/x86_64/memregion 100000

use std::process::ExitCode;

use ht_user::{EventHandler, HypertraceEvent, MemAccess, Runner};

struct Cache {
    sets: Vec<Vec<u64>>,
    ways: usize,
    line_shift: u32,
    hits: u64,
    misses: u64,
    /// (hits, misses) when the current region opened, and per region.
    opened_at: Option<(u64, u64)>,
    regions: Vec<(u64, u64)>,
}

impl Cache {
    fn new(sets: usize, ways: usize, line: u64) -> Cache {
        Cache {
            sets: vec![Vec::with_capacity(ways); sets],
            ways,
            line_shift: line.trailing_zeros(),
            hits: 0,
            misses: 0,
            opened_at: None,
            regions: Vec::new(),
        }
    }

    fn access(&mut self, line: u64) {
        let n = self.sets.len() as u64;
        let set = &mut self.sets[(line % n) as usize];
        // Most recently used first.
        if let Some(i) = set.iter().position(|&l| l == line) {
            set.remove(i);
            set.insert(0, line);
            self.hits += 1;
        } else {
            if set.len() == self.ways {
                set.pop();
            }
            set.insert(0, line);
            self.misses += 1;
        }
    }
}

impl EventHandler for Cache {
    fn mem_access(&mut self, a: &MemAccess) {
        // An access that straddles lines touches both.
        let first = a.vaddr >> self.line_shift;
        let last = (a.vaddr + u64::from(a.size.max(1)) - 1) >> self.line_shift;
        for line in first..=last {
            self.access(line);
        }
    }

    fn hypertrace(&mut self, e: &HypertraceEvent<'_>) {
        match e.arg1 {
            1 => self.opened_at = Some((self.hits, self.misses)),
            0 => {
                if let Some((h, m)) = self.opened_at.take() {
                    self.regions.push((self.hits - h, self.misses - m));
                }
            }
            _ => {}
        }
    }
}

fn rate(hits: u64, misses: u64) -> f64 {
    if hits + misses == 0 {
        0.0
    } else {
        100.0 * misses as f64 / (hits + misses) as f64
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut geometry = [64u64, 8, 64];
    while let Some(flag) = args.first().filter(|a| a.starts_with("--")).cloned() {
        let slot = match flag.as_str() {
            "--sets" => 0,
            "--ways" => 1,
            "--line" => 2,
            _ => {
                eprintln!("region_cache: unknown option {flag}");
                return ExitCode::from(2);
            }
        };
        match args
            .get(1)
            .and_then(|v| v.parse().ok())
            .filter(|v: &u64| v.is_power_of_two())
        {
            Some(v) => geometry[slot] = v,
            None => {
                eprintln!("region_cache: {flag} needs a power of two");
                return ExitCode::from(2);
            }
        }
        args.drain(..2);
    }
    let Some(guest) = args.first().cloned() else {
        eprintln!("usage: region_cache [--sets N] [--ways N] [--line N] GUEST [ARGS...]");
        return ExitCode::from(2);
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("region_cache: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = dir.path().join("ht").display().to_string();
    let cache = Cache::new(geometry[0] as usize, geometry[1] as usize, geometry[2]);
    let result = Runner::new(&guest)
        .args(std::iter::once(base.clone()).chain(args[1..].iter().cloned()))
        .hypertrace(&base)
        .and_then(|r| r.region("guest_mem_before_exec"))
        .map(|r| r.record_events(false));
    let runner = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("region_cache: {e}");
            return ExitCode::from(2);
        }
    };
    let (report, cache) = match runner.run_with(cache) {
        Ok(done) => done,
        Err(e) => {
            eprintln!("region_cache: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "cache: {} sets x {} ways x {} B lines",
        geometry[0], geometry[1], geometry[2]
    );
    for (i, (h, m)) in cache.regions.iter().enumerate() {
        println!(
            "region {i}: {} accesses, {h} hits, {m} misses, miss rate {:.2}%",
            h + m,
            rate(*h, *m)
        );
    }
    println!(
        "total: {} accesses, {} hits, {} misses, miss rate {:.2}%",
        cache.hits + cache.misses,
        cache.hits,
        cache.misses,
        rate(cache.hits, cache.misses)
    );
    match report.exit_status() {
        0 => ExitCode::SUCCESS,
        code => {
            eprintln!(
                "region_cache: guest ended with status {code}: {:?}",
                report.stop
            );
            ExitCode::from(code.clamp(1, 255) as u8)
        }
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Reading binary traces for people: regions of interest and progress
//! points ([`Analysis`]), their statistics, and the `ht-trace` outputs
//! (report, compare, convert, parquet, perfetto, plot).
//!
//! A region is the span between an event whose arg1 opens it and the next
//! event on the same client whose arg1 closes it ([`RegionSpec`]; by
//! default arg1=1 opens and arg1=0 closes, the seed's convention). Every
//! other event is a progress point.

pub mod compare;
pub mod convert;
pub mod flame;
pub mod info;
pub mod parquet;
pub mod perfetto;
pub mod plot;
pub mod profile;
pub mod protobuf;
pub mod report;
mod spec;
pub mod text;
mod tracker;

use std::collections::HashMap;

use crate::trace::file::{TraceError, TraceFile};

pub use spec::{RegionError, RegionSpec};
pub use tracker::{Kind, RegionSpan, Tracker};

/// Order statistics of a set of durations (ns). Percentiles are
/// nearest-rank: the smallest value with at least p% of values at or below it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub count: u64,
    pub total: u128,
    pub min: u64,
    pub p25: u64,
    pub median: u64,
    pub p75: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Stats {
    /// Statistics of `values` (sorted in place); None when empty.
    pub fn of(values: &mut [u64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let n = values.len();
        let rank = |p: f64| {
            let r = (p / 100.0 * n as f64).ceil() as usize;
            values[r.clamp(1, n) - 1]
        };
        let total: u128 = values.iter().map(|&v| v as u128).sum();
        Some(Stats {
            count: n as u64,
            total,
            min: values[0],
            p25: rank(25.0),
            median: rank(50.0),
            p75: rank(75.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: values[n - 1],
            mean: total as f64 / n as f64,
        })
    }
}

/// One region name's figures.
#[derive(Clone, Debug)]
pub struct RegionReport {
    pub label: String,
    /// Durations of closed regions in ns, sorted.
    pub durations: Vec<u64>,
    pub stats: Option<Stats>,
    /// Regions opened but never closed.
    pub unclosed: u64,
    /// Progress points emitted while a region of this name was the
    /// innermost open region of their client (closed regions only).
    pub progress: u64,
    /// Guest instructions retired in each closed region that has a count
    /// (see [`RegionSpan::counts`]), sorted, and their statistics.
    pub insns: Vec<u64>,
    pub insn_stats: Option<Stats>,
    /// The same for translation blocks executed.
    pub blocks: Vec<u64>,
    pub block_stats: Option<Stats>,
}

impl RegionReport {
    /// Progress points per second of this region's (closed) time.
    pub fn progress_rate(&self) -> Option<f64> {
        let total = self.stats?.total;
        (total > 0 && self.progress > 0).then(|| self.progress as f64 * 1e9 / total as f64)
    }
}

/// Progress points with one arg1 value (`None`: all values not listed),
/// or named points of one name.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressRow {
    pub arg1: Option<u64>,
    /// The name of named points (arg1 is then None).
    pub name: Option<String>,
    pub count: u64,
    /// How many of them were inside some region.
    pub in_regions: u64,
}

/// Distinct progress arg1 values tracked one by one; the rest are summed.
const PROGRESS_VALUES_TRACKED: usize = 4096;
/// Progress values listed in a report, most frequent first.
pub const PROGRESS_ROWS: usize = 16;

/// Everything `report`, `compare` and `plot` show about one trace.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub events: u64,
    /// Timestamps of the first and last event.
    pub first_ns: u64,
    pub last_ns: u64,
    pub regions: Vec<RegionReport>,
    /// Most frequent progress values first, at most [`PROGRESS_ROWS`],
    /// then one row for the others if any.
    pub progress: Vec<ProgressRow>,
    pub progress_total: u64,
    pub progress_in_regions: u64,
    pub unmatched_closes: u64,
    pub clients: Vec<u32>,
}

impl Analysis {
    pub fn span_ns(&self) -> u64 {
        self.last_ns - self.first_ns
    }

    /// Events per second over the trace's span.
    pub fn rate(&self, count: u64) -> Option<f64> {
        let span = self.span_ns();
        (span > 0).then(|| count as f64 * 1e9 / span as f64)
    }

    /// Reads every event of `file`.
    pub fn run(file: &TraceFile, specs: &[RegionSpec]) -> Result<Analysis, TraceError> {
        let mut tracker = Tracker::new(specs.to_vec());
        let mut durations: Vec<Vec<u64>> = Vec::new();
        let mut insns: Vec<Vec<u64>> = Vec::new();
        let mut blocks: Vec<Vec<u64>> = Vec::new();
        let mut progress_in: Vec<u64> = Vec::new();
        let mut values: HashMap<u64, (u64, u64)> = HashMap::new();
        let mut named_points: HashMap<String, (u64, u64)> = HashMap::new();
        let mut other = (0u64, 0u64);
        let mut a = Analysis {
            events: 0,
            first_ns: 0,
            last_ns: 0,
            regions: Vec::new(),
            progress: Vec::new(),
            progress_total: 0,
            progress_in_regions: 0,
            unmatched_closes: 0,
            clients: Vec::new(),
        };
        let mut last_client = None;
        for ev in file.records() {
            let ev = ev?;
            let Some(kind) = tracker.feed(&ev) else {
                continue;
            };
            if a.events == 0 {
                a.first_ns = ev.ts_ns;
            }
            a.last_ns = ev.ts_ns;
            a.events += 1;
            if last_client != Some(ev.client) {
                last_client = Some(ev.client);
                if let Err(i) = a.clients.binary_search(&ev.client) {
                    a.clients.insert(i, ev.client);
                }
            }
            if durations.len() < tracker.labels.len() {
                durations.resize_with(tracker.labels.len(), Vec::new);
                insns.resize_with(tracker.labels.len(), Vec::new);
                blocks.resize_with(tracker.labels.len(), Vec::new);
                progress_in.resize(tracker.labels.len(), 0);
            }
            match kind {
                Kind::Close(span) | Kind::CloseOpen(span, _) => {
                    durations[span.label].push(span.duration_ns());
                    if let Some(c) = span.counts {
                        insns[span.label].push(c.insns);
                        blocks[span.label].push(c.blocks);
                    }
                    progress_in[span.label] += span.progress;
                }
                Kind::UnmatchedClose => a.unmatched_closes += 1,
                Kind::Open(_) => {}
                Kind::Progress(inside) => {
                    a.progress_total += 1;
                    let inside_n = inside.is_some() as u64;
                    a.progress_in_regions += inside_n;
                    let tracked =
                        values.len() < PROGRESS_VALUES_TRACKED || values.contains_key(&ev.arg1);
                    let slot = if let Some(name) = tracker.point_name(&ev) {
                        named_points.entry(name).or_default()
                    } else if tracked {
                        values.entry(ev.arg1).or_default()
                    } else {
                        &mut other
                    };
                    slot.0 += 1;
                    slot.1 += inside_n;
                }
            }
        }
        let mut unclosed = vec![0u64; tracker.labels.len()];
        for span in tracker.unclosed() {
            unclosed[span.label] += 1;
        }
        for (i, label) in tracker.labels.iter().enumerate() {
            let mut d = std::mem::take(&mut durations[i]);
            let stats = Stats::of(&mut d);
            let mut n = std::mem::take(&mut insns[i]);
            let insn_stats = Stats::of(&mut n);
            let mut b = std::mem::take(&mut blocks[i]);
            let block_stats = Stats::of(&mut b);
            a.regions.push(RegionReport {
                label: label.clone(),
                durations: d,
                stats,
                unclosed: unclosed[i],
                progress: progress_in[i],
                insns: n,
                insn_stats,
                blocks: b,
                block_stats,
            });
        }
        let mut rows: Vec<ProgressRow> = values
            .into_iter()
            .map(|(v, (count, in_regions))| ProgressRow {
                arg1: Some(v),
                name: None,
                count,
                in_regions,
            })
            .chain(
                named_points
                    .into_iter()
                    .map(|(name, (count, in_regions))| ProgressRow {
                        arg1: None,
                        name: Some(name),
                        count,
                        in_regions,
                    }),
            )
            .collect();
        rows.sort_by(|x, y| {
            y.count
                .cmp(&x.count)
                .then(x.arg1.cmp(&y.arg1))
                .then(x.name.cmp(&y.name))
        });
        for r in rows.iter().skip(PROGRESS_ROWS) {
            other.0 += r.count;
            other.1 += r.in_regions;
        }
        rows.truncate(PROGRESS_ROWS);
        if other.0 > 0 {
            rows.push(ProgressRow {
                arg1: None,
                name: None,
                count: other.0,
                in_regions: other.1,
            });
        }
        a.progress = rows;
        Ok(a)
    }

    /// Reads every event of several traces (a forked run's files) as one
    /// run: each file's regions are paired within it, the figures of the
    /// regions of one name are pooled.
    pub fn run_files(files: &[TraceFile], specs: &[RegionSpec]) -> Result<Analysis, TraceError> {
        let mut parts = Vec::with_capacity(files.len());
        for f in files {
            parts.push(Analysis::run(f, specs)?);
        }
        Ok(Analysis::merge(parts))
    }

    /// Pools analyses of several processes.
    pub fn merge(parts: Vec<Analysis>) -> Analysis {
        let mut parts = parts.into_iter();
        let Some(mut a) = parts.next() else {
            return Analysis {
                events: 0,
                first_ns: 0,
                last_ns: 0,
                regions: Vec::new(),
                progress: Vec::new(),
                progress_total: 0,
                progress_in_regions: 0,
                unmatched_closes: 0,
                clients: Vec::new(),
            };
        };
        for b in parts {
            if b.events > 0 {
                if a.events == 0 {
                    (a.first_ns, a.last_ns) = (b.first_ns, b.last_ns);
                } else {
                    a.first_ns = a.first_ns.min(b.first_ns);
                    a.last_ns = a.last_ns.max(b.last_ns);
                }
            }
            a.events += b.events;
            a.progress_total += b.progress_total;
            a.progress_in_regions += b.progress_in_regions;
            a.unmatched_closes += b.unmatched_closes;
            for c in b.clients {
                if let Err(i) = a.clients.binary_search(&c) {
                    a.clients.insert(i, c);
                }
            }
            for r in b.regions {
                match a.regions.iter_mut().find(|x| x.label == r.label) {
                    Some(x) => {
                        x.durations.extend(r.durations);
                        x.insns.extend(r.insns);
                        x.blocks.extend(r.blocks);
                        x.unclosed += r.unclosed;
                        x.progress += r.progress;
                        x.stats = Stats::of(&mut x.durations);
                        x.insn_stats = Stats::of(&mut x.insns);
                        x.block_stats = Stats::of(&mut x.blocks);
                    }
                    None => a.regions.push(r),
                }
            }
            for p in b.progress {
                let same = |x: &ProgressRow| x.arg1 == p.arg1 && x.name == p.name;
                match a.progress.iter_mut().find(|x| same(x)) {
                    Some(x) => {
                        x.count += p.count;
                        x.in_regions += p.in_regions;
                    }
                    None => a.progress.push(p),
                }
            }
        }
        // Most frequent first, the other values last.
        a.progress.sort_by(|x, y| {
            let other = |r: &ProgressRow| r.arg1.is_none() && r.name.is_none();
            other(x)
                .cmp(&other(y))
                .then(y.count.cmp(&x.count))
                .then(x.arg1.cmp(&y.arg1))
                .then(x.name.cmp(&y.name))
        });
        a
    }

    pub fn region(&self, label: &str) -> Option<&RegionReport> {
        self.regions.iter().find(|r| r.label == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypertrace::op;
    use crate::trace::file::{ClockAnchor, EventKind, TraceBuilder, TraceInfo};

    fn trace_of(
        layout: crate::trace::file::Layout,
        build: impl Fn(&mut TraceBuilder),
    ) -> TraceFile {
        let info = TraceInfo::for_run(
            7,
            4,
            "x86_64",
            std::path::Path::new("prog"),
            &[std::ffi::OsString::from("prog")],
            Some(64),
            ClockAnchor {
                monotonic_ns: 0,
                realtime_ns: 1_700_000_000_000_000_000,
            },
        )
        .with_kinds(crate::trace::EventSet(EventKind::HypertraceName.bit()))
        .with_layout(layout);
        let mut b = TraceBuilder::new(info);
        build(&mut b);
        TraceFile::from_bytes(std::path::Path::new("t"), b.finish(), Default::default()).unwrap()
    }

    #[test]
    fn named_regions_and_points_take_their_names_from_the_trace() {
        use crate::trace::file::Layout;
        for layout in [Layout::Fixed, Layout::Compact] {
            let file = trace_of(layout, |b| {
                b.push_name(10, 0, 1, "compute");
                b.push_name(
                    10,
                    0,
                    2,
                    "a name longer than one record's twenty-four bytes",
                );
                b.push(20, 0, 0, op::BEGIN, &[1]);
                b.push(25, 0, 0, op::BEGIN, &[2]);
                b.push(30, 0, 0, op::POINT, &[3]);
                b.push(35, 0, 0, op::END, &[2]);
                b.push(50, 0, 0, op::END, &[1]);
                b.push(60, 0, 0, op::END, &[1]); // unmatched
                b.push(70, 0, 0, op::BEGIN, &[9]); // never named, never closed
                                                   // A program started by execve numbers its names again.
                b.push_name(80, 0, 1, "io");
                b.push(90, 0, 0, op::BEGIN, &[1]);
                b.push(95, 0, 0, 1, &[0]); // the seed's convention still works
                b.push(96, 0, 0, 0, &[0]);
                b.push(99, 0, 0, op::END, &[1]);
            });
            let a = Analysis::run(&file, &[RegionSpec::default_spec()]).unwrap();
            let durations = |label: &str| a.region(label).map(|r| r.durations.clone());
            assert_eq!(durations("compute"), Some(vec![30]), "{layout:?}");
            assert_eq!(
                durations("a name longer than one record's twenty-four bytes"),
                Some(vec![10])
            );
            assert_eq!(durations("io"), Some(vec![9]));
            assert_eq!(durations("region"), Some(vec![1]));
            assert_eq!(a.region("name #9").map(|r| r.unclosed), Some(1));
            assert_eq!(a.unmatched_closes, 1);
            assert_eq!(a.events, 11, "name records are not events");
            let point = &a.progress[0];
            assert_eq!((point.name.as_deref(), point.count), (Some("name #3"), 1));
            assert_eq!(point.in_regions, 1);
        }
    }

    #[test]
    fn a_named_point_is_counted_by_name() {
        let file = trace_of(crate::trace::file::Layout::Compact, |b| {
            b.push_name(1, 0, 5, "tick");
            for t in 0..3 {
                b.push(10 + t, 0, 0, op::POINT, &[5]);
            }
            b.push(20, 0, 0, 7, &[]);
        });
        let a = Analysis::run(&file, &[RegionSpec::default_spec()]).unwrap();
        let rows: Vec<(Option<&str>, Option<u64>, u64)> = a
            .progress
            .iter()
            .map(|p| (p.name.as_deref(), p.arg1, p.count))
            .collect();
        assert_eq!(rows, vec![(Some("tick"), None, 3), (None, Some(7), 1)]);
    }

    #[test]
    fn keyed_value_specs_name_two_kinds_of_region() {
        let file = trace_of(crate::trace::file::Layout::Fixed, |b| {
            b.push(10, 0, 0, 1, &[1]);
            b.push(20, 0, 0, 0, &[1]);
            b.push(30, 0, 0, 1, &[2]);
            b.push(45, 0, 0, 0, &[2]);
        });
        let specs = [
            RegionSpec::parse("compute=1:0/arg2=1").unwrap(),
            RegionSpec::parse("io=1:0/arg2=2").unwrap(),
        ];
        let a = Analysis::run(&file, &specs).unwrap();
        assert_eq!(a.region("compute").unwrap().durations, vec![10]);
        assert_eq!(a.region("io").unwrap().durations, vec![15]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = Stats::of(&mut v).unwrap();
        assert_eq!((s.min, s.p25, s.median, s.p75), (1, 25, 50, 75));
        assert_eq!((s.p90, s.p99, s.max, s.count), (90, 99, 100, 100));
        assert_eq!(s.total, 5050);
        let s = Stats::of(&mut [7]).unwrap();
        assert_eq!((s.min, s.median, s.p99, s.max), (7, 7, 7, 7));
        assert!(Stats::of(&mut []).is_none());
    }
}

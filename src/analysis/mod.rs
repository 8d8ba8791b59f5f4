// SPDX-License-Identifier: GPL-2.0-or-later
//! Reading binary traces for people: regions of interest and progress
//! points ([`Analysis`]), their statistics, and the `ht-trace` outputs
//! (report, compare, convert, plot).
//!
//! A region is the span between an event whose arg1 opens it and the next
//! event on the same client whose arg1 closes it ([`RegionSpec`]; by
//! default arg1=1 opens and arg1=0 closes, the seed's convention). Every
//! other event is a progress point.

pub mod compare;
pub mod convert;
pub mod plot;
pub mod report;
pub mod text;

use std::collections::HashMap;

use crate::trace::file::{Event, InsnCounts, TraceError, TraceFile};

/// Which arg1 values open and close a region, and how it is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    pub name: String,
    pub open: u64,
    pub close: u64,
    /// `Some(k)`: the opening event's arg`k` tells regions apart (and
    /// names them `NAME argK=VALUE`); a close with the same value closes it.
    pub key_arg: Option<usize>,
}

impl RegionSpec {
    /// The seed's convention: arg1=1 opens, arg1=0 closes.
    pub fn default_spec() -> Self {
        RegionSpec {
            name: "region".to_string(),
            open: 1,
            close: 0,
            key_arg: None,
        }
    }

    /// Parses `[NAME=]OPEN:CLOSE[/argK]`, e.g. `1:0`, `io=2:3`,
    /// `work=1:0/arg2`. Numbers are decimal or 0x-hex.
    pub fn parse(text: &str) -> Result<Self, String> {
        let usage = || {
            format!(
                "--region '{text}': expected [NAME=]OPEN:CLOSE[/argK], e.g. 1:0, io=2:3 or work=1:0/arg2"
            )
        };
        let (name, rest) = match text.split_once('=') {
            Some((n, r)) if !n.is_empty() => (Some(n.to_string()), r),
            Some(_) => return Err(usage()),
            None => (None, text),
        };
        let (pair, key) = match rest.split_once('/') {
            Some((p, k)) => (p, Some(k)),
            None => (rest, None),
        };
        let (open, close) = pair.split_once(':').ok_or_else(usage)?;
        let open = parse_u64(open).ok_or_else(usage)?;
        let close = parse_u64(close).ok_or_else(usage)?;
        if open == close {
            return Err(format!(
                "--region '{text}': the open and close values must differ"
            ));
        }
        let key_arg = match key {
            None => None,
            Some(k) => {
                let n = k
                    .strip_prefix("arg")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n >= 2)
                    .ok_or_else(|| {
                        format!("--region '{text}': the key must be arg2, arg3, ... not '{k}'")
                    })?;
                Some(n)
            }
        };
        let name = name.unwrap_or_else(|| {
            if (open, close) == (1, 0) {
                "region".to_string()
            } else {
                format!("region {open}:{close}")
            }
        });
        Ok(RegionSpec {
            name,
            open,
            close,
            key_arg,
        })
    }

    /// Checks a set of specs: no arg1 value may open two regions, and
    /// names must differ.
    pub fn check_set(specs: &[RegionSpec]) -> Result<(), String> {
        for (i, a) in specs.iter().enumerate() {
            for b in &specs[i + 1..] {
                if a.open == b.open {
                    return Err(format!(
                        "--region: arg1={} opens both '{}' and '{}'",
                        a.open, a.name, b.name
                    ));
                }
                if a.name == b.name {
                    return Err(format!("--region: two regions are named '{}'", a.name));
                }
            }
        }
        Ok(())
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A region whose close was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSpan {
    /// Index into [`Tracker::labels`].
    pub label: usize,
    pub client: u32,
    pub thread: u32,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Record index of the opening event.
    pub open_index: u64,
    /// Nesting depth on its client when it opened (0: outermost).
    pub depth: usize,
    /// Progress points emitted while it was the innermost open region.
    pub progress: u64,
    /// Guest instructions retired and blocks executed between its open
    /// and close stores, when the trace counts them and one thread
    /// emitted both.
    pub counts: Option<InsnCounts>,
}

impl RegionSpan {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// What one event is, once regions are accounted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Opened a region (label index).
    Open(usize),
    /// Closed a region.
    Close(RegionSpan),
    /// Closed one region and opened another (`a=1:2,b=2:3`).
    CloseOpen(RegionSpan, usize),
    /// A close value with no region of that kind open on its client.
    UnmatchedClose,
    /// A progress point; the innermost region open on its client, if any.
    Progress(Option<usize>),
}

struct OpenRegion {
    spec: usize,
    key: Option<u64>,
    label: usize,
    start_ns: u64,
    thread: u32,
    open_index: u64,
    progress: u64,
    counts: Option<InsnCounts>,
}

/// Pairs opens and closes, one event at a time, per client.
pub struct Tracker {
    specs: Vec<RegionSpec>,
    /// Region names in order of first appearance.
    pub labels: Vec<String>,
    label_ids: HashMap<(usize, Option<u64>), usize>,
    open: HashMap<u32, Vec<OpenRegion>>,
}

impl Tracker {
    pub fn new(specs: Vec<RegionSpec>) -> Self {
        Tracker {
            specs,
            labels: Vec::new(),
            label_ids: HashMap::new(),
            open: HashMap::new(),
        }
    }

    pub fn specs(&self) -> &[RegionSpec] {
        &self.specs
    }

    fn label(&mut self, spec: usize, key: Option<u64>) -> usize {
        if let Some(&id) = self.label_ids.get(&(spec, key)) {
            return id;
        }
        let s = &self.specs[spec];
        let name = match (key, s.key_arg) {
            (Some(v), Some(k)) => format!("{} arg{k}={v}", s.name),
            _ => s.name.clone(),
        };
        let id = self.labels.len();
        self.labels.push(name);
        self.label_ids.insert((spec, key), id);
        id
    }

    pub fn classify(&mut self, ev: &Event<'_>) -> Kind {
        let closes = self.specs.iter().any(|s| s.close == ev.arg1);
        let opens = self.specs.iter().position(|s| s.open == ev.arg1);
        if !closes && opens.is_none() {
            let inside = self
                .open
                .get_mut(&ev.client)
                .and_then(|stack| stack.last_mut())
                .map(|o| {
                    o.progress += 1;
                    o.label
                });
            return Kind::Progress(inside);
        }
        let mut closed = None;
        let mut unmatched = false;
        if closes {
            closed = self.close(ev);
            unmatched = closed.is_none();
        }
        let opened = opens.map(|spec| {
            let key = self.specs[spec].key_arg.and_then(|k| ev.arg(k));
            let label = self.label(spec, key);
            self.open.entry(ev.client).or_default().push(OpenRegion {
                spec,
                key,
                label,
                start_ns: ev.ts_ns,
                thread: ev.thread,
                open_index: ev.index,
                progress: 0,
                counts: ev.counts,
            });
            label
        });
        match (closed, opened) {
            (Some(c), Some(o)) => Kind::CloseOpen(c, o),
            (Some(c), None) => Kind::Close(c),
            (None, Some(o)) => Kind::Open(o),
            (None, None) => {
                debug_assert!(unmatched);
                Kind::UnmatchedClose
            }
        }
    }

    fn close(&mut self, ev: &Event<'_>) -> Option<RegionSpan> {
        let stack = self.open.get_mut(&ev.client)?;
        let specs = &self.specs;
        let closes = |o: &OpenRegion| specs[o.spec].close == ev.arg1;
        // Same key first (regions told apart by an argument), then the
        // innermost region this value closes.
        let by_key = stack.iter().rposition(|o| {
            closes(o) && o.key.is_some() && specs[o.spec].key_arg.and_then(|k| ev.arg(k)) == o.key
        });
        let pos = by_key.or_else(|| stack.iter().rposition(closes))?;
        let o = stack.remove(pos);
        // Counters are per thread: a region closed by another thread has
        // no instruction count.
        let counts = match (o.counts, ev.counts) {
            (Some(open), Some(close)) if o.thread == ev.thread => Some(InsnCounts {
                insns: close.insns.wrapping_sub(open.insns),
                blocks: close.blocks.wrapping_sub(open.blocks),
            }),
            _ => None,
        };
        Some(RegionSpan {
            label: o.label,
            client: ev.client,
            thread: o.thread,
            start_ns: o.start_ns,
            end_ns: ev.ts_ns,
            open_index: o.open_index,
            depth: pos,
            progress: o.progress,
            counts,
        })
    }

    /// Regions still open, oldest first, as spans ending where they start.
    pub fn unclosed(&self) -> Vec<RegionSpan> {
        let mut v: Vec<RegionSpan> = self
            .open
            .iter()
            .flat_map(|(&client, stack)| {
                stack.iter().enumerate().map(move |(depth, o)| RegionSpan {
                    label: o.label,
                    client,
                    thread: o.thread,
                    start_ns: o.start_ns,
                    end_ns: o.start_ns,
                    open_index: o.open_index,
                    depth,
                    progress: o.progress,
                    counts: None,
                })
            })
            .collect();
        v.sort_by_key(|s| s.open_index);
        v
    }
}

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
    pub block_stats: Option<Stats>,
}

impl RegionReport {
    /// Progress points per second of this region's (closed) time.
    pub fn progress_rate(&self) -> Option<f64> {
        let total = self.stats?.total;
        (total > 0 && self.progress > 0).then(|| self.progress as f64 * 1e9 / total as f64)
    }
}

/// Progress points with one arg1 value (`None`: all values not listed).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressRow {
    pub arg1: Option<u64>,
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
        for ev in file.events() {
            let ev = ev?;
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
            let kind = tracker.classify(&ev);
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
                    let slot = if tracked {
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
            let block_stats = Stats::of(&mut blocks[i]);
            a.regions.push(RegionReport {
                label: label.clone(),
                durations: d,
                stats,
                unclosed: unclosed[i],
                progress: progress_in[i],
                insns: n,
                insn_stats,
                block_stats,
            });
        }
        let mut rows: Vec<ProgressRow> = values
            .into_iter()
            .map(|(v, (count, in_regions))| ProgressRow {
                arg1: Some(v),
                count,
                in_regions,
            })
            .collect();
        rows.sort_by(|x, y| y.count.cmp(&x.count).then(x.arg1.cmp(&y.arg1)));
        for r in rows.iter().skip(PROGRESS_ROWS) {
            other.0 += r.count;
            other.1 += r.in_regions;
        }
        rows.truncate(PROGRESS_ROWS);
        if other.0 > 0 {
            rows.push(ProgressRow {
                arg1: None,
                count: other.0,
                in_regions: other.1,
            });
        }
        a.progress = rows;
        Ok(a)
    }

    pub fn region(&self, label: &str) -> Option<&RegionReport> {
        self.regions.iter().find(|r| r.label == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_syntax() {
        assert_eq!(
            RegionSpec::parse("1:0").unwrap(),
            RegionSpec::default_spec()
        );
        let s = RegionSpec::parse("io=0x10:17/arg3").unwrap();
        assert_eq!(
            s,
            RegionSpec {
                name: "io".into(),
                open: 16,
                close: 17,
                key_arg: Some(3)
            }
        );
        assert_eq!(RegionSpec::parse("2:3").unwrap().name, "region 2:3");
        for bad in ["", "1", "a:b", "=1:0", "1:1", "1:0/arg1", "1:0/x", "x=1-0"] {
            assert!(RegionSpec::parse(bad).is_err(), "{bad}");
        }
        let a = RegionSpec::parse("a=1:0").unwrap();
        let b = RegionSpec::parse("b=1:2").unwrap();
        assert!(RegionSpec::check_set(&[a.clone(), b]).is_err());
        assert!(RegionSpec::check_set(&[a.clone(), a]).is_err());
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

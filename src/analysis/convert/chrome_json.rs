// SPDX-License-Identifier: GPL-2.0-or-later
//! The Chrome trace's events as JSON: their serde shapes, the formatter
//! that writes times fast, and a batch's serialization.

use std::io::{self, Write};
use std::sync::Arc;

use serde::{ser::SerializeMap, Serialize, Serializer};

use crate::analysis::RegionSpan;
use crate::trace::file::InsnCounts;

/// Chrome's times: microseconds, as a number, from ns since the origin
/// (exact to the ns while under 2^53 ns, 104 days).
pub(super) fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Below this many ns (2^53), a time in microseconds as f64 ([`micros`])
/// gives back its ns exactly.
const EXACT_NS: f64 = 9_007_199_254_740_992.0;

/// serde_json's compact output, with every number of microseconds from
/// whole nanoseconds written with three decimals (`1.500`): the digits
/// the nanoseconds have, found with integer arithmetic rather than the
/// shortest-float search, which took much of the time of a large trace.
struct ChromeFormatter;

impl serde_json::ser::Formatter for ChromeFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        // `value` came from whole ns ([`micros`]) if dividing those ns
        // again gives it back.
        let ns = (value * 1000.0).round();
        if !(0.0..EXACT_NS).contains(&ns) || ns / 1000.0 != value {
            return serde_json::ser::CompactFormatter.write_f64(w, value);
        }
        let ns = ns as u64;
        let mut int = itoa::Buffer::new();
        w.write_all(int.format(ns / 1000).as_bytes())?;
        let frac = ns % 1000;
        w.write_all(&[
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ])
    }
}

/// A metadata ("M") event naming a process or a thread track.
#[derive(Serialize)]
#[serde(bound = "")]
pub(super) struct NameEvent<N: std::fmt::Display> {
    pub(super) ph: &'static str,
    pub(super) name: &'static str,
    pub(super) pid: u32,
    pub(super) tid: u64,
    pub(super) args: NameArgs<N>,
}

#[derive(Serialize)]
#[serde(bound = "")]
pub(super) struct NameArgs<N: std::fmt::Display> {
    #[serde(serialize_with = "display")]
    pub(super) name: N,
}

/// Writes a value through its `Display`, with no String in between.
fn display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// `thread T client C`, a track's name.
struct TrackName {
    thread: u32,
    client: u32,
}

impl std::fmt::Display for TrackName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "thread {} client {}", self.thread, self.client)
    }
}

/// A region, as a complete ("X") event.
#[derive(Serialize)]
struct RegionEvent<'a> {
    ph: &'static str,
    cat: &'static str,
    name: &'a str,
    ts: f64,
    dur: f64,
    pid: u32,
    tid: u64,
    args: RegionArgs,
}

#[derive(Serialize)]
struct RegionArgs {
    client: u32,
    thread: u32,
    duration_ns: u64,
    open_record: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    insns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_record: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unclosed: bool,
}

/// A progress point or an unmatched close, as an instant ("i") event on
/// its thread's track.
#[derive(Serialize)]
struct InstantEvent<'a> {
    ph: &'static str,
    s: &'static str,
    cat: &'static str,
    name: PointName<'a>,
    ts: f64,
    pid: u32,
    tid: u64,
    args: InstantArgs<'a>,
}

/// A point's name, or `arg1=V` for an unnamed one.
enum PointName<'a> {
    Named(&'a str),
    Arg1(u64),
}

impl Serialize for PointName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PointName::Named(n) => s.serialize_str(n),
            PointName::Arg1(v) => {
                // Built on the stack: one of these for each of millions of
                // points, where formatting machinery would dominate.
                const PREFIX: &[u8] = b"arg1=";
                let mut digits = itoa::Buffer::new();
                let digits = digits.format(*v).as_bytes();
                let mut name = [0u8; PREFIX.len() + 20];
                name[..PREFIX.len()].copy_from_slice(PREFIX);
                name[PREFIX.len()..][..digits.len()].copy_from_slice(digits);
                let name = &name[..PREFIX.len() + digits.len()];
                s.serialize_str(std::str::from_utf8(name).unwrap_or_default())
            }
        }
    }
}

/// An instant's arguments: client, thread, record, arg2... and its
/// counts, if any.
struct InstantArgs<'a> {
    client: u32,
    thread: u32,
    record: u64,
    args: &'a [u64],
    counts: Option<InsnCounts>,
    /// `arg2`, `arg3`, ...: at least as many as `args`.
    keys: &'a [String],
}

impl Serialize for InstantArgs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("client", &self.client)?;
        m.serialize_entry("thread", &self.thread)?;
        m.serialize_entry("record", &self.record)?;
        for (key, v) in self.keys.iter().zip(self.args) {
            m.serialize_entry(key, v)?;
        }
        if let Some(c) = self.counts {
            m.serialize_entry("insns", &c.insns)?;
            m.serialize_entry("blocks", &c.blocks)?;
        }
        m.end()
    }
}

/// One event of the output, read from the trace and waiting to be
/// serialized.
pub(super) enum Item {
    /// A track's thread_name metadata event.
    Track {
        pid: u32,
        tid: u64,
        thread: u32,
        client: u32,
    },
    Region {
        pid: u32,
        tid: u64,
        name: Arc<str>,
        span: RegionSpan,
        close_index: Option<u64>,
    },
    /// A progress point, or an unmatched close.
    Point {
        pid: u32,
        tid: u64,
        ts_ns: u64,
        client: u32,
        thread: u32,
        record: u64,
        /// Where its arguments are in the batch's `args`.
        args: std::ops::Range<usize>,
        counts: Option<InsnCounts>,
        unmatched: bool,
        /// None: named `arg1=V`.
        name: Option<String>,
        arg1: u64,
    },
}

/// Events handed to a serializing thread at once.
pub(super) const BATCH: usize = 16 * 1024;

pub(super) struct Batch {
    pub(super) items: Vec<Item>,
    /// The points' arguments, one after the other.
    pub(super) args: Vec<u64>,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch {
            items: Vec::with_capacity(BATCH),
            args: Vec::new(),
        }
    }
}

/// `batch`'s events as JSON, each after `,\n` (the process names come
/// first in the array). `keys` holds `arg2`, `arg3`, ... as needed.
pub(super) fn serialize_batch(
    batch: &Batch,
    origin: u64,
    keys: &mut Vec<String>,
    mut out: Vec<u8>,
) -> Result<Vec<u8>, serde_json::Error> {
    out.clear();
    // Room for the usual event, so that the buffer seldom grows.
    out.reserve(batch.items.len() * 320);
    for item in &batch.items {
        out.extend_from_slice(b",\n");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, ChromeFormatter);
        match item {
            Item::Track {
                pid,
                tid,
                thread,
                client,
            } => NameEvent {
                ph: "M",
                name: "thread_name",
                pid: *pid,
                tid: *tid,
                args: NameArgs {
                    name: TrackName {
                        thread: *thread,
                        client: *client,
                    },
                },
            }
            .serialize(&mut ser)?,
            Item::Region {
                pid,
                tid,
                name,
                span,
                close_index,
            } => RegionEvent {
                ph: "X",
                cat: "region",
                name,
                ts: micros(span.start_ns - origin),
                dur: micros(span.duration_ns()),
                pid: *pid,
                tid: *tid,
                args: RegionArgs {
                    client: span.client,
                    thread: span.thread,
                    duration_ns: span.duration_ns(),
                    open_record: span.open_index,
                    insns: span.counts.map(|c| c.insns),
                    blocks: span.counts.map(|c| c.blocks),
                    close_record: *close_index,
                    unclosed: close_index.is_none(),
                },
            }
            .serialize(&mut ser)?,
            Item::Point {
                pid,
                tid,
                ts_ns,
                client,
                thread,
                record,
                args,
                counts,
                unmatched,
                name,
                arg1,
            } => {
                while keys.len() < args.len() {
                    keys.push(format!("arg{}", keys.len() + 2));
                }
                InstantEvent {
                    ph: "i",
                    s: "t",
                    cat: if *unmatched {
                        "unmatched close"
                    } else {
                        "progress"
                    },
                    name: name
                        .as_deref()
                        .map_or(PointName::Arg1(*arg1), PointName::Named),
                    ts: micros(ts_ns - origin),
                    pid: *pid,
                    tid: *tid,
                    args: InstantArgs {
                        client: *client,
                        thread: *thread,
                        record: *record,
                        args: &batch.args[args.clone()],
                        counts: *counts,
                        keys,
                    },
                }
                .serialize(&mut ser)?
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrome_times_keep_the_nanoseconds_digits() {
        let text = |v: f64| {
            let mut out = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut out, ChromeFormatter);
            v.serialize(&mut ser).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(micros(2_081_360)), "2081.360");
        assert_eq!(text(micros(0)), "0.000");
        assert_eq!(text(micros(1_500)), "1.500");
        assert_eq!(text(micros(123_456_789_012_345)), "123456789012.345");
        // Not from whole ns: serde_json's own form.
        assert_eq!(text(0.0001), "0.0001");
    }
}

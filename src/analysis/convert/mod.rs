// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace convert`: a binary trace as Chrome trace JSON (for Perfetto's
//! UI and chrome://tracing), CSV, or QEMU log text. All three stream: the
//! trace is read once and never held in memory. Parquet tables, which go
//! to a directory rather than a stream, are [`super::parquet`]'s; the
//! Perfetto protobuf trace is [`super::perfetto`]'s.

use std::io::{self, Write};
use std::sync::Arc;

use serde::{ser::SerializeMap, Serialize, Serializer};

use super::{Kind, RegionSpan, RegionSpec, Tracker};
use crate::trace::file::{Event, InsnCounts, TraceError, TraceFile};
use crate::trace::log::format_record;

/// Output is gathered in a buffer of this size between writes.
const CHUNK: usize = 1 << 20;

/// A conversion failure: reading the trace or writing the output.
#[derive(Debug)]
pub enum ConvertError {
    Trace(TraceError),
    Io(io::Error),
    /// A binary trace holds one process.
    SeveralFiles,
    /// Parquet tables go to a directory, not a stream.
    NeedsDirectory,
    /// Writing a Parquet table failed (the writer's message: its error
    /// type stays out of this API).
    Parquet(String),
    /// The output path cannot be used (the message says why).
    Output(String),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::Trace(e) => e.fmt(f),
            ConvertError::Io(e) => write!(f, "writing the output failed: {e}"),
            ConvertError::SeveralFiles => write!(
                f,
                "a binary trace holds one process: convert the files one at a time"
            ),
            ConvertError::NeedsDirectory => write!(
                f,
                "--to parquet writes a directory of tables: give it with -o DIR"
            ),
            ConvertError::Parquet(e) => write!(f, "writing Parquet failed: {e}"),
            ConvertError::Output(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ConvertError {}

impl From<csv::Error> for ConvertError {
    fn from(e: csv::Error) -> Self {
        match e.into_kind() {
            csv::ErrorKind::Io(e) => ConvertError::Io(e),
            other => ConvertError::Io(io::Error::other(format!("{other:?}"))),
        }
    }
}

impl From<TraceError> for ConvertError {
    fn from(e: TraceError) -> Self {
        ConvertError::Trace(e)
    }
}

impl From<::parquet::errors::ParquetError> for ConvertError {
    fn from(e: ::parquet::errors::ParquetError) -> Self {
        ConvertError::Parquet(e.to_string())
    }
}

impl From<serde_json::Error> for ConvertError {
    /// serde_json fails here only in writing (the values are all
    /// serializable): the write's own error, so a closed pipe stays one.
    fn from(e: serde_json::Error) -> Self {
        ConvertError::Io(e.into())
    }
}

impl From<io::Error> for ConvertError {
    fn from(e: io::Error) -> Self {
        ConvertError::Io(e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Chrome trace event JSON.
    Chrome,
    /// Perfetto's protobuf trace ([`super::perfetto::write`]).
    Perfetto,
    Csv,
    /// One CSV row per region (closed, then those left open).
    Regions,
    Log,
    /// The binary trace itself, records laid out as given (`fixed` for
    /// `numpy.frombuffer`, `compact`).
    Trace(crate::trace::file::Layout),
    /// A directory of Parquet tables ([`super::parquet::write_dir`]).
    Parquet,
}

/// A `--to` value that names no format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}' (chrome, perfetto, csv, regions, parquet, log, fixed or compact)")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        match s {
            "chrome" | "json" => Ok(Format::Chrome),
            "perfetto" => Ok(Format::Perfetto),
            "csv" => Ok(Format::Csv),
            "regions" => Ok(Format::Regions),
            "fixed" => Ok(Format::Trace(crate::trace::file::Layout::Fixed)),
            "compact" => Ok(Format::Trace(crate::trace::file::Layout::Compact)),
            "log" | "qemu" => Ok(Format::Log),
            "parquet" => Ok(Format::Parquet),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

/// Converts `file` to `format` on `out`; returns the number of events.
pub fn convert(
    file: &TraceFile,
    format: Format,
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    convert_files(std::slice::from_ref(file), format, specs, out)
}

/// [`convert`] of several traces (a forked run's files) into one output:
/// one CSV table (one header, as many argument columns as the widest file
/// needs), the log lines of each in turn, one Chrome or Perfetto trace
/// with a process per file. A binary trace holds one process: several files are refused.
/// Parquet goes to a directory ([`super::parquet::write_dir`]), not `out`.
pub fn convert_files(
    files: &[TraceFile],
    format: Format,
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let mut n = 0;
    match format {
        Format::Csv => {
            let shape = CsvShape::of(files);
            for (i, f) in files.iter().enumerate() {
                n += csv_rows(f, shape, i == 0, out)?;
            }
        }
        Format::Regions => {
            let counters = files.iter().any(|f| f.info.counters);
            for (i, f) in files.iter().enumerate() {
                n += region_rows(f, specs, counters, i == 0, out)?;
            }
        }
        Format::Log => {
            for f in files {
                n += log(f, out)?;
            }
        }
        Format::Chrome => n = chrome_files(files, specs, out)?,
        // System calls go by number here: their names are the
        // architectures' (ht-trace passes them to perfetto::write).
        Format::Perfetto => n = super::perfetto::write(files, specs, &|_, _| None, out)?,
        Format::Trace(layout) => match files {
            [file] => n = retrace(file, layout, out)?,
            _ => return Err(ConvertError::SeveralFiles),
        },
        Format::Parquet => return Err(ConvertError::NeedsDirectory),
    }
    Ok(n)
}

/// The columns of a CSV of several traces.
#[derive(Clone, Copy)]
struct CsvShape {
    /// arg1.. columns: enough for the widest kind any trace may hold.
    columns: usize,
    counters: bool,
}

impl CsvShape {
    fn of(files: &[TraceFile]) -> CsvShape {
        let columns = files
            .iter()
            .flat_map(|file| {
                file.info
                    .kinds
                    .kinds()
                    .map(|k| 1 + k.words(file.extra_args()))
                    .chain([file.info.event_args as usize])
            })
            .max()
            .unwrap_or(1);
        CsvShape {
            columns,
            counters: files.iter().any(|f| f.info.counters),
        }
    }
}

/// The same header and records as a binary trace in `layout` (the
/// record count filled in, the version that of the layout).
pub fn retrace(
    file: &TraceFile,
    layout: crate::trace::file::Layout,
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let mut b = crate::trace::file::TraceBuilder::new(file.info.clone().with_layout(layout));
    let mut words = Vec::new();
    let mut n = 0;
    for r in file.records() {
        let r = r?;
        words.clear();
        words.extend(r.args());
        if let Some(c) = r.counts {
            words.extend([c.insns, c.blocks]);
        }
        b.push_any(r.ts_ns, r.thread, r.kind, r.client, r.arg1, &words);
        n += 1;
    }
    out.write_all(&b.finish())?;
    out.flush()?;
    Ok(n)
}

/// Reads `file`'s records through a region [`Tracker`]: `record` gets each
/// record with what the tracker made of it (None: not an event, such as a
/// name record or another kind), then `unclosed` each region still open at
/// the end, oldest first, ended at the last event. `state` is what both
/// write to. Every region-finding conversion reads the trace this way.
pub(crate) fn walk<S>(
    file: &TraceFile,
    specs: &[RegionSpec],
    state: &mut S,
    mut record: impl FnMut(&mut S, &Tracker, &Event<'_>, Option<Kind>) -> Result<(), ConvertError>,
    mut unclosed: impl FnMut(&mut S, &Tracker, RegionSpan) -> Result<(), ConvertError>,
) -> Result<(), ConvertError> {
    let mut tracker = Tracker::new(specs.to_vec());
    let mut last_ns = 0;
    for ev in file.records() {
        let ev = ev?;
        let kind = tracker.feed(&ev);
        if kind.is_some() {
            last_ns = ev.ts_ns;
        }
        record(state, &tracker, &ev, kind)?;
    }
    for mut span in tracker.unclosed() {
        span.end_ns = last_ns.max(span.start_ns);
        span.counts = None;
        unclosed(state, &tracker, span)?;
    }
    Ok(())
}

fn spill(buf: &mut Vec<u8>, out: &mut dyn Write) -> io::Result<()> {
    if buf.len() >= CHUNK {
        out.write_all(buf)?;
        buf.clear();
    }
    Ok(())
}

/// Every record of every kind, one row each:
/// `ts_ns,wall_ns,event,pid,thread,client,arg1,arg2,...[,insns,blocks]`.
/// All integers (nanoseconds, so DuckDB, polars and pandas keep every
/// digit); `event` is the record kind's trace event name. For
/// guest_hypertrace rows `client` and the args are the event's; for the
/// other kinds `client` is the record's aux field and arg1.. its words
/// (docs/trace-format.md). A row leaves the columns past its own words,
/// and insns/blocks outside guest_hypertrace rows, empty.
pub fn csv(file: &TraceFile, out: &mut dyn Write) -> Result<u64, ConvertError> {
    csv_rows(file, CsvShape::of(std::slice::from_ref(file)), true, out)
}

/// A CSV writer (the csv crate: RFC 4180 quoting) over `out`, buffering
/// [`CHUNK`] bytes.
fn csv_writer(out: &mut dyn Write) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new()
        .buffer_capacity(CHUNK)
        .from_writer(out)
}

/// Writes integers as CSV fields, formatted without allocating.
struct Fields<'w, 'o> {
    w: &'w mut csv::Writer<&'o mut dyn Write>,
    digits: itoa::Buffer,
}

impl<'w, 'o> Fields<'w, 'o> {
    fn new(w: &'w mut csv::Writer<&'o mut dyn Write>) -> Self {
        Fields {
            w,
            digits: itoa::Buffer::new(),
        }
    }

    fn num(&mut self, v: u64) -> csv::Result<()> {
        self.w.write_field(self.digits.format(v))
    }

    fn text(&mut self, t: &str) -> csv::Result<()> {
        self.w.write_field(t)
    }

    fn empty(&mut self, n: usize) -> csv::Result<()> {
        (0..n).try_for_each(|_| self.w.write_field(""))
    }

    fn end(&mut self) -> csv::Result<()> {
        self.w.write_record(None::<&[u8]>)
    }
}

/// `file`'s CSV rows in `shape`'s columns, after the header if `header`.
fn csv_rows(
    file: &TraceFile,
    shape: CsvShape,
    header: bool,
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let columns = shape.columns;
    let mut w = csv_writer(out);
    let mut f = Fields::new(&mut w);
    if header {
        for name in ["ts_ns", "wall_ns", "event", "pid", "thread", "client"] {
            f.text(name)?;
        }
        for k in 1..=columns {
            f.text(&format!("arg{k}"))?;
        }
        if shape.counters {
            f.text("insns")?;
            f.text("blocks")?;
        }
        f.end()?;
    }
    let anchor = file.info.anchor;
    let mut n = 0;
    for ev in file.records() {
        let ev = ev?;
        f.num(ev.ts_ns)?;
        f.num(anchor.wall_ns(ev.ts_ns))?;
        f.text(ev.kind.name())?;
        for v in [ev.pid as u64, ev.thread as u64, ev.client as u64, ev.arg1] {
            f.num(v)?;
        }
        let mut written = 1;
        // Only the kind's own words: fixed-size records pad the others.
        let words = ev.kind.words(file.extra_args()).min(columns - 1);
        for v in ev.args().take(words) {
            f.num(v)?;
            written += 1;
        }
        f.empty(columns - written)?;
        if shape.counters {
            match ev.counts {
                Some(c) => {
                    f.num(c.insns)?;
                    f.num(c.blocks)?;
                }
                None => f.empty(2)?,
            }
        }
        f.end()?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// One row per region, in the order regions close, then the regions
/// still open at the end (`closed` 0, ending at the last event):
/// `region,pid,client,thread,start_ns,end_ns,duration_ns,start_wall_ns,depth,progress,closed[,insns,blocks]`.
/// Integers only but the region's name, for SQL and data frames
/// (`SELECT region, median(duration_ns) FROM 'regions.csv' GROUP BY region`).
pub fn regions(
    file: &TraceFile,
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    region_rows(file, specs, file.info.counters, true, out)
}

/// `file`'s region rows, with the counter columns if `counters`, after
/// the header if `header`.
fn region_rows(
    file: &TraceFile,
    specs: &[RegionSpec],
    counters: bool,
    header: bool,
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let mut w = csv_writer(out);
    let mut f = Fields::new(&mut w);
    if header {
        for name in [
            "region",
            "pid",
            "client",
            "thread",
            "start_ns",
            "end_ns",
            "duration_ns",
            "start_wall_ns",
            "depth",
            "progress",
            "closed",
        ] {
            f.text(name)?;
        }
        if counters {
            f.text("insns")?;
            f.text("blocks")?;
        }
        f.end()?;
    }
    let anchor = file.info.anchor;
    let row = |f: &mut Fields, labels: &[String], span: &RegionSpan, closed: bool| {
        f.text(&labels[span.label])?;
        for v in [
            file.info.pid as u64,
            span.client as u64,
            span.thread as u64,
            span.start_ns,
            span.end_ns,
            span.duration_ns(),
            anchor.wall_ns(span.start_ns),
            span.depth as u64,
            span.progress,
            closed as u64,
        ] {
            f.num(v)?;
        }
        if counters {
            match span.counts {
                Some(c) => {
                    f.num(c.insns)?;
                    f.num(c.blocks)?;
                }
                None => f.empty(2)?,
            }
        }
        f.end()
    };
    // The writer and the row count.
    let mut state = (f, 0u64);
    walk(
        file,
        specs,
        &mut state,
        |(f, n), tracker, _, kind| {
            if let Some(Kind::Close(span) | Kind::CloseOpen(span, _)) = kind {
                row(f, &tracker.labels, &span, true)?;
                *n += 1;
            }
            Ok(())
        },
        |(f, n), tracker, span| {
            row(f, &tracker.labels, &span, false)?;
            *n += 1;
            Ok(())
        },
    )?;
    let n = state.1;
    w.flush()?;
    Ok(n)
}

/// QEMU's log backend lines, as ht-user writes them with `-D`.
pub fn log(file: &TraceFile, out: &mut dyn Write) -> Result<u64, ConvertError> {
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    let mut args = Vec::with_capacity(file.extra_args());
    let anchor = file.info.anchor;
    let mut n = 0;
    for ev in file.records() {
        let ev = ev?;
        args.clear();
        args.extend(ev.args());
        format_record(
            &mut buf,
            ev.pid,
            anchor.wall_ns(ev.ts_ns),
            ev.thread,
            ev.kind,
            ev.client,
            ev.arg1,
            &args,
        );
        buf.push(b'\n');
        n += 1;
        spill(&mut buf, out)?;
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(n)
}

/// One track per guest thread and client, numbered from 1 in the order
/// they first appear: Perfetto's trace processor takes tid 0 for the
/// process's main thread (it shows that track under the pid). Each track
/// is named `thread T client C`; with one client per thread, as usual,
/// that is one track per guest thread.
#[derive(Default)]
struct Tracks {
    /// (thread, client) -> tid, sorted for lookup.
    ids: Vec<((u32, u32), u64)>,
}

impl Tracks {
    /// The track's tid, and whether it is new.
    fn tid(&mut self, thread: u32, client: u32) -> (u64, bool) {
        match self.ids.binary_search_by_key(&(thread, client), |e| e.0) {
            Ok(i) => (self.ids[i].1, false),
            Err(i) => {
                let tid = self.ids.len() as u64 + 1;
                self.ids.insert(i, ((thread, client), tid));
                (tid, true)
            }
        }
    }
}

/// Chrome's times: microseconds, as a number, from ns since the origin
/// (exact to the ns while under 2^53 ns, 104 days).
fn micros(ns: u64) -> f64 {
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
struct NameEvent<N: std::fmt::Display> {
    ph: &'static str,
    name: &'static str,
    pid: u32,
    tid: u64,
    args: NameArgs<N>,
}

#[derive(Serialize)]
#[serde(bound = "")]
struct NameArgs<N: std::fmt::Display> {
    #[serde(serialize_with = "display")]
    name: N,
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
enum Item {
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
const BATCH: usize = 16 * 1024;

struct Batch {
    items: Vec<Item>,
    /// The points' arguments, one after the other.
    args: Vec<u64>,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch {
            items: Vec::with_capacity(BATCH),
            args: Vec::new(),
        }
    }
}

/// A serialized batch: its number, its JSON, and the batch emptied for
/// reuse.
struct Serialized {
    seq: u64,
    json: Result<Vec<u8>, serde_json::Error>,
    batch: Batch,
}

/// `batch`'s events as JSON, each after `,\n` (the process names come
/// first in the array). `keys` holds `arg2`, `arg3`, ... as needed.
fn serialize_batch(
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

/// A serializing thread: batches in, their JSON out, with their numbers.
/// Buffers come back through `spare` once written out: fresh memory for
/// each batch cost as much as the serializing, in page faults and the
/// kernel's zeroing of pages.
fn serialize_batches(
    work: crossbeam_channel::Receiver<(u64, Batch)>,
    done: crossbeam_channel::Sender<Serialized>,
    spare: crossbeam_channel::Receiver<Vec<u8>>,
    origin: u64,
) {
    let mut keys = Vec::new();
    for (seq, mut batch) in work {
        let buf = spare.try_recv().unwrap_or_default();
        let json = serialize_batch(&batch, origin, &mut keys, buf);
        batch.items.clear();
        batch.args.clear();
        if done.send(Serialized { seq, json, batch }).is_err() {
            break;
        }
    }
}

/// The trace's events in order, gathered in batches that serializing
/// threads turn into JSON, written out in order. serde_json spends more
/// per event than reading the trace does: the threads keep a large
/// conversion as fast as the reading.
struct Chrome<'o> {
    out: &'o mut dyn Write,
    batch: Batch,
    /// None once every batch is sent.
    work: Option<crossbeam_channel::Sender<(u64, Batch)>>,
    done: crossbeam_channel::Receiver<Serialized>,
    /// JSON buffers written out, for the threads to reuse.
    spare_json: crossbeam_channel::Sender<Vec<u8>>,
    /// Batches serialized, for reuse.
    spare_batches: Vec<Batch>,
    sent: u64,
    written: u64,
    /// Batches serialized ahead of one still in work.
    ready: std::collections::BTreeMap<u64, Vec<u8>>,
    /// The process of the file being read.
    pid: u32,
    tracks: Tracks,
    /// The file's region names by label index, shared with the items.
    names: Vec<Arc<str>>,
}

impl Chrome<'_> {
    fn push(&mut self, item: Item) -> Result<(), ConvertError> {
        self.batch.items.push(item);
        if self.batch.items.len() >= BATCH {
            self.dispatch()?;
        }
        Ok(())
    }

    /// Sends the batch to be serialized, and writes what is ready.
    fn dispatch(&mut self) -> Result<(), ConvertError> {
        if self.batch.items.is_empty() {
            return Ok(());
        }
        let next = self.spare_batches.pop().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, next);
        let work = self.work.as_ref().expect("batches sent after the last");
        if work.send((self.sent, batch)).is_err() {
            return Err(stopped());
        }
        self.sent += 1;
        while let Ok(done) = self.done.try_recv() {
            self.write(done)?;
        }
        Ok(())
    }

    fn write(&mut self, done: Serialized) -> Result<(), ConvertError> {
        self.spare_batches.push(done.batch);
        let json = done.json?;
        self.ready.insert(done.seq, json);
        while let Some(json) = self.ready.remove(&self.written) {
            self.out.write_all(&json)?;
            self.written += 1;
            // Once the threads have ended, the buffer is dropped.
            let _ = self.spare_json.send(json);
        }
        Ok(())
    }

    /// Sends the last batch and writes every batch.
    fn finish(&mut self) -> Result<(), ConvertError> {
        self.dispatch()?;
        self.work = None;
        while self.written < self.sent {
            let done = self.done.recv().map_err(|_| stopped())?;
            self.write(done)?;
        }
        Ok(())
    }

    /// The tid of the track of `thread` and `client`, named when new.
    fn track(&mut self, thread: u32, client: u32) -> Result<u64, ConvertError> {
        let (tid, new) = self.tracks.tid(thread, client);
        if new {
            self.push(Item::Track {
                pid: self.pid,
                tid,
                thread,
                client,
            })?;
        }
        Ok(tid)
    }

    fn complete(
        &mut self,
        labels: &[String],
        span: &RegionSpan,
        close_index: Option<u64>,
    ) -> Result<(), ConvertError> {
        let tid = self.track(span.thread, span.client)?;
        while self.names.len() <= span.label {
            self.names.push(labels[self.names.len()].as_str().into());
        }
        self.push(Item::Region {
            pid: self.pid,
            tid,
            name: self.names[span.label].clone(),
            span: *span,
            close_index,
        })
    }

    fn instant(
        &mut self,
        ev: &Event<'_>,
        unmatched: bool,
        name: Option<String>,
    ) -> Result<(), ConvertError> {
        let tid = self.track(ev.thread, ev.client)?;
        let first = self.batch.args.len();
        self.batch.args.extend(ev.args());
        let args = first..self.batch.args.len();
        self.push(Item::Point {
            pid: ev.pid,
            tid,
            ts_ns: ev.ts_ns,
            client: ev.client,
            thread: ev.thread,
            record: ev.index,
            args,
            counts: ev.counts,
            unmatched,
            name,
            arg1: ev.arg1,
        })
    }
}

/// A serializing thread is gone (it panicked).
fn stopped() -> ConvertError {
    ConvertError::Io(io::Error::other("a serializing thread stopped"))
}

/// Chrome trace event JSON: regions as complete ("X") events, progress
/// points as instant ("i") events, one track per guest thread and client
/// (named `thread T client C`, tids from 1); times in
/// microseconds since the first event. Regions still open at the end run
/// to the last event and carry `"unclosed":true`.
pub fn chrome(
    file: &TraceFile,
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    chrome_files(std::slice::from_ref(file), specs, out)
}

/// The trace's `otherData`: the first file's metadata, and the time
/// origin. Nanoseconds since boot or the epoch run to 19 digits, past
/// what a JavaScript number holds exactly (2^53): they are decimal
/// strings, and the wall-clock origin is also given as whole seconds
/// and nanoseconds (both exact as numbers) and as a UTC time.
fn chrome_other_data(info: &crate::trace::file::TraceInfo, origin: u64) -> serde_json::Value {
    let mut data: serde_json::Map<String, serde_json::Value> = info
        .metadata
        .iter()
        .map(|(k, _)| {
            let v = info.get(k).unwrap_or_default().replace('\0', " ");
            (k.clone(), v.into())
        })
        .collect();
    let wall = info.anchor.wall_ns(origin);
    data.insert("origin_monotonic_ns".into(), origin.to_string().into());
    data.insert("origin_wall_ns".into(), wall.to_string().into());
    data.insert("origin_wall_s".into(), (wall / 1_000_000_000).into());
    data.insert(
        "origin_wall_subsec_ns".into(),
        (wall % 1_000_000_000).into(),
    );
    data.insert("origin_wall_utc".into(), super::text::iso_utc(wall).into());
    data.into()
}

/// One Chrome trace of several traces: a process per file, on one time
/// axis (every file's timestamps are the host's CLOCK_MONOTONIC). The
/// events are serialized a batch at a time and written as they are
/// ready: the trace is never one JSON value in memory.
pub fn chrome_files(
    files: &[TraceFile],
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let Some(file) = files.first() else {
        return Ok(0);
    };
    let origin = files
        .iter()
        .map(|f| {
            f.span()
                .map_or(f.info.anchor.monotonic_ns, |(first, _)| first)
        })
        .min()
        .unwrap_or(file.info.anchor.monotonic_ns);
    let mut head = Vec::new();
    head.extend_from_slice(b"{\"displayTimeUnit\":\"ns\",\"otherData\":");
    serde_json::to_writer(&mut head, &chrome_other_data(&file.info, origin))?;
    head.extend_from_slice(b",\"traceEvents\":[\n");
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            head.extend_from_slice(b",\n");
        }
        let program = f.info.get("program").unwrap_or_else(|| "guest".to_string());
        serde_json::to_writer(
            &mut head,
            &NameEvent {
                ph: "M",
                name: "process_name",
                pid: f.info.pid,
                tid: 0,
                args: NameArgs {
                    name: format_args!("{program} (pid {})", f.info.pid),
                },
            },
        )?;
    }
    out.write_all(&head)?;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let n = std::thread::scope(|scope| {
        let (work, work_rx) = crossbeam_channel::bounded(2 * threads);
        let (done_tx, done) = crossbeam_channel::unbounded();
        let (spare_json, spare_rx) = crossbeam_channel::unbounded();
        for _ in 0..threads {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            let spare_rx = spare_rx.clone();
            scope.spawn(move || serialize_batches(work_rx, done_tx, spare_rx, origin));
        }
        // The threads hold the only senders: if they all stop, the
        // receiver sees it rather than waiting.
        drop(done_tx);
        let mut c = Chrome {
            out: &mut *out,
            batch: Batch::default(),
            work: Some(work),
            done,
            spare_json,
            spare_batches: Vec::new(),
            sent: 0,
            written: 0,
            ready: Default::default(),
            pid: file.info.pid,
            tracks: Tracks::default(),
            names: Vec::new(),
        };
        let mut n = 0;
        for f in files {
            c.pid = f.info.pid;
            c.tracks = Tracks::default();
            c.names.clear();
            n += chrome_events(f, specs, &mut c)?;
        }
        c.finish()?;
        Ok::<_, ConvertError>(n)
        // Leaving the scope drops the work channel's sender, if an error
        // left it open: the threads end.
    })?;
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    Ok(n)
}

/// One file's events into the Chrome trace `c`.
fn chrome_events(
    file: &TraceFile,
    specs: &[RegionSpec],
    c: &mut Chrome<'_>,
) -> Result<u64, ConvertError> {
    let mut n = 0;
    walk(
        file,
        specs,
        c,
        |c, tracker, ev, kind| {
            let Some(kind) = kind else {
                return Ok(());
            };
            n += 1;
            // Every event's track is named, even one with nothing drawn on it
            // (the open of a region that closes later).
            c.track(ev.thread, ev.client)?;
            match kind {
                Kind::Close(span) | Kind::CloseOpen(span, _) => {
                    c.complete(&tracker.labels, &span, Some(ev.index))
                }
                Kind::Open(_) => Ok(()),
                Kind::Progress(_) => c.instant(ev, false, tracker.point_name(ev)),
                Kind::UnmatchedClose => c.instant(ev, true, None),
            }
        },
        |c, tracker, span| c.complete(&tracker.labels, &span, None),
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::file::{ClockAnchor, TraceBuilder, TraceInfo};
    use std::ffi::OsString;
    use std::path::Path;

    /// Client 0 opens and closes a region around a progress point; client 2
    /// emits one progress point.
    fn chrome_of_sample() -> serde_json::Value {
        let anchor = ClockAnchor {
            monotonic_ns: 5_000,
            realtime_ns: 1_700_000_000_000_000_000,
        };
        let info = TraceInfo::for_run(
            77,
            2,
            "x86_64",
            Path::new("prog"),
            &[OsString::from("prog")],
            Some(64),
            anchor,
        );
        let mut b = TraceBuilder::new(info);
        b.push(5_000, 0, 0, 1, &[0]);
        b.push(5_400, 0, 0, 9, &[3]);
        b.push(6_500, 0, 0, 0, &[0]);
        b.push(7_001, 1, 2, 9, &[4]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.bin");
        std::fs::write(&p, b.finish()).unwrap();
        let file = TraceFile::open(&p).unwrap();
        let mut out = Vec::new();
        let n = chrome(&file, &[RegionSpec::default_spec()], &mut out).unwrap();
        assert_eq!(n, 4);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn chrome_events_carry_the_fields_perfetto_reads() {
        let j = chrome_of_sample();
        let evs = j["traceEvents"].as_array().unwrap();
        // Every event: a phase, a name, numeric pid and tid; timed ones a
        // numeric ts in microseconds.
        for e in evs {
            assert!(e["ph"].is_string() && e["name"].is_string(), "{e}");
            assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
            if e["ph"] != "M" {
                assert!(e["ts"].is_number(), "{e}");
            }
        }
        let region = evs.iter().find(|e| e["ph"] == "X").unwrap();
        assert_eq!(region["name"], "region");
        assert_eq!(region["ts"].as_f64().unwrap(), 0.0);
        assert_eq!(region["dur"].as_f64().unwrap(), 1.5);
        assert_eq!(region["args"]["client"], 0);
        let instants: Vec<_> = evs.iter().filter(|e| e["ph"] == "i").collect();
        assert_eq!(instants.len(), 2);
        assert_eq!(instants[0]["ts"].as_f64().unwrap(), 0.4);
        assert_eq!(instants[0]["s"], "t");
        assert_eq!(instants[1]["ts"].as_f64().unwrap(), 2.001);
        assert_eq!(instants[1]["args"]["client"], 2);
        assert_eq!(instants[1]["args"]["arg2"], 4);
    }

    #[test]
    fn chrome_keeps_the_order_across_batches() {
        let anchor = ClockAnchor {
            monotonic_ns: 1_000,
            realtime_ns: 1_700_000_000_000_000_000,
        };
        let info = TraceInfo::for_run(
            9,
            3,
            "x86_64",
            Path::new("prog"),
            &[OsString::from("prog")],
            Some(64),
            anchor,
        );
        let mut b = TraceBuilder::new(info);
        // Several batches' worth: a region and two points each round.
        let rounds = 3 * BATCH as u64 / 2;
        for i in 0..rounds {
            let t = 1_000 + 10 * i;
            b.push(t, 0, 0, 1, &[0, 0]);
            b.push(t + 1, 0, 0, 7, &[i, 1]);
            b.push(t + 2, 0, 0, 0, &[0, 0]);
            b.push(t + 3, 0, 1, 8, &[i, 2]);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.bin");
        std::fs::write(&p, b.finish()).unwrap();
        let file = TraceFile::open(&p).unwrap();
        let mut out = Vec::new();
        let n = chrome(&file, &[RegionSpec::default_spec()], &mut out).unwrap();
        assert_eq!(n, 4 * rounds);
        let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let evs = j["traceEvents"].as_array().unwrap();
        let regions = evs.iter().filter(|e| e["ph"] == "X").count() as u64;
        assert_eq!(regions, rounds);
        let records: Vec<u64> = evs
            .iter()
            .filter(|e| e["ph"] == "i")
            .map(|e| e["args"]["record"].as_u64().unwrap())
            .collect();
        assert_eq!(records.len() as u64, 2 * rounds);
        assert!(records.windows(2).all(|w| w[0] < w[1]), "out of order");
        let ts: Vec<f64> = evs
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| e["ts"].as_f64().unwrap())
            .collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        // Microseconds with the nanoseconds' three decimals.
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"ts\":0.001,"), "{}", &text[..600]);
    }

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

    #[test]
    fn chrome_origin_is_exact_in_javascript() {
        let j = chrome_of_sample();
        let o = &j["otherData"];
        assert_eq!(o["origin_monotonic_ns"], "5000");
        assert_eq!(o["origin_wall_ns"], "1700000000000000000");
        assert_eq!(o["origin_wall_s"], 1_700_000_000u64);
        assert_eq!(o["origin_wall_subsec_ns"], 0);
        assert_eq!(o["origin_wall_utc"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(o["program"], "prog");
    }

    #[test]
    fn chrome_tracks_never_use_tid_0() {
        let j = chrome_of_sample();
        let evs = j["traceEvents"].as_array().unwrap();
        // Perfetto folds tid 0 into the process's main thread: only the
        // process_name metadata may use it.
        for e in evs {
            if e["name"] != "process_name" {
                assert_ne!(e["tid"], 0, "{e}");
            }
        }
        let threads: Vec<_> = evs
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| (e["tid"].as_u64().unwrap(), e["args"]["name"].clone()))
            .collect();
        // One track per guest thread and client, in order of appearance.
        assert_eq!(
            threads,
            vec![
                (1, "thread 0 client 0".into()),
                (2, "thread 1 client 2".into())
            ]
        );
        for e in evs.iter().filter(|e| e["ph"] == "X" || e["ph"] == "i") {
            let key = (e["args"]["thread"].as_u64(), e["args"]["client"].as_u64());
            let want = if key == (Some(0), Some(0)) { 1 } else { 2 };
            assert_eq!(e["tid"].as_u64().unwrap(), want, "{e}");
        }
    }
}

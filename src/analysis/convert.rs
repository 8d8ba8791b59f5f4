// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace convert`: a binary trace as Chrome trace JSON (for Perfetto's
//! UI and chrome://tracing), CSV, or QEMU log text. All three stream: the
//! trace is read once and never held in memory. Parquet tables, which go
//! to a directory rather than a stream, are [`super::parquet`]'s; the
//! Perfetto protobuf trace is [`super::perfetto`]'s.

use std::io::{self, Write};

use super::text::json_str;
use super::{Kind, RegionSpan, RegionSpec, Tracker};
use crate::trace::file::{Event, TraceError, TraceFile};
use crate::trace::log::{format_record, push_dec, push_dec_width};

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

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chrome" | "json" => Ok(Format::Chrome),
            "perfetto" => Ok(Format::Perfetto),
            "csv" => Ok(Format::Csv),
            "regions" => Ok(Format::Regions),
            "fixed" => Ok(Format::Trace(crate::trace::file::Layout::Fixed)),
            "compact" => Ok(Format::Trace(crate::trace::file::Layout::Compact)),
            "log" | "qemu" => Ok(Format::Log),
            "parquet" => Ok(Format::Parquet),
            _ => Err(format!(
                "unknown format '{s}' (chrome, perfetto, csv, regions, parquet, log, fixed or compact)"
            )),
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

/// Microseconds with three decimals from ns.
fn push_us(buf: &mut Vec<u8>, ns: u64) {
    push_dec(buf, ns / 1000);
    buf.push(b'.');
    push_dec_width(buf, ns % 1000, 3);
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

struct Chrome {
    buf: Vec<u8>,
    pid: u32,
    origin: u64,
    /// Region names as JSON strings, by label index.
    names: Vec<Vec<u8>>,
    first: bool,
    tracks: Tracks,
}

impl Chrome {
    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.buf.extend_from_slice(b",\n");
        }
    }

    fn complete(&mut self, labels: &[String], span: &RegionSpan, close_index: Option<u64>) {
        while self.names.len() <= span.label {
            let mut s = String::new();
            json_str(&mut s, &labels[self.names.len()]);
            self.names.push(s.into_bytes());
        }
        let tid = self.track(span.thread, span.client);
        self.sep();
        let b = &mut self.buf;
        b.extend_from_slice(b"{\"ph\":\"X\",\"cat\":\"region\",\"name\":");
        b.extend_from_slice(&self.names[span.label]);
        b.extend_from_slice(b",\"ts\":");
        push_us(b, span.start_ns - self.origin);
        b.extend_from_slice(b",\"dur\":");
        push_us(b, span.duration_ns());
        b.extend_from_slice(b",\"pid\":");
        push_dec(b, self.pid as u64);
        b.extend_from_slice(b",\"tid\":");
        push_dec(b, tid);
        b.extend_from_slice(b",\"args\":{\"client\":");
        push_dec(b, span.client as u64);
        b.extend_from_slice(b",\"thread\":");
        push_dec(b, span.thread as u64);
        b.extend_from_slice(b",\"duration_ns\":");
        push_dec(b, span.duration_ns());
        b.extend_from_slice(b",\"open_record\":");
        push_dec(b, span.open_index);
        if let Some(c) = span.counts {
            b.extend_from_slice(b",\"insns\":");
            push_dec(b, c.insns);
            b.extend_from_slice(b",\"blocks\":");
            push_dec(b, c.blocks);
        }
        match close_index {
            Some(i) => {
                b.extend_from_slice(b",\"close_record\":");
                push_dec(b, i);
            }
            None => b.extend_from_slice(b",\"unclosed\":true"),
        }
        b.extend_from_slice(b"}}");
    }

    /// The tid of the track of `thread` and `client`, named when new.
    fn track(&mut self, thread: u32, client: u32) -> u64 {
        let (tid, new) = self.tracks.tid(thread, client);
        if new {
            self.sep();
            let b = &mut self.buf;
            b.extend_from_slice(b"{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":");
            push_dec(b, self.pid as u64);
            b.extend_from_slice(b",\"tid\":");
            push_dec(b, tid);
            b.extend_from_slice(b",\"args\":{\"name\":\"thread ");
            push_dec(b, thread as u64);
            b.extend_from_slice(b" client ");
            push_dec(b, client as u64);
            b.extend_from_slice(b"\"}}");
        }
        tid
    }

    fn instant(&mut self, ev: &Event<'_>, unmatched: bool, name: Option<String>) {
        let tid = self.track(ev.thread, ev.client);
        self.sep();
        let b = &mut self.buf;
        b.extend_from_slice(b"{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"");
        b.extend_from_slice(if unmatched {
            b"unmatched close"
        } else {
            b"progress"
        });
        b.extend_from_slice(b"\",\"name\":");
        match name {
            Some(name) => {
                let mut quoted = String::new();
                json_str(&mut quoted, &name);
                b.extend_from_slice(quoted.as_bytes());
            }
            None => {
                b.extend_from_slice(b"\"arg1=");
                push_dec(b, ev.arg1);
                b.push(b'"');
            }
        }
        b.extend_from_slice(b",\"ts\":");
        push_us(b, ev.ts_ns - self.origin);
        b.extend_from_slice(b",\"pid\":");
        push_dec(b, ev.pid as u64);
        b.extend_from_slice(b",\"tid\":");
        push_dec(b, tid);
        b.extend_from_slice(b",\"args\":{\"client\":");
        push_dec(b, ev.client as u64);
        b.extend_from_slice(b",\"thread\":");
        push_dec(b, ev.thread as u64);
        b.extend_from_slice(b",\"record\":");
        push_dec(b, ev.index);
        for (i, v) in ev.args().enumerate() {
            b.extend_from_slice(b",\"arg");
            push_dec(b, i as u64 + 2);
            b.extend_from_slice(b"\":");
            push_dec(b, v);
        }
        if let Some(c) = ev.counts {
            b.extend_from_slice(b",\"insns\":");
            push_dec(b, c.insns);
            b.extend_from_slice(b",\"blocks\":");
            push_dec(b, c.blocks);
        }
        b.extend_from_slice(b"}}");
    }
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

/// One Chrome trace of several traces: a process per file, on one time
/// axis (every file's timestamps are the host's CLOCK_MONOTONIC).
pub fn chrome_files(
    files: &[TraceFile],
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let Some(file) = files.first() else {
        return Ok(0);
    };
    let info = &file.info;
    let origin = files
        .iter()
        .map(|f| {
            f.span()
                .map_or(f.info.anchor.monotonic_ns, |(first, _)| first)
        })
        .min()
        .unwrap_or(info.anchor.monotonic_ns);
    let mut head = String::from("{\"displayTimeUnit\":\"ns\",\"otherData\":{");
    for (k, _) in &info.metadata {
        json_str(&mut head, k);
        head.push(':');
        json_str(
            &mut head,
            &info.get(k).unwrap_or_default().replace('\0', " "),
        );
        head.push(',');
    }
    head.push_str(&format!(
        "\"origin_monotonic_ns\":{origin},\"origin_wall_ns\":{}}},\"traceEvents\":[\n",
        info.anchor.wall_ns(origin)
    ));
    for (i, f) in files.iter().enumerate() {
        let program = f.info.get("program").unwrap_or_else(|| "guest".to_string());
        let mut pname = String::new();
        json_str(&mut pname, &format!("{program} (pid {})", f.info.pid));
        if i > 0 {
            head.push_str(",\n");
        }
        head.push_str(&format!(
            "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":0,\"args\":{{\"name\":{pname}}}}}",
            f.info.pid
        ));
    }
    out.write_all(head.as_bytes())?;

    let mut c = Chrome {
        buf: Vec::with_capacity(CHUNK + 4096),
        pid: info.pid,
        origin,
        names: Vec::new(),
        first: false,
        tracks: Tracks::default(),
    };
    let mut n = 0;
    for file in files {
        c.pid = file.info.pid;
        c.names.clear();
        c.tracks = Tracks::default();
        n += chrome_events(file, specs, &mut c, out)?;
    }
    c.buf.extend_from_slice(b"\n]}\n");
    out.write_all(&c.buf)?;
    out.flush()?;
    Ok(n)
}

/// One file's events into the Chrome trace `c`.
fn chrome_events(
    file: &TraceFile,
    specs: &[RegionSpec],
    c: &mut Chrome,
    out: &mut dyn Write,
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
            c.track(ev.thread, ev.client);
            match kind {
                Kind::Close(span) | Kind::CloseOpen(span, _) => {
                    c.complete(&tracker.labels, &span, Some(ev.index))
                }
                Kind::Open(_) => {}
                Kind::Progress(_) => c.instant(ev, false, tracker.point_name(ev)),
                Kind::UnmatchedClose => c.instant(ev, true, None),
            }
            spill(&mut c.buf, out)?;
            Ok(())
        },
        |c, tracker, span| {
            c.complete(&tracker.labels, &span, None);
            Ok(())
        },
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

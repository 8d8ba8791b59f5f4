// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace convert`: a binary trace as Chrome trace JSON (for Perfetto's
//! UI and chrome://tracing), CSV, or QEMU log text. All three stream: the
//! trace is read once and never held in memory. Parquet tables, which go
//! to a directory rather than a stream, are [`super::parquet`]'s; the
//! Perfetto protobuf trace is [`super::perfetto`]'s.
//!
//! Here: the formats, the conversions' errors, the record walk they share
//! (`walk`), the binary re-layout and the log text; the CSV tables are
//! in `tables.rs`, the Chrome JSON in `chrome.rs` (the driver and its
//! serializing threads) and `chrome_json.rs` (the events' JSON).

mod chrome;
mod chrome_json;
mod tables;
#[cfg(test)]
mod tests;

use std::io::{self, Write};

use super::{Kind, RegionSpan, RegionSpec, Tracker};
use crate::trace::file::{Event, TraceError, TraceFile};
use crate::trace::log::format_record;

pub use chrome::{chrome, chrome_files};
pub use tables::{csv, regions};

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

impl Format {
    /// The names [`Format`]'s `FromStr` takes, as `--to` lists them.
    pub const NAMES: [&'static str; 8] = [
        "chrome", "perfetto", "csv", "regions", "parquet", "log", "fixed", "compact",
    ];
    /// Other names it takes: `json` (chrome), `qemu` (log).
    pub const ALIASES: [&'static str; 2] = ["json", "qemu"];
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
            let shape = tables::CsvShape::of(files);
            for (i, f) in files.iter().enumerate() {
                n += tables::csv_rows(f, shape, i == 0, out)?;
            }
        }
        Format::Regions => {
            let counters = files.iter().any(|f| f.info.counters);
            for (i, f) in files.iter().enumerate() {
                n += tables::region_rows(f, specs, counters, i == 0, out)?;
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

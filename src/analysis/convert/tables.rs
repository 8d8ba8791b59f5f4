// SPDX-License-Identifier: GPL-2.0-or-later
//! CSV: every record (`--to csv`), or one row per region
//! (`--to regions`).

use std::io::Write;

use super::{walk, ConvertError, CHUNK};
use crate::analysis::{Kind, RegionSpan, RegionSpec};
use crate::trace::file::{EventKind, TraceFile, COUNTER_WORDS};

/// The columns of a CSV of several traces.
#[derive(Clone, Copy)]
pub(super) struct CsvShape {
    /// arg1.. columns: enough for the widest kind any trace may hold.
    columns: usize,
    counters: bool,
}

impl CsvShape {
    pub(super) fn of(files: &[TraceFile]) -> CsvShape {
        let columns = files
            .iter()
            .flat_map(|file| {
                file.info
                    .kinds
                    .kinds()
                    .map(|k| 1 + arg_words(k, file))
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

/// The words after arg1 a record of `kind` in `file` gives the CSV's arg
/// columns: every word of the record (a name record's piece fills the
/// counters' words too) but a guest_hypertrace record's counters, which
/// go to insns and blocks.
fn arg_words(kind: EventKind, file: &TraceFile) -> usize {
    let words = kind.words(file.info.hypertrace_words());
    if kind == EventKind::Hypertrace && file.info.counters {
        words - COUNTER_WORDS
    } else {
        words
    }
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
pub(super) fn csv_rows(
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
        let words = arg_words(ev.kind, file).min(columns - 1);
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
pub(super) fn region_rows(
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

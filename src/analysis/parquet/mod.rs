// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace convert --to parquet`: a directory of Parquet tables, one per
//! kind of row (events, regions, memory, blocks, syscalls), for DuckDB,
//! polars and pandas with no options. The schemas are in docs/parquet.md.
//!
//! The trace is read once, as by the other conversions: rows gather in
//! column buffers and go out as a row group every [`ROW_GROUP`] rows, so
//! memory stays bounded whatever the trace's size. Integer columns are
//! DELTA_BINARY_PACKED where no dictionary does better. Times are INT64
//! nanoseconds, names UTF-8 strings, the guest's 64-bit words unsigned
//! INT64 (`UBIGINT` in DuckDB, `UInt64` in polars).
//!
//! Here: the rows each record and region makes; the columns of each table
//! are declared in `schema.rs`, and `table.rs` buffers and writes one
//! table's file.

mod schema;
mod table;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use ::parquet::basic::Compression;
use ::parquet::data_type::ByteArray;
use ::parquet::file::properties::WriterProperties;

use super::convert::{walk, ConvertError};
use super::{Kind, RegionSpan, RegionSpec, Tracker};
use crate::trace::file::{Event, EventKind, TraceFile, EXEC_TB_INSNS_KEY};
use schema::{blocks_cols, events_cols, memory_cols, regions_cols, syscalls_cols};
use table::{i64_of, Table};

/// Rows per row group: large enough for readers to scan in parallel and
/// skip by statistics, small enough to keep the buffers near 100 MB.
pub const ROW_GROUP: usize = 1 << 20;

/// The tables, in the order they are written.
pub const TABLES: [&str; 5] = ["events", "regions", "memory", "blocks", "syscalls"];

/// Rows written to each table, in [`TABLES`] order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rows {
    pub events: u64,
    pub regions: u64,
    pub memory: u64,
    pub blocks: u64,
    pub syscalls: u64,
}

/// The five tables being written.
struct Tables {
    events: Table,
    regions: Table,
    memory: Table,
    blocks: Table,
    syscalls: Table,
}

/// What the rows of one file need besides its records.
struct FileCtx<'a> {
    file: &'a TraceFile,
    /// The widest hypertrace record of all the files: arg1..argN columns.
    args: usize,
    exec_tb_insns: bool,
    /// Region names as strings, by label index (built as labels appear).
    labels: Vec<ByteArray>,
    syscall_names: HashMap<u64, Option<ByteArray>>,
    names: &'a dyn Fn(&TraceFile, u64) -> Option<String>,
}

/// The `role` and `phase` strings, made once and shared by every row.
struct Roles {
    open: ByteArray,
    close: ByteArray,
    close_open: ByteArray,
    unmatched: ByteArray,
    progress: ByteArray,
    entry: ByteArray,
    ret: ByteArray,
}

impl Roles {
    fn new() -> Roles {
        let b = |s: &str| ByteArray::from(s.as_bytes().to_vec());
        Roles {
            open: b("open"),
            close: b("close"),
            close_open: b("close_open"),
            unmatched: b("unmatched_close"),
            progress: b("progress"),
            entry: b("entry"),
            ret: b("return"),
        }
    }
}

impl FileCtx<'_> {
    /// The label's name, as a string value shared by every row.
    fn label(&mut self, tracker: &Tracker, label: usize) -> ByteArray {
        while self.labels.len() <= label {
            let name = &tracker.labels[self.labels.len()];
            self.labels.push(ByteArray::from(name.as_bytes().to_vec()));
        }
        self.labels[label].clone()
    }

    fn syscall_name(&mut self, nr: u64) -> Option<ByteArray> {
        let (names, file) = (self.names, self.file);
        self.syscall_names
            .entry(nr)
            .or_insert_with(|| names(file, nr).map(|n| ByteArray::from(n.into_bytes())))
            .clone()
    }
}

/// The columns every record table starts with.
fn record_head(t: &mut Table, file: &TraceFile, ev: &Event<'_>) {
    t.int(i64::from(ev.pid));
    t.int(i64_of(ev.index));
    t.int(i64_of(ev.ts_ns));
    t.int(i64_of(file.info.anchor.wall_ns(ev.ts_ns)));
    t.int(i64::from(ev.thread));
}

impl Tables {
    fn record(
        &mut self,
        cx: &mut FileCtx<'_>,
        roles: &Roles,
        tracker: &Tracker,
        ev: &Event<'_>,
        kind: Option<Kind>,
    ) -> Result<(), ConvertError> {
        let file = cx.file;
        match ev.kind {
            EventKind::Hypertrace => {
                // Module records and the like are no events (None).
                let Some(kind) = kind else { return Ok(()) };
                let (role, name, region) = match kind {
                    Kind::Open(l) => (&roles.open, Some(cx.label(tracker, l)), None),
                    Kind::Close(s) => (&roles.close, Some(cx.label(tracker, s.label)), None),
                    Kind::CloseOpen(_, l) => (&roles.close_open, Some(cx.label(tracker, l)), None),
                    Kind::UnmatchedClose => (&roles.unmatched, None, None),
                    Kind::Progress(inside) => (
                        &roles.progress,
                        tracker
                            .point_name(ev)
                            .map(|n| ByteArray::from(n.into_bytes())),
                        inside.map(|l| cx.label(tracker, l)),
                    ),
                };
                if let Kind::Close(span) | Kind::CloseOpen(span, _) = kind {
                    let name = cx.label(tracker, span.label);
                    self.region(file, &name, &span, Some(ev.index))?;
                }
                let t = &mut self.events;
                record_head(t, file, ev);
                t.int(i64::from(ev.client));
                t.text(Some(role));
                t.text(name.as_ref());
                t.text(region.as_ref());
                t.word(ev.arg1);
                // Only the file's own arguments: records sized for other
                // kinds are zero-padded, and those columns are null.
                let mut args = ev.args().take(file.extra_args());
                for _ in 1..cx.args {
                    t.opt_word(args.next());
                }
                t.opt_int(ev.counts.map(|c| i64_of(c.insns)));
                t.opt_int(ev.counts.map(|c| i64_of(c.blocks)));
                t.end_row()
            }
            EventKind::MemAccess => {
                let t = &mut self.memory;
                let mut words = ev.args();
                record_head(t, file, ev);
                t.word(ev.arg1);
                t.word(words.next().unwrap_or(0));
                t.word(words.next().unwrap_or(0));
                t.int(1 << (ev.client & 3));
                t.bool(ev.client & 0x10 != 0);
                t.int(i64::from(ev.client));
                t.end_row()
            }
            EventKind::ExecTb => {
                let t = &mut self.blocks;
                record_head(t, file, ev);
                t.word(ev.arg1);
                t.int(i64::from(ev.client & 0xffff));
                t.opt_int(cx.exec_tb_insns.then_some(i64::from(ev.client >> 16)));
                t.end_row()
            }
            EventKind::Syscall | EventKind::SyscallRet => {
                let entry = ev.kind == EventKind::Syscall;
                let name = cx.syscall_name(u64::from(ev.client));
                let t = &mut self.syscalls;
                record_head(t, file, ev);
                t.text(Some(if entry { &roles.entry } else { &roles.ret }));
                t.int(i64::from(ev.client));
                t.text(name.as_ref());
                if entry {
                    t.opt_word(Some(ev.arg1));
                    let mut words = ev.args();
                    for _ in 2..=6 {
                        t.opt_word(Some(words.next().unwrap_or(0)));
                    }
                    t.opt_int(None);
                } else {
                    for _ in 1..=6 {
                        t.opt_word(None);
                    }
                    // The result is two's complement: -errno reads as such.
                    t.opt_int(Some(ev.arg1 as i64));
                }
                t.end_row()
            }
            // The string table: its names are in the name columns.
            EventKind::HypertraceName => Ok(()),
        }
    }

    /// One region row; `close_record` None for a region left open.
    fn region(
        &mut self,
        file: &TraceFile,
        name: &ByteArray,
        span: &RegionSpan,
        close_record: Option<u64>,
    ) -> Result<(), ConvertError> {
        let t = &mut self.regions;
        t.text(Some(name));
        t.int(i64::from(file.info.pid));
        t.int(i64::from(span.client));
        t.int(i64::from(span.thread));
        t.int(i64_of(span.start_ns));
        t.int(i64_of(span.end_ns));
        t.int(i64_of(span.duration_ns()));
        t.int(i64_of(file.info.anchor.wall_ns(span.start_ns)));
        t.int(span.depth as i64);
        t.int(i64_of(span.progress));
        t.bool(close_record.is_some());
        t.opt_int(span.counts.map(|c| i64_of(c.insns)));
        t.opt_int(span.counts.map(|c| i64_of(c.blocks)));
        t.int(i64_of(span.open_index));
        t.opt_int(close_record.map(i64_of));
        t.end_row()
    }
}

/// Writes `files` (one run's traces: a forked run's FILE and FILE.PID) as
/// the Parquet tables `events`, `regions`, `memory`, `blocks` and
/// `syscalls` in `dir`, created if missing; a table the trace has no rows
/// for is written empty, with its schema. Regions are found as
/// `convert --to regions` finds them, with `specs`; `syscall_name` names a
/// system call number of a trace's guest architecture (analysis sits below
/// the architectures, so the caller knows their tables).
pub fn write_dir(
    files: &[TraceFile],
    specs: &[RegionSpec],
    dir: &Path,
    syscall_name: &dyn Fn(&TraceFile, u64) -> Option<String>,
) -> Result<Rows, ConvertError> {
    if dir.exists() && !dir.is_dir() {
        return Err(ConvertError::Output(format!(
            "{} exists and is not a directory (--to parquet writes a directory of tables)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| ConvertError::Output(format!("cannot create {}: {e}", dir.display())))?;
    let result = write_tables(files, specs, dir, syscall_name, ROW_GROUP);
    if result.is_err() {
        for t in TABLES {
            let _ = std::fs::remove_file(dir.join(format!("{t}.parquet.partial")));
        }
    }
    result
}

fn write_tables(
    files: &[TraceFile],
    specs: &[RegionSpec],
    dir: &Path,
    syscall_name: &dyn Fn(&TraceFile, u64) -> Option<String>,
    group_rows: usize,
) -> Result<Rows, ConvertError> {
    let args = files
        .iter()
        .map(|f| f.info.event_args as usize)
        .max()
        .unwrap_or(1)
        .max(1);
    let base = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("ht-trace {}", env!("CARGO_PKG_VERSION")));
    let mut t = Tables {
        events: Table::create(dir, "events", events_cols(args), &base, group_rows)?,
        regions: Table::create(dir, "regions", regions_cols(), &base, group_rows)?,
        memory: Table::create(dir, "memory", memory_cols(), &base, group_rows)?,
        blocks: Table::create(dir, "blocks", blocks_cols(), &base, group_rows)?,
        syscalls: Table::create(dir, "syscalls", syscalls_cols(), &base, group_rows)?,
    };
    let roles = Roles::new();
    for file in files {
        let mut cx = FileCtx {
            file,
            args,
            exec_tb_insns: file.info.get(EXEC_TB_INSNS_KEY).is_some(),
            labels: Vec::new(),
            syscall_names: HashMap::new(),
            names: syscall_name,
        };
        walk(
            file,
            specs,
            &mut (&mut t, &mut cx),
            |(t, cx), tracker, ev, kind| t.record(cx, &roles, tracker, ev, kind),
            |(t, cx), tracker, span| {
                let name = cx.label(tracker, span.label);
                t.region(file, &name, &span, None)
            },
        )?;
    }
    Ok(Rows {
        events: t.events.finish()?,
        regions: t.regions.finish()?,
        memory: t.memory.finish()?,
        blocks: t.blocks.finish()?,
        syscalls: t.syscalls.finish()?,
    })
}

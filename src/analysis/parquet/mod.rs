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

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::parquet::basic::{Compression, Encoding};
use ::parquet::column::writer::ColumnWriter;
use ::parquet::data_type::ByteArray;
use ::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::schema::parser::parse_message_type;

use super::convert::{walk, ConvertError};
use super::{Kind, RegionSpan, RegionSpec, Tracker};
use crate::trace::file::{Event, EventKind, TraceFile, EXEC_TB_INSNS_KEY};

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// A signed INT64: times, counts, identifiers.
    Int,
    /// A guest word: INT64 annotated unsigned, so values past 2^63 read
    /// back as they were stored.
    Word,
    Bool,
    Text,
}

/// One column's declaration.
struct Col {
    name: String,
    ty: Ty,
    optional: bool,
    /// No dictionary, for columns that mostly grow (times, record numbers,
    /// counters): DELTA_BINARY_PACKED alone stores a few bits a row there.
    /// Other integer columns try a dictionary first and fall back to
    /// delta, not plain, once it grows too large.
    delta: bool,
}

fn col(name: &str, ty: Ty) -> Col {
    Col {
        name: name.to_string(),
        ty,
        optional: false,
        delta: false,
    }
}

impl Col {
    fn optional(mut self) -> Col {
        self.optional = true;
        self
    }
    fn delta(mut self) -> Col {
        self.delta = true;
        self
    }
}

/// The columns every record table starts with.
fn record_cols() -> Vec<Col> {
    vec![
        col("pid", Ty::Int),
        col("record", Ty::Int).delta(),
        col("ts_ns", Ty::Int).delta(),
        col("wall_ns", Ty::Int).delta(),
        col("thread", Ty::Int),
    ]
}

fn events_cols(args: usize) -> Vec<Col> {
    let mut v = record_cols();
    v.extend([
        col("client", Ty::Int),
        col("role", Ty::Text),
        col("name", Ty::Text).optional(),
        col("region", Ty::Text).optional(),
        col("arg1", Ty::Word),
    ]);
    v.extend((2..=args).map(|k| col(&format!("arg{k}"), Ty::Word).optional()));
    v.extend([
        col("insns", Ty::Int).optional().delta(),
        col("blocks", Ty::Int).optional().delta(),
    ]);
    v
}

fn regions_cols() -> Vec<Col> {
    vec![
        col("name", Ty::Text),
        col("pid", Ty::Int),
        col("client", Ty::Int),
        col("thread", Ty::Int),
        col("start_ns", Ty::Int).delta(),
        col("end_ns", Ty::Int).delta(),
        col("duration_ns", Ty::Int),
        col("start_wall_ns", Ty::Int).delta(),
        col("depth", Ty::Int),
        col("progress", Ty::Int),
        col("closed", Ty::Bool),
        col("insns", Ty::Int).optional(),
        col("blocks", Ty::Int).optional(),
        col("open_record", Ty::Int).delta(),
        col("close_record", Ty::Int).optional().delta(),
    ]
}

fn memory_cols() -> Vec<Col> {
    let mut v = record_cols();
    v.extend([
        col("address", Ty::Word),
        col("pc", Ty::Word),
        col("value", Ty::Word),
        col("size", Ty::Int),
        col("store", Ty::Bool),
        col("info", Ty::Int),
    ]);
    v
}

fn blocks_cols() -> Vec<Col> {
    let mut v = record_cols();
    v.extend([
        col("pc", Ty::Word),
        col("size", Ty::Int),
        col("insns", Ty::Int).optional(),
    ]);
    v
}

fn syscalls_cols() -> Vec<Col> {
    let mut v = record_cols();
    v.extend([
        col("phase", Ty::Text),
        col("number", Ty::Int),
        col("name", Ty::Text).optional(),
    ]);
    v.extend((1..=6).map(|k| col(&format!("arg{k}"), Ty::Word).optional()));
    v.push(col("ret", Ty::Int).optional());
    v
}

/// The Parquet message type of `cols`.
fn message_type(table: &str, cols: &[Col]) -> String {
    let mut s = format!("message {table} {{\n");
    for c in cols {
        let (physical, logical) = match c.ty {
            Ty::Int => ("int64", ""),
            Ty::Word => ("int64", " (INTEGER(64,false))"),
            Ty::Bool => ("boolean", ""),
            Ty::Text => ("binary", " (STRING)"),
        };
        let rep = if c.optional { "optional" } else { "required" };
        s.push_str(&format!("  {rep} {physical} {}{logical};\n", c.name));
    }
    s.push('}');
    s
}

enum Values {
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Text(Vec<ByteArray>),
}

/// A column's values since the last row group; `defs` (optional columns
/// only) has one definition level a row, 0 for null.
struct Buffer {
    values: Values,
    defs: Option<Vec<i16>>,
}

/// One Parquet file being written: to `NAME.parquet.partial`, renamed to
/// `NAME.parquet` once whole, so a failed conversion leaves no table that
/// looks complete.
struct Table {
    partial: PathBuf,
    path: PathBuf,
    writer: SerializedFileWriter<BufWriter<File>>,
    buffers: Vec<Buffer>,
    /// Rows in the buffers, and in all; rows a row group.
    pending: usize,
    group_rows: usize,
    rows: u64,
    /// The next column a [`Table::int`] etc. fills.
    at: usize,
}

/// A nanosecond time or a count as INT64; traces have none past 2^63
/// (year 2262), a damaged one is clamped rather than wrapped.
fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Table {
    fn create(
        dir: &Path,
        name: &str,
        cols: Vec<Col>,
        base: &WriterPropertiesBuilder,
        group_rows: usize,
    ) -> Result<Table, ConvertError> {
        let schema = parse_message_type(&message_type(name, &cols))?;
        let mut props = base.clone();
        for c in cols.iter().filter(|c| matches!(c.ty, Ty::Int | Ty::Word)) {
            props =
                props.set_column_encoding(c.name.as_str().into(), Encoding::DELTA_BINARY_PACKED);
            if c.delta {
                props = props.set_column_dictionary_enabled(c.name.as_str().into(), false);
            }
        }
        let path = dir.join(format!("{name}.parquet"));
        let partial = dir.join(format!("{name}.parquet.partial"));
        let file = File::create(&partial).map_err(|e| {
            ConvertError::Output(format!("cannot create {}: {e}", partial.display()))
        })?;
        let writer = SerializedFileWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            Arc::new(schema),
            Arc::new(props.build()),
        )?;
        let buffers = cols
            .iter()
            .map(|c| Buffer {
                values: match c.ty {
                    Ty::Int | Ty::Word => Values::Int(Vec::new()),
                    Ty::Bool => Values::Bool(Vec::new()),
                    Ty::Text => Values::Text(Vec::new()),
                },
                defs: c.optional.then(Vec::new),
            })
            .collect();
        Ok(Table {
            partial,
            path,
            writer,
            buffers,
            pending: 0,
            group_rows,
            rows: 0,
            at: 0,
        })
    }

    /// The next column's buffer, marked present or null.
    fn next(&mut self, present: bool) -> &mut Values {
        let b = &mut self.buffers[self.at];
        self.at += 1;
        if let Some(d) = &mut b.defs {
            d.push(present as i16);
        }
        &mut b.values
    }

    fn int(&mut self, v: i64) {
        self.opt_int(Some(v));
    }

    fn opt_int(&mut self, v: Option<i64>) {
        let values = self.next(v.is_some());
        if let (Values::Int(x), Some(v)) = (values, v) {
            x.push(v);
        }
    }

    /// A guest word, its bits kept (the column is unsigned).
    fn word(&mut self, v: u64) {
        self.int(v as i64);
    }

    fn opt_word(&mut self, v: Option<u64>) {
        self.opt_int(v.map(|v| v as i64));
    }

    fn bool(&mut self, v: bool) {
        if let Values::Bool(x) = self.next(true) {
            x.push(v);
        }
    }

    fn text(&mut self, v: Option<&ByteArray>) {
        let values = self.next(v.is_some());
        if let (Values::Text(x), Some(v)) = (values, v) {
            x.push(v.clone());
        }
    }

    /// Ends a row whose columns were all filled, in order.
    fn end_row(&mut self) -> Result<(), ConvertError> {
        debug_assert_eq!(self.at, self.buffers.len(), "a row fills every column");
        self.at = 0;
        self.pending += 1;
        self.rows += 1;
        if self.pending >= self.group_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> Result<(), ConvertError> {
        if self.pending == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        for b in &mut self.buffers {
            let Some(mut column) = group.next_column()? else {
                return Err(ConvertError::Output(
                    "Parquet schema has fewer columns than the table".into(),
                ));
            };
            let defs = b.defs.as_deref();
            let written = match (&b.values, column.untyped()) {
                (Values::Int(v), ColumnWriter::Int64ColumnWriter(w)) => {
                    w.write_batch(v, defs, None)
                }
                (Values::Bool(v), ColumnWriter::BoolColumnWriter(w)) => {
                    w.write_batch(v, defs, None)
                }
                (Values::Text(v), ColumnWriter::ByteArrayColumnWriter(w)) => {
                    w.write_batch(v, defs, None)
                }
                _ => {
                    return Err(ConvertError::Output(
                        "Parquet schema and column buffer disagree".into(),
                    ))
                }
            };
            written?;
            column.close()?;
            match &mut b.values {
                Values::Int(v) => v.clear(),
                Values::Bool(v) => v.clear(),
                Values::Text(v) => v.clear(),
            }
            if let Some(d) = &mut b.defs {
                d.clear();
            }
        }
        group.close()?;
        self.pending = 0;
        Ok(())
    }

    /// Writes the last rows and the footer; a table with no rows is still
    /// a valid file with its schema. Returns the row count.
    fn finish(mut self) -> Result<u64, ConvertError> {
        self.flush()?;
        let out = self.writer.into_inner()?;
        let io = |e: std::io::Error| {
            ConvertError::Output(format!("cannot write {}: {e}", self.partial.display()))
        };
        out.into_inner().map_err(|e| io(e.into_error()))?;
        std::fs::rename(&self.partial, &self.path).map_err(io)?;
        Ok(self.rows)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::file::{ClockAnchor, TraceBuilder, TraceInfo};
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::Field;

    fn trace(pid: u32, args: u32, build: impl Fn(&mut TraceBuilder)) -> TraceFile {
        let info = TraceInfo::for_run(
            pid,
            args,
            "x86_64",
            Path::new("prog"),
            &[std::ffi::OsString::from("prog")],
            Some(4),
            ClockAnchor {
                monotonic_ns: 0,
                realtime_ns: 1_700_000_000_000_000_000,
            },
        );
        let mut b = TraceBuilder::new(info);
        build(&mut b);
        TraceFile::from_bytes(Path::new("t"), b.finish(), Default::default()).unwrap()
    }

    /// Every row of `dir/table.parquet`, as (column, value) lists.
    fn rows(dir: &Path, table: &str) -> Vec<Vec<(String, Field)>> {
        let f = File::open(dir.join(format!("{table}.parquet"))).unwrap();
        let r = SerializedFileReader::new(f).unwrap();
        r.get_row_iter(None)
            .unwrap()
            .map(|row| {
                row.unwrap()
                    .get_column_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect()
    }

    fn get<'a>(row: &'a [(String, Field)], column: &str) -> &'a Field {
        &row.iter().find(|(k, _)| k == column).unwrap().1
    }

    #[test]
    fn two_files_one_set_of_tables() {
        // A four-argument parent with a region closed and one left open;
        // a two-argument child with a progress point.
        let parent = trace(10, 4, |b| {
            b.push(100, 0, 0, 1, &[7, 8, u64::MAX]);
            b.push(150, 0, 0, 5, &[1, 2, 3]);
            b.push(300, 0, 0, 0, &[7, 8, 9]);
            b.push(400, 0, 1, 1, &[0, 0, 0]);
            b.push(450, 0, 1, 6, &[0, 0, 0]);
        });
        let child = trace(11, 2, |b| b.push(500, 0, 0, 5, &[42]));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tables");
        let rows_written = write_dir(
            &[parent, child],
            &[RegionSpec::default_spec()],
            &out,
            &|_, _| None,
        )
        .unwrap();
        assert_eq!(
            rows_written,
            Rows {
                events: 6,
                regions: 2,
                ..Rows::default()
            }
        );

        let events = rows(&out, "events");
        assert_eq!(events.len(), 6);
        assert_eq!(get(&events[0], "role"), &Field::Str("open".into()));
        assert_eq!(get(&events[0], "name"), &Field::Str("region".into()));
        assert_eq!(get(&events[0], "arg4"), &Field::ULong(u64::MAX));
        assert_eq!(get(&events[1], "region"), &Field::Str("region".into()));
        assert_eq!(get(&events[1], "name"), &Field::Null);
        assert_eq!(
            get(&events[0], "wall_ns"),
            &Field::Long(1_700_000_000_000_000_100)
        );
        assert_eq!(get(&events[0], "insns"), &Field::Null);
        // The child's: its pid, and null past its own arguments.
        assert_eq!(get(&events[5], "pid"), &Field::Long(11));
        assert_eq!(get(&events[5], "arg2"), &Field::ULong(42));
        assert_eq!(get(&events[5], "arg3"), &Field::Null);
        assert_eq!(get(&events[5], "region"), &Field::Null);

        let regions = rows(&out, "regions");
        let closed = &regions[0];
        assert_eq!(get(closed, "duration_ns"), &Field::Long(200));
        assert_eq!(get(closed, "progress"), &Field::Long(1));
        assert_eq!(get(closed, "closed"), &Field::Bool(true));
        assert_eq!(get(closed, "close_record"), &Field::Long(2));
        // Left open: runs to the file's last event.
        let open = &regions[1];
        assert_eq!(get(open, "closed"), &Field::Bool(false));
        assert_eq!(get(open, "client"), &Field::Long(1));
        assert_eq!(get(open, "end_ns"), &Field::Long(450));
        assert_eq!(get(open, "close_record"), &Field::Null);

        for empty in ["memory", "blocks", "syscalls"] {
            assert!(rows(&out, empty).is_empty(), "{empty}");
        }
        let leftovers = std::fs::read_dir(&out)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() != Some("parquet".as_ref()))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn tables_span_row_groups() {
        let n = 2500;
        let file = trace(1, 2, |b| {
            for i in 0..n {
                b.push(i, 0, 0, 2 + i % 5, &[i]);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let specs = [RegionSpec::default_spec()];
        write_tables(&[file], &specs, dir.path(), &|_, _| None, 1000).unwrap();
        let f = File::open(dir.path().join("events.parquet")).unwrap();
        let r = SerializedFileReader::new(f).unwrap();
        assert_eq!(r.metadata().num_row_groups(), 3);
        assert_eq!(r.metadata().file_metadata().num_rows(), n as i64);
        let last = r.get_row_iter(None).unwrap().last().unwrap().unwrap();
        let last: Vec<_> = last
            .get_column_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(get(&last, "arg2"), &Field::ULong(n - 1));
        assert_eq!(get(&last, "ts_ns"), &Field::Long(n as i64 - 1));
    }

    #[test]
    fn message_types_parse() {
        for (name, cols) in [
            ("events", events_cols(1)),
            ("events", events_cols(4)),
            ("regions", regions_cols()),
            ("memory", memory_cols()),
            ("blocks", blocks_cols()),
            ("syscalls", syscalls_cols()),
        ] {
            let text = message_type(name, &cols);
            let t = parse_message_type(&text).unwrap();
            assert_eq!(t.get_fields().len(), cols.len(), "{text}");
        }
    }
}

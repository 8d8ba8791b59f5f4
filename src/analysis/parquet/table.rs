// SPDX-License-Identifier: GPL-2.0-or-later
//! One Parquet file being written: its columns' buffers, flushed a row
//! group at a time.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::parquet::basic::Encoding;
use ::parquet::column::writer::ColumnWriter;
use ::parquet::data_type::ByteArray;
use ::parquet::file::properties::WriterPropertiesBuilder;
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::schema::parser::parse_message_type;

use super::schema::{message_type, Col, Ty};
use crate::analysis::convert::ConvertError;

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
pub(super) struct Table {
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
pub(super) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Table {
    pub(super) fn create(
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

    pub(super) fn int(&mut self, v: i64) {
        self.opt_int(Some(v));
    }

    pub(super) fn opt_int(&mut self, v: Option<i64>) {
        let values = self.next(v.is_some());
        if let (Values::Int(x), Some(v)) = (values, v) {
            x.push(v);
        }
    }

    /// A guest word, its bits kept (the column is unsigned).
    pub(super) fn word(&mut self, v: u64) {
        self.int(v as i64);
    }

    pub(super) fn opt_word(&mut self, v: Option<u64>) {
        self.opt_int(v.map(|v| v as i64));
    }

    pub(super) fn bool(&mut self, v: bool) {
        if let Values::Bool(x) = self.next(true) {
            x.push(v);
        }
    }

    pub(super) fn text(&mut self, v: Option<&ByteArray>) {
        let values = self.next(v.is_some());
        if let (Values::Text(x), Some(v)) = (values, v) {
            x.push(v.clone());
        }
    }

    /// Ends a row whose columns were all filled, in order.
    pub(super) fn end_row(&mut self) -> Result<(), ConvertError> {
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
    pub(super) fn finish(mut self) -> Result<u64, ConvertError> {
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

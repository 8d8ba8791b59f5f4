// SPDX-License-Identifier: GPL-2.0-or-later
//! The tables' columns (docs/parquet.md) and their Parquet message types.

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    /// A signed INT64: times, counts, identifiers.
    Int,
    /// A guest word: INT64 annotated unsigned, so values past 2^63 read
    /// back as they were stored.
    Word,
    Bool,
    Text,
}

/// One column's declaration.
pub(super) struct Col {
    pub(super) name: String,
    pub(super) ty: Ty,
    pub(super) optional: bool,
    /// No dictionary, for columns that mostly grow (times, record numbers,
    /// counters): DELTA_BINARY_PACKED alone stores a few bits a row there.
    /// Other integer columns try a dictionary first and fall back to
    /// delta, not plain, once it grows too large.
    pub(super) delta: bool,
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
pub(super) fn record_cols() -> Vec<Col> {
    vec![
        col("pid", Ty::Int),
        col("record", Ty::Int).delta(),
        col("ts_ns", Ty::Int).delta(),
        col("wall_ns", Ty::Int).delta(),
        col("thread", Ty::Int),
    ]
}

pub(super) fn events_cols(args: usize) -> Vec<Col> {
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

pub(super) fn regions_cols() -> Vec<Col> {
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

pub(super) fn memory_cols() -> Vec<Col> {
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

pub(super) fn blocks_cols() -> Vec<Col> {
    let mut v = record_cols();
    v.extend([
        col("pc", Ty::Word),
        col("size", Ty::Int),
        col("insns", Ty::Int).optional(),
    ]);
    v
}

pub(super) fn syscalls_cols() -> Vec<Col> {
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
pub(super) fn message_type(table: &str, cols: &[Col]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ::parquet::schema::parser::parse_message_type;

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

// SPDX-License-Identifier: GPL-2.0-or-later
//! Text output helpers: aligned tables, human-readable durations and
//! rates, UTC dates.

/// A table printed with aligned columns: the first column left-aligned,
/// the others right-aligned, two spaces between columns, no rules.
pub struct Table {
    table: comfy_table::Table,
    /// Columns past the first that hold text, aligned left.
    text_columns: Vec<usize>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_header(header.to_vec());
        Table {
            table,
            text_columns: Vec::new(),
        }
    }

    /// Aligns column `index` (a text column, such as a file name) left.
    pub fn left_aligned(mut self, index: usize) -> Self {
        self.text_columns.push(index);
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.table.add_row(cells);
    }

    /// The table, each line after `indent`.
    pub fn render(&mut self, indent: &str) -> String {
        let indent = indent.chars().count() as u16;
        for (i, col) in self.table.column_iter_mut().enumerate() {
            if i == 0 {
                col.set_padding((indent, 0));
            } else {
                col.set_padding((2, 0));
                col.set_cell_alignment(if self.text_columns.contains(&i) {
                    comfy_table::CellAlignment::Left
                } else {
                    comfy_table::CellAlignment::Right
                });
            }
        }
        let mut out = String::new();
        for line in self.table.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A duration in ns with a unit chosen for it: `850 ns`, `12.3 us`,
/// `4.56 ms`, `1.20 s`.
pub fn duration(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "us")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", significant(v))
}

/// A rate per second with a k/M/G prefix: `12.3k/s`.
pub fn rate(per_s: f64) -> String {
    let (v, p) = if per_s < 1e3 {
        (per_s, "")
    } else if per_s < 1e6 {
        (per_s / 1e3, "k")
    } else if per_s < 1e9 {
        (per_s / 1e6, "M")
    } else {
        (per_s / 1e9, "G")
    };
    format!("{}{p}/s", significant(v))
}

/// Three significant digits for values in 0..1000.
fn significant(v: f64) -> String {
    if v == 0.0 || v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Wall-clock ns since the epoch as an ISO 8601 UTC time with microseconds
/// (truncated, not rounded: a time never moves into the next second).
pub fn iso_utc(wall_ns: u64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(wall_ns) / 1000 * 1000) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        // Past jiff's range (year 9999): the raw count says what it is.
        Err(_) => format!("{wall_ns} ns since the epoch"),
    }
}

/// A region or point name as a text table shows it: names longer than
/// [`SHOWN_NAME_CHARS`] characters end in `...` (JSON and CSV keep them whole).
pub fn shown_name(name: &str) -> String {
    if name.chars().count() <= SHOWN_NAME_CHARS {
        return name.to_string();
    }
    let mut s: String = name.chars().take(SHOWN_NAME_CHARS - 3).collect();
    s.push_str("...");
    s
}

/// Longest name a text table shows whole.
pub const SHOWN_NAME_CHARS: usize = 48;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            iso_utc(1_473_096_085_744_211_999),
            "2016-09-05T17:21:25.744211Z"
        );
        assert_eq!(
            iso_utc(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            iso_utc(4_107_542_400_000_000_000),
            "2100-03-01T00:00:00.000000Z"
        );
        assert_eq!(iso_utc(u64::MAX), "2554-07-21T23:34:33.709551Z");
    }

    #[test]
    fn units() {
        assert_eq!(duration(850.0), "850 ns");
        assert_eq!(duration(12_345.0), "12.3 us");
        assert_eq!(duration(4_560_000.0), "4.56 ms");
        assert_eq!(rate(12_300.0), "12.3k/s");
        assert_eq!(rate(0.5), "0.50/s");
    }

    #[test]
    fn tables() {
        let mut t = Table::new(&["name", "n"]);
        t.row(vec!["long name".into(), "1".into()]);
        assert_eq!(t.render(""), "name       n\nlong name  1\n");
        // Aligned by the width a terminal gives characters: a wide one
        // takes two columns.
        let mut t = Table::new(&["name", "n", "module"]).left_aligned(2);
        t.row(vec!["naïve".into(), "10".into(), "libc.so".into()]);
        t.row(vec!["時間".into(), "2".into(), "a".into()]);
        assert_eq!(
            t.render("  "),
            "  name    n  module\n  naïve  10  libc.so\n  時間    2  a\n"
        );
    }
}

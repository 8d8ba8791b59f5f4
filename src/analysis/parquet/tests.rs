// SPDX-License-Identifier: GPL-2.0-or-later
//! The Parquet writer's unit tests.

use super::*;
use crate::trace::file::{ClockAnchor, TraceBuilder, TraceInfo};
use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::record::Field;
use std::fs::File;

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

// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace convert --to parquet`: the tables of a recorded run read back
//! by the tools they are for, DuckDB, polars and pandas (Python packages
//! in the venv scripts/py-env.sh makes; `$HT_PYTHON` may name another
//! python that has them), with the figures `ht-trace report` gives. The
//! test fails, never skips, when the packages cannot be had.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{forked_named_regions, guest, ht, temp_base};
use ht_user::trace::file::{EventKind, TraceFile};

const ITERATIONS: u64 = 100;

/// A python with duckdb, polars, pandas and pyarrow.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("HT_PYTHON").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/py-env.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "scripts/py-env.sh could not install duckdb, polars, pandas and pyarrow:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Reads the tables in DIR (argv[1]) with DuckDB, polars and pandas and
/// prints what each found, as JSON.
const QUERIES: &str = r#"
import json, sys
import duckdb, polars as pl, pandas as pd

d = sys.argv[1]
tables = ["events", "regions", "memory", "blocks", "syscalls"]
out = {"duckdb": {}, "polars": {}, "pandas": {}}

con = duckdb.connect()
q = lambda sql: con.execute(sql).fetchall()
out["duckdb"]["rows"] = {t: q(f"SELECT count(*) FROM '{d}/{t}.parquet'")[0][0] for t in tables}
out["duckdb"]["types"] = {
    t: {r[0]: r[1] for r in q(f"DESCRIBE SELECT * FROM '{d}/{t}.parquet'")} for t in tables
}
# The query the README shows, as it is there.
out["duckdb"]["by_name"] = {
    r[0]: [r[1], float(r[2])]
    for r in q(f"SELECT name, count(*), median(duration_ns) FROM '{d}/regions.parquet' GROUP BY name")
}
out["duckdb"]["closed"] = {
    r[0]: {"count": r[1], "total": int(r[2]), "median": int(r[3]), "insns": int(r[4] or 0)}
    for r in q(
        f"SELECT name, count(*), sum(duration_ns), quantile_disc(duration_ns, 0.5), sum(insns) "
        f"FROM '{d}/regions.parquet' WHERE closed GROUP BY name"
    )
}
out["duckdb"]["roles"] = dict(q(f"SELECT role, count(*) FROM '{d}/events.parquet' GROUP BY role"))
out["duckdb"]["points"] = dict(
    q(f"SELECT name, count(*) FROM '{d}/events.parquet' WHERE role = 'progress' GROUP BY name")
)
out["duckdb"]["pids"] = [r[0] for r in q(f"SELECT DISTINCT pid FROM '{d}/events.parquet' ORDER BY pid")]
out["duckdb"]["syscalls"] = dict(
    q(f"SELECT name, count(*) FROM '{d}/syscalls.parquet' WHERE phase = 'entry' GROUP BY name")
)
out["duckdb"]["stores"] = q(f"SELECT count(*) FROM '{d}/memory.parquet' WHERE store")[0][0]

regions = pl.read_parquet(f"{d}/regions.parquet")
out["polars"]["rows"] = {t: pl.read_parquet(f"{d}/{t}.parquet").height for t in tables}
agg = regions.group_by("name").agg(
    pl.len().alias("count"), pl.col("duration_ns").median().alias("median"),
    pl.col("duration_ns").sum().alias("total"),
)
out["polars"]["by_name"] = {
    r["name"]: [r["count"], float(r["median"]), r["total"]] for r in agg.iter_rows(named=True)
}
out["polars"]["dtypes"] = {c: str(t) for c, t in regions.schema.items()}

out["pandas"]["rows"] = {t: len(pd.read_parquet(f"{d}/{t}.parquet")) for t in tables}
events = pd.read_parquet(f"{d}/events.parquet")
out["pandas"]["ts_dtype"] = str(events["ts_ns"].dtype)
out["pandas"]["ts_increasing_per_pid"] = bool(
    events.groupby("pid")["ts_ns"].apply(lambda s: s.is_monotonic_increasing).all()
)
out["pandas"]["names"] = sorted(pd.read_parquet(f"{d}/regions.parquet")["name"].unique().tolist())
print(json.dumps(out))
"#;

fn query(dir: &Path) -> serde_json::Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(QUERIES)
        .arg(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "reading the tables failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the queries' JSON")
}

/// Runs named-regions under ht-user with a binary trace in `dir`, the
/// instruction counters on; returns the run's files (the parent's, then
/// the forked child's).
fn traced_run(dir: &Path, iterations: u64, extra: &[&str]) -> Vec<PathBuf> {
    forked_named_regions(dir, ",counters=on", extra, iterations)
}

fn ht_trace(args: &[&str], files: &[PathBuf]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(args)
        .args(files)
        .output()
        .expect("run ht-trace")
}

fn convert(files: &[PathBuf], dir: &Path) {
    let out = ht_trace(
        &["convert", "--to", "parquet", "-o", dir.to_str().unwrap()],
        files,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in ["events", "regions", "memory", "blocks", "syscalls"] {
        assert!(dir.join(format!("{t}.parquet")).is_file(), "{t}.parquet");
    }
}

fn report(files: &[PathBuf]) -> serde_json::Value {
    let out = ht_trace(&["report", "--json"], files);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

#[test]
fn duckdb_polars_and_pandas_read_the_figures_the_report_gives() {
    let (dir, _) = temp_base();
    let files = traced_run(dir.path(), ITERATIONS, &[]);
    let tables = dir.path().join("tables");
    convert(&files, &tables);
    let report = report(&files);
    let got = query(&tables);

    let events = report["events"].as_u64().unwrap();
    let regions: u64 = report["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap() + r["unclosed"].as_u64().unwrap())
        .sum();
    for tool in ["duckdb", "polars", "pandas"] {
        let rows = &got[tool]["rows"];
        assert_eq!(rows["events"], events, "{tool}: {rows}");
        assert_eq!(rows["regions"], regions, "{tool}: {rows}");
        for empty in ["memory", "blocks", "syscalls"] {
            assert_eq!(rows[empty], 0, "{tool}: {empty} has no rows");
        }
    }

    // Every region name, and per name the count, total and median
    // (nearest rank, DuckDB's quantile_disc) and instructions of the
    // report.
    let closed = &got["duckdb"]["closed"];
    let mut names = Vec::new();
    for r in report["regions"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        names.push(name.to_string());
        let c = &closed[name];
        assert_eq!(c["count"], r["count"], "{name}: {c}");
        assert_eq!(c["total"], r["total_ns"], "{name}: {c}");
        assert_eq!(c["median"], r["median_ns"], "{name}: {c}");
        assert_eq!(c["insns"], r["insns"]["total"], "{name}: {c}");
        assert!(c["insns"].as_u64().unwrap() > 0, "{name}: counted");
    }
    names.sort();
    assert!(names.iter().any(|n| n == "child work"), "{names:?}");
    assert!(names.iter().any(|n| n == "compute"), "{names:?}");
    let pandas_names: Vec<String> = serde_json::from_value(got["pandas"]["names"].clone()).unwrap();
    assert_eq!(pandas_names, names);

    // The README's GROUP BY query, and polars' figures, agree.
    let by_name = got["duckdb"]["by_name"].as_object().unwrap();
    let polars = &got["polars"]["by_name"];
    assert_eq!(by_name.len(), names.len());
    for (name, row) in by_name {
        assert_eq!(row[0], polars[name][0], "{name}");
        assert_eq!(row[1], polars[name][1], "{name}: median");
        assert_eq!(row[0], ITERATIONS.min(row[0].as_u64().unwrap()));
    }
    assert_eq!(by_name["compute"][0], ITERATIONS);
    assert_eq!(polars["compute"][2], closed["compute"]["total"]);

    // Names of the events: regions open and close by name, the named
    // point is called by its name, and both processes are there.
    let roles = &got["duckdb"]["roles"];
    assert_eq!(roles["open"], roles["close"], "{roles}");
    assert_eq!(got["duckdb"]["points"]["tick"], ITERATIONS / 10);
    let pids = got["duckdb"]["pids"].as_array().unwrap();
    let want: Vec<u64> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pid"].as_u64().unwrap())
        .collect();
    let mut want = want;
    want.sort();
    assert_eq!(
        pids.iter().map(|p| p.as_u64().unwrap()).collect::<Vec<_>>(),
        want
    );
    assert!(got["pandas"]["ts_increasing_per_pid"].as_bool().unwrap());

    // Integer nanoseconds, strings as strings, guest words unsigned.
    let types = &got["duckdb"]["types"];
    for (table, column, ty) in [
        ("events", "ts_ns", "BIGINT"),
        ("events", "wall_ns", "BIGINT"),
        ("events", "arg1", "UBIGINT"),
        ("events", "role", "VARCHAR"),
        ("regions", "name", "VARCHAR"),
        ("regions", "duration_ns", "BIGINT"),
        ("regions", "closed", "BOOLEAN"),
        ("memory", "address", "UBIGINT"),
        ("syscalls", "name", "VARCHAR"),
        ("syscalls", "ret", "BIGINT"),
        ("blocks", "pc", "UBIGINT"),
    ] {
        assert_eq!(
            types[table][column], ty,
            "{table}.{column}: {}",
            types[table]
        );
    }
    assert_eq!(got["polars"]["dtypes"]["start_ns"], "Int64");
    assert_eq!(got["pandas"]["ts_dtype"], "int64");
}

#[test]
fn memory_blocks_and_system_calls_get_their_own_tables() {
    let (dir, _) = temp_base();
    let files = traced_run(
        dir.path(),
        3,
        &[
            "-trace",
            "enable=guest_user_syscall*",
            "-trace",
            "enable=guest_mem_before_exec",
            "-trace",
            "enable=guest_exec_tb",
        ],
    );
    let tables = dir.path().join("tables");
    convert(&files, &tables);
    let got = query(&tables);

    // What the traces hold, counted the way a reader of the format would.
    let mut counts: HashMap<EventKind, u64> = HashMap::new();
    let mut stores = 0;
    for f in &files {
        let file = TraceFile::open(f).unwrap();
        for r in file.records() {
            let r = r.unwrap();
            *counts.entry(r.kind).or_default() += 1;
            stores += u64::from(r.kind == EventKind::MemAccess && r.client & 0x10 != 0);
        }
    }
    let count = |k| counts.get(&k).copied().unwrap_or(0);
    let rows = &got["duckdb"]["rows"];
    assert!(count(EventKind::MemAccess) > 0 && count(EventKind::ExecTb) > 0);
    assert_eq!(rows["memory"], count(EventKind::MemAccess), "{rows}");
    assert_eq!(rows["blocks"], count(EventKind::ExecTb), "{rows}");
    assert_eq!(
        rows["syscalls"],
        count(EventKind::Syscall) + count(EventKind::SyscallRet),
        "{rows}"
    );
    assert_eq!(got["duckdb"]["stores"], stores);
    assert_eq!(rows["events"], report(&files)["events"], "{rows}");
    // The system calls by name: named-regions forks and prints.
    let syscalls = &got["duckdb"]["syscalls"];
    assert!(syscalls["write"].as_u64().unwrap() > 0, "{syscalls}");
    assert!(
        syscalls.get("fork").or(syscalls.get("clone")).is_some(),
        "{syscalls}"
    );
}

#[test]
fn parquet_needs_an_output_directory() {
    let (dir, _) = temp_base();
    let files = traced_run(dir.path(), 1, &[]);
    let out = ht_trace(&["convert", "--to", "parquet"], &files[..1]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "ht-trace: --to parquet writes a directory of tables: give it with -o DIR"
    );
    let out = ht_trace(&["convert", "--to", "parquet", "-o", "-"], &files[..1]);
    assert!(!out.status.success());

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = ht_trace(
        &["convert", "--to", "parquet", "-o", file.to_str().unwrap()],
        &files[..1],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exists and is not a directory") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");

    // A damaged trace is refused in one line, and leaves no table behind.
    let bad = dir.path().join("bad.bin");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&bad, bytes).unwrap();
    let out_dir = dir.path().join("out");
    let out = ht_trace(
        &[
            "convert",
            "--to",
            "parquet",
            "-o",
            out_dir.to_str().unwrap(),
        ],
        &[bad],
    );
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn guest_words_read_back_unsigned_and_whole() {
    // The events guest: event i has arg1 = i and the data slots i, 3i+1
    // and !i, so arg4 needs all 64 bits.
    const N: u64 = 5000;
    let (dir, base) = temp_base();
    let trace = dir.path().join("run.bin");
    let out = ht(["-hypertrace".as_ref(), base.as_os_str()])
        .arg("-trace-file")
        .arg(&trace)
        .arg(guest("events"))
        .arg(&base)
        .arg(N.to_string())
        .output()
        .expect("run ht-user");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tables = dir.path().join("tables");
    convert(&[trace], &tables);
    let sql = format!(
        "SELECT count(*), count(*) FILTER (WHERE arg2 = arg1 AND arg3 = 3 * arg1 + 1 \
         AND arg4 = 18446744073709551615 - arg1), max(arg4), \
         count(*) FILTER (WHERE role = 'progress') FROM '{}/events.parquet'",
        tables.display()
    );
    let script = "import duckdb, json, sys; \
                  print(json.dumps([int(v) for v in duckdb.connect().execute(sys.argv[1]).fetchall()[0]]))";
    let out = Command::new(python())
        .args(["-c", script, &sql])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<u64> = serde_json::from_slice(&out.stdout).unwrap();
    // arg1=1 opens a region that never closes, arg1=0 is an unmatched close.
    assert_eq!(got, vec![N, N, u64::MAX, N - 2]);
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace report`: one trace's regions and progress points, as text or
//! JSON.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::text::{duration, iso_utc, rate, shown_name, Table};
use super::{Analysis, RegionSpec};
use crate::trace::file::TraceFile;

/// Lines describing where a trace comes from.
pub fn describe(file: &TraceFile) -> String {
    let info = &file.info;
    let mut out = String::new();
    let field = |k: &str| info.get(k).unwrap_or_else(|| "?".to_string());
    let argv = info
        .get("argv")
        .map(|a| a.split('\0').collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let _ = writeln!(out, "trace     {}", file.path().display());
    let _ = writeln!(
        out,
        "program   {} ({}), argv: {argv}",
        field("program"),
        field("arch")
    );
    let _ = writeln!(
        out,
        "recorded  by {}, pid {}, format {}.{}, {} arguments per event",
        field("tool"),
        info.pid,
        file.version.0,
        file.version.1,
        info.event_args
    );
    if let Some(t) = &file.truncation {
        let _ = writeln!(out, "warning   {t}");
    }
    if file.declared_count.is_none() {
        let _ = writeln!(
            out,
            "warning   incomplete: the record count was never written (the trace went to a \
             pipe, or its ht-user was killed or is still running); {} whole records read",
            file.records
        );
    }
    out
}

fn specs_line(specs: &[RegionSpec]) -> String {
    specs
        .iter()
        .map(|s| {
            let key = match (s.key_arg, s.key_value) {
                (Some(k), Some(v)) => format!(", only where arg{k}={v}"),
                (Some(k), None) => format!(", told apart by arg{k}"),
                _ => String::new(),
            };
            format!(
                "'{}' opens at arg1={}, closes at arg1={}{key}",
                s.name, s.open, s.close
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The human-readable report.
/// The files of a report of several traces, after the first's
/// description: their pids and paths.
fn other_files(files: &[TraceFile]) -> String {
    if files.len() < 2 {
        return String::new();
    }
    let list: Vec<String> = files
        .iter()
        .map(|f| format!("{} (pid {})", f.path().display(), f.info.pid))
        .collect();
    format!(
        "files     {} traces pooled: {}\n",
        files.len(),
        list.join(", ")
    )
}

/// The report of one trace, or of several pooled (`files[0]` describes
/// the run; [`Analysis::run_files`]).
pub fn text(files: &[TraceFile], specs: &[RegionSpec], a: &Analysis) -> String {
    let file = &files[0];
    let mut out = describe(file);
    out.push_str(&other_files(files));
    if a.events == 0 {
        let _ = writeln!(out, "events    none");
        return out;
    }
    let clients: Vec<String> = a.clients.iter().map(u32::to_string).collect();
    let _ = writeln!(
        out,
        "events    {} from {} to {} ({}), {} over the span; clients {}",
        a.events,
        iso_utc(file.info.anchor.wall_ns(a.first_ns)),
        iso_utc(file.info.anchor.wall_ns(a.last_ns)),
        duration(a.span_ns() as f64),
        a.rate(a.events).map_or("-".to_string(), rate),
        clients.join(", ")
    );
    let _ = writeln!(
        out,
        "regions   {}; and those the guest named",
        specs_line(specs)
    );
    out.push('\n');

    if a.regions.is_empty() {
        out.push_str("no regions\n");
    } else {
        let mut t = Table::new(&[
            "region",
            "count",
            "total ns",
            "min ns",
            "median ns",
            "p90 ns",
            "p99 ns",
            "max ns",
            "progress",
            "progress/s",
        ]);
        for r in &a.regions {
            let mut row = vec![shown_name(&r.label)];
            match r.stats {
                Some(s) => row.extend([
                    s.count.to_string(),
                    s.total.to_string(),
                    s.min.to_string(),
                    s.median.to_string(),
                    s.p90.to_string(),
                    s.p99.to_string(),
                    s.max.to_string(),
                ]),
                None => {
                    row.push("0".to_string());
                    row.extend(std::iter::repeat_n("-".to_string(), 6));
                }
            }
            row.push(r.progress.to_string());
            row.push(r.progress_rate().map_or("-".to_string(), rate));
            t.row(row);
        }
        out.push_str(&t.render(""));
        if a.regions.iter().any(|r| r.insn_stats.is_some()) {
            out.push_str(&insn_table(a));
        }
        for r in &a.regions {
            if let Some(s) = r.stats {
                let _ = writeln!(
                    out,
                    // Nanoseconds, as in the table above.
                    "  {}: median {} ns, middle half {} .. {} ns",
                    shown_name(&r.label),
                    s.median,
                    s.p25,
                    s.p75
                );
            }
        }
    }
    for r in a.regions.iter().filter(|r| r.unclosed > 0) {
        let _ = writeln!(
            out,
            "note: {} '{}' region(s) never closed (not counted)",
            r.unclosed,
            shown_name(&r.label)
        );
    }
    if a.unmatched_closes > 0 {
        let _ = writeln!(
            out,
            "note: {} close event(s) without an open region on their client",
            a.unmatched_closes
        );
    }
    out.push('\n');

    if a.progress_total == 0 {
        out.push_str("no progress points\n");
    } else {
        let mut t = Table::new(&["progress points", "count", "per second", "in regions"]);
        let row = |name: String, count: u64, inside: u64| {
            vec![
                name,
                count.to_string(),
                a.rate(count).map_or("-".to_string(), rate),
                inside.to_string(),
            ]
        };
        t.row(row(
            "all".to_string(),
            a.progress_total,
            a.progress_in_regions,
        ));
        for p in &a.progress {
            let name = match (&p.name, p.arg1) {
                (Some(n), _) => shown_name(n),
                (None, Some(v)) => format!("arg1={v}"),
                (None, None) => "other values".to_string(),
            };
            t.row(row(name, p.count, p.in_regions));
        }
        out.push_str(&t.render(""));
    }
    out
}

/// Guest instructions (exact, repeatable) and blocks per region.
fn insn_table(a: &Analysis) -> String {
    let mut t = Table::new(&[
        "region",
        "counted",
        "total insns",
        "min insns",
        "median insns",
        "max insns",
        "median blocks",
        "insns/s",
    ]);
    for r in &a.regions {
        let mut row = vec![shown_name(&r.label)];
        match r.insn_stats {
            Some(s) => {
                // Instructions per second of the region's host time.
                let per_s = r
                    .stats
                    .filter(|d| d.total > 0 && s.count == d.count)
                    .map(|d| s.total as f64 * 1e9 / d.total as f64);
                row.extend([
                    s.count.to_string(),
                    s.total.to_string(),
                    s.min.to_string(),
                    s.median.to_string(),
                    s.max.to_string(),
                    r.block_stats
                        .map_or("-".to_string(), |b| b.median.to_string()),
                    per_s.map_or("-".to_string(), rate),
                ]);
            }
            None => {
                row.push("0".to_string());
                row.extend(std::iter::repeat_n("-".to_string(), 6));
            }
        }
        t.row(row);
    }
    format!("\n{}", t.render(""))
}

/// Order statistics as a JSON object, or null.
pub(super) fn json_stats(stats: Option<super::Stats>) -> Value {
    match stats {
        Some(s) => json!({
            "count": s.count, "total": big(s.total), "min": s.min, "p25": s.p25,
            "median": s.median, "p75": s.p75, "p90": s.p90, "p99": s.p99,
            "max": s.max, "mean": finite(Some(s.mean)),
        }),
        None => Value::Null,
    }
}

/// A sum for JSON: exact while it fits 64 bits (584 years of ns), a float
/// beyond.
fn big(v: u128) -> Value {
    u64::try_from(v).map_or_else(|_| Value::from(v as f64), Value::from)
}

/// A float for JSON: finite values as numbers, others as null.
pub(super) fn finite(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite()).map_or(Value::Null, Value::from)
}

/// The same figures as JSON (durations in ns, rates per second).
pub fn json(files: &[TraceFile], specs: &[RegionSpec], a: &Analysis) -> String {
    let file = &files[0];
    let metadata: serde_json::Map<String, Value> = file
        .info
        .metadata
        .iter()
        .map(|(k, _)| (k.clone(), Value::from(file.info.get(k).unwrap_or_default())))
        .collect();
    let regions: Vec<Value> = a
        .regions
        .iter()
        .map(|r| {
            let mut o = json!({ "name": r.label });
            match r.stats {
                Some(s) => {
                    o["count"] = Value::from(s.count);
                    o["total_ns"] = big(s.total);
                    for (k, v) in [
                        ("min_ns", s.min),
                        ("p25_ns", s.p25),
                        ("median_ns", s.median),
                        ("p75_ns", s.p75),
                        ("p90_ns", s.p90),
                        ("p99_ns", s.p99),
                        ("max_ns", s.max),
                    ] {
                        o[k] = Value::from(v);
                    }
                    o["mean_ns"] = finite(Some(s.mean));
                }
                None => o["count"] = Value::from(0),
            }
            o["unclosed"] = Value::from(r.unclosed);
            o["progress"] = Value::from(r.progress);
            o["progress_per_s"] = finite(r.progress_rate());
            o["insns"] = json_stats(r.insn_stats);
            o["blocks"] = json_stats(r.block_stats);
            o
        })
        .collect();
    let report = json!({
        "file": file.path().display().to_string(),
        "files": files
            .iter()
            .map(|f| json!({ "path": f.path().display().to_string(), "pid": f.info.pid }))
            .collect::<Vec<_>>(),
        "metadata": metadata,
        "pid": file.info.pid,
        "event_args": file.info.event_args,
        "events": a.events,
        "first_ns": a.first_ns,
        "last_ns": a.last_ns,
        "span_ns": a.span_ns(),
        "region_specs": specs
            .iter()
            .map(|s| json!({
                "name": s.name, "open": s.open, "close": s.close,
                "key_arg": s.key_arg, "key_value": s.key_value,
            }))
            .collect::<Vec<_>>(),
        "regions": regions,
        "progress_total": a.progress_total,
        "progress_in_regions": a.progress_in_regions,
        "progress_per_s": finite(a.rate(a.progress_total)),
        "progress": a
            .progress
            .iter()
            .map(|p| json!({
                "arg1": p.arg1, "name": p.name, "count": p.count,
                "per_s": finite(a.rate(p.count)), "in_regions": p.in_regions,
            }))
            .collect::<Vec<_>>(),
        "unmatched_closes": a.unmatched_closes,
    });
    format!("{report}\n")
}

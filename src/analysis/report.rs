// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace report`: one trace's regions and progress points, as text or
//! JSON.

use std::fmt::Write as _;

use super::text::{duration, iso_utc, json_f64, json_str, rate, shown_name, Table};
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
            "warning   incomplete: the trace was never closed (its ht-user was killed or is \
             still running); {} whole records read",
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
pub(super) fn json_stats(o: &mut String, stats: Option<super::Stats>) {
    match stats {
        Some(s) => {
            let _ = write!(
                o,
                "{{\"count\":{},\"total\":{},\"min\":{},\"p25\":{},\"median\":{},\"p75\":{},\"p90\":{},\"p99\":{},\"max\":{},\"mean\":{}}}",
                s.count, s.total, s.min, s.p25, s.median, s.p75, s.p90, s.p99, s.max,
                json_f64(Some(s.mean))
            );
        }
        None => o.push_str("null"),
    }
}

/// The same figures as JSON (durations in ns, rates per second).
pub fn json(files: &[TraceFile], specs: &[RegionSpec], a: &Analysis) -> String {
    let file = &files[0];
    let mut o = String::from("{");
    o.push_str("\"file\":");
    json_str(&mut o, &file.path().display().to_string());
    o.push_str(",\"files\":[");
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"path\":");
        json_str(&mut o, &f.path().display().to_string());
        let _ = write!(o, ",\"pid\":{}}}", f.info.pid);
    }
    o.push(']');
    o.push_str(",\"metadata\":{");
    for (i, (k, _)) in file.info.metadata.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        json_str(&mut o, k);
        o.push(':');
        json_str(&mut o, &file.info.get(k).unwrap_or_default());
    }
    let _ = write!(
        o,
        "}},\"pid\":{},\"event_args\":{},\"events\":{},\"first_ns\":{},\"last_ns\":{},\"span_ns\":{}",
        file.info.pid,
        file.info.event_args,
        a.events,
        a.first_ns,
        a.last_ns,
        a.span_ns()
    );
    o.push_str(",\"region_specs\":[");
    for (i, s) in specs.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"name\":");
        json_str(&mut o, &s.name);
        let _ = write!(
            o,
            ",\"open\":{},\"close\":{},\"key_arg\":{},\"key_value\":{}}}",
            s.open,
            s.close,
            s.key_arg.map_or("null".to_string(), |k| k.to_string()),
            s.key_value.map_or("null".to_string(), |v| v.to_string())
        );
    }
    o.push_str("],\"regions\":[");
    for (i, r) in a.regions.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"name\":");
        json_str(&mut o, &r.label);
        match r.stats {
            Some(s) => {
                let _ = write!(
                    o,
                    ",\"count\":{},\"total_ns\":{},\"min_ns\":{},\"p25_ns\":{},\"median_ns\":{},\"p75_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"max_ns\":{},\"mean_ns\":{}",
                    s.count, s.total, s.min, s.p25, s.median, s.p75, s.p90, s.p99, s.max,
                    json_f64(Some(s.mean))
                );
            }
            None => o.push_str(",\"count\":0"),
        }
        let _ = write!(
            o,
            ",\"unclosed\":{},\"progress\":{},\"progress_per_s\":{}",
            r.unclosed,
            r.progress,
            json_f64(r.progress_rate())
        );
        o.push_str(",\"insns\":");
        json_stats(&mut o, r.insn_stats);
        o.push_str(",\"blocks\":");
        json_stats(&mut o, r.block_stats);
        o.push('}');
    }
    let _ = write!(
        o,
        "],\"progress_total\":{},\"progress_in_regions\":{},\"progress_per_s\":{},\"progress\":[",
        a.progress_total,
        a.progress_in_regions,
        json_f64(a.rate(a.progress_total))
    );
    for (i, p) in a.progress.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"arg1\":{},\"name\":{},\"count\":{},\"per_s\":{},\"in_regions\":{}}}",
            p.arg1.map_or("null".to_string(), |v| v.to_string()),
            p.name.as_deref().map_or("null".to_string(), |n| {
                let mut s = String::new();
                json_str(&mut s, n);
                s
            }),
            p.count,
            json_f64(a.rate(p.count)),
            p.in_regions
        );
    }
    let _ = write!(o, "],\"unmatched_closes\":{}}}", a.unmatched_closes);
    o.push('\n');
    o
}

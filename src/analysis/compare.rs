// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace compare A B`: two runs' region statistics side by side, the
//! ratio B/A, and whether the difference stands out from the noise. A run
//! may be several files (a forked run's), pooled as `report` pools them.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::report::{finite, json_stats};
use super::text::{duration, rate, Table};
use super::{Analysis, RegionReport, Stats};
use crate::trace::file::TraceFile;

/// Fewer closed regions than this on either side make a verdict unsafe.
const FEW: u64 = 5;

/// One statistic, as a number to print and divide.
type Field = fn(&Stats) -> u128;

/// How the two spreads of one region relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The middle halves (p25..p75) overlap: the difference may be noise.
    Noise,
    /// B's middle half lies wholly above A's.
    Slower,
    /// B's middle half lies wholly below A's.
    Faster,
    /// Too few regions on one side to tell.
    TooFew,
}

pub fn verdict(a: &Stats, b: &Stats) -> Verdict {
    if a.count < FEW || b.count < FEW {
        Verdict::TooFew
    } else if b.p25 > a.p75 {
        Verdict::Slower
    } else if b.p75 < a.p25 {
        Verdict::Faster
    } else {
        Verdict::Noise
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 {
        format!("{:.2}", b / a)
    } else {
        "-".to_string()
    }
}

/// A run's files, program and events.
fn source(files: &[TraceFile], a: &Analysis) -> String {
    let program = files[0].info.get("program").unwrap_or_else(|| "?".into());
    let paths: Vec<String> = files
        .iter()
        .map(|f| f.path().display().to_string())
        .collect();
    format!(
        "{} ({}, {} events over {})",
        paths.join(", "),
        program,
        a.events,
        duration(a.span_ns() as f64)
    )
}

/// Region names in A's order, then those only in B.
fn labels<'a>(a: &'a Analysis, b: &'a Analysis) -> Vec<&'a str> {
    let mut v: Vec<&str> = a.regions.iter().map(|r| r.label.as_str()).collect();
    for r in &b.regions {
        if !v.contains(&r.label.as_str()) {
            v.push(&r.label);
        }
    }
    v
}

/// The comparison of trace A, analysed in `a`, with trace B.
pub fn text(fa: &TraceFile, a: &Analysis, fb: &TraceFile, b: &Analysis) -> String {
    text_files(std::slice::from_ref(fa), a, std::slice::from_ref(fb), b)
}

/// The comparison of run A (its files `fa`, pooled in `a`) with run B.
pub fn text_files(fa: &[TraceFile], a: &Analysis, fb: &[TraceFile], b: &Analysis) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A  {}", source(fa, a));
    let _ = writeln!(out, "B  {}", source(fb, b));
    out.push('\n');
    let mut t = Table::new(&["region", "", "A", "B", "B/A"]);
    let mut notes = Vec::new();
    for label in labels(a, b) {
        let ra = a.region(label);
        let rb = b.region(label);
        let sa = ra.and_then(|r| r.stats);
        let sb = rb.and_then(|r| r.stats);
        let cell = |s: Option<Stats>, f: Field| s.map_or("-".to_string(), |s| f(&s).to_string());
        let rows: [(&str, Field); 7] = [
            ("count", |s| s.count as u128),
            ("total ns", |s| s.total),
            ("min ns", |s| s.min as u128),
            ("median ns", |s| s.median as u128),
            ("p90 ns", |s| s.p90 as u128),
            ("p99 ns", |s| s.p99 as u128),
            ("max ns", |s| s.max as u128),
        ];
        for (i, (name, f)) in rows.iter().enumerate() {
            let r = match (sa, sb) {
                (Some(x), Some(y)) => ratio(f(&x) as f64, f(&y) as f64),
                _ => "-".to_string(),
            };
            t.row(vec![
                if i == 0 {
                    super::text::shown_name(label)
                } else {
                    String::new()
                },
                name.to_string(),
                cell(sa, *f),
                cell(sb, *f),
                r,
            ]);
        }
        // Instruction counts are exact: their ratio is not noise.
        let ia = ra.and_then(|r| r.insn_stats);
        let ib = rb.and_then(|r| r.insn_stats);
        if ia.is_some() || ib.is_some() {
            let insn_rows: [(&str, Field); 3] = [
                ("min insns", |s| s.min as u128),
                ("median insns", |s| s.median as u128),
                ("max insns", |s| s.max as u128),
            ];
            for (name, f) in insn_rows {
                t.row(vec![
                    String::new(),
                    name.to_string(),
                    cell(ia, f),
                    cell(ib, f),
                    match (ia, ib) {
                        (Some(x), Some(y)) => ratio(f(&x) as f64, f(&y) as f64),
                        _ => "-".to_string(),
                    },
                ]);
            }
        }
        let pr = |r: Option<&RegionReport>| r.and_then(RegionReport::progress_rate);
        if pr(ra).is_some() || pr(rb).is_some() {
            t.row(vec![
                String::new(),
                "progress/s".to_string(),
                pr(ra).map_or("-".to_string(), rate),
                pr(rb).map_or("-".to_string(), rate),
                match (pr(ra), pr(rb)) {
                    (Some(x), Some(y)) => ratio(x, y),
                    _ => "-".to_string(),
                },
            ]);
        }
        if let (Some(x), Some(y)) = (ia, ib) {
            let r = ratio(x.median as f64, y.median as f64);
            notes.push(if x.min == x.max && y.min == y.max {
                format!(
                    "{label}: instructions B/A {r} exactly ({} against {}, the same in every region)",
                    y.median, x.median
                )
            } else {
                format!(
                    "{label}: median instructions B/A {r} (exact counts; A {}..{}, B {}..{} across regions)",
                    x.min, x.max, y.min, y.max
                )
            });
        }
        notes.push(match (sa, sb) {
            (Some(x), Some(y)) => {
                // In ns, as the table above.
                let spreads = format!(
                    "middle halves A {}..{} ns, B {}..{} ns",
                    x.p25, x.p75, y.p25, y.p75
                );
                let r = ratio(x.median as f64, y.median as f64);
                match verdict(&x, &y) {
                    Verdict::Noise => format!(
                        "{label}: median B/A {r}, but the spreads overlap ({spreads}): the difference may be noise"
                    ),
                    Verdict::Slower => {
                        format!("{label}: B is slower, median B/A {r} ({spreads} do not overlap)")
                    }
                    Verdict::Faster => {
                        format!("{label}: B is faster, median B/A {r} ({spreads} do not overlap)")
                    }
                    Verdict::TooFew => format!(
                        "{label}: median B/A {r}, from fewer than {FEW} regions on a side: too few to tell noise from change"
                    ),
                }
            }
            (Some(_), None) => format!("{label}: only in A"),
            (None, Some(_)) => format!("{label}: only in B"),
            (None, None) => format!("{label}: never closed in either trace"),
        });
    }
    if notes.is_empty() {
        out.push_str("no regions in either trace\n");
    } else {
        out.push_str(&t.render(""));
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    let (pa, pb) = (a.rate(a.progress_total), b.rate(b.progress_total));
    if a.progress_total > 0 || b.progress_total > 0 {
        let _ = writeln!(
            out,
            "progress points: A {} ({}), B {} ({}), rate B/A {}",
            a.progress_total,
            pa.map_or("-".to_string(), rate),
            b.progress_total,
            pb.map_or("-".to_string(), rate),
            match (pa, pb) {
                (Some(x), Some(y)) => ratio(x, y),
                _ => "-".to_string(),
            }
        );
    }
    out
}

fn json_side(files: &[TraceFile], a: &Analysis) -> Value {
    json!({
        "file": files[0].path().display().to_string(),
        "files": files
            .iter()
            .map(|f| json!({ "path": f.path().display().to_string(), "pid": f.info.pid }))
            .collect::<Vec<_>>(),
        "program": files[0].info.get("program").unwrap_or_default(),
        "events": a.events,
        "span_ns": a.span_ns(),
        "progress": a.progress_total,
        "progress_per_s": finite(a.rate(a.progress_total)),
    })
}

fn json_ratio(a: f64, b: f64) -> Value {
    finite((a > 0.0).then(|| b / a))
}

/// The comparison as JSON: both traces, and per region both sides' time
/// and instruction statistics (null where a side has none), the median
/// ratios B/A and the verdict of the text form (`noise`, `slower`,
/// `faster`, `too_few`, `only_a`, `only_b`, `neither`).
pub fn json(fa: &TraceFile, a: &Analysis, fb: &TraceFile, b: &Analysis) -> String {
    json_files(std::slice::from_ref(fa), a, std::slice::from_ref(fb), b)
}

/// [`json()`] of runs of several files each (each side's `files` lists
/// them).
pub fn json_files(fa: &[TraceFile], a: &Analysis, fb: &[TraceFile], b: &Analysis) -> String {
    let regions: Vec<Value> = labels(a, b)
        .into_iter()
        .map(|label| {
            let ra = a.region(label);
            let rb = b.region(label);
            let (sa, sb) = (ra.and_then(|r| r.stats), rb.and_then(|r| r.stats));
            let (ia, ib) = (ra.and_then(|r| r.insn_stats), rb.and_then(|r| r.insn_stats));
            let verdict = match (sa, sb) {
                (Some(x), Some(y)) => match verdict(&x, &y) {
                    Verdict::Noise => "noise",
                    Verdict::Slower => "slower",
                    Verdict::Faster => "faster",
                    Verdict::TooFew => "too_few",
                },
                (Some(_), None) => "only_a",
                (None, Some(_)) => "only_b",
                (None, None) => "neither",
            };
            let median_ratio = |x: Option<Stats>, y: Option<Stats>| match (x, y) {
                (Some(x), Some(y)) => json_ratio(x.median as f64, y.median as f64),
                _ => Value::Null,
            };
            json!({
                "name": label,
                "a": { "time_ns": json_stats(sa), "insns": json_stats(ia) },
                "b": { "time_ns": json_stats(sb), "insns": json_stats(ib) },
                "median_ratio": median_ratio(sa, sb),
                "verdict": verdict,
                "insns_median_ratio": median_ratio(ia, ib),
            })
        })
        .collect();
    let comparison = json!({
        "a": json_side(fa, a),
        "b": json_side(fb, b),
        "regions": regions,
        "progress_rate_ratio": match (a.rate(a.progress_total), b.rate(b.progress_total)) {
            (Some(x), Some(y)) => json_ratio(x, y),
            _ => Value::Null,
        },
    });
    format!("{comparison}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[u64]) -> Stats {
        Stats::of(&mut v.to_vec()).unwrap()
    }

    #[test]
    fn verdicts() {
        let a = stats(&[10, 11, 12, 13, 14, 15, 16, 17]);
        let same = stats(&[11, 12, 13, 14, 15, 16, 17, 18]);
        let slow = stats(&[20, 21, 22, 23, 24, 25, 26, 27]);
        let fast = stats(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(verdict(&a, &same), Verdict::Noise);
        assert_eq!(verdict(&a, &slow), Verdict::Slower);
        assert_eq!(verdict(&a, &fast), Verdict::Faster);
        assert_eq!(verdict(&a, &stats(&[100])), Verdict::TooFew);
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace plot`: region duration histograms as SVG, one panel per
//! region name; with two traces, their histograms overlaid (A/B).

use std::fmt::Write as _;

use super::text::duration;
use super::Analysis;

const WIDTH: f64 = 760.0;
const PANEL: f64 = 230.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 46.0;
const BINS: usize = 40;
/// Panels drawn at most (regions beyond are listed, not drawn).
pub const MAX_PANELS: usize = 16;
const COLORS: [&str; 2] = ["#1f77b4", "#e8710a"];

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bin edges over `lo..=hi`, logarithmic when the range spans more than a
/// factor of 20; both ends moved out to round values, where the ticks go.
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
}

impl Axis {
    fn new(lo: u64, hi: u64) -> Axis {
        let (lo, mut hi) = (lo as f64, hi as f64);
        if hi <= lo {
            hi = lo + 1.0;
        }
        if lo > 0.0 && hi / lo > 20.0 {
            // Decades, with 2 and 5 between them when there are few.
            let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
            let steps: &[f64] = if last - first <= 2 {
                &[1.0, 2.0, 5.0]
            } else {
                &[1.0]
            };
            let ticks = (first..=last)
                .flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e)))
                .filter(|&t| t <= 10f64.powi(last))
                .collect();
            return Axis {
                lo: 10f64.powi(first),
                hi: 10f64.powi(last),
                log: true,
                ticks,
            };
        }
        let step = nice_step((hi - lo) / 4.0, true);
        let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
        let count = ((hi - lo) / step).round() as usize;
        Axis {
            lo,
            hi,
            log: false,
            ticks: (0..=count).map(|k| lo + step * k as f64).collect(),
        }
    }

    /// Position of `v` in 0..=1.
    fn frac(&self, v: f64) -> f64 {
        let f = if self.log {
            (v / self.lo).ln() / (self.hi / self.lo).ln()
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        f.clamp(0.0, 1.0)
    }

    fn bin(&self, v: u64) -> usize {
        ((self.frac(v as f64) * BINS as f64) as usize).min(BINS - 1)
    }
}

/// Where the axis ends for sorted durations `d`: the largest, unless it
/// lies more than twice as far as the 99th percentile (one outlier would
/// squeeze every other region into the first bins); the values past the
/// end then count in the last bin and are named under the plot.
fn axis_end(d: &[u64]) -> u64 {
    let Some(&max) = d.last() else { return 1 };
    let p99 = d[(d.len() * 99).div_ceil(100).max(1) - 1];
    if d.len() >= 20 && max > p99.saturating_mul(2) {
        p99
    } else {
        max
    }
}

/// Nearest-rank median of sorted values.
fn median(d: &[u64]) -> u64 {
    d[d.len().div_ceil(2) - 1]
}

/// The smallest of 1, 2, 5 x 10^k at least `v` (at least 1 for counts).
fn nice_step(v: f64, whole: bool) -> f64 {
    let v = if whole { v.max(1.0) } else { v.max(1e-3) };
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&s| s >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// A tick value without needless decimals.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The SVG for one or two analysed traces, named by `names`.
pub fn svg(series: &[(&str, &Analysis)]) -> Result<String, String> {
    assert!(!series.is_empty() && series.len() <= 2);
    let mut labels: Vec<&str> = Vec::new();
    for (_, a) in series {
        for r in &a.regions {
            if !r.durations.is_empty() && !labels.contains(&r.label.as_str()) {
                labels.push(&r.label);
            }
        }
    }
    if labels.is_empty() {
        return Err("no closed regions to plot".to_string());
    }
    let skipped = labels.len().saturating_sub(MAX_PANELS);
    labels.truncate(MAX_PANELS);
    let legend_h = 22.0 * series.len() as f64 + 8.0;
    let height = legend_h + PANEL * labels.len() as f64 + if skipped > 0 { 24.0 } else { 0.0 };
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, (name, _)) in series.iter().enumerate() {
        let y = 8.0 + 22.0 * i as f64;
        let tag = if series.len() == 2 {
            ["A: ", "B: "][i]
        } else {
            ""
        };
        let _ = writeln!(
            o,
            r#"<rect x="{LEFT}" y="{y}" width="14" height="14" fill="{}" fill-opacity="0.6"/><text x="{}" y="{}">{}{}</text>"#,
            COLORS[i],
            LEFT + 20.0,
            y + 12.0,
            tag,
            xml(name)
        );
    }
    for (p, label) in labels.iter().enumerate() {
        panel(&mut o, legend_h + PANEL * p as f64, label, series);
    }
    if skipped > 0 {
        let _ = writeln!(
            o,
            r#"<text x="{LEFT}" y="{}">{skipped} more region names not drawn</text>"#,
            height - 8.0
        );
    }
    o.push_str("</svg>\n");
    Ok(o)
}

fn panel(o: &mut String, top: f64, label: &str, series: &[(&str, &Analysis)]) {
    let data: Vec<&[u64]> = series
        .iter()
        .map(|(_, a)| a.region(label).map_or(&[][..], |r| &r.durations[..]))
        .collect();
    let lo = data
        .iter()
        .filter_map(|d| d.first())
        .min()
        .copied()
        .unwrap_or(0);
    let hi = data.iter().map(|d| axis_end(d)).max().unwrap_or(1).max(lo);
    let axis = Axis::new(lo, hi);
    let beyond: usize = data
        .iter()
        .map(|d| d.iter().filter(|&&v| v as f64 > axis.hi).count())
        .sum();
    let share = series.len() > 1;
    let counts: Vec<Vec<f64>> = data
        .iter()
        .map(|d| {
            let mut c = vec![0.0; BINS];
            for &v in *d {
                c[axis.bin(v)] += 1.0;
            }
            if share && !d.is_empty() {
                let n = d.len() as f64;
                c.iter_mut().for_each(|x| *x *= 100.0 / n);
            }
            c
        })
        .collect();
    let highest = counts.iter().flatten().fold(0.0f64, |m, &v| m.max(v));
    let ystep = nice_step(highest / 3.0, !share);
    let yticks = (highest / ystep).ceil().max(1.0) as usize;
    let ymax = ystep * yticks as f64;
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let (y0, y1) = (top + TOP, top + PANEL - BOTTOM);
    let px = |f: f64| x0 + (x1 - x0) * f;
    let py = |v: f64| y1 - (y1 - y0) * v / ymax;

    let title: Vec<String> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let tag = if share { ["A ", "B "][i] } else { "" };
            if d.is_empty() {
                format!("{tag}none")
            } else {
                format!("{tag}n={} median {}", d.len(), duration(median(d) as f64))
            }
        })
        .collect();
    let _ = writeln!(
        o,
        r#"<text x="{x0}" y="{}" font-weight="bold">{}</text><text x="{x1}" y="{}" text-anchor="end">{}</text>"#,
        top + 20.0,
        xml(label),
        top + 20.0,
        xml(&title.join(", "))
    );
    for (s, c) in counts.iter().enumerate() {
        for (b, &v) in c.iter().enumerate() {
            if v <= 0.0 {
                continue;
            }
            let (bx0, bx1) = (px(b as f64 / BINS as f64), px((b + 1) as f64 / BINS as f64));
            let _ = writeln!(
                o,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.55"/>"#,
                bx0 + 0.5,
                py(v),
                (bx1 - bx0 - 1.0).max(0.5),
                y1 - py(v),
                COLORS[s]
            );
        }
        let d = data[s];
        if !d.is_empty() {
            let x = px(axis.frac(median(d) as f64));
            let _ = writeln!(
                o,
                r#"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="{}" stroke-width="1.5" stroke-dasharray="4 3"/>"#,
                COLORS[s]
            );
        }
    }
    let _ = writeln!(
        o,
        r##"<path d="M{x0} {y0} V{y1} H{x1}" fill="none" stroke="#333"/>"##
    );
    for &t in &axis.ticks {
        let x = px(axis.frac(t));
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{}" stroke="#333"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            y1 + 4.0,
            y1 + 17.0,
            duration(t)
        );
    }
    for t in 0..=yticks {
        let v = ystep * t as f64;
        let y = py(v);
        let text = if share {
            format!("{}%", trim(v))
        } else {
            trim(v)
        };
        let _ = writeln!(
            o,
            r##"<line x1="{}" y1="{y:.1}" x2="{x0}" y2="{y:.1}" stroke="#333"/><text x="{}" y="{:.1}" text-anchor="end">{text}</text>"##,
            x0 - 4.0,
            x0 - 7.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        o,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">region duration{}{}</text>"##,
        (x0 + x1) / 2.0,
        y1 + 34.0,
        if axis.log { " (log scale)" } else { "" },
        if beyond > 0 {
            format!(
                "; {beyond} longer than {} in the last bin",
                duration(axis.hi)
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        r##"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>"##,
        (y0 + y1) / 2.0,
        if share { "share of regions" } else { "regions" }
    );
}

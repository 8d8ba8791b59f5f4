// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace plot` on a real run of the `named-regions` guest (a parent
//! and a forked child): SVG with a panel per region name, its ticks and
//! legend; PNG decoded and looked at.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{forked_named_regions, temp_base};

/// Regions per name in the parent: enough for the histograms to have a
/// shape, and for an outlier to be clipped.
const ITERATIONS: u64 = 200;

fn ht_trace(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ht-trace"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked"),
        "ht-trace {args:?} panicked: {err}"
    );
    out
}

fn ok(args: &[&str]) -> Vec<u8> {
    let out = ht_trace(args, &[]);
    assert!(
        out.status.success(),
        "ht-trace {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The text elements of an SVG, in document order.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = t.split_once('>')?.1.split_once("</text>")?.0.trim();
            Some(body.replace("&quot;", "\"").replace("&amp;", "&"))
        })
        .collect()
}

fn run(dir: &Path) -> Vec<PathBuf> {
    forked_named_regions(dir, "", &[], ITERATIONS)
}

#[test]
fn svg_has_a_panel_per_region_name_with_round_ticks_and_a_legend() {
    let (dir, _) = temp_base();
    let files = run(dir.path());
    let out = dir.path().join("plot.svg");
    ok(&["plot", s(&files[0]), "-o", s(&out)]);
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    let texts = svg_texts(&svg);
    // The legend names the trace.
    assert_eq!(texts[0], s(&files[0]));
    // A bold title per region name the parent closed.
    let titles: Vec<&str> = svg
        .split("<text")
        .filter(|t| t.contains("font-weight=\"bold\""))
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
        .collect();
    for name in ["compute", "io", "hot", "early"] {
        assert!(titles.contains(&name), "{titles:?}");
    }
    assert!(!titles.contains(&"child work"), "{titles:?}");
    assert!(
        texts.iter().any(|t| t.starts_with("n=200 median ")),
        "{texts:?}"
    );
    // Every duration tick is a round value: one, two or five, times a
    // power of ten, or a multiple of such a step (x.yz with one decimal
    // place in use at most beyond the step).
    let ticks: Vec<&String> = texts
        .iter()
        .filter(|t| {
            let w: Vec<&str> = t.split(' ').collect();
            w.len() == 2 && ["ns", "us", "ms", "s"].contains(&w[1]) && w[0].parse::<f64>().is_ok()
        })
        .collect();
    assert!(ticks.len() >= 4 * 2, "{texts:?}");
    for t in &ticks {
        let v: f64 = t.split(' ').next().unwrap().parse().unwrap();
        let cents = (v * 100.0).round() as u64;
        assert!(cents % 5 == 0, "tick {t} is not a round value: {texts:?}");
    }
    // The axis captions, and counts (not shares) for a single run.
    assert!(texts.iter().any(|t| t.starts_with("region duration")));
    assert!(texts.iter().any(|t| t == "regions"));
    assert!(!texts.iter().any(|t| t == "share of regions"));
}

#[test]
fn two_runs_overlay_as_shares_with_a_legend_each() {
    let (dir, _) = temp_base();
    let files = run(dir.path());
    let out = dir.path().join("ab.svg");
    ok(&["plot", s(&files[0]), s(&files[1]), "-o", s(&out)]);
    let texts = svg_texts(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(texts[0], format!("A: {}", s(&files[0])));
    assert_eq!(texts[1], format!("B: {}", s(&files[1])));
    assert!(texts.iter().any(|t| t == "share of regions"));
    // The child's region is B's only.
    assert!(
        texts.iter().any(|t| t.starts_with("A none, B n=1 median ")),
        "{texts:?}"
    );
}

/// A decoded PNG: width, height and RGB(A) pixels.
fn decode(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let step = frame.color_type.samples();
    assert!(step >= 3, "{:?}", frame.color_type);
    let px = buf[..frame.buffer_size()]
        .chunks(step)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (frame.width, frame.height, px)
}

#[test]
fn png_is_drawn_with_bars_text_and_both_runs_colours() {
    let (dir, _) = temp_base();
    let files = run(dir.path());
    let out = dir.path().join("ab.png");
    ok(&["plot", s(&files[0]), s(&files[1]), "-o", s(&out)]);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h, px) = decode(&bytes);
    // The SVG's layout at twice its size.
    let svg = String::from_utf8(ok(&["plot", s(&files[0]), s(&files[1])])).unwrap();
    assert!(
        svg.starts_with(&format!("<svg width=\"{}\" height=\"{}\"", w / 2, h / 2)),
        "{w}x{h}: {}",
        &svg[..80]
    );
    assert_eq!(px.len(), (w * h) as usize);
    let count = |f: &dyn Fn(&[u8; 3]) -> bool| px.iter().filter(|p| f(p)).count();
    let white = count(&|p| p == &[255, 255, 255]);
    assert!(white < px.len() * 98 / 100, "nearly blank: {white} white");
    assert!(white > px.len() / 2, "mostly background: {white} white");
    // Text and axes: dark pixels; bars: A's blue and B's orange, blended
    // with white.
    assert!(count(&|p| p.iter().all(|&c| c < 90)) > 2000);
    assert!(count(&|p| p[2] > 150 && p[0] < 150) > 1000, "no blue bars");
    assert!(count(&|p| p[0] > 200 && p[2] < 150) > 200, "no orange bars");
    // Standard output takes PNG when asked for.
    let piped = ok(&["plot", "--format", "png", s(&files[0])]);
    assert_eq!(&piped[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn fonts_and_formats_fail_with_one_clear_line() {
    let (dir, _) = temp_base();
    let files = run(dir.path());
    let png = dir.path().join("x.png");
    let out = ht_trace(
        &["plot", s(&files[0]), "-o", s(&png)],
        &[("HT_TRACE_FONT", "/nonexistent/font.ttf")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("HT_TRACE_FONT=/nonexistent/font.ttf"), "{err}");
    assert!(!png.exists());
    // SVG reads no font: the viewer draws its text.
    let svg = dir.path().join("x.svg");
    let out = ht_trace(
        &["plot", s(&files[0]), "-o", s(&svg)],
        &[("HT_TRACE_FONT", "/nonexistent/font.ttf")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ht_trace(&["plot", s(&files[0]), "-o", "x.pdf"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not .pdf"));
}

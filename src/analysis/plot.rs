// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace plot`: region duration histograms, one panel per region name;
//! with two runs, their histograms overlaid (A/B). Drawn with plotters as
//! SVG or PNG.
//!
//! Every piece of text is placed at an anchor point and never measured, so
//! SVG needs no font on the machine (the viewer lays the text out); PNG
//! rasterises its text with a TrueType font found at run time
//! ([`find_font`], [`use_font`]).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use super::text::{duration, shown_name};
use super::Analysis;

const WIDTH: u32 = 760;
const PANEL: u32 = 230;
const LEFT: u32 = 70;
const RIGHT: u32 = 24;
const TOP: u32 = 34;
const BOTTOM: u32 = 46;
const LEGEND_ROW: u32 = 22;
const BINS: usize = 40;
/// Panels drawn at most (regions beyond are listed, not drawn).
pub const MAX_PANELS: usize = 16;
const COLORS: [RGBColor; 2] = [RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xe8, 0x71, 0x0a)];
const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);
const GREY: RGBColor = RGBColor(0x55, 0x55, 0x55);
/// The family plotters writes into SVG and under which [`use_font`]
/// registers the PNG font.
const FAMILY: &str = "sans-serif";
/// Text size in pixels (plotters' font sizes are 1.24 times the pixel size).
const TEXT_PX: f64 = 12.0;

/// Why a plot cannot be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// An output file name whose extension is neither .svg nor .png.
    #[error("{}: plot writes .svg or .png, not .{extension} (or give --format)", path.display())]
    UnknownExtension { path: PathBuf, extension: String },
    /// A `--format` other than svg and png.
    #[error("unknown image format '{0}' (svg or png)")]
    UnknownFormat(String),
    /// No run has a region that closed.
    #[error("no closed regions to plot")]
    NoRegions,
    /// plotters failed (its message: its error type is generic over the
    /// backend).
    #[error("drawing the plot failed: {0}")]
    Draw(String),
    /// The PNG encoder failed.
    #[error("encoding the PNG failed: {0}")]
    Encode(#[source] png::EncodingError),
    /// [`FONT_ENV`] names no file.
    #[error("{FONT_ENV}={}: no such font file", .0.display())]
    NoSuchFont(PathBuf),
    /// No font in the usual places and none named.
    #[error(
        "PNG output needs a TrueType font and none was found: install Debian's \
         fonts-dejavu-core, set {FONT_ENV} to a .ttf file, or write SVG (-o FILE.svg)"
    )]
    NoFont,
    /// The font file cannot be read.
    #[error("cannot read font {}: {source}", path.display())]
    ReadFont {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is no font plotters can use.
    #[error("{}: not a TrueType or OpenType font", .0.display())]
    NotAFont(PathBuf),
}

/// Which image `plot` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    /// The names its `FromStr` takes.
    pub const NAMES: [&'static str; 2] = ["svg", "png"];

    /// The format an output file's extension asks for: `.png` PNG, `.svg`
    /// or none SVG; anything else is refused rather than guessed.
    pub fn for_path(path: &Path) -> Result<ImageFormat, PlotError> {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
        {
            None => Ok(ImageFormat::Svg),
            Some(e) if e == "svg" => Ok(ImageFormat::Svg),
            Some(e) if e == "png" => Ok(ImageFormat::Png),
            Some(extension) => Err(PlotError::UnknownExtension {
                path: path.to_path_buf(),
                extension,
            }),
        }
    }
}

impl std::str::FromStr for ImageFormat {
    type Err = PlotError;
    fn from_str(s: &str) -> Result<Self, PlotError> {
        match s {
            "svg" => Ok(ImageFormat::Svg),
            "png" => Ok(ImageFormat::Png),
            _ => Err(PlotError::UnknownFormat(s.to_string())),
        }
    }
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
        let (mut lo, mut hi) = (lo as f64, hi as f64);
        // A span of at least 4% of the largest value keeps the ticks
        // distinct at three significant digits and puts a lone value
        // inside the axis rather than on its end.
        let least = (hi * 0.04).max(1.0);
        if hi - lo < least {
            let pad = (least - (hi - lo)) / 2.0;
            (lo, hi) = ((lo - pad).max(0.0), hi + pad);
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

/// One region name's histogram(s), ready to draw.
struct Panel {
    label: String,
    /// `n=... median ...` per series.
    summary: String,
    axis: Axis,
    /// Per series: the bin heights (counts, or percentages when shared).
    counts: Vec<Vec<f64>>,
    /// Per series: the median's position on the axis (0..=1), if any.
    medians: Vec<Option<f64>>,
    ystep: f64,
    yticks: usize,
    /// Durations past the axis's end, counted in the last bin.
    beyond: usize,
}

impl Panel {
    fn new(label: &str, series: &[(&str, &Analysis)]) -> Panel {
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
        let beyond = data
            .iter()
            .map(|d| d.iter().filter(|&&v| v as f64 > axis.hi).count())
            .sum();
        // Two runs of different sizes compare by shares, not counts.
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
        let summary: Vec<String> = data
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
        Panel {
            label: label.to_string(),
            summary: summary.join(", "),
            medians: data
                .iter()
                .map(|d| (!d.is_empty()).then(|| axis.frac(median(d) as f64)))
                .collect(),
            axis,
            counts,
            ystep,
            yticks,
            beyond,
        }
    }

    fn ymax(&self) -> f64 {
        self.ystep * self.yticks as f64
    }
}

/// What a plot shows, worked out before any drawing.
struct Figure {
    /// The legend's lines (`A: name`), one per series.
    legend: Vec<String>,
    panels: Vec<Panel>,
    /// Region names past [`MAX_PANELS`].
    skipped: usize,
    share: bool,
    /// Device pixels per layout pixel.
    scale: u32,
}

impl Figure {
    fn new(series: &[(&str, &Analysis)], scale: u32) -> Result<Figure, PlotError> {
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
            return Err(PlotError::NoRegions);
        }
        let skipped = labels.len().saturating_sub(MAX_PANELS);
        labels.truncate(MAX_PANELS);
        let legend = series
            .iter()
            .enumerate()
            .map(|(i, (name, _))| match series.len() {
                1 => name.to_string(),
                _ => format!("{}: {name}", ["A", "B"][i]),
            })
            .collect();
        Ok(Figure {
            legend,
            panels: labels.iter().map(|l| Panel::new(l, series)).collect(),
            skipped,
            share: series.len() > 1,
            scale,
        })
    }

    /// Layout pixels `v` in device pixels.
    fn px(&self, v: u32) -> u32 {
        v * self.scale
    }

    fn legend_height(&self) -> u32 {
        self.px(LEGEND_ROW * self.legend.len() as u32 + 8)
    }

    fn size(&self) -> (u32, u32) {
        let note = if self.skipped > 0 { 24 } else { 0 };
        (
            self.px(WIDTH),
            self.legend_height() + self.px(PANEL * self.panels.len() as u32 + note),
        )
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn text_style(scale: u32, color: &RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    styled_text(scale, FontStyle::Normal, color, h, v)
}

fn styled_text(
    scale: u32,
    style: FontStyle,
    color: &RGBColor,
    h: HPos,
    v: VPos,
) -> TextStyle<'static> {
    (FAMILY, TEXT_PX * 1.24 * f64::from(scale), style)
        .into_font()
        .color(color)
        .pos(Pos::new(h, v))
}

/// Draws `fig` on `root`, which is [`Figure::size`] pixels large.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult<DB> {
    let k = fig.scale as i32;
    root.fill(&WHITE)?;
    for (i, line) in fig.legend.iter().enumerate() {
        let y = k * (8 + LEGEND_ROW as i32 * i as i32);
        let x = k * LEFT as i32;
        root.draw(&Rectangle::new(
            [(x, y), (x + 14 * k, y + 14 * k)],
            COLORS[i].mix(0.6).filled(),
        ))?;
        root.draw(&Text::new(
            line.clone(),
            (x + 20 * k, y + 7 * k),
            text_style(fig.scale, &BLACK, HPos::Left, VPos::Center),
        ))?;
    }
    for (p, panel) in fig.panels.iter().enumerate() {
        let top = fig.legend_height() + fig.px(PANEL * p as u32);
        let area = root
            .clone()
            .shrink((0, top), (fig.px(WIDTH), fig.px(PANEL)));
        draw_panel(root, &area, panel, fig)?;
    }
    if fig.skipped > 0 {
        let (_, h) = fig.size();
        root.draw(&Text::new(
            format!("{} more region names not drawn", fig.skipped),
            (k * LEFT as i32, h as i32 - 12 * k),
            text_style(fig.scale, &BLACK, HPos::Left, VPos::Center),
        ))?;
    }
    root.present()
}

/// One panel: the bars and medians through a chart on `area`; axes, ticks
/// and text at the chart's pixel positions on `root`.
fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    fig: &Figure,
) -> DrawResult<DB> {
    let (share, scale, k) = (fig.share, fig.scale, fig.scale as i32);
    let ymax = panel.ymax();
    let chart = ChartBuilder::on(area)
        .margin_top(fig.px(TOP))
        .margin_right(fig.px(RIGHT))
        .set_label_area_size(LabelAreaPosition::Left, fig.px(LEFT))
        .set_label_area_size(LabelAreaPosition::Bottom, fig.px(BOTTOM))
        .build_cartesian_2d(0f64..1f64, 0f64..ymax)?;
    let plot = chart.plotting_area();
    for (s, counts) in panel.counts.iter().enumerate() {
        for (b, &v) in counts.iter().enumerate() {
            if v > 0.0 {
                let x0 = b as f64 / BINS as f64;
                let x1 = (b + 1) as f64 / BINS as f64;
                let mut bar = Rectangle::new([(x0, 0.0), (x1, v)], COLORS[s].mix(0.55).filled());
                // A pixel of white between neighbouring bars.
                bar.set_margin(0, 0, 0, scale);
                plot.draw(&bar)?;
            }
        }
        if let Some(m) = panel.medians[s] {
            plot.draw(&DashedPathElement::new(
                [(m, 0.0), (m, ymax)],
                4 * scale,
                3 * scale,
                COLORS[s].stroke_width(2 * scale),
            ))?;
        }
    }

    let ink = INK.stroke_width(scale);
    let at = |x: f64, y: f64| chart.backend_coord(&(x, y));
    let ((x0, y0), (x1, y1)) = (at(0.0, ymax), at(1.0, 0.0));
    let title_y = y0 - 14 * k;
    root.draw(&Text::new(
        shown_name(&panel.label),
        (x0, title_y),
        styled_text(scale, FontStyle::Bold, &BLACK, HPos::Left, VPos::Center),
    ))?;
    root.draw(&Text::new(
        panel.summary.clone(),
        (x1, title_y),
        text_style(scale, &BLACK, HPos::Right, VPos::Center),
    ))?;
    root.draw(&PathElement::new(vec![(x0, y0), (x0, y1), (x1, y1)], ink))?;
    for &t in &panel.axis.ticks {
        let (x, _) = at(panel.axis.frac(t), 0.0);
        root.draw(&PathElement::new(vec![(x, y1), (x, y1 + 4 * k)], ink))?;
        root.draw(&Text::new(
            duration(t),
            (x, y1 + 6 * k),
            text_style(scale, &BLACK, HPos::Center, VPos::Top),
        ))?;
    }
    for tick in 0..=panel.yticks {
        let v = panel.ystep * tick as f64;
        let (_, y) = at(0.0, v);
        let label = if share {
            format!("{}%", trim(v))
        } else {
            trim(v)
        };
        root.draw(&PathElement::new(vec![(x0 - 4 * k, y), (x0, y)], ink))?;
        root.draw(&Text::new(
            label,
            (x0 - 7 * k, y),
            text_style(scale, &BLACK, HPos::Right, VPos::Center),
        ))?;
    }
    let mut caption = String::from("region duration");
    if panel.axis.log {
        caption.push_str(" (log scale)");
    }
    if panel.beyond > 0 {
        caption.push_str(&format!(
            "; {} longer than {} in the last bin",
            panel.beyond,
            duration(panel.axis.hi)
        ));
    }
    root.draw(&Text::new(
        caption,
        ((x0 + x1) / 2, y1 + 28 * k),
        text_style(scale, &GREY, HPos::Center, VPos::Top),
    ))?;
    root.draw(&Text::new(
        if share { "share of regions" } else { "regions" },
        (16 * k, (y0 + y1) / 2),
        text_style(scale, &GREY, HPos::Center, VPos::Center).transform(FontTransform::Rotate270),
    ))?;
    Ok(())
}

/// The plot of one or two analysed traces, each with its name, as SVG.
pub fn svg(series: &[(&str, &Analysis)]) -> Result<String, PlotError> {
    let fig = Figure::new(series, 1)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, fig.size()).into_drawing_area();
        draw(&root, &fig).map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    Ok(out)
}

/// The same plot as PNG; its text needs a font made known by
/// [`use_font`] first.
pub fn png(series: &[(&str, &Analysis)]) -> Result<Vec<u8>, PlotError> {
    // Twice the SVG's size: sharp text on high-density screens and when
    // scaled down into a document.
    let fig = Figure::new(series, 2)?;
    let (w, h) = fig.size();
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, &fig).map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::High);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&rgb))
        .map_err(PlotError::Encode)?;
    Ok(out)
}

/// The environment variable naming the TrueType font PNG text is drawn in.
pub const FONT_ENV: &str = "HT_TRACE_FONT";

/// Where fonts usually are: Debian's fonts-dejavu-core first, then other
/// Debian packages and other distributions' places.
pub const FONT_PLACES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// The font file for PNG text: `env` (the value of [`FONT_ENV`]) when set,
/// else the first of `places` that exists.
pub fn find_font(env: Option<&std::ffi::OsStr>, places: &[&str]) -> Result<PathBuf, PlotError> {
    if let Some(path) = env.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(PlotError::NoSuchFont(path));
        }
        return Ok(path);
    }
    places
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(PlotError::NoFont)
}

/// Reads the font at `path` for PNG text, with its bold face when one lies
/// beside it (`DejaVuSans.ttf` and `DejaVuSans-Bold.ttf`).
pub fn use_font(path: &Path) -> Result<(), PlotError> {
    let load = |p: &Path| -> Result<&'static [u8], PlotError> {
        let bytes = std::fs::read(p).map_err(|source| PlotError::ReadFont {
            path: p.to_path_buf(),
            source,
        })?;
        // plotters keeps registered fonts for the life of the process.
        Ok(Box::leak(bytes.into_boxed_slice()))
    };
    plotters::style::register_font(FAMILY, FontStyle::Normal, load(path)?)
        .map_err(|_| PlotError::NotAFont(path.to_path_buf()))?;
    let bold = path.with_file_name(format!(
        "{}-Bold.ttf",
        path.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .trim_end_matches("-Regular")
    ));
    if bold.is_file() {
        if let Ok(bytes) = load(&bold) {
            // Without a bold face, titles are drawn in the regular one.
            let _ = plotters::style::register_font(FAMILY, FontStyle::Bold, bytes);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_values() {
        let a = Axis::new(1001, 1099);
        assert!(!a.log);
        assert_eq!(a.ticks, [1000.0, 1050.0, 1100.0]);
        let a = Axis::new(1000, 100_000);
        assert!(a.log);
        // Two decades: 2 and 5 between them.
        assert_eq!(a.ticks, [1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5]);
        assert_eq!(a.frac(1e4), 0.5);
        // One value: inside the axis, with distinct ticks around it.
        let a = Axis::new(23_545, 23_545);
        assert_eq!(a.ticks, [23_000.0, 23_500.0, 24_000.0, 24_500.0]);
    }

    #[test]
    fn formats_by_extension() {
        let f = |p: &str| ImageFormat::for_path(Path::new(p));
        assert_eq!(f("a.svg").ok(), Some(ImageFormat::Svg));
        assert_eq!(f("a.PNG").ok(), Some(ImageFormat::Png));
        assert_eq!(f("plot").ok(), Some(ImageFormat::Svg));
        assert_eq!(
            f("a.pdf").unwrap_err().to_string(),
            "a.pdf: plot writes .svg or .png, not .pdf (or give --format)"
        );
    }

    #[test]
    fn font_lookup_names_the_package_when_nothing_is_found() {
        let e = find_font(None, &["/nonexistent/a.ttf"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("fonts-dejavu-core") && !e.contains('\n'), "{e}");
        let e = find_font(Some("/nonexistent/b.ttf".as_ref()), FONT_PLACES)
            .unwrap_err()
            .to_string();
        assert!(e.contains("HT_TRACE_FONT=/nonexistent/b.ttf"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.ttf");
        std::fs::write(&f, b"").unwrap();
        let places = ["/nonexistent/a.ttf", f.to_str().unwrap()];
        assert_eq!(find_font(None, &places).unwrap(), f);
        assert!(use_font(&f)
            .unwrap_err()
            .to_string()
            .contains("not a TrueType"));
    }
}

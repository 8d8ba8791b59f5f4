// SPDX-License-Identifier: GPL-2.0-or-later
//! Flame graphs as SVG, from folded stacks (`frame;frame;frame count` per
//! line, the format of flamegraph.pl): each frame a box as wide as its
//! share of the total, its callees stacked above it, siblings sorted by
//! name, a tooltip with the count and share of each. Written here rather
//! than with the inferno crate, whose CDDL licence does not combine with
//! ht-user's GPL.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Default)]
struct Node {
    total: u64,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn depth(&self) -> usize {
        1 + self.children.values().map(Node::depth).max().unwrap_or(0)
    }
}

const WIDTH: f64 = 1200.0;
const ROW: f64 = 17.0;
const TOP: f64 = 40.0;
/// Boxes narrower than this are left out (they would be unreadable).
const MIN_WIDTH: f64 = 0.1;

/// The SVG of `folded`, titled `title`; `unit` names the counts
/// ("instructions").
pub fn svg(folded: &str, title: &str, unit: &str) -> String {
    let mut root = Node::default();
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        root.total += count;
        let mut node = &mut root;
        for frame in stack.split(';') {
            node = node.children.entry(frame.to_string()).or_default();
            node.total += count;
        }
    }
    let depth = root.depth();
    let height = TOP + ROW * depth as f64 + 20.0;
    let mut o = String::new();
    let _ = write!(
        o,
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
         font-family=\"Verdana, sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#f8f8f0\"/>\n\
         <text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">{}</text>\n",
        WIDTH / 2.0,
        escape(title)
    );
    if root.total > 0 {
        let scale = (WIDTH - 20.0) / root.total as f64;
        // The root row is the whole: frames start one row up from the
        // bottom.
        draw(
            &mut o,
            &root,
            10.0,
            height - 20.0,
            scale,
            root.total,
            unit,
            "",
        );
    }
    o.push_str("</svg>\n");
    o
}

#[allow(clippy::too_many_arguments)]
fn draw(
    o: &mut String,
    node: &Node,
    x: f64,
    bottom: f64,
    scale: f64,
    all: u64,
    unit: &str,
    path: &str,
) {
    let mut at = x;
    for (name, child) in &node.children {
        let w = child.total as f64 * scale;
        if w >= MIN_WIDTH {
            let y = bottom - ROW;
            let share = child.total as f64 * 100.0 / all as f64;
            let _ = write!(
                o,
                "<g><title>{} ({} {unit}, {share:.2}%)</title>\
                 <rect x=\"{at:.2}\" y=\"{y:.1}\" width=\"{w:.2}\" height=\"{:.1}\" \
                 fill=\"{}\" rx=\"2\"/>",
                escape(name),
                child.total,
                ROW - 1.0,
                colour(name)
            );
            // Room for about one character per 7 pixels.
            let chars = ((w - 6.0) / 7.0).floor();
            if chars >= 3.0 {
                let label: String = if name.chars().count() as f64 <= chars {
                    name.clone()
                } else {
                    let keep = chars as usize - 2;
                    name.chars().take(keep).collect::<String>() + ".."
                };
                let _ = write!(
                    o,
                    "<text x=\"{:.2}\" y=\"{:.1}\">{}</text>",
                    at + 3.0,
                    y + ROW - 5.0,
                    escape(&label)
                );
            }
            o.push_str("</g>\n");
            let inner = format!("{path};{name}");
            draw(o, child, at, y, scale, all, unit, &inner);
        }
        at += w;
    }
}

/// A warm colour picked from the name, the same for the same name.
fn colour(name: &str) -> String {
    let h = name.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let r = 200 + (h % 55);
    let g = 80 + ((h >> 8) % 130);
    let b = (h >> 16) % 55;
    format!("rgb({r},{g},{b})")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_as_wide_as_their_share_and_stack_up() {
        let s = svg(
            "r;main;work 75\nr;main 15\nr;main;<io> 10\nr;gone 0\n",
            "t",
            "insns",
        );
        // After the svg element and the background: r and main (the
        // whole), <io> (a tenth), work (three quarters), by name.
        let widths: Vec<f64> = s
            .match_indices("width=\"")
            .skip(2)
            .map(|(i, _)| {
                let rest = &s[i + 7..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(widths, vec![1180.0, 1180.0, 118.0, 885.0]);
        assert!(s.contains("<title>work (75 insns, 75.00%)</title>"));
        assert!(s.contains("<title>&lt;io&gt; (10 insns, 10.00%)</title>"));
        assert!(!s.contains("gone"), "an empty frame is not drawn");
        // Callees above their callers: work's box is one row up from main's.
        let y = |name: &str| -> f64 {
            let at = s.find(&format!("<title>{name} (")).unwrap();
            let rest = &s[at..];
            let y = &rest[rest.find("y=\"").unwrap() + 3..];
            y[..y.find('"').unwrap()].parse().unwrap()
        };
        assert_eq!(y("main") - y("work"), ROW);
        assert_eq!(y("r") - y("main"), ROW);
    }

    #[test]
    fn an_empty_profile_is_a_valid_empty_graph() {
        let s = svg("", "nothing", "insns");
        assert!(s.starts_with("<?xml") && s.ends_with("</svg>\n"));
        assert!(!s.contains("<rect x="));
    }
}

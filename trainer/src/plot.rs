//! Dependency-free SVG charts: training curves ([`line_chart_svg`]) and
//! per-class scores ([`bar_chart_svg`]).
//!
//! Output is a standalone SVG 1.1 document (UTF-8 `String`) sized in CSS
//! pixels, readable in any browser or converted with `rsvg-convert`. Text is
//! XML-escaped; non-finite values are skipped (lines) or drawn as empty bars
//! marked "n/a" (bars), never a panic.

use std::fmt::Write;

/// Series colours (Okabe-Ito, distinguishable with colour-vision deficiency).
const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
const FONT: &str = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Tick positions covering `[lo, hi]` with a 1-2-5 step, about `target` of them.
/// Returns (ticks, step); the axis should span ticks.first()..=ticks.last().
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let (mut lo, mut hi) = (lo, hi);
    if !(lo.is_finite() && hi.is_finite()) {
        lo = 0.0;
        hi = 1.0;
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let n = ((end - start) / step).round() as usize;
    let ticks = (0..=n).map(|i| start + i as f64 * step).collect();
    (ticks, step)
}

fn fmt_tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize + usize::from((step / 10f64.powf(step.log10().floor())).fract() > 1e-9)
    };
    let s = format!("{v:.decimals$}");
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Approximate rendered width of `s` at `size` px (average glyph ~0.56 em).
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.56
}

/// A line chart of one or more series `(name, points)` with axes, 1-2-5 ticks,
/// light grid lines and a legend on the right. Points are `(x, y)` in data
/// units, drawn in the order given; non-finite points are skipped. Series with
/// few points (≤ 40) also get dot markers so single epochs stay visible.
pub fn line_chart_svg(title: &str, x_label: &str, y_label: &str, series: &[(&str, Vec<(f64, f64)>)]) -> String {
    let legend_w = series.iter().map(|(n, _)| text_width(n, 13.0)).fold(0.0, f64::max).min(260.0) + 46.0;
    let (w, h) = (640.0 + legend_w, 440.0);
    let (ml, mr, mt, mb) = (78.0, legend_w + 20.0, 48.0, 62.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let pts = || series.iter().flat_map(|(_, v)| v.iter().filter(finite));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (xt, xs) = nice_ticks(x0, x1, 8);
    let (yt, ys) = nice_ticks(y0, y1, 6);
    let (xa, xb) = (xt[0], *xt.last().unwrap_or(&1.0));
    let (ya, yb) = (yt[0], *yt.last().unwrap_or(&1.0));
    let sx = |x: f64| ml + (x - xa) / (xb - xa) * pw;
    let sy = |y: f64| mt + ph - (y - ya) / (yb - ya) * ph;

    let mut s = String::new();
    let _ = writeln!(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" {FONT}>");
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"28\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>",
        ml + pw / 2.0,
        esc(title)
    );
    // grid and ticks
    for &t in &yt {
        let y = sy(t);
        let _ =
            writeln!(s, "<line x1=\"{ml:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\"/>", ml + pw);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            ml - 8.0,
            y + 4.0,
            fmt_tick(t, ys)
        );
    }
    for &t in &xt {
        let x = sx(t);
        let _ =
            writeln!(s, "<line x1=\"{x:.1}\" y1=\"{mt:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#f0f0f0\"/>", mt + ph);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
            mt + ph,
            mt + ph + 5.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            mt + ph + 19.0,
            fmt_tick(t, xs)
        );
    }
    let _ = writeln!(
        s,
        "<rect x=\"{ml:.1}\" y=\"{mt:.1}\" width=\"{pw:.1}\" height=\"{ph:.1}\" fill=\"none\" stroke=\"#333\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"14\" text-anchor=\"middle\">{}</text>",
        ml + pw / 2.0,
        h - 16.0,
        esc(x_label)
    );
    let _ = writeln!(
        s,
        "<text transform=\"translate(20 {:.1}) rotate(-90)\" font-size=\"14\" text-anchor=\"middle\">{}</text>",
        mt + ph / 2.0,
        esc(y_label)
    );
    // series
    for (i, (name, v)) in series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let dash = if i >= PALETTE.len() { " stroke-dasharray=\"6 3\"" } else { "" };
        let p: Vec<String> = v.iter().filter(finite).map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
        if p.len() > 1 {
            let _ = writeln!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2.2\" stroke-linejoin=\"round\"{dash}/>", p.join(" "));
        }
        if p.len() <= 40 {
            for &(x, y) in v.iter().filter(finite) {
                let _ = writeln!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.2\" fill=\"{c}\"/>", sx(x), sy(y));
            }
        }
        let ly = mt + 10.0 + i as f64 * 22.0;
        let lx = ml + pw + 18.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{c}\" stroke-width=\"3\"{dash}/>",
            lx + 24.0
        );
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\">{}</text>", lx + 30.0, ly + 4.5, esc(name));
    }
    s.push_str("</svg>\n");
    s
}

/// A horizontal bar chart: one bar per label (top to bottom in the order
/// given), the value printed at the end of each bar, a value axis with 1-2-5
/// ticks labelled `value_label`. The axis starts at 0 (or at the smallest
/// value if negative). Sized for long class names: the label column is as
/// wide as the longest label. Missing values (`values` shorter than `labels`)
/// and non-finite values are drawn as "n/a".
pub fn bar_chart_svg(title: &str, labels: &[&str], values: &[f64], value_label: &str) -> String {
    let label_w = labels.iter().map(|l| text_width(l, 13.0)).fold(0.0, f64::max) + 16.0;
    let (bar_h, gap) = (18.0, 6.0);
    let (ml, mr, mt, mb) = (label_w + 10.0, 70.0, 52.0, 56.0);
    let pw = 520.0;
    let ph = labels.len().max(1) as f64 * (bar_h + gap);
    let (w, h) = (ml + pw + mr, mt + ph + mb);
    let val = |i: usize| values.get(i).copied().filter(|v| v.is_finite());
    let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
    for i in 0..labels.len() {
        if let Some(v) = val(i) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !hi.is_finite() || hi <= lo {
        hi = lo + 1.0;
    }
    let (ticks, step) = nice_ticks(lo, hi, 6);
    let (a, b) = (ticks[0], *ticks.last().unwrap_or(&1.0));
    let sx = |v: f64| ml + (v - a) / (b - a) * pw;
    let decimals = if step >= 1.0 { 1 } else { 3 };

    let mut s = String::new();
    let _ = writeln!(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" {FONT}>");
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"30\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>",
        w / 2.0,
        esc(title)
    );
    for &t in &ticks {
        let x = sx(t);
        let _ =
            writeln!(s, "<line x1=\"{x:.1}\" y1=\"{mt:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#e6e6e6\"/>", mt + ph);
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            mt + ph + 18.0,
            fmt_tick(t, step)
        );
    }
    let zero = sx(0.0f64.clamp(a, b));
    for (i, l) in labels.iter().enumerate() {
        let y = mt + i as f64 * (bar_h + gap) + gap / 2.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"end\">{}</text>",
            ml - 8.0,
            y + bar_h * 0.72,
            esc(l)
        );
        match val(i) {
            Some(v) => {
                let (x0, x1) = if v >= 0.0 { (zero, sx(v)) } else { (sx(v), zero) };
                let _ = writeln!(
                    s,
                    "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\" fill=\"{}\"/>",
                    (x1 - x0).max(0.5),
                    PALETTE[0]
                );
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{v:.decimals$}</text>",
                    x1.max(zero) + 5.0,
                    y + bar_h * 0.72
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#888\">n/a</text>",
                    zero + 5.0,
                    y + bar_h * 0.72
                );
            }
        }
    }
    let _ =
        writeln!(s, "<line x1=\"{zero:.1}\" y1=\"{mt:.1}\" x2=\"{zero:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>", mt + ph);
    let _ = writeln!(
        s,
        "<line x1=\"{ml:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
        mt + ph,
        ml + pw,
        mt + ph
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"14\" text-anchor=\"middle\">{}</text>",
        ml + pw / 2.0,
        h - 14.0,
        esc(value_label)
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_range_with_round_steps() {
        let (t, s) = nice_ticks(0.13, 0.87, 6);
        assert!(t[0] <= 0.13 && *t.last().unwrap() >= 0.87);
        assert!((s - 0.1).abs() < 1e-12 || (s - 0.2).abs() < 1e-12);
        let (t, _) = nice_ticks(5.0, 5.0, 6);
        assert!(t.len() >= 2 && t[0] < 5.0 && *t.last().unwrap() > 5.0);
        assert_eq!(fmt_tick(0.25, 0.05), "0.25");
        assert_eq!(fmt_tick(20.0, 5.0), "20");
        assert_eq!(fmt_tick(0.5, 0.25), "0.50");
    }

    #[test]
    fn line_chart_has_every_series_and_escapes_text() {
        let svg = line_chart_svg(
            "loss <train & val>",
            "epoch",
            "loss",
            &[("train", vec![(1.0, 0.9), (2.0, 0.5), (3.0, f64::NAN)]), ("val", vec![(1.0, 1.0), (2.0, 0.7)])],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("loss &lt;train &amp; val&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn bar_chart_draws_one_bar_per_finite_value() {
        let labels = ["Moors, heathland and sclerophyllous vegetation", "Urban fabric", "Marine waters"];
        let svg = bar_chart_svg("F2", &labels, &[0.5, f64::NAN], "F2 (%)");
        assert_eq!(svg.matches("<rect x=").count(), 1);
        assert_eq!(svg.matches("n/a").count(), 2);
        assert!(svg.contains("Moors, heathland and sclerophyllous vegetation"));
    }
}

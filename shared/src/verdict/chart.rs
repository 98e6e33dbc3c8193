//! Line charts as inline SVG, generated here: no library, no CDN, nothing to
//! vendor. The report embeds them; the live run page fetches the same SVG
//! from the backend every second, so both draw with this one code.
//!
//! A chart has a time axis (seconds since the run's start), one or more
//! lines, and markers: vertical dashed lines at load changes, each with a
//! tooltip saying who changed what.

use std::fmt::Write as _;

/// One series of a chart.
pub struct Line<'a> {
    pub label: &'a str,
    pub color: &'a str,
    /// One value per x; NaN leaves a gap.
    pub values: &'a [f64],
}

/// A marked instant, e.g. a load change.
pub struct Marker {
    pub ts: i64,
    pub text: String,
}

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const W: f64 = 900.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 24.0;

/// A round number at or above `v` (1, 2, 2.5, 5 × 10^k).
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn clock(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// Renders a chart. `xs` are Unix seconds; `start` is the run's start (time
/// 0 on the axis).
pub fn lines(title: &str, unit: &str, start: i64, xs: &[i64], series: &[Line<'_>], markers: &[Marker]) -> String {
    let mut out = String::with_capacity(2048 + xs.len() * series.len() * 12);
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg" role="img"><title>{}</title>"#,
        esc(title)
    );
    let _ = write!(out, r#"<text x="{LEFT}" y="14" class="t">{} ({})</text>"#, esc(title), esc(unit));
    let mut lx = LEFT + 8.0 + 7.5 * (title.len() + unit.len() + 3) as f64;
    for l in series {
        let _ = write!(
            out,
            r#"<rect x="{lx:.0}" y="6" width="10" height="10" fill="{}"/><text x="{:.0}" y="15" class="l">{}</text>"#,
            esc(l.color),
            lx + 13.0,
            esc(l.label)
        );
        lx += 20.0 + 6.5 * l.label.chars().count() as f64;
    }
    let (x0, x1) = match (xs.first(), xs.last()) {
        (Some(a), Some(b)) => (*a, (*b).max(*a + 1)),
        _ => (start, start + 1),
    };
    let max = series.iter().flat_map(|l| l.values.iter()).copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    let ymax = nice_ceiling(max);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |t: i64| LEFT + (t - x0) as f64 / (x1 - x0) as f64 * pw;
    let sy = |v: f64| TOP + ph - v / ymax * ph;
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let y = sy(v);
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="g"/><text x="{:.0}" y="{:.1}" class="a" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            number(v)
        );
    }
    for i in 0..=5 {
        let t = x0 + (x1 - x0) * i / 5;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.0}" class="a" text-anchor="middle">{}</text>"#,
            sx(t),
            H - 6.0,
            clock(t - start)
        );
    }
    for (n, m) in markers.iter().enumerate() {
        if m.ts < x0 || m.ts > x1 {
            continue;
        }
        let x = sx(m.ts);
        let _ = write!(
            out,
            r#"<g class="m"><title>{} {}</title><line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.0}"/><text x="{:.1}" y="{:.0}">{}</text></g>"#,
            clock(m.ts - start),
            esc(&m.text),
            TOP + ph,
            x + 2.0,
            TOP + 10.0,
            n + 1
        );
    }
    for l in series {
        let _ = write!(out, r#"<path fill="none" stroke="{}" stroke-width="1.5" d=""#, esc(l.color));
        let mut pen_up = true;
        for (t, v) in xs.iter().zip(l.values) {
            if !v.is_finite() {
                pen_up = true;
                continue;
            }
            let _ = write!(out, "{}{:.1} {:.1}", if pen_up { 'M' } else { 'L' }, sx(*t), sy(*v));
            pen_up = false;
        }
        // The tooltip names the line and its latest value: what a reader hovers for.
        let last = l.values.iter().rev().find(|v| v.is_finite()).map_or("-".into(), |v| number(*v));
        let _ = write!(out, r#""><title>{}: {last}</title></path>"#, esc(l.label));
    }
    out.push_str("</svg>");
    out
}

/// The styles the charts use (put once in the page).
pub const CSS: &str = ".chart{width:100%;max-width:900px;height:auto;font:11px sans-serif;background:#fff}\
.chart .g{stroke:#e4e4e4}.chart .a{fill:#666}.chart .t{font-weight:bold}.chart .l{fill:#333}\
.chart .m line{stroke:#a0a;stroke-dasharray:4 3}.chart .m text{fill:#a0a;font-size:10px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere() {
        let svg = lines(
            "<script>alert(1)</script>",
            "ms",
            0,
            &[0, 1],
            &[Line { label: "a\"b", color: "red\"/><script>", values: &[1.0, 2.0] }],
            &[Marker { ts: 1, text: "<b>evil</b> & co".into() }],
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("&lt;b&gt;evil&lt;/b&gt; &amp; co"));
        assert!(svg.contains("a&quot;b"));
    }

    #[test]
    fn lines_scale_to_a_round_maximum_and_break_at_gaps() {
        let svg = lines(
            "rps",
            "1/s",
            100,
            &[100, 101, 102, 103],
            &[Line { label: "x", color: "#000", values: &[0.0, 80.0, f64::NAN, 40.0] }],
            &[],
        );
        // ymax = 100: 80 is at 20 % from the top of the plot.
        let d = svg.split(" d=\"").nth(1).unwrap();
        assert_eq!(d.matches('M').count(), 2, "a gap lifts the pen: {d}");
        assert!(svg.contains(">100<"), "axis tops at 100: {svg}");
        assert!(svg.contains("<title>x: 40</title></path>"), "the tooltip says the latest value: {svg}");
        assert_eq!(
            (nice_ceiling(80.0), nice_ceiling(0.7), nice_ceiling(2100.0), nice_ceiling(0.0)),
            (100.0, 1.0, 2500.0, 1.0)
        );
    }

    #[test]
    fn markers_outside_the_axis_are_left_out() {
        let svg = lines(
            "x",
            "u",
            0,
            &[10, 20],
            &[],
            &[Marker { ts: 5, text: "early".into() }, Marker { ts: 15, text: "mid".into() }],
        );
        assert!(!svg.contains("early") && svg.contains("mid"));
        assert_eq!(clock(3725), "1:02:05");
        assert_eq!(clock(65), "1:05");
    }
}

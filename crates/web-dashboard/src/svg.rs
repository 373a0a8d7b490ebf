//! The burn-down chart, written by the server as SVG: stacked bars per day, each status with
//! its own fill pattern as well as its colour (colour never carries the meaning alone), a
//! `<title>` and `<desc>` named by `aria-labelledby`, and a legend in words. The page puts the
//! same numbers in a table beside it.

use std::fmt::Write;

use storage::SeriesPoint;

/// The labels the chart shows (from the catalogue of the page's language).
pub struct Labels<'a> {
    /// Chart title.
    pub title: &'a str,
    /// Longer description.
    pub desc: &'a str,
    /// Status names, in the order violation, in grace, excepted, review.
    pub statuses: [&'a str; 4],
}

/// XML-escapes text for an SVG text node or attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 12.0;
const CLASSES: [&str; 4] = ["violation", "in-grace", "excepted", "review"];

/// The chart's SVG markup (`id` makes its element ids unique on the page).
pub fn burndown(id: &str, points: &[SeriesPoint], labels: &Labels<'_>) -> String {
    let id = esc(id);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {W} {h}\" \
         role=\"img\" aria-labelledby=\"{id}-t {id}-d\" focusable=\"false\">\
         <title id=\"{id}-t\">{title}</title><desc id=\"{id}-d\">{desc}</desc>\
         <defs>\
         <pattern id=\"{id}-p0\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"6\" height=\"6\" class=\"fill-violation\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" class=\"hatch\"/></pattern>\
         <pattern id=\"{id}-p1\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">\
         <rect width=\"6\" height=\"6\" class=\"fill-in-grace\"/><circle cx=\"3\" cy=\"3\" r=\"1.2\" class=\"dot\"/></pattern>\
         <pattern id=\"{id}-p2\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">\
         <rect width=\"6\" height=\"6\" class=\"fill-excepted\"/><line x1=\"0\" y1=\"3\" x2=\"6\" y2=\"3\" class=\"hatch\"/></pattern>\
         <pattern id=\"{id}-p3\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">\
         <rect width=\"6\" height=\"6\" class=\"fill-review\"/></pattern>\
         </defs>",
        h = H + 28.0,
        title = esc(labels.title),
        desc = esc(labels.desc),
    );
    let max = points.iter().map(|p| p.exposed).max().unwrap_or(0).max(1);
    let plot_h = H - BOTTOM - TOP;
    let plot_w = W - LEFT - 8.0;
    // Axes and the top value.
    let _ = write!(
        s,
        "<g class=\"axis\" aria-hidden=\"true\"><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\"/>\
         <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{tx}\" y=\"{b}\" text-anchor=\"end\">0</text>",
        b = H - BOTTOM,
        r = W - 8.0,
        tx = LEFT - 6.0,
        ty = TOP + 10.0,
    );
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            s,
            "<text x=\"{LEFT}\" y=\"{y}\">{a}</text><text x=\"{r}\" y=\"{y}\" text-anchor=\"end\">{b}</text>",
            y = H - BOTTOM + 16.0,
            r = W - 8.0,
            a = esc(&first.day),
            b = esc(&last.day),
        );
    }
    s.push_str("</g><g class=\"bars\" aria-hidden=\"true\">");
    let n = points.len().max(1) as f64;
    let bw = plot_w / n;
    for (i, p) in points.iter().enumerate() {
        let x = LEFT + 1.0 + i as f64 * bw;
        let mut y = H - BOTTOM;
        for (k, v) in [p.violation, p.in_grace, p.excepted, p.review]
            .into_iter()
            .enumerate()
        {
            if v <= 0 {
                continue;
            }
            let h = v as f64 / max as f64 * plot_h;
            y -= h;
            let _ = write!(
                s,
                "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{w:.2}\" height=\"{h:.2}\" fill=\"url(#{id}-p{k})\" class=\"bar-{c}\"/>",
                w = (bw - 1.0).max(0.5),
                c = CLASSES[k],
            );
        }
    }
    s.push_str("</g><g class=\"legend\" aria-hidden=\"true\">");
    for (k, label) in labels.statuses.iter().enumerate() {
        let x = LEFT + k as f64 * 170.0;
        let y = H + 6.0;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{y}\" width=\"16\" height=\"16\" fill=\"url(#{id}-p{k})\" class=\"swatch\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{l}</text>",
            tx = x + 22.0,
            ty = y + 13.0,
            l = esc(label),
        );
    }
    s.push_str("</g></svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(day: &str, v: i64, g: i64) -> SeriesPoint {
        SeriesPoint {
            at: 0,
            day: day.into(),
            complete: true,
            exposed: v + g,
            violation: v,
            in_grace: g,
            excepted: 0,
            review: 0,
        }
    }

    #[test]
    fn chart_has_title_desc_patterns_and_escapes() {
        let labels = Labels {
            title: "A <b>title</b>",
            desc: "desc & more",
            statuses: ["Overdue", "In grace", "Excepted", "To review"],
        };
        let svg = burndown(
            "c1",
            &[point("2026-01-01", 3, 2), point("2026-01-02", 1, 0)],
            &labels,
        );
        assert!(svg.contains("<title id=\"c1-t\">A &lt;b&gt;title&lt;/b&gt;</title>"));
        assert!(svg.contains("<desc id=\"c1-d\">desc &amp; more</desc>"));
        assert!(svg.contains("aria-labelledby=\"c1-t c1-d\""));
        assert!(svg.contains("url(#c1-p0)") && svg.contains("url(#c1-p1)"));
        assert!(svg.contains(">Overdue<"), "legend in words");
        assert!(!svg.contains("<script"));
        // An empty series is still a valid chart.
        assert!(burndown("c2", &[], &labels).ends_with("</svg>"));
    }
}

//! Two small hand-written SVG plots (a latency CDF and a convergence curve). A plotting crate would bring a font
//! stack and dozens of dependencies into every test binary for two line charts; these are plain polylines with axes.

use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/// The cumulative distribution of each named series (latencies in ms): x is latency, y the fraction at or below it.
pub fn cdf(title: &str, series: &[(String, Vec<f64>)]) -> String {
    let x_max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1.0);
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, values)| {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len() as f64;
            let step = (sorted.len() / 400).max(1);
            let mut points: Vec<(f64, f64)> = sorted
                .iter()
                .enumerate()
                .filter(|(i, _)| i % step == 0 || *i == sorted.len() - 1)
                .map(|(i, x)| (*x, (i + 1) as f64 / n))
                .collect();
            points.insert(0, (sorted[0], 0.0));
            (format!("{name} (n={})", sorted.len()), points)
        })
        .collect();
    plot(title, "latency (ms)", "fraction delivered", x_max, &lines)
}

/// One curve of (x, y) points with y in [0, 1].
pub fn curve(title: &str, x_label: &str, points: &[(f64, f64)]) -> String {
    let x_max = points.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1.0);
    plot(
        title,
        x_label,
        "fraction of expected pairs held",
        x_max,
        &[("held".to_owned(), points.to_vec())],
    )
}

fn plot(title: &str, x_label: &str, y_label: &str, x_max: f64, lines: &[(String, Vec<(f64, f64)>)]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |v: f64| LEFT + v.max(0.0) / x_max * plot_w;
    let y = |v: f64| TOP + (1.0 - v.clamp(0.0, 1.0)) * plot_h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    for i in 0..=5 {
        let fx = f64::from(i) / 5.0;
        let (gx, gy) = (x(fx * x_max), y(fx));
        let _ = writeln!(
            out,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            tick(fx * x_max)
        );
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{fx:.1}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            gy + 4.0
        );
    }
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0,
        escape(x_label)
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    for (i, (name, points)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#,
            path.join(" ")
        );
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let lx = LEFT + plot_w + 10.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 18.0,
            lx + 22.0,
            ly + 4.0,
            escape(name)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn tick(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_svg_with_one_polyline_per_series() {
        let svg = cdf(
            "t <1>",
            &[("a".to_owned(), vec![1.0, 2.0, 3.0]), ("b".to_owned(), vec![5.0])],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("t &lt;1&gt;"));
        let svg = curve("c", "ms", &[(0.0, 0.5), (10.0, 1.0)]);
        assert_eq!(svg.matches("<polyline").count(), 1);
    }
}

//! Charts as SVG, drawn on the server by plotters. Each chart carries a
//! `<title>` and `<desc>` for screen readers; pages put the figures behind
//! it in a table next to it, with links to the deals.

use plotters::prelude::*;

/// A point or bar: label, value in percent (0-100), optional interval.
#[derive(Debug, Clone)]
pub struct Datum {
    /// What the point is (a month, a wave, a segment).
    pub label: String,
    /// The value.
    pub value: f64,
    /// The 95 % interval, if the value has one.
    pub interval: Option<(f64, f64)>,
}

const INK: RGBColor = RGBColor(29, 36, 51);
const ACCENT: RGBColor = RGBColor(47, 91, 211);
const TARGET_BAND: RGBColor = RGBColor(30, 123, 79);
const MUTED: RGBColor = RGBColor(91, 100, 117);

/// Text that goes into the SVG: no markup.
fn plain(text: &str) -> String {
    text.chars().map(|c| if matches!(c, '<' | '>' | '&' | '"' | '\'') { ' ' } else { c }).collect()
}

/// An axis label short enough for the label area (the table beside the
/// chart has it in full).
fn short(text: &str) -> String {
    let text = plain(text);
    if text.chars().count() <= 22 { text } else { format!("{}\u{2026}", text.chars().take(21).collect::<String>()) }
}

/// Adds the accessible name and description to a drawn SVG.
fn accessible(svg: String, title: &str, description: &str) -> String {
    let head = format!("<svg role=\"img\" aria-label=\"{}\" ", plain(title));
    let body = format!("<title>{}</title><desc>{}</desc>", plain(title), plain(description));
    match svg.find('>') {
        Some(end) if svg.starts_with("<svg") => format!("{head}{}{body}{}", &svg[5..=end], &svg[end + 1..]),
        _ => svg,
    }
}

/// The drawn chart with its accessible name, or a note that it failed.
fn finish(drawn: Result<(), String>, svg: String, title: &str, description: &str) -> String {
    match drawn {
        Ok(()) => accessible(svg, title, description),
        Err(error) => {
            tracing::warn!(%error, title, "drawing a chart failed");
            failed(title)
        }
    }
}

fn failed(title: &str) -> String {
    format!("<p class=\"muted\">The chart \u{201c}{}\u{201d} could not be drawn.</p>", plain(title))
}

/// A line over time in percent, with the target band (e.g. 80-85 %).
pub fn trend(title: &str, description: &str, points: &[Datum], band: (f64, f64)) -> String {
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (640, 260)).into_drawing_area();
        root.fill(&WHITE)?;
        let count = points.len().max(1);
        let low = points
            .iter()
            .filter_map(|p| p.interval.map(|i| i.0))
            .fold(100.0f64, f64::min)
            .min(band.0)
            .min(points.iter().map(|p| p.value).fold(100.0, f64::min));
        let floor = ((low - 10.0) / 10.0).floor().clamp(0.0, 9.0) * 10.0;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(count as f64 - 0.5), floor..100.0)?;
        let labels: Vec<String> = points.iter().map(|p| short(&p.label)).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(238, 240, 244))
            .y_desc("% kept")
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .x_labels(count.min(12))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 16).into_font().color(&MUTED))
            .axis_desc_style(("sans-serif", 16).into_font().color(&MUTED))
            .draw()?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(-0.5, band.0), (count as f64 - 0.5, band.1)],
            TARGET_BAND.mix(0.15).filled(),
        )))?;
        chart.draw_series(points.iter().enumerate().filter_map(|(i, p)| {
            p.interval.map(|(lo, hi)| {
                PathElement::new(vec![(i as f64, lo), (i as f64, hi)], ACCENT.mix(0.35).stroke_width(3))
            })
        }))?;
        chart.draw_series(LineSeries::new(
            points.iter().enumerate().map(|(i, p)| (i as f64, p.value)),
            ACCENT.stroke_width(2),
        ))?;
        chart.draw_series(
            points.iter().enumerate().map(|(i, p)| Circle::new((i as f64, p.value), 3, ACCENT.filled())),
        )?;
        root.present()?;
        Ok(())
    })();
    finish(drawn.map_err(|e| e.to_string()), svg, title, description)
}

/// Horizontal bars in percent with reference lines (e.g. the 80 % target).
pub fn bars(title: &str, description: &str, bars: &[Datum], lines: &[f64], unit: &str, max: f64) -> String {
    let mut svg = String::new();
    let height = 40 + 30 * bars.len().max(1) as u32;
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (640, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let count = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(24)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..max, -0.5f64..(count as f64 - 0.5))?;
        // The first bar on top, as people read a list.
        let labels: Vec<String> = bars.iter().rev().map(|b| short(&b.label)).collect();
        let row = |i: usize| (count - 1 - i) as f64;
        let unit = unit.to_owned();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(RGBColor(238, 240, 244))
            .x_label_formatter(&|v| format!("{v:.0}{unit}"))
            .y_labels(count)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 16).into_font().color(&INK))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            let y = row(i);
            Rectangle::new([(0.0, y - 0.32), (b.value.clamp(0.0, max), y + 0.32)], ACCENT.mix(0.85).filled())
        }))?;
        chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            b.interval.map(|(lo, hi)| PathElement::new(vec![(lo, row(i)), (hi, row(i))], INK.stroke_width(2)))
        }))?;
        for line in lines {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(*line, -0.5), (*line, count as f64 - 0.5)],
                TARGET_BAND.stroke_width(2),
            )))?;
        }
        root.present()?;
        Ok(())
    })();
    finish(drawn.map_err(|e| e.to_string()), svg, title, description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_accessible_svg_without_markup_from_labels() {
        let points = vec![
            Datum { label: "2026-01".into(), value: 82.0, interval: Some((70.0, 90.0)) },
            Datum { label: "<script>".into(), value: 88.0, interval: None },
        ];
        let svg = trend("Kept rate", "Two months", &points, (80.0, 85.0));
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"Kept rate\""), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("<title>Kept rate</title><desc>Two months</desc>"));
        assert!(!svg.contains("<script>"));
        let svg = bars("By wave", "Three waves", &points, &[80.0], "%", 100.0);
        assert!(svg.contains("<title>By wave</title>"));
    }
}

//! Charts as server-side SVG: no chart library, no script, styled by `dashboard.css`.
//! Each chart has a title and a description for screen readers, and its numbers in a
//! table under a `<details>`, so nothing is shown by colour or shape alone.

use maud::{Markup, html};

use super::layout::txt;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 46.0;

/// One series of a chart: a name and one value per label.
pub(crate) struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<f64>,
}

/// Vertical bars, one per label (the first series only; the others go in the table).
pub(crate) fn bars(id: &str, title: &str, labels: &[String], series: &[Series<'_>]) -> Markup {
    let values = series.first().map(|s| s.values.as_slice()).unwrap_or(&[]);
    let max = nice_max(values.iter().copied());
    let n = labels.len().max(1) as f64;
    let slot = (WIDTH - LEFT - RIGHT) / n;
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / max);
    let plot = html! {
                (axes(max))
                @for (i, v) in values.iter().enumerate() {
                    @let x = LEFT + slot * i as f64 + slot * 0.15;
                    rect.bar x=(fmt(x)) y=(fmt(y(*v))) width=(fmt(slot * 0.7))
                        height=(fmt(y(0.0) - y(*v))) {
                        title { (labels.get(i).map_or("", String::as_str)) ": " (v) }
                    }
                }
                (x_labels(labels, slot))
    };
    html! {
        figure {
            (svg(id, title, HEIGHT, plot))
            (data_table(title, labels, series))
        }
    }
}

/// Lines, one per series, over the labels.
pub(crate) fn lines(id: &str, title: &str, labels: &[String], series: &[Series<'_>]) -> Markup {
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().copied()));
    let n = labels.len().max(1) as f64;
    let slot = (WIDTH - LEFT - RIGHT) / n;
    let x = |i: usize| LEFT + slot * i as f64 + slot / 2.0;
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / max);
    let plot = html! {
                (axes(max))
                @for (k, s) in series.iter().enumerate() {
                    @let points: Vec<String> = s.values.iter().enumerate()
                        .map(|(i, v)| format!("{},{}", fmt(x(i)), fmt(y(*v)))).collect();
                    polyline.line.alt[k > 0] points=(points.join(" ")) {}
                    @if k == 0 {
                        @for (i, v) in s.values.iter().enumerate() {
                            circle.dot cx=(fmt(x(i))) cy=(fmt(y(*v))) r="3" {
                                title { (labels.get(i).map_or("", String::as_str)) ": " (v) }
                            }
                        }
                    }
                }
                (x_labels(labels, slot))
    };
    html! {
        figure {
            (svg(id, title, HEIGHT, plot))
            @if series.len() > 1 {
                p.legend {
                    @for (k, s) in series.iter().enumerate() {
                        span { (if k == 0 { "solid line: " } else { "dashed line: " }) (s.name) }
                    }
                }
            }
            (data_table(title, labels, series))
        }
    }
}

/// One bar of a timeline.
pub(crate) struct Span {
    pub label: String,
    pub start: time::Date,
    pub end: time::Date,
    /// `past`, `current` or `upcoming` (a CSS class).
    pub class: &'static str,
}

/// Bars on a time axis, one row each, with a line at `today`.
pub(crate) fn timeline(id: &str, title: &str, spans: &[Span], today: time::Date) -> Markup {
    let row = 26.0;
    let height = TOP + row * spans.len().max(1) as f64 + 30.0;
    let first = spans
        .iter()
        .map(|s| s.start)
        .min()
        .unwrap_or(today)
        .min(today);
    let last = spans
        .iter()
        .map(|s| s.end)
        .max()
        .unwrap_or(today)
        .max(today);
    let days = ((last - first).whole_days() + 1).max(1) as f64;
    let x =
        |d: time::Date| LEFT + (WIDTH - LEFT - RIGHT) * ((d - first).whole_days() as f64 / days);
    let bottom = height - 30.0;
    let plot = html! {
            @for (i, s) in spans.iter().enumerate() {
                @let y = TOP + row * i as f64;
                @let x0 = x(s.start);
                @let w = (x(s.end + time::Duration::days(1)) - x0).max(3.0);
                rect.term.(s.class) x=(fmt(x0)) y=(fmt(y)) width=(fmt(w)) height=(fmt(row - 6.0)) rx="3" {
                    title { (txt(&s.label)) ": " (s.start) " to " (s.end) }
                }
                text.label x=(fmt(x0 + 4.0)) y=(fmt(y + row - 11.0)) { (txt(&s.label)) }
            }
            line.axis x1=(LEFT) y1=(fmt(bottom)) x2=(WIDTH - RIGHT) y2=(fmt(bottom)) {}
            text x=(LEFT) y=(fmt(bottom + 16.0)) { (first) }
            text x=(WIDTH - RIGHT) y=(fmt(bottom + 16.0)) text-anchor="end" { (last) }
            line.today x1=(fmt(x(today))) y1=(TOP - 6.0) x2=(fmt(x(today))) y2=(fmt(bottom)) {}
            text x=(fmt(x(today))) y=(fmt(bottom + 16.0)) text-anchor="middle" { "today" }
    };
    svg(id, title, height, plot)
}

/// One person on the relationship map.
pub(crate) struct Dot {
    pub label: String,
    /// Row: index into the map's bands.
    pub band: usize,
    /// Time since last in touch, as a share of the cadence (1.0 = due now).
    pub elapsed: f64,
    /// `owed`, `owing` or `even` (a CSS class): the ledger's balance.
    pub class: &'static str,
}

/// People in bands (influence) by how long since you were last in touch: right of the
/// dashed line is overdue.
pub(crate) fn map(id: &str, title: &str, bands: &[&str], dots: &[Dot]) -> Markup {
    let band = 56.0;
    let height = TOP + band * bands.len().max(1) as f64 + 28.0;
    let span = 2.0; // the axis runs to twice the cadence; later is drawn at its end
    let x =
        |e: f64| LEFT + 60.0 + (WIDTH - LEFT - 60.0 - RIGHT - 80.0) * (e.clamp(0.0, span) / span);
    let bottom = height - 28.0;
    let plot = html! {
            @for (i, name) in bands.iter().enumerate() {
                @let y = TOP + band * i as f64;
                rect.band x=(LEFT) y=(fmt(y + 2.0)) width=(WIDTH - LEFT - RIGHT) height=(fmt(band - 4.0)) {}
                text.label x=(LEFT + 4.0) y=(fmt(y + band / 2.0 + 4.0)) { (name) }
            }
            line.due x1=(fmt(x(1.0))) y1=(TOP) x2=(fmt(x(1.0))) y2=(fmt(bottom)) {}
            text x=(fmt(x(0.0))) y=(fmt(bottom + 16.0)) { "just in touch" }
            text x=(fmt(x(1.0))) y=(fmt(bottom + 16.0)) text-anchor="middle" { "due" }
            text x=(fmt(x(span))) y=(fmt(bottom + 16.0)) text-anchor="end" { "long overdue" }
            @for (k, d) in dots.iter().enumerate() {
                // Spread people in one band over three lines so labels rarely collide.
                @let y = TOP + band * d.band as f64 + 14.0 + 14.0 * (k % 3) as f64;
                circle.person.(d.class) cx=(fmt(x(d.elapsed))) cy=(fmt(y)) r="5" {
                    title { (txt(&d.label)) }
                }
                text.label x=(fmt(x(d.elapsed) + 8.0)) y=(fmt(y + 4.0)) { (txt(&d.label)) }
            }
    };
    svg(id, title, height, plot)
}

/// An SVG chart `WIDTH` wide, titled for screen readers.
fn svg(id: &str, title: &str, height: f64, plot: Markup) -> Markup {
    html! {
        svg.chart id=(id) viewBox={ "0 0 " (WIDTH) " " (fmt(height)) } role="img"
            aria-labelledby={ (id) "-title" } {
            title id={ (id) "-title" } { (txt(title)) }
            (plot)
        }
    }
}

fn axes(max: f64) -> Markup {
    let bottom = HEIGHT - BOTTOM;
    html! {
        line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(bottom) {}
        line.axis x1=(LEFT) y1=(bottom) x2=(WIDTH - RIGHT) y2=(bottom) {}
        text x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" { (max) }
        text x=(LEFT - 6.0) y=(bottom) text-anchor="end" { "0" }
    }
}

/// Labels under the x axis; with many labels only some, so they never overlap.
fn x_labels(labels: &[String], slot: f64) -> Markup {
    let every = (labels.len() / 12).max(1);
    let y = HEIGHT - BOTTOM + 16.0;
    html! {
        @for (i, label) in labels.iter().enumerate() {
            @if i % every == 0 {
                @let x = LEFT + slot * i as f64 + slot / 2.0;
                text x=(fmt(x)) y=(y) text-anchor="middle" { (txt(&short(label))) }
            }
        }
    }
}

fn data_table(title: &str, labels: &[String], series: &[Series<'_>]) -> Markup {
    html! {
        details {
            summary { "The numbers: " (txt(title)) }
            div.scroll {
                table {
                    thead { tr { th { "" } @for s in series { th scope="col" { (s.name) } } } }
                    tbody {
                        @for (i, label) in labels.iter().enumerate() {
                            tr {
                                th scope="row" { (txt(label)) }
                                @for s in series { td { (s.values.get(i).copied().unwrap_or(0.0)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The top of the y axis: the largest value rounded up to 1, 2 or 5 times a power of ten.
fn nice_max(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0_f64, f64::max);
    if max <= 1.0 {
        return 1.0;
    }
    let magnitude = 10_f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|top| *top >= max)
        .unwrap_or(max)
}

/// Long labels cut to fit under a bar.
fn short(label: &str) -> String {
    let mut chars = label.chars();
    let cut: String = chars.by_ref().take(12).collect();
    if chars.next().is_some() {
        format!("{cut}…")
    } else {
        cut
    }
}

pub(crate) fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_max([0.0].into_iter()), 1.0);
        assert_eq!(nice_max([3.0, 7.0].into_iter()), 10.0);
        assert_eq!(nice_max([12.0].into_iter()), 20.0);
        assert_eq!(nice_max([41.0].into_iter()), 50.0);
    }

    #[test]
    fn chart_text_is_escaped() {
        let svg = bars(
            "c",
            "Sessions",
            &["<script>".to_owned()],
            &[Series {
                name: "sessions",
                values: vec![2.0],
            }],
        )
        .into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
    }
}

//! The results: one table for people, the same figures as JSON for machines.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// Whether a row meets its target.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Met,
    /// Missed, by how much (e.g. "3.2x over").
    Missed(String),
    /// A figure with no target.
    Info,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub section: String,
    pub what: String,
    pub measured: String,
    /// The in-process reference or other comparison, if any.
    pub reference: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub figures: Map<String, Value>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn info(&mut self, section: &str, what: &str, measured: String) {
        self.rows.push(Row {
            section: section.into(),
            what: what.into(),
            measured,
            reference: String::new(),
            ratio: String::new(),
            target: String::new(),
            verdict: Verdict::Info,
        });
    }

    /// A row with a reference and a ratio but no target.
    pub fn compare(
        &mut self,
        section: &str,
        what: &str,
        measured: String,
        reference: String,
        ratio: f64,
    ) {
        self.rows.push(Row {
            section: section.into(),
            what: what.into(),
            measured,
            reference,
            ratio: format!("{ratio:.2}x"),
            target: String::new(),
            verdict: Verdict::Info,
        });
    }

    /// A row judged against "at most `limit`" (`value` and `limit` in the same unit).
    #[allow(clippy::too_many_arguments)]
    pub fn at_most(
        &mut self,
        section: &str,
        what: &str,
        measured: String,
        reference: String,
        ratio: Option<f64>,
        target: String,
        value: f64,
        limit: f64,
    ) {
        let verdict = if value <= limit {
            Verdict::Met
        } else {
            Verdict::Missed(format!("{:.1}x over", value / limit.max(f64::MIN_POSITIVE)))
        };
        self.rows.push(Row {
            section: section.into(),
            what: what.into(),
            measured,
            reference,
            ratio: ratio.map(|r| format!("{r:.2}x")).unwrap_or_default(),
            target,
            verdict,
        });
    }

    /// A row judged against "at least `floor`".
    pub fn at_least(
        &mut self,
        section: &str,
        what: &str,
        measured: String,
        target: String,
        value: f64,
        floor: f64,
    ) {
        let verdict = if value >= floor {
            Verdict::Met
        } else {
            Verdict::Missed(format!("{:.0}% of target", 100.0 * value / floor))
        };
        self.rows.push(Row {
            section: section.into(),
            what: what.into(),
            measured,
            reference: String::new(),
            ratio: String::new(),
            target,
            verdict,
        });
    }

    pub fn figure(&mut self, key: &str, value: Value) {
        self.figures.insert(key.into(), value);
    }

    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub fn table(&self) -> String {
        let headers = [
            "",
            "measured",
            "in-process / reference",
            "ratio",
            "target",
            "verdict",
        ];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.what.clone(),
                    r.measured.clone(),
                    r.reference.clone(),
                    r.ratio.clone(),
                    r.target.clone(),
                    match &r.verdict {
                        Verdict::Met => "met".into(),
                        Verdict::Missed(by) => format!("MISSED ({by})"),
                        Verdict::Info => String::new(),
                    },
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (c, w) in cells.iter().zip(widths) {
                let _ = write!(s, " {c:<w$} |");
            }
            s.push('\n');
            s
        };
        let mut out = String::new();
        let mut section = "";
        for (row, r) in cells.iter().zip(&self.rows) {
            if r.section != section {
                section = &r.section;
                let _ = writeln!(out, "\n{section}");
                out.push_str(&line(&headers.map(String::from)));
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                out.push_str(&line(&rule));
            }
            out.push_str(&line(row));
        }
        out
    }

    pub fn json(&self, meta: Value) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "section": r.section,
                    "what": r.what,
                    "measured": r.measured,
                    "reference": r.reference,
                    "ratio": r.ratio,
                    "target": r.target,
                    "verdict": match &r.verdict {
                        Verdict::Met => json!("met"),
                        Verdict::Missed(by) => json!({"missed": by}),
                        Verdict::Info => Value::Null,
                    },
                })
            })
            .collect();
        json!({
            "meta": meta,
            "figures": self.figures,
            "rows": rows,
            "notes": self.notes,
        })
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.0} us", ms * 1000.0)
    }
}

pub fn bytes(n: u64) -> String {
    // Decimal units, as the targets are written (1 KB = 1,000 bytes).
    let n = n as f64;
    if n >= 1e6 {
        format!("{:.2} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} KB", n / 1e3)
    } else {
        format!("{n:.0} B")
    }
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::INFINITY }
}

//! The model of the screen: a row per resource instance, three cells, each
//! a few measured figures flagged against the thresholds, and the way a
//! cell's figures are built and written.

use serde_json::{Value, json};
use toolkit_core::LlHist;
use toolkit_report::output::ll_percentiles;

use crate::thresholds::Thresholds;

/// A measured figure: its JSON/OpenMetrics name, value, text, and why it
/// was flagged.
pub struct Figure {
    pub key: &'static str,
    pub value: Value,
    pub text: String,
    pub flag: Option<String>,
}

/// One cell: its figures, or why it has none.
#[derive(Default)]
pub struct Cell {
    pub figures: Vec<Figure>,
    pub unavailable: Option<String>,
    /// Nothing to measure here, by design: this text in the cell, the
    /// reason in JSON and the docs (not a note on every screen).
    pub dash: Option<&'static str>,
}

impl Cell {
    pub fn flagged(&self) -> bool {
        self.figures.iter().any(|f| f.flag.is_some())
    }

    pub fn text(&self) -> String {
        if let Some(text) = self.dash {
            return text.into();
        }
        if let Some(why) = &self.unavailable
            && self.figures.is_empty()
        {
            return format!("n/a: {}", short(why));
        }
        // A figure with no text is told by another's (usecheck's CPU
        // time parts share one line).
        let lines: Vec<String> = self
            .figures
            .iter()
            .filter(|f| !f.text.is_empty())
            .map(|f| {
                if f.flag.is_some() {
                    format!("{}!", f.text)
                } else {
                    f.text.clone()
                }
            })
            .collect();
        lines.join("\n")
    }
}

/// The first words of a reason, for a cell; the whole reason is in the
/// notes under the table.
fn short(why: &str) -> String {
    let words: Vec<&str> = why.split_whitespace().take(3).collect();
    let mut s = words.join(" ");
    if why.split_whitespace().count() > 3 {
        s.push_str("...");
    }
    s
}

/// A resource instance's row.
pub struct Row {
    pub resource: &'static str,
    pub instance: String,
    pub cells: [Cell; 3],
}

/// Builds a cell's figures, flagging them against thresholds, with the
/// names the flags' notes give.
pub struct CellBuilder<'a> {
    thresholds: &'a Thresholds,
    what: String,
    drill: &'static str,
    cell: Cell,
}

impl<'a> CellBuilder<'a> {
    pub fn new(thresholds: &'a Thresholds, what: String, drill: &'static str) -> Self {
        Self {
            thresholds,
            what,
            drill,
            cell: Cell::default(),
        }
    }

    /// A figure flagged when `value` reaches threshold `name`; `show`
    /// writes a value (the figure's or the threshold's).
    pub fn against(
        &mut self,
        key: &'static str,
        value: f64,
        name: &str,
        show: impl Fn(f64) -> String,
        text: String,
    ) {
        let limit = self.thresholds.get(name);
        let flag = (value >= limit).then(|| {
            format!(
                "{}: {} >= {} ({name}); drill down: {}",
                self.what,
                show(value),
                show(limit),
                self.drill
            )
        });
        self.cell.figures.push(Figure {
            key,
            value: json!(round(value)),
            text,
            flag,
        });
    }

    /// A count flagged when not zero (errors, drops for a full queue).
    pub fn count(&mut self, key: &'static str, count: u64, text: String) {
        let flag =
            (count > 0).then(|| format!("{}: {text}; drill down: {}", self.what, self.drill));
        self.cell.figures.push(Figure {
            key,
            value: json!(count),
            text,
            flag,
        });
    }

    /// A p99 latency (`label p99 4.2ms`) flagged at threshold `name`, or
    /// `label p99 -` (null in JSON) without samples.
    pub fn p99(&mut self, key: &'static str, label: &str, hist: Option<&LlHist>, name: &str) {
        match hist.and_then(p99) {
            Some(p) => self.against(key, p, name, secs, format!("{label} p99 {}", secs(p))),
            None => self.plain(key, Value::Null, format!("{label} p99 -")),
        }
    }

    /// Drops that are errors, with their commonest reason.
    pub fn drops(&mut self, count: u64, top: Option<&str>) {
        let text = match top {
            Some(reason) if count > 0 => format!("{count} drops ({reason})"),
            _ => format!("{count} drops"),
        };
        self.count("drops", count, text);
    }

    /// A figure never flagged.
    pub fn plain(&mut self, key: &'static str, value: Value, text: String) {
        self.cell.figures.push(Figure {
            key,
            value,
            text,
            flag: None,
        });
    }

    pub fn off(mut self, why: Option<&str>) -> Self {
        if let Some(why) = why {
            self.cell.unavailable = Some(why.to_string());
        }
        self
    }

    /// Measured elsewhere: `dash` in the cell, `why` in JSON and the notes.
    pub fn elsewhere(&mut self, why: &str, dash: &'static str) {
        self.cell.unavailable = Some(why.to_string());
        self.cell.dash = Some(dash);
    }

    pub fn done(self) -> Cell {
        self.cell
    }
}

/// Rounds to 4 significant digits for JSON and OpenMetrics.
pub fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

pub fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

pub fn num(v: f64) -> String {
    format!("{v:.2}")
}

/// A duration in seconds, as operators read it: 850us, 4.2ms, 1.20s.
pub fn secs(v: f64) -> String {
    if v < 1e-3 {
        format!("{:.0}us", v * 1e6)
    } else if v < 1.0 {
        format!("{:.1}ms", v * 1e3)
    } else {
        format!("{v:.2}s")
    }
}

pub fn p99(hist: &LlHist) -> Option<f64> {
    (hist.count > 0).then(|| ll_percentiles(hist, &[99.0])[0] / 1e9)
}

/// Bits per second, as `ip -s` and link speeds are written.
pub fn rate(bits: f64) -> String {
    match bits {
        b if b >= 1e9 => format!("{:.1} Gb/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mb/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kb/s", b / 1e3),
        b => format!("{b:.0} b/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(secs(0.000_85), "850us");
        assert_eq!(secs(0.0042), "4.2ms");
        assert_eq!(secs(1.2), "1.20s");
        assert_eq!(rate(1.5e6), "1.5 Mb/s");
        assert_eq!(round(1.234_567), 1.235);
    }
}

//! `--openmetrics FILE`: the histograms as an OpenMetrics text exposition,
//! rewritten atomically each interval, for node_exporter's textfile
//! collector (or any scraper). Histograms there are cumulative counters, so
//! the file holds totals since the tool started, not the last interval.

use std::{
    collections::BTreeMap,
    io::{self, Write as _},
    path::PathBuf,
};

use crate::hist::{Hist, MAX_SLOTS};

use super::Unit;

/// Buckets written: log2 slots 0..BUCKETS, then `+Inf`. With microsecond
/// slots the last finite bound is 2^28 us, about 4.5 minutes.
const BUCKETS: usize = 28;

/// One metric family (`<tool>_latency_seconds`) with one label.
pub struct OpenMetrics {
    path: PathBuf,
    family: String,
    label: Option<&'static str>,
    unit: Unit,
    totals: BTreeMap<String, Hist>,
}

impl OpenMetrics {
    /// `label` names the histogram key (`syscall`, `disk`, `pid`), as
    /// Prometheus conventions spell it; `None` for a single histogram.
    pub fn new(path: PathBuf, tool: &str, label: Option<&'static str>, unit: Unit) -> Self {
        Self {
            path,
            family: format!("{tool}_latency_seconds"),
            label,
            unit,
            totals: BTreeMap::new(),
        }
    }

    /// Adds one interval's histograms (by label value) and rewrites the file.
    pub fn update<'a>(
        &mut self,
        hists: impl IntoIterator<Item = (String, &'a Hist)>,
    ) -> io::Result<()> {
        for (key, hist) in hists {
            let total = self.totals.entry(key).or_insert(Hist::ZERO);
            for i in 0..MAX_SLOTS {
                total.slots[i] += hist.slots[i];
            }
            total.count += hist.count;
            total.sum += hist.sum;
        }
        self.write()
    }

    fn render(&self) -> String {
        use std::fmt::Write as _;
        let f = &self.family;
        let unit_secs = self.unit.divisor() as f64 / 1e9;
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE {f} histogram");
        let _ = writeln!(out, "# UNIT {f} seconds");
        let _ = writeln!(
            out,
            "# HELP {f} Latency, from eBPF, since the tool started."
        );
        for (key, hist) in &self.totals {
            // `name="value",` before `le`, and alone (without the comma).
            let (label, alone) = match self.label {
                Some(name) => {
                    let pair = format!("{name}=\"{}\"", escape(key));
                    (format!("{pair},"), format!("{{{pair}}}"))
                }
                None => (String::new(), String::new()),
            };
            let mut cumulative = 0;
            for slot in 0..BUCKETS {
                cumulative += hist.slots[slot];
                // Slot k holds whole units in [2^k, 2^(k+1)).
                let le = (1u64 << (slot + 1)) as f64 * unit_secs;
                let _ = writeln!(out, "{f}_bucket{{{label}le=\"{le:e}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{f}_bucket{{{label}le=\"+Inf\"}} {}", hist.count);
            let _ = writeln!(out, "{f}_count{alone} {}", hist.count);
            let _ = writeln!(out, "{f}_sum{alone} {:e}", hist.sum as f64 / 1e9);
        }
        out.push_str("# EOF\n");
        out
    }

    /// Writes a temporary file beside the target and renames it over the
    /// target, so that a scraper never reads half a file.
    fn write(&self) -> io::Result<()> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(self.render().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_count_and_sum() {
        let dir = std::env::temp_dir().join(format!("om-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.prom");
        let mut om = OpenMetrics::new(path.clone(), "syslat", Some("syscall"), Unit::Usecs);
        let mut hist = Hist::ZERO;
        hist.slots[0] = 2; // 0-1 us
        hist.slots[3] = 1; // 8-15 us
        hist.count = 3;
        hist.sum = 10_500;
        om.update([("read".to_string(), &hist)]).unwrap();
        om.update([("read".to_string(), &hist)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("syslat_latency_seconds_bucket{syscall=\"read\",le=\"2e-6\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("syslat_latency_seconds_bucket{syscall=\"read\",le=\"1.6e-5\"} 6\n"),
            "{text}"
        );
        assert!(
            text.contains("syslat_latency_seconds_count{syscall=\"read\"} 6\n"),
            "{text}"
        );
        assert!(
            text.contains("syslat_latency_seconds_sum{syscall=\"read\"} 2.1e-5\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

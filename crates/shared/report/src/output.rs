//! Printers: libbpf-tools' log2 histogram, timestamps, and JSON lines.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use toolkit_core::{
    hist::{Hist, slot_bounds},
    loglinear::{LL_BINS, LlHist, loglinear_bounds, loglinear_digits},
};
use toolkit_drain::Losses;

/// `--percentiles` without a list.
pub const DEFAULT_PERCENTILES: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

/// Parses a `--percentiles` list such as `50,90,99.9`: numbers in (0, 100].
pub fn parse_percentile(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!(
            "'{text}' is not a percentile (a number in (0, 100])"
        )),
    }
}

/// The percentiles `ps` (in (0, 100]) of a log-linear histogram, in its raw
/// unit (ns), interpolated within bins by the openhistogram crate (type 1
/// quantiles, as circllhist computes them).
pub fn ll_percentiles(hist: &LlHist, ps: &[f64]) -> Vec<f64> {
    let mut oh = openhistogram::Histogram::new();
    for bin in 0..LL_BINS {
        let count = hist.bins[bin];
        if count == 0 {
            continue;
        }
        let value = match loglinear_digits(bin) {
            Some((digits, e)) => openhistogram::Bin::from_int_scale(digits as i128, e - 1),
            // Zero, or the overflow bin (reported at its lower bound).
            None => openhistogram::Bin::from_f64(loglinear_bounds(bin).0),
        };
        oh.insert(value, count);
    }
    // Interpolation inside a bin can overshoot the exact extremes, which
    // the kernel keeps: clamp to them.
    let (min, max) = (hist.min as f64, hist.max as f64);
    ps.iter()
        .map(|p| match oh.quantile1(&[p / 100.0]) {
            Ok([q]) if hist.count > 0 && min <= max => q.clamp(min, max),
            Ok([q]) => q,
            Err(_) => f64::NAN,
        })
        .collect()
}

/// Label of percentile `p` in output: `p50`, `p99.9`.
pub fn percentile_label(p: f64) -> String {
    format!("p{p}")
}

/// Display unit of histogram buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds (raw sample values).
    Nsecs,
    /// Microseconds, the default of the latency tools.
    #[default]
    Usecs,
    /// Milliseconds (`-m`).
    Msecs,
    /// Bytes (size histograms).
    Bytes,
}

impl Unit {
    /// Latency unit from the usual `-m` / `-n` flags.
    pub fn latency(millis: bool, nanos: bool) -> Self {
        match (millis, nanos) {
            (true, _) => Unit::Msecs,
            (_, true) => Unit::Nsecs,
            _ => Unit::Usecs,
        }
    }

    /// The column header word (`usecs`, `msecs`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Unit::Nsecs => "nsecs",
            Unit::Usecs => "usecs",
            Unit::Msecs => "msecs",
            Unit::Bytes => "bytes",
        }
    }

    /// What raw values (nanoseconds, bytes) are divided by before bucketing.
    pub fn divisor(self) -> u64 {
        match self {
            Unit::Nsecs | Unit::Bytes => 1,
            Unit::Usecs => 1_000,
            Unit::Msecs => 1_000_000,
        }
    }

    /// Unit of the raw values behind `sum` and `max`.
    pub fn raw_label(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            _ => "nsecs",
        }
    }
}

/// Prints `slots` exactly as libbpf-tools' `print_log2_hist` does: a header,
/// one row per bucket up to the last non-empty one, 40-star bars. Prints
/// nothing for an empty histogram.
pub fn print_log2_hist(w: &mut (impl Write + ?Sized), slots: &[u64], unit: &str) -> io::Result<()> {
    let Some(idx_max) = slots.iter().rposition(|&v| v > 0) else {
        return Ok(());
    };
    let val_max = slots.iter().copied().max().unwrap_or(0);
    let wide = idx_max > 32;
    let (pad, unit_width, stars, width) = if wide {
        (15, 29, 20, 20)
    } else {
        (5, 19, 40, 10)
    };
    writeln!(w, "{:pad$}{unit:<unit_width$} : count    distribution", "")?;
    for (i, &val) in slots.iter().enumerate().take(idx_max + 1) {
        let (low, high) = slot_bounds(i);
        write!(w, "{low:>width$} -> {high:<width$} : {val:<8} |")?;
        let filled = (val.min(val_max) as u128 * stars as u128 / val_max as u128) as usize;
        write!(
            w,
            "{:*<filled$}{:stars_left$}",
            "",
            "",
            stars_left = stars - filled
        )?;
        writeln!(w, "|")?;
    }
    Ok(())
}

/// Local wall-clock time as `HH:MM:SS`, the `-T` line of libbpf-tools.
pub fn local_hms() -> String {
    // SAFETY: time and localtime_r write only into the locals given.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm = std::mem::zeroed::<libc::tm>();
        libc::localtime_r(&now, &mut tm);
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}

/// Prints the `-T` timestamp line (`%-8s` of `HH:MM:SS`).
pub fn print_timestamp(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{:<8}", local_hms())
}

/// One histogram of a JSON interval record: its key labels and data.
pub fn json_hist(key: Map<String, Value>, hist: &Hist) -> Value {
    let last = hist.slots.iter().rposition(|&v| v > 0);
    let buckets: Vec<Value> = hist.slots[..last.map_or(0, |i| i + 1)]
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let (low, high) = slot_bounds(i);
            json!({ "low": low, "high": high, "count": count })
        })
        .collect();
    json!({
        "key": key,
        "buckets": buckets,
        "count": hist.count,
        "sum": hist.sum,
        "max": hist.max,
    })
}

/// The exact summary under a histogram: `count = 1009, mean = 3071.2 usecs,
/// max = 3204.9 usecs` (from the exact sum and maximum, not the buckets).
pub fn print_summary(w: &mut (impl Write + ?Sized), hist: &Hist, unit: Unit) -> io::Result<()> {
    let scale = unit.divisor() as f64;
    let mean = hist.sum as f64 / hist.count.max(1) as f64 / scale;
    let max = hist.max as f64 / scale;
    let label = unit.label();
    if scale == 1.0 {
        writeln!(
            w,
            "count = {}, mean = {mean:.1} {label}, max = {} {label}",
            hist.count, hist.max
        )
    } else {
        writeln!(
            w,
            "count = {}, mean = {mean:.1} {label}, max = {max:.1} {label}",
            hist.count
        )
    }
}

/// The summary under a histogram with `--percentiles`: exact count, mean,
/// minimum and maximum, and the percentiles from the log-linear bins, e.g.
/// `count = 1009, mean = 3071.2, min = 3051.0, p50 = 3063.9, p99 = 3120.4,
/// max = 3204.9 usecs`.
pub fn print_percentiles(
    w: &mut (impl Write + ?Sized),
    hist: &LlHist,
    ps: &[f64],
    unit: Unit,
) -> io::Result<()> {
    let scale = unit.divisor() as f64;
    let mean = hist.sum as f64 / hist.count.max(1) as f64 / scale;
    write!(
        w,
        "count = {}, mean = {mean:.1}, min = {:.1}",
        hist.count,
        hist.min as f64 / scale
    )?;
    for (p, v) in ps.iter().zip(ll_percentiles(hist, ps)) {
        write!(w, ", {} = {:.1}", percentile_label(*p), v / scale)?;
    }
    writeln!(w, ", max = {:.1} {}", hist.max as f64 / scale, unit.label())
}

/// `--above`: under a histogram, how many of its samples were at or above
/// `threshold` (raw units) and their share; when the threshold is inside a
/// bin rather than on its edge, the range that bin leaves open and its
/// bounds.
pub fn print_above(
    w: &mut (impl Write + ?Sized),
    hist: &LlHist,
    threshold: u64,
    unit: Unit,
) -> io::Result<()> {
    let scale = unit.divisor() as f64;
    let above = toolkit_core::loglinear::above(&hist.bins, threshold);
    let share = |n: u64| 100.0 * n as f64 / hist.count.max(1) as f64;
    let shown = threshold as f64 / scale;
    let (label, count) = (unit.label(), above.count);
    if above.straddling == 0 {
        return writeln!(
            w,
            "above {shown:.1} {label}: {count} of {} ({:.2}%)",
            hist.count,
            share(count)
        );
    }
    let most = count + above.straddling;
    let (low, high) = loglinear_bounds(above.bin);
    writeln!(
        w,
        "above {shown:.1} {label}: {count} to {most} of {} ({:.2}% to {:.2}%; {} in the bin {:.1}-{:.1} {label} holding the threshold)",
        hist.count,
        share(count),
        share(most),
        above.straddling,
        low / scale,
        high / scale,
    )
}

/// `--above` in a JSON histogram: the threshold and the bin holding it
/// (raw units), the samples surely at or above it and its share, and
/// those in that bin when the threshold is not its edge.
pub fn json_above(hist: &LlHist, threshold: u64) -> Value {
    let above = toolkit_core::loglinear::above(&hist.bins, threshold);
    let (low, high) = loglinear_bounds(above.bin);
    json!({
        "threshold": threshold,
        "count": above.count,
        "share": above.count as f64 / hist.count.max(1) as f64,
        "straddling": above.straddling,
        "bin": [low, if high.is_finite() { json!(high) } else { Value::Null }],
    })
}

/// The columns of `--compact`.
pub const COMPACT_PERCENTILES: [f64; 4] = [10.0, 50.0, 90.0, 99.0];

/// `--compact` output: a header once, then one line per key and interval
/// (time, count, p10, p50, p90, p99, max). A key seen once is printed in
/// every later interval, with count 0 and `-` when it had no samples, and
/// the keys named at the start (the single histogram, the syscalls asked
/// for) from the first interval on, so that a time series has no holes.
pub struct CompactPrinter {
    title: String,
    unit: Unit,
    header_done: bool,
    seen: std::collections::BTreeSet<String>,
    /// `--above`: the threshold (raw units) whose count and share end
    /// each line.
    above: Option<u64>,
}

impl CompactPrinter {
    /// `title` names the key column (`SYSCALL`, `PID`, `DISK`); `always`
    /// are keys printed from the first interval on.
    pub fn new(title: &str, unit: Unit, always: impl IntoIterator<Item = String>) -> Self {
        Self {
            title: title.to_string(),
            unit,
            header_done: false,
            seen: always.into_iter().collect(),
            above: None,
        }
    }

    /// Ends each line with the count and share of samples at or above
    /// `threshold` (raw units): `ABOVE` and `SHARE`, a range (`70-74`)
    /// when the threshold is inside a bin.
    pub fn with_above(mut self, threshold: Option<u64>) -> Self {
        self.above = threshold;
        self
    }

    /// The `ABOVE` and `SHARE` cells of `hist`, or nothing.
    fn above_cells(&self, hist: &LlHist) -> String {
        let Some(threshold) = self.above else {
            return String::new();
        };
        let above = toolkit_core::loglinear::above(&hist.bins, threshold);
        let share = |n: u64| 100.0 * n as f64 / hist.count.max(1) as f64;
        let most = above.count + above.straddling;
        let (count, share) = if above.straddling == 0 {
            (
                above.count.to_string(),
                format!("{:.1}%", share(above.count)),
            )
        } else {
            (
                format!("{}-{most}", above.count),
                format!("{:.1}-{:.1}%", share(above.count), share(most)),
            )
        };
        format!(" {count:>10} {share:>12}")
    }

    /// Writes one interval: `rows` are the keys with samples, in display
    /// order, with their histogram (`None`: had samples but is not shown,
    /// as with `--top`); then a zero line for every other key seen before.
    pub fn write<'a>(
        &mut self,
        w: &mut (impl Write + ?Sized),
        rows: impl IntoIterator<Item = (String, Option<&'a LlHist>)>,
    ) -> io::Result<()> {
        if !std::mem::replace(&mut self.header_done, true) {
            let (above, note) = match self.above {
                Some(threshold) => (
                    format!(" {:>10} {:>12}", "ABOVE", "SHARE"),
                    format!(
                        "; ABOVE: {:.1} or more",
                        threshold as f64 / self.unit.divisor() as f64
                    ),
                ),
                None => (String::new(), String::new()),
            };
            writeln!(
                w,
                "{:<8} {:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}{above}  ({}{note})",
                "TIME",
                self.title,
                "COUNT",
                "P10",
                "P50",
                "P90",
                "P99",
                "MAX",
                self.unit.label()
            )?;
        }
        let time = local_hms();
        let scale = self.unit.divisor() as f64;
        let mut idle = self.seen.clone();
        for (key, hist) in rows {
            idle.remove(&key);
            if let Some(hist) = hist {
                let p = ll_percentiles(hist, &COMPACT_PERCENTILES);
                writeln!(
                    w,
                    "{time:<8} {key:<16} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}{}",
                    hist.count,
                    p[0] / scale,
                    p[1] / scale,
                    p[2] / scale,
                    p[3] / scale,
                    hist.max as f64 / scale,
                    self.above_cells(hist)
                )?;
            }
            self.seen.insert(key);
        }
        let none = match self.above {
            Some(_) => format!(" {:>10} {:>12}", 0, "-"),
            None => String::new(),
        };
        for key in idle {
            writeln!(
                w,
                "{time:<8} {key:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}{none}",
                0, "-", "-", "-", "-", "-"
            )?;
        }
        w.flush()
    }
}

/// JSON fields of a log-linear histogram: its non-empty bins as
/// `{"value": lower bound, "count": n}` (raw unit), `min`, and the
/// percentiles by label.
pub fn json_loglinear(hist: &LlHist, ps: &[f64]) -> Map<String, Value> {
    let bins: Vec<Value> = (0..LL_BINS)
        .filter(|&b| hist.bins[b] > 0)
        .map(|b| json!({ "value": loglinear_bounds(b).0, "count": hist.bins[b] }))
        .collect();
    let percentiles: Map<String, Value> = ps
        .iter()
        .zip(ll_percentiles(hist, ps))
        .map(|(p, v)| (percentile_label(*p), json!(v)))
        .collect();
    let mut out = Map::new();
    out.insert("loglinear".into(), bins.into());
    out.insert("min".into(), hist.min.into());
    out.insert("percentiles".into(), percentiles.into());
    out
}

/// Standard output, locked, whose write errors say that it was standard
/// output that failed (a full disk behind a redirection, say); the error
/// kind is kept, so a closed pipe still ends the tool quietly.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

/// See [`stdout`].
pub struct Stdout(io::StdoutLock<'static>);

impl Stdout {
    fn name(err: io::Error) -> io::Error {
        io::Error::new(err.kind(), format!("writing to standard output: {err}"))
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(Self::name)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(Self::name)
    }
}

/// Current time in RFC 3339 (UTC, microseconds), for JSON records.
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

/// Writes one interval as a single JSON line: tool, interval end time
/// (RFC 3339, UTC), bucket unit, the unit of `sum`/`max`, the histograms,
/// what the kernel side could not record (`lost`, by reason), and
/// tool-specific fields (`errors`, `sizes`, ...).
pub fn write_json_interval(
    w: &mut (impl Write + ?Sized),
    tool: &str,
    unit: Unit,
    histograms: Vec<Value>,
    lost: &Losses,
    extra: Map<String, Value>,
) -> io::Result<()> {
    let mut record = json!({
        "tool": tool,
        "time": rfc3339_now(),
        "unit": unit.label(),
        "value_unit": unit.raw_label(),
        "histograms": histograms,
        "lost": losses_json(lost),
    });
    if let Value::Object(fields) = &mut record {
        fields.extend(extra);
    }
    serde_json::to_writer(&mut *w, &record)?;
    writeln!(w)?;
    w.flush()
}

/// `{"reason": count, ...}` for JSON records: every reason, zero or not,
/// so that scripts find the same keys every time.
pub fn losses_json(lost: &Losses) -> Value {
    lost.0
        .iter()
        .map(|(reason, n)| (reason.to_string(), Value::from(*n)))
        .collect::<Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_within_a_bin_of_the_truth() {
        let mut hist = LlHist::ZERO;
        // 900 samples of 1.00-1.09 ms and 109 of 20.0-20.9 ms.
        let mut values: Vec<u64> = (0..900).map(|i| 1_000_000 + i * 100).collect();
        values.extend((0..109).map(|i| 20_000_000 + i * 8_000));
        for &v in &values {
            hist.bins[toolkit_core::loglinear::loglinear_bin(v)] += 1;
        }
        hist.count = values.len() as u64;
        hist.min = values[0];
        hist.max = *values.last().unwrap();
        let got = ll_percentiles(&hist, &[50.0, 99.0]);
        let exact = |p: f64| values[((p / 100.0 * values.len() as f64).ceil() as usize) - 1] as f64;
        for (p, g) in [50.0, 99.0].iter().zip(got) {
            let e = exact(*p);
            assert!((g - e).abs() / e <= 0.1, "p{p}: {g} vs exact {e}");
        }
        assert_eq!(parse_percentile("99.9"), Ok(99.9));
        assert!(parse_percentile("0").is_err() && parse_percentile("101").is_err());
        assert_eq!(percentile_label(99.9), "p99.9");
    }

    #[test]
    fn summary_uses_exact_sum_and_max() {
        let mut hist = Hist::ZERO;
        hist.count = 4;
        hist.sum = 10_000;
        hist.max = 4_500;
        let mut out = Vec::new();
        print_summary(&mut out, &hist, Unit::Usecs).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "count = 4, mean = 2.5 usecs, max = 4.5 usecs\n"
        );
        let mut out = Vec::new();
        print_summary(&mut out, &hist, Unit::Bytes).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "count = 4, mean = 2500.0 bytes, max = 4500 bytes\n"
        );
    }

    fn render(slots: &[u64], unit: &str) -> String {
        let mut out = Vec::new();
        print_log2_hist(&mut out, slots, unit).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_prints_nothing() {
        assert_eq!(render(&[0; 64], "usecs"), "");
    }

    #[test]
    fn matches_libbpf_tools_layout() {
        let mut slots = [0u64; 64];
        slots[3] = 93;
        slots[4] = 3;
        slots[6] = 3;
        slots[7] = 1;
        insta::assert_snapshot!(render(&slots, "usecs"));
    }

    #[test]
    fn wide_layout_past_slot_32() {
        let mut slots = [0u64; 64];
        slots[0] = 4;
        slots[33] = 1;
        let text = render(&slots, "nsecs");
        assert!(text.starts_with(&format!(
            "{:15}{:<29} : count    distribution\n",
            "", "nsecs"
        )));
        assert!(text.contains(&format!(
            "{:>20} -> {:<20} : 4        |{}|\n",
            0,
            1,
            "*".repeat(20)
        )));
        assert_eq!(text.lines().count(), 35);
    }

    #[test]
    fn json_counts_match_slots() {
        let mut hist = Hist::ZERO;
        hist.slots[2] = 5;
        hist.count = 5;
        hist.sum = 30_000;
        hist.max = 7_000;
        let v = json_hist(Map::new(), &hist);
        let buckets = v["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[2]["low"], 4);
        assert_eq!(buckets[2]["high"], 7);
        assert_eq!(buckets[2]["count"], 5);
        assert_eq!(v["count"], 5);
    }
}

//! What a tool exposes to Prometheus: its histograms and counters,
//! cumulative since it started, in two places.
//!
//! - `--openmetrics FILE`: the OpenMetrics text exposition, rewritten
//!   atomically each interval, for node_exporter's textfile collector.
//!   Histograms there have classic buckets (the log2 slots).
//! - `--listen ADDR` ([`endpoint`]): an HTTP `/metrics` endpoint serving
//!   the same text, or, to a scraper that asks for Prometheus' protobuf
//!   format, the latency histograms as native histograms at the
//!   log-linear bins' resolution ([`native`]).

pub mod endpoint;
pub mod native;

use std::{collections::BTreeMap, path::Path};

use anyhow::Result;

use toolkit_core::{
    LlHist,
    hist::{Hist, MAX_SLOTS},
};
use toolkit_drain::Losses;

pub use endpoint::{Endpoint, parse_listen};

use crate::{ReplacedFile, Unit};

/// Buckets written: log2 slots 0..BUCKETS, then `+Inf`. With microsecond
/// slots the last finite bound is 2^28 us, about 4.5 minutes.
const BUCKETS: usize = 28;

/// A histogram family: one histogram per set of label values.
struct HistFamily {
    help: &'static str,
    labels: Vec<&'static str>,
    unit: Unit,
    totals: BTreeMap<Vec<String>, Totals>,
}

impl HistFamily {
    /// Raw units per base unit (1e9 ns per second, 1 byte per byte), and
    /// the width of a log2 slot's unit in base units.
    fn scales(&self) -> (f64, f64) {
        let raw_per_base = if self.unit == Unit::Bytes { 1.0 } else { 1e9 };
        (raw_per_base, self.unit.divisor() as f64 / raw_per_base)
    }
}

/// One histogram's totals: the log2 slots, and the log-linear bins when
/// the tool records them (then exposed as a native histogram).
#[derive(Clone)]
struct Totals {
    log2: Hist,
    bins: Option<native::Bins>,
}

/// One interval's histogram of one series, as recorded: its log2 slots,
/// and its log-linear twin when the kernel keeps one.
pub struct Recorded<'a> {
    pub log2: &'a Hist,
    pub loglinear: Option<&'a LlHist>,
}

impl<'a> From<&'a Hist> for Recorded<'a> {
    fn from(log2: &'a Hist) -> Self {
        Self {
            log2,
            loglinear: None,
        }
    }
}

impl<'a> From<(&'a Hist, Option<&'a LlHist>)> for Recorded<'a> {
    fn from((log2, loglinear): (&'a Hist, Option<&'a LlHist>)) -> Self {
        Self { log2, loglinear }
    }
}

/// The label values of one histogram: one (`String`, for a family with one
/// label), several (`Vec<String>`, one per label), or none.
pub trait LabelValues {
    fn into_values(self) -> Vec<String>;
}

impl LabelValues for String {
    fn into_values(self) -> Vec<String> {
        vec![self]
    }
}

impl LabelValues for Vec<String> {
    fn into_values(self) -> Vec<String> {
        self
    }
}

/// A counter family: one counter per set of label values.
struct CounterFamily {
    help: &'static str,
    labels: Vec<&'static str>,
    totals: BTreeMap<Vec<String>, u64>,
    /// Base units per counted unit: 1, or 1e-9 for nanoseconds counted
    /// and seconds exposed.
    scale: f64,
}

impl CounterFamily {
    fn value(&self, total: u64) -> f64 {
        total as f64 * self.scale
    }
}

/// A gauge family: the last value set per set of label values.
struct GaugeFamily {
    help: &'static str,
    labels: &'static [&'static str],
    values: BTreeMap<Vec<String>, f64>,
}

/// Everything one tool exposes: its latency histograms, and whatever other
/// histograms (sizes) and counters (failures, lost samples) it measures,
/// all cumulative since the tool started.
pub struct OpenMetrics {
    file: Option<ReplacedFile>,
    endpoint: Option<Endpoint>,
    tool: &'static str,
    histograms: BTreeMap<String, HistFamily>,
    counters: BTreeMap<String, CounterFamily>,
    gauges: BTreeMap<String, GaugeFamily>,
    /// `--above`: the threshold (ns) whose latency samples are counted.
    above: Option<u64>,
}

impl OpenMetrics {
    /// The metrics of `tool`, whose latency histograms are keyed by
    /// `label` (`syscall`, `disk`, `pid`, as Prometheus conventions spell
    /// it; `None` for a single histogram), published nowhere until
    /// [`to_file`](Self::to_file) or [`to_endpoint`](Self::to_endpoint).
    pub fn new(tool: &'static str, label: Option<&'static str>, unit: Unit) -> Self {
        let mut om = Self::counters_only(tool);
        om.histograms.insert(
            format!("{tool}_latency_seconds"),
            HistFamily {
                help: "Latency, from eBPF, since the tool started.",
                labels: label.into_iter().collect(),
                unit,
                totals: BTreeMap::new(),
            },
        );
        om
    }

    /// The metrics of a tool that measures no latency (`netdrop`,
    /// `syscount`): counters and gauges only, no latency family.
    pub fn counters_only(tool: &'static str) -> Self {
        Self {
            file: None,
            endpoint: None,
            tool,
            histograms: BTreeMap::new(),
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            above: None,
        }
    }

    /// `--above`: also counts the latency samples at or above `threshold`
    /// (ns), by the latency histograms' labels,
    /// `<tool>_latency_above_threshold_total`, beside the threshold as the
    /// gauge `<tool>_latency_threshold_seconds`.
    pub fn with_above(mut self, threshold: Option<u64>) -> Self {
        self.above = threshold;
        if let Some(threshold) = threshold {
            self.gauge(
                "latency_threshold_seconds",
                "The --above threshold.",
                &[],
                Vec::new(),
                threshold as f64 / 1e9,
            );
        }
        self
    }

    /// Also rewrites `path` at each [`publish`](Self::publish). Refuses a
    /// `path` that is not a regular file.
    pub fn to_file(mut self, path: &Path) -> Result<Self> {
        self.file = Some(ReplacedFile::new(self.tool, path)?);
        Ok(self)
    }

    /// Also serves the metrics on `endpoint`, updated at each
    /// [`publish`](Self::publish).
    pub fn to_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// The unit of the latency histograms' log2 slots (usecs, msecs...),
    /// which the tool's other latency histograms share.
    pub fn latency_unit(&self) -> Unit {
        self.histograms
            .get(&format!("{}_latency_seconds", self.tool))
            .map_or(Unit::Usecs, |f| f.unit)
    }

    /// Keys the latency histograms by these labels instead (the
    /// per-cgroup split's `cgroup`, `container`, `pod_uid`).
    pub fn labelled(mut self, labels: &'static [&'static str]) -> Self {
        let name = format!("{}_latency_seconds", self.tool);
        if let Some(family) = self.histograms.get_mut(&name) {
            family.labels = labels.to_vec();
        }
        self
    }

    /// Adds one interval's latency histograms, by label value.
    fn latency<'a, K: LabelValues, R: Into<Recorded<'a>>>(
        &mut self,
        hists: impl IntoIterator<Item = (K, R)>,
    ) {
        let name = format!("{}_latency_seconds", self.tool);
        let Some(family) = self.histograms.get_mut(&name) else {
            return;
        };
        let mut above = Vec::new();
        add_hists(
            &mut family.totals,
            hists.into_iter().map(|(key, recorded)| {
                let recorded: Recorded = recorded.into();
                let key = key.into_values();
                if let (Some(threshold), Some(ll)) = (self.above, recorded.loglinear) {
                    let count = toolkit_core::loglinear::above(&ll.bins, threshold).count;
                    above.push((key.clone(), count));
                }
                (key, recorded)
            }),
        );
        let labels = family.labels.clone();
        let help = "Latency samples at or above the --above threshold (those in the log-linear bin holding it left out unless it is the bin's edge).";
        for (values, count) in above {
            self.declare_counter("latency_above_threshold", help, &[]);
            if let Some(f) = self
                .counters
                .get_mut(&format!("{}_latency_above_threshold", self.tool))
            {
                f.labels.clone_from(&labels);
                *f.totals.entry(values).or_insert(0) += count;
            }
        }
    }

    /// Adds one interval's histograms of another family,
    /// `<tool>_<name>_<unit>` (`memlat_request_size_bytes`).
    pub fn histograms<'a, K: LabelValues, R: Into<Recorded<'a>>>(
        &mut self,
        name: &str,
        help: &'static str,
        label: Option<&'static str>,
        unit: Unit,
        hists: impl IntoIterator<Item = (K, R)>,
    ) {
        let base = if unit == Unit::Bytes {
            "bytes"
        } else {
            "seconds"
        };
        let family = self
            .histograms
            .entry(format!("{}_{name}_{base}", self.tool))
            .or_insert_with(|| HistFamily {
                help,
                labels: label.into_iter().collect(),
                unit,
                totals: BTreeMap::new(),
            });
        add_hists(&mut family.totals, hists);
    }

    /// Declares the counter family `<tool>_<name>` before it has any
    /// sample, so that scrapers see it (with `# TYPE`) from the start.
    pub fn declare_counter(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &'static [&'static str],
    ) {
        self.counters
            .entry(format!("{}_{name}", self.tool))
            .or_insert_with(|| CounterFamily {
                help,
                labels: labels.to_vec(),
                totals: BTreeMap::new(),
                scale: 1.0,
            });
    }

    /// Adds `ns` nanoseconds to the counter `<tool>_<name>_total`, which
    /// is exposed in seconds (`name` ends in `_seconds`).
    pub fn count_nanoseconds(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &'static [&'static str],
        values: Vec<String>,
        ns: u64,
    ) {
        self.count(name, help, labels, values, ns);
        if let Some(family) = self.counters.get_mut(&format!("{}_{name}", self.tool)) {
            family.scale = 1e-9;
        }
    }

    /// Adds `delta` to the counter `<tool>_<name>_total` with these label
    /// values (one per name in `labels`). A counter added with 0 is still
    /// exposed, so that `rate()` sees it from the start.
    pub fn count(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &'static [&'static str],
        values: Vec<String>,
        delta: u64,
    ) {
        self.declare_counter(name, help, labels);
        let Some(family) = self.counters.get_mut(&format!("{}_{name}", self.tool)) else {
            return;
        };
        *family.totals.entry(values).or_insert(0) += delta;
    }

    /// Sets the gauge `<tool>_<name>` with these label values (one per
    /// name in `labels`) to `value`, the last interval's figure. A gauge
    /// not set in an interval keeps its last value unless
    /// [`OpenMetrics::clear_gauges`] forgets it.
    pub fn gauge(
        &mut self,
        name: &str,
        help: &'static str,
        labels: &'static [&'static str],
        values: Vec<String>,
        value: f64,
    ) {
        let family = self
            .gauges
            .entry(format!("{}_{name}", self.tool))
            .or_insert_with(|| GaugeFamily {
                help,
                labels,
                values: BTreeMap::new(),
            });
        family.values.insert(values, value);
    }

    /// Forgets every gauge's values (their families stay declared): for a
    /// tool whose instances come and go (a disk detached).
    pub fn clear_gauges(&mut self) {
        for family in self.gauges.values_mut() {
            family.values.clear();
        }
    }

    /// Ends an interval: adds its latency histograms (by label value) and
    /// its losses, then rewrites the file (see [`OpenMetrics::publish`]).
    /// Other families are added before this.
    pub fn end_interval<'a, K: LabelValues, R: Into<Recorded<'a>>>(
        &mut self,
        latency: impl IntoIterator<Item = (K, R)>,
        lost: &Losses,
    ) {
        self.latency(latency);
        self.end_counts(lost);
    }

    /// Ends an interval of a tool with no latency histograms: adds its
    /// losses and publishes.
    pub fn end_counts(&mut self, lost: &Losses) {
        for (reason, n) in &lost.0 {
            self.count(
                "lost_samples",
                "Events the kernel side could not record, by reason.",
                &["reason"],
                vec![reason.to_string()],
                *n,
            );
        }
        self.publish();
    }

    /// Rewrites the file and updates the endpoint with the totals so far.
    /// A file that cannot be written is a warning on stderr naming the
    /// path: tracing and the tool's own output go on.
    pub fn publish(&self) {
        let text = self.render();
        if let Some(file) = &self.file {
            file.replace_or_warn(text.as_bytes());
        }
        self.serve(text);
    }

    /// Hands the endpoint (if any) `text` and the protobuf exposition.
    fn serve(&self, text: String) {
        if let Some(endpoint) = &self.endpoint {
            let protobuf = native::encode(&self.histograms, &self.counters, &self.gauges);
            endpoint.publish(text.into_bytes(), protobuf);
        }
    }

    /// Publishes now, failing on any error: at start-up, so that a path
    /// that cannot be written is said before tracing begins.
    pub fn publish_or_fail(&self) -> Result<()> {
        use anyhow::Context as _;
        let text = self.render();
        if let Some(file) = &self.file {
            file.replace(text.as_bytes())
                .with_context(|| format!("writing {}", file.path().display()))?;
        }
        self.serve(text);
        Ok(())
    }

    fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (f, family) in &self.histograms {
            // Bucket bounds and sums in the family's base unit: seconds
            // (values are ns) or bytes.
            let base = if family.unit == Unit::Bytes {
                "bytes"
            } else {
                "seconds"
            };
            let (raw_per_base, bucket_scale) = family.scales();
            let _ = writeln!(out, "# TYPE {f} histogram");
            let _ = writeln!(out, "# UNIT {f} {base}");
            let _ = writeln!(out, "# HELP {f} {}", family.help);
            for (values, Totals { log2: hist, .. }) in &family.totals {
                // `name="value",` before `le`, and alone (in braces).
                let alone = labels(&family.labels, values);
                let label = match alone.strip_prefix('{').and_then(|l| l.strip_suffix('}')) {
                    Some(pairs) => format!("{pairs},"),
                    None => String::new(),
                };
                let mut cumulative = 0;
                for slot in 0..BUCKETS {
                    cumulative += hist.slots[slot];
                    // Slot k holds whole units in [2^k, 2^(k+1)).
                    let le = (1u64 << (slot + 1)) as f64 * bucket_scale;
                    let _ = writeln!(out, "{f}_bucket{{{label}le=\"{le:e}\"}} {cumulative}");
                }
                let _ = writeln!(out, "{f}_bucket{{{label}le=\"+Inf\"}} {}", hist.count);
                let _ = writeln!(out, "{f}_count{alone} {}", hist.count);
                let _ = writeln!(out, "{f}_sum{alone} {:e}", hist.sum as f64 / raw_per_base);
            }
        }
        for (f, family) in &self.counters {
            let _ = writeln!(out, "# TYPE {f} counter");
            let _ = writeln!(out, "# HELP {f} {}", family.help);
            for (values, total) in &family.totals {
                let labels = labels(&family.labels, values);
                if family.scale == 1.0 {
                    let _ = writeln!(out, "{f}_total{labels} {total}");
                } else {
                    let _ = writeln!(out, "{f}_total{labels} {:e}", family.value(*total));
                }
            }
        }
        for (f, family) in &self.gauges {
            let _ = writeln!(out, "# TYPE {f} gauge");
            let _ = writeln!(out, "# HELP {f} {}", family.help);
            for (values, value) in &family.values {
                let _ = writeln!(out, "{f}{} {value}", labels(family.labels, values));
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

fn add_hists<'a, K: LabelValues, R: Into<Recorded<'a>>>(
    totals: &mut BTreeMap<Vec<String>, Totals>,
    hists: impl IntoIterator<Item = (K, R)>,
) {
    for (key, recorded) in hists {
        let Recorded { log2, loglinear } = recorded.into();
        let total = totals.entry(key.into_values()).or_insert(Totals {
            log2: Hist::ZERO,
            bins: None,
        });
        for i in 0..MAX_SLOTS {
            total.log2.slots[i] += log2.slots[i];
        }
        total.log2.count += log2.count;
        total.log2.sum += log2.sum;
        if let Some(ll) = loglinear {
            total.bins.get_or_insert_with(Default::default).add(ll);
        }
    }
}

/// `{name="value",...}`, or nothing without labels; an empty value is
/// left out (a cgroup that is no container has no `container` label).
fn labels(names: &[&str], values: &[String]) -> String {
    let pairs: Vec<String> = names
        .iter()
        .zip(values)
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
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
mod tests;

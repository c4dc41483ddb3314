//! One report path for every histogram tool: an interval's histograms,
//! named once by the tool ([`HistRow`]), printed in the output mode the
//! user chose ([`OutputMode`]): libbpf-tools' text, compact lines, heatmap
//! strips, or one JSON record; and, with `--svg`, recorded for the picture
//! drawn at exit.

use std::io::{self, Write};

use serde_json::{Map, Value};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::Losses;

use crate::{
    Unit,
    heatmap::HeatmapPrinter,
    output::{
        CompactPrinter, json_above, json_hist, json_loglinear, print_above, print_log2_hist,
        print_percentiles, print_summary, print_timestamp, write_json_interval,
    },
    svg::SvgRecorder,
};

/// How each interval is printed: one choice, made once from the options.
pub enum OutputMode {
    /// libbpf-tools' layout; `-T` puts the time of day above each interval.
    Text { timestamp: bool },
    /// `--compact`: one line per key and interval (latency over time).
    Compact(CompactPrinter),
    /// `--heatmap`: a strip of shaded cells per key and interval.
    Heatmap(HeatmapPrinter),
    /// `--json`: one JSON record per interval.
    Json,
}

impl OutputMode {
    /// Whether stdout carries only JSON (the banner then goes to stderr).
    pub fn is_json(&self) -> bool {
        matches!(self, Self::Json)
    }
}

/// One histogram of an interval, named for every output mode.
pub struct HistRow<'a> {
    /// Text written above the histogram, as the tool's peer writes it
    /// (`"\npid = 42 sh\n"`, `"\ndisk = vda\t\n"`, or nothing).
    pub heading: String,
    /// The key in a few words, for `--compact` lines and OpenMetrics
    /// labels: `vda`, `42 sh`, `read`, `all`.
    pub name: String,
    /// The key as JSON labels (`{"disk": "vda"}`; empty when unsplit).
    pub labels: Map<String, Value>,
    pub hist: &'a Hist,
    /// Its log-linear twin, recorded with `--percentiles` or `--compact`.
    pub loglinear: Option<&'a LlHist>,
}

impl<'a> HistRow<'a> {
    /// The row of `hist` (and its log-linear twin, if recorded).
    pub fn new(
        heading: String,
        name: String,
        labels: Map<String, Value>,
        hist: &'a Hist,
        loglinear: Option<&'a LlHist>,
    ) -> Self {
        Self {
            heading,
            name,
            labels,
            hist,
            loglinear,
        }
    }

    /// The row of a task's histogram, as libbpf-tools heads it: `pid = 42
    /// sh` (`label` is `pid` or `tid`), named `42 sh` ([`task_name`]),
    /// keyed `{label: 42, "comm": "sh"}` in JSON.
    pub fn task(
        label: &str,
        key: u32,
        comm: &str,
        hist: &'a Hist,
        loglinear: Option<&'a LlHist>,
    ) -> Self {
        let mut labels = Map::new();
        labels.insert(label.into(), key.into());
        labels.insert("comm".into(), comm.into());
        let name = task_name(key, comm);
        Self::new(
            format!("\n{label} = {name}\n"),
            name,
            labels,
            hist,
            loglinear,
        )
    }
}

/// A task's key in a few words, for `--compact`, heatmaps and OpenMetrics
/// names: `42 sh`.
pub fn task_name(key: u32, comm: &str) -> String {
    format!("{key} {comm}")
}

/// What a tool prints beyond its histograms: extra JSON fields and text
/// sections after the histograms (errors, sizes, ...), and keys with
/// samples that `--compact` must not report idle although they are not
/// shown (`--top`). Nothing by default.
pub trait Sections {
    /// Fields added to the interval's JSON record.
    fn json(&self, _fields: &mut Map<String, Value>) {}
    /// Text printed after the histograms.
    fn text(&self, _w: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
    /// Keys with samples this interval that are not among the rows.
    fn hidden(&self) -> Vec<String> {
        Vec::new()
    }
}

/// No sections.
impl Sections for () {}

/// The report of a histogram tool.
pub struct HistReport {
    pub tool: &'static str,
    pub unit: Unit,
    pub mode: OutputMode,
    /// `--percentiles`: printed under each histogram, added to JSON.
    pub percentiles: Option<Vec<f64>>,
    /// In text, the exact count/mean/max line under each histogram that
    /// has no percentiles (syslat, memlat).
    pub summary: bool,
    /// `--above`: the threshold (raw units) whose share is printed under
    /// each histogram and added to JSON.
    pub above: Option<u64>,
    /// `--svg FILE`: every interval kept for the picture drawn at exit.
    pub svg: Option<SvgRecorder>,
}

impl HistReport {
    /// A report without the summary line (libbpf-tools' layout).
    pub fn new(
        tool: &'static str,
        unit: Unit,
        mode: OutputMode,
        percentiles: Option<Vec<f64>>,
    ) -> Self {
        Self {
            tool,
            unit,
            mode,
            percentiles,
            summary: false,
            above: None,
            svg: None,
        }
    }

    /// Keeps every interval for an SVG picture, drawn by
    /// [`finish`](Self::finish).
    pub fn with_svg(mut self, svg: Option<SvgRecorder>) -> Self {
        self.svg = svg;
        self
    }

    /// Prints (and adds to JSON) the share of each histogram's samples at
    /// or above `threshold`, in raw units.
    pub fn with_above(mut self, threshold: Option<u64>) -> Self {
        self.above = threshold;
        self
    }

    /// At the end of the run: draws the SVG picture, if one was asked for.
    pub fn finish(&self) -> anyhow::Result<()> {
        match &self.svg {
            Some(svg) => svg.finish(),
            None => Ok(()),
        }
    }

    /// Plain text with the summary line under each histogram, no
    /// percentiles: histograms of another unit within a report (memlat's
    /// sizes), and tests.
    pub fn text_with_summary(tool: &'static str, unit: Unit) -> Self {
        Self::new(tool, unit, OutputMode::Text { timestamp: false }, None).summarized()
    }

    /// With the exact count/mean/max line under each histogram that has no
    /// percentiles (syslat, memlat).
    pub fn summarized(mut self) -> Self {
        self.summary = true;
        self
    }

    /// Writes one interval and flushes.
    pub fn write(
        &mut self,
        w: &mut impl Write,
        rows: &[HistRow],
        lost: &Losses,
        sections: &impl Sections,
    ) -> io::Result<()> {
        if let Some(svg) = &mut self.svg {
            svg.record(rows.iter().map(|r| (r.name.clone(), r.loglinear)));
        }
        match &mut self.mode {
            OutputMode::Compact(compact) => {
                let shown = rows.iter().map(|r| (r.name.clone(), r.loglinear));
                let hidden = sections.hidden().into_iter().map(|name| (name, None));
                compact.write(w, shown.chain(hidden))
            }
            OutputMode::Heatmap(heatmap) => {
                heatmap.write(w, rows.iter().map(|r| (r.name.clone(), r.loglinear)))
            }
            OutputMode::Json => {
                let histograms = rows.iter().map(|r| self.json_row(r)).collect();
                let mut extra = Map::new();
                sections.json(&mut extra);
                write_json_interval(w, self.tool, self.unit, histograms, lost, extra)
            }
            OutputMode::Text { timestamp } => {
                writeln!(w)?;
                if *timestamp {
                    print_timestamp(w)?;
                }
                self.write_rows(w, rows, self.unit)?;
                sections.text(w)?;
                w.flush()
            }
        }
    }

    /// The rows as text, in `unit` (the report's, or another for
    /// histograms of sizes): heading, log2 histogram, then the
    /// percentiles or the summary line.
    pub fn write_rows(&self, w: &mut dyn Write, rows: &[HistRow], unit: Unit) -> io::Result<()> {
        for row in rows {
            write!(w, "{}", row.heading)?;
            print_log2_hist(w, &row.hist.slots, unit.label())?;
            match (&self.percentiles, row.loglinear) {
                (Some(ps), Some(ll)) => print_percentiles(w, ll, ps, unit)?,
                _ if self.summary => print_summary(w, row.hist, unit)?,
                _ => {}
            }
            if let (Some(threshold), Some(ll)) = (self.above, row.loglinear) {
                print_above(w, ll, threshold, unit)?;
            }
        }
        Ok(())
    }

    /// One histogram as JSON: labels, buckets, exact count/sum/max, and
    /// the log-linear bins and percentiles with `--percentiles`.
    pub fn json_row(&self, row: &HistRow) -> Value {
        let mut value = json_hist(row.labels.clone(), row.hist);
        if let (Some(ps), Some(ll), Value::Object(fields)) =
            (&self.percentiles, row.loglinear, &mut value)
        {
            fields.extend(json_loglinear(ll, ps));
        }
        if let (Some(threshold), Some(ll), Value::Object(fields)) =
            (self.above, row.loglinear, &mut value)
        {
            fields.insert("above".into(), json_above(ll, threshold));
        }
        value
    }
}

//! `--svg FILE`: the whole run as one latency heatmap picture, written at
//! exit. x is time, y latency on a log scale, each cell coloured by its
//! count (viridis, log scale), with percentile lines over it; one panel per
//! key. Drawn with plotters' SVG backend; the figures behind the picture
//! (cells, percentiles, the plot area's pixels) ride along in the SVG's
//! `<metadata>` as JSON, so that scripts and tests can check the picture
//! against the tool's own numbers.

use std::{collections::BTreeMap, path::Path, time::Instant};

use anyhow::{Context as _, Result};
use plotters::{coord::Shift, prelude::*};
use serde_json::{Value, json};
use toolkit_core::loglinear::LlHist;

use crate::{
    heatmap::{Cells, format_ns, shade, viridis},
    outfile::ReplacedFile,
    output::{ll_percentiles, percentile_label},
};

/// Cells per decade on the picture's latency axis.
const PER_DECADE: u32 = 10;
/// Picture width, and height per panel, in pixels.
const WIDTH: u32 = 1000;
const PANEL_HEIGHT: u32 = 320;
/// Most panels in one picture: beyond, the keys with the most samples.
const MAX_PANELS: usize = 12;
/// Height of the title band (the title, then the colour scale).
const TITLE_HEIGHT: u32 = 60;

/// Colours of the percentile lines, in the order the percentiles are
/// asked for: clear of viridis's blues, greens and yellows.
const LINE_COLOURS: [RGBColor; 6] = [
    RGBColor(230, 20, 20),
    RGBColor(255, 130, 0),
    RGBColor(255, 0, 200),
    RGBColor(255, 255, 255),
    RGBColor(0, 0, 0),
    RGBColor(140, 70, 20),
];

/// Columns kept: when this many intervals have been recorded, neighbours
/// are merged in pairs, so a long run at a short interval takes between
/// `MAX_COLUMNS / 2` and `MAX_COLUMNS` columns (two to four pixels each on
/// the plot), however long it runs. Measured: a 30 s run at 1 ms
/// intervals peaks at 7.2 MB of RSS, drawing included, against 5.3 MB
/// without `--svg` (docs/histograms.md).
const MAX_COLUMNS: usize = 512;
/// Keys whose intervals are kept: beyond, at each merge, the keys with the
/// fewest samples so far are dropped from the picture (counted in its
/// metadata as `pruned`), never drawn with a gap in their history.
const MAX_KEPT_KEYS: usize = 4 * MAX_PANELS;

/// One key's histogram over one column, kept small: its non-empty
/// log-linear bins (exact, so that merged columns keep exact
/// percentiles), with its count and extremes.
struct Sample {
    bins: Vec<(u16, u64)>,
    count: u64,
    min: u64,
    max: u64,
}

impl Sample {
    fn of(hist: &LlHist) -> Self {
        let bins = hist
            .bins
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(bin, &n)| (bin as u16, n))
            .collect();
        Self {
            bins,
            count: hist.count,
            min: hist.min,
            max: hist.max,
        }
    }

    /// Adds `other`'s samples: both sparse lists are in bin order.
    fn merge(&mut self, other: &Sample) {
        let (a, b) = (&self.bins, &other.bins);
        let mut merged = Vec::with_capacity(a.len().max(b.len()));
        let (mut i, mut j) = (0, 0);
        loop {
            match (a.get(i), b.get(j)) {
                (Some(&(x, n)), Some(&(y, m))) if x == y => {
                    merged.push((x, n + m));
                    (i, j) = (i + 1, j + 1);
                }
                (Some(&(x, n)), Some(&(y, _))) if x < y => {
                    merged.push((x, n));
                    i += 1;
                }
                (Some(&bin), None) => {
                    merged.push(bin);
                    i += 1;
                }
                (_, Some(&bin)) => {
                    merged.push(bin);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        self.bins = merged;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The whole log-linear histogram again, to draw and take percentiles.
    fn hist(&self) -> Box<LlHist> {
        let mut hist = Box::new(LlHist::ZERO);
        for &(bin, n) in &self.bins {
            hist.bins[usize::from(bin)] = n;
        }
        hist.count = self.count;
        hist.min = self.min;
        hist.max = self.max;
        hist
    }
}

/// One column: when it began and ended (seconds since the start), and
/// each kept key's sample, by key index.
struct Column {
    start: f64,
    end: f64,
    samples: BTreeMap<usize, Sample>,
}

impl Column {
    /// The two neighbours as one column.
    fn merge(mut self, next: Column) -> Column {
        for (key, sample) in next.samples {
            match self.samples.get_mut(&key) {
                Some(mine) => mine.merge(&sample),
                None => {
                    self.samples.insert(key, sample);
                }
            }
        }
        self.end = next.end;
        self
    }
}

/// One key: its name, its samples over the whole run, and whether its
/// intervals were dropped (see [`MAX_KEPT_KEYS`]).
struct Key {
    name: String,
    total: u64,
    pruned: bool,
}

/// Records every interval's log-linear histograms, in bounded memory
/// ([`MAX_COLUMNS`], [`MAX_KEPT_KEYS`]), then draws them.
pub struct SvgRecorder {
    file: ReplacedFile,
    title: String,
    percentiles: Vec<f64>,
    started: Instant,
    columns: Vec<Column>,
    /// Keys in order of first appearance: one panel each.
    keys: Vec<Key>,
    /// Where each key's name is in `keys`.
    index: BTreeMap<String, usize>,
}

impl SvgRecorder {
    /// A recorder writing to `path` (checked now, and given an empty
    /// picture, so that a path that cannot be written fails at start-up);
    /// `title` says what was traced, `percentiles` which lines to draw.
    pub fn new(
        tool: &'static str,
        path: &Path,
        title: String,
        percentiles: Vec<f64>,
    ) -> Result<Self> {
        let file = ReplacedFile::new(tool, path)?;
        let recorder = Self {
            file,
            title,
            percentiles,
            started: Instant::now(),
            columns: Vec::new(),
            keys: Vec::new(),
            index: BTreeMap::new(),
        };
        recorder
            .file
            .replace(recorder.render()?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(recorder)
    }

    /// Adds one interval: its keys and their log-linear histograms.
    pub fn record<'a>(&mut self, rows: impl IntoIterator<Item = (String, Option<&'a LlHist>)>) {
        let end = self.started.elapsed().as_secs_f64();
        self.record_until(end, rows);
    }

    /// [`record`](Self::record), the interval ending `end` seconds after
    /// the start.
    fn record_until<'a>(
        &mut self,
        end: f64,
        rows: impl IntoIterator<Item = (String, Option<&'a LlHist>)>,
    ) {
        let start = self.columns.last().map_or(0.0, |c| c.end);
        let mut samples = BTreeMap::new();
        for (name, hist) in rows {
            let Some(hist) = hist.filter(|h| h.count > 0) else {
                continue;
            };
            let key = match self.index.get(&name) {
                Some(&key) => key,
                None => {
                    self.keys.push(Key {
                        name: name.clone(),
                        total: 0,
                        pruned: false,
                    });
                    self.index.insert(name, self.keys.len() - 1);
                    self.keys.len() - 1
                }
            };
            self.keys[key].total += hist.count;
            if !self.keys[key].pruned {
                samples.insert(key, Sample::of(hist));
            }
        }
        self.columns.push(Column {
            start,
            end,
            samples,
        });
        if self.columns.len() >= MAX_COLUMNS {
            self.merge_columns();
        }
    }

    /// Halves the columns, merging neighbours, and drops the intervals of
    /// the keys beyond the [`MAX_KEPT_KEYS`] busiest.
    fn merge_columns(&mut self) {
        let mut merged = Vec::with_capacity(MAX_COLUMNS / 2 + 1);
        let mut columns = std::mem::take(&mut self.columns).into_iter();
        while let Some(first) = columns.next() {
            merged.push(match columns.next() {
                Some(second) => first.merge(second),
                None => first,
            });
        }
        self.columns = merged;
        let kept: Vec<usize> = (0..self.keys.len())
            .filter(|&k| !self.keys[k].pruned)
            .collect();
        if kept.len() > MAX_KEPT_KEYS {
            let mut ranked = kept;
            ranked.sort_by_key(|&k| (std::cmp::Reverse(self.keys[k].total), k));
            for &k in &ranked[MAX_KEPT_KEYS..] {
                self.keys[k].pruned = true;
            }
            for column in &mut self.columns {
                column.samples.retain(|k, _| !self.keys[*k].pruned);
            }
        }
    }

    /// Draws the run and replaces the file with it.
    pub fn finish(&self) -> Result<()> {
        let svg = self.render()?;
        self.file
            .replace(svg.as_bytes())
            .with_context(|| format!("writing {}", self.file.path().display()))
    }

    /// The picture, with its figures in `<metadata>`.
    fn render(&self) -> Result<String> {
        let keys = self.shown_keys();
        let panels = keys.len().max(1);
        let title = if keys.len() < self.keys.len() {
            format!(
                "{} ({} of {} keys: those with the most samples)",
                self.title,
                keys.len(),
                self.keys.len()
            )
        } else {
            self.title.clone()
        };
        let height = TITLE_HEIGHT + PANEL_HEIGHT * panels as u32;
        let mut svg = String::new();
        let mut meta = Vec::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
            root.fill(&WHITE).map_err(draw_error)?;
            let (top, body) = root.split_vertically(TITLE_HEIGHT);
            top.titled(&title, ("sans-serif", 18)).map_err(draw_error)?;
            colour_scale(&top).map_err(draw_error)?;
            let areas = body.split_evenly((panels, 1));
            if keys.is_empty() {
                areas[0]
                    .draw_text(
                        "no samples",
                        &("sans-serif", 16).into_text_style(&areas[0]),
                        (WIDTH as i32 / 2 - 40, PANEL_HEIGHT as i32 / 2),
                    )
                    .map_err(draw_error)?;
            }
            for (area, &key) in areas.iter().zip(&keys) {
                meta.push(self.panel(area, key)?);
            }
            root.present().map_err(draw_error)?;
        }
        let lines: serde_json::Map<String, Value> = self
            .percentiles
            .iter()
            .zip(LINE_COLOURS.iter().cycle())
            .map(|(p, c)| (percentile_label(*p), hex(c).into()))
            .collect();
        let metadata = json!({
            "unit": "nsecs",
            "cells_per_decade": PER_DECADE,
            "lines": lines,
            "keys": self.keys.len(),
            "pruned": self.keys.iter().filter(|k| k.pruned).count(),
            "columns": self.columns.len(),
            "panels": meta,
        });
        let metadata = format!(
            "<metadata id=\"ebpf-toolkit-heatmap\">{}</metadata>\n",
            xml_escape(&metadata.to_string())
        );
        match svg.rfind("</svg>") {
            Some(end) => svg.insert_str(end, &metadata),
            None => svg.push_str(&metadata),
        }
        Ok(svg)
    }

    /// The keys drawn, by index in order of first appearance: all of them,
    /// or the [`MAX_PANELS`] with the most samples over the run (of those
    /// whose intervals were kept).
    fn shown_keys(&self) -> Vec<usize> {
        let mut ranked: Vec<usize> = (0..self.keys.len())
            .filter(|&k| !self.keys[k].pruned)
            .collect();
        ranked.sort_by_key(|&k| (std::cmp::Reverse(self.keys[k].total), k));
        ranked.truncate(MAX_PANELS);
        ranked.sort_unstable();
        ranked
    }

    /// One key's panel; returns its figures for the metadata.
    fn panel(&self, area: &DrawingArea<SVGBackend, Shift>, key: usize) -> Result<Value> {
        let cells = Cells::new(PER_DECADE);
        // Each column's cells and percentiles, from its exact bins.
        let drawn: Vec<(&Column, Drawn)> = self
            .columns
            .iter()
            .filter_map(|c| {
                let hist = c.samples.get(&key)?.hist();
                let drawn = Drawn {
                    cells: cells.of(&hist),
                    count: hist.count,
                    percentiles: ll_percentiles(&hist, &self.percentiles),
                };
                Some((c, drawn))
            })
            .collect();
        let samples = || drawn.iter().map(|(c, d)| (*c, d));
        let key = &self.keys[key].name;
        let (mut low, mut high, mut max) = (u32::MAX, 0, 0);
        for (_, sample) in samples() {
            for &(cell, count) in &sample.cells {
                low = low.min(cell);
                high = high.max(cell);
                max = max.max(count);
            }
        }
        // Whole decades, so that the axis has labelled powers of ten.
        let low = low / PER_DECADE * PER_DECADE;
        let high = (high / PER_DECADE + 1) * PER_DECADE;
        let (y_low, y_high) = (cells.bounds(low).0.max(1.0), cells.bounds(high - 1).1);
        let x_high = self.columns.last().map_or(1.0, |c| c.end).max(0.001);
        let caption = format!("{key} (samples per cell: 1 to {max}, colour on a log scale)");
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 14))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_high, (y_low..y_high).log_scale())
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("seconds since start")
            .y_desc("latency")
            .y_label_formatter(&|v| format_ns(*v))
            .draw()
            .map_err(draw_error)?;
        let mut columns = Vec::new();
        for (column, sample) in samples() {
            chart
                .draw_series(sample.cells.iter().map(|&(cell, count)| {
                    let (c0, c1) = cells.bounds(cell);
                    let (r, g, b) = viridis(shade(count, max));
                    Rectangle::new(
                        [(column.start, c0.max(y_low)), (column.end, c1)],
                        RGBColor(r, g, b).filled(),
                    )
                }))
                .map_err(draw_error)?;
            columns.push(json!({
                "start": column.start,
                "end": column.end,
                "count": sample.count,
                "cells": sample.cells.iter().map(|&(cell, count)| {
                    let (c0, c1) = cells.bounds(cell);
                    json!([c0, c1, count])
                }).collect::<Vec<_>>(),
                "percentiles": self.percentiles.iter().zip(&sample.percentiles)
                    .map(|(p, v)| (percentile_label(*p), json!(v)))
                    .collect::<serde_json::Map<_, _>>(),
            }));
        }
        for (i, (p, colour)) in self
            .percentiles
            .iter()
            .zip(LINE_COLOURS.iter().cycle())
            .enumerate()
        {
            // Steps: an interval's percentile holds over the whole
            // interval; a line breaks where the key had no samples.
            let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut last_end = None;
            for (column, sample) in samples() {
                let value = sample.percentiles[i].max(y_low);
                if last_end != Some(column.start) {
                    runs.push(Vec::new());
                }
                if let Some(run) = runs.last_mut() {
                    run.extend([(column.start, value), (column.end, value)]);
                }
                last_end = Some(column.end);
            }
            let style = colour.stroke_width(2);
            for (n, run) in runs.into_iter().enumerate() {
                let series = chart
                    .draw_series(LineSeries::new(run, style))
                    .map_err(draw_error)?;
                if n == 0 {
                    series
                        .label(percentile_label(*p))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
            }
        }
        if !self.percentiles.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(draw_error)?;
        }
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        Ok(json!({
            "key": key,
            "plot": [xs.start, ys.start, xs.end, ys.end],
            "x_range": [0.0, x_high],
            "y_range": [y_low, y_high],
            "columns": columns,
        }))
    }
}

/// One column of one panel, as drawn: its cells, count and percentiles.
struct Drawn {
    cells: Vec<(u32, u64)>,
    count: u64,
    percentiles: Vec<f64>,
}

/// The colour scale, under the title on the right: from one sample per
/// cell to the most in a panel (each panel's caption says how many).
fn colour_scale(
    root: &DrawingArea<SVGBackend, Shift>,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    const STEPS: i32 = 24;
    const STEP: i32 = 6;
    let (x, y) = (WIDTH as i32 - 40 - STEPS * STEP, 36);
    let text = ("sans-serif", 12).into_text_style(root);
    root.draw_text("samples per cell: 1", &text, (x - 118, y))?;
    for i in 0..STEPS {
        let (r, g, b) = viridis(f64::from(i) / f64::from(STEPS - 1));
        root.draw(&Rectangle::new(
            [(x + i * STEP, y), (x + (i + 1) * STEP, y + 12)],
            RGBColor(r, g, b).filled(),
        ))?;
    }
    root.draw_text("max", &text, (x + STEPS * STEP + 4, y))?;
    Ok(())
}

fn draw_error<E: std::error::Error + Send + Sync + 'static>(
    err: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow::anyhow!("drawing the SVG: {err}")
}

fn hex(c: &RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests;

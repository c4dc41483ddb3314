//! Latency heatmaps: time on one axis, latency on a log scale on the other,
//! each cell shaded by how many samples fell in it. [`Cells`] groups the
//! log-linear bins into cells of a log scale (exactly: every bin belongs to
//! one cell), shared by the terminal strips of `--heatmap`
//! ([`HeatmapPrinter`]) and the SVG picture of `--svg` ([`crate::svg`]).

use std::io::{self, Write};

use toolkit_core::loglinear::{LL_BINS, LL_DECADES, LL_OVERFLOW, LlHist, loglinear_digits};

use crate::output::{Unit, ll_percentiles, local_hms};

/// Most cells per decade: beyond 30 the rounded cell bounds (two
/// significant digits, as the bins have) would repeat.
pub const MAX_PER_DECADE: u32 = 30;

/// A log scale of `per_decade` cells per decade over the log-linear bins.
/// Cell `e * per_decade + j` holds the bins of decade `e` (values in
/// `[10^e, 10^(e+1))`) whose two significant digits lie in
/// `[bound(j), bound(j + 1))`, where `bound(j)` is `10 * 10^(j /
/// per_decade)` rounded: cell bounds fall on bin bounds, so no bin is
/// split. The zero bin goes to cell 0, the overflow bin to the last cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cells {
    pub per_decade: u32,
}

impl Cells {
    pub fn new(per_decade: u32) -> Self {
        Self {
            per_decade: per_decade.clamp(1, MAX_PER_DECADE),
        }
    }

    /// Two significant digits (10..=100) where sub-cell `j` of a decade
    /// starts.
    fn bound(self, j: u32) -> u64 {
        (10.0 * 10f64.powf(f64::from(j) / f64::from(self.per_decade))).round() as u64
    }

    /// The cell of log-linear bin `bin`.
    pub fn of_bin(self, bin: usize) -> u32 {
        match loglinear_digits(bin) {
            Some((digits, e)) => {
                let j = (0..self.per_decade)
                    .rev()
                    .find(|&j| self.bound(j) <= digits)
                    .unwrap_or(0);
                e as u32 * self.per_decade + j
            }
            None if bin >= LL_OVERFLOW => self.count() - 1,
            None => 0,
        }
    }

    /// Cells on the whole scale (1 to 10^LL_DECADES raw units).
    pub fn count(self) -> u32 {
        LL_DECADES as u32 * self.per_decade
    }

    /// Lower and upper (exclusive) bounds of `cell`, in raw units (ns).
    pub fn bounds(self, cell: u32) -> (f64, f64) {
        let low = |c: u32| {
            let (e, j) = (c / self.per_decade, c % self.per_decade);
            self.bound(j) as f64 * 10f64.powi(e as i32 - 1)
        };
        (low(cell), low(cell + 1))
    }

    /// The non-empty cells of `hist`: `(cell, count)`, in cell order.
    pub fn of(self, hist: &LlHist) -> Vec<(u32, u64)> {
        let mut cells: Vec<(u32, u64)> = Vec::new();
        for bin in (0..LL_BINS).filter(|&b| hist.bins[b] > 0) {
            let cell = self.of_bin(bin);
            match cells.last_mut() {
                Some((last, count)) if *last == cell => *count += hist.bins[bin],
                _ => cells.push((cell, hist.bins[bin])),
            }
        }
        cells
    }
}

/// The decade (`e` of `10^e`) whose cells hold log-linear bin `bin`: the
/// zero bin goes with the first, the overflow bin with the last, as in
/// [`Cells::of_bin`].
fn decade_of_bin(bin: usize) -> u32 {
    match loglinear_digits(bin) {
        Some((_, e)) => e as u32,
        None if bin >= LL_OVERFLOW => LL_DECADES as u32 - 1,
        None => 0,
    }
}

/// A raw latency (ns) in a few characters: `500ns`, `1us`, `10ms`, `1s`.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "us")
    } else {
        (ns, "ns")
    };
    if value >= 10.0 || value.fract() == 0.0 {
        format!("{value:.0}{unit}")
    } else {
        format!("{value:.1}{unit}")
    }
}

/// How cells are shaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    /// The characters of [`RAMP`]: for logs, pipes and `NO_COLOR`.
    Plain,
    /// xterm's 256 colours.
    Ansi256,
    /// 24-bit colour (`COLORTERM=truecolor`).
    TrueColor,
}

impl Palette {
    /// The palette for this stdout: colour when `forced` says so (`--color
    /// always` or `never`), else on a terminal that is not `TERM=dumb`,
    /// without `NO_COLOR` (https://no-color.org); 24-bit when `COLORTERM`
    /// says the terminal has it.
    pub fn choose(forced: Option<bool>) -> Self {
        let on_tty = {
            // SAFETY: isatty only inspects the descriptor.
            unsafe { libc::isatty(libc::STDOUT_FILENO) == 1 }
        };
        Self::choose_from(forced, on_tty, |name| std::env::var(name).ok())
    }

    /// [`choose`](Self::choose), given whether stdout is a terminal and
    /// the environment.
    fn choose_from(
        forced: Option<bool>,
        on_tty: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = env("TERM").is_some_and(|v| v == "dumb");
        let colour = forced.unwrap_or(on_tty && !no_color && !dumb);
        let truecolor = env("COLORTERM").is_some_and(|v| v == "truecolor" || v == "24bit");
        match (colour, truecolor) {
            (false, _) => Self::Plain,
            (true, false) => Self::Ansi256,
            (true, true) => Self::TrueColor,
        }
    }
}

/// The plain shades, lightest first; a space is an empty cell.
pub const RAMP: &[u8] = b" .:-=+*#%@";

/// Where `count` sits between 1 and `max` on a log scale, in [0, 1]: a
/// cell with one sample is as visible as any, and a tail 100 times thinner
/// than the mode still shows.
pub fn shade(count: u64, max: u64) -> f64 {
    if max <= 1 {
        1.0
    } else {
        ((count.max(1) as f64).ln() / (max as f64).ln()).clamp(0.0, 1.0)
    }
}

/// The viridis colour map (perceptually uniform, readable in grey and by
/// most colour-blind readers) at `t` in [0, 1], as RGB.
pub fn viridis(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let t = t.clamp(0.0, 1.0);
    let i = STOPS
        .iter()
        .rposition(|(at, _)| *at <= t)
        .unwrap_or(0)
        .min(3);
    let ((t0, a), (t1, b)) = (STOPS[i], STOPS[i + 1]);
    let f = (t - t0) / (t1 - t0);
    let mix = |k: usize| (a[k] + (b[k] - a[k]) * f).round() as u8;
    (mix(0), mix(1), mix(2))
}

/// The cell of shade `t` (empty when `None`) in `palette`.
fn paint(out: &mut String, palette: Palette, t: Option<f64>) {
    let Some(t) = t else {
        if palette != Palette::Plain {
            out.push_str("\x1b[0m");
        }
        out.push(' ');
        return;
    };
    // The darkest colours are kept for nothing: the first shade is
    // already clear of the terminal's background.
    let (r, g, b) = viridis(0.15 + 0.85 * t);
    match palette {
        Palette::Plain => {
            let level = 1 + (t * (RAMP.len() - 2) as f64).round() as usize;
            out.push(RAMP[level.min(RAMP.len() - 1)] as char);
        }
        Palette::Ansi256 => {
            let six = |c: u8| (u16::from(c) * 5 + 127) / 255;
            let code = 16 + 36 * six(r) + 6 * six(g) + six(b);
            out.push_str(&format!("\x1b[48;5;{code}m "));
        }
        Palette::TrueColor => out.push_str(&format!("\x1b[48;2;{r};{g};{b}m ")),
    }
}

/// `--heatmap`: per interval and key, one strip of cells over the latency
/// range seen so far, under a scale header printed at the start and again
/// whenever the range (or the key column) grows; then the interval's exact
/// count, p50 and p99.
pub struct HeatmapPrinter {
    unit: Unit,
    palette: Palette,
    width: usize,
    /// Decades shown, `[low, high)`, once there were samples.
    decades: Option<(u32, u32)>,
    key_width: usize,
    cells: Cells,
    header_written: bool,
}

/// Columns left of the strip and right of it (count, p50, p99).
const SUFFIX: usize = 1 + 9 + 1 + 9 + 1 + 9;

impl HeatmapPrinter {
    /// A printer for a terminal of `width` columns.
    pub fn new(unit: Unit, palette: Palette, width: usize) -> Self {
        Self {
            unit,
            palette,
            width,
            decades: None,
            key_width: 3,
            cells: Cells::new(1),
            header_written: false,
        }
    }

    /// The width of the terminal on stdout; `COLUMNS`, or 80, elsewhere.
    pub fn terminal_width() -> usize {
        // SAFETY: an all-zero winsize is valid (plain integers).
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ fills the winsize given, or fails.
        let got = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
        if got == 0 && size.ws_col > 0 {
            return usize::from(size.ws_col);
        }
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|&c: &usize| c >= 40)
            .unwrap_or(80)
    }

    /// Cells in the strip for `decades` decades.
    fn strip_width(&self) -> usize {
        self.width
            .saturating_sub(8 + 1 + self.key_width + 1 + 2 + SUFFIX)
            .max(10)
    }

    /// Writes one interval: a strip per key (`None`: samples not recorded
    /// for it), or one empty strip when no key had samples.
    pub fn write<'a>(
        &mut self,
        w: &mut (impl Write + ?Sized),
        rows: impl IntoIterator<Item = (String, Option<&'a LlHist>)>,
    ) -> io::Result<()> {
        let mut rows: Vec<(String, Option<&LlHist>)> = rows.into_iter().collect();
        if rows.is_empty() {
            rows.push(("-".to_string(), None));
        }
        let mut changed = false;
        for (key, hist) in &rows {
            if key.chars().count() > self.key_width {
                self.key_width = key.chars().count().min(24);
                changed = true;
            }
            let bins = hist.map_or(&[][..], |h| &h.bins[..]);
            let first = bins.iter().position(|&count| count > 0);
            let last = bins.iter().rposition(|&count| count > 0);
            if let (Some(first), Some(last)) = (first, last) {
                let (low, high) = (decade_of_bin(first), decade_of_bin(last) + 1);
                let (old_low, old_high) = self.decades.unwrap_or((low, high));
                let grown = (old_low.min(low), old_high.max(high));
                changed |= self.decades != Some(grown);
                self.decades = Some(grown);
            }
        }
        if changed || !self.header_written {
            self.write_header(w)?;
            self.header_written = true;
        }
        let time = local_hms();
        let scale = self.unit.divisor() as f64;
        for (key, hist) in rows {
            let strip = self.strip(hist);
            let kw = self.key_width;
            let key: String = key.chars().take(kw).collect();
            match hist.filter(|h| h.count > 0) {
                Some(h) => {
                    let p = ll_percentiles(h, &[50.0, 99.0]);
                    writeln!(
                        w,
                        "{time:<8} {key:<kw$} |{strip}| {:>9} {:>9.1} {:>9.1}",
                        h.count,
                        p[0] / scale,
                        p[1] / scale
                    )?;
                }
                None => writeln!(
                    w,
                    "{time:<8} {key:<kw$} |{strip}| {:>9} {:>9} {:>9}",
                    0, "-", "-"
                )?,
            }
        }
        w.flush()
    }

    /// The scale header: decade labels over the strip, the unit of the
    /// figures after it. Fixes the cells per decade for the range.
    fn write_header(&mut self, w: &mut (impl Write + ?Sized)) -> io::Result<()> {
        let (low, high) = self.decades.unwrap_or((3, 6));
        let span = (high - low).max(1);
        let room = self.strip_width();
        self.cells = Cells::new((room / span as usize) as u32);
        let cells = span as usize * self.cells.per_decade as usize;
        let mut scale = vec![b' '; cells];
        let mut free = 0;
        for decade in low..high {
            let at = (decade - low) as usize * self.cells.per_decade as usize;
            let label = format_ns(10f64.powi(decade as i32));
            if at >= free && at + label.len() <= cells {
                scale[at..at + label.len()].copy_from_slice(label.as_bytes());
                free = at + label.len() + 1;
            }
        }
        let kw = self.key_width;
        let unit = self.unit.label();
        writeln!(
            w,
            "{:<8} {:<kw$} |{}| {:>9} {:>9} {:>9}",
            "TIME",
            "KEY",
            String::from_utf8_lossy(&scale),
            "COUNT",
            format!("p50 {unit}"),
            format!("p99 {unit}"),
        )
    }

    /// The strip of one histogram over the current range.
    fn strip(&self, hist: Option<&LlHist>) -> String {
        let (low, high) = self.decades.unwrap_or((3, 6));
        let first = low * self.cells.per_decade;
        let n = ((high - low) * self.cells.per_decade) as usize;
        let mut counts = vec![0u64; n];
        if let Some(hist) = hist {
            for (cell, count) in self.cells.of(hist) {
                let at = (cell.saturating_sub(first) as usize).min(n - 1);
                counts[at] += count;
            }
        }
        let max = counts.iter().copied().max().unwrap_or(0);
        let mut out = String::new();
        for &count in &counts {
            paint(
                &mut out,
                self.palette,
                (count > 0).then(|| shade(count, max)),
            );
        }
        if self.palette != Palette::Plain {
            out.push_str("\x1b[0m");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use toolkit_core::loglinear::loglinear_bin;

    use super::*;

    #[test]
    fn colour_only_on_a_terminal_that_wants_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let choose = |forced, tty, vars| Palette::choose_from(forced, tty, env(vars));
        assert_eq!(choose(None, true, &[("TERM", "xterm")]), Palette::Ansi256);
        assert_eq!(choose(None, true, &[("TERM", "dumb")]), Palette::Plain);
        assert_eq!(choose(None, true, &[("NO_COLOR", "1")]), Palette::Plain);
        assert_eq!(choose(None, false, &[]), Palette::Plain);
        assert_eq!(
            choose(Some(true), true, &[("TERM", "dumb")]),
            Palette::Ansi256
        );
        assert_eq!(
            choose(None, true, &[("COLORTERM", "truecolor")]),
            Palette::TrueColor
        );
    }

    #[test]
    fn cells_hold_whole_bins_in_order() {
        for per_decade in 1..=MAX_PER_DECADE {
            let cells = Cells::new(per_decade);
            let mut last = 0;
            for bin in 1..LL_OVERFLOW {
                let cell = cells.of_bin(bin);
                assert!(cell >= last, "{per_decade}: bin {bin}");
                assert!(cell <= last + 1, "{per_decade}: bin {bin} skips a cell");
                last = cell;
                // The bin's lower bound is inside its cell.
                let low = toolkit_core::loglinear::loglinear_bounds(bin).0;
                let (c0, c1) = cells.bounds(cell);
                assert!(
                    c0 <= low && low < c1,
                    "{per_decade}: {low} not in [{c0}, {c1})"
                );
            }
            assert_eq!(last, cells.count() - 1);
        }
    }

    #[test]
    fn cells_add_up_to_the_histogram() {
        let mut hist = LlHist::ZERO;
        for v in [
            0,
            7,
            1_000,
            1_050,
            3_071,
            20_000_000,
            999_999_999_999,
            u64::MAX,
        ] {
            hist.bins[loglinear_bin(v)] += 1;
        }
        let cells = Cells::new(10).of(&hist);
        assert_eq!(cells.iter().map(|c| c.1).sum::<u64>(), 8);
        // 1000 and 1050 share [1000, 1300).
        assert!(cells.contains(&(30, 2)), "{cells:?}");
    }

    #[test]
    fn plain_strips_have_no_escapes_and_show_both_modes() {
        let mut hist = LlHist::ZERO;
        hist.bins[loglinear_bin(1_000_000)] = 900;
        hist.bins[loglinear_bin(20_000_000)] = 9;
        hist.count = 909;
        let mut printer = HeatmapPrinter::new(Unit::Usecs, Palette::Plain, 80);
        let mut out = Vec::new();
        printer
            .write(&mut out, [("all".to_string(), Some(&hist))])
            .unwrap();
        printer
            .write(&mut out, [("all".to_string(), Some(&hist))])
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b'), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "one header, then a strip per interval:\n{text}"
        );
        assert!(
            lines[0].contains("1ms") && lines[0].contains("10ms"),
            "{text}"
        );
        let strip = lines[1].split('|').nth(1).unwrap();
        assert_eq!(strip.chars().filter(|c| *c != ' ').count(), 2, "{text}");
        assert!(strip.contains('@'), "the mode is darkest: {text}");
        let figures: Vec<&str> = lines[1]
            .rsplit('|')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(figures[0], "909", "{text}");
        assert!(lines.iter().all(|l| l.len() <= 80), "{text}");
    }

    #[test]
    fn colour_strips_use_the_palette() {
        let mut hist = LlHist::ZERO;
        hist.bins[loglinear_bin(5_000)] = 3;
        hist.count = 3;
        for (palette, escape) in [
            (Palette::Ansi256, "\x1b[48;5;"),
            (Palette::TrueColor, "\x1b[48;2;"),
        ] {
            let mut printer = HeatmapPrinter::new(Unit::Usecs, palette, 100);
            let mut out = Vec::new();
            printer
                .write(&mut out, [("all".to_string(), Some(&hist))])
                .unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(escape), "{text:?}");
            assert!(text.contains("\x1b[0m"), "{text:?}");
        }
    }

    #[test]
    fn latency_labels() {
        assert_eq!(format_ns(100.0), "100ns");
        assert_eq!(format_ns(1_000.0), "1us");
        assert_eq!(format_ns(1_500_000.0), "1.5ms");
        assert_eq!(format_ns(1e10), "10s");
    }
}

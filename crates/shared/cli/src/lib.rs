//! A tool's frame: its `main` ([`tool_main`]: signals, parsing, the exit
//! status), the options every tool shares (`[interval] [count]`, `-T -m
//! --json`, `--percentiles --compact --openmetrics --listen`), the stop
//! signals and the interval loop ([`signals`]), the options' values
//! (`values`: intervals, thresholds, CPUs), man pages and completions, and
//! the one list of the toolkit's tools ([`TOOLS`]).

pub mod signals;
mod values;

use std::{io, io::Write as _, time::Duration};

use anyhow::{Context as _, Result, bail};
use clap::CommandFactory;
use toolkit_report::{
    HistReport, OpenMetrics, OutputMode, Unit,
    heatmap::{HeatmapPrinter, Palette},
    output::CompactPrinter,
    svg::SvgRecorder,
};

pub use signals::{EVENT_POLL, StopSignals, Wake, poll_events, run_intervals};
pub use values::{
    interval_and_count, parse_duration, parse_interval, parse_threshold, require_online_cpu,
    require_thread,
};

/// The toolkit's tools, one per line of `tools.txt` at the root of the
/// source tree, which `scripts/install.sh` and the tests read too.
pub const TOOLS: &str = include_str!("../../../../tools.txt");

/// The tools' names, from [`TOOLS`].
pub fn tools() -> impl Iterator<Item = &'static str> {
    TOOLS.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// `--version` of every tool: the release and the git commit built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("TOOLKIT_GIT_COMMIT"),
    ")"
);

/// With this environment variable set to `man`, `bash`, `zsh` or `fish`, a
/// tool prints its man page or completion script (generated from its clap
/// definition, so they cannot drift from `--help`) instead of running;
/// `scripts/install.sh` uses it.
pub const GENERATE_ENV: &str = "EBPF_TOOLKIT_GENERATE";

/// The output options of the histogram tools, as libbpf-tools spells them.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct HistArgs {
    /// Include timestamp on output
    #[arg(short = 'T', long)]
    pub timestamp: bool,
    /// Millisecond histograms
    #[arg(short = 'm', long)]
    pub milliseconds: bool,
    /// Print one JSON object per interval instead of text
    #[arg(long)]
    pub json: bool,
}

/// `-G`/`--per-cgroup`, the same in every tool that splits its answer:
/// whose is it, on a shared host?
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct CgroupSplitArgs {
    /// A histogram (or count) per cgroup v2, the busiest first, each named
    /// by its path and container (Docker, Podman, containerd, CRI-O,
    /// Kubernetes pod)
    #[arg(short = 'G', long = "per-cgroup")]
    pub per_cgroup: bool,
    /// With -G: show the N busiest cgroups (default 50) and sum the rest
    /// into one 'other' row
    #[arg(long, value_name = "N", requires = "per_cgroup",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CGROUPS)))]
    pub max_cgroups: Option<u32>,
}

/// The most cgroups a split run holds in the kernel (`--max-cgroups` at
/// most); samples of cgroups past it are counted as lost.
pub use toolkit_core::MAX_CGROUPS;

impl CgroupSplitArgs {
    /// With `-G`: how many cgroups to show.
    pub fn shown(&self) -> Option<u32> {
        self.per_cgroup
            .then(|| self.max_cgroups.unwrap_or(DEFAULT_SHOWN_CGROUPS))
    }
}

/// Cgroups shown with `-G` alone.
pub const DEFAULT_SHOWN_CGROUPS: u32 = 50;

/// High-resolution histograms: percentiles, latency over time, OpenMetrics.
#[derive(Debug, Clone, clap::Args)]
pub struct PercentileArgs {
    /// Under each histogram: count, mean, min, these percentiles and max,
    /// from log-linear bins (2 significant digits; default 50,90,99,99.9)
    #[arg(long, value_name = "LIST", num_args = 0..=1, require_equals = true,
          value_delimiter = ',', value_parser = toolkit_report::output::parse_percentile,
          default_missing_values = ["50", "90", "99", "99.9"])]
    pub percentiles: Option<Vec<f64>>,
    /// One line per interval and histogram: time, count, p10, p50, p90, p99
    /// and max (needs an interval): latency over time
    #[arg(long, requires = "interval", conflicts_with = "json")]
    pub compact: bool,
    /// Under each histogram (and in JSON and the metrics): how many samples
    /// took DURATION or more, and their share; exact when DURATION has two
    /// significant digits (10ms, 2.5ms, 150us: a log-linear bin's edge),
    /// otherwise within the bin holding it, whose bounds are shown
    #[arg(long, value_name = "DURATION", value_parser = parse_threshold)]
    pub above: Option<u64>,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// A latency heatmap (needs an interval): per interval and histogram, a
    /// strip of cells over latency on a log scale, shaded by count, then
    /// the count, p50 and p99
    #[arg(long, requires = "interval", conflicts_with_all = ["json", "compact"])]
    pub heatmap: bool,
    /// Colour the heatmap: auto (on a terminal, unless NO_COLOR is set),
    /// always or never (plain characters)
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// At exit, draw the whole run into FILE as an SVG heatmap (needs an
    /// interval): time across, latency up on a log scale, the percentiles
    /// (10,50,90 or --percentiles) as lines, a panel per histogram
    #[arg(long, value_name = "FILE", requires = "interval")]
    pub svg: Option<std::path::PathBuf>,
}

/// Where the metrics go: a file for node_exporter's textfile collector, an
/// HTTP endpoint for Prometheus to scrape, or both.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetricsArgs {
    /// Also write the metrics (histograms with log2 buckets, counters),
    /// cumulative since start, as OpenMetrics text to FILE (rewritten
    /// atomically each interval; for node_exporter's textfile collector)
    #[arg(long, value_name = "FILE")]
    pub openmetrics: Option<std::path::PathBuf>,
    /// Serve the metrics, cumulative since start and updated each interval,
    /// on http://ADDR/metrics (PORT or :PORT on 127.0.0.1, or HOST:PORT):
    /// latency as Prometheus native histograms at the log-linear bins'
    /// resolution to a scraper that asks for protobuf, OpenMetrics text
    /// otherwise. Needs an interval
    #[arg(long, value_name = "ADDR", requires = "interval",
          value_parser = toolkit_report::openmetrics::parse_listen)]
    pub listen: Option<std::net::SocketAddr>,
}

impl MetricsArgs {
    /// Whether the metrics go anywhere.
    pub fn any(&self) -> bool {
        self.openmetrics.is_some() || self.listen.is_some()
    }

    /// Whether the latency histograms should be recorded log-linear too:
    /// the endpoint serves them as native histograms.
    pub fn native(&self) -> bool {
        self.listen.is_some()
    }

    /// `metrics` sent where these options say: the file written once now
    /// (so that a path that cannot be written fails before tracing
    /// starts), the endpoint bound now (an address in use is said now).
    /// `None` when they go nowhere.
    pub fn open(&self, tool: &'static str, metrics: OpenMetrics) -> Result<Option<OpenMetrics>> {
        if !self.any() {
            return Ok(None);
        }
        let mut metrics = metrics;
        if let Some(path) = &self.openmetrics {
            metrics = metrics.to_file(path)?;
        }
        if let Some(address) = self.listen {
            metrics =
                metrics.to_endpoint(toolkit_report::openmetrics::Endpoint::bind(tool, address)?);
        }
        metrics.publish_or_fail()?;
        Ok(Some(metrics))
    }

    /// A counters-only tool's metrics (`netdrop`, `syscount`, `usecheck`).
    pub fn counters(&self, tool: &'static str) -> Result<Option<OpenMetrics>> {
        self.open(tool, OpenMetrics::counters_only(tool))
    }
}

/// The event tools' metrics (oomkill, tcpretrans): counters, cumulative
/// since start, published as events come rather than per interval.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EventMetricsArgs {
    /// Also write the counts, since start, as OpenMetrics text to FILE
    /// (rewritten atomically when they change; for node_exporter's
    /// textfile collector)
    #[arg(long, value_name = "FILE")]
    pub openmetrics: Option<std::path::PathBuf>,
    /// Serve the counts, since start, on http://ADDR/metrics (PORT or
    /// :PORT on 127.0.0.1, or HOST:PORT), updated as events come
    #[arg(long, value_name = "ADDR", value_parser = toolkit_report::openmetrics::parse_listen)]
    pub listen: Option<std::net::SocketAddr>,
}

impl EventMetricsArgs {
    /// A counters-only tool's metrics, published where these options say
    /// (see [`MetricsArgs::open`]); `None` when they go nowhere.
    pub fn counters(&self, tool: &'static str) -> Result<Option<OpenMetrics>> {
        let sinks = MetricsArgs {
            openmetrics: self.openmetrics.clone(),
            listen: self.listen,
        };
        sinks.counters(tool)
    }
}

/// `--color`: when the heatmap is in colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The percentile lines of `--svg` without `--percentiles`.
const SVG_PERCENTILES: [f64; 3] = [10.0, 50.0, 90.0];

impl PercentileArgs {
    /// Whether the kernel must record log-linear histograms.
    pub fn loglinear(&self) -> bool {
        self.percentiles.is_some()
            || self.compact
            || self.heatmap
            || self.svg.is_some()
            || self.metrics.native()
            || self.above.is_some()
    }

    /// Fails when `--svg` and `--openmetrics` name one file, which would
    /// flip between the two formats (checked before either is written).
    fn distinct_files(&self) -> anyhow::Result<()> {
        if let (Some(svg), Some(metrics)) = (&self.svg, &self.metrics.openmetrics)
            && toolkit_report::outfile::same_file(svg, metrics)
        {
            bail!(
                "--svg and --openmetrics both name {}: give each its own file",
                toolkit_report::escape::Shown(svg.as_os_str().as_encoded_bytes())
            );
        }
        Ok(())
    }

    /// The `--svg` recorder, its file checked (and written empty) now.
    /// The picture's title is the command line and the host.
    pub fn svg(&self, tool: &'static str) -> anyhow::Result<Option<SvgRecorder>> {
        let Some(path) = &self.svg else {
            return Ok(None);
        };
        self.distinct_files()?;
        // The tool's name without its path, then its options as given
        // (any bytes: a path need not be UTF-8), escaped.
        let command: Vec<String> = std::iter::once(tool.to_string())
            .chain(
                std::env::args_os()
                    .skip(1)
                    .map(|a| toolkit_report::escape::escape_bytes(a.as_encoded_bytes())),
            )
            .collect();
        let host = std::fs::read("/proc/sys/kernel/hostname").unwrap_or_default();
        let title = format!(
            "{} on {}",
            command.join(" "),
            toolkit_report::escape::escape_bytes(host.trim_ascii())
        );
        let lines = self
            .percentiles
            .clone()
            .unwrap_or_else(|| SVG_PERCENTILES.to_vec());
        SvgRecorder::new(tool, path, title, lines).map(Some)
    }

    /// The metrics (`--openmetrics`, `--listen`), their file already
    /// written once (empty) and their endpoint bound, so that a path that
    /// cannot be written or an address in use fails now, not at the first
    /// interval.
    pub fn open_metrics(
        &self,
        tool: &'static str,
        label: Option<&'static str>,
        unit: Unit,
    ) -> anyhow::Result<Option<OpenMetrics>> {
        if self.metrics.openmetrics.is_some() {
            self.distinct_files()?;
        }
        self.metrics.open(
            tool,
            OpenMetrics::new(tool, label, unit).with_above(self.above),
        )
    }
}

impl HistArgs {
    /// Whether these options and `hires` ask for histograms where a tool's
    /// default text is a table (softirqs, hardirqs): JSON and every mode
    /// drawn from histograms.
    pub fn wants_histograms(&self, hires: &PercentileArgs) -> bool {
        self.json || hires.percentiles.is_some() || hires.compact || hires.heatmap
    }

    /// The report of a histogram tool for these options and `hires`; see
    /// [`mode`](Self::mode) for `title` and `always`. Fails when the
    /// `--svg` file cannot be written.
    pub fn report(
        &self,
        tool: &'static str,
        hires: &PercentileArgs,
        title: &str,
        unit: Unit,
        always: impl IntoIterator<Item = String>,
    ) -> anyhow::Result<HistReport> {
        let mode = self.mode(hires, title, unit, always);
        let svg = hires.svg(tool)?;
        Ok(HistReport::new(tool, unit, mode, hires.percentiles.clone())
            .with_svg(svg)
            .with_above(hires.above))
    }

    /// The one output mode these options and `hires` ask for. `title`
    /// names the key column of `--compact`, whose lines for the keys in
    /// `always` start at the first interval.
    pub fn mode(
        &self,
        hires: &PercentileArgs,
        title: &str,
        unit: Unit,
        always: impl IntoIterator<Item = String>,
    ) -> OutputMode {
        if self.json {
            OutputMode::Json
        } else if hires.compact {
            OutputMode::Compact(CompactPrinter::new(title, unit, always).with_above(hires.above))
        } else if hires.heatmap {
            let forced = match hires.color {
                ColorWhen::Auto => None,
                ColorWhen::Always => Some(true),
                ColorWhen::Never => Some(false),
            };
            OutputMode::Heatmap(HeatmapPrinter::new(
                unit,
                Palette::choose(forced),
                HeatmapPrinter::terminal_width(),
            ))
        } else {
            OutputMode::Text {
                timestamp: self.timestamp,
            }
        }
    }
}

/// The one error sink of every tool's `main`: a closed pipe (`| head`) ends
/// quietly with 0; anything else prints `tool: error: ...` on one line and
/// exits 1.
pub fn exit_on_error(tool: &str, result: anyhow::Result<()>) -> ! {
    let code = match result {
        Ok(()) => 0,
        Err(err)
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<io::Error>())
                .any(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            0
        }
        Err(err) => {
            let text = format!("{err:#}").replace('\n', " ");
            toolkit_report::say!("{tool}: error: {text}");
            1
        }
    };
    std::process::exit(code)
}

/// Longest usage error printed as clap renders it.
const LONG_USAGE_ERROR: usize = 512;

/// A usage error, as clap prints it (exit status 2; help and version on
/// stdout, 0), except that a very long one (a 100 KB bad value, echoed)
/// has each long quoted value clipped ([`toolkit_report::escape::clip`]).
fn exit_on_usage_error(err: clap::Error) -> ! {
    let text = err.render().to_string();
    if !err.use_stderr() || text.len() <= LONG_USAGE_ERROR {
        err.exit();
    }
    let _ = io::stderr().write_all(clip_quoted(&text).as_bytes());
    std::process::exit(err.exit_code())
}

/// `text` with every `'...'` run clipped.
fn clip_quoted(text: &str) -> String {
    let mut out = String::with_capacity(LONG_USAGE_ERROR);
    let mut rest = text;
    while let Some(open) = rest.find('\'') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('\'') else {
            break;
        };
        out.push_str(&rest[..=open]);
        out.push_str(&toolkit_report::escape::clip(&after[..close]));
        out.push('\'');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// For the tools' unit tests: each of `cases` (arguments after the program
/// name) is a usage error, exit status 2.
pub fn assert_usage_errors<C: clap::Parser>(cases: &[&[&str]]) {
    for args in cases {
        let argv = std::iter::once("tool").chain(args.iter().copied());
        match C::try_parse_from(argv) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(err) => assert_eq!(err.exit_code(), 2, "{args:?}: {err}"),
        }
    }
}

/// The trailing `[interval] [count]` of bcc-style tools. The interval is in
/// seconds as there, and may be fractional (`0.1`) here.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct IntervalArgs {
    /// Output interval: seconds, fractions allowed, or a duration such as
    /// 500ms or 1m (default: until Ctrl-C)
    #[arg(value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

impl IntervalArgs {
    /// The interval, `None` for "until Ctrl-C".
    pub fn every(&self) -> Option<Duration> {
        self.interval
    }
}

/// The whole `main` of a tool: block the stop signals (before any thread
/// exists), parse the command line (usage errors exit 2), run, and turn the
/// outcome into an exit status through [`exit_on_error`]. `overhead` is
/// the OVERHEAD section of its man page (measured cost per event); the
/// EXAMPLES section is the command's `after_help`.
pub fn tool_main<C: clap::Parser>(
    tool: &str,
    overhead: &str,
    run: impl FnOnce(C, &StopSignals) -> Result<()>,
) -> ! {
    if let Some(what) = std::env::var_os(GENERATE_ENV) {
        exit_on_error(tool, generate::<C>(&what.to_string_lossy(), overhead));
    }
    let signals = StopSignals::block(tool);
    let matches = C::command()
        .arg(verbose_arg())
        .try_get_matches()
        .unwrap_or_else(|err| exit_on_usage_error(err));
    toolkit_load::set_verbose(matches.get_flag(VERBOSE));
    let cli = C::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    exit_on_error(tool, signals.map_err(Into::into).and_then(|s| run(cli, &s)))
}

/// Writes the man page or a completion script of `C` to stdout.
/// The id of `-v`, which every tool takes.
const VERBOSE: &str = "verbose";

/// libbpf-tools' `-v`: what is loaded and attached, and the verifier's log
/// on a failure, on stderr. Added to every tool's command here, in one place.
fn verbose_arg() -> clap::Arg {
    clap::Arg::new(VERBOSE)
        .short('v')
        .long(VERBOSE)
        .action(clap::ArgAction::SetTrue)
        .help("Verbose debug output: what is loaded and attached, and the verifier's log on a failure (stderr)")
}

fn generate<C: CommandFactory>(what: &str, overhead: &str) -> Result<()> {
    let mut cmd = C::command().arg(verbose_arg());
    // Every tool's definition is checked here, where the install test
    // generates each man page (clap checks it only in debug builds).
    cmd.clone().debug_assert();
    let name = cmd.get_name().to_string();
    let mut out = std::io::stdout().lock();
    let shell = match what {
        "man" => return write_man(cmd, overhead, &mut out),
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        other => bail!("{GENERATE_ENV}={other}: expected man, bash, zsh or fish"),
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    Ok(out.flush()?)
}

fn write_man(cmd: clap::Command, overhead: &str, out: &mut impl io::Write) -> Result<()> {
    use clap_mangen::roff::{Roff, bold, roman};
    let name = cmd.get_name().to_string();
    let page = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("ebpf-toolkit")
        .source(format!("ebpf-toolkit {VERSION}"));
    let mut buf = Vec::new();
    page.render_title(&mut buf)?;
    page.render_name_section(&mut buf)?;
    page.render_synopsis_section(&mut buf)?;
    page.render_description_section(&mut buf)?;
    page.render_options_section(&mut buf)?;
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES"]);
    let examples = cmd.get_after_help().map(ToString::to_string);
    let lines = examples.iter().flat_map(|e| e.lines()).map(str::trim);
    for line in lines.filter(|l| !l.is_empty() && *l != "EXAMPLES:") {
        let (command, comment) = line.split_once('#').unwrap_or((line, ""));
        roff.control("TP", []);
        roff.text([bold(command.trim())]);
        roff.text([roman(comment.trim())]);
    }
    roff.control("SH", ["OVERHEAD"]);
    roff.text([roman(overhead)]);
    roff.control("SH", ["SEE ALSO"]);
    let others: Vec<String> = tools()
        .filter(|t| *t != name)
        .map(|t| format!("{t}(8)"))
        .collect();
    roff.text([roman(format!(
        "{}, bpftool(8), bpftrace(8). Documentation: docs/{name}.md in the source tree.",
        others.join(", ")
    ))]);
    roff.to_writer(&mut buf)?;
    page.render_version_section(&mut buf)?;
    out.write_all(&buf).context("writing the man page")?;
    Ok(out.flush()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quoted_values_are_clipped() {
        let long = "y".repeat(5_000);
        let text = format!("error: invalid value '{long}' for '-s <NAME>': unknown\n");
        let clipped = clip_quoted(&text);
        assert!(
            clipped.starts_with(&format!(
                "error: invalid value '{}... (5000 bytes)' for '-s <NAME>'",
                "y".repeat(64)
            )),
            "{clipped}"
        );
        assert!(clipped.ends_with(": unknown\n"));
        assert_eq!(clip_quoted("no quotes"), "no quotes");
    }
}

//! The interval loop `runqlat` and `cpudist` both run: attach for the
//! options, print the banner, then each interval's histograms as text,
//! JSON, percentiles, heatmaps or OpenMetrics, until a signal or the count.

use anyhow::Result;
use toolkit_cli::{HistArgs, IntervalArgs, PercentileArgs, StopSignals, run_intervals};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner};

use crate::{Grouping, Options, Tracer, report};

/// What a binary's command line decided, beside its [`Options`].
pub struct Shown<'a> {
    /// The tool's name, in JSON, OpenMetrics and loss reports.
    pub tool: &'static str,
    /// Its first line, libbpf-tools' banner.
    pub banner: &'a str,
    pub out: &'a HistArgs,
    pub hires: &'a PercentileArgs,
    pub every: &'a IntervalArgs,
}

/// Traces for `options` and prints each interval as `shown` asks.
pub fn run(options: &Options, shown: &Shown, signals: &StopSignals) -> Result<()> {
    let grouping = options.grouping;
    let mut tracer = Tracer::attach(shown.tool, &KernelBtf::load()?, options)?;
    let unit = options.unit();
    // Unsplit, the one histogram is "all" from the first interval on.
    let title = grouping.label().unwrap_or("TASKS").to_uppercase();
    let always = (grouping == Grouping::None).then(|| "all".to_string());
    let mut report = shown
        .out
        .report(shown.tool, shown.hires, &title, unit, always)?;
    let mut openmetrics = shown
        .hires
        .open_metrics(shown.tool, grouping.label(), unit)?;
    if grouping == Grouping::Cgroup {
        openmetrics = openmetrics.map(|om| om.labelled(toolkit_cgroup::LABELS));
    }
    print_banner(shown.banner, report.mode.is_json())?;
    run_intervals(signals, shown.every.every(), shown.every.count, || {
        let interval = tracer.interval()?;
        if let Some(split) = &interval.cgroups {
            if let Some(om) = &mut openmetrics {
                om.end_interval(split.labelled(), &interval.lost);
            }
            let rows = split.report_rows();
            return Ok(report.write(&mut stdout(), &rows, &interval.lost, &())?);
        }
        if let Some(om) = &mut openmetrics {
            om.end_interval(
                interval
                    .hists
                    .iter()
                    .map(|(key, h)| (key.to_string(), (h, interval.loglinear.get(key)))),
                &interval.lost,
            );
        }
        let rows = report::rows(
            grouping,
            &interval.hists,
            &interval.loglinear,
            tracer.comms(),
        );
        report.write(&mut stdout(), &rows, &interval.lost, &())?;
        Ok(())
    })?;
    report.finish()
}

//! runqlat: how long runnable tasks wait for a CPU, as a log2 histogram.

mod cli;

use anyhow::Result;
use runqlat::{Grouping, Tracer, report};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::{KernelBtf, TracedProcess};
use toolkit_report::{output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man runqlat`: measured cost per event.
const OVERHEAD: &str = "Enqueue times live in task storage and task fields are plain loads (tp_btf): on the project's 2-core VM sched_switch about 90 ns per event (0.53x libbpf-tools' runqlat), sched_wakeup about 100 ns (0.60x); a do-nothing program costs 30 ns. No program runs at sched_wakeup_new: a new task's first wait is read from the kernel's sched_info at its first switch (all programs together, 0.64x libbpf-tools' per fork+exec). See docs/performance.md.";

fn main() {
    tool_main("runqlat", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let traced = TracedProcess::from_arg(cli.pid)?;
    signals.watch(traced.as_ref())?;
    let options = cli.options(traced.as_ref())?;
    let grouping = options.grouping;
    let mut tracer = Tracer::attach("runqlat", &KernelBtf::load()?, &options)?;
    let unit = options.unit();
    // Unsplit, the one histogram is "all" from the first interval on.
    let title = grouping.label().unwrap_or("TASKS").to_uppercase();
    let always = (grouping == Grouping::None).then(|| "all".to_string());
    let mut report = cli
        .out
        .report("runqlat", &cli.hires, &title, unit, always)?;
    let mut openmetrics = cli.hires.open_metrics("runqlat", grouping.label(), unit)?;
    if grouping == Grouping::Cgroup {
        openmetrics = openmetrics.map(|om| om.labelled(toolkit_cgroup::LABELS));
    }

    print_banner(
        "Tracing run queue latency... Hit Ctrl-C to end.",
        report.mode.is_json(),
    )?;
    run_intervals(signals, cli.every.every(), cli.every.count, || {
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
                interval.hists.iter().map(|(key, h)| (key.to_string(), h)),
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

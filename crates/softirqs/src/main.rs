//! softirqs: soft-interrupt time by vector, as libbpf-tools' softirqs.

mod cli;

use anyhow::Result;
use softirqs::{Tracer, report};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man softirqs`: measured cost per event.
const OVERHEAD: &str = "Two programs, on irq:softirq_entry and irq:softirq_exit, which run once per softirq: a per-CPU start time and a per-CPU array histogram per vector, no hash map. Measured: softirq_entry and softirq_exit: 138 and 129 ns per event on the project's 2-core VM (0.68x and 1.13x libbpf-tools' softirqs), exec to attached 5.6 ms. See docs/performance.md.";

fn main() {
    tool_main("softirqs", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let options = cli.options()?;
    let mut tracer = Tracer::attach("softirqs", &KernelBtf::load()?, &options)?;
    let unit = options.unit;
    let mut report = cli
        .out
        .report("softirqs", &cli.hires, "SOFTIRQ", unit, [])?;
    let mut openmetrics = cli.hires.open_metrics("softirqs", Some("softirq"), unit)?;
    print_banner(
        "Tracing soft irq event time... Hit Ctrl-C to end.",
        report.mode.is_json(),
    )?;
    let histograms = cli.histograms();
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval()?;
        if let Some(om) = &mut openmetrics {
            om.end_interval(
                interval.hists.iter().map(|(vector, h)| {
                    (report::name(*vector), (h, interval.loglinear.get(vector)))
                }),
                &interval.lost,
            );
        }
        if histograms {
            let rows = report::rows(&interval.hists, &interval.loglinear);
            return Ok(report.write(&mut stdout(), &rows, &interval.lost, &())?);
        }
        report::write_table(
            &mut stdout(),
            &interval.hists,
            unit,
            cli.counts,
            cli.out.timestamp,
        )?;
        Ok(())
    })?;
    report.finish()
}

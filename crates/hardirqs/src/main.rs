//! hardirqs: hard-interrupt time by interrupt line, as libbpf-tools'
//! hardirqs.

mod cli;

use anyhow::Result;
use hardirqs::{
    Tracer,
    report::{self, IrqNames},
};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man hardirqs`: measured cost per event.
const OVERHEAD: &str = "Two programs, on irq:irq_handler_entry and irq:irq_handler_exit, which run once per interrupt handler: a per-CPU start time and a per-CPU histogram by IRQ number; names are read from /proc/interrupts in userspace, not from the kernel per interrupt. Measured: irq_handler_entry and irq_handler_exit: 143 and 190 ns per event on the project's 2-core VM (0.51x and 0.53x libbpf-tools' hardirqs), exec to attached 10.7 ms. See docs/performance.md.";

fn main() {
    tool_main("hardirqs", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let options = cli.options()?;
    let mut tracer = Tracer::attach("hardirqs", &KernelBtf::load()?, &options)?;
    let unit = options.unit;
    let mut report = cli
        .out
        .report("hardirqs", &cli.hires, "HARDIRQ", unit, [])?;
    let mut openmetrics = cli.hires.open_metrics("hardirqs", Some("hardirq"), unit)?;
    // libbpf-tools' two banners.
    let banner = if cli.counts {
        "Tracing hard irq events... Hit Ctrl-C to end."
    } else {
        "Tracing hard irq event time... Hit Ctrl-C to end."
    };
    print_banner(banner, report.mode.is_json())?;
    let histograms = cli.histograms();
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval()?;
        let names = IrqNames::read();
        if let Some(om) = &mut openmetrics {
            om.end_interval(
                interval
                    .hists
                    .iter()
                    .map(|(irq, h)| (names.name(*irq), (h, interval.loglinear.get(irq)))),
                &interval.lost,
            );
        }
        if histograms {
            let rows = report::rows(&interval.hists, &interval.loglinear, &names);
            return Ok(report.write(&mut stdout(), &rows, &interval.lost, &())?);
        }
        report::write_table(
            &mut stdout(),
            &interval.hists,
            &names,
            unit,
            cli.counts,
            cli.out.timestamp,
        )?;
        Ok(())
    })?;
    report.finish()
}

//! syscount: which syscalls run, how often, how long in total, which fail.

mod cli;
mod report;

use std::{collections::BTreeMap, io::Write as _};

use anyhow::Result;
use syscount::Tracer;
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::{KernelBtf, TracedProcess};
use toolkit_report::{names::all_syscalls, output::stdout, print_banner};

use crate::{
    cli::Cli,
    report::{Report, Row},
};

/// The OVERHEAD section of `man syscount`: measured cost per event.
const OVERHEAD: &str = "One program per syscall (two with -L). On a getppid loop on the project's 2-core VM, count mode costs about 40 ns per call (0.83-0.87x libbpf-tools' syscount; a do-nothing program costs 30) and adds 0.75-0.79x what libbpf-tools' count mode adds; -L adds 0.67-0.76x what libbpf-tools' syscount -L adds. See docs/performance.md.";

fn main() {
    tool_main("syscount", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    if cli.list {
        let mut out = stdout();
        for (nr, name) in all_syscalls() {
            writeln!(out, "{nr:3}: {name}")?;
        }
        return Ok(());
    }
    let traced = TracedProcess::from_arg(cli.pid)?;
    signals.watch(traced.as_ref())?;
    let options = cli.options(traced.as_ref())?;
    let mut metrics = cli.metrics.counters("syscount")?;
    let mut tracer = Tracer::attach("syscount", &KernelBtf::load()?, &options)?;
    let mut report = Report {
        latency: cli.latency,
        milliseconds: cli.milliseconds,
        process: cli.process,
        top: cli.top as usize,
        json: cli.json,
        comms: BTreeMap::new(),
        cgroups: None,
    };

    print_banner(
        &format!(
            "Tracing syscalls, printing top {}... Ctrl+C to quit.",
            cli.top
        ),
        cli.json,
    )?;
    let (interval, count) =
        toolkit_cli::interval_and_count(cli.interval.filter(|i| !i.is_zero()), cli.duration);
    run_intervals(signals, interval, count, || {
        let interval = tracer.interval()?;
        if cli.process {
            report.comms.clone_from(tracer.comms().names());
        }
        let mut rows = interval.rows;
        if let Some((cgroups, folded)) = interval.cgroups {
            rows = (0..).zip(folded).collect();
            report.cgroups = Some(cgroups);
        }
        let rows = rows
            .into_iter()
            .map(|(key, [count, total_ns])| Row {
                key,
                count,
                total_ns,
            })
            .collect::<Vec<_>>();
        if let Some(metrics) = &mut metrics {
            report.publish(metrics, &cli, &rows, &interval.lost);
        }
        report.write(&mut stdout(), rows, &interval.lost)?;
        Ok(())
    })
}

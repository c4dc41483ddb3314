//! tcpretrans: a line per TCP retransmit, or a count per flow, as bcc's.

mod cli;
mod report;

use std::io::Write as _;

use anyhow::Result;
use clap::CommandFactory as _;
use tcpretrans::Tracer;
use toolkit_cli::{StopSignals, poll_events, run_intervals, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man tcpretrans`: measured cost per event.
const OVERHEAD: &str = "One program on tcp:tcp_retransmit_skb, which runs once per retransmit (not per packet): a few hundred ns of mostly cold cache lines, 0.47-0.85x a bpftrace one-liner counting on the same tracepoint. See docs/performance.md.";

fn main() {
    tool_main("tcpretrans", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    if cli.lossprobe {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "-l (tail loss probes) is not available: this kernel has no tracepoint for \
                 tcp_send_loss_probe, and tcpretrans uses no kprobes",
            )
            .exit();
    }
    if cli.split.per_cgroup && !cli.count {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "-G counts per cgroup: use it with -c",
            )
            .exit();
    }
    if cli.count && cli.interval.is_none() && cli.metrics.listen.is_some() {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--listen with -c needs -i: the counts are read from the kernel each interval",
            )
            .exit();
    }
    let labels: &'static [&'static str] = match (cli.count, cli.split.per_cgroup) {
        (_, true) => toolkit_cgroup::LABELS,
        (true, false) => &["laddr", "raddr"],
        (false, false) => &["state"],
    };
    let mut metrics = cli.metrics.counters("tcpretrans")?;
    if let Some(metrics) = &mut metrics {
        report::declare_metrics(metrics, labels);
        metrics.publish();
    }
    let options = cli.options();
    let mut tracer = Tracer::attach("tcpretrans", &KernelBtf::load()?, &options)?;
    print_banner("Tracing retransmits ... Hit Ctrl-C to end", cli.json)?;
    if cli.count {
        let (interval, count) = toolkit_cli::interval_and_count(cli.interval, cli.duration);
        // Counts since the start when printed only at the end (as bcc);
        // per interval with -i.
        return run_intervals(signals, interval, count, || {
            if cli.split.per_cgroup {
                let (rows, lost) = tracer.cgroups()?;
                if let Some(metrics) = &mut metrics {
                    for (row, counts) in &rows {
                        report::count(metrics, labels, row.label_values(), *counts);
                    }
                    metrics.end_counts(&lost);
                }
                let stamp = cli.interval.is_some();
                return Ok(report::write_cgroup_counts(
                    &mut stdout(),
                    rows,
                    &lost,
                    cli.json,
                    stamp,
                )?);
            }
            let (flows, lost) = tracer.flows()?;
            if let Some(metrics) = &mut metrics {
                for (flow, counts) in &flows {
                    report::count(metrics, labels, report::flow_values(flow), *counts);
                }
                metrics.end_counts(&lost);
            }
            report::write_counts(
                &mut stdout(),
                flows,
                &lost,
                cli.json,
                cli.interval.is_some(),
            )?;
            Ok(())
        });
    }
    if !cli.json {
        let mut out = stdout();
        report::write_event_header(&mut out)?;
        out.flush()?;
    }
    // The first poll publishes every loss reason, at 0: the counter is
    // there from the start, as the interval tools' is.
    let mut first = true;
    poll_events(signals, cli.duration, |_| {
        let mut out = stdout();
        let (events, lost) = tracer.events()?;
        if let Some(metrics) = &mut metrics
            && (std::mem::take(&mut first) || !events.is_empty() || lost.any())
        {
            for event in &events {
                let state = report::state_name(event.state).to_string();
                report::count(metrics, labels, vec![state], [1, u64::from(event.segments)]);
            }
            metrics.end_counts(&lost);
        }
        for event in &events {
            report::write_event(&mut out, event, cli.json)?;
        }
        out.flush()?;
        Ok(())
    })
}

//! netdrop: the kernel's packet drops, counted by reason, protocol and
//! interface.

mod cli;
mod report;

use std::io::Write as _;

use anyhow::Result;
use netdrop::{Tracer, config::Reasons, own_netns};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{OpenMetrics, output::stdout, print_banner};

use crate::{
    cli::Cli,
    report::{Report, Row},
};

/// The OVERHEAD section of `man netdrop`: measured cost per event.
const OVERHEAD: &str = "One program on skb:kfree_skb, which runs once per dropped packet (not per packet): field reads by plain loads (tp_btf) and a per-CPU hash update, about 75 ns per drop on the project's 2-core VM (a bpftrace count by reason: 83). See docs/performance.md.";

fn main() {
    tool_main("netdrop", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let btf = KernelBtf::load()?;
    let reasons = Reasons::from_btf(&btf)?;
    if cli.list {
        let mut out = stdout();
        for (value, name) in reasons.drops() {
            writeln!(out, "{value:3}: {name}")?;
        }
        return Ok(out.flush()?);
    }
    let options = cli.options(&reasons)?;
    let mut openmetrics = cli
        .openmetrics
        .as_deref()
        .map(|path| OpenMetrics::counters_only(path, "netdrop"))
        .transpose()?;
    let mut tracer = Tracer::attach("netdrop", &btf, &options)?;
    let report = Report {
        interfaces: cli.interfaces,
        top: cli.top as usize,
        json: cli.json,
        own_netns: own_netns(),
    };
    let labels: &'static [&'static str] = if cli.interfaces {
        &["reason", "protocol", "interface", "netns"]
    } else {
        &["reason", "protocol"]
    };
    const HELP: &str =
        "Packets the kernel dropped (skb:kfree_skb), by drop reason, since netdrop started.";
    if let Some(om) = &mut openmetrics {
        om.declare_counter("drops", HELP, labels);
        om.publish_or_fail()?;
    }
    print_banner("Tracing packet drops... Ctrl-C to end.", cli.json)?;
    run_intervals(signals, cli.interval.every(), cli.interval.count, || {
        let (drops, lost) = tracer.interval()?;
        let rows: Vec<Row> = drops
            .into_iter()
            .map(|(key, count)| Row::new(&key, reasons.name(key.reason), count))
            .collect();
        if let Some(om) = &mut openmetrics {
            for row in &rows {
                let mut values = vec![row.reason.clone(), row.protocol.clone()];
                if cli.interfaces {
                    values.push(row.interface.clone());
                    values.push(match row.netns {
                        0 => String::new(),
                        netns => netns.to_string(),
                    });
                }
                om.count("drops", HELP, labels, values, row.count);
            }
            om.end_interval(std::iter::empty::<(String, &_)>(), &lost);
        }
        report.write(&mut stdout(), rows, &lost)?;
        Ok(())
    })
}

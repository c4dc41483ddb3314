//! netdrop: the kernel's packet drops, counted by reason, protocol and
//! interface.

mod cli;
mod config;
mod report;

use std::io::Write as _;

use anyhow::{Context as _, Result};
use aya::maps::Array;
use netdrop_ebpf::{DropKey, dropped, maps};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_drain::{DropReport, HistDrain, IntervalClock};
use toolkit_load::{Hook, KernelBtf, attach_tracepoints, check_privileges, load_object};
use toolkit_report::{OpenMetrics, output::stdout, print_banner};

use crate::{
    cli::Cli,
    config::Reasons,
    report::{Report, Row},
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netdrop"));

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
    let counted = reasons.selected(&cli)?;
    let mut openmetrics = cli
        .openmetrics
        .as_deref()
        .map(|path| OpenMetrics::counters_only(path, "netdrop"))
        .transpose()?;
    check_privileges()?;
    btf.require_tracepoints(&["kfree_skb"])?;
    let config = config::build(&cli, &btf)?;
    let mut ebpf = load_object(OBJECT, &config, &[])?;
    {
        let mut switch: Array<_, u8> = Array::try_from(
            ebpf.map_mut(maps::COUNTED)
                .context("map COUNTED missing from the object")?,
        )?;
        for value in counted {
            switch.set(value, 1, 0)?;
        }
    }
    // tp_btf first: the skb's fields are plain loads there.
    attach_tracepoints(&mut ebpf, &btf, &["kfree_skb"], Hook::BtfTracePoint)?;
    let mut clock = IntervalClock::new(&mut ebpf)?;
    let mut drops = HistDrain::<DropKey, u64>::new(&mut ebpf, maps::DROPS)?;
    let report = Report {
        interfaces: cli.interfaces,
        top: cli.top as usize,
        json: cli.json,
    };
    let labels: &'static [&'static str] = if cli.interfaces {
        &["reason", "protocol", "interface"]
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
    let mut losses = DropReport::new("netdrop", dropped::REASONS);
    run_intervals(signals, cli.interval.every(), cli.interval.count, || {
        let tick = clock.tick();
        let rows: Vec<Row> = drops
            .drain(&tick)?
            .into_iter()
            .map(|(key, count)| Row::new(&key, reasons.name(key.reason), count))
            .collect();
        clock.advance(tick)?;
        let lost = losses.check(&ebpf)?;
        if let Some(om) = &mut openmetrics {
            for row in &rows {
                let mut values = vec![row.reason.clone(), row.protocol.clone()];
                if cli.interfaces {
                    values.push(row.interface.clone());
                }
                om.count("drops", HELP, labels, values, row.count);
            }
            om.end_interval(std::iter::empty(), &lost);
        }
        report.write(&mut stdout(), rows, &lost)?;
        Ok(())
    })
}

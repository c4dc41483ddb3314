//! netdrop: the kernel's packet drops, counted by reason, protocol and
//! interface.

mod cli;
mod report;

use std::{collections::BTreeMap, io::Write as _};

use anyhow::Result;

use netdrop::{DropKey, Tracer, config::Reasons, own_netns};
use toolkit_cgroup::Split;
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner};

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
    let mut openmetrics = cli.metrics.counters("netdrop")?;
    let mut tracer = Tracer::attach("netdrop", &btf, &options)?;
    let report = Report {
        interfaces: cli.interfaces,
        cgroups: cli.split.per_cgroup,
        top: cli.top as usize,
        json: cli.json,
        own_netns: own_netns(),
    };
    let labels: &'static [&'static str] = match (cli.interfaces, cli.split.per_cgroup) {
        (true, true) => &[
            "reason",
            "protocol",
            "interface",
            "netns",
            "cgroup",
            "container",
            "pod_uid",
        ],
        (true, false) => &["reason", "protocol", "interface", "netns"],
        (false, true) => &["reason", "protocol", "cgroup", "container", "pod_uid"],
        (false, false) => &["reason", "protocol"],
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
        let rows = match tracer.split() {
            Some(split) => by_cgroup(split, drops, &reasons),
            None => drops
                .into_iter()
                .map(|(key, count)| Row::new(&key, reasons.name(key.reason), count))
                .collect(),
        };
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
                if let Some(cgroup) = &row.cgroup {
                    values.extend(cgroup.label_values());
                }
                om.count("drops", HELP, labels, values, row.count);
            }
            om.end_counts(&lost);
        }
        report.write(&mut stdout(), rows, &lost)?;
        Ok(())
    })
}

/// `-G`: the drops' rows with their sockets' cgroups, the busiest cgroups
/// (by drops) by name and the rest summed into `other`.
fn by_cgroup(split: &mut Split, drops: Vec<(DropKey, u64)>, reasons: &Reasons) -> Vec<Row> {
    let mut totals: BTreeMap<u64, u64> = BTreeMap::new();
    for (key, count) in &drops {
        *totals.entry(key.cgroup).or_insert(0) += count;
    }
    let selection = split.select(totals);
    // Keys that differ only by cgroups folded into `other` become one row.
    let mut rows: BTreeMap<(DropKey, usize), u64> = BTreeMap::new();
    for (key, count) in drops {
        let Some(row) = selection.row_of(key.cgroup) else {
            continue;
        };
        let key = DropKey { cgroup: 0, ..key };
        *rows.entry((key, row)).or_insert(0) += count;
    }
    rows.into_iter()
        .map(|((key, row), count)| Row {
            cgroup: Some(selection.rows()[row].clone()),
            ..Row::new(&key, reasons.name(key.reason), count)
        })
        .collect()
}

//! oomkill: a line per OOM kill, in libbpf-tools' format, with the victim's
//! memory cgroup.

mod cli;

use std::io::Write as _;

use anyhow::Result;
use oomkill::Watcher;
use toolkit_cli::{StopSignals, poll_events, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man oomkill`: measured cost per event.
const OVERHEAD: &str =
    "One program on oom:mark_victim, which runs once per OOM kill: no cost at other times.";

/// `oomkill_kills_total`: its help and labels.
const KILLS: &str = "Processes the OOM killer killed, by their memory cgroup and name.";
const LABELS: &[&str] = &["memcg", "container", "pod_uid", "comm"];

fn main() {
    tool_main("oomkill", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let mut metrics = cli.metrics.counters("oomkill")?;
    if let Some(metrics) = &mut metrics {
        metrics.declare_counter("kills", KILLS, LABELS);
    }
    let mut watcher = Watcher::attach("oomkill", &KernelBtf::load()?)?;
    print_banner("Tracing OOM kills... Ctrl-C to stop.", cli.json)?;
    // The first poll publishes every loss reason, at 0: the counter is
    // there from the start, as the interval tools' is.
    let mut first = true;
    poll_events(signals, cli.duration, |_| {
        let kills = watcher.kills();
        let lost = watcher.lost()?;
        if let Some(metrics) = &mut metrics
            && (std::mem::take(&mut first) || !kills.is_empty() || lost.any())
        {
            for kill in &kills {
                metrics.count("kills", KILLS, LABELS, kill.label_values(), 1);
            }
            metrics.end_counts(&lost);
        }
        for kill in kills {
            let mut out = stdout();
            if cli.json {
                serde_json::to_writer(&mut out, &kill.json())?;
                writeln!(out)?;
            } else {
                kill.write_text(&mut out)?;
            }
            out.flush()?;
        }
        Ok(())
    })
}

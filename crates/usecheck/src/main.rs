//! usecheck: the USE method on one screen. For CPUs, memory, each disk and
//! each network interface: utilization, saturation and errors, each a
//! measured figure, flagged where it crosses a threshold.

mod cell;
mod cgroups;
mod cli;
mod counters;
mod probes;
mod rules;
mod screen;
mod thresholds;

use std::io::Write as _;

use anyhow::Result;
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::{KernelBtf, check_privileges};
use toolkit_report::{
    output::{local_hms, stdout},
    print_banner,
};

use crate::{
    cli::Cli,
    probes::Probes,
    screen::{Screen, Snapshot},
    thresholds::Thresholds,
};

/// The OVERHEAD section of `man usecheck`: what it costs.
const OVERHEAD: &str = "The programs of runqlat (sched_wakeup and sched_switch), memlat (sys_enter and sys_exit, filtered to the memory calls in the kernel, and the reclaim tracepoints), oomkill, biolatency (per disk), netdrop and tcprtt, loaded together: the sum of what those tools cost, measured beside them in docs/performance.md. Counters are read from /proc and /sys once per interval.";

/// `--check`'s exit status when a cell was flagged.
const FLAGGED: i32 = 3;

fn main() {
    tool_main("usecheck", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let thresholds = Thresholds::new(&cli.thresholds);
    let mut openmetrics = cli.metrics.counters("usecheck")?;
    check_privileges()?;
    // Without the kernel's BTF no probe can load: said once, as every tool
    // says it, rather than as six probes off.
    // Read once, for every probe.
    let btf = KernelBtf::load()?;
    let flagged = {
        let mut probes = Probes::attach(&btf, cli.per_cpu, cli.per_cgroup, &cli.skip);
        if let Some(om) = &openmetrics {
            om.publish_or_fail()?;
        }
        print_banner(
            "Tracing utilization, saturation and errors... Hit Ctrl-C to end.",
            cli.json,
        )?;
        let mut before = Snapshot::take();
        let mut cgroups_before = cli.per_cgroup.then(cgroups::Snapshot::take);
        let mut flagged = false;
        run_intervals(signals, cli.every.every(), cli.every.count, || {
            let mut sample = probes.interval()?;
            let after = Snapshot::take();
            let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
            let section = match &cgroups_before {
                Some(then) => {
                    let now = cgroups::Snapshot::take();
                    let runq = sample.cgroup_runq.take();
                    let section =
                        cgroups::Section::new(then, &now, seconds, runq.as_ref(), &thresholds);
                    cgroups_before = Some(now);
                    Some(section)
                }
                None => None,
            };
            let screen = Screen::new(&before, &after, sample, &probes, &thresholds, cli.per_cpu);
            before = after;
            flagged |= screen.flagged() || section.as_ref().is_some_and(|s| s.flagged());
            if let Some(om) = &mut openmetrics {
                screen.publish(om);
            }
            let mut out = stdout();
            if cli.json {
                let mut record = screen.json(&thresholds);
                if let Some(section) = &section {
                    record["cgroups"] = section.json();
                    record["flagged"] = (record["flagged"] == true || section.flagged()).into();
                }
                serde_json::to_writer(&mut out, &record)?;
                writeln!(out)?;
            } else {
                let time = cli.timestamp.then(local_hms);
                write!(out, "{}", screen.text(time.as_deref()))?;
                if let Some(section) = &section {
                    write!(out, "{}", section.text())?;
                }
                writeln!(out)?;
            }
            out.flush()?;
            Ok(())
        })?;
        flagged
        // The probes are detached here, before any exit.
    };
    if cli.check && flagged {
        std::io::stdout().flush()?;
        std::process::exit(FLAGGED);
    }
    Ok(())
}

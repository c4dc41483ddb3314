//! syslat: the latency distribution of each syscall.

mod cli;

use anyhow::Result;
use syslat::{Tracer, process_rows, rows};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_core::Hist;
use toolkit_report::{
    Sections, interval::task_name, names::syscall_name, output::stdout, print_banner,
};

use crate::cli::{Cli, SortBy};

/// The OVERHEAD section of `man syslat`: measured cost per event.
const OVERHEAD: &str = "Two programs per syscall, start times in task storage, histograms in a per-CPU array: on a getppid loop on the project's 2-core VM syslat adds about 170 ns per call, 0.71x what libbpf-tools' syscount -L adds; with --percentiles (log-linear bins too) its sys_exit program costs 0.96x libbpf-tools'. See docs/performance.md.";

fn main() {
    tool_main("syslat", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let traced = toolkit_load::TracedProcess::from_arg(cli.pid)?;
    signals.watch(traced.as_ref())?;
    let options = cli.options(traced.as_ref())?;
    let unit = options.unit;
    let label = if cli.per_process { "pid" } else { "syscall" };
    let mut openmetrics = cli.hires.open_metrics("syslat", Some(label), unit)?;
    if cli.split.per_cgroup {
        openmetrics = openmetrics.map(|om| om.labelled(toolkit_cgroup::LABELS));
    }
    let btf = toolkit_load::KernelBtf::load()?;
    let mut tracer = Tracer::attach("syslat", &btf, &options)?;
    // The syscalls asked for (-s) have a --compact line from the first
    // interval on; processes only once they make a call.
    let always = cli
        .syscalls
        .iter()
        .flatten()
        .filter(|_| !cli.per_process && !cli.split.per_cgroup)
        .map(|nr| syscall_name(*nr));
    let title = if cli.per_process {
        "PID"
    } else if cli.split.per_cgroup {
        "CGROUP"
    } else {
        "SYSCALL"
    };
    let mut report = cli
        .out
        .report("syslat", &cli.hires, title, unit, always)?
        .summarized();
    print_banner(
        "Tracing syscalls... Hit Ctrl-C to end.",
        report.mode.is_json(),
    )?;
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval(openmetrics.as_mut())?;
        if let Some(split) = &interval.cgroups {
            let rows = split.report_rows();
            return Ok(report.write(&mut stdout(), &rows, &interval.lost, &())?);
        }
        let active: Vec<u32> = interval.latency.iter().map(|(nr, _)| *nr).collect();
        let hists = select(interval.latency, &cli);
        let rows = match tracer.comms() {
            Some(comms) => process_rows(&hists, &interval.loglinear, comms),
            None => rows("syscall", &hists, &interval.loglinear),
        };
        let name = |key: &u32| match tracer.comms() {
            Some(comms) => task_name(*key, comms.name(*key)),
            None => syscall_name(*key),
        };
        let hidden = Hidden(
            active
                .iter()
                .filter(|key| !hists.iter().any(|(shown, _)| shown == *key))
                .map(name)
                .collect(),
        );
        Ok(report.write(&mut stdout(), &rows, &interval.lost, &hidden)?)
    })?;
    report.finish()
}

/// Syscalls (processes) with samples that `--top` leaves out: `--compact` does not
/// print them as idle.
struct Hidden(Vec<String>);

impl Sections for Hidden {
    fn hidden(&self) -> Vec<String> {
        self.0.clone()
    }
}

/// Applies `--top` (most total time) and `--sort`.
fn select(mut hists: Vec<(u32, Hist)>, cli: &Cli) -> Vec<(u32, Hist)> {
    if let Some(top) = cli.top {
        hists.sort_by_key(|(nr, h)| (std::cmp::Reverse(h.sum), *nr));
        hists.truncate(top as usize);
    }
    match cli.sort {
        SortBy::Count => hists.sort_by_key(|(nr, h)| (std::cmp::Reverse(h.count), *nr)),
        SortBy::Total => hists.sort_by_key(|(nr, h)| (std::cmp::Reverse(h.sum), *nr)),
    }
    hists
}

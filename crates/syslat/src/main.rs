//! syslat: the latency distribution of each syscall.

mod cli;

use anyhow::Result;
use common_ebpf::{
    Hist,
    user::{
        ManPage, StopSignals, Unit, names::syscall_name, output::CompactPrinter, print_banner,
        print_timestamp, require_thread, run_intervals, tool_main, write_json_interval,
    },
};
use syslat::{Options, Tracer, json_hists, write_hists};

use crate::cli::{Cli, SortBy};

/// What `man syslat` says beyond `--help`.
const MAN: ManPage = ManPage {
    examples: cli::EXAMPLES,
    overhead: "Two programs per syscall, start times in task storage, histograms in a per-CPU array: on a getppid loop syslat adds about 410 ns per call, 0.66x what libbpf-tools' syscount -L adds; with --percentiles (log-linear bins too) its sys_exit program costs 1.26x. See docs/performance.md.",
};

fn main() {
    tool_main("syslat", &MAN, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    if let Some(pid) = cli.pid {
        signals.watch_process(pid)?;
    }
    if let Some(tid) = cli.tid {
        require_thread(tid)?;
    }
    let unit = Unit::latency(cli.out.milliseconds, cli.nanoseconds);
    let options = Options {
        pid: cli.pid,
        tid: cli.tid,
        syscalls: cli.syscalls.clone(),
        failed_only: cli.failures,
        loglinear: cli.hires.loglinear(),
        ..Options::default()
    };
    let mut openmetrics = cli.hires.open_metrics("syslat", Some("syscall"), unit)?;
    let mut tracer = Tracer::attach("syslat", &options, unit)?;
    // The syscalls asked for (-s) have a line from the first interval on.
    let mut compact = cli.hires.compact.then(|| {
        let always = cli.syscalls.iter().flatten().map(|nr| syscall_name(*nr));
        CompactPrinter::new("SYSCALL", unit, always)
    });
    print_banner("Tracing syscalls... Hit Ctrl-C to end.", cli.out.json)?;
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval()?;
        if let Some(om) = &mut openmetrics {
            interval.publish(om);
        }
        let active: Vec<u32> = interval.latency.iter().map(|(nr, _)| *nr).collect();
        let hists = select(interval.latency, &cli);
        let percentiles = cli
            .hires
            .percentiles
            .as_deref()
            .map(|ps| (&interval.loglinear, ps));
        let mut out = common_ebpf::user::output::stdout();
        if cli.out.json {
            return Ok(write_json_interval(
                &mut out,
                "syslat",
                unit,
                json_hists(&hists, percentiles),
                &interval.lost,
                Default::default(),
            )?);
        }
        use std::io::Write as _;
        if let Some(compact) = &mut compact {
            // Every syscall with samples is a row; those --top leaves out
            // are not shown, and not printed as idle either.
            let shown = hists
                .iter()
                .map(|(nr, _)| (syscall_name(*nr), interval.loglinear.get(nr)));
            let hidden = active
                .iter()
                .filter(|nr| !hists.iter().any(|(shown, _)| shown == *nr))
                .map(|nr| (syscall_name(*nr), None));
            let rows = shown.chain(hidden);
            return Ok(compact.write(&mut out, rows)?);
        }
        writeln!(out)?;
        if cli.out.timestamp {
            print_timestamp(&mut out)?;
        }
        write_hists(&mut out, "syscall", &hists, unit, percentiles)?;
        Ok(out.flush()?)
    })
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

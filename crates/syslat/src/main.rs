//! syslat: the latency distribution of each syscall.

mod cli;

use anyhow::Result;
use common_ebpf::{
    Hist,
    user::{
        ManPage, StopSignals, Unit,
        names::syscall_name,
        output::{print_compact_header, print_compact_row},
        print_banner, print_timestamp, require_thread, run_intervals, tool_main,
        write_json_interval,
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
    let mut compact_header = cli.hires.compact;
    print_banner("Tracing syscalls... Hit Ctrl-C to end.", cli.out.json)?;
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval()?;
        if let Some(om) = &mut openmetrics {
            interval.publish(om);
        }
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
        if cli.hires.compact {
            if std::mem::take(&mut compact_header) {
                print_compact_header(&mut out, "SYSCALL", unit)?;
            }
            for (nr, _) in &hists {
                if let Some(ll) = interval.loglinear.get(nr) {
                    print_compact_row(&mut out, &syscall_name(*nr), ll, unit)?;
                }
            }
            return Ok(out.flush()?);
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

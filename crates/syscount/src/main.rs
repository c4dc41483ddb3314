//! syscount: which syscalls run, how often, how long in total, which fail.

mod cli;
mod config;
mod report;

use std::{collections::BTreeMap, io::Write as _};

use anyhow::Result;
use syscount_ebpf::{dropped, maps};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_drain::{ArrayDrain, CommTable, DropReport, HistDrain, IntervalClock};
use toolkit_load::{
    CgroupFilter, Hook, KernelBtf, TracedProcess, attach_tracepoints, check_privileges, load_object,
};
use toolkit_report::{names::all_syscalls, output::stdout, print_banner};

use crate::{
    cli::Cli,
    report::{Report, Row},
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscount"));

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
    if let Some(tid) = cli.tid {
        toolkit_cli::require_thread(tid)?;
    }
    if let Some(ppid) = cli.ppid
        && !std::path::Path::new(&format!("/proc/{ppid}")).exists()
    {
        anyhow::bail!("process {ppid} not found");
    }
    let cgroup = CgroupFilter::from_arg(cli.cgroup.as_deref())?;
    check_privileges()?;
    let btf = KernelBtf::load()?;
    let mut tracepoints = vec!["sys_exit"];
    if cli.latency {
        tracepoints.push("sys_enter");
    }
    if cli.process {
        tracepoints.push("sched_process_exec");
    }
    btf.require_tracepoints(&tracepoints)?;
    let config = config::build(&cli, &btf, traced.as_ref(), cgroup, std::process::id())?;
    let mut ebpf = load_object(OBJECT, &config, &config::map_sizes(&cli))?;
    if let Some(syscalls) = &cli.syscalls {
        let mut watched: aya::maps::Array<_, u32> = aya::maps::Array::try_from(
            ebpf.map_mut(maps::WATCHED)
                .ok_or_else(|| anyhow::anyhow!("map WATCHED missing from the object"))?,
        )?;
        for &nr in syscalls {
            if nr < syscount_ebpf::SYSCALL_SLOTS {
                watched.set(nr, 1, 0)?;
            }
        }
    }
    // tp_btf first: its sys_exit reads the syscall number from pt_regs with
    // a plain load rather than a helper call.
    attach_tracepoints(&mut ebpf, &btf, &tracepoints, Hook::BtfTracePoint)?;
    let mut clock = IntervalClock::new(&mut ebpf)?;
    let mut by_syscall = ArrayDrain::<[u64; 2]>::new(&mut ebpf, maps::SYSCALLS)?;
    let mut by_process = HistDrain::<u32, [u64; 2]>::new(&mut ebpf, maps::PROCESSES)?;
    let mut comms = CommTable::new(&mut ebpf, maps::COMMS)?;
    let mut report = Report {
        latency: cli.latency,
        milliseconds: cli.milliseconds,
        process: cli.process,
        top: cli.top as usize,
        json: cli.json,
        comms: BTreeMap::new(),
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
    let mut drops = DropReport::new("syscount", dropped::REASONS);
    run_intervals(signals, interval, count, || {
        let tick = clock.tick();
        let rows: Vec<Row> = if cli.process {
            let mut idle = Vec::new();
            let rows = by_process.drain_with_idle(&tick, &mut idle)?;
            comms.update(rows.iter().map(|(pid, _)| *pid), &idle);
            report.comms.clone_from(comms.names());
            rows.into_iter()
                .map(|(key, [count, total_ns])| Row {
                    key,
                    count,
                    total_ns,
                })
                .collect()
        } else {
            by_syscall
                .drain(&tick)?
                .into_iter()
                .map(|(key, [count, total_ns])| Row {
                    key,
                    count,
                    total_ns,
                })
                .collect()
        };
        clock.advance(tick)?;
        let lost = drops.check(&ebpf)?;
        report.write(&mut stdout(), rows, &lost)?;
        Ok(())
    })
}

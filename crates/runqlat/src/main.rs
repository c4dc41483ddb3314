//! runqlat: how long runnable tasks wait for a CPU, as a log2 histogram.

mod cli;
mod config;
mod report;

use anyhow::Result;
use runqlat_ebpf::{dropped, maps};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_drain::{CommTable, DropReport, HistDrain, IntervalClock, drain_optional};
use toolkit_load::{
    CgroupFilter, Hook, KernelBtf, attach_tracepoints, check_privileges, load_object,
};
use toolkit_report::{output::stdout, print_banner};

use crate::{cli::Cli, report::Grouping};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/runqlat"));

/// The OVERHEAD section of `man runqlat`: measured cost per event.
const OVERHEAD: &str = "Enqueue times live in task storage and task fields are plain loads (tp_btf): on the project's 2-core VM sched_switch about 80 ns per event (0.46x libbpf-tools' runqlat), sched_wakeup about 100 ns (0.60x); a do-nothing program costs 30 ns. A new task's first wakeup creates its storage slot (about 740 ns, once per task). See docs/performance.md.";

fn main() {
    tool_main("runqlat", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    signals.watch(cli.pid)?;
    let cgroup = CgroupFilter::from_arg(cli.cgroup.as_deref())?;
    check_privileges()?;
    let grouping = cli.grouping();
    let btf = KernelBtf::load()?;
    let mut tracepoints = vec!["sched_wakeup", "sched_wakeup_new", "sched_switch"];
    if matches!(grouping, Grouping::Process | Grouping::Thread) {
        // Names follow exec.
        tracepoints.push("sched_process_exec");
    }
    btf.require_tracepoints(&tracepoints)?;
    let config = config::build(&cli, &btf, cgroup)?;
    let mut ebpf = load_object(OBJECT, &config, &config::map_sizes(&cli))?;
    // tp_btf first: its programs keep enqueue times in task storage, which
    // needs the trusted task pointers only tp_btf arguments are. Before
    // 6.2, the kernel refuses task-storage lookups nested in another
    // task-storage operation on the same CPU, indistinguishably from a
    // missing slot: raw_tp's hash map counts every loss there.
    let first = if kernel_before(6, 2) {
        Hook::RawTracePoint
    } else {
        Hook::BtfTracePoint
    };
    attach_tracepoints(&mut ebpf, &btf, &tracepoints, first)?;
    let mut clock = IntervalClock::new(&mut ebpf)?;
    let mut drain = HistDrain::<u32>::new(&mut ebpf, maps::HISTS)?;
    let mut loglinear = cli
        .hires
        .loglinear()
        .then(|| HistDrain::new(&mut ebpf, maps::LLHISTS))
        .transpose()?;
    let mut comms = CommTable::new(&mut ebpf, maps::COMMS)?;
    let unit = config::unit(&cli);
    // Unsplit, the one histogram is "all" from the first interval on.
    let title = grouping.label().unwrap_or("TASKS").to_uppercase();
    let always = (grouping == Grouping::None).then(|| "all".to_string());
    let mut report = cli
        .out
        .report("runqlat", &cli.hires, &title, unit, always)?;
    let mut openmetrics = cli.hires.open_metrics("runqlat", grouping.label(), unit)?;

    print_banner(
        "Tracing run queue latency... Hit Ctrl-C to end.",
        report.mode.is_json(),
    )?;
    let mut drops = DropReport::new("runqlat", dropped::REASONS);
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let tick = clock.tick();
        let mut idle = Vec::new();
        let hists = drain.drain_with_idle(&tick, &mut idle)?;
        let ll = drain_optional(&mut loglinear, &tick)?;
        clock.advance(tick)?;
        if matches!(
            grouping,
            Grouping::Process | Grouping::Thread | Grouping::PidNamespace
        ) {
            comms.update(hists.iter().map(|(key, _)| *key), &idle);
        }
        let lost = drops.check(&ebpf)?;
        if let Some(om) = &mut openmetrics {
            om.end_interval(hists.iter().map(|(key, h)| (key.to_string(), h)), &lost);
        }
        let rows = report::rows(grouping, &hists, &ll, &comms);
        report.write(&mut stdout(), &rows, &lost, &())?;
        Ok(())
    })?;
    report.finish()
}

/// Whether the running kernel is older than `major.minor` (from
/// /proc/sys/kernel/osrelease; an unreadable release counts as new).
fn kernel_before(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a, b) < (major, minor),
        _ => false,
    }
}

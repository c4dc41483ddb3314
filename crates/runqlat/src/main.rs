//! runqlat: how long runnable tasks wait for a CPU, as a log2 histogram.

mod cli;
mod report;

use anyhow::Result;
use aya::Ebpf;
use common_ebpf::{
    LlHist,
    user::{
        CgroupFilter, CommTable, DropReport, HistDrain, Hook, KernelBtf, ManPage, StopSignals,
        Unit, attach_tracepoints, check_privileges, drain_optional, load_object, print_banner,
        run_intervals, tool_main,
    },
};
use runqlat_ebpf::group;

use crate::{
    cli::Cli,
    report::{Grouping, Report},
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/runqlat"));

/// What `man runqlat` says beyond `--help`.
const MAN: ManPage = ManPage {
    examples: cli::EXAMPLES,
    overhead: "Enqueue times live in task storage: sched_switch about 260 ns per event (0.67x libbpf-tools' runqlat), sched_wakeup about 270 ns (0.77x); a do-nothing program costs 65 ns. See docs/performance.md.",
};

fn main() {
    tool_main("runqlat", &MAN, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    if let Some(pid) = cli.pid {
        signals.watch_process(pid)?;
    }
    let cgroup = cli
        .cgroup
        .as_deref()
        .map(CgroupFilter::from_path)
        .transpose()?;
    check_privileges()?;
    let grouping = if cli.per_process {
        Grouping::Process
    } else if cli.per_thread {
        Grouping::Thread
    } else if cli.per_pidns {
        Grouping::PidNamespace
    } else {
        Grouping::None
    };
    let btf = KernelBtf::load()?;
    let mut tracepoints = vec!["sched_wakeup", "sched_wakeup_new", "sched_switch"];
    if matches!(grouping, Grouping::Process | Grouping::Thread) {
        // Names follow exec.
        tracepoints.push("sched_process_exec");
    }
    btf.require_tracepoints(&tracepoints)?;
    let unit = Unit::latency(cli.out.milliseconds, false);
    let mut ebpf = load(&cli, btf, unit, grouping, cgroup)?;
    // tp_btf first: its programs keep enqueue times in task storage, which
    // needs the trusted task pointers only tp_btf arguments are.
    attach_tracepoints(&mut ebpf, &tracepoints, Hook::BtfTracePoint)?;
    let mut drain = HistDrain::<u32>::new(&mut ebpf, "HISTS")?;
    let mut loglinear = cli
        .hires
        .loglinear()
        .then(|| HistDrain::<u32, LlHist>::new(&mut ebpf, "LLHISTS"))
        .transpose()?;
    let mut comms = CommTable::new(&mut ebpf, "COMMS")?;
    let mut report = Report {
        unit,
        timestamp: cli.out.timestamp,
        json: cli.out.json,
        grouping,
        percentiles: cli.hires.percentiles.clone(),
        // Unsplit, the one histogram is "all" from the first interval on.
        compact: cli.hires.compact.then(|| {
            let title = grouping.label().unwrap_or("TASKS").to_uppercase();
            let always = (grouping == Grouping::None).then(|| "all".to_string());
            common_ebpf::user::output::CompactPrinter::new(&title, unit, always)
        }),
    };
    let mut openmetrics = cli.hires.open_metrics("runqlat", grouping.label(), unit)?;

    print_banner(
        "Tracing run queue latency... Hit Ctrl-C to end.",
        cli.out.json,
    )?;
    let mut drops = DropReport::new(
        "runqlat",
        "DROPPED",
        &["run-queue start map full", "histogram map full"],
    );
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let mut idle = Vec::new();
        let hists = drain.drain_with_idle(&mut idle)?;
        if grouping != Grouping::None {
            comms.update(hists.iter().map(|(key, _)| *key), &idle);
        }
        let ll = drain_optional(&mut loglinear)?;
        let lost = drops.check(&ebpf)?;
        if let Some(om) = &mut openmetrics {
            om.end_interval(hists.iter().map(|(key, h)| (key.to_string(), h)), &lost);
        }
        report.write(
            &mut common_ebpf::user::output::stdout(),
            &hists,
            &ll,
            &comms,
            &lost,
        )?;
        Ok(())
    })
}

/// Loads the object with the filters and this kernel's field offsets.
fn load(
    cli: &Cli,
    btf: KernelBtf,
    unit: Unit,
    grouping: Grouping,
    cgroup: Option<CgroupFilter>,
) -> Result<Ebpf> {
    let group_by = match grouping {
        Grouping::None => group::NONE,
        Grouping::Process => group::PROCESS,
        Grouping::Thread => group::THREAD,
        Grouping::PidNamespace => group::PIDNS,
    };
    let task = |member: &str| btf.member_offset("task_struct", member);
    let mut u32s = vec![
        ("FILTER_TGID", cli.pid.unwrap_or(0)),
        ("GROUP_BY", group_by),
        ("LOGLINEAR", u32::from(cli.hires.loglinear())),
        (
            "OFF_TASK_STATE",
            btf.first_member_offset("task_struct", &["__state", "state"])?,
        ),
        ("OFF_TASK_PID", task("pid")?),
        ("OFF_TASK_TGID", task("tgid")?),
        ("OFF_TASK_COMM", task("comm")?),
        ("OFF_TASK_GROUP_LEADER", task("group_leader")?),
    ];
    if grouping == Grouping::PidNamespace {
        let ns = btf.member_offset("pid_namespace", "ns")?;
        u32s.extend([
            ("OFF_TASK_THREAD_PID", task("thread_pid")?),
            ("OFF_PID_LEVEL", btf.member_offset("pid", "level")?),
            ("OFF_PID_NUMBERS", btf.member_offset("pid", "numbers")?),
            ("SIZE_UPID", btf.struct_size("upid")?),
            ("OFF_UPID_NS", btf.member_offset("upid", "ns")?),
            (
                "OFF_PIDNS_INUM",
                ns + btf.member_offset("ns_common", "inum")?,
            ),
        ]);
    }
    if let Some(cgroup) = cgroup {
        u32s.extend([
            ("FILTER_CGROUP", 1),
            ("CGROUP_LEVEL", cgroup.level),
            ("OFF_TASK_CGROUPS", task("cgroups")?),
            (
                "OFF_CSS_SET_DFL_CGRP",
                btf.member_offset("css_set", "dfl_cgrp")?,
            ),
            ("OFF_CGROUP_LEVEL", btf.member_offset("cgroup", "level")?),
            (
                "OFF_CGROUP_ANCESTORS",
                btf.member_offset("cgroup", "ancestors")?,
            ),
            ("OFF_CGROUP_KN", btf.member_offset("cgroup", "kn")?),
            (
                "OFF_KERNFS_NODE_ID",
                btf.member_offset("kernfs_node", "id")?,
            ),
        ]);
    }
    let u64s = [
        ("UNIT_DIVISOR", unit.divisor()),
        ("CGROUP_ID", cgroup.map_or(0, |c| c.id)),
    ];
    drop(btf); // before aya's loader parses its own copy
    let keys = if grouping == Grouping::None { 1 } else { 10240 };
    let ll_keys = if cli.hires.loglinear() { keys } else { 1 };
    load_object(
        OBJECT,
        &u32s,
        &u64s,
        &[("HISTS", keys), ("COMMS", keys), ("LLHISTS", ll_keys)],
    )
}

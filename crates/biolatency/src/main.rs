//! biolatency: block device I/O latency as a log2 histogram.

mod cli;
mod disks;
mod flags;
mod report;
mod status;

use anyhow::{Context as _, Result};
use aya::Ebpf;
use common_ebpf::{
    LlHist,
    user::{
        CgroupFilter, DropReport, HistDrain, Hook, KernelBtf, ManPage, StopSignals, Unit,
        attach_tracepoints, check_privileges, drain_optional, load_object, print_banner,
        run_intervals, tool_main,
    },
};

use crate::{cli::Cli, disks::Disks, flags::FlagNames, report::Report};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/biolatency"));

/// The OpenMetrics counter family of errored requests: name, help, labels.
const ERRORS: (&str, &str, &[&str]) = (
    "errors",
    "Block I/O requests completed with an error, by disk and status.",
    &["disk", "status"],
);

/// What `man biolatency` says beyond `--help`.
const MAN: ManPage = ManPage {
    examples: cli::EXAMPLES,
    overhead: "Two programs per block I/O (three with -Q): about 400 ns per event each on the project's 2-core VM, level with libbpf-tools' biolatency (1.0x); a do-nothing program on the same hook costs 60 ns. See docs/performance.md.",
};

fn main() {
    tool_main("biolatency", &MAN, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let disks = Disks::load();
    let target_dev = cli.disk.as_deref().map(|d| disks.dev_of(d)).transpose()?;
    let cgroup = cli
        .cgroup
        .as_deref()
        .map(CgroupFilter::from_path)
        .transpose()?;
    check_privileges()?;
    let btf = KernelBtf::load()?;
    let unit = Unit::latency(cli.out.milliseconds, false);
    let mut tracepoints = vec!["block_rq_issue", "block_rq_requeue", "block_rq_complete"];
    if cli.queued {
        tracepoints.push("block_rq_insert");
    }
    btf.require_tracepoints(&tracepoints)?;
    let flags = cli
        .per_flag
        .then(|| FlagNames::from_btf(&btf))
        .transpose()?;
    let mut ebpf = load(&cli, btf, unit, target_dev, cgroup)?;
    attach_tracepoints(&mut ebpf, &tracepoints, Hook::RawTracePoint)?;
    let mut drain = HistDrain::<u64>::new(&mut ebpf, "HISTS")?;
    let mut errors = HistDrain::<u64, u64>::new(&mut ebpf, "ERRORS")?;
    let mut loglinear = cli
        .hires
        .loglinear()
        .then(|| HistDrain::<u64, LlHist>::new(&mut ebpf, "LLHISTS"))
        .transpose()?;
    let mut report = Report {
        unit,
        timestamp: cli.out.timestamp,
        json: cli.out.json,
        per_disk: cli.per_disk,
        flags,
        disks,
        percentiles: cli.hires.percentiles.clone(),
        // Unsplit, the one histogram is "all" from the first interval on.
        compact: cli.hires.compact.then(|| {
            let always = (!cli.per_disk && !cli.per_flag).then(|| "all".to_string());
            common_ebpf::user::output::CompactPrinter::new("DISK", unit, always)
        }),
    };
    // One OpenMetrics label: the disk, the flags, or both joined by '/'.
    let label = match (cli.per_disk, cli.per_flag) {
        (true, true) => Some("disk_flags"),
        (true, false) => Some("disk"),
        (false, true) => Some("flags"),
        (false, false) => None,
    };
    let mut openmetrics = cli.hires.open_metrics("biolatency", label, unit)?;
    if let Some(om) = &mut openmetrics {
        om.declare_counter(ERRORS.0, ERRORS.1, ERRORS.2);
    }

    print_banner(
        "Tracing block device I/O... Hit Ctrl-C to end.",
        cli.out.json,
    )?;
    let mut drops = DropReport::new(
        "biolatency",
        "DROPPED",
        &[
            "in-flight request map full",
            "histogram map full",
            "the kernel did not run the completion program",
            "error map full",
        ],
    );
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let hists = drain.drain()?;
        let ll = drain_optional(&mut loglinear)?;
        let errors = errors.drain()?;
        let lost = drops.check(&ebpf)?;
        if let Some(om) = &mut openmetrics {
            for (disk, status, count) in report.error_rows(&errors) {
                om.count(ERRORS.0, ERRORS.1, ERRORS.2, vec![disk, status], count);
            }
            let named: Vec<(String, &_)> = hists
                .iter()
                .map(|(key, h)| (report.key_name(*key), h))
                .collect();
            om.end_interval(named, &lost);
        }
        report.write(
            &mut common_ebpf::user::output::stdout(),
            &hists,
            &ll,
            &errors,
            &lost,
        )?;
        Ok(())
    })?;
    say_unfinished(&ebpf)
}

/// At exit, requests started while tracing but not seen to complete are in
/// no histogram: say how many (in flight at exit, or, after the I/O has
/// settled, completions the kernel did not run our program for).
fn say_unfinished(ebpf: &Ebpf) -> Result<()> {
    let map = ebpf
        .map("START")
        .context("map START missing from the object")?;
    let start = aya::maps::HashMap::<_, u64, u64>::try_from(map)?;
    let unfinished = start.keys().filter(Result::is_ok).count();
    if unfinished > 0 {
        common_ebpf::say!(
            "biolatency: {unfinished} requests started while tracing were not seen to \
             complete (in flight at exit) and are in no histogram"
        );
    }
    Ok(())
}

/// Loads the object with the filters and this kernel's field offsets.
fn load(
    cli: &Cli,
    btf: KernelBtf,
    unit: Unit,
    dev: Option<u32>,
    cgroup: Option<CgroupFilter>,
) -> Result<Ebpf> {
    let flag = |on: bool| u32::from(on);
    let u32s = [
        ("FILTER_DEV", flag(dev.is_some())),
        ("TARGET_DEV", dev.unwrap_or(0)),
        ("PER_DISK", flag(cli.per_disk)),
        ("PER_FLAG", flag(cli.per_flag)),
        ("QUEUED", flag(cli.queued)),
        ("LOGLINEAR", flag(cli.hires.loglinear())),
        ("FILTER_CGROUP", flag(cgroup.is_some())),
        ("CGROUP_LEVEL", cgroup.map_or(0, |c| c.level)),
        ("OFF_REQUEST_Q", btf.member_offset("request", "q")?),
        (
            "OFF_REQUEST_CMD_FLAGS",
            btf.member_offset("request", "cmd_flags")?,
        ),
        (
            "OFF_QUEUE_DISK",
            btf.member_offset("request_queue", "disk")?,
        ),
        (
            "OFF_QUEUE_ELEVATOR",
            btf.member_offset("request_queue", "elevator")?,
        ),
        ("OFF_DISK_MAJOR", btf.member_offset("gendisk", "major")?),
        (
            "OFF_DISK_FIRST_MINOR",
            btf.member_offset("gendisk", "first_minor")?,
        ),
    ];
    let u64s = [
        ("UNIT_DIVISOR", unit.divisor()),
        ("CGROUP_ID", cgroup.map_or(0, |c| c.id)),
    ];
    drop(btf); // before aya's loader parses its own copy
    let split = cli.per_disk || cli.per_flag;
    let hists = if split { 1024 } else { 1 };
    let ll_hists = if cli.hires.loglinear() { hists } else { 1 };
    load_object(
        OBJECT,
        &u32s,
        &u64s,
        &[("HISTS", hists), ("LLHISTS", ll_hists)],
    )
}

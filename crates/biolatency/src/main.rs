//! biolatency: block device I/O latency as a log2 histogram.

mod cli;
mod config;
mod disks;
mod flags;
mod report;
mod status;

use anyhow::Result;
use aya::Ebpf;
use biolatency_ebpf::{dropped, maps};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_core::Hist;
use toolkit_drain::{ArrayDrain, DropReport, HistDrain, IntervalClock, Tick, drain_optional};
use toolkit_load::{
    CgroupFilter, Hook, KernelBtf, attach_tracepoints, check_privileges, load_object,
};
use toolkit_report::{output::stdout, print_banner};

use crate::{
    cli::Cli,
    disks::Disks,
    flags::FlagNames,
    report::{Extras, Keys},
};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/biolatency"));

/// The OpenMetrics counter family of errored requests: name, help, labels.
const ERRORS: (&str, &str, &[&str]) = (
    "errors",
    "Block I/O requests completed with an error, by disk and status.",
    &["disk", "status"],
);

/// The OVERHEAD section of `man biolatency`: measured cost per event.
const OVERHEAD: &str = "Two programs per block I/O (three with -Q): about 170-190 ns per event each on the project's 2-core VM, level with libbpf-tools' biolatency (a hash of start times by request, as there); a do-nothing program on the same hook costs 35 ns. See docs/performance.md.";

fn main() {
    tool_main("biolatency", OVERHEAD, run)
}

fn run(mut cli: Cli, signals: &StopSignals) -> Result<()> {
    cli.out.json |= cli.bcc_json;
    let disks = Disks::load();
    let target_dev = cli.disk.as_deref().map(|d| disks.dev_of(d)).transpose()?;
    let cgroup = CgroupFilter::from_arg(cli.cgroup.as_deref())?;
    check_privileges()?;
    let btf = KernelBtf::load()?;
    let mut tracepoints = vec!["block_rq_issue", "block_rq_requeue", "block_rq_complete"];
    if cli.queued {
        tracepoints.push("block_rq_insert");
    }
    btf.require_tracepoints(&tracepoints)?;
    let flags = cli
        .per_flag
        .then(|| FlagNames::from_btf(&btf))
        .transpose()?;
    let config = config::build(&cli, &btf, target_dev, cgroup)?;
    let mut ebpf = load_object(OBJECT, &config, &config::map_sizes(&cli))?;
    attach_tracepoints(&mut ebpf, &btf, &tracepoints, Hook::RawTracePoint)?;
    let mut clock = IntervalClock::new(&mut ebpf)?;
    let mut drain = Histograms::new(&mut ebpf, cli.per_disk || cli.per_flag)?;
    let mut errors = HistDrain::<u64, u64>::new(&mut ebpf, maps::ERRORS)?;
    let mut loglinear = cli
        .hires
        .loglinear()
        .then(|| HistDrain::new(&mut ebpf, maps::LLHISTS))
        .transpose()?;
    let mut keys = Keys {
        per_disk: cli.per_disk,
        flags,
        disks,
    };
    let unit = config::unit(&cli);
    // Unsplit, the one histogram is "all" from the first interval on.
    let always = (!cli.per_disk && !cli.per_flag).then(|| "all".to_string());
    let mut report = cli
        .out
        .report("biolatency", &cli.hires, "DISK", unit, always)?;
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
        report.mode.is_json(),
    )?;
    let mut drops = DropReport::new("biolatency", dropped::REASONS);
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let tick = clock.tick();
        let hists = drain.drain(&tick)?;
        let ll = drain_optional(&mut loglinear, &tick)?;
        let extras = Extras {
            errors: keys.error_rows(&errors.drain(&tick)?),
            summary: cli.extension.then(|| {
                let total = hists.iter().map(|(_, h)| h.sum).sum();
                (total, hists.iter().map(|(_, h)| h.count).sum(), unit)
            }),
        };
        clock.advance(tick)?;
        let lost = drops.check(&ebpf)?;
        let rows = keys.rows(&hists, &ll);
        if let Some(om) = &mut openmetrics {
            for (disk, status, count) in &extras.errors {
                let labels = vec![disk.clone(), status.clone()];
                om.count(ERRORS.0, ERRORS.1, ERRORS.2, labels, *count);
            }
            om.end_interval(rows.iter().map(|r| (r.name.clone(), r.hist)), &lost);
        }
        report.write(&mut stdout(), &rows, &lost, &extras)?;
        Ok(())
    })?;
    report.finish()?;
    say_unfinished(&ebpf)
}

/// At exit, requests started while tracing but not seen to complete are in
/// no histogram: say how many (in flight at exit, or, after the I/O has
/// settled, completions the kernel did not run our program for).
fn say_unfinished(ebpf: &Ebpf) -> Result<()> {
    let map = toolkit_drain::map(ebpf, maps::START)?;
    let start = aya::maps::HashMap::<_, u64, u64>::try_from(map)?;
    let unfinished = start.keys().filter(Result::is_ok).count();
    if unfinished > 0 {
        toolkit_report::say!(
            "biolatency: {unfinished} requests started while tracing were not seen to \
             complete (in flight at exit) and are in no histogram"
        );
    }
    Ok(())
}

/// Where the kernel keeps the histograms: a hash by disk and flags when
/// split, one per-CPU array slot (key 0) when not.
enum Histograms {
    Split(HistDrain<u64>),
    Total(ArrayDrain<Hist>),
}

impl Histograms {
    fn new(ebpf: &mut Ebpf, split: bool) -> Result<Self> {
        Ok(if split {
            Self::Split(HistDrain::new(ebpf, maps::HISTS)?)
        } else {
            Self::Total(ArrayDrain::new(ebpf, maps::TOTAL)?)
        })
    }

    fn drain(&mut self, tick: &Tick) -> Result<Vec<(u64, Hist)>> {
        Ok(match self {
            Self::Split(drain) => drain.drain(tick)?,
            Self::Total(drain) => drain
                .drain(tick)?
                .into_iter()
                .map(|(_, hist)| (0, hist))
                .collect(),
        })
    }
}

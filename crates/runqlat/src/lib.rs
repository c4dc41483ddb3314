//! Run-queue latency tracing, for `runqlat` and any tool that needs the
//! same measure (`usecheck`'s CPU saturation), and on the same programs
//! `cpudist`'s time on and off a CPU ([`Measure`]): load and attach the eBPF
//! object for [`Options`], then drain it interval by interval
//! ([`Tracer::interval`]). The text, JSON and OpenMetrics output is the
//! binary's; [`report::rows`] names the histograms for it.

pub mod args;
pub mod config;
pub mod report;
pub mod show;

use std::collections::BTreeMap;

use anyhow::Result;
use runqlat_ebpf::{dropped, maps};
use toolkit_cgroup::{CgroupNames, SplitDrain, SplitHists};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{CommTable, HistDrain, Losses, drain_optional};
use toolkit_load::{Hook, KernelBtf};
use toolkit_session::{Attach, Session, Tool};

pub use report::Grouping;
/// The key of the one histogram when not split.
pub use runqlat_ebpf::ALL;

pub use config::{Measure, Options};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/runqlat"));

/// One interval's figures.
pub struct Interval {
    /// Log2 histograms by key (tgid, tid, PID namespace inode, CPU, or
    /// [`runqlat_ebpf::ALL`]).
    pub hists: Vec<(u32, Hist)>,
    /// Their log-linear twins, with `loglinear`.
    pub loglinear: BTreeMap<u32, LlHist>,
    /// With `-G`: the histograms by cgroup, folded into the split's rows
    /// (`hists` is then empty).
    pub cgroups: Option<SplitHists>,
    /// What the kernel side could not record.
    pub lost: Losses,
}

/// runqlat as a [`Tool`]: its object on the scheduler's tracepoints.
pub struct Runqlat;

impl Tool for Runqlat {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = runqlat_ebpf::Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Self::Config> {
        config::build(options, btf)
    }

    fn attach(options: &Options, config: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        let mut tracepoints = match options.measure {
            Measure::RunQueue => vec!["sched_wakeup", "sched_switch"],
            Measure::OnCpu | Measure::OffCpu => vec!["sched_switch"],
        };
        if options.measure == Measure::RunQueue && config.first_run.enabled == 0 {
            // A new task's first wait is read from the kernel's sched_info
            // at its first switch where the BTF has the fields.
            tracepoints.push("sched_wakeup_new");
        }
        if matches!(options.grouping, Grouping::Process | Grouping::Thread) {
            // Names follow exec.
            tracepoints.push("sched_process_exec");
        }
        // tp_btf first: its programs keep enqueue times in task storage,
        // which needs the trusted task pointers only tp_btf arguments are.
        // Before 6.2, the kernel refuses task-storage lookups nested in
        // another task-storage operation on the same CPU,
        // indistinguishably from a missing slot: raw_tp's hash map counts
        // every loss there.
        let first = if kernel_before(6, 2) {
            Hook::RawTracePoint
        } else {
            Hook::BtfTracePoint
        };
        Ok(vec![Attach::new(tracepoints, first)])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options)
    }
}

/// The attached programs and their maps.
pub struct Tracer {
    session: Session,
    grouping: Grouping,
    drain: HistDrain<u32>,
    loglinear: Option<HistDrain<u32, LlHist>>,
    comms: CommTable,
    cgroups: Option<SplitDrain>,
}

impl Tracer {
    /// Loads the object for `options` and attaches it, with the kernel's
    /// `btf` (read once by the caller, whatever else it loads); `tool`
    /// names the losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Runqlat>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let drain = HistDrain::new(ebpf, maps::HISTS)?;
        let loglinear = options
            .loglinear
            .then(|| HistDrain::new(ebpf, maps::LLHISTS))
            .transpose()?;
        let comms = CommTable::new(ebpf, maps::COMMS)?;
        let cgroups = (options.grouping == Grouping::Cgroup)
            .then(|| {
                let names = CgroupNames::unified();
                SplitDrain::new(ebpf, options.loglinear, names, options.shown_cgroups)
            })
            .transpose()?;
        Ok(Self {
            session,
            grouping: options.grouping,
            drain,
            loglinear,
            comms,
            cgroups,
        })
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Interval> {
        let Self {
            session,
            grouping,
            drain,
            loglinear,
            comms,
            cgroups,
        } = self;
        let ((hists, loglinear, cgroups), lost) = session.interval(|tick| {
            if let Some(split) = cgroups {
                return Ok((Vec::new(), BTreeMap::new(), Some(split.drain(tick)?)));
            }
            let mut idle = Vec::new();
            let hists = drain.drain_with_idle(tick, &mut idle)?;
            let loglinear = drain_optional(loglinear.as_mut(), tick)?;
            if matches!(
                grouping,
                Grouping::Process | Grouping::Thread | Grouping::PidNamespace
            ) {
                comms.update(hists.iter().map(|(key, _)| *key), &idle);
            }
            Ok((hists, loglinear, None))
        })?;
        Ok(Interval {
            hists,
            loglinear,
            cgroups,
            lost,
        })
    }

    /// The command names of the keys seen (with `-P`, `-L`, `--pidnss`).
    pub fn comms(&self) -> &CommTable {
        &self.comms
    }
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

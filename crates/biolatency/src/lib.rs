//! Block I/O latency tracing, for `biolatency` and any tool that needs the
//! same measures (`usecheck`'s disk saturation and errors): load and attach
//! the eBPF object for [`Options`], then drain it interval by interval
//! ([`Tracer::interval`]); disks, request flags and completion statuses by
//! name ([`disks`], [`flags`], [`status`]). The output is the binary's.

pub mod config;
pub mod disks;
pub mod flags;
pub mod status;

use std::collections::BTreeMap;

use anyhow::Result;
use biolatency_ebpf::{Slot, Started, dropped, maps};
use toolkit_cgroup::{CgroupNames, Hierarchy, SplitDrain, SplitHists};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{HistDrain, Histograms, Losses, drain_optional};
use toolkit_load::KernelBtf;
use toolkit_session::{Attach, Session, Tool};

use crate::flags::FlagNames;

pub use config::Options;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/biolatency"));

/// One interval's figures.
pub struct Interval {
    /// Log2 histograms keyed `dev << 32 | cmd_flags` (zero parts when not
    /// split).
    pub hists: Vec<(u64, Hist)>,
    /// Their log-linear twins, with `loglinear`.
    pub loglinear: BTreeMap<u64, LlHist>,
    /// Requests completed with an error, keyed `dev << 32 | status`.
    pub errors: Vec<(u64, u64)>,
    /// With `per_cgroup`: the histograms by block cgroup, folded into the
    /// split's rows (`hists` is then empty).
    pub cgroups: Option<SplitHists>,
    /// What the kernel side could not record.
    pub lost: Losses,
}

/// biolatency as a [`Tool`]: its object on the block request tracepoints.
pub struct Biolatency;

impl Tool for Biolatency {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = biolatency_ebpf::Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Self::Config> {
        config::build(options, btf)
    }

    fn attach(options: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        let mut tracepoints = vec!["block_rq_issue", "block_rq_requeue", "block_rq_complete"];
        if options.queued {
            tracepoints.push("block_rq_insert");
        }
        Ok(vec![Attach::new(tracepoints, options.hook())])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options)
    }
}

/// The attached programs and their maps.
pub struct Tracer {
    session: Session,
    hists: Histograms<u64>,
    errors: HistDrain<u64, u64>,
    loglinear: Option<HistDrain<u64, LlHist>>,
    flag_names: Option<FlagNames>,
    cgroups: Option<SplitDrain>,
}

impl Tracer {
    /// Loads the object for `options` and attaches it, with the kernel's
    /// `btf` (read once by the caller); `tool` names the losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let flag_names = options
            .per_flag
            .then(|| FlagNames::from_btf(btf))
            .transpose()?;
        let mut session = Session::start::<Biolatency>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let hists = Histograms::new(ebpf, options.split(), maps::HISTS, maps::TOTAL, 0)?;
        let errors = HistDrain::new(ebpf, maps::ERRORS)?;
        let loglinear = options
            .loglinear
            .then(|| HistDrain::new(ebpf, maps::LLHISTS))
            .transpose()?;
        let cgroups = options
            .per_cgroup
            .map(|shown| {
                // The hierarchy of the block controller: v2's `io`, or v1's
                // `blkio` on hybrid machines.
                let hierarchy =
                    Hierarchy::of_controller("io").or_else(|| Hierarchy::of_controller("blkio"));
                SplitDrain::new(ebpf, options.loglinear, CgroupNames::new(hierarchy), shown)
            })
            .transpose()?;
        Ok(Self {
            session,
            hists,
            errors,
            loglinear,
            flag_names,
            cgroups,
        })
    }

    /// The names of this kernel's request flags, with `per_flag` (taken:
    /// the caller keeps them).
    pub fn take_flag_names(&mut self) -> Option<FlagNames> {
        self.flag_names.take()
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Interval> {
        let Self {
            session,
            hists,
            errors,
            loglinear,
            cgroups,
            ..
        } = self;
        let ((hists, loglinear, errors, cgroups), lost) = session.interval(|tick| {
            let cgroups = cgroups.as_mut().map(|c| c.drain(tick)).transpose()?;
            Ok((
                hists.drain(tick)?,
                drain_optional(loglinear.as_mut(), tick)?,
                errors.drain(tick)?,
                cgroups,
            ))
        })?;
        Ok(Interval {
            hists,
            loglinear,
            errors,
            cgroups,
            lost,
        })
    }

    /// Requests that found their start-time slot held by another and were
    /// timed in the hash instead, since attaching.
    pub fn hashed_starts(&self) -> Result<u64> {
        let map = toolkit_drain::map(self.session.object(), maps::HASHED_STARTS)?;
        let counts = aya::maps::PerCpuArray::<_, u64>::try_from(map)?;
        Ok(counts.get(&0, 0)?.iter().sum())
    }

    /// Requests started while tracing and not seen to complete: in flight
    /// now or, once the I/O has settled, completions the kernel did not run
    /// the program for. They are in no histogram.
    pub fn unfinished(&self) -> Result<usize> {
        let map = toolkit_drain::map(self.session.object(), maps::SLOTS)?;
        let slots = aya::maps::Array::<_, Slot>::try_from(map)?;
        let mut held = 0;
        for slot in slots.iter() {
            if slot?.rq != 0 {
                held += 1;
            }
        }
        let map = toolkit_drain::map(self.session.object(), maps::START)?;
        let start = aya::maps::HashMap::<_, u64, Started>::try_from(map)?;
        Ok(held + start.keys().filter(Result::is_ok).count())
    }
}

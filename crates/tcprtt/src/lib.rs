//! TCP round-trip-time tracing, for `tcprtt` and any tool that reports
//! RTT (`usecheck`'s network saturation): the program on `tcp:tcp_probe`
//! loaded for [`Options`] and drained interval by interval
//! ([`Tracer::interval`]); [`report`] names the histograms.

pub mod config;
pub mod report;

use std::collections::BTreeMap;

use anyhow::Result;
pub use tcprtt_ebpf::{AddrKey, key};
use tcprtt_ebpf::{dropped, maps};
use toolkit_cgroup::{CgroupNames, SplitDrain, SplitHists};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{HistDrain, Histograms, Losses, drain_optional};
use toolkit_load::{Hook, KernelBtf};
use toolkit_session::{Attach, Session, Tool};

pub use config::Options;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcprtt"));

/// The tracepoint traced.
pub const TRACEPOINT: &str = "tcp_probe";

/// One interval's figures.
pub struct Interval {
    /// Log2 histograms by address (zero for all).
    pub hists: Vec<(AddrKey, Hist)>,
    /// Their log-linear twins, with `loglinear`.
    pub loglinear: BTreeMap<AddrKey, LlHist>,
    /// With `-G`: the histograms by the socket's cgroup, folded into the
    /// split's rows (`hists` is then empty).
    pub cgroups: Option<SplitHists>,
    /// What the kernel side could not record.
    pub lost: Losses,
}

/// tcprtt as a [`Tool`]: its object on `tcp:tcp_probe`.
pub struct Tcprtt;

impl Tool for Tcprtt {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = tcprtt_ebpf::Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Self::Config> {
        config::build(options, btf)
    }

    fn attach(_: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        // tp_btf first: the socket's fields are plain loads there.
        Ok(vec![Attach::new([TRACEPOINT], Hook::BtfTracePoint)])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options)
    }
}

/// The attached program and its maps.
pub struct Tracer {
    session: Session,
    drain: Histograms<AddrKey>,
    loglinear: Option<HistDrain<AddrKey, LlHist>>,
    cgroups: Option<SplitDrain>,
}

impl Tracer {
    /// Loads the program for `options` and attaches it, with the kernel's
    /// `btf` (read once by the caller); `tool` names the losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Tcprtt>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let split = !matches!(options.key_by, key::ALL | key::CGROUP);
        let drain = Histograms::new(ebpf, split, maps::HISTS, maps::TOTAL, AddrKey::ZERO)?;
        let cgroups = (options.key_by == key::CGROUP)
            .then(|| {
                let names = CgroupNames::unified();
                SplitDrain::new(ebpf, options.loglinear, names, options.shown_cgroups)
            })
            .transpose()?;
        let loglinear = options
            .loglinear
            .then(|| HistDrain::new(ebpf, maps::LLHISTS))
            .transpose()?;
        Ok(Self {
            session,
            drain,
            loglinear,
            cgroups,
        })
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Interval> {
        let Self {
            session,
            drain,
            loglinear,
            cgroups,
        } = self;
        let ((hists, loglinear, cgroups), lost) = session.interval(|tick| {
            if let Some(split) = cgroups {
                return Ok((Vec::new(), BTreeMap::new(), Some(split.drain(tick)?)));
            }
            Ok((drain.drain(tick)?, drain_optional(loglinear, tick)?, None))
        })?;
        Ok(Interval {
            hists,
            loglinear,
            cgroups,
            lost,
        })
    }
}

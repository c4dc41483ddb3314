//! The tracer of a tool whose figures are histograms by key (a disk, an
//! IRQ, an address): log2 histograms always, their log-linear twins with
//! the percentiles, and with `-G` the histograms by cgroup instead.

use std::collections::BTreeMap;

use anyhow::Result;
use aya::Ebpf;
use toolkit_cgroup::{SplitDrain, SplitHists};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{Drain, Losses, Tick, drain_optional};
use toolkit_load::KernelBtf;

use crate::{Session, Tool};

/// A [`Tool`] whose figures are histograms by `Key`.
pub trait HistTool: Tool {
    type Key: Ord + Copy + 'static;

    /// The drains of the loaded object's histogram maps for `options`.
    fn drains(options: &Self::Options, ebpf: &mut Ebpf) -> Result<HistDrains<Self::Key>>;
}

/// Where a tool's histograms are drained from, whatever maps hold them.
pub struct HistDrains<K> {
    hists: Box<dyn Drain<K, Hist>>,
    loglinear: Option<Box<dyn Drain<K, LlHist>>>,
    cgroups: Option<SplitDrain>,
}

impl<K: Ord + Copy> HistDrains<K> {
    /// The log2 histograms' drain.
    pub fn new(hists: impl Drain<K, Hist> + 'static) -> Self {
        Self {
            hists: Box::new(hists),
            loglinear: None,
            cgroups: None,
        }
    }

    /// With their log-linear twins' drain, where there is one.
    pub fn loglinear(mut self, drain: Option<impl Drain<K, LlHist> + 'static>) -> Self {
        self.loglinear = drain.map(|d| Box::new(d) as Box<dyn Drain<K, LlHist>>);
        self
    }

    /// With the per-cgroup split's drain, where the run is split.
    pub fn cgroups(mut self, split: Option<SplitDrain>) -> Self {
        self.cgroups = split;
        self
    }

    /// Every histogram that changed since the last drain (its losses
    /// are the session's).
    pub fn drain(&mut self, tick: &Tick) -> Result<HistInterval<K>> {
        Ok(HistInterval {
            hists: self.hists.drain(tick)?,
            loglinear: drain_optional(self.loglinear.as_deref_mut(), tick)?,
            cgroups: self.cgroups.as_mut().map(|c| c.drain(tick)).transpose()?,
            lost: Losses::default(),
        })
    }
}

/// One interval of a [`HistTool`].
pub struct HistInterval<K> {
    /// Log2 histograms by key, only those with new samples.
    pub hists: Vec<(K, Hist)>,
    /// Their log-linear twins, where recorded.
    pub loglinear: BTreeMap<K, LlHist>,
    /// With `-G`: the histograms by cgroup, folded into the split's rows
    /// (`hists` is then empty).
    pub cgroups: Option<SplitHists>,
    /// What the kernel side could not record.
    pub lost: Losses,
}

/// A [`HistTool`] loaded and attached.
pub struct HistTracer<T: HistTool> {
    session: Session,
    drains: HistDrains<T::Key>,
}

impl<T: HistTool> HistTracer<T> {
    /// Loads `T` for `options` and attaches it, with the kernel's `btf`
    /// (read once by the caller); `tool` names the losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &T::Options) -> Result<Self> {
        let mut session = Session::start::<T>(tool, btf, options)?;
        let drains = T::drains(options, session.ebpf())?;
        Ok(Self { session, drains })
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<HistInterval<T::Key>> {
        let (mut interval, lost) = self.session.interval(|tick| self.drains.drain(tick))?;
        interval.lost = lost;
        Ok(interval)
    }
}

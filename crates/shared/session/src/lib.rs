//! A tool is a type, and a session runs it.
//!
//! Every tool says once what it is ([`Tool`]): its name, its eBPF object,
//! the `Config` its kernel half reads, the configuration function from its
//! resolved options and the kernel's BTF, the tracepoints it attaches and
//! with which hook kind first, its map sizes, and what it writes into its
//! maps before attaching. A [`Session`] does the rest the same way for all:
//! privileges, the tracepoints' presence, load with the configuration set,
//! the switches, attach in order, then each interval one [`Tick`] for every
//! drain, the clock advanced, and the losses reported.
//!
//! A tool whose figures are histograms by key says how to drain them
//! ([`HistTool`]), and its tracer is a [`HistTracer`].

mod hists;

pub use hists::{HistDrains, HistInterval, HistTool, HistTracer};

use anyhow::{Context as _, Result};
use aya::{Ebpf, Pod, maps::Array};
use toolkit_drain::{DropReport, IntervalClock, Losses, Tick};
use toolkit_load::{Hook, KernelBtf, attach_tracepoints, check_privileges, load_object};

/// One group of tracepoints, attached together, `first` tried first (and
/// the other kind if that fails). Groups are attached in order: a tool
/// attaches the end of what it times before its beginning, so that nothing
/// is half-seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attach {
    pub tracepoints: Vec<&'static str>,
    pub first: Hook,
}

impl Attach {
    pub fn new(tracepoints: impl IntoIterator<Item = &'static str>, first: Hook) -> Self {
        Self {
            tracepoints: tracepoints.into_iter().collect(),
            first,
        }
    }
}

/// What a tool is. Its binary, and any tool that measures the same thing
/// (`usecheck`), run it through a [`Session`].
pub trait Tool {
    /// The eBPF object, embedded at build time.
    const OBJECT: &'static [u8];
    /// What each index of the object's drop counter means.
    const DROP_REASONS: &'static [&'static str];
    /// The resolved options (built from the command line in one place).
    type Options;
    /// The kernel half's configuration, set before load.
    type Config: Pod;

    /// The configuration for `options`: a pure function of them and the
    /// kernel's BTF, unit-tested without loading anything.
    fn config(options: &Self::Options, btf: &KernelBtf) -> Result<Self::Config>;

    /// The tracepoints to attach, in groups attached in order. Every one
    /// must exist in this kernel, except those the tool leaves out itself.
    fn attach(
        options: &Self::Options,
        config: &Self::Config,
        btf: &KernelBtf,
    ) -> Result<Vec<Attach>>;

    /// Sizes of the maps that depend on the options (others keep the
    /// object's).
    fn map_sizes(_options: &Self::Options) -> Vec<(&'static str, u32)> {
        Vec::new()
    }

    /// Writes what the programs read from maps as switches (the syscalls
    /// watched, the reasons counted), after load and before attach.
    fn prepare(_options: &Self::Options, _ebpf: &mut Ebpf) -> Result<()> {
        Ok(())
    }
}

/// A loaded and attached tool: its object, the interval clock and the loss
/// report. The tool's drains take their maps from [`ebpf`](Self::ebpf)
/// once, and read them each interval with the tick [`interval`]
/// (Self::interval) hands them.
pub struct Session {
    ebpf: Ebpf,
    clock: IntervalClock,
    drops: DropReport,
}

impl Session {
    /// Loads `T` for `options` and attaches it, with the kernel's `btf`
    /// (read once by the caller, whatever else it loads); `name` is the
    /// tool that says the losses (`usecheck` for the tools it runs).
    pub fn start<T: Tool>(
        name: &'static str,
        btf: &KernelBtf,
        options: &T::Options,
    ) -> Result<Self> {
        check_privileges()?;
        let config = T::config(options, btf)?;
        let groups = T::attach(options, &config, btf)?;
        for group in &groups {
            btf.require_tracepoints(&group.tracepoints)?;
        }
        let mut ebpf = load_object(T::OBJECT, &config, &T::map_sizes(options))?;
        T::prepare(options, &mut ebpf)?;
        for group in &groups {
            attach_tracepoints(&mut ebpf, btf, &group.tracepoints, group.first)?;
        }
        let clock = IntervalClock::new(&mut ebpf)?;
        Ok(Self {
            ebpf,
            clock,
            drops: DropReport::new(name, T::DROP_REASONS),
        })
    }

    /// The loaded object: the tool's drains take their maps from it.
    pub fn ebpf(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// The loaded object, to read a map without taking it.
    pub fn object(&self) -> &Ebpf {
        &self.ebpf
    }

    /// Ends an interval: `drain` reads every map with the interval's tick,
    /// then the clock advances and the interval's losses are said (on
    /// stderr) and returned beside what `drain` made.
    pub fn interval<R>(&mut self, drain: impl FnOnce(&Tick) -> Result<R>) -> Result<(R, Losses)> {
        let tick = self.clock.tick();
        let drained = drain(&tick)?;
        self.clock.advance(tick)?;
        let lost = self.drops.check(&self.ebpf)?;
        Ok((drained, lost))
    }
}

/// Sets `on` at each of `indexes` in the array map `name`: the switches a
/// tool's programs read (the syscalls watched, the drop reasons counted),
/// for [`Tool::prepare`]. Indexes past the array's end are left out: no
/// program reads them.
pub fn switch_on<V: Pod>(
    ebpf: &mut Ebpf,
    name: &str,
    indexes: impl IntoIterator<Item = u32>,
    on: V,
) -> Result<()> {
    let map = ebpf
        .map_mut(name)
        .with_context(|| format!("map {name} missing from the object"))?;
    let mut array: Array<_, V> = Array::try_from(map)?;
    let len = array.len();
    for index in indexes.into_iter().filter(|&i| i < len) {
        array.set(index, on, 0)?;
    }
    Ok(())
}

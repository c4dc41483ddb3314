//! The interval clock: one per tool, it owns the kernel's interval
//! generation (the `HIST_GENERATION` map of `toolkit-kernel`) and hands
//! every drain the same [`Tick`].
//!
//! The kernel stamps each per-CPU histogram with the generation of its last
//! sample, and a histogram whose stamp is older restarts its maximum (and
//! log-linear minimum): per-interval extremes without userspace ever
//! writing a histogram. Userspace reads every map with the generation of
//! the interval being closed, then advances the generation. Doing both in
//! one place is what keeps the drains in step: a drain cannot tick on its
//! own, and the order of the drains' constructors does not matter.

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{Array, MapData},
};

/// The interval being closed: drains accumulate per-CPU maxima stamped
/// with it. Handed out by [`IntervalClock::tick`], given back to
/// [`IntervalClock::advance`].
#[derive(Debug, PartialEq, Eq)]
pub struct Tick(pub(crate) u64);

impl Tick {
    /// The generation the kernel stamped this interval's samples with.
    pub fn generation(&self) -> u64 {
        self.0
    }
}

/// Owns the kernel's interval generation.
pub struct IntervalClock {
    /// Absent in objects that record no histogram (oomkill).
    map: Option<Array<MapData, u64>>,
    current: u64,
}

impl IntervalClock {
    /// Takes the object's generation map, if it has one.
    pub fn new(ebpf: &mut Ebpf) -> Result<Self> {
        let map = ebpf
            .take_map(toolkit_core::INTERVAL_GENERATION_MAP)
            .map(Array::try_from)
            .transpose()
            .context("the interval generation map")?;
        Ok(Self { map, current: 0 })
    }

    /// The interval to close now: read every drain with it, then
    /// [`advance`](Self::advance).
    pub fn tick(&self) -> Tick {
        Tick(self.current)
    }

    /// Starts the next interval in the kernel: samples from now on carry
    /// the next generation.
    pub fn advance(&mut self, tick: Tick) -> Result<()> {
        debug_assert_eq!(tick.0, self.current);
        self.current += 1;
        if let Some(map) = &mut self.map {
            map.set(0, self.current, 0)?;
        }
        Ok(())
    }
}

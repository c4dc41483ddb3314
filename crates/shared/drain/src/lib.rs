//! Reading the kernel's maps interval by interval: per-CPU maps of
//! cumulative values become per-interval figures ([`HistDrain`],
//! [`ArrayDrain`]), all read with one [`IntervalClock`]'s tick; what the
//! kernel could not record becomes [`Losses`]; comm names come along
//! ([`CommTable`]); events sent one by one are read as records
//! ([`EventRing`]).

pub mod clock;
pub mod comms;
pub mod events;
pub mod losses;

use std::collections::BTreeMap;

pub use clock::{IntervalClock, Tick};

/// Takes ownership of the object's map `name`; failing names it.
pub fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<aya::maps::Map> {
    ebpf.take_map(name)
        .with_context(|| format!("map {name} missing from the object"))
}

/// The object's map `name`, borrowed; failing names it.
pub fn map<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a aya::maps::Map> {
    ebpf.map(name)
        .with_context(|| format!("map {name} missing from the object"))
}
pub use comms::CommTable;
pub use events::EventRing;
pub use losses::{DropReport, Losses, RECURSION};

use anyhow::{Context as _, Result};
use aya::{
    Ebpf, Pod,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use toolkit_core::{
    hist::Hist,
    loglinear::{LlHist, loglinear_bounds},
};

/// Per-CPU map values that only grow (counts, sums), so that per-interval
/// figures are differences of totals.
pub trait Counters: Pod + Copy {
    /// The empty value.
    const ZERO: Self;
    /// Number of events behind the value (an idle key has none new).
    fn events(&self) -> u64;
    /// Adds one CPU's value; `generation` is the current interval's, for
    /// values that keep a per-interval maximum.
    fn accumulate(&mut self, cpu: &Self, generation: u64);
    /// The part of `self` (a later total) that is not in `before`.
    fn since(&self, before: &Self) -> Self;

    /// Adds an interval's figure (a drained value, which keeps generation
    /// 0: its maximum is the interval's) to `self`, another one's: the
    /// per-cgroup split sums the cgroups it does not show into `other`.
    fn merge(&mut self, drained: &Self) {
        self.accumulate(drained, 0);
    }

    /// The sum of every CPU's value, read in the interval of `tick`.
    fn total<'a>(per_cpu: impl Iterator<Item = &'a Self>, tick: &Tick) -> Self
    where
        Self: 'a,
    {
        let mut total = Self::ZERO;
        per_cpu.for_each(|cpu| total.accumulate(cpu, tick.generation()));
        total
    }
}

/// The number of samples in one CPU's buckets.
///
/// Userspace copies a CPU's value while that CPU's program may be writing
/// it (the map syscall takes no lock against programs), so a copy can hold
/// a sample's `count` but not yet its bucket: an interval would then show a
/// sample with no bucket (percentiles of an empty histogram) and the next
/// one a bucket with no sample. Counting the buckets keeps every interval's
/// count and buckets in agreement; the totals are the same once the write
/// is over. A sample caught mid-write moves whole to the next interval; only
/// its `sum` (read after the buckets) may land one interval early.
fn bins_total(bins: &[u64]) -> u64 {
    bins.iter().fold(0, |total, n| total.wrapping_add(*n))
}

/// `to[i] += from[i]` for every bucket.
fn add_each(to: &mut [u64], from: &[u64]) {
    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
}

/// `to[i] -= from[i]` for every bucket, wrapping as the kernel's counters do.
fn sub_each(to: &mut [u64], from: &[u64]) {
    to.iter_mut()
        .zip(from)
        .for_each(|(t, f)| *t = t.wrapping_sub(*f));
}

impl Counters for Hist {
    const ZERO: Self = Hist::ZERO;

    fn events(&self) -> u64 {
        self.count
    }

    fn accumulate(&mut self, cpu: &Self, generation: u64) {
        add_each(&mut self.slots, &cpu.slots);
        // The count is the slots' sum, not the kernel's `count`: see
        // `bins_total`.
        self.count += bins_total(&cpu.slots);
        self.sum += cpu.sum;
        if cpu.generation == generation {
            self.max = self.max.max(cpu.max);
        }
    }

    fn since(&self, before: &Self) -> Self {
        let mut delta = *self;
        sub_each(&mut delta.slots, &before.slots);
        delta.count = self.count.wrapping_sub(before.count);
        delta.sum = self.sum.wrapping_sub(before.sum);
        delta
    }
}

impl Counters for LlHist {
    const ZERO: Self = LlHist::ZERO;

    fn events(&self) -> u64 {
        self.count
    }

    fn accumulate(&mut self, cpu: &Self, generation: u64) {
        add_each(&mut self.bins, &cpu.bins);
        // Minimum and maximum count only from CPUs that recorded in this
        // interval (a CPU's generation is that of its last sample).
        if cpu.generation == generation && cpu.count > 0 {
            let first = self.max == 0 && self.min == 0;
            self.min = if first {
                cpu.min
            } else {
                self.min.min(cpu.min)
            };
            self.max = self.max.max(cpu.max);
        }
        self.count += bins_total(&cpu.bins);
        self.sum += cpu.sum;
    }

    fn since(&self, before: &Self) -> Self {
        let mut delta = *self;
        sub_each(&mut delta.bins, &before.bins);
        delta.count = self.count.wrapping_sub(before.count);
        delta.sum = self.sum.wrapping_sub(before.sum);
        cover_bins(&mut delta);
        delta
    }
}

/// Widens an interval's minimum and maximum to its lowest and highest
/// non-empty bins where they do not reach them. A sample recorded while
/// userspace read the interval before lands in this interval's bins, but
/// its minimum and maximum carry that interval's generation and are left
/// out (`accumulate`): alone in an interval, it showed a count of 1 with
/// every percentile and the maximum 0. The bins' edges are within a bin of
/// the sample, as the percentiles are.
fn cover_bins(hist: &mut LlHist) {
    let lowest = hist.bins.iter().position(|&n| n != 0);
    let highest = hist.bins.iter().rposition(|&n| n != 0);
    let (Some(lowest), Some(highest)) = (lowest, highest) else {
        return;
    };
    let unset = hist.min == 0 && hist.max == 0;
    let (low, low_end) = loglinear_bounds(lowest);
    let top = loglinear_bounds(highest).0;
    if unset || hist.min as f64 >= low_end {
        hist.min = low as u64;
    }
    if (hist.max as f64) < top {
        hist.max = top as u64;
    }
}

/// Plain counts, such as biolatency's errored requests.
impl Counters for u64 {
    const ZERO: Self = 0;

    fn events(&self) -> u64 {
        *self
    }

    fn accumulate(&mut self, cpu: &Self, _generation: u64) {
        *self += cpu;
    }

    fn since(&self, before: &Self) -> Self {
        self.wrapping_sub(*before)
    }
}

/// Arrays of counters: `[count, total]` pairs such as syscount's
/// per-syscall counters, netdrop's drops of one reason by protocol. Every
/// event grows the sum, which stands for the number of events.
impl<const N: usize> Counters for [u64; N] {
    const ZERO: Self = [0; N];

    fn events(&self) -> u64 {
        self.iter().fold(0, |sum, v| sum.wrapping_add(*v))
    }

    fn accumulate(&mut self, cpu: &Self, _generation: u64) {
        add_each(self, cpu);
    }

    fn since(&self, before: &Self) -> Self {
        let mut delta = *self;
        sub_each(&mut delta, before);
        delta
    }
}

/// Turns a per-CPU hash map of cumulative values into per-interval ones.
///
/// Userspace never writes values (a write would race the kernel's adds and
/// lose samples): it keeps the previous totals and subtracts. Keys with no
/// new event in an interval are deleted from the map so that it cannot fill
/// up with idle keys (pids that exited, ...).
pub struct HistDrain<K: Pod, V: Counters = Hist> {
    map: PerCpuHashMap<MapData, K, V>,
    previous: BTreeMap<K, V>,
}

impl<K: Pod + Ord, V: Counters> HistDrain<K, V> {
    /// Takes ownership of the object's per-CPU hash map `name`.
    pub fn new(ebpf: &mut Ebpf, name: &str) -> Result<Self> {
        let map = take_map(ebpf, name)?;
        Ok(Self {
            map: PerCpuHashMap::try_from(map)?,
            previous: BTreeMap::new(),
        })
    }

    /// The values that changed since the last call, in key order. Keys that
    /// went idle are appended to `idle` so that side tables can forget them.
    pub fn drain_with_idle(&mut self, tick: &Tick, idle: &mut Vec<K>) -> Result<Vec<(K, V)>> {
        let keys: Vec<K> = self.map.keys().collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for key in keys {
            let Ok(per_cpu) = self.map.get(&key, 0) else {
                continue; // deleted meanwhile
            };
            let total = V::total(per_cpu.iter(), tick);
            let before = self.previous.get(&key).copied().unwrap_or(V::ZERO);
            if total.events() == before.events() {
                // Idle for a whole interval: forget it (an event landing
                // between the read above and this delete is the only loss).
                let _ = self.map.remove(&key);
                self.previous.remove(&key);
                idle.push(key);
                continue;
            }
            self.previous.insert(key, total);
            out.push((key, total.since(&before)));
        }
        // Key order (disk, pid, ...), not the kernel's hash order.
        out.sort_unstable_by_key(|(key, _)| *key);
        Ok(out)
    }

    /// Like [`HistDrain::drain_with_idle`], for callers without side tables.
    pub fn drain(&mut self, tick: &Tick) -> Result<Vec<(K, V)>> {
        self.drain_with_idle(tick, &mut Vec::new())
    }
}

/// A tool's histograms: a per-CPU hash by key when the run is split (per
/// disk, per address, ...), else one per-CPU array slot, which the programs
/// reach without a hash lookup. Both drain the same way; the slot comes out
/// under the key `whole`.
pub enum Histograms<K: Pod, V: Counters = Hist> {
    Split(HistDrain<K, V>),
    Whole(ArrayDrain<V>, K),
}

impl<K: Pod + Ord, V: Counters> Histograms<K, V> {
    /// Takes the object's hash map `hash` when `split`, else its one-slot
    /// per-CPU array `array`, read as key `whole`.
    pub fn new(ebpf: &mut Ebpf, split: bool, hash: &str, array: &str, whole: K) -> Result<Self> {
        Ok(if split {
            Self::Split(HistDrain::new(ebpf, hash)?)
        } else {
            Self::Whole(ArrayDrain::new(ebpf, array)?.only([0]), whole)
        })
    }

    /// The values that changed since the last call, in key order.
    pub fn drain(&mut self, tick: &Tick) -> Result<Vec<(K, V)>> {
        Ok(match self {
            Self::Split(drain) => drain.drain(tick)?,
            Self::Whole(drain, whole) => drain
                .drain(tick)?
                .into_iter()
                .map(|(_, value)| (*whole, value))
                .collect(),
        })
    }
}

/// What every drain does: the values that changed since the last call,
/// by key in order. Lets a tool hold its histograms' drain whatever map
/// kind the kernel half keeps them in.
pub trait Drain<K, V> {
    fn drain(&mut self, tick: &Tick) -> Result<Vec<(K, V)>>;
}

impl<K: Pod + Ord, V: Counters> Drain<K, V> for HistDrain<K, V> {
    fn drain(&mut self, tick: &Tick) -> Result<Vec<(K, V)>> {
        HistDrain::drain(self, tick)
    }
}

impl<K: Pod + Ord, V: Counters> Drain<K, V> for Histograms<K, V> {
    fn drain(&mut self, tick: &Tick) -> Result<Vec<(K, V)>> {
        Histograms::drain(self, tick)
    }
}

impl<V: Counters> Drain<u32, V> for ArrayDrain<V> {
    fn drain(&mut self, tick: &Tick) -> Result<Vec<(u32, V)>> {
        ArrayDrain::drain(self, tick)
    }
}

/// The drain of a map only used with some options, by key: empty without
/// one.
pub fn drain_optional<K: Ord, V, D: Drain<K, V> + ?Sized>(
    drain: Option<&mut D>,
    tick: &Tick,
) -> Result<BTreeMap<K, V>> {
    match drain {
        Some(drain) => Ok(drain.drain(tick)?.into_iter().collect()),
        None => Ok(BTreeMap::new()),
    }
}

/// Per-interval differences of a per-CPU array of cumulative values, by
/// index (indexes with no new event are left out).
pub struct ArrayDrain<V: Counters> {
    array: PerCpuArray<MapData, V>,
    /// Indexes to read, all by default.
    indexes: Vec<u32>,
    previous: BTreeMap<u32, V>,
}

impl<V: Counters> ArrayDrain<V> {
    /// Takes ownership of the object's per-CPU array `name`.
    pub fn new(ebpf: &mut Ebpf, name: &str) -> Result<Self> {
        let map = take_map(ebpf, name)?;
        let array = PerCpuArray::try_from(map)?;
        let indexes = (0..array.len()).collect();
        Ok(Self {
            array,
            indexes,
            previous: BTreeMap::new(),
        })
    }

    /// Reads only `indexes` from now on (the only ones the kernel writes,
    /// such as the syscalls of a `-s` filter): one map read each.
    pub fn only(mut self, indexes: impl IntoIterator<Item = u32>) -> Self {
        self.indexes = indexes
            .into_iter()
            .filter(|&i| i < self.array.len())
            .collect();
        self
    }

    /// `(index, value)` for every index with new events since the last call.
    pub fn drain(&mut self, tick: &Tick) -> Result<Vec<(u32, V)>> {
        let mut out = Vec::new();
        for &index in &self.indexes {
            let total = V::total(self.array.get(&index, 0)?.iter(), tick);
            let before = self.previous.entry(index).or_insert(V::ZERO);
            if total.events() != before.events() {
                out.push((index, total.since(before)));
                *before = total;
            }
        }
        Ok(out)
    }
}

/// Sum over CPUs of entry `index` of the per-CPU `u64` array `name`
/// (counters of dropped samples and the like).
pub fn percpu_counter(ebpf: &Ebpf, name: &str, index: u32) -> Result<u64> {
    let map = map(ebpf, name)?;
    let array = PerCpuArray::<_, u64>::try_from(map)?;
    Ok(array.get(&index, 0)?.iter().sum())
}

#[cfg(test)]
mod tests {
    use toolkit_core::loglinear::loglinear_bin;

    use super::*;

    /// One CPU's log-linear histogram with `values`, stamped `generation`.
    fn cpu(values: &[u64], generation: u64) -> LlHist {
        let mut hist = LlHist::ZERO;
        for &v in values {
            hist.bins[loglinear_bin(v)] += 1;
            hist.count += 1;
            hist.sum += v;
            hist.min = if hist.count == 1 { v } else { hist.min.min(v) };
            hist.max = hist.max.max(v);
        }
        hist.generation = generation;
        hist
    }

    #[test]
    fn a_sample_stamped_with_the_last_interval_is_covered() {
        // Interval 1 read CPU 1 empty; CPU 1 then recorded 1.234 ms
        // stamped with generation 1, read in interval 2.
        let before = LlHist::ZERO;
        let alone = [cpu(&[1_234_000], 1)];
        let total = LlHist::total(alone.iter(), &Tick(2));
        let delta = total.since(&before);
        assert_eq!(delta.count, 1);
        assert_eq!((delta.min, delta.max), (1_200_000, 1_200_000));
        // Beside a sample of this interval, exact values stay.
        let both = [cpu(&[1_234_000], 1), cpu(&[1_100_000], 2)];
        let delta = LlHist::total(both.iter(), &Tick(2)).since(&before);
        assert_eq!((delta.min, delta.max), (1_100_000, 1_200_000));
        let both = [cpu(&[1_234_000], 2), cpu(&[1_100_000], 1)];
        let delta = LlHist::total(both.iter(), &Tick(2)).since(&before);
        assert_eq!((delta.min, delta.max), (1_100_000, 1_234_000));
    }
}

//! Reading per-CPU histogram maps interval by interval.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aya::{
    Ebpf, Pod,
    maps::{Array, MapData, PerCpuArray, PerCpuHashMap},
};

use crate::hist::{Hist, MAX_SLOTS};

/// Name of the interval-generation map in every object (see `bpf.rs`).
const GENERATION_MAP: &str = "HIST_GENERATION";

/// Turns a per-CPU hash map of cumulative [`Hist`]s into per-interval
/// histograms.
///
/// Userspace never writes histogram values (a write would race the
/// kernel's adds and lose samples): it keeps the previous totals and
/// subtracts. Keys with no new sample in an interval are deleted from the
/// map so that it cannot fill up with idle keys (pids that exited, ...).
pub struct HistDrain<K: Pod> {
    map: PerCpuHashMap<MapData, K, Hist>,
    generation: Array<MapData, u64>,
    current: u64,
    previous: BTreeMap<K, Hist>,
}

impl<K: Pod + Ord> HistDrain<K> {
    /// Takes ownership of the object's histogram map `name`.
    pub fn new(ebpf: &mut Ebpf, name: &str) -> Result<Self> {
        let map = ebpf
            .take_map(name)
            .with_context(|| format!("map {name} missing from the object"))?;
        let generation = ebpf
            .take_map(GENERATION_MAP)
            .with_context(|| format!("map {GENERATION_MAP} missing from the object"))?;
        Ok(Self {
            map: PerCpuHashMap::try_from(map)?,
            generation: Array::try_from(generation)?,
            current: 0,
            previous: BTreeMap::new(),
        })
    }

    /// The histograms that received samples since the last call, in key
    /// order, with `max` being this interval's maximum.
    pub fn drain(&mut self) -> Result<Vec<(K, Hist)>> {
        let keys: Vec<K> = self.map.keys().collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for key in keys {
            let Ok(per_cpu) = self.map.get(&key, 0) else {
                continue; // deleted meanwhile
            };
            let mut total = Hist::ZERO;
            for cpu in per_cpu.iter() {
                add(&mut total, cpu);
                if cpu.generation == self.current {
                    total.max = total.max.max(cpu.max);
                }
            }
            let before = self.previous.get(&key).copied().unwrap_or(Hist::ZERO);
            if total.count == before.count {
                // Idle for a whole interval: forget it (a sample landing
                // between the read above and this delete is the only loss).
                let _ = self.map.remove(&key);
                self.previous.remove(&key);
                continue;
            }
            let mut delta = total;
            subtract(&mut delta, &before);
            delta.max = total.max;
            self.previous.insert(key, total);
            out.push((key, delta));
        }
        self.current += 1;
        self.generation.set(0, self.current, 0)?;
        Ok(out)
    }
}

fn add(into: &mut Hist, from: &Hist) {
    for i in 0..MAX_SLOTS {
        into.slots[i] += from.slots[i];
    }
    into.count += from.count;
    into.sum += from.sum;
}

fn subtract(into: &mut Hist, from: &Hist) {
    for i in 0..MAX_SLOTS {
        into.slots[i] = into.slots[i].wrapping_sub(from.slots[i]);
    }
    into.count = into.count.wrapping_sub(from.count);
    into.sum = into.sum.wrapping_sub(from.sum);
}

/// Sum over CPUs of entry `index` of the per-CPU `u64` array `name`
/// (counters of dropped samples and the like).
pub fn percpu_counter(ebpf: &Ebpf, name: &str, index: u32) -> Result<u64> {
    let map = ebpf
        .map(name)
        .with_context(|| format!("map {name} missing from the object"))?;
    let array = PerCpuArray::<_, u64>::try_from(map)?;
    Ok(array.get(&index, 0)?.iter().sum())
}

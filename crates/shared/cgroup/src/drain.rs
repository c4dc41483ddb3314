//! A split's values by cgroup id, read from the kernel side's two maps as
//! one: the per-CPU slots of its fast path and the hash map behind them
//! ([`CgroupSlot`]).

use std::collections::BTreeMap;

use anyhow::Result;
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
};
use toolkit_core::{CGROUP_SLOTS_MAP, CgroupSlot};
use toolkit_drain::{Counters, HistDrain, Tick, take_map};

/// Per-interval values by cgroup id from the object's `CGROUP_SLOTS` and
/// the hash map `overflow`. Slots are never freed by the kernel side and
/// never written here, so their totals only grow; the hash map's idle keys
/// are deleted as [`HistDrain`] does.
pub struct CgroupDrain<V: Counters>
where
    CgroupSlot<V>: aya::Pod,
{
    slots: PerCpuArray<MapData, CgroupSlot<V>>,
    /// Each cgroup's slot totals (all CPUs) at the last drain.
    previous: BTreeMap<u64, V>,
    overflow: HistDrain<u64, V>,
}

impl<V: Counters> CgroupDrain<V>
where
    CgroupSlot<V>: aya::Pod,
{
    /// Takes the object's slots and its hash map `overflow`.
    pub fn new(ebpf: &mut Ebpf, overflow: &str) -> Result<Self> {
        Self::with_slots(ebpf, CGROUP_SLOTS_MAP, overflow)
    }

    /// The same for any keys kept in slots the same way (`toolkit_kernel`'s
    /// `slot_entry`): the object's slot array `slots` and hash map
    /// `overflow` (fsdist's histograms by file system and operation).
    pub fn with_slots(ebpf: &mut Ebpf, slots: &str, overflow: &str) -> Result<Self> {
        Ok(Self {
            slots: PerCpuArray::try_from(take_map(ebpf, slots)?)?,
            previous: BTreeMap::new(),
            overflow: HistDrain::new(ebpf, overflow)?,
        })
    }

    /// The values that changed since the last call, by cgroup id in order.
    pub fn drain(&mut self, tick: &Tick) -> Result<Vec<(u64, V)>> {
        // A cgroup may hold a slot on several CPUs (the same index on each).
        let mut totals: BTreeMap<u64, V> = BTreeMap::new();
        for index in 0..self.slots.len() {
            for slot in self.slots.get(&index, 0)?.iter() {
                if slot.owner != 0 {
                    totals
                        .entry(slot.owner - 1)
                        .or_insert(V::ZERO)
                        .accumulate(&slot.value, tick.generation());
                }
            }
        }
        let mut out = BTreeMap::new();
        for (id, total) in &totals {
            let delta = match self.previous.get(id) {
                Some(before) => total.since(before),
                None => *total,
            };
            if delta.events() != 0 {
                out.insert(*id, delta);
            }
        }
        self.previous = totals;
        for (id, value) in self.overflow.drain(tick)? {
            out.entry(id)
                .and_modify(|v: &mut V| v.merge(&value))
                .or_insert(value);
        }
        Ok(out.into_iter().collect())
    }
}

impl<V: Counters> toolkit_drain::Drain<u64, V> for CgroupDrain<V>
where
    CgroupSlot<V>: aya::Pod,
{
    fn drain(&mut self, tick: &Tick) -> Result<Vec<(u64, V)>> {
        CgroupDrain::drain(self, tick)
    }
}

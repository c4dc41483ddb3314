//! The counts' places on the kernel side, drained per interval: with
//! `-c`, a flow's slot in the per-CPU array `FLOW_SLOTS`, and the per-CPU
//! hash `FLOWS` for flows whose slot another flow holds; with `-G`, a
//! socket's slot in `SOCKET_SLOTS`, and the cgroups' own entries for the
//! rest.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
};
use tcpretrans_ebpf::{Flow, FlowSlot, SocketSlot, maps};
use toolkit_cgroup::CgroupDrain;
use toolkit_drain::{Drain, HistDrain, Tick, take_map};

/// Adds `counts` to `key`'s in `totals`.
fn add<K: Ord>(totals: &mut BTreeMap<K, [u64; 2]>, key: K, counts: [u64; 2]) {
    let total = totals.entry(key).or_default();
    total[0] += counts[0];
    total[1] += counts[1];
}

/// A per-CPU array of slots that one key holds for the whole run once it
/// has counted a retransmit, read as each held slot's counts since the
/// last read.
struct HeldSlots<S: aya::Pod, K> {
    slots: PerCpuArray<MapData, S>,
    /// A slot's key (whose counts these are, once it has one) and its
    /// `[retransmits, segments]`.
    read: fn(&S) -> (K, [u64; 2]),
    /// Each held slot's counts at the last drain, by (index, CPU).
    previous: HashMap<(u32, usize), [u64; 2]>,
}

impl<S: aya::Pod, K: Ord> HeldSlots<S, K> {
    fn new(ebpf: &mut Ebpf, name: &str, read: fn(&S) -> (K, [u64; 2])) -> Result<Self> {
        Ok(Self {
            slots: PerCpuArray::try_from(take_map(ebpf, name)?)?,
            read,
            previous: HashMap::new(),
        })
    }

    /// Adds each slot's counts since the last call to its key's in `totals`.
    fn drain_into(&mut self, totals: &mut BTreeMap<K, [u64; 2]>) -> Result<()> {
        for index in 0..self.slots.len() {
            for (cpu, slot) in self.slots.get(&index, 0)?.iter().enumerate() {
                let (key, counts) = (self.read)(slot);
                // The kernel writes the key before it counts its first
                // retransmit: a slot with none may be half written.
                if counts[0] == 0 {
                    continue;
                }
                let before = self
                    .previous
                    .insert((index, cpu), counts)
                    .unwrap_or_default();
                if counts[0] != before[0] {
                    add(
                        totals,
                        key,
                        [
                            counts[0].wrapping_sub(before[0]),
                            counts[1].wrapping_sub(before[1]),
                        ],
                    );
                }
            }
        }
        Ok(())
    }
}

/// Counts kept in held slots first, the rest in `rest`, read per interval
/// as one.
pub struct SlotCounts<S: aya::Pod, K, D> {
    slots: HeldSlots<S, K>,
    rest: D,
}

/// `-c`: retransmits per flow, in `FLOW_SLOTS` and `FLOWS`.
pub type FlowCounts = SlotCounts<FlowSlot, Flow, HistDrain<Flow, [u64; 2]>>;

/// `-G`: retransmits per cgroup of the socket, in `SOCKET_SLOTS` and the
/// cgroups' own entries.
pub type CgroupCounts = SlotCounts<SocketSlot, u64, CgroupDrain<[u64; 2]>>;

impl FlowCounts {
    pub fn new(ebpf: &mut Ebpf) -> Result<Self> {
        let rest = HistDrain::new(ebpf, maps::FLOWS)?;
        let slots = HeldSlots::new(ebpf, maps::FLOW_SLOTS, |s: &FlowSlot| (s.flow, s.counts))?;
        Ok(SlotCounts { slots, rest })
    }
}

impl CgroupCounts {
    pub fn new(ebpf: &mut Ebpf) -> Result<Self> {
        let rest = CgroupDrain::new(ebpf, maps::CGROUPS)?;
        // A socket's counts are its cgroup's.
        let slots = HeldSlots::new(ebpf, maps::SOCKET_SLOTS, |s: &SocketSlot| {
            (s.cgroup, s.counts)
        })?;
        Ok(SlotCounts { slots, rest })
    }
}

impl<S: aya::Pod, K: Ord, D: Drain<K, [u64; 2]>> SlotCounts<S, K, D> {
    /// `[retransmits, segments]` of each key with retransmits since the
    /// last call, in key order.
    pub fn drain(&mut self, tick: &Tick) -> Result<Vec<(K, [u64; 2])>> {
        let mut totals = BTreeMap::new();
        for (key, counts) in self.rest.drain(tick)? {
            add(&mut totals, key, counts);
        }
        self.slots.drain_into(&mut totals)?;
        Ok(totals.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use tcpretrans_ebpf::{AF_INET6, flow_slot, socket_slot};

    use super::*;

    #[test]
    fn flows_spread_over_their_slots() {
        let flow = |lport: u16, last: u8| {
            let mut flow = Flow {
                family: AF_INET6,
                lport,
                dport: 5201,
                ..Flow::ZERO
            };
            flow.saddr[15] = last;
            flow.daddr[15] = 2;
            flow
        };
        assert_eq!(flow_slot(&flow(1, 1), 1), 0);
        assert_eq!(flow_slot(&flow(1, 1), 0), 0);
        // A client's connections differ in their local port, servers' in
        // the address: both spread.
        let ports: std::collections::BTreeSet<u32> = (40000..40064)
            .map(|port| flow_slot(&flow(port, 1), maps::FLOW_SLOTS_LEN))
            .collect();
        let hosts: std::collections::BTreeSet<u32> = (1..=64)
            .map(|host| flow_slot(&flow(5201, host), maps::FLOW_SLOTS_LEN))
            .collect();
        assert!(
            ports.len() >= 60 && hosts.len() >= 60,
            "{ports:?} {hosts:?}"
        );
        assert!(
            ports
                .iter()
                .chain(&hosts)
                .all(|&s| s < maps::FLOW_SLOTS_LEN)
        );
    }

    #[test]
    fn sockets_spread_over_their_slots() {
        assert_eq!(socket_slot(12345, 0), 0);
        assert_eq!(socket_slot(12345, 1), 0);
        // Cookies come in sequence.
        let slots: std::collections::BTreeSet<u32> = (4096..4160)
            .map(|cookie| socket_slot(cookie, maps::FLOW_SLOTS_LEN))
            .collect();
        assert!(slots.len() >= 60, "{slots:?}");
        assert!(slots.iter().all(|&s| s < maps::FLOW_SLOTS_LEN));
    }
}

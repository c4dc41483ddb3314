//! `-c`: retransmits per flow, per interval, from the kernel side's two
//! places for them: a flow's slot in the per-CPU array `FLOW_SLOTS`, and
//! the per-CPU hash `FLOWS` for flows whose slot another flow holds.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
};
use tcpretrans_ebpf::{Flow, FlowSlot, maps};
use toolkit_drain::{HistDrain, Tick, take_map};

pub struct FlowCounts {
    slots: PerCpuArray<MapData, FlowSlot>,
    /// Each held slot's counts at the last drain, by (index, CPU): a slot
    /// keeps its flow for the whole run.
    previous: HashMap<(u32, usize), [u64; 2]>,
    hashed: HistDrain<Flow, [u64; 2]>,
}

impl FlowCounts {
    pub fn new(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            slots: PerCpuArray::try_from(take_map(ebpf, maps::FLOW_SLOTS)?)?,
            previous: HashMap::new(),
            hashed: HistDrain::new(ebpf, maps::FLOWS)?,
        })
    }

    /// `[retransmits, segments]` of each flow with retransmits since the
    /// last call, in flow order.
    pub fn drain(&mut self, tick: &Tick) -> Result<Vec<(Flow, [u64; 2])>> {
        let mut flows: BTreeMap<Flow, [u64; 2]> = BTreeMap::new();
        let mut add = |flow: Flow, counts: [u64; 2]| {
            let total = flows.entry(flow).or_default();
            total[0] += counts[0];
            total[1] += counts[1];
        };
        for index in 0..self.slots.len() {
            for (cpu, slot) in self.slots.get(&index, 0)?.iter().enumerate() {
                // The kernel writes the flow before it counts its first
                // retransmit: a slot with none may be half written.
                if slot.counts[0] == 0 {
                    continue;
                }
                let before = self
                    .previous
                    .insert((index, cpu), slot.counts)
                    .unwrap_or_default();
                if slot.counts[0] != before[0] {
                    add(
                        slot.flow,
                        [
                            slot.counts[0].wrapping_sub(before[0]),
                            slot.counts[1].wrapping_sub(before[1]),
                        ],
                    );
                }
            }
        }
        for (flow, counts) in self.hashed.drain(tick)? {
            add(flow, counts);
        }
        Ok(flows.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use tcpretrans_ebpf::{AF_INET6, flow_slot};

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
}

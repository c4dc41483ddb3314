//! Packet-drop counting, for `netdrop` and any tool that reports drops
//! (`usecheck`'s network saturation and errors): this kernel's drop
//! reasons by name ([`config::Reasons`]), then the program on
//! `skb:kfree_skb` loaded for [`Options`] and drained interval by interval
//! ([`Tracer::interval`]).

pub mod config;

use std::collections::BTreeMap;

use anyhow::Result;
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
};
pub use netdrop_ebpf::DropKey;
use netdrop_ebpf::{CLASSES, REASON_SLOTS_LEN, ReasonSlot, dropped, maps};
use toolkit_cgroup::{CgroupNames, Split};
use toolkit_drain::{ArrayDrain, Counters, HistDrain, Losses, take_map};
use toolkit_load::{Hook, KernelBtf};
use toolkit_session::{Attach, Session, Tool, switch_on};

pub use config::Options;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netdrop"));

/// The tracepoint traced.
pub const TRACEPOINT: &str = "kfree_skb";

/// The device name in `key` (empty without a device), escaped: whoever
/// owns a network namespace names its interfaces.
pub fn interface_name(key: &DropKey) -> String {
    toolkit_core::escape::c_name(&key.ifname)
}

/// An interface as an operator names it: `eth0` in `own_netns` (see
/// [`own_netns`]), `eth0@4026532281` in another network namespace (its
/// inode number, as `lsns -t net` and `/proc/PID/ns/net` show it; containers'
/// interfaces share names), `-` for no interface.
pub fn interface_label(name: &str, netns: u32, own_netns: u32) -> String {
    if name.is_empty() {
        "-".to_string()
    } else if netns == 0 || netns == own_netns {
        name.to_string()
    } else {
        format!("{name}@{netns}")
    }
}

/// Inode number of this process's network namespace (0 if unreadable).
pub fn own_netns() -> u32 {
    std::fs::read_link("/proc/self/ns/net")
        .ok()
        .and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
        })
        .unwrap_or(0)
}

/// netdrop as a [`Tool`]: its object on `skb:kfree_skb`.
pub struct Netdrop;

impl Tool for Netdrop {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = netdrop_ebpf::Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Self::Config> {
        config::build(options, btf)
    }

    fn attach(_: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        // tp_btf first: the skb's fields are plain loads there.
        Ok(vec![Attach::new([TRACEPOINT], Hook::BtfTracePoint)])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        // Per-reason slots up to the largest reason counted (the others go
        // to the hash), none with -I or -G.
        let split = options.by_interface || options.per_cgroup.is_some();
        let slots = match options.counted.iter().max() {
            Some(&max) if !split => max + 1,
            _ => 1,
        };
        let names = match options.per_cgroup {
            Some(_) => toolkit_core::MAX_CGROUPS,
            None => 1,
        };
        let reason_slots = match options.per_cgroup {
            Some(_) if !options.by_interface => REASON_SLOTS_LEN,
            _ => 1,
        };
        vec![
            (maps::BY_REASON, slots),
            (maps::REASON_SLOTS, reason_slots),
            (maps::REASON_OWNERS, reason_slots),
            (toolkit_core::CGROUP_NAMES_MAP, names),
        ]
    }

    fn prepare(options: &Options, ebpf: &mut Ebpf) -> Result<()> {
        switch_on(ebpf, maps::COUNTED, options.counted.iter().copied(), 1u8)
    }
}

/// The attached program and its map.
pub struct Tracer {
    session: Session,
    drops: HistDrain<DropKey, u64>,
    /// Without `by_interface`: the common protocols' drops, by reason.
    by_reason: Option<ArrayDrain<[u64; CLASSES.len()]>>,
    /// With `per_cgroup` and without `by_interface`: the common protocols'
    /// drops, by cgroup and reason.
    reason_slots: Option<ReasonSlots>,
    /// With `per_cgroup`: the sockets' cgroups, named.
    split: Option<Split>,
}

impl Tracer {
    /// Loads the program for `options` and attaches it; `tool` names the
    /// losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Netdrop>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let drops = HistDrain::new(ebpf, maps::DROPS)?;
        let by_reason = (!options.by_interface && options.per_cgroup.is_none())
            .then(|| ArrayDrain::new(ebpf, maps::BY_REASON))
            .transpose()?
            .map(|drain| drain.only(options.counted.iter().copied()));
        let split = match options.per_cgroup {
            Some(shown) => {
                let names = CgroupNames::unified()
                    .zero_named(NO_SOCKET)
                    .with_kernel_names(ebpf)?;
                Some(Split::new(names, shown))
            }
            None => None,
        };
        let reason_slots = (options.per_cgroup.is_some() && !options.by_interface)
            .then(|| ReasonSlots::new(ebpf))
            .transpose()?;
        Ok(Self {
            session,
            drops,
            by_reason,
            reason_slots,
            split,
        })
    }

    /// The drops since the last call (or since attaching), by key, and
    /// what the kernel side could not count.
    pub fn interval(&mut self) -> Result<(Vec<(DropKey, u64)>, Losses)> {
        let Self {
            session,
            drops,
            by_reason,
            reason_slots,
            ..
        } = self;
        session.interval(|tick| {
            // The same key may come from the hash and from slots (another
            // CPU's slot was free): summed.
            let mut all: BTreeMap<DropKey, u64> = BTreeMap::new();
            let mut add = |key: DropKey, count: u64| *all.entry(key).or_default() += count;
            for (key, count) in drops.drain(tick)? {
                add(key, count);
            }
            if let Some(by_reason) = by_reason {
                for (reason, counts) in by_reason.drain(tick)? {
                    add_classes(&mut add, reason, 0, &counts);
                }
            }
            if let Some(slots) = reason_slots {
                slots.drain(&mut add)?;
            }
            Ok(all.into_iter().collect())
        })
    }
}

/// Adds a reason's counts by [`CLASSES`] protocol, for cgroup `cgroup`.
fn add_classes(
    add: &mut impl FnMut(DropKey, u64),
    reason: u32,
    cgroup: u64,
    counts: &[u64; CLASSES.len()],
) {
    for (&(l3, l4), &count) in CLASSES.iter().zip(counts) {
        if count > 0 {
            let key = DropKey {
                reason,
                l3,
                l4,
                cgroup,
                ..DropKey::ZERO
            };
            add(key, count);
        }
    }
}

/// `-G`'s per-CPU slots of drops by cgroup and reason ([`ReasonSlot`]),
/// read as per-interval counts. The kernel side never frees a slot and
/// userspace never writes one, so their totals only grow.
struct ReasonSlots {
    slots: PerCpuArray<MapData, ReasonSlot>,
    /// Totals (all CPUs) by cgroup id and reason at the last drain.
    previous: BTreeMap<(u64, u32), [u64; CLASSES.len()]>,
}

impl ReasonSlots {
    fn new(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            slots: PerCpuArray::try_from(take_map(ebpf, maps::REASON_SLOTS)?)?,
            previous: BTreeMap::new(),
        })
    }

    /// Adds the counts since the last call.
    fn drain(&mut self, add: &mut impl FnMut(DropKey, u64)) -> Result<()> {
        let mut totals: BTreeMap<(u64, u32), [u64; CLASSES.len()]> = BTreeMap::new();
        for index in 0..self.slots.len() {
            for slot in self.slots.get(&index, 0)?.iter() {
                if slot.owner != 0 {
                    let total = totals
                        .entry((slot.owner - 1, slot.reason as u32))
                        .or_default();
                    total
                        .iter_mut()
                        .zip(&slot.counts)
                        .for_each(|(t, c)| *t += c);
                }
            }
        }
        for (&(cgroup, reason), total) in &totals {
            let before = self
                .previous
                .get(&(cgroup, reason))
                .unwrap_or(&Counters::ZERO);
            add_classes(add, reason, cgroup, &total.since(before));
        }
        self.previous = totals;
        Ok(())
    }
}

/// What `-G` calls the drops of packets without a full socket.
pub const NO_SOCKET: &str = "(no socket)";

impl Tracer {
    /// With `per_cgroup`: the split that names the sockets' cgroups and
    /// chooses which to show.
    pub fn split(&mut self) -> Option<&mut Split> {
        self.split.as_mut()
    }
}

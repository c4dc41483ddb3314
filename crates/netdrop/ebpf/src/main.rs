//! netdrop's eBPF program: at `skb:kfree_skb` (the kernel freeing a packet
//! it dropped, with the reason), count the drop under its reason, protocol
//! and, with `-I`, interface. Normal frees go to `skb:consume_skb`, which
//! is not traced.
#![no_std]
#![no_main]

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use netdrop_ebpf::{
    CLASSES, Config, DropKey, ETH_P_IP, ETH_P_IPV6, MAX_REASONS, ReasonSlot, dropped,
    maps::MAX_KEYS, reason_slot,
};
use toolkit_core::CgroupLeaf;
use toolkit_kernel::{
    TracepointContext, bump, claim_slot, ctx_arg, global, map_entry, read_kernel,
    remember_cgroup_at, socket_cgroup,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

#[map]
static DROPS: PerCpuHashMap<DropKey, u64> = PerCpuHashMap::with_max_entries(MAX_KEYS, 0);

#[map]
static COUNTED: Array<u8> = Array::with_max_entries(MAX_REASONS, 0);

/// Drops by reason (the index) and common protocol ([`CLASSES`]), without
/// `-I`: one per-CPU array slot, no hash lookup per drop.
#[map]
static BY_REASON: PerCpuArray<[u64; CLASSES.len()]> = PerCpuArray::with_max_entries(MAX_REASONS, 0);

/// `-G` without `-I`: drops by cgroup and reason, by protocol class, per
/// CPU (sized 1 otherwise; see [`ReasonSlot`]).
#[map]
static REASON_SLOTS: PerCpuArray<ReasonSlot> = PerCpuArray::with_max_entries(1, 0);

/// Each slot's pair, the same on every CPU ([`owner_pair`]; see
/// `toolkit_kernel::Slots`).
#[map]
static REASON_OWNERS: Array<u64> = Array::with_max_entries(1, 0);

/// `-G`: each socket cgroup's name, for one removed before userspace
/// reads it.
#[map]
static CGROUP_NAMES: HashMap<u64, CgroupLeaf> = HashMap::with_max_entries(1, 0);

/// Initial value of a new key (a static: not built on the stack).
static NONE_YET: u64 = 0;

/// `skb->network_header` before a network header is set.
const NO_HEADER: u16 = 0xffff;

/// The IP protocol of `skb` (IPv4's `protocol`, IPv6's `nexthdr`), 0 when
/// it has no network header yet.
#[inline(always)]
fn ip_protocol<C: TracepointContext>(skb: u64, l3: u16) -> u8 {
    let Some(head) = C::arg_field::<u64>(skb, global(&CONFIG.skb_head)) else {
        return 0;
    };
    let Some(network) = C::arg_field::<u16>(skb, global(&CONFIG.skb_network_header)) else {
        return 0;
    };
    if network == NO_HEADER {
        return 0;
    }
    let field = if l3 == ETH_P_IP { 9 } else { 6 };
    read_kernel::<u8>(head, u32::from(network) + field).unwrap_or(0)
}

fn on_kfree_skb<C: TracepointContext>(ctx: &C) -> i32 {
    let reason = ctx_arg(ctx, 2);
    let counted = if reason < u64::from(MAX_REASONS) {
        COUNTED.get(reason as u32).copied() == Some(1)
    } else {
        global(&CONFIG.count_unlisted) != 0
    };
    if !counted {
        return 0;
    }
    let skb = ctx_arg(ctx, 0);
    let mut key = DropKey {
        reason: reason as u32,
        ..DropKey::ZERO
    };
    key.l3 = u16::from_be(C::arg_field::<u16>(skb, global(&CONFIG.skb_protocol)).unwrap_or(0));
    if key.l3 == ETH_P_IP || key.l3 == ETH_P_IPV6 {
        key.l4 = ip_protocol::<C>(skb, key.l3);
    }
    if global(&CONFIG.by_interface) == 0
        && global(&CONFIG.by_cgroup) == 0
        && let Some(class) = CLASSES.iter().position(|&c| c == (key.l3, key.l4))
        && let Some(counts) = BY_REASON.get_ptr_mut(key.reason)
    {
        // SAFETY: a per-CPU array slot, exclusive to this CPU while we run.
        if let Some(count) = unsafe { &mut *counts }.get_mut(class) {
            *count += 1;
        }
        return 0;
    }
    if global(&CONFIG.by_interface) != 0
        && let Some(dev) = C::arg_field::<u64>(skb, global(&CONFIG.skb_dev))
        && dev != 0
    {
        key.ifname = read_kernel::<[u8; 16]>(dev, global(&CONFIG.netdev_name)).unwrap_or_default();
        key.netns = read_kernel::<u64>(dev, global(&CONFIG.netdev_net))
            .and_then(|net| read_kernel::<u32>(net, global(&CONFIG.net_ns_inum)))
            .unwrap_or(0);
    }
    let mut cgroup = 0;
    if global(&CONFIG.by_cgroup) != 0 {
        let sk = C::arg_field::<u64>(skb, global(&CONFIG.skb_sk)).unwrap_or(0);
        (cgroup, key.cgroup) =
            socket_cgroup::<C>(sk, &CONFIG.sk_state, &CONFIG.sk_cgroup, &CONFIG.cgroup);
    }
    if global(&CONFIG.by_cgroup) != 0
        && global(&CONFIG.by_interface) == 0
        && let Some(class) = CLASSES.iter().position(|&c| c == (key.l3, key.l4))
        && let Some((counts, new)) = reason_counts(key.cgroup, key.reason)
    {
        if new && cgroup != 0 {
            remember_cgroup_at(&CGROUP_NAMES, key.cgroup, cgroup, &CONFIG.cgroup);
        }
        if let Some(count) = counts.get_mut(class) {
            *count += 1;
        }
        return 0;
    }
    match map_entry(&DROPS, &key, &NONE_YET) {
        Ok(count) => {
            if *count == 0 && cgroup != 0 {
                remember_cgroup_at(&CGROUP_NAMES, key.cgroup, cgroup, &CONFIG.cgroup);
            }
            *count += 1;
        }
        Err(no) => bump(&DROPPED, no.reason(dropped::KEYS_FULL, dropped::NO_MEMORY)),
    }
    0
}

/// With `-G`: the counts of `reason` for cgroup `id` on this CPU, and
/// whether the slot was taken now; `None` when the slot is another pair's.
#[inline(always)]
fn reason_counts(id: u64, reason: u32) -> Option<(&'static mut [u64; CLASSES.len()], bool)> {
    let index = reason_slot(id, reason);
    let slot = REASON_SLOTS.get_ptr_mut(index)?;
    // SAFETY: a per-CPU array slot, exclusive to this CPU while we run.
    let slot = unsafe { &mut *slot };
    let owner = id.wrapping_add(1);
    if slot.owner == owner && slot.reason == u64::from(reason) {
        return Some((&mut slot.counts, false));
    }
    if slot.owner != 0 {
        return None;
    }
    // First use of the slot on this CPU: its pair is the first of any CPU,
    // kept in this CPU's copy too.
    let pair = owner_pair(owner, reason)?;
    let held = claim_slot(&REASON_OWNERS, index, pair).map_or_else(|held| held, |()| pair);
    slot.owner = held & PAIR_OWNER;
    slot.reason = held >> PAIR_REASON_SHIFT;
    (held == pair).then_some((&mut slot.counts, true))
}

/// Where a pair's reason is in its `REASON_OWNERS` word, above its owner.
const PAIR_REASON_SHIFT: u32 = 48;
const PAIR_OWNER: u64 = (1 << PAIR_REASON_SHIFT) - 1;

/// A cgroup's `owner` (its id plus one) and a drop `reason` in one word,
/// `None` if either is too wide: kernfs ids are a 32-bit inode number and
/// a generation bumped when those wrap, reasons below 2^16 but for other
/// subsystems' (which then count in `DROPS`).
#[inline(always)]
fn owner_pair(owner: u64, reason: u32) -> Option<u64> {
    (owner <= PAIR_OWNER && reason >> (64 - PAIR_REASON_SHIFT) == 0)
        .then(|| u64::from(reason) << PAIR_REASON_SHIFT | owner)
}

toolkit_kernel::tracepoint_programs!("kfree_skb", kfree_skb_btf, kfree_skb_raw, on_kfree_skb);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

#![no_std]
//! The contract between netdrop's two halves: its configuration, the key
//! both read, map names and drop reasons. The program is in the `netdrop`
//! binary target of this crate; userspace is `crates/netdrop`.

/// Slots of the per-reason switch (`COUNTED`): `enum skb_drop_reason`
/// values below it can be selected (6.18 has about 130). Larger values
/// (subsystem-encoded reasons, such as mac80211's) are counted as they are
/// when `count_unlisted` is set.
pub const MAX_REASONS: u32 = 1024;

/// `skb->protocol` values (host order).
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;

/// The (l3, l4) pairs most drops have, counted per reason in an array
/// without `-I`; the index in a reason's counts is the position here. l4
/// 0: no network header yet.
pub const CLASSES: [(u16, u8); 8] = [
    (ETH_P_IP, 6),
    (ETH_P_IP, 17),
    (ETH_P_IP, 1),
    (ETH_P_IP, 0),
    (ETH_P_IPV6, 6),
    (ETH_P_IPV6, 17),
    (ETH_P_IPV6, 58),
    (ETH_P_IPV6, 0),
];

/// `-G` without `-I`: one cgroup's drops of one reason, by [`CLASSES`]
/// protocol, in a per-CPU slot (`REASON_SLOTS`, [`REASON_SLOTS_LEN`] of
/// them) picked by both ([`reason_slot`]): an array lookup per drop where
/// the [`DropKey`] hash lookup was. A slot is taken by the first pair that
/// needs it, on any CPU (`REASON_OWNERS`), and kept for the run; a pair
/// whose slot is another's, or a protocol outside the classes, goes to
/// `DROPS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReasonSlot {
    /// The cgroup's id plus one; 0 while the slot is free.
    pub owner: u64,
    pub reason: u64,
    pub counts: [u64; CLASSES.len()],
}

toolkit_core::aya_pod!(ReasonSlot);

/// Slots of `REASON_SLOTS` per CPU, with `-G`: a power of two.
pub const REASON_SLOTS_LEN: u32 = 64;

/// The slot of drops of `reason` for cgroup `id` (Fibonacci hashing of
/// both: one cgroup's reasons spread as the cgroups do).
#[inline(always)]
pub fn reason_slot(id: u64, reason: u32) -> u32 {
    let mixed = id ^ (u64::from(reason) << 40);
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as u32 & (REASON_SLOTS_LEN - 1)
}

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// `-I`: key drops by the interface (name and network namespace) too.
    pub by_interface: u32,
    /// Count reasons at or above [`MAX_REASONS`] (no `-r` given).
    pub count_unlisted: u32,
    /// Field offsets from the running kernel's BTF.
    pub skb_dev: u32,
    pub skb_protocol: u32,
    pub skb_head: u32,
    pub skb_network_header: u32,
    pub netdev_name: u32,
    /// `net_device.nd_net.net`: the device's network namespace.
    pub netdev_net: u32,
    /// `net.ns.inum`: that namespace's inode number.
    pub net_ns_inum: u32,
    /// `-G`: count by the cgroup v2 of the packet's socket too.
    pub by_cgroup: u32,
    /// With `-G`: `sk_buff.sk`, the socket's `__sk_common.skc_state` (a
    /// request or time-wait socket has no cgroup), and `sock.sk_cgrp_data`
    /// + `sock_cgroup_data.cgroup`.
    pub skb_sk: u32,
    pub sk_state: u32,
    pub sk_cgroup: u32,
    pub _reserved: u32,
    /// With `-G`: from a cgroup to its id and name.
    pub cgroup: toolkit_core::CgroupOffsets,
}

toolkit_core::aya_pod!(Config, DEFAULT {});

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// Drops per [`DropKey`](super::DropKey), per CPU: with `-I`, or a
        /// protocol not in [`CLASSES`](super::CLASSES).
        DROPS,
        /// Drops by reason (the index), per [`CLASSES`](super::CLASSES)
        /// protocol, per CPU, without `-I`.
        BY_REASON,
        /// One byte per reason below [`MAX_REASONS`](super::MAX_REASONS):
        /// 1 to count it. Set by userspace before attach.
        COUNTED,
        /// With `-G` and without `-I`: [`ReasonSlot`](super::ReasonSlot)s,
        /// per CPU.
        REASON_SLOTS,
        /// Each `REASON_SLOTS` index's cgroup and reason, for every CPU.
        REASON_OWNERS,
    );
    /// Distinct (reason, protocol, interface) keys a run can hold.
    pub const MAX_KEYS: u32 = 4096;
}

/// What one drop is counted under.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DropKey {
    /// The `enum skb_drop_reason` value.
    pub reason: u32,
    /// `skb->protocol`, host order (`ETH_P_IP`, `ETH_P_IPV6`, ...).
    pub l3: u16,
    /// The IP header's protocol (`IPPROTO_TCP`, ...), 0 when not IP or not
    /// known (no network header yet).
    pub l4: u8,
    pub _pad: u8,
    /// The device's name with `-I` (empty without a device).
    pub ifname: [u8; 16],
    /// Inode number of the device's network namespace with `-I` (0 without
    /// a device): containers' interfaces share names such as `eth0`.
    pub netns: u32,
    pub _pad2: u32,
    /// With `-G`: the cgroup v2 id of the packet's socket (0: no socket, or
    /// a request or time-wait socket, which have none).
    pub cgroup: u64,
}

toolkit_core::aya_pod!(DropKey);

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        KEYS_FULL => "drop-count map full",
        NO_MEMORY => "no kernel memory for a new drop-count entry",
    );
}

#![no_std]
//! The contract between tcpretrans's two halves: its configuration, the
//! event and key both read, map names and drop reasons. The program is in
//! the `tcpretrans` binary target of this crate; userspace is
//! `crates/tcpretrans`.

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// `-c`: count per flow (`FLOWS`) instead of an event per retransmit.
    pub count: u32,
    /// `-4` / `-6`: only this address family (`AF_INET`, `AF_INET6`; 0: both).
    pub family: u32,
    /// 1 when the tracepoint passes the transmit's `err` (6.13 and later
    /// fire it for failed transmits too): only `err == 0` is a retransmit.
    pub has_err_arg: u32,
    /// `sk_buff.cb` + `tcp_skb_cb.tcp_gso_segs`: segments in the skb.
    pub skb_gso_segs: u32,
    /// With `-c`: slots per CPU in `FLOW_SLOTS`, or with `-G` in
    /// `SOCKET_SLOTS` (a power of two; 0: every flow in `FLOWS`, every
    /// retransmit through its cgroup's entry).
    pub flow_slots: u32,
    /// The socket's fields, from the running kernel's BTF.
    pub sock: toolkit_core::SockOffsets,
    /// `-G`: count per cgroup of the socket (`CGROUPS`) instead.
    pub by_cgroup: u32,
    /// With `-G`: `sock.sk_cgrp_data.cgroup`, and from a cgroup to its id
    /// and name.
    pub sk_cgroup: u32,
    pub cgroup: toolkit_core::CgroupOffsets,
}

toolkit_core::aya_pod!(Config, DEFAULT {});

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// The ring buffer of [`RetransEvent`](super::RetransEvent)s.
        EVENTS,
        /// `[retransmits, segments]` per [`Flow`](super::Flow), with `-c`,
        /// in the slot of a per-CPU array the flow picks
        /// ([`flow_slot`](super::flow_slot)).
        FLOW_SLOTS,
        /// The same, by flow, for flows whose slot another flow holds.
        FLOWS,
        /// `[retransmits, segments]` per cgroup id of the socket, with `-G`.
        CGROUPS,
        /// With `-G` on `tp_btf`: `[retransmits, segments]` per socket and
        /// its cgroup id, in the slot of a per-CPU array its cookie picks
        /// ([`socket_slot`](super::socket_slot)).
        SOCKET_SLOTS,
    );
    /// Flows a `-c` run can hold in `FLOWS`.
    pub const MAX_FLOWS: u32 = 10240;
    /// Slots per CPU of `FLOW_SLOTS` by default.
    pub const FLOW_SLOTS_LEN: u32 = 1024;
}

/// A flow's counts in its slot of `FLOW_SLOTS`: a slot belongs to the first
/// flow that retransmits through it on that CPU (`counts[0]` still 0
/// before), for the rest of the run.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FlowSlot {
    pub flow: Flow,
    /// `[retransmits, segments]`.
    pub counts: [u64; 2],
}

toolkit_core::aya_pod!(FlowSlot);

/// The slot of `flow` among `slots` (a power of two; 0 for 0): a
/// multiplicative hash of its ports and addresses.
#[inline(always)]
pub fn flow_slot(flow: &Flow, slots: u32) -> u32 {
    let word = |bytes: &[u8; 16], half: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[half * 8..half * 8 + 8]);
        u64::from_ne_bytes(w)
    };
    let mixed = (u64::from(flow.lport) << 16 | u64::from(flow.dport))
        ^ word(&flow.saddr, 0)
        ^ word(&flow.saddr, 1).rotate_left(16)
        ^ word(&flow.daddr, 0).rotate_left(32)
        ^ word(&flow.daddr, 1).rotate_left(48);
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32 & slots.saturating_sub(1)
}

/// With `-G`: a socket's counts in its slot of `SOCKET_SLOTS`, with the
/// cgroup it was created in, read once, when it took the slot. A slot
/// belongs to the first socket that retransmits through it on that CPU
/// (`counts[0]` still 0 before), for the rest of the run; a socket keeps
/// its cgroup for its life, and its cookie is never another's.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SocketSlot {
    /// The socket's cookie (`bpf_get_socket_cookie`).
    pub cookie: u64,
    /// The id of the socket's cgroup (0: none, as in `CGROUPS`).
    pub cgroup: u64,
    /// `[retransmits, segments]`.
    pub counts: [u64; 2],
}

toolkit_core::aya_pod!(SocketSlot);

/// The slot of the socket of `cookie` among `slots` (a power of two; 0 for
/// 0): cookies are handed out in sequence, which the multiplication spreads.
#[inline(always)]
pub fn socket_slot(cookie: u64, slots: u32) -> u32 {
    (cookie.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32 & slots.saturating_sub(1)
}

/// A TCP connection's endpoints, as the socket holds them (8-byte aligned,
/// for its slot's word loads and compares).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Flow {
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// Local port, host order.
    pub lport: u16,
    /// Remote port, host order.
    pub dport: u16,
    pub _pad: u16,
    /// Addresses: the first 4 bytes for IPv4.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
}

toolkit_core::aya_pod!(Flow);

/// One retransmit, as the kernel side sends it through `EVENTS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RetransEvent {
    pub flow: Flow,
    /// The process running when the kernel retransmitted (often 0: the
    /// retransmit timer runs in softirq context).
    pub pid: u32,
    /// The socket's state (`TCP_ESTABLISHED` = 1, ...).
    pub state: u8,
    pub _pad: [u8; 1],
    /// Segments in the retransmitted skb (more than 1 with TSO/GSO).
    pub segments: u16,
}

toolkit_core::aya_pod!(RetransEvent);

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        RING_FULL => "ring buffer full",
        FLOWS_FULL => "flow map full",
        NO_MEMORY => "no kernel memory for a new flow entry",
        CGROUPS_FULL => toolkit_core::CGROUPS_FULL,
    );
}

#![no_std]
//! The contract between tcprtt's two halves: its configuration, the key
//! both read, map names and drop reasons. The program is in the `tcprtt`
//! binary target of this crate; userspace is `crates/tcprtt`.

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// 1000 for microsecond log2 slots, 1_000_000 with `-m`.
    pub unit_divisor: u64,
    /// `-a` / `-A`: the address compared (first 4 bytes for IPv4).
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    /// `-p` / `-P`: ports, host order (0: any).
    pub lport: u16,
    pub rport: u16,
    /// `-4` / `-6` (or the family of `-a`/`-A`): `AF_INET`, `AF_INET6`, 0.
    pub family: u16,
    /// [`key`] values: one histogram, or one per local or remote address.
    pub key_by: u16,
    /// 1 when `-a` / `-A` filter.
    pub filter_laddr: u32,
    pub filter_raddr: u32,
    /// `--percentiles` / `--compact`: record log-linear histograms too.
    pub loglinear: u32,
    /// `tcp_sock.srtt_us`: the smoothed RTT, in microseconds times 8.
    pub srtt_us: u32,
    /// The socket's fields, from the running kernel's BTF.
    pub sock: toolkit_core::SockOffsets,
    /// With `-G` ([`key::CGROUP`]): `sock.sk_cgrp_data.cgroup`, and from
    /// a cgroup to its id and name.
    pub sk_cgroup: u32,
    pub _reserved: u32,
    pub cgroup: toolkit_core::CgroupOffsets,
}

toolkit_core::aya_pod!(Config, DEFAULT { unit_divisor: 1000 });

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// How histograms are keyed (`Config::key_by`).
pub mod key {
    /// One histogram (libbpf-tools' "All Addresses").
    pub const ALL: u16 = 0;
    /// `-b`: per local address.
    pub const LOCAL: u16 = 1;
    /// `-B`: per remote address.
    pub const REMOTE: u16 = 2;
    /// `-G`: per cgroup of the socket (the `CGROUPS` maps).
    pub const CGROUP: u16 = 3;
}

/// A histogram's key: an address (zero for all).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AddrKey {
    pub family: u16,
    pub _pad: [u8; 6],
    pub addr: [u8; 16],
}

toolkit_core::aya_pod!(AddrKey);

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// Histograms by address, with `-b`/`-B`.
        HISTS,
        /// The one histogram otherwise.
        TOTAL,
        LLHISTS,
        /// Histograms by the socket's cgroup id, with `-G`.
        CGROUPS,
        CGROUPS_LL,
    );
    /// Addresses a `-b`/`-B` run can hold.
    pub const MAX_KEYS: u32 = 10240;
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        HIST_FULL => "histogram map full",
        LL_NO_MEMORY => "no kernel memory for a new log-linear histogram",
        CGROUPS_FULL => toolkit_core::CGROUPS_FULL,
    );
}

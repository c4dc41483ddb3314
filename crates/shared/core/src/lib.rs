//! The histograms of the toolkit, shared by the kernel and userspace halves
//! of every tool: their memory layout (the kernel writes it, userspace reads
//! it from maps) and the bucketing math. `no_std`, so that the eBPF programs
//! and the unit tests run the very same code.
#![cfg_attr(not(test), no_std)]

/// Name of the interval generation map (an `Array<u64>` of one entry) in
/// every object that records histograms: userspace's interval clock
/// advances it after each interval, the kernel stamps samples with it.
pub const INTERVAL_GENERATION_MAP: &str = "HIST_GENERATION";

/// Name of the per-CPU `u64` array in every object that counts what the
/// kernel side could not record, one index per reason (the reasons are
/// named in each tool's eBPF crate).
pub const DROPPED_MAP: &str = "DROPPED";

/// Defines map-name constants equal to their identifiers, each naming the
/// kernel side's static of the same name: `map_names!(HISTS, COMMS)` is
/// `pub const HISTS: &str = "HISTS"; pub const COMMS: &str = "COMMS";`.
#[macro_export]
macro_rules! map_names {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $( $(#[$doc])* pub const $name: &str = stringify!($name); )*
    };
}

/// Makes a `#[repr(C)]` type that both halves share (a tool's
/// configuration, a map key or value, an event) readable from and
/// writable to maps by aya: implements `aya::Pod` behind the calling
/// crate's `user` feature, and defines `ZERO`. The type must derive
/// `bytemuck::Pod` (and `Zeroable`), whose derive checks at compile time,
/// from the fields themselves, that it has no padding and only plain-data
/// fields: adding a field is one line, with no size to keep in step.
///
/// `aya_pod!(Config, DEFAULT { unit_divisor: 1000 })` also defines
/// `DEFAULT`, all zeros but the fields given: what a tool's object holds
/// in its `CONFIG` before userspace sets it.
#[macro_export]
macro_rules! aya_pod {
    ($ty:ty, DEFAULT { $($field:ident: $value:expr),* $(,)? }) => {
        $crate::aya_pod!($ty);

        impl $ty {
            /// What the object holds before load: all zeros but the
            /// fields `aya_pod!` was given.
            pub const DEFAULT: Self = Self {
                $($field: $value,)*
                ..Self::ZERO
            };
        }
    };
    ($ty:ty) => {
        const _: () = {
            const fn checked_by_bytemuck<T: bytemuck::Pod>() {}
            checked_by_bytemuck::<$ty>();
        };
        // SAFETY: bytemuck::Pod (checked above): `#[repr(C)]`, no padding,
        // every field plain data, so any bytes are a valid value.
        #[cfg(feature = "user")]
        unsafe impl aya::Pod for $ty {}

        impl $ty {
            /// All zeros: an empty histogram, the initial value of every
            /// map entry; a configuration's defaults start from it.
            // SAFETY: bytemuck::Zeroable (derived with Pod): all zeros is
            // a valid value.
            pub const ZERO: Self = unsafe { ::core::mem::zeroed() };
        }
    };
}

/// Defines a tool's drop reasons once: an index constant for each (0, 1,
/// ...: the kernel side bumps that index of `DROPPED`) and `REASONS`, the
/// words userspace says for each index, in the same order.
#[macro_export]
macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $name:ident => $words:expr),* $(,)?) => {
        /// What each index means: said on stderr, in JSON and OpenMetrics.
        pub const REASONS: &[&str] = &[$($words),*];
        $crate::drop_reasons!(@index 0u32, $($(#[$doc])* $name,)*);
    };
    (@index $i:expr, $(#[$doc:meta])* $name:ident, $($rest:tt)*) => {
        $(#[$doc])*
        pub const $name: u32 = $i;
        $crate::drop_reasons!(@index $i + 1, $($rest)*);
    };
    (@index $i:expr,) => {};
}

/// The drop reason of a sample lost because the kernel refused task
/// storage (`toolkit-kernel`'s `StorageRefused`): never a full map, since
/// task storage has no size limit.
pub const STORAGE_REFUSED: &str = "task storage refused (busy on this CPU, or out of memory)";

/// Cgroups a `-G`/`--per-cgroup` map holds (each tool sizes its map with
/// it); a sample of a cgroup past it is a lost sample, counted. A busy
/// node's cgroups with tasks number in the hundreds.
pub const MAX_CGROUPS: u32 = 1024;

/// Slots per CPU of a `-G` split's fast path ([`CgroupSlot`]): cgroup `id`
/// may only take slot `id % CGROUP_SLOTS`. A power of two.
pub const CGROUP_SLOTS: u32 = 64;

/// Name of the per-CPU array of [`CgroupSlot`]s in every object with a
/// `-G` split.
pub const CGROUP_SLOTS_MAP: &str = "CGROUP_SLOTS";

/// Name of the array of each slot index's owner, the same on every CPU,
/// beside [`CGROUP_SLOTS_MAP`] (one entry per slot).
pub const CGROUP_OWNERS_MAP: &str = "CGROUP_OWNERS";

/// One cgroup's value on one CPU, in a per-CPU array indexed by the
/// cgroup's id: the split's fast path, an array lookup rather than a hash
/// lookup per sample. A slot index is taken by the first cgroup that needs
/// it, for every CPU (`CGROUP_OWNERS`, see `toolkit_kernel::Slots`), and
/// kept for the run; a cgroup whose slot is another's goes to the split's
/// hash map (`CGROUPS`). Cgroup ids are kernfs inode numbers,
/// handed out in order, so the cgroups of one period spread over the slots.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CgroupSlot<V> {
    /// The cgroup's id plus one; 0 while the slot is free (id 0 is a key
    /// too: netdrop's packets with no socket).
    pub owner: u64,
    pub value: V,
}

/// Makes `CgroupSlot<$value>` readable from maps by aya, checked at compile
/// time: `$value` is plain data, 8-byte aligned, so the slot has no padding.
macro_rules! cgroup_slot_pod {
    ($($value:ty),*) => {$(
        const _: () = {
            const fn checked_by_bytemuck<T: bytemuck::Pod>() {}
            checked_by_bytemuck::<$value>();
            assert!(core::mem::align_of::<$value>() == 8);
            assert!(core::mem::size_of::<CgroupSlot<$value>>() == 8 + core::mem::size_of::<$value>());
        };
        // SAFETY: `#[repr(C)]` of a u64 and a plain-data value of 8-byte
        // alignment (checked above): no padding, any bytes are valid.
        #[cfg(feature = "user")]
        unsafe impl aya::Pod for CgroupSlot<$value> {}
    )*};
}

cgroup_slot_pod!(hist::Hist, [u64; 2]);

/// The drop reason of a sample whose cgroup did not fit in a per-cgroup
/// map.
pub const CGROUPS_FULL: &str = "per-cgroup map full";

/// Offsets of a socket's common fields (`struct sock_common`, the first
/// member of every `struct sock`, so offsets from the socket itself), from
/// the running kernel's BTF: what the network tools read of a socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SockOffsets {
    pub family: u32,
    /// Local port, host order.
    pub num: u32,
    /// Remote port, network order.
    pub dport: u32,
    pub state: u32,
    /// IPv4 local and remote addresses.
    pub rcv_saddr: u32,
    pub daddr: u32,
    /// IPv6 local and remote addresses.
    pub v6_rcv_saddr: u32,
    pub v6_daddr: u32,
}

aya_pod!(SockOffsets);

/// `-p`: one process, matched by its pid and by its start time, so that a
/// later process reusing the pid is never counted (userspace's
/// `toolkit_load::TracedProcess` says how `born_before` is chosen).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PidFilter {
    /// `CLOCK_MONOTONIC` ns, the clock of `task_struct.start_time`: a task
    /// with the pid whose group leader started at or after it belongs to a
    /// process that reuses the pid.
    pub born_before: u64,
    /// The process's pid (tgid), as the initial PID namespace numbers it;
    /// 0: every process.
    pub pid: u32,
    /// `task_struct.group_leader` and `.start_time`, from the kernel's BTF.
    pub off_group_leader: u32,
    pub off_start_time: u32,
    pub reserved: u32,
}

aya_pod!(PidFilter);

/// `-c CGROUP`: only tasks in a cgroup v2, or below it. The kernel half
/// compares the task's ancestor at `level` with `id`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CgroupMatch {
    /// The cgroup's id (its directory's inode number).
    pub id: u64,
    /// 0: every task.
    pub on: u32,
    /// Its depth below the root cgroup.
    pub level: u32,
}

aya_pod!(CgroupMatch);

/// The way from a task to its default-hierarchy (v2) cgroup, that
/// cgroup's id, and its ancestors' ids (the `-c` filter's check), from the
/// running kernel's BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CgroupOffsets {
    /// `task_struct.cgroups`, `css_set.dfl_cgrp`.
    pub task_cgroups: u32,
    pub css_set_dfl_cgrp: u32,
    /// `cgroup.level`, `cgroup.ancestors`.
    pub cgroup_level: u32,
    pub cgroup_ancestors: u32,
    /// `cgroup.kn`, `kernfs_node.id`: the cgroup's id.
    pub cgroup_kn: u32,
    pub kernfs_node_id: u32,
    /// `kernfs_node.name` and `.parent`: its directory's name, and the
    /// parent's node ([`CgroupLeaf`]).
    pub kernfs_node_name: u32,
    pub kernfs_node_parent: u32,
}

aya_pod!(CgroupOffsets);

/// Names of the maps of every object with a histogram `-G` split: the
/// histograms by cgroup id, and their log-linear twins.
pub const CGROUPS_MAP: &str = "CGROUPS";
pub const CGROUPS_LL_MAP: &str = "CGROUPS_LL";

/// Name of the map, in every object with a `-G` split, in which the
/// kernel side keeps a [`CgroupLeaf`] by cgroup id when it first records
/// for the cgroup: one removed before userspace reads its path (a
/// container that ran for a second) keeps its name.
pub const CGROUP_NAMES_MAP: &str = "CGROUP_NAMES";

/// Bytes of a cgroup's directory name kept: a Kubernetes container's
/// `cri-containerd-<64 hex digits>.scope` is 85.
pub const CGROUP_NAME_BYTES: usize = 120;

/// A cgroup's directory name and its parent's id, as the kernel had them.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CgroupLeaf {
    pub parent: u64,
    /// NUL-terminated (cut at [`CGROUP_NAME_BYTES`] - 1).
    pub name: [u8; CGROUP_NAME_BYTES],
}

aya_pod!(CgroupLeaf);

#[cfg(any(test, feature = "user"))]
extern crate alloc;

/// Userspace only: names made safe to print.
#[cfg(any(test, feature = "user"))]
pub mod escape;
pub mod hist;
pub mod loglinear;

pub use hist::{Hist, MAX_SLOTS, log2_slot};
pub use loglinear::{LL_BINS, LlHist, loglinear_bin};

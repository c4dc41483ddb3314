#![no_std]
//! The contract between oomkill's two halves: its configuration, the event
//! both read, map names and drop reasons. The program is in the `oomkill`
//! binary target of this crate; userspace is `crates/oomkill`.

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// 1 when `mark_victim`'s first argument is the victim's task (Linux
    /// 6.8 and later), 0 when it is its pid (the offsets are then unused).
    pub arg_is_task: u32,
    /// Field offsets from the running kernel's BTF.
    pub task_tgid: u32,
    pub task_comm: u32,
    pub task_cgroups: u32,
    /// `css_set.subsys[memory_cgrp_id]`.
    pub css_set_memcg: u32,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    pub kernfs_node_id: u32,
}

impl Config {
    /// What the object holds before load.
    pub const DEFAULT: Self = Self {
        arg_is_task: 1,
        ..Self::ZERO
    };
}

toolkit_core::pod_config!(Config, 8 * 4);

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// The ring buffer of [`OomEvent`](super::OomEvent)s.
        EVENTS,
    );
}

/// One OOM kill, as the kernel side sends it through the `EVENTS` ring
/// buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OomEvent {
    /// The process whose allocation triggered the kill (the one running
    /// when the kernel marked the victim).
    pub trigger_pid: u32,
    /// The process killed.
    pub victim_pid: u32,
    /// The victim's memory cgroup, as its kernfs node id (the inode number
    /// of its directory); 0 when the kernel does not say.
    pub memcg_id: u64,
    pub trigger_comm: [u8; 16],
    /// Empty on kernels whose `mark_victim` carries only a pid (before
    /// 6.8): userspace then reads the name from /proc.
    pub victim_comm: [u8; 16],
}

const _: () = assert!(core::mem::size_of::<OomEvent>() == 48);

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        /// The ring buffer was full.
        RING_FULL => "ring buffer full",
    );
}

#![no_std]
//! The contract between oomkill's two halves: its configuration, the event
//! both read, map names and drop reasons. The program is in the `oomkill`
//! binary target of this crate; userspace is `crates/oomkill`.

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
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
    /// `kernfs_node.name` and `.parent` (`__parent` since 6.15): the
    /// memory cgroup's path, read at the kill, before a container runtime
    /// removes the cgroup.
    pub kernfs_node_name: u32,
    pub kernfs_node_parent: u32,
    /// `mem_cgroup.css`, and `mem_cgroup.memory.max` (pages): the limit
    /// the kill was measured against.
    pub memcg_css: u32,
    pub memcg_memory_max: u32,
}

toolkit_core::aya_pod!(Config, DEFAULT { arg_is_task: 1 });

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// The ring buffer of [`OomEvent`](super::OomEvent)s.
        EVENTS,
    );
}

/// Levels of a memory cgroup's path the kernel side reads, leaf first.
pub const PATH_LEVELS: usize = 16;
/// Bytes kept of each level's name (with its NUL): container runtimes'
/// names (`docker-<64 hex>.scope`, `cri-containerd-<64 hex>.scope`) fit.
pub const NAME_BYTES: usize = 128;

/// One OOM kill, as the kernel side sends it through the `EVENTS` ring
/// buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
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
    /// The memory cgroup's limit (`memory.max`, v1 `limit_in_bytes`) in
    /// pages, `u64::MAX` when not read; huge when unlimited.
    pub limit_pages: u64,
    /// Levels of `path` read (the root has none), and 1 when the path was
    /// deeper than [`PATH_LEVELS`] or a name could not be read: userspace
    /// then finds the cgroup by `memcg_id`.
    pub path_levels: u32,
    pub path_incomplete: u32,
    /// The memory cgroup's directory names, leaf first, NUL-terminated.
    pub path: [[u8; NAME_BYTES]; PATH_LEVELS],
}

toolkit_core::aya_pod!(OomEvent);

const _: () = assert!(core::mem::size_of::<OomEvent>() == 48 + 16 + PATH_LEVELS * NAME_BYTES);

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        /// The ring buffer was full.
        RING_FULL => "ring buffer full",
    );
}

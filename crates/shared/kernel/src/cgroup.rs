//! Cgroups, as the kernel side reads them: the current task's, another
//! task's (the one switched in), a socket's, and a cgroup's own id; the
//! `-c` filter; and keeping a cgroup's name for `-G`.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id,
        bpf_probe_read_kernel_str_bytes,
    },
    macros::map,
    maps::{HashMap, PerCpuArray},
};
use toolkit_core::{CgroupLeaf, CgroupMatch, CgroupOffsets};

use crate::{TracepointContext, global, read_kernel};

/// The current task's cgroup v2 id (its cgroup in the default
/// hierarchy, the directory's inode number): the key of `-G`.
#[inline(always)]
pub fn current_cgroup() -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_get_current_cgroup_id() }
}

/// The cgroup v2 of `task` (its default-hierarchy cgroup, not the current
/// task's): the pointer, read through `offsets` (held in `CONFIG`).
#[inline(always)]
fn task_dfl_cgroup(task: u64, offsets: &CgroupOffsets) -> Option<u64> {
    let css_set = read_kernel::<u64>(task, global(&offsets.task_cgroups))?;
    read_kernel::<u64>(css_set, global(&offsets.css_set_dfl_cgrp))
}

/// The id of a cgroup (pointer), its kernfs node's id.
#[inline(always)]
fn cgroup_id(cgroup: u64, offsets: &CgroupOffsets) -> Option<u64> {
    let kn = read_kernel::<u64>(cgroup, global(&offsets.cgroup_kn))?;
    read_kernel::<u64>(kn, global(&offsets.kernfs_node_id))
}

/// The cgroup v2 id of `task`, a pointer argument of the tracepoint, as
/// [`current_cgroup`] gives the current task's: the key of `-G` where the
/// task is not the current one (the task switched in, at `sched_switch`).
/// Plain loads on `tp_btf` (the task is a typed pointer, and so is each
/// pointer read from it), helper reads on `raw_tp`. 0 when it cannot be
/// read.
#[inline(always)]
pub fn task_cgroup<C: TracepointContext>(task: u64, offsets: &CgroupOffsets) -> u64 {
    let field =
        |object: u64, offset: &u32| C::arg_field::<u64>(object, global(offset)).filter(|&p| p != 0);
    field(task, &offsets.task_cgroups)
        .and_then(|css_set| field(css_set, &offsets.css_set_dfl_cgrp))
        .and_then(|cgroup| field(cgroup, &offsets.cgroup_kn))
        .and_then(|kn| C::arg_field::<u64>(kn, global(&offsets.kernfs_node_id)))
        .unwrap_or(0)
}

/// The id of a cgroup (pointer) read from a tracepoint's argument, as
/// [`task_cgroup`] reads it.
#[inline(always)]
pub fn arg_cgroup_id<C: TracepointContext>(cgroup: u64, offsets: &CgroupOffsets) -> u64 {
    C::arg_field::<u64>(cgroup, global(&offsets.cgroup_kn))
        .filter(|&kn| kn != 0)
        .and_then(|kn| C::arg_field::<u64>(kn, global(&offsets.kernfs_node_id)))
        .unwrap_or(0)
}

/// Keeps the directory name and parent id of `task`'s cgroup v2 (of id
/// `id`) in `names`, unless there already: called when a `-G` histogram
/// or count of the cgroup is first created on a CPU, so that userspace can
/// name a cgroup removed before it read the tree.
#[inline(always)]
pub fn remember_cgroup(
    names: &HashMap<u64, CgroupLeaf>,
    id: u64,
    task: u64,
    offsets: &CgroupOffsets,
) {
    if let Some(cgroup) = task_dfl_cgroup(task, offsets) {
        remember_cgroup_at(names, id, cgroup, offsets);
    }
}

/// [`remember_cgroup`] for a cgroup pointer of any hierarchy (a block
/// request's, biolatency `-G`).
#[inline(always)]
pub fn remember_cgroup_at(
    names: &HashMap<u64, CgroupLeaf>,
    id: u64,
    cgroup: u64,
    offsets: &CgroupOffsets,
) {
    // SAFETY: only compared with None, the value is not read.
    if unsafe { names.get(id) }.is_some() {
        return;
    }
    let Some(kn) = read_kernel::<u64>(cgroup, global(&offsets.cgroup_kn)) else {
        return;
    };
    // Built in a per-CPU slot, not on the 512-byte stack of a program
    // that may hold a flow's endpoints too (tcpretrans).
    let Some(leaf) = LEAF.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot; a program does not run nested in itself on
    // a CPU, and no other program writes the slot.
    let leaf = unsafe { &mut *leaf };
    leaf.parent = read_kernel::<u64>(kn, global(&offsets.kernfs_node_parent))
        .and_then(|parent| read_kernel::<u64>(parent, global(&offsets.kernfs_node_id)))
        .unwrap_or(0);
    let Some(name) = read_kernel::<u64>(kn, global(&offsets.kernfs_node_name)) else {
        return;
    };
    // SAFETY: a kernel string, read by the helper that checks it.
    if unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut leaf.name) }.is_ok() {
        #[expect(
            clippy::needless_borrows_for_generic_args,
            reason = "the map slot by reference: by value it would be copied onto the stack"
        )]
        let _ = names.insert(id, &*leaf, BPF_NOEXIST as u64);
    }
}

/// Whether `task` passes a `-c` filter (held in `CONFIG`): none, or its
/// cgroup v2's ancestor at the filter's depth is the filter's cgroup.
#[inline(always)]
pub fn task_passes(task: u64, offsets: &CgroupOffsets, filter: &CgroupMatch) -> bool {
    if global(&filter.on) == 0 {
        return true;
    }
    let (id, level) = (global(&filter.id), global(&filter.level));
    let Some(cgroup) = task_dfl_cgroup(task, offsets) else {
        return false;
    };
    match read_kernel::<i32>(cgroup, global(&offsets.cgroup_level)) {
        Some(l) if l >= level as i32 => {}
        _ => return false,
    }
    let slot = global(&offsets.cgroup_ancestors) + level * 8;
    read_kernel::<u64>(cgroup, slot).and_then(|ancestor| cgroup_id(ancestor, offsets)) == Some(id)
}

/// Whether the current task passes a `-c` filter (held in `CONFIG`): none,
/// or it is in the filter's cgroup or below.
#[inline(always)]
pub fn current_passes(filter: &CgroupMatch) -> bool {
    if global(&filter.on) == 0 {
        return true;
    }
    // SAFETY: helper without memory arguments.
    unsafe {
        bpf_get_current_ancestor_cgroup_id(global(&filter.level) as i32) == global(&filter.id)
    }
}

/// Where [`remember_cgroup_at`] builds a cgroup's name.
#[map]
static LEAF: PerCpuArray<CgroupLeaf> = PerCpuArray::with_max_entries(1, 0);

/// TCP states of sockets that are not full sockets: they have no cgroup.
const TCP_TIME_WAIT: u8 = 6;
const TCP_NEW_SYN_RECV: u8 = 12;

/// The cgroup socket `sk` (a pointer argument, or read from one) is
/// charged to (`sk->sk_cgrp_data`), and its id: `state` is the offset of
/// `__sk_common.skc_state`, `cgroup` that of the cgroup pointer in the
/// socket. `(0, 0)` for no socket, or a request or time-wait socket.
#[inline(always)]
pub fn socket_cgroup<C: TracepointContext>(
    sk: u64,
    state: &u32,
    cgroup: &u32,
    offsets: &CgroupOffsets,
) -> (u64, u64) {
    if sk == 0 {
        return (0, 0);
    }
    let state = C::arg_field::<u8>(sk, global(state)).unwrap_or(TCP_TIME_WAIT);
    if state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV {
        return (0, 0);
    }
    match C::arg_field::<u64>(sk, global(cgroup)) {
        Some(pointer) if pointer != 0 => (pointer, arg_cgroup_id::<C>(pointer, offsets)),
        _ => (0, 0),
    }
}

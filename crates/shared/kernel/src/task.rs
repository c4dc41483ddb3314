//! The current task and others: cgroup and `-p` process filters, and
//! task-local storage.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id,
        bpf_probe_read_kernel_str_bytes,
    },
    maps::HashMap,
};
use toolkit_core::{CgroupLeaf, CgroupOffsets};

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
    let mut leaf = CgroupLeaf::ZERO;
    if let Some(parent) = read_kernel::<u64>(kn, global(&offsets.kernfs_node_parent)) {
        leaf.parent = read_kernel::<u64>(parent, global(&offsets.kernfs_node_id)).unwrap_or(0);
    }
    let Some(name) = read_kernel::<u64>(kn, global(&offsets.kernfs_node_name)) else {
        return;
    };
    // SAFETY: a kernel string, read by the helper that checks it.
    if unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut leaf.name) }.is_ok() {
        let _ = names.insert(id, leaf, BPF_NOEXIST as u64);
    }
}

/// Whether `task` is in cgroup `id` (at depth `level`) or below: its
/// cgroup v2's ancestor at that depth is `id`.
#[inline(always)]
pub fn task_in_cgroup(task: u64, offsets: &CgroupOffsets, id: u64, level: u32) -> bool {
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

/// Whether the current task is in cgroup `id` (at depth `level`) or below.
#[inline(always)]
pub fn current_in_cgroup(id: u64, level: u32) -> bool {
    // SAFETY: helper without memory arguments.
    unsafe { bpf_get_current_ancestor_cgroup_id(level as i32) == id }
}

/// Whether `task`, of process `tgid`, belongs to the `-p` process of
/// `filter` (any process without one): the same pid, and a group leader
/// that started before the process was last seen alive by userspace, so
/// never a later process that reuses the pid. The start time is read only
/// for the target's own tasks.
#[inline(always)]
pub fn task_in_process(filter: &toolkit_core::PidFilter, task: u64, tgid: u32) -> bool {
    let pid = global(&filter.pid);
    if pid == 0 {
        return true;
    }
    if tgid != pid {
        return false;
    }
    let Some(leader) = read_kernel::<u64>(task, global(&filter.off_group_leader)) else {
        return false;
    };
    read_kernel::<u64>(leader, global(&filter.off_start_time))
        .is_some_and(|started| started < global(&filter.born_before))
}

/// [`task_in_process`] for the current task, of process `tgid`.
#[inline(always)]
pub fn current_in_process(filter: &toolkit_core::PidFilter, tgid: u32) -> bool {
    if global(&filter.pid) == 0 {
        return true;
    }
    // SAFETY: helper without arguments.
    let task = unsafe { aya_ebpf::helpers::bpf_get_current_task() };
    task_in_process(filter, task, tgid)
}

/// A task-local storage map (`BPF_MAP_TYPE_TASK_STORAGE`): one `T` per
/// task, found from the task pointer without a hash lookup or a lock on the
/// hot path. aya-ebpf 0.2 has no type for it; this is the BTF map layout
/// (`.maps` section) that loaders read the definition from.
#[repr(C)]
pub struct TaskStorage<T> {
    r#type: *const [i32; aya_ebpf::bindings::bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE as usize],
    key: *const i32,
    value: *const T,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; aya_ebpf::bindings::BPF_F_NO_PREALLOC as usize],
}

// SAFETY: the fields are never dereferenced; the loader reads the layout from
// BTF and the kernel owns the storage.
unsafe impl<T> Sync for TaskStorage<T> {}

impl<T> TaskStorage<T> {
    pub const fn new() -> Self {
        Self {
            r#type: core::ptr::null(),
            key: core::ptr::null(),
            value: core::ptr::null(),
            max_entries: core::ptr::null(),
            map_flags: core::ptr::null(),
        }
    }

    /// The current task's value, created zeroed if it has none.
    #[inline(always)]
    pub fn current(&self) -> Result<&'static mut T, StorageRefused> {
        // SAFETY: helper without arguments; the result is a trusted pointer.
        let task = unsafe { aya_ebpf::helpers::generated::bpf_get_current_task_btf() };
        self.get_or_create(task as u64)
    }

    /// The value of `task`, created zeroed if it has none. `task` must be a
    /// pointer the verifier trusts: a `tp_btf` argument or
    /// `bpf_get_current_task_btf()`, never a number read from memory.
    ///
    /// Lookups create too, on purpose: a plain lookup's NULL would mean
    /// either "never stored" or "refused", and a refused lookup would lose
    /// a sample silently. Created zeroed, a slot reads as "nothing stored",
    /// so callers treat zero as absent and every `Err` is a real refusal.
    #[inline(always)]
    pub fn get_or_create(&self, task: u64) -> Result<&'static mut T, StorageRefused> {
        // SAFETY: the verifier checks that `task` is a trusted task pointer;
        // the value lives as long as the task, beyond this program run.
        unsafe {
            aya_ebpf::helpers::generated::bpf_task_storage_get(
                core::ptr::from_ref(self).cast_mut().cast(),
                task as *mut _,
                core::ptr::null_mut(),
                aya_ebpf::bindings::BPF_LOCAL_STORAGE_GET_F_CREATE as u64,
            )
            .cast::<T>()
            .as_mut()
        }
        .ok_or(StorageRefused)
    }
}

impl<T> TaskStorage<T> {
    /// The value of `task` if it has one, without creating it: for
    /// programs that must not allocate (under the run-queue lock). A
    /// `None` is "never stored" or, on kernels before 6.2, "refused":
    /// callers that cannot tell must avoid relying on it there.
    #[inline(always)]
    pub fn lookup(&self, task: u64) -> Option<&'static mut T> {
        // SAFETY: as in `get_or_create`, without the create flag.
        unsafe {
            aya_ebpf::helpers::generated::bpf_task_storage_get(
                core::ptr::from_ref(self).cast_mut().cast(),
                task as *mut _,
                core::ptr::null_mut(),
                0,
            )
            .cast::<T>()
            .as_mut()
        }
    }
}

/// The kernel returned no task storage. Task storage has no size limit, so
/// this is never "full": either the allocation failed (out of memory), or
/// task storage was busy on this CPU, which is how kernels before 6.2
/// refuse even a lookup from a program that ran nested inside another task
/// storage operation on the same CPU (a wakeup from an interrupt that
/// arrived while an exiting task's storage was being freed, for example;
/// 6.2 and later refuse only the creation then). Tools count it under
/// `toolkit_core::STORAGE_REFUSED`.
#[derive(Clone, Copy, Debug)]
pub struct StorageRefused;

impl<T> Default for TaskStorage<T> {
    fn default() -> Self {
        Self::new()
    }
}

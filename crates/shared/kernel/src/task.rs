//! The current task and others: the `-p` process filter, and task-local
//! storage.

use crate::{global, read_kernel};

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

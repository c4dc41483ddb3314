//! Syscall timing for the latency tools: each thread's syscall in
//! progress in its task storage, from `sys_enter` to `sys_exit`.

use aya_ebpf::helpers::bpf_ktime_get_ns;

use crate::{StorageRefused, TaskStorage, ns_since};

/// x86_64 `exit` and `exit_group` never return: no start time is kept for
/// them.
const NO_RETURN_SYSCALLS: [u64; 2] = [60, 231];

/// A thread's syscall in progress, kept in its task storage by the latency
/// tools: when it entered (0: none in progress) and which syscall it is, so
/// that `sys_exit` need not read the number from `pt_regs`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SyscallStart {
    pub at: u64,
    pub nr: u64,
}

/// At `sys_enter`: remembers when the current thread entered syscall `nr`,
/// in its slot of `starts` (a tool's own task-storage map, defined in its
/// object so that tools without syscall timing do not carry it). Returns
/// false when no storage could be had.
#[inline(always)]
pub fn syscall_enter(starts: &TaskStorage<SyscallStart>, nr: u64) -> bool {
    if nr == NO_RETURN_SYSCALLS[0] || nr == NO_RETURN_SYSCALLS[1] {
        return true;
    }
    let Ok(start) = starts.current() else {
        return false;
    };
    // SAFETY: helper without arguments.
    start.at = unsafe { bpf_ktime_get_ns() };
    start.nr = nr;
    true
}

/// At `sys_exit`: how long the current thread spent in the syscall that
/// returns, and its number; `Ok(None)` when its entry was not seen (it
/// entered before tracing began, or was not watched).
///
/// The slot is looked up with create, so that `Err` means one thing: the
/// kernel refused task storage ([`TaskStorage::get_or_create`]), and a
/// call that was timed may have gone unrecorded: count it.
#[inline(always)]
pub fn syscall_exit(
    starts: &TaskStorage<SyscallStart>,
) -> Result<Option<(u64, u64)>, StorageRefused> {
    let start = starts.current()?;
    let then = start.at;
    if then == 0 {
        return Ok(None);
    }
    start.at = 0;
    Ok(Some((ns_since(then), start.nr)))
}

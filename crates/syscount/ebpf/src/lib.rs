#![no_std]
//! The contract between syscount's two halves: its configuration, map
//! names and drop reasons. The programs are in the `syscount` binary target
//! of this crate; userspace is `crates/syscount`.

/// Slots of the per-syscall table; numbers at or above it (x32 ABI, future
/// syscalls) are counted in the last slot.
pub const SYSCALL_SLOTS: u32 = 1024;

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`: the verifier sees it as constants and prunes the
/// branches of options that are off.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// `-c`: only tasks in the cgroup (or below it).
    pub cgroup_filter: toolkit_core::CgroupMatch,
    /// `-p`: only this process, never one that reuses its pid.
    pub process: toolkit_core::PidFilter,
    /// syscount's own pid: its map reads are not the workload's syscalls.
    pub self_pid: u32,
    /// `-x`: only failed calls.
    pub filter_failed: u32,
    /// `-e`: only calls failing with this errno (0: any).
    pub filter_errno: u32,
    /// `-L`: time calls too (adds the sys_enter program).
    pub measure_latency: u32,
    /// `-P`: count per process instead of per syscall.
    pub by_process: u32,
    /// The syscall number's field in `pt_regs` (x86_64's `orig_ax`,
    /// arm64's `syscallno`), from the running kernel's BTF: the number at
    /// sys_exit when its entry was not timed.
    pub off_syscall_nr: u32,
    /// `-t` (bcc): only this thread (0: all).
    pub filter_tid: u32,
    /// `--ppid` (bcc's `-c`): only children of this process (0: any).
    pub filter_ppid: u32,
    /// `--syscall`: only the syscalls marked in the `WATCHED` map.
    pub filter_syscalls: u32,
    /// `task_struct.real_parent` and `.tgid`, for `--ppid`.
    pub off_task_real_parent: u32,
    pub off_task_tgid: u32,
    /// `rt_sigreturn`'s number: at `sys_exit` the kernel has set the
    /// number it restored from the signal frame to -1 (no syscall to
    /// restart), which is read as this.
    pub nr_sigreturn: u32,
    /// `-G`: count per cgroup v2 instead of per syscall.
    pub by_cgroup: u32,
    pub _reserved: u32,
    /// With `-G`: the way to the current task's cgroup's name.
    pub cgroup: toolkit_core::CgroupOffsets,
}

toolkit_core::aya_pod!(Config, DEFAULT {});

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// `[count, total_ns]` per syscall number.
        SYSCALLS,
        /// `[count, total_ns]` per process, with `-P`.
        PROCESSES,
        /// `--syscall`: 1 per syscall number counted.
        WATCHED,
        COMMS,
        /// `[count, total_ns]` per cgroup v2 id, with `-G`.
        CGROUPS,
    );
    /// Processes a `-P` run can hold.
    pub const MAX_PROCESSES: u32 = 10240;
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        /// With -L: no task storage for a start time, or to take one.
        NO_TASK_STORAGE => toolkit_core::STORAGE_REFUSED,
        PROCESSES_FULL => "process map full",
        CGROUPS_FULL => toolkit_core::CGROUPS_FULL,
    );
}

#![no_std]
//! The contract between runqlat's two halves: its configuration, map names,
//! drop reasons and groupings. The programs are in the `runqlat` binary
//! target of this crate; userspace is `crates/runqlat`.

/// Histogram key when latencies are not split (libbpf-tools uses -1 too).
pub const ALL: u32 = u32::MAX;

/// What is timed ([`Config::measure`]): runqlat's waits, or cpudist's
/// time on and off a CPU (the same object, the same keys and filters).
pub mod measure {
    /// From enqueue (wakeup or preemption) to switch-in: `runqlat`.
    pub const RUN_QUEUE: u32 = 0;
    /// From switch-in to switch-out, on that CPU: `cpudist`.
    pub const ON_CPU: u32 = 1;
    /// From switch-out to the next switch-in: `cpudist -O`.
    pub const OFF_CPU: u32 = 2;
}

/// How histograms are keyed ([`Config::group_by`]).
pub mod group {
    /// One histogram.
    pub const NONE: u32 = 0;
    /// Per process (tgid), `-P`.
    pub const PROCESS: u32 = 1;
    /// Per thread, `-L`.
    pub const THREAD: u32 = 2;
    /// Per PID namespace (its inode number), `--pidnss`.
    pub const PIDNS: u32 = 3;
    /// Per CPU the task waited for (where it then ran), `-C`.
    pub const CPU: u32 = 4;
    /// Per cgroup v2 of the task that waited, `-G` (the `CGROUPS` maps).
    pub const CGROUP: u32 = 5;
}

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`: the verifier sees it as constants and prunes the
/// branches of options that are off.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// Raw units per histogram unit: 1000 for usecs, 1_000_000 for msecs.
    pub unit_divisor: u64,
    /// `-c`: only tasks in the cgroup (or below it).
    pub cgroup_filter: toolkit_core::CgroupMatch,
    /// `-p`: only this process, never one that reuses its pid.
    pub process: toolkit_core::PidFilter,
    /// A [`group`] constant.
    pub group_by: u32,
    /// Also record log-linear histograms (`--percentiles`, `--compact`).
    pub loglinear: u32,
    /// A [`measure`] constant.
    pub measure: u32,
    /// Field offsets from the running kernel's BTF.
    pub task: TaskOffsets,
    /// With `--pidnss` only.
    pub pidns: PidNsOffsets,
    /// With `-c` and `-G` only.
    pub cgroup: CgroupOffsets,
    /// A new task's first wait, from the kernel's `sched_info`.
    pub first_run: FirstRunOffsets,
}

/// `struct task_struct` fields every run reads.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct TaskOffsets {
    pub state: u32,
    pub pid: u32,
    pub tgid: u32,
    pub comm: u32,
    pub group_leader: u32,
}

/// The way from a task to its PID namespace's inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PidNsOffsets {
    pub task_thread_pid: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub size_upid: u32,
    pub upid_ns: u32,
    pub pidns_inum: u32,
}

pub use toolkit_core::CgroupOffsets;

/// The way to a task's run-queue accounting (`task_struct.sched_info`) and
/// its run queue's clock, for the first wait of a task created while
/// tracing: no program runs at `sched_wakeup_new` when `enabled`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FirstRunOffsets {
    /// 1 when the kernel's BTF has every field below.
    pub enabled: u32,
    /// `task_struct.sched_info` + `sched_info.pcount` (times switched in).
    pub pcount: u32,
    /// `task_struct.sched_info` + `sched_info.run_delay` (ns waited so far,
    /// on run queues it has left).
    pub run_delay: u32,
    /// `task_struct.sched_info` + `sched_info.last_queued` (when queued on
    /// its run queue, on that run queue's clock).
    pub last_queued: u32,
    /// `task_struct.se` + `sched_entity.cfs_rq`.
    pub cfs_rq: u32,
    /// `cfs_rq.rq`.
    pub rq: u32,
    /// `rq.clock`.
    pub rq_clock: u32,
    pub _reserved: u32,
}

toolkit_core::aya_pod!(Config, DEFAULT { unit_divisor: 1000 });

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        HISTS,
        LLHISTS,
        COMMS,
        /// Histograms by cgroup v2 id (`-G`), and their log-linear twins.
        CGROUPS,
        CGROUPS_LL,
    );
    /// Keys (processes, threads, namespaces) a split run can hold.
    pub const MAX_KEYS: u32 = 10240;
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        /// raw_tp only: the enqueue-time hash map was full.
        START_FULL => "run-queue start map full",
        /// tp_btf only: no task storage for an enqueue time, or to take one.
        START_REFUSED => toolkit_core::STORAGE_REFUSED,
        /// On-CPU time: the task switched out is not the one last seen
        /// switched in on its CPU (a switch the kernel fired no event for).
        SWITCH_UNSEEN => "switched in without a sched_switch event",
        HIST_FULL => "histogram map full",
        LL_NO_MEMORY => "no kernel memory for a new log-linear histogram",
        CGROUPS_FULL => toolkit_core::CGROUPS_FULL,
    );
}

#![no_std]
//! The contract between the two halves of syslat and memlat (one eBPF
//! object): its configuration, map names, drop reasons and reclaim kinds.
//! The programs are in the `syslat` binary target of this crate; userspace
//! is `crates/syslat`.

/// Syscall numbers at or above this are not traced (x32 ABI, future
/// syscalls); it sizes the watched-syscall table.
pub const SYSCALL_SLOTS: u32 = 1024;

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`: the verifier sees it as constants and prunes the
/// branches of options that are off.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// Raw units (ns) per histogram unit: 1, 1000 or 1_000_000.
    pub unit_divisor: u64,
    /// `-p`: only this process, never one that reuses its pid.
    pub process: toolkit_core::PidFilter,
    /// `-t`: only this thread (0: all).
    pub filter_tid: u32,
    /// The tool's own pid: its map reads are not the workload's syscalls.
    pub self_pid: u32,
    /// Only the syscalls marked in the `WATCHED` map (`-s`, memlat).
    pub filter_syscalls: u32,
    /// `-x`: only failed calls.
    pub filter_failed: u32,
    /// Count failed calls per syscall and errno (memlat).
    pub count_errors: u32,
    /// Histograms of the length asked of mmap and mremap (memlat `-s`).
    pub record_sizes: u32,
    /// Also record log-linear histograms (`--percentiles`, `--compact`).
    pub loglinear: u32,
    /// memlat `--reclaim -P`: reclaim stall histograms per process.
    pub reclaim_per_process: u32,
    /// The `pt_regs` fields, from the running kernel's BTF, of mmap's
    /// length (its second argument) and mremap's new length (its third).
    pub off_mmap_len: u32,
    pub off_mremap_len: u32,
    /// mmap's and mremap's numbers in this architecture's table (memlat
    /// `-s` records their lengths).
    pub nr_mmap: u32,
    pub nr_mremap: u32,
    /// syslat `-e`: only calls failing with this errno (0: any).
    pub filter_errno: u32,
    /// syslat `-P`: latency histograms per process (tgid) instead of per
    /// syscall; `LLHISTS` is keyed by tgid too.
    pub per_process: u32,
    /// `-G`: latency histograms per cgroup v2 (`CGROUPS`, `CGROUPS_LL`)
    /// instead of per syscall; memlat `--reclaim -G`: reclaim ones too,
    /// the cgroup id above the kind.
    pub per_cgroup: u32,
    pub _reserved: u32,
    /// `-c`: only tasks in the cgroup (or below it).
    pub cgroup_filter: toolkit_core::CgroupMatch,
    /// With `-G`: the way to the current task's cgroup's name.
    pub cgroup: toolkit_core::CgroupOffsets,
}

toolkit_core::aya_pod!(Config, DEFAULT { unit_divisor: 1000 });

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// Non-zero for each syscall number to trace, with `filter_syscalls`.
        WATCHED,
        /// Latency histograms indexed by syscall number.
        HISTS,
        /// Log-linear latency histograms by syscall number (tgid with -P).
        LLHISTS,
        /// Latency histograms by tgid (syslat `-P`).
        PROCESSES,
        /// Command names of the processes in `PROCESSES`.
        COMMS,
        /// Failed calls by `nr << 32 | errno`.
        ERRORS,
        /// Requested-length histograms by syscall number.
        SIZES,
        /// Reclaim stall histograms by [`reclaim`](super::reclaim) kind (and
        /// tgid above it, per process).
        RECLAIM,
        RECLAIM_LL,
        /// Latency histograms by cgroup v2 id (`-G`), and their log-linear
        /// twins.
        CGROUPS,
        CGROUPS_LL,
    );
    /// Failed (syscall, errno) pairs that can be counted.
    pub const MAX_ERRORS: u32 = 4096;
    /// mmap and mremap, with room.
    pub const MAX_SIZES: u32 = 8;
    /// Processes `-P` (syslat, memlat `--reclaim`) can hold.
    pub const MAX_PROCESSES: u32 = 10240;
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        /// No task storage for a start time (syscall or reclaim), or to
        /// take one.
        START => toolkit_core::STORAGE_REFUSED,
        /// The latency histogram map was full.
        HISTS => "latency histogram map full",
        /// The failed-call map was full.
        ERRORS => "failed-call map full",
        /// The size histogram map was full.
        SIZES => "size histogram map full",
        /// The reclaim histogram map was full.
        RECLAIM => "reclaim histogram map full",
        /// No kernel memory for a new log-linear histogram (latency or reclaim).
        LL_NO_MEMORY => "no kernel memory for a new log-linear histogram",
        /// The per-process histogram map was full (syslat `-P`).
        PROCESSES => "per-process histogram map full",
        CGROUPS => toolkit_core::CGROUPS_FULL,
    );
}

/// Kinds of direct reclaim (memlat `--reclaim`): the low byte of a
/// reclaim histogram's key, above it the tgid with `-P`, the cgroup id
/// with `-G`.
pub mod reclaim {
    /// Global: the machine is short of memory
    /// (`mm_vmscan_direct_reclaim_begin/end`).
    pub const DIRECT: u64 = 0;
    /// A memory cgroup hit its limit (`mm_vmscan_memcg_reclaim_begin/end`).
    pub const MEMCG: u64 = 1;
}

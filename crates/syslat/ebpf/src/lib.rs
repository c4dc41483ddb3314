#![no_std]
//! Kernel side of syslat and memlat; the programs are in the `syslat` binary
//! target.

/// Syscall numbers at or above this are not traced (x32 ABI, future
/// syscalls); it sizes the watched-syscall table.
pub const SYSCALL_SLOTS: u32 = 1024;

/// Indexes of the `DROPPED` counters.
pub mod dropped {
    /// No task storage could be had for a start time.
    pub const START: u32 = 0;
    /// The latency histogram map was full.
    pub const HISTS: u32 = 1;
    /// The failed-call map was full.
    pub const ERRORS: u32 = 2;
    /// The size histogram map was full.
    pub const SIZES: u32 = 3;
    /// No task storage for a reclaim start time, or the reclaim map full.
    pub const RECLAIM: u32 = 4;
}

/// Kinds of direct reclaim (memlat `--reclaim`): the low byte of a
/// reclaim histogram's key, above it the tgid with `-P`.
pub mod reclaim {
    /// Global: the machine is short of memory
    /// (`mm_vmscan_direct_reclaim_begin/end`).
    pub const DIRECT: u64 = 0;
    /// A memory cgroup hit its limit (`mm_vmscan_memcg_reclaim_begin/end`).
    pub const MEMCG: u64 = 1;
}

#![no_std]
//! Kernel side of runqlat; the programs are in the `runqlat` binary target.

/// Histogram key when latencies are not split (libbpf-tools uses -1 too).
pub const ALL: u32 = u32::MAX;

/// How histograms are keyed, the `GROUP_BY` global.
pub mod group {
    /// One histogram.
    pub const NONE: u32 = 0;
    /// Per process (tgid), `-P`.
    pub const PROCESS: u32 = 1;
    /// Per thread, `-L`.
    pub const THREAD: u32 = 2;
    /// Per PID namespace (its inode number), `--pidnss`.
    pub const PIDNS: u32 = 3;
}

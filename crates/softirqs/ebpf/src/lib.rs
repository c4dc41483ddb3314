#![no_std]
//! The contract between softirqs' two halves: its configuration, the
//! vectors, map names and drop reasons. The programs are in the `softirqs`
//! binary target of this crate; userspace is `crates/softirqs`.

/// The softirq vectors (`enum` of `include/linux/interrupt.h`, unchanged
/// since Linux 4.x), in vector order, named as `/proc/softirqs` names them
/// (upper case there; libbpf-tools prints them in lower case).
pub const VECTORS: [&str; 10] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// Nanoseconds per log2 slot unit: 1000 for usecs, 1 with `-N`.
    pub unit_divisor: u64,
    /// `-c CPU`: only softirqs run on `target_cpu`.
    pub filter_cpu: u32,
    pub target_cpu: u32,
    /// `--percentiles`, `--compact`, ...: record log-linear histograms too.
    pub loglinear: u32,
    pub _reserved: u32,
}

toolkit_core::aya_pod!(Config, DEFAULT { unit_divisor: 1000 });

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// A histogram per vector (the index), per CPU: time from
        /// `softirq_entry` to `softirq_exit`.
        HISTS,
        /// Their log-linear twins, with `loglinear` (one entry otherwise).
        LLHISTS,
    );
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        UNKNOWN_VECTOR => "softirq vector past the ten this tool knows",
    );
}

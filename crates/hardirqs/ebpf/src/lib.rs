#![no_std]
//! The contract between hardirqs' two halves: its configuration, map
//! names and drop reasons. The programs are in the `hardirqs` binary target
//! of this crate; userspace is `crates/hardirqs`.

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// Nanoseconds per log2 slot unit: 1000 for usecs, 1 with `-N`.
    pub unit_divisor: u64,
    /// `-c CGROUP`: only interrupts that arrive while a task of the cgroup
    /// (or below) runs, as libbpf-tools' `-c`.
    pub cgroup_filter: toolkit_core::CgroupMatch,
    /// `-s CPU`: only interrupts served on `target_cpu`.
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
        /// A histogram per IRQ number, per CPU: time from
        /// `irq_handler_entry` to `irq_handler_exit`.
        HISTS,
        /// Their log-linear twins, with `loglinear`.
        LLHISTS,
    );
    /// IRQ numbers a run can hold.
    pub const MAX_IRQS: u32 = 4096;
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        HIST_FULL => "IRQ map full",
        LL_NO_MEMORY => "no kernel memory for a new log-linear histogram",
    );
}

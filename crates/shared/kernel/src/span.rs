//! Work that does not nest on a CPU (an interrupt handler, a softirq),
//! timed from its start to its end with one start time per CPU.

use aya_ebpf::{helpers::bpf_ktime_get_ns, maps::PerCpuArray};

use crate::{global, ns_since};

/// Stamps the start of this CPU's span in `start` (a one-entry per-CPU
/// array).
#[inline(always)]
pub fn span_begin(start: &PerCpuArray<u64>) {
    if let Some(slot) = start.get_ptr_mut(0) {
        // SAFETY: this CPU's slot, and spans do not nest on a CPU. The
        // helper takes no arguments.
        unsafe { *slot = bpf_ktime_get_ns() };
    }
}

/// Ends this CPU's span: its nanoseconds, `None` for one whose start was
/// not seen (begun before tracing, or filtered out).
#[inline(always)]
pub fn span_end(start: &PerCpuArray<u64>) -> Option<u64> {
    let slot = start.get_ptr_mut(0)?;
    // SAFETY: as in `span_begin`.
    let began = unsafe { core::mem::replace(&mut *slot, 0) };
    (began != 0).then(|| ns_since(began))
}

/// Whether this CPU passes a `-c CPU` filter (`filter` 0: no filter).
#[inline(always)]
pub fn on_cpu(filter: &u32, target: &u32) -> bool {
    if global(filter) == 0 {
        return true;
    }
    // SAFETY: helper without arguments.
    let cpu = unsafe { aya_ebpf::helpers::bpf_get_smp_processor_id() };
    cpu == global(target)
}

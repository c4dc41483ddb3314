//! softirqs' eBPF programs: time each softirq from `irq:softirq_entry` to
//! `irq:softirq_exit` on its CPU and record it in the vector's histogram.
//! Softirqs do not nest on a CPU (a hard interrupt that arrives during one
//! does not run softirqs on its way out), so one start time per CPU is
//! enough; the time includes hard interrupts served meanwhile, as
//! libbpf-tools' does.
#![no_std]
#![no_main]

use aya_ebpf::{EbpfContext, macros::map, maps::PerCpuArray};
use softirqs_ebpf::{Config, VECTORS, dropped};
use toolkit_core::{Hist, LlHist};
use toolkit_kernel::{bump, ctx_arg, global, hist_record, ll_record, on_cpu, span_begin, span_end};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

/// When this CPU's current softirq began (0: none seen).
#[map]
static START: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static HISTS: PerCpuArray<Hist> = PerCpuArray::with_max_entries(VECTORS.len() as u32, 0);

/// Sized `VECTORS.len()` by userspace with log-linear histograms.
#[map]
static LLHISTS: PerCpuArray<LlHist> = PerCpuArray::with_max_entries(1, 0);

fn on_entry<C: EbpfContext>(_ctx: &C) -> i32 {
    if on_cpu(&CONFIG.filter_cpu, &CONFIG.target_cpu) {
        span_begin(&START);
    }
    0
}

fn on_exit<C: EbpfContext>(ctx: &C) -> i32 {
    if !on_cpu(&CONFIG.filter_cpu, &CONFIG.target_cpu) {
        return 0;
    }
    let Some(elapsed) = span_end(&START) else {
        return 0;
    };
    let vector = ctx_arg(ctx, 0) as u32;
    let Some(hist) = HISTS.get_ptr_mut(vector) else {
        bump(&DROPPED, dropped::UNKNOWN_VECTOR);
        return 0;
    };
    // SAFETY: a per-CPU array slot, exclusive to this CPU while we run.
    hist_record(unsafe { &mut *hist }, elapsed, global(&CONFIG.unit_divisor));
    if global(&CONFIG.loglinear) != 0
        && let Some(ll) = LLHISTS.get_ptr_mut(vector)
    {
        // SAFETY: as above.
        ll_record(unsafe { &mut *ll }, elapsed);
    }
    0
}

toolkit_kernel::tracepoint_programs!(
    "softirq_entry",
    softirq_entry_btf,
    softirq_entry_raw,
    on_entry
);
toolkit_kernel::tracepoint_programs!("softirq_exit", softirq_exit_btf, softirq_exit_raw, on_exit);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

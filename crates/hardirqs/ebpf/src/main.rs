//! hardirqs' eBPF programs: time each interrupt handler from
//! `irq:irq_handler_entry` to `irq:irq_handler_exit` on its CPU and record
//! it in its IRQ's histogram. Handlers run with interrupts off and do not
//! nest on a CPU, so one start time per CPU is enough.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{PerCpuArray, PerCpuHashMap},
};
use hardirqs_ebpf::{Config, dropped, maps::MAX_IRQS};
use toolkit_core::{Hist, LlHist};
use toolkit_kernel::{
    bump, ctx_arg, current_passes, global, hist_entry, hist_record, ll_hist_record, on_cpu,
    span_begin, span_end,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

/// When this CPU's current handler began (0: none seen).
#[map]
static START: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static HISTS: PerCpuHashMap<u32, Hist> = PerCpuHashMap::with_max_entries(MAX_IRQS, 0);

/// Allocated per IRQ on first use, with log-linear histograms.
#[map]
static LLHISTS: PerCpuHashMap<u32, LlHist> =
    PerCpuHashMap::with_max_entries(MAX_IRQS, BPF_F_NO_PREALLOC);

/// The interrupt passes `-s` and `-c`.
#[inline(always)]
fn wanted() -> bool {
    on_cpu(&CONFIG.filter_cpu, &CONFIG.target_cpu) && current_passes(&CONFIG.cgroup_filter)
}

fn on_entry<C: EbpfContext>(_ctx: &C) -> i32 {
    if wanted() {
        span_begin(&START);
    }
    0
}

fn on_exit<C: EbpfContext>(ctx: &C) -> i32 {
    if !wanted() {
        return 0;
    }
    let Some(elapsed) = span_end(&START) else {
        return 0;
    };
    let irq = ctx_arg(ctx, 0) as u32;
    match hist_entry(&HISTS, &irq) {
        Some(hist) => hist_record(hist, elapsed, global(&CONFIG.unit_divisor)),
        None => bump(&DROPPED, dropped::HIST_FULL),
    }
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&LLHISTS, &irq, elapsed)
    {
        bump(
            &DROPPED,
            no.reason(dropped::HIST_FULL, dropped::LL_NO_MEMORY),
        );
    }
    0
}

toolkit_kernel::tracepoint_programs!(
    "irq_handler_entry",
    irq_handler_entry_btf,
    irq_handler_entry_raw,
    on_entry
);
toolkit_kernel::tracepoint_programs!(
    "irq_handler_exit",
    irq_handler_exit_btf,
    irq_handler_exit_raw,
    on_exit
);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

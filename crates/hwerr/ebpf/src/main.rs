//! hwerr's eBPF programs: at each RAS or MCE tracepoint, the error's own
//! fields sent to userspace through a ring buffer (hardware errors are
//! rare: no per-event cost to save).
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_smp_processor_id, bpf_probe_read_kernel_str_bytes},
    macros::map,
    maps::RingBuf,
};
use hwerr_ebpf::{Config, HwEvent, TEXT_BYTES, dropped, source};
use toolkit_kernel::{ctx_arg, global, read_kernel, send_event};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// Sends the event `fill` writes, zeroed first; a full ring buffer is
/// counted.
#[inline(always)]
fn send(source: u32, fill: impl FnOnce(&mut HwEvent)) {
    send_event(
        &EVENTS,
        &DROPPED,
        dropped::RING_FULL,
        |event: &mut HwEvent| {
            event.source = source;
            // SAFETY: helper without arguments.
            event.cpu = unsafe { bpf_get_smp_processor_id() };
            fill(event);
        },
    );
}

/// Copies the kernel string at `ptr` (if any) into `out`.
#[inline(always)]
fn text(ptr: u64, out: &mut [u8; TEXT_BYTES]) {
    if ptr != 0 {
        // SAFETY: a kernel string, read by the helper that checks it.
        let _ = unsafe { bpf_probe_read_kernel_str_bytes(ptr as *const u8, out) };
    }
}

/// `mce_record(struct mce *m)` (`struct mce_hw_err *err`, which begins
/// with its `struct mce`, since 6.10).
fn on_mce<C: EbpfContext>(ctx: &C) -> i32 {
    let m = ctx_arg(ctx, 0);
    send(source::MCE, |e| {
        let u64_at = |offset: &u32| read_kernel::<u64>(m, global(offset)).unwrap_or(0);
        e.values[0] = u64_at(&CONFIG.mce_status);
        e.values[1] = u64_at(&CONFIG.mce_addr);
        e.values[2] = u64_at(&CONFIG.mce_misc);
        e.values[3] = u64_at(&CONFIG.mce_mcgstatus);
        e.values[4] = u64::from(read_kernel::<u8>(m, global(&CONFIG.mce_bank)).unwrap_or(0));
        e.values[5] = u64::from(read_kernel::<u32>(m, global(&CONFIG.mce_extcpu)).unwrap_or(0));
    });
    0
}

/// `mc_event(err_type, error_msg, label, error_count, mc_index, top_layer,
/// middle_layer, lower_layer, address, grain_bits, syndrome,
/// driver_detail)`.
fn on_mc_event<C: EbpfContext>(ctx: &C) -> i32 {
    send(source::MEMORY_CONTROLLER, |e| {
        e.values[0] = ctx_arg(ctx, 0) & 0xffff_ffff;
        e.values[1] = ctx_arg(ctx, 3) & 0xffff_ffff;
        e.values[2] = ctx_arg(ctx, 4) & 0xff;
        e.values[3] = ctx_arg(ctx, 8);
        e.values[4] = ctx_arg(ctx, 9) & 0xff;
        e.values[5] = ctx_arg(ctx, 10);
        e.values[6] = (ctx_arg(ctx, 5) & 0xff)
            | (ctx_arg(ctx, 6) & 0xff) << 8
            | (ctx_arg(ctx, 7) & 0xff) << 16;
        text(ctx_arg(ctx, 1), &mut e.text[0]);
        text(ctx_arg(ctx, 2), &mut e.text[1]);
        text(ctx_arg(ctx, 11), &mut e.text[2]);
    });
    0
}

/// `memory_failure_event(pfn, type, result)`.
fn on_memory_failure<C: EbpfContext>(ctx: &C) -> i32 {
    send(source::MEMORY_FAILURE, |e| {
        e.values[0] = ctx_arg(ctx, 0);
        e.values[1] = ctx_arg(ctx, 1) & 0xffff_ffff;
        e.values[2] = ctx_arg(ctx, 2) & 0xffff_ffff;
    });
    0
}

/// `aer_event(dev_name, status, severity, tlp_header_valid, tlp)`.
fn on_aer<C: EbpfContext>(ctx: &C) -> i32 {
    send(source::PCIE_AER, |e| {
        e.values[0] = ctx_arg(ctx, 1) & 0xffff_ffff;
        e.values[1] = ctx_arg(ctx, 2) & 0xff;
        e.values[2] = ctx_arg(ctx, 3) & 0xff;
        text(ctx_arg(ctx, 0), &mut e.text[0]);
    });
    0
}

toolkit_kernel::tracepoint_programs!("mce_record", mce_record_btf, mce_record_raw, on_mce);
toolkit_kernel::tracepoint_programs!("mc_event", mc_event_btf, mc_event_raw, on_mc_event);
toolkit_kernel::tracepoint_programs!(
    "memory_failure_event",
    memory_failure_event_btf,
    memory_failure_event_raw,
    on_memory_failure
);
toolkit_kernel::tracepoint_programs!("aer_event", aer_event_btf, aer_event_raw, on_aer);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

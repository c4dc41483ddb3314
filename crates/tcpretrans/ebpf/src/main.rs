//! tcpretrans's eBPF program: at `tcp:tcp_retransmit_skb`, the socket's
//! endpoints and state, sent as an event or counted per flow.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::map,
    maps::{PerCpuArray, PerCpuHashMap, RingBuf},
};
use tcpretrans_ebpf::{
    AF_INET, AF_INET6, Config, Flow, FlowSlot, RetransEvent, dropped, flow_slot,
    maps::{FLOW_SLOTS_LEN, MAX_FLOWS},
};
use toolkit_kernel::{TracepointContext, bump, ctx_arg, global, map_entry, sock_address};

/// Set by userspace before load (see `Config`).
#[unsafe(no_mangle)]
static CONFIG: Config = Config::DEFAULT;

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// With -c: each flow's counts in the slot it picks on this CPU, claimed
/// by the first flow through it: an array slot, where a per-CPU hash
/// lookup cost about 250 ns of cold cache lines per retransmit.
#[map]
static FLOW_SLOTS: PerCpuArray<FlowSlot> = PerCpuArray::with_max_entries(FLOW_SLOTS_LEN, 0);

/// With -c: the counts of flows whose slot another flow holds.
#[map]
static FLOWS: PerCpuHashMap<Flow, [u64; 2]> = PerCpuHashMap::with_max_entries(MAX_FLOWS, 0);

/// Retransmits that could not be recorded, by [`dropped`] index.
#[map]
static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(dropped::REASONS.len() as u32, 0);

/// Initial value of a new flow (a static: not built on the stack).
static NONE_YET: [u64; 2] = [0, 0];

/// The endpoints of socket `sk`, `None` for a family other than IPv4/IPv6
/// or one filtered out.
#[inline(always)]
fn flow_of<C: TracepointContext>(sk: u64) -> Option<Flow> {
    let sock = &CONFIG.sock;
    let family = C::arg_field::<u16>(sk, global(&sock.family))?;
    let wanted = global(&CONFIG.family);
    if (family != AF_INET && family != AF_INET6) || (wanted != 0 && u32::from(family) != wanted) {
        return None;
    }
    Some(Flow {
        family,
        lport: C::arg_field::<u16>(sk, global(&sock.num))?,
        dport: u16::from_be(C::arg_field::<u16>(sk, global(&sock.dport))?),
        _pad: 0,
        saddr: sock_address::<C>(sk, sock, family, false)?,
        daddr: sock_address::<C>(sk, sock, family, true)?,
    })
}

/// Counts a retransmit of `flow` in its slot on this CPU, unless another
/// flow holds the slot.
#[inline(always)]
fn count_in_slot(flow: &Flow, segments: u16) -> bool {
    let slots = global(&CONFIG.flow_slots);
    if slots == 0 {
        return false;
    }
    let Some(slot) = FLOW_SLOTS.get_ptr_mut(flow_slot(flow, slots)) else {
        return false;
    };
    // SAFETY: this CPU's copy of an array slot; the program does not run
    // nested in itself on a CPU (the kernel skips, and counts, a recursion).
    // Volatile, in this order, so that userspace, which reads slots with a
    // retransmit counted, never reads a flow half written.
    unsafe {
        let counts = &raw mut (*slot).counts;
        let retransmits = read_volatile(&raw const (*counts)[0]);
        if retransmits == 0 {
            write_volatile(&raw mut (*slot).flow, *flow);
        } else if (*slot).flow != *flow {
            return false;
        }
        let total = read_volatile(&raw const (*counts)[1]);
        write_volatile(&raw mut (*counts)[1], total + u64::from(segments));
        write_volatile(&raw mut (*counts)[0], retransmits + 1);
    }
    true
}

fn on_retransmit<C: TracepointContext>(ctx: &C) -> i32 {
    if global(&CONFIG.has_err_arg) != 0 && ctx_arg(ctx, 2) as i32 != 0 {
        return 0; // the transmit failed: not a retransmit (nor counted by the kernel)
    }
    let sk = ctx_arg(ctx, 0);
    let Some(flow) = flow_of::<C>(sk) else {
        return 0;
    };
    let segments = C::arg_field::<u16>(ctx_arg(ctx, 1), global(&CONFIG.skb_gso_segs))
        .unwrap_or(1)
        .max(1);
    if global(&CONFIG.count) != 0 {
        if count_in_slot(&flow, segments) {
            return 0;
        }
        match map_entry(&FLOWS, &flow, &NONE_YET) {
            Ok(counts) => {
                counts[0] += 1;
                counts[1] += u64::from(segments);
            }
            Err(no) => bump(&DROPPED, no.reason(dropped::FLOWS_FULL, dropped::NO_MEMORY)),
        }
        return 0;
    }
    let event = RetransEvent {
        flow,
        pid: (bpf_get_current_pid_tgid() >> 32) as u32,
        state: C::arg_field::<u8>(sk, global(&CONFIG.sock.state)).unwrap_or(0),
        _pad: [0],
        segments,
    };
    if EVENTS.output::<RetransEvent>(&event, 0).is_err() {
        bump(&DROPPED, dropped::RING_FULL);
    }
    0
}

toolkit_kernel::tracepoint_programs!(
    "tcp_retransmit_skb",
    tcp_retransmit_skb_btf,
    tcp_retransmit_skb_raw,
    on_retransmit
);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

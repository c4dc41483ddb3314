//! tcpretrans's eBPF program: at `tcp:tcp_retransmit_skb`, the socket's
//! endpoints and state, sent as an event or counted per flow or per the
//! socket's cgroup.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::map,
    maps::{HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
};
use tcpretrans_ebpf::{
    AF_INET, AF_INET6, Config, Flow, FlowSlot, RetransEvent, SocketSlot, dropped, flow_slot,
    maps::{FLOW_SLOTS_LEN, MAX_FLOWS},
    socket_slot,
};
use toolkit_core::{CGROUP_SLOTS as CGROUP_SLOTS_LEN, CgroupLeaf};
use toolkit_kernel::{
    TracepointContext, bump, cgroup_entry, claim_slot, ctx_arg, global, map_entry,
    remember_cgroup_at, sock_address, socket_cgroup,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

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

/// With -G on `tp_btf`: each socket's counts and cgroup in the slot its
/// cookie picks on this CPU, so that the socket's cgroup is read once per
/// socket rather than once per retransmit (about 200 ns of cold cache
/// lines: see docs/cgroups.md).
#[map]
static SOCKET_SLOTS: PerCpuArray<SocketSlot> = PerCpuArray::with_max_entries(1, 0);

// With -G, for a socket whose slot another holds (or on `raw_tp`, where
// sockets have no cookie to hand): `[retransmits, segments]` by the
// socket's cgroup id, slots first (see `toolkit_kernel::Slots`), then the
// hash map; and the cgroups' names.
toolkit_kernel::cgroup_slot_maps!([u64; 2]);

#[map]
static CGROUPS: PerCpuHashMap<u64, [u64; 2]> = PerCpuHashMap::with_max_entries(1, 0);

#[map]
static CGROUP_NAMES: HashMap<u64, CgroupLeaf> = HashMap::with_max_entries(1, 0);

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

/// Whether socket `sk` is IPv4 or IPv6, and of the `-4`/`-6` family.
#[inline(always)]
fn family_wanted<C: TracepointContext>(sk: u64) -> bool {
    let Some(family) = C::arg_field::<u16>(sk, global(&CONFIG.sock.family)) else {
        return false;
    };
    let wanted = global(&CONFIG.family);
    (family == AF_INET || family == AF_INET6) && (wanted == 0 || u32::from(family) == wanted)
}

/// `-G`: counts a retransmit of `segments` by the cgroup of socket `sk`.
#[inline(always)]
fn count_for_cgroup<C: TracepointContext>(sk: u64, segments: u16) {
    if count_in_socket_slot::<C>(sk, segments) {
        return;
    }
    let (cgroup, id) =
        socket_cgroup::<C>(sk, &CONFIG.sock.state, &CONFIG.sk_cgroup, &CONFIG.cgroup);
    match cgroup_entry(cgroup_slots(), &CGROUPS, id, &NONE_YET, |c| c[0] == 0) {
        Ok((counts, new)) => {
            if new && cgroup != 0 {
                remember_cgroup_at(&CGROUP_NAMES, id, cgroup, &CONFIG.cgroup);
            }
            counts[0] += 1;
            counts[1] += u64::from(segments);
        }
        Err(_) => bump(&DROPPED, dropped::CGROUPS_FULL),
    }
}

/// Whether cgroup `id`'s name is kept already: it owns its slot index of
/// the split (`CGROUP_OWNERS`), taken now if free, so that the cgroup's
/// next socket finds it, on any CPU. (Userspace moves names out of
/// `CGROUP_NAMES` at each interval, so that map cannot say: each new
/// socket would read and store its cgroup's name again, about 2 us.) A
/// cgroup whose slot is another's is named again for each of its sockets.
#[inline(always)]
fn cgroup_named(id: u64) -> bool {
    let owner = id.wrapping_add(1);
    claim_slot(&CGROUP_OWNERS, id as u32 & (CGROUP_SLOTS_LEN - 1), owner) == Err(owner)
}

/// This CPU's slot that `pick` chooses among the run's slots of `map`
/// (`CONFIG.flow_slots`), `None` when there are none.
#[inline(always)]
fn slot_of<T>(map: &PerCpuArray<T>, pick: impl FnOnce(u32) -> u32) -> Option<*mut T> {
    let slots = global(&CONFIG.flow_slots);
    if slots == 0 {
        return None;
    }
    map.get_ptr_mut(pick(slots))
}

/// Counts a retransmit of `segments` in `counts`, the `[retransmits,
/// segments]` of a slot that belongs to the first key counted in it:
/// `claim` writes the caller's key into a free slot, `holds` says whether
/// a taken one is the caller's. False when it is another's.
///
/// # Safety
///
/// `counts` is in this CPU's copy of an array slot, which nothing else
/// writes while the program runs: it does not run nested in itself on a
/// CPU (the kernel skips, and counts, a recursion). Volatile, in this
/// order, so that userspace, which reads slots with a retransmit counted,
/// never reads a key half written.
#[inline(always)]
unsafe fn count_held(
    counts: *mut [u64; 2],
    segments: u16,
    claim: impl FnOnce(),
    holds: impl FnOnce() -> bool,
) -> bool {
    // SAFETY: see the function's.
    unsafe {
        let retransmits = read_volatile(&raw const (*counts)[0]);
        if retransmits == 0 {
            claim();
        } else if !holds() {
            return false;
        }
        let total = read_volatile(&raw const (*counts)[1]);
        write_volatile(&raw mut (*counts)[1], total + u64::from(segments));
        write_volatile(&raw mut (*counts)[0], retransmits + 1);
    }
    true
}

/// `-G`: counts a retransmit of socket `sk` in the slot its cookie picks on
/// this CPU, reading the socket's cgroup when the socket takes the slot;
/// false when another socket holds the slot, or `sk` has no cookie here.
#[inline(always)]
fn count_in_socket_slot<C: TracepointContext>(sk: u64, segments: u16) -> bool {
    let Some(cookie) = C::socket_cookie(sk) else {
        return false;
    };
    let Some(slot) = slot_of(&SOCKET_SLOTS, |slots| socket_slot(cookie, slots)) else {
        return false;
    };
    let claim = move || {
        let (cgroup, id) =
            socket_cgroup::<C>(sk, &CONFIG.sock.state, &CONFIG.sk_cgroup, &CONFIG.cgroup);
        if cgroup != 0 && !cgroup_named(id) {
            remember_cgroup_at(&CGROUP_NAMES, id, cgroup, &CONFIG.cgroup);
        }
        // SAFETY: as in `count_held`.
        unsafe {
            write_volatile(&raw mut (*slot).cookie, cookie);
            write_volatile(&raw mut (*slot).cgroup, id);
        }
    };
    // SAFETY: this CPU's copy of an array slot (see `count_held`).
    unsafe {
        count_held(&raw mut (*slot).counts, segments, claim, move || {
            read_volatile(&raw const (*slot).cookie) == cookie
        })
    }
}

/// Counts a retransmit of `flow` in its slot on this CPU, unless another
/// flow holds the slot.
#[inline(always)]
fn count_in_slot(flow: &Flow, segments: u16) -> bool {
    let Some(slot) = slot_of(&FLOW_SLOTS, |slots| flow_slot(flow, slots)) else {
        return false;
    };
    // SAFETY: this CPU's copy of an array slot (see `count_held`).
    unsafe {
        count_held(
            &raw mut (*slot).counts,
            segments,
            move || write_volatile(&raw mut (*slot).flow, *flow),
            move || (*slot).flow == *flow,
        )
    }
}

fn on_retransmit<C: TracepointContext>(ctx: &C) -> i32 {
    if global(&CONFIG.has_err_arg) != 0 && ctx_arg(ctx, 2) as i32 != 0 {
        return 0; // the transmit failed: not a retransmit (nor counted by the kernel)
    }
    let sk = ctx_arg(ctx, 0);
    let segments = C::arg_field::<u16>(ctx_arg(ctx, 1), global(&CONFIG.skb_gso_segs))
        .unwrap_or(1)
        .max(1);
    if global(&CONFIG.by_cgroup) != 0 {
        // Before the flow is read: with a cgroup's name on the stack, the
        // flow's endpoints would not fit beside it.
        if family_wanted::<C>(sk) {
            count_for_cgroup::<C>(sk, segments);
        }
        return 0;
    }
    let Some(flow) = flow_of::<C>(sk) else {
        return 0;
    };
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

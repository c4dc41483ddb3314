//! biolatency's eBPF programs: time block requests from issue (or insert,
//! with `-Q`) to completion and record the latency in per-CPU histograms.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use aya_ebpf::{
    bindings::{BPF_EXIST, BPF_F_NO_PREALLOC, BPF_NOEXIST},
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use biolatency_ebpf::{
    Config, Slot, Started, dropped,
    maps::{MAX_HISTS, MAX_IN_FLIGHT, SLOT_BITS},
    slot_index,
};
use toolkit_core::{Hist, LlHist};
use toolkit_kernel::{
    TracepointContext, arg_cgroup_id, atomic, bump, ctx_arg, current_passes, global, hist_entry,
    hist_record, ll_hist_record, map_entry, ns_since, remember_cgroup_at, whole_hist,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

/// Start time of each in-flight request, in the slot its address picks
/// (`slot_index`): claimed at start by an atomic compare-and-swap of its
/// `rq` from 0, freed at completion. An array lookup, where a hash insert
/// and delete per request cost libbpf-tools most of its time.
#[map]
static SLOTS: Array<Slot> = Array::with_max_entries(1 << SLOT_BITS, 0);

/// Start of each in-flight request whose slot another request held, keyed
/// by its address.
#[map]
static START: HashMap<u64, Started> = HashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// How many entries `START` holds.
#[map]
static HASHED: Array<u64> = Array::with_max_entries(1, 0);

/// Requests timed in `START` so far, per CPU.
#[map]
static HASHED_STARTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Histograms keyed by `dev << 32 | cmd_flags` (zero parts when not split).
#[map]
static HISTS: PerCpuHashMap<u64, Hist> = PerCpuHashMap::with_max_entries(MAX_HISTS, 0);

/// The one histogram when not split: a per-CPU array slot, no hash lookup
/// on the completion path.
#[map]
static TOTAL: PerCpuArray<Hist> = PerCpuArray::with_max_entries(1, 0);

/// Log-linear histograms (ns), same keys; allocated per key on first use.
#[map]
static LLHISTS: PerCpuHashMap<u64, LlHist> =
    PerCpuHashMap::with_max_entries(MAX_HISTS, BPF_F_NO_PREALLOC);

/// Requests that completed with an error, keyed by `dev << 32 | status`
/// (the `blk_status_t`); only errored completions touch it.
#[map]
static ERRORS: PerCpuHashMap<u64, u64> = PerCpuHashMap::with_max_entries(MAX_HISTS, 0);

toolkit_kernel::cgroup_split_maps!(dropped::CGROUPS_FULL, dropped::LL_NO_MEMORY);

/// dev_t of the request's disk, as the kernel encodes it (major << 20 | minor).
#[inline(always)]
fn disk_dev<C: TracepointContext>(rq: u64) -> u32 {
    let Some(queue) = C::arg_field::<u64>(rq, global(&CONFIG.off.request_q)) else {
        return 0;
    };
    let Some(disk) = C::arg_field::<u64>(queue, global(&CONFIG.off.queue_disk)) else {
        return 0;
    };
    if disk == 0 {
        return 0;
    }
    let major = C::arg_field::<u32>(disk, global(&CONFIG.off.disk_major)).unwrap_or(0);
    let minor = C::arg_field::<u32>(disk, global(&CONFIG.off.disk_first_minor)).unwrap_or(0);
    major << 20 | minor
}

#[inline(always)]
fn trace_start<C: TracepointContext>(rq: u64, issue: bool) -> i32 {
    if !current_passes(&CONFIG.cgroup_filter) {
        return 0;
    }
    if issue && global(&CONFIG.queued) != 0 {
        // With a scheduler the request was timestamped at insert already.
        let queue = C::arg_field::<u64>(rq, global(&CONFIG.off.request_q)).unwrap_or(0);
        if C::arg_field::<u64>(queue, global(&CONFIG.off.queue_elevator)).unwrap_or(0) != 0 {
            return 0;
        }
    }
    if global(&CONFIG.filter_dev) != 0 && disk_dev::<C>(rq) != global(&CONFIG.target_dev) {
        return 0;
    }
    let (cgroup, cgroup_id) = if global(&CONFIG.per_cgroup) != 0 {
        request_cgroup::<C>(rq)
    } else {
        (0, 0)
    };
    let started = Started {
        // SAFETY: helper without arguments.
        start: unsafe { bpf_ktime_get_ns() },
        cgroup,
        cgroup_id,
    };
    // -Q without a scheduler: a request timestamped at insert (when it went
    // through one) keeps that stamp at issue.
    let keep = issue && global(&CONFIG.queued) != 0;
    // A request is kept in one place from start to completion: in the hash
    // if it is there already, else in its slot, else (the slot held by
    // another request) in the hash.
    if hashed() != 0 && START.get_ptr(rq).is_some() {
        if !keep {
            restamp_hashed(rq, &started);
        }
        return 0;
    }
    let Some(slot) = slot_of::<C>(rq) else {
        hash_start(rq, &started);
        return 0;
    };
    // SAFETY: `holder` is a map value's word, only ever changed atomically.
    match unsafe { atomic::compare_exchange(holder(slot), 0, rq) } {
        // SAFETY: the slot is this request's until its completion frees it.
        Ok(_) => unsafe { write_volatile(&raw mut (*slot).started, started) },
        Err(held) if held == rq => {
            if !keep {
                // A start time already here means that the request last
                // started at this address completed without our completion
                // program being run by the kernel (a requeued request drops
                // its own at block_rq_requeue): count that sample as lost,
                // never silently, and time this one.
                // SAFETY: as above.
                unsafe { write_volatile(&raw mut (*slot).started, started) };
                bump(&DROPPED, dropped::COMPLETION_SKIPPED);
            }
        }
        Err(_) => hash_start(rq, &started),
    }
    0
}

/// The slot `rq`'s address picks (not its driver tag, a cheaper load on
/// `tp_btf`: that the tag holds from issue to completion on every dispatch
/// path is not shown; the address does).
#[inline(always)]
fn slot_of<C: TracepointContext>(rq: u64) -> Option<*mut Slot> {
    SLOTS.get_ptr_mut(slot_index(C::address(rq)?, global(&CONFIG.slot_bits)))
}

/// Keeps the start of a request whose slot is taken in the hash.
#[inline(always)]
fn hash_start(rq: u64, started: &Started) {
    if START.insert(rq, started, BPF_NOEXIST as u64).is_ok() {
        count_hashed(1);
        bump(&HASHED_STARTS, 0);
    } else {
        bump(&DROPPED, dropped::START_FULL); // full (or its bucket busy on this CPU)
    }
}

/// A request restarted while its start time is still in the hash: as for a
/// slot, the completion the kernel skipped is counted lost.
fn restamp_hashed(rq: u64, started: &Started) {
    bump(&DROPPED, dropped::COMPLETION_SKIPPED);
    // Replacing a preallocated hash entry takes a free one: when there is
    // none the old time must not stand for this request either.
    if START.insert(rq, started, BPF_EXIST as u64).is_err() {
        unhash(rq);
        bump(&DROPPED, dropped::START_FULL);
    }
}

/// The word that says which request holds `slot` (0: none), changed only
/// atomically.
#[inline(always)]
fn holder(slot: *mut Slot) -> *mut u64 {
    // SAFETY: a pointer into an array map value, valid while we run.
    unsafe { &raw mut (*slot).rq }
}

/// Entries in the hash: while there are none, a completion whose slot is
/// not its own does not look there.
#[inline(always)]
fn hashed() -> u64 {
    HASHED.get(0).copied().unwrap_or(0)
}

#[inline(always)]
fn count_hashed(delta: u64) {
    if let Some(n) = HASHED.get_ptr_mut(0) {
        // SAFETY: an array map value, changed only atomically.
        unsafe { atomic::add(n, delta) };
    }
}

/// Removes `rq`'s hash entry, if it has one.
#[inline(always)]
fn unhash(rq: u64) {
    if START.remove(rq).is_ok() {
        count_hashed(u64::MAX); // -1
    }
}

/// The start of `rq`, taken out of its slot or the hash; `None` for a
/// request started before tracing, or filtered out.
#[inline(always)]
fn take_start<C: TracepointContext>(rq: u64) -> Option<Started> {
    if let Some(slot) = slot_of::<C>(rq) {
        let holder = holder(slot);
        // SAFETY: a map value's words; the slot is this request's if it
        // holds `rq`, and then no other program writes it until the
        // exchange frees it (fully ordered: the start time is read first).
        unsafe {
            if read_volatile(holder) == rq {
                let start = read_volatile(&raw const (*slot).started);
                if atomic::compare_exchange(holder, rq, 0).is_ok() {
                    return Some(start);
                }
            }
        }
    }
    if hashed() == 0 {
        return None;
    }
    // SAFETY: the value is copied out before the entry is removed.
    let start = unsafe { START.get(rq) }.copied()?;
    unhash(rq);
    Some(start)
}

/// A requeued request is issued again: its first start time goes, as
/// libbpf-tools' overwrite on re-issue would.
fn on_requeue<C: TracepointContext>(ctx: &C) -> i32 {
    let _ = take_start::<C>(rq_arg(ctx));
    0
}

#[inline(always)]
fn trace_done<C: TracepointContext>(rq: u64, status: u8) -> i32 {
    let Some(started) = take_start::<C>(rq) else {
        return 0; // in flight before tracing started, or filtered out
    };
    if status != 0 {
        // Errored requests are counted here and, as in libbpf-tools, still
        // go into the latency histogram below.
        let key = (disk_dev::<C>(rq) as u64) << 32 | status as u64;
        match map_entry(&ERRORS, &key, &ZERO_COUNT) {
            Ok(count) => *count += 1,
            Err(_) => bump(&DROPPED, dropped::ERRORS_FULL),
        }
    }
    let delta = ns_since(started.start);
    if global(&CONFIG.per_cgroup) != 0 {
        record_for_cgroup(&started, delta);
        return 0;
    }
    let mut key = 0u64;
    if global(&CONFIG.per_disk) != 0 {
        key = (disk_dev::<C>(rq) as u64) << 32;
    }
    if global(&CONFIG.per_flag) != 0 {
        key |= C::arg_field::<u32>(rq, global(&CONFIG.off.request_cmd_flags)).unwrap_or(0) as u64;
    }
    let hist = if global(&CONFIG.per_disk) == 0 && global(&CONFIG.per_flag) == 0 {
        whole_hist(&TOTAL)
    } else {
        hist_entry(&HISTS, &key)
    };
    match hist {
        Some(hist) => hist_record(hist, delta, global(&CONFIG.unit_divisor)),
        None => bump(&DROPPED, dropped::HIST_FULL),
    }
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&LLHISTS, &key, delta)
    {
        bump(
            &DROPPED,
            no.reason(dropped::HIST_FULL, dropped::LL_NO_MEMORY),
        );
    }
    0
}

/// The cgroup the kernel charges `rq`'s I/O to (its first bio's blkcg, as
/// `io.stat` / `blkio` count it: buffered writeback is the dirtying
/// cgroup's), and its id; `(0, 0)` for a request without one (a flush).
#[inline(always)]
fn request_cgroup<C: TracepointContext>(rq: u64) -> (u64, u64) {
    let off = &CONFIG.off;
    let cgroup = C::arg_field::<u64>(rq, global(&off.request_bio))
        .filter(|&bio| bio != 0)
        .and_then(|bio| C::arg_field::<u64>(bio, global(&off.bio_blkg)))
        .filter(|&blkg| blkg != 0)
        .and_then(|blkg| C::arg_field::<u64>(blkg, global(&off.blkg_blkcg)))
        .filter(|&blkcg| blkcg != 0)
        .and_then(|blkcg| C::arg_field::<u64>(blkcg, global(&off.blkcg_cgroup)));
    match cgroup {
        Some(cgroup) if cgroup != 0 => (cgroup, arg_cgroup_id::<C>(cgroup, &CONFIG.cgroup)),
        _ => (0, 0),
    }
}

/// `-G`: records `delta` in the histograms of the request's block cgroup,
/// read at its start.
#[inline(always)]
fn record_for_cgroup(started: &Started, delta: u64) {
    let (cgroup, id) = (started.cgroup, started.cgroup_id);
    let maps = split_maps();
    let loglinear = global(&CONFIG.loglinear) != 0;
    if maps.record(id, delta, global(&CONFIG.unit_divisor), loglinear) && cgroup != 0 {
        remember_cgroup_at(&CGROUP_NAMES, id, cgroup, &CONFIG.cgroup);
    }
}

/// All three block_rq tracepoints take the request first.
fn rq_arg<C: TracepointContext>(ctx: &C) -> u64 {
    ctx_arg(ctx, 0)
}

fn on_insert<C: TracepointContext>(ctx: &C) -> i32 {
    trace_start::<C>(rq_arg(ctx), false)
}

fn on_issue<C: TracepointContext>(ctx: &C) -> i32 {
    trace_start::<C>(rq_arg(ctx), true)
}

/// Initial value of a new ERRORS entry.
static ZERO_COUNT: u64 = 0;

fn on_complete<C: TracepointContext>(ctx: &C) -> i32 {
    // block_rq_complete(rq, blk_status_t error, nr_bytes); blk_status_t
    // is a u8.
    trace_done::<C>(rq_arg(ctx), ctx_arg(ctx, 1) as u8)
}

toolkit_kernel::tracepoint_programs!(
    "block_rq_insert",
    block_rq_insert_btf,
    block_rq_insert_raw,
    on_insert
);
toolkit_kernel::tracepoint_programs!(
    "block_rq_issue",
    block_rq_issue_btf,
    block_rq_issue_raw,
    on_issue
);
toolkit_kernel::tracepoint_programs!(
    "block_rq_requeue",
    block_rq_requeue_btf,
    block_rq_requeue_raw,
    on_requeue
);
toolkit_kernel::tracepoint_programs!(
    "block_rq_complete",
    block_rq_complete_btf,
    block_rq_complete_raw,
    on_complete
);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

//! Recording samples: the histograms' map entries (created on first use,
//! or why not), log2 and log-linear recording with per-interval maxima,
//! events sent to a ring buffer, and the per-CPU counters of what could
//! not be recorded.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    macros::map,
    maps::{Array, PerCpuArray, PerCpuHashMap, RingBuf},
};
use toolkit_core::{
    CGROUP_SLOTS, CgroupSlot,
    hist::{Hist, MAX_SLOTS, log2_slot},
    loglinear::{LlHist, loglinear_bin},
};

use crate::atomic::compare_exchange;

/// Interval generation, bumped by userspace after each drain; a histogram
/// whose `generation` differs restarts its `max`.
#[map]
pub static HIST_GENERATION: Array<u64> = Array::with_max_entries(1, 0);

/// Initial value of new histogram entries; a static so that it is not built
/// on the 512-byte eBPF stack.
static ZERO_HIST: Hist = Hist::ZERO;

/// Initial value of new log-linear histograms (8.7 KiB: never on the stack).
pub static ZERO_LL_HIST: LlHist = LlHist::ZERO;

/// The histogram of `key` in `map` (preallocated) for this CPU, created
/// empty on first use. `None` only when the map is full.
#[inline(always)]
pub fn hist_entry<K>(map: &PerCpuHashMap<K, Hist>, key: &K) -> Option<&'static mut Hist> {
    map_entry(map, key, &ZERO_HIST).ok()
}

/// The one histogram of an unsplit run: slot 0 of a per-CPU array, for
/// this CPU (no hash lookup). `None` only if the array is empty.
#[inline(always)]
pub fn whole_hist(array: &PerCpuArray<Hist>) -> Option<&'static mut Hist> {
    // SAFETY: a per-CPU array slot, exclusive to this CPU while we run.
    array.get_ptr_mut(0).map(|hist| unsafe { &mut *hist })
}

/// Why a map entry could not be had, so that the sample lost is counted
/// under its real reason.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NoEntry {
    /// The map holds its maximum number of keys (or the key's bucket was
    /// locked by a program this one interrupted).
    Full,
    /// The kernel had no memory for a new entry: maps that allocate on use
    /// (`BPF_F_NO_PREALLOC`) draw from per-CPU caches that are refilled
    /// asynchronously, and a burst of new keys can empty them.
    NoMemory,
}

impl NoEntry {
    /// The drop-counter index to count the sample under: `full` or
    /// `no_memory`, the tool's indexes for the two reasons.
    #[inline(always)]
    pub fn reason(self, full: u32, no_memory: u32) -> u32 {
        match self {
            Self::Full => full,
            Self::NoMemory => no_memory,
        }
    }
}

const ENOMEM: i64 = 12;

/// The value of `key` in the per-CPU `map` for this CPU, created as `zero`
/// on first use.
#[inline(always)]
#[expect(
    clippy::mut_from_ref,
    reason = "the mutable value is the map's, not `zero`'s: kernel memory, per CPU"
)]
pub fn map_entry<K, V>(
    map: &PerCpuHashMap<K, V>,
    key: &K,
    zero: &'static V,
) -> Result<&'static mut V, NoEntry> {
    let ptr = match map.get_ptr_mut(key) {
        Some(ptr) => ptr,
        None => {
            // Another program on this CPU cannot race us (per-CPU value), but
            // another CPU may have created the key: NOEXIST keeps its data.
            if matches!(map.insert(key, zero, BPF_NOEXIST as u64), Err(e) if e as i64 == -ENOMEM) {
                return Err(NoEntry::NoMemory);
            }
            map.get_ptr_mut(key).ok_or(NoEntry::Full)?
        }
    };
    // SAFETY: a per-CPU map value stays valid for the program's run and no
    // other program instance touches this CPU's copy concurrently.
    Ok(unsafe { &mut *ptr })
}

/// A run's slots ([`CgroupSlot`]): each CPU's values in `values`, and the
/// owner of each slot index, the same on every CPU, in `owners` (one entry
/// per index, as many as `values` has per CPU).
///
/// One owner for all CPUs matters once the hash map behind the slots is
/// full: were each CPU's slot taken by the first key seen on that CPU, a
/// key could hold its slot on one CPU and find it another's on the next,
/// where it would need the full map, and its count would be short with
/// nothing but the run's loss total to say so. With one owner a key is
/// either in its slot on every CPU, or in the hash map (whose keys are
/// every CPU's), or lost on every CPU.
#[derive(Clone, Copy)]
pub struct Slots<'a, V> {
    pub values: &'a PerCpuArray<CgroupSlot<V>>,
    pub owners: &'a Array<u64>,
}

/// Claims slot `index` of `owners` for `owner` (a key plus one) if it is
/// free: `Ok` when taken now, else `Err` with the slot's owner (`owner`
/// when the caller took it before; 0 when `index` is out of the array).
#[inline(always)]
pub fn claim_slot(owners: &Array<u64>, index: u32, owner: u64) -> Result<(), u64> {
    let Some(word) = owners.get_ptr_mut(index) else {
        return Err(0);
    };
    // SAFETY: an array value, 8-byte aligned, only ever written here, by
    // this exchange.
    unsafe { compare_exchange(word, 0, owner) }.map(drop)
}

/// The value of cgroup `id` for this CPU, and whether it is new on this
/// CPU (then the caller keeps the cgroup's name): its slot when the slot
/// is its own or free (taken now for every CPU), else its entry in
/// `overflow`, created as `zero` (new when `empty`). See [`Slots`].
#[inline(always)]
pub fn cgroup_entry<V>(
    slots: Slots<V>,
    overflow: &PerCpuHashMap<u64, V>,
    id: u64,
    zero: &'static V,
    empty: fn(&V) -> bool,
) -> Result<(&'static mut V, bool), NoEntry> {
    slot_entry(
        slots,
        overflow,
        id,
        id as u32 & (CGROUP_SLOTS - 1),
        zero,
        empty,
    )
}

/// [`cgroup_entry`] for any key `id` whose slot is `index` (the caller's
/// spread of its keys over the slots): the slot when it is the key's or
/// free, else the key's entry in `overflow`.
#[inline(always)]
#[expect(
    clippy::mut_from_ref,
    reason = "the mutable value is the maps', not `zero`'s: kernel memory, per CPU"
)]
pub fn slot_entry<V>(
    slots: Slots<V>,
    overflow: &PerCpuHashMap<u64, V>,
    id: u64,
    index: u32,
    zero: &'static V,
    empty: fn(&V) -> bool,
) -> Result<(&'static mut V, bool), NoEntry> {
    let owner = id.wrapping_add(1);
    if let Some(slot) = slots.values.get_ptr_mut(index) {
        // SAFETY: a per-CPU array slot, exclusive to this CPU while we run
        // (as in `map_entry`).
        let slot = unsafe { &mut *slot };
        if slot.owner == owner {
            return Ok((&mut slot.value, false));
        }
        if slot.owner == 0 {
            // First use of the index on this CPU: its owner is the first
            // key of any CPU. This CPU's copy keeps it, so that the next
            // key of another owner goes straight to the hash map.
            slot.owner =
                claim_slot(slots.owners, index, owner).map_or_else(|held| held, |()| owner);
            if slot.owner == owner {
                return Ok((&mut slot.value, true));
            }
        }
    }
    let value = map_entry(overflow, &id, zero)?;
    let new = empty(value);
    Ok((value, new))
}

/// Records one sample: `value` is the raw measurement (ns, bytes) that goes
/// into `sum` and `max`; its log2 bucket is taken of `value / divisor`
/// (1000 for usecs, 1_000_000 for msecs, 1 for raw units).
#[inline(always)]
pub fn hist_record(hist: &mut Hist, value: u64, divisor: u64) {
    // checked_div: a plain `/` would add a panic path, which the verifier
    // rejects (a program must end in an exit).
    hist_record_scaled(hist, value, value.checked_div(divisor).unwrap_or(value));
}

/// [`hist_record`] with `value` already divided into the histogram's unit
/// (`scaled`), for callers that have it without a division.
#[inline(always)]
pub fn hist_record_scaled(hist: &mut Hist, value: u64, scaled: u64) {
    let slot = log2_slot(scaled) & (MAX_SLOTS - 1);
    hist.slots[slot] += 1;
    hist.count += 1;
    hist.sum += value;
    let generation = HIST_GENERATION.get(0).copied().unwrap_or(0);
    if hist.generation != generation {
        hist.generation = generation;
        hist.max = value;
    } else if value > hist.max {
        hist.max = value;
    }
}

/// Records one sample of `value` (nanoseconds, bytes) in a log-linear
/// histogram, with its exact count, sum, and per-interval minimum and
/// maximum.
#[inline(always)]
pub fn ll_record(hist: &mut LlHist, value: u64) {
    if let Some(bin) = hist.bins.get_mut(loglinear_bin(value)) {
        *bin += 1;
    }
    let generation = HIST_GENERATION.get(0).copied().unwrap_or(0);
    if hist.generation != generation || hist.count == 0 {
        hist.generation = generation;
        hist.min = value;
        hist.max = value;
    } else {
        if value > hist.max {
            hist.max = value;
        }
        if value < hist.min {
            hist.min = value;
        }
    }
    hist.count += 1;
    hist.sum += value;
}

/// Records `value` in the log-linear histogram of `key` in `map` (allocated
/// on use), created empty on first use.
#[inline(always)]
pub fn ll_hist_record<K>(
    map: &PerCpuHashMap<K, LlHist>,
    key: &K,
    value: u64,
) -> Result<(), NoEntry> {
    ll_record(map_entry(map, key, &ZERO_LL_HIST)?, value);
    Ok(())
}

/// The maps of a `-G` split: histograms by cgroup id, their log-linear
/// twins, and the object's drop counter with the indexes of its reasons.
pub struct SplitMaps<'a> {
    /// Histograms by cgroup id: the slots first, the hash map for the
    /// cgroups whose slot is taken ([`cgroup_entry`]).
    pub slots: Slots<'a, Hist>,
    pub hists: &'a PerCpuHashMap<u64, Hist>,
    pub loglinear: &'a PerCpuHashMap<u64, LlHist>,
    pub dropped: &'a PerCpuArray<u64>,
    /// Drop reasons: a cgroup past the map's capacity; no kernel memory for
    /// a new log-linear histogram.
    pub full: u32,
    pub no_memory: u32,
}

impl SplitMaps<'_> {
    /// Records `value` (its log2 bucket of `value / divisor`) for cgroup
    /// `id`, and with `loglinear` in its log-linear twin, counting what it
    /// cannot record. True when the cgroup's histogram is new on this CPU:
    /// the caller then keeps the cgroup's name (`remember_cgroup`).
    #[inline(always)]
    pub fn record(&self, id: u64, value: u64, divisor: u64, loglinear: bool) -> bool {
        let Ok((hist, new)) =
            cgroup_entry(self.slots, self.hists, id, &ZERO_HIST, |h| h.count == 0)
        else {
            // Preallocated: the hash map is full.
            bump(self.dropped, self.full);
            return false;
        };
        hist_record(hist, value, divisor);
        if loglinear && let Err(no) = ll_hist_record(self.loglinear, &id, value) {
            bump(self.dropped, no.reason(self.full, self.no_memory));
        }
        new
    }
}

/// Sends one `T` through the ring buffer `ring`, zeroed and then written
/// by `fill`; a full ring buffer is counted in `dropped` under `full`.
#[inline(always)]
pub fn send_event<T: 'static>(
    ring: &RingBuf,
    dropped: &PerCpuArray<u64>,
    full: u32,
    fill: impl FnOnce(&mut T),
) {
    let Some(mut entry) = ring.reserve::<T>(0) else {
        bump(dropped, full);
        return;
    };
    // SAFETY: the reserved record is written whole (zeroed) before `fill`
    // sees it.
    let event = unsafe {
        let event = entry.as_mut_ptr();
        core::ptr::write_bytes(event.cast::<u8>(), 0, core::mem::size_of::<T>());
        &mut *event
    };
    fill(event);
    entry.submit(0);
}

/// Adds one to a per-CPU counter (dropped samples, full maps).
#[inline(always)]
pub fn bump(counter: &aya_ebpf::maps::PerCpuArray<u64>, index: u32) {
    if let Some(ptr) = counter.get_ptr_mut(index) {
        // SAFETY: per-CPU array slot, exclusive to this CPU while we run.
        unsafe { *ptr += 1 };
    }
}

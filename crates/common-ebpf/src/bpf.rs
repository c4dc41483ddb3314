//! Kernel-side helpers shared by the tools' eBPF programs.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::bpf_probe_read_kernel,
    macros::map,
    maps::{Array, PerCpuHashMap},
};

use crate::hist::{Hist, MAX_SLOTS, log2_slot};

/// Interval generation, bumped by userspace after each drain; a histogram
/// whose `generation` differs restarts its `max`.
#[map]
pub static HIST_GENERATION: Array<u64> = Array::with_max_entries(1, 0);

/// Initial value of new histogram entries; a static so that it is not built
/// on the 512-byte eBPF stack.
static ZERO_HIST: Hist = Hist::ZERO;

/// The histogram of `key` in `map` for this CPU, created empty on first use.
/// `None` only when the map is full.
#[inline(always)]
pub fn hist_entry<K>(map: &PerCpuHashMap<K, Hist>, key: &K) -> Option<&'static mut Hist> {
    let ptr = match map.get_ptr_mut(key) {
        Some(ptr) => ptr,
        None => {
            // Another program on this CPU cannot race us (per-CPU value), but
            // another CPU may have created the key: NOEXIST keeps its data.
            let _ = map.insert(key, &ZERO_HIST, BPF_NOEXIST as u64);
            map.get_ptr_mut(key)?
        }
    };
    // SAFETY: a per-CPU map value stays valid for the program's run and no
    // other program instance touches this CPU's copy concurrently.
    Some(unsafe { &mut *ptr })
}

/// Records one sample: `value` is the raw measurement (ns, bytes) that goes
/// into `sum` and `max`; its log2 bucket is taken of `value / divisor`
/// (1000 for usecs, 1_000_000 for msecs, 1 for raw units).
#[inline(always)]
pub fn hist_record(hist: &mut Hist, value: u64, divisor: u64) {
    // checked_div: a plain `/` would add a panic path, which the verifier
    // rejects (a program must end in an exit).
    let scaled = value.checked_div(divisor).unwrap_or(value);
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

/// Reads a `T` at `base + offset` in kernel memory; the offset comes from
/// kernel BTF at load time, which makes the read portable across kernels.
#[inline(always)]
pub fn read_kernel<T>(base: u64, offset: u32) -> Option<T> {
    // SAFETY: bpf_probe_read_kernel checks the address and fails cleanly.
    unsafe { bpf_probe_read_kernel((base + offset as u64) as *const T).ok() }
}

/// Adds one to a per-CPU counter (dropped samples, full maps).
#[inline(always)]
pub fn bump(counter: &aya_ebpf::maps::PerCpuArray<u64>, index: u32) {
    if let Some(ptr) = counter.get_ptr_mut(index) {
        // SAFETY: per-CPU array slot, exclusive to this CPU while we run.
        unsafe { *ptr += 1 };
    }
}

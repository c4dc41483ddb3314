//! Atomic operations on a `u64` in a map value shared between CPUs. The
//! kernel's `BPF_CMPXCHG` and `BPF_ADD` are fully ordered (5.12+ for the
//! exchange); `core::sync::atomic` does not offer them on the bpf target.

use core::intrinsics::{AtomicOrdering::SeqCst, atomic_cxchg, atomic_xadd};

/// Sets `*word` to `new` if it holds `old`: `Ok(old)`, else
/// `Err(what it holds)`.
///
/// # Safety
/// `word` points into a map value, 8-byte aligned, which other programs
/// change only atomically.
#[inline(always)]
pub unsafe fn compare_exchange(word: *mut u64, old: u64, new: u64) -> Result<u64, u64> {
    // SAFETY: as the caller promises.
    match unsafe { atomic_cxchg::<u64, { SeqCst }, { SeqCst }>(word, old, new) } {
        (held, true) => Ok(held),
        (held, false) => Err(held),
    }
}

/// Adds `delta` (wrapping: `u64::MAX` subtracts one) to `*word`.
///
/// # Safety
/// As for [`compare_exchange`].
#[inline(always)]
pub unsafe fn add(word: *mut u64, delta: u64) {
    // SAFETY: as the caller promises.
    unsafe { atomic_xadd::<u64, u64, { SeqCst }>(word, delta) };
}

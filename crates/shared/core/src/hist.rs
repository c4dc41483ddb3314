//! The histogram every latency tool records: log2 buckets plus the exact
//! count, sum and max of its samples.

/// Number of log2 buckets: slot 63 holds values in `[2^63, u64::MAX]`, so no
/// value ever needs clamping.
pub const MAX_SLOTS: usize = 64;

/// Index of the log2 bucket of `v`: `floor(log2(v))`, with 0 and 1 both in
/// slot 0 (the `0 -> 1` row of libbpf-tools' `print_log2_hist`).
///
/// Written as a branchy binary search rather than `leading_zeros` so that the
/// eBPF backend emits a handful of straight-line instructions.
#[inline(always)]
pub const fn log2_slot(v: u64) -> usize {
    let mut v = v;
    let mut r = 0;
    if v >> 32 != 0 {
        v >>= 32;
        r += 32;
    }
    if v >> 16 != 0 {
        v >>= 16;
        r += 16;
    }
    if v >> 8 != 0 {
        v >>= 8;
        r += 8;
    }
    if v >> 4 != 0 {
        v >>= 4;
        r += 4;
    }
    if v >> 2 != 0 {
        v >>= 2;
        r += 2;
    }
    if v >> 1 != 0 {
        r += 1;
    }
    r
}

/// Inclusive value range `[low, high]` of log2 slot `slot`, as libbpf-tools
/// prints it (`0 -> 1`, `2 -> 3`, `4 -> 7`, ...).
pub const fn slot_bounds(slot: usize) -> (u64, u64) {
    if slot == 0 {
        return (0, 1);
    }
    let low = 1u64 << slot;
    (low, low | (low - 1))
}

/// One histogram as stored per CPU in the kernel.
///
/// `slots`, `count` and `sum` only grow, so userspace takes per-interval
/// deltas without ever writing to the map (no lost updates). `max` is reset
/// lazily by the kernel when `generation` differs from the interval
/// generation userspace publishes, so it is the exact maximum of the current
/// interval.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Hist {
    /// Sample counts per log2 bucket of the value in display units.
    pub slots: [u64; MAX_SLOTS],
    /// Number of samples.
    pub count: u64,
    /// Sum of the raw sample values (nanoseconds, bytes, ...).
    pub sum: u64,
    /// Largest raw sample value seen in interval `generation`.
    pub max: u64,
    /// Interval generation that `max` belongs to.
    pub generation: u64,
}

crate::aya_pod!(Hist);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_boundaries() {
        assert_eq!(log2_slot(0), 0);
        assert_eq!(log2_slot(1), 0);
        assert_eq!(log2_slot(2), 1);
        assert_eq!(log2_slot(3), 1);
        assert_eq!(log2_slot(4), 2);
        assert_eq!(log2_slot(7), 2);
        assert_eq!(log2_slot(8), 3);
        for k in 1..64 {
            assert_eq!(log2_slot((1u64 << k) - 1), k - 1, "2^{k}-1");
            assert_eq!(log2_slot(1u64 << k), k, "2^{k}");
        }
        assert_eq!(log2_slot(u64::MAX), 63);
    }

    #[test]
    fn slot_matches_leading_zeros() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x >> (x % 64);
            let want = if v == 0 {
                0
            } else {
                63 - v.leading_zeros() as usize
            };
            assert_eq!(log2_slot(v), want, "v={v}");
        }
    }

    #[test]
    fn bounds_cover_the_slot() {
        for slot in 0..MAX_SLOTS {
            let (low, high) = slot_bounds(slot);
            assert_eq!(log2_slot(high), slot);
            if slot > 0 {
                assert_eq!(log2_slot(low), slot);
                assert_eq!(log2_slot(low - 1), slot - 1);
            }
        }
        assert_eq!(slot_bounds(63).1, u64::MAX);
    }
}

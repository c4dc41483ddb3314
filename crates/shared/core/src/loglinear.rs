//! Log-linear histograms, compatible with circllhist (OpenHistogram): a
//! value `v` in `[10^e, 10^(e+1))` lands in the bin of its first two
//! significant digits `d` (10..=99), `[d * 10^(e-1), (d+1) * 10^(e-1))`: 90
//! bins per decade, each at most 10% wide. The same code bins in the kernel
//! and in the host tests.

/// Decades kept: values from 1 to 10^12 (nanoseconds: up to 16 minutes);
/// larger ones go to the overflow bin.
pub const LL_DECADES: usize = 12;

/// Bin 0 holds zero, bins `1 + 90 * e + (d - 10)` the decades, and the last
/// bin everything at or above `10^LL_DECADES`.
pub const LL_BINS: usize = 2 + 90 * LL_DECADES;

/// Index of the overflow bin.
pub const LL_OVERFLOW: usize = LL_BINS - 1;

const POW10: [u64; LL_DECADES + 1] = {
    let mut p = [1u64; LL_DECADES + 1];
    let mut i = 1;
    while i <= LL_DECADES {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// The log-linear bin of `v`. Free of panics (and of division by a value
/// the verifier cannot bound): the decade is found by comparisons, the two
/// digits by one division by a power of ten.
#[inline(always)]
pub const fn loglinear_bin(v: u64) -> usize {
    if v == 0 {
        return 0;
    }
    if v >= POW10[LL_DECADES] {
        return LL_OVERFLOW;
    }
    let mut e = 0;
    while e + 1 < LL_DECADES && POW10[e + 1] <= v {
        e += 1;
    }
    let digits = if e == 0 {
        v * 10
    } else {
        match v.checked_div(POW10[e - 1]) {
            Some(d) => d,
            None => 10,
        }
    };
    1 + 90 * e + (digits as usize - 10)
}

/// The bin of index `bin` as circllhist names it: its two significant
/// digits (10..=99) and its decade `e`, so that it spans
/// `[digits, digits + 1) * 10^(e-1)`. `None` for the zero and overflow bins.
pub const fn loglinear_digits(bin: usize) -> Option<(u64, i16)> {
    if bin == 0 || bin >= LL_OVERFLOW {
        return None;
    }
    let i = bin - 1;
    Some(((i % 90) as u64 + 10, (i / 90) as i16))
}

/// Lower and upper (exclusive) bounds of bin `bin`, as real numbers.
pub fn loglinear_bounds(bin: usize) -> (f64, f64) {
    match loglinear_digits(bin) {
        None if bin == 0 => (0.0, 0.0),
        None => (POW10[LL_DECADES] as f64, f64::INFINITY),
        Some((digits, e)) => {
            let unit = POW10[e as usize] as f64 / 10.0;
            (digits as f64 * unit, (digits + 1) as f64 * unit)
        }
    }
}

/// The samples of a log-linear histogram at or above a threshold, as
/// exactly as the bins can say: `count` in the bins wholly at or above it,
/// and `straddling` in the bin holding it when the threshold is not that
/// bin's lower edge (each of those may be on either side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Above {
    pub count: u64,
    pub straddling: u64,
    /// The bin holding the threshold.
    pub bin: usize,
}

/// The samples among `bins` at or above `threshold` (raw units). Exact
/// when the threshold is a bin's lower edge (two significant digits:
/// 10 ms, 2.5 ms, 150 us), otherwise within the one bin that holds it.
pub fn above(bins: &[u64; LL_BINS], threshold: u64) -> Above {
    let bin = loglinear_bin(threshold);
    let on_edge = threshold == 0 || loglinear_bounds(bin).0 == threshold as f64;
    let higher: u64 = bins[bin + 1..].iter().sum();
    match on_edge {
        true => Above {
            count: higher + bins[bin],
            straddling: 0,
            bin,
        },
        false => Above {
            count: higher,
            straddling: bins[bin],
            bin,
        },
    }
}

/// A log-linear histogram as stored per CPU in the kernel, with the exact
/// count, sum, minimum and maximum of its samples (minimum and maximum per
/// interval, reset through `generation` as [`crate::Hist`]'s maximum is).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LlHist {
    pub bins: [u64; LL_BINS],
    pub count: u64,
    pub sum: u64,
    pub min: u64,
    pub max: u64,
    pub generation: u64,
}

crate::aya_pod!(LlHist);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_overflow() {
        assert_eq!(loglinear_bin(0), 0);
        assert_eq!(loglinear_bin(1_000_000_000_000), LL_OVERFLOW);
        assert_eq!(loglinear_bin(u64::MAX), LL_OVERFLOW);
        assert_eq!(loglinear_bin(999_999_999_999), LL_OVERFLOW - 1);
    }

    #[test]
    fn two_significant_digits() {
        // 3071 ns: decade 3, digits 30: [3000, 3100).
        assert_eq!(loglinear_digits(loglinear_bin(3071)), Some((30, 3)));
        assert_eq!(loglinear_bounds(loglinear_bin(3071)), (3000.0, 3100.0));
        // Single digits: exact, in [v, v + 0.1).
        assert_eq!(loglinear_digits(loglinear_bin(7)), Some((70, 0)));
        assert_eq!(loglinear_bounds(loglinear_bin(7)).0, 7.0);
    }

    /// Values at and around every power of ten land in the bin whose bounds
    /// hold them, and bins follow each other without gaps.
    #[test]
    fn round_trip_around_powers_of_ten() {
        for e in 0..LL_DECADES as u32 {
            let p = 10u64.pow(e);
            for v in [
                p.saturating_sub(1),
                p,
                p + 1,
                2 * p - 1,
                5 * p + 3,
                10 * p - 1,
            ] {
                if v == 0 {
                    continue;
                }
                let bin = loglinear_bin(v);
                let (low, high) = loglinear_bounds(bin);
                assert!(
                    low <= v as f64 && (v as f64) < high,
                    "{v} in bin {bin} [{low}, {high})"
                );
            }
        }
        for bin in 1..LL_OVERFLOW - 1 {
            assert_eq!(
                loglinear_bounds(bin).1,
                loglinear_bounds(bin + 1).0,
                "{bin}"
            );
        }
    }

    #[test]
    fn every_bin_at_most_ten_percent_wide() {
        for bin in 1..LL_OVERFLOW {
            let (low, high) = loglinear_bounds(bin);
            assert!(
                (high - low) / low <= 0.1 + 1e-12,
                "bin {bin}: [{low}, {high})"
            );
        }
    }

    #[test]
    fn bins_are_monotonic() {
        let mut last = 0;
        for v in (1..2_000_000u64).step_by(7) {
            let bin = loglinear_bin(v);
            assert!(bin >= last, "{v}");
            last = bin;
        }
    }

    #[test]
    fn above_a_threshold() {
        let mut bins = [0u64; LL_BINS];
        for (v, n) in [
            (0u64, 1u64),
            (9_990_000, 2),
            (10_000_000, 3),
            (10_050_000, 4),
            (20_000_000, 5),
        ] {
            bins[loglinear_bin(v)] += n;
        }
        // 10 ms is the lower edge of [10, 11) ms: exact.
        let edge = above(&bins, 10_000_000);
        assert_eq!((edge.count, edge.straddling), (12, 0));
        // 10.05 ms is inside [10, 11) ms: 5 surely above, 7 in that bin.
        let inside = above(&bins, 10_050_000);
        assert_eq!((inside.count, inside.straddling), (5, 7));
        assert_eq!(loglinear_bounds(inside.bin), (10_000_000.0, 11_000_000.0));
        assert_eq!(above(&bins, 0).count, 15);
        assert_eq!(above(&bins, 1).count, 14);
        assert_eq!(
            above(&bins, u64::MAX),
            Above {
                count: 0,
                straddling: 0,
                bin: LL_OVERFLOW
            }
        );
    }

    /// circllhist's own binning (the openhistogram crate) agrees.
    #[test]
    fn same_bins_as_openhistogram() {
        for v in [
            1u64,
            9,
            10,
            11,
            99,
            100,
            101,
            3071,
            65_536,
            999_999,
            123_456_789,
        ] {
            let (digits, e) = loglinear_digits(loglinear_bin(v)).unwrap();
            let ours = openhistogram::Bin::from_int_scale(digits as i128, e - 1);
            let theirs = openhistogram::Bin::from_int_scale(v as i128, 0);
            assert_eq!(ours.left(), theirs.left(), "{v}");
            assert_eq!(ours.width(), theirs.width(), "{v}");
        }
    }
}

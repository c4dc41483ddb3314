//! Native histograms: the log-linear bins as Prometheus' sparse exponential
//! buckets, and the whole exposition in Prometheus' protobuf format
//! (`io.prometheus.client.MetricFamily`, length-delimited), the only format
//! that carries native histograms to Prometheus 2.x.
//!
//! ## The mapping, and its error
//!
//! A native histogram of schema `s` has buckets `(2^((i-1)/2^s), 2^(i/2^s)]`.
//! The log-linear bins are decimal (`[d, d+1) x 10^(e-1)`, 1% to 10% wide)
//! and never line up with them. At [`SCHEMA`] 8, the finest Prometheus
//! has, a bucket is 0.27% wide: less than half of the narrowest bin (1%).
//! Each bin's whole count goes into the one bucket holding the bin's
//! midpoint, and that bucket lies strictly inside the bin. So:
//!
//! - every bin is its own bucket: the native histogram has exactly the
//!   tool's resolution, and no more buckets than the tool has non-empty bins;
//! - `histogram_quantile` lands inside the log-linear bin holding the
//!   sample of that rank, as the tool's own percentile does: the two differ
//!   by less than that bin's width (at most 10%, 1% for values whose first
//!   two digits are 90 to 99);
//! - `histogram_fraction` at a bin's edge is exact: no bucket straddles an
//!   edge.
//!
//! Zero values go to the zero bucket, values at or past the bins' end
//! (`10^12` raw units) to the bucket just above that bound.

use std::collections::BTreeMap;

use prost::Message as _;
use toolkit_core::{
    LlHist,
    loglinear::{LL_BINS, LL_OVERFLOW, loglinear_bounds},
};

use super::{CounterFamily, GaugeFamily, HistFamily, Totals};

/// The native histograms' schema: buckets `2^(2^-8)` (0.27%) wide.
pub const SCHEMA: i32 = 8;

/// The zero bucket's width: Prometheus' clients' default (2^-128). No
/// measured value is between 0 and one raw unit (1 ns, 1 byte).
const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// The cumulative log-linear counts of one histogram: its non-empty bins,
/// and the count and sum of its samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bins {
    pub bins: BTreeMap<u16, u64>,
    pub count: u64,
    pub sum: u64,
}

impl Bins {
    /// Adds one interval's histogram.
    pub fn add(&mut self, ll: &LlHist) {
        for (bin, &n) in ll.bins.iter().enumerate().filter(|(_, n)| **n != 0) {
            *self.bins.entry(bin as u16).or_insert(0) += n;
        }
        self.count += ll.count;
        self.sum += ll.sum;
    }
}

/// The native bucket (schema [`SCHEMA`]) holding `value`, a positive
/// number: the `i` with `2^((i-1)/256) < value <= 2^(i/256)`.
pub fn bucket_of(value: f64) -> i32 {
    let per_octave = f64::from(1u32 << SCHEMA);
    let mut i = (value.log2() * per_octave).ceil() as i32;
    // log2 rounds: step to the bucket whose bounds hold `value`.
    while upper_bound(i) < value {
        i += 1;
    }
    while upper_bound(i - 1) >= value {
        i -= 1;
    }
    i
}

/// The upper (inclusive) bound of native bucket `i`.
pub fn upper_bound(i: i32) -> f64 {
    (f64::from(i) / f64::from(1u32 << SCHEMA)).exp2()
}

/// The native bucket of log-linear bin `bin` (not the zero bin), values
/// being raw units times `scale` (1e-9 for nanoseconds in seconds).
pub fn bucket_of_bin(bin: usize, scale: f64) -> i32 {
    let (low, high) = loglinear_bounds(bin);
    if bin >= LL_OVERFLOW {
        return bucket_of(low * scale) + 1;
    }
    bucket_of((low + high) / 2.0 * scale)
}

/// `bins` as native buckets: the zero count, then (bucket index, count)
/// in increasing index order.
fn native_buckets(bins: &Bins, scale: f64) -> (u64, Vec<(i32, u64)>) {
    let mut zero = 0;
    let mut buckets = Vec::with_capacity(bins.bins.len());
    for (&bin, &n) in &bins.bins {
        let bin = usize::from(bin);
        if bin == 0 {
            zero += n;
        } else if bin < LL_BINS {
            buckets.push((bucket_of_bin(bin, scale), n));
        }
    }
    (zero, buckets)
}

/// Prometheus' `Histogram` message for these bins: sparse spans of
/// consecutive buckets, and each bucket's count as the difference from the
/// one before.
fn histogram(bins: &Bins, scale: f64, raw_per_base: f64) -> proto::Histogram {
    let (zero, buckets) = native_buckets(bins, scale);
    let mut spans: Vec<proto::BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(buckets.len());
    let mut next = None::<i32>;
    let mut previous = 0i64;
    for (index, n) in buckets {
        match next {
            Some(expected) if expected == index => {
                if let Some(span) = spans.last_mut() {
                    span.length = Some(span.length.unwrap_or(0) + 1);
                }
            }
            _ => spans.push(proto::BucketSpan {
                offset: Some(index - next.unwrap_or(0)),
                length: Some(1),
            }),
        }
        next = Some(index + 1);
        deltas.push(n as i64 - previous);
        previous = n as i64;
    }
    if spans.is_empty() {
        // No sample yet: one empty span, so that the histogram is native.
        spans.push(proto::BucketSpan {
            offset: Some(0),
            length: Some(0),
        });
    }
    proto::Histogram {
        sample_count: Some(bins.count),
        sample_sum: Some(bins.sum as f64 / raw_per_base),
        bucket: Vec::new(),
        schema: Some(SCHEMA),
        zero_threshold: Some(ZERO_THRESHOLD),
        zero_count: Some(zero),
        positive_span: spans,
        positive_delta: deltas,
    }
}

/// The classic histogram (log2 buckets) of a series with no log-linear
/// totals, as the text exposition has it.
fn classic(totals: &Totals, bucket_scale: f64, raw_per_base: f64) -> proto::Histogram {
    let mut cumulative = 0;
    let bucket = (0..super::BUCKETS)
        .map(|slot| {
            cumulative += totals.log2.slots[slot];
            proto::Bucket {
                cumulative_count: Some(cumulative),
                upper_bound: Some((1u64 << (slot + 1)) as f64 * bucket_scale),
            }
        })
        .collect();
    proto::Histogram {
        sample_count: Some(totals.log2.count),
        sample_sum: Some(totals.log2.sum as f64 / raw_per_base),
        bucket,
        ..Default::default()
    }
}

fn labels(names: &[&str], values: &[String]) -> Vec<proto::LabelPair> {
    names
        .iter()
        .zip(values)
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| proto::LabelPair {
            name: Some((*name).to_string()),
            value: Some(value.clone()),
        })
        .collect()
}

/// The families in Prometheus' delimited protobuf format.
pub(super) fn encode(
    histograms: &BTreeMap<String, HistFamily>,
    counters: &BTreeMap<String, CounterFamily>,
    gauges: &BTreeMap<String, GaugeFamily>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, family) in histograms {
        let (raw_per_base, bucket_scale) = family.scales();
        let metric = family
            .totals
            .iter()
            .map(|(values, totals)| proto::Metric {
                label: labels(&family.labels, values),
                histogram: Some(match &totals.bins {
                    Some(bins) => histogram(bins, 1.0 / raw_per_base, raw_per_base),
                    None => classic(totals, bucket_scale, raw_per_base),
                }),
                ..Default::default()
            })
            .collect();
        push(
            &mut out,
            name.clone(),
            family.help,
            proto::HISTOGRAM,
            metric,
        );
    }
    for (name, family) in counters {
        let metric = family
            .totals
            .iter()
            .map(|(values, total)| proto::Metric {
                label: labels(&family.labels, values),
                counter: Some(proto::Value {
                    value: Some(family.value(*total)),
                }),
                ..Default::default()
            })
            .collect();
        // The sample's name, as the text format's `_total` line has it.
        push(
            &mut out,
            format!("{name}_total"),
            family.help,
            proto::COUNTER,
            metric,
        );
    }
    for (name, family) in gauges {
        let metric = family
            .values
            .iter()
            .map(|(values, value)| proto::Metric {
                label: labels(family.labels, values),
                gauge: Some(proto::Value {
                    value: Some(*value),
                }),
                ..Default::default()
            })
            .collect();
        push(&mut out, name.clone(), family.help, proto::GAUGE, metric);
    }
    out
}

fn push(out: &mut Vec<u8>, name: String, help: &str, kind: i32, metric: Vec<proto::Metric>) {
    let family = proto::MetricFamily {
        name: Some(name),
        help: Some(help.to_string()),
        r#type: Some(kind),
        metric,
    };
    // Writing into a Vec cannot fail.
    let _ = family.encode_length_delimited(out);
}

/// The messages of Prometheus' `metrics.proto` (package
/// `io.prometheus.client`) that the exposition uses, with their field
/// numbers.
pub(super) mod proto {
    pub const COUNTER: i32 = 0;
    pub const GAUGE: i32 = 1;
    pub const HISTOGRAM: i32 = 4;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub help: Option<String>,
        #[prost(int32, optional, tag = "3")]
        pub r#type: Option<i32>,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "2")]
        pub gauge: Option<Value>,
        #[prost(message, optional, tag = "3")]
        pub counter: Option<Value>,
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub value: Option<String>,
    }

    /// `Gauge` and `Counter` alike: one double, field 1.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        #[prost(double, optional, tag = "1")]
        pub value: Option<f64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, optional, tag = "1")]
        pub sample_count: Option<u64>,
        #[prost(double, optional, tag = "2")]
        pub sample_sum: Option<f64>,
        #[prost(message, repeated, tag = "3")]
        pub bucket: Vec<Bucket>,
        #[prost(sint32, optional, tag = "5")]
        pub schema: Option<i32>,
        #[prost(double, optional, tag = "6")]
        pub zero_threshold: Option<f64>,
        #[prost(uint64, optional, tag = "7")]
        pub zero_count: Option<u64>,
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "13")]
        pub positive_delta: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bucket {
        #[prost(uint64, optional, tag = "1")]
        pub cumulative_count: Option<u64>,
        #[prost(double, optional, tag = "2")]
        pub upper_bound: Option<f64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, optional, tag = "1")]
        pub offset: Option<i32>,
        #[prost(uint32, optional, tag = "2")]
        pub length: Option<u32>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolkit_core::loglinear::{LL_OVERFLOW, loglinear_bin};

    /// Every bin's bucket lies strictly inside the bin, and no two bins
    /// share a bucket: the stated error bound's premise, for every bin
    /// in nanoseconds-as-seconds and in bytes.
    #[test]
    fn each_bin_is_one_bucket_inside_it() {
        for scale in [1e-9, 1.0] {
            let mut last = i32::MIN;
            for bin in 1..LL_OVERFLOW {
                let (low, high) = loglinear_bounds(bin);
                let i = bucket_of_bin(bin, scale);
                assert!(i > last, "bin {bin}: bucket {i} after {last}");
                last = i;
                let (lower, upper) = (upper_bound(i - 1), upper_bound(i));
                assert!(
                    lower > low * scale && upper < high * scale,
                    "bin {bin} [{low}, {high}) x {scale}: bucket {i} ({lower}, {upper}]"
                );
            }
            assert!(bucket_of_bin(LL_OVERFLOW, scale) > last);
        }
    }

    #[test]
    fn bucket_bounds_hold_the_value() {
        for v in [1e-9, 1.5e-9, 1e-3, 0.0107, 1.0, 2.0, 3.0, 1000.0] {
            let i = bucket_of(v);
            assert!(upper_bound(i - 1) < v && v <= upper_bound(i), "{v}: {i}");
        }
        // Powers of two are upper bounds: 1 is bucket 0's, 2 bucket 256's.
        assert_eq!(bucket_of(1.0), 0);
        assert_eq!(bucket_of(2.0), 256);
    }

    /// Spans and deltas: consecutive buckets share a span, gaps open one
    /// at the gap's offset, counts are differences.
    #[test]
    fn spans_and_deltas() {
        let mut ll = LlHist::ZERO;
        // Bins 10-11 us and 11-12 us (consecutive bins, not consecutive
        // buckets), 0 ns twice, and 20-21 ms.
        for (v, n) in [(10_500u64, 3u64), (11_500, 5), (0, 2), (20_500_000, 1)] {
            ll.bins[loglinear_bin(v)] += n;
            ll.count += n;
            ll.sum += v * n;
        }
        let mut bins = Bins::default();
        bins.add(&ll);
        bins.add(&ll);
        let h = histogram(&bins, 1e-9, 1e9);
        assert_eq!(h.sample_count, Some(22));
        assert_eq!(h.zero_count, Some(4));
        assert_eq!(h.schema, Some(8));
        assert_eq!(h.positive_delta, vec![6, 4, -8]);
        let first = bucket_of(10.5e-6);
        let second = bucket_of(11.5e-6);
        let third = bucket_of(20.5e-3);
        let offsets: Vec<i32> = h.positive_span.iter().map(|s| s.offset.unwrap()).collect();
        assert_eq!(offsets, vec![first, second - first - 1, third - second - 1]);
        assert!(h.positive_span.iter().all(|s| s.length == Some(1)));
        let total = 1e-9 * (2.0 * (10_500.0 * 3.0 + 11_500.0 * 5.0 + 20_500_000.0));
        assert!((h.sample_sum.unwrap() - total).abs() < 1e-12);
    }

    #[test]
    fn an_empty_histogram_is_still_native() {
        let h = histogram(&Bins::default(), 1e-9, 1e9);
        assert_eq!(h.positive_span.len(), 1);
        assert_eq!(h.positive_span[0].length, Some(0));
        assert_eq!(h.sample_count, Some(0));
    }
}

//! The histograms of the toolkit, shared by the kernel and userspace halves
//! of every tool: their memory layout (the kernel writes it, userspace reads
//! it from maps) and the bucketing math. `no_std`, so that the eBPF programs
//! and the unit tests run the very same code.
#![cfg_attr(not(test), no_std)]

/// Name of the interval generation map (an `Array<u64>` of one entry) in
/// every object that records histograms: userspace's interval clock
/// advances it after each interval, the kernel stamps samples with it.
pub const INTERVAL_GENERATION_MAP: &str = "HIST_GENERATION";

/// Name of the per-CPU `u64` array in every object that counts what the
/// kernel side could not record, one index per reason (the reasons are
/// named in each tool's eBPF crate).
pub const DROPPED_MAP: &str = "DROPPED";

pub mod hist;
pub mod loglinear;

pub use hist::{Hist, MAX_SLOTS, log2_slot};
pub use loglinear::{LL_BINS, LlHist, loglinear_bin};

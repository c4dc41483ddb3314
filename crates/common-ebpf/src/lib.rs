//! Shared by every tool of the toolkit, in the kernel and in userspace.
//!
//! The core (histogram layout and bucketing math) is `no_std` and compiles
//! for both `bpfel-unknown-none` and the host, so the kernel and the unit
//! tests run the very same code. Kernel-side helpers live in [`bpf`]; the
//! userspace half (loading, attaching, the interval loop, printers) lives in
//! [`user`] behind the `user` feature.
#![cfg_attr(not(any(feature = "user", feature = "build", test)), no_std)]

pub mod hist;
pub mod loglinear;

#[cfg(target_arch = "bpf")]
pub mod bpf;

#[cfg(feature = "user")]
pub mod user;

#[cfg(feature = "build")]
pub mod build;

pub use hist::{Hist, MAX_SLOTS, log2_slot};
pub use loglinear::{LL_BINS, LlHist, loglinear_bin};

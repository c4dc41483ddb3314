//! Kernel-side helpers shared by the tools' eBPF programs, one module per
//! concept: reading arguments and kernel memory ([`context`]), recording
//! samples into the histograms of `toolkit-core` ([`record`]), atomics
//! ([`atomic`]), cgroups ([`cgroup`]), task filters and storage
//! ([`task`]), syscall timing
//! ([`syscall`]); here, the configuration's reads, the clock and the
//! tracepoint program pairs. Compiled for `bpfel-unknown-none` only; empty
//! on the host.
#![no_std]
#![cfg(target_arch = "bpf")]
// The atomic read-modify-write instructions the kernel has (`BPF_ATOMIC`),
// which `core::sync::atomic` does not offer on the bpf target.
#![feature(core_intrinsics)]
#![allow(internal_features)]

use aya_ebpf::helpers::bpf_ktime_get_ns;

pub mod atomic;
pub mod cgroup;
pub mod context;
pub mod record;
pub mod span;
pub mod syscall;
pub mod task;

pub use cgroup::*;
pub use context::*;
pub use record::*;
pub use span::*;
pub use syscall::*;
pub use task::*;

/// Reads a load-time global (filter, unit, field offset). Volatile, so the
/// value set by userspace before load is read rather than the compile-time
/// default being folded in.
#[inline(always)]
pub fn global<T: Copy>(v: &T) -> T {
    // SAFETY: v is a valid reference to a static.
    unsafe { core::ptr::read_volatile(v) }
}

/// Argument `n` of a `tp_btf` or `raw_tp` program: both contexts are arrays
/// of u64 arguments.
#[inline(always)]
pub fn ctx_arg<C: aya_ebpf::EbpfContext>(ctx: &C, n: usize) -> u64 {
    // SAFETY: tracepoint contexts hold at least n + 1 arguments; callers
    // pass indexes within the tracepoint's prototype.
    unsafe { *(ctx.as_ptr() as *const u64).add(n) }
}

/// Nanoseconds from `start`, a `bpf_ktime_get_ns()` reading, to now. The
/// start may have been read on another CPU (a task migrated, a request
/// completed elsewhere) whose clock reads a little ahead: such an interval
/// counts as 0, a sample like any other, never one dropped unseen.
#[inline(always)]
pub fn ns_since(start: u64) -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_ktime_get_ns() }.saturating_sub(start)
}

/// The panic handler of every tool's eBPF object. Programs must not have
/// panic paths at all (the verifier rejects code that does not end in an
/// exit); this only satisfies `no_std`.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Declares what every tool's object has: `CONFIG`, its `$config`
/// (`DEFAULT` until userspace sets it before load), and `DROPPED`, the
/// per-CPU counts of what could not be recorded, one per `$reasons` (the
/// tool's `dropped::REASONS`).
#[macro_export]
macro_rules! object_globals {
    ($config:ty, $reasons:expr) => {
        /// Set by userspace before load (see `Config`).
        #[unsafe(no_mangle)]
        static CONFIG: $config = <$config>::DEFAULT;

        /// What could not be recorded, by drop reason (`dropped`).
        #[aya_ebpf::macros::map]
        static DROPPED: aya_ebpf::maps::PerCpuArray<u64> =
            aya_ebpf::maps::PerCpuArray::with_max_entries($reasons.len() as u32, 0);
    };
}

/// Declares the maps of a histogram tool's `-G` split (its slots,
/// `CGROUPS`, `CGROUPS_LL` and `CGROUP_NAMES`, sized by userspace) and
/// `split_maps()`, their [`SplitMaps`] with the object's `DROPPED` counter
/// and the indexes of its reasons for a full map (`$full`) and for no
/// memory for a log-linear histogram (`$no_memory`).
#[macro_export]
macro_rules! cgroup_split_maps {
    ($full:expr, $no_memory:expr) => {
        // `-G`: histograms by cgroup id, in slots first...
        $crate::cgroup_slot_maps!(toolkit_core::Hist);

        /// Then the hash map, for cgroups whose slot is another's.
        #[aya_ebpf::macros::map]
        static CGROUPS: aya_ebpf::maps::PerCpuHashMap<u64, toolkit_core::Hist> =
            aya_ebpf::maps::PerCpuHashMap::with_max_entries(1, 0);

        /// Their log-linear twins, with --percentiles.
        #[aya_ebpf::macros::map]
        static CGROUPS_LL: aya_ebpf::maps::PerCpuHashMap<u64, toolkit_core::LlHist> =
            aya_ebpf::maps::PerCpuHashMap::with_max_entries(
                1,
                aya_ebpf::bindings::BPF_F_NO_PREALLOC,
            );

        /// Each cgroup's name, for one removed before userspace reads it.
        #[aya_ebpf::macros::map]
        static CGROUP_NAMES: aya_ebpf::maps::HashMap<u64, toolkit_core::CgroupLeaf> =
            aya_ebpf::maps::HashMap::with_max_entries(1, 0);

        /// The split's maps, for [`SplitMaps::record`].
        #[inline(always)]
        fn split_maps() -> $crate::SplitMaps<'static> {
            $crate::SplitMaps {
                slots: cgroup_slots(),
                hists: &CGROUPS,
                loglinear: &CGROUPS_LL,
                dropped: &DROPPED,
                full: $full,
                no_memory: $no_memory,
            }
        }
    };
}

/// Declares a `-G` split's slots of `$value` (`CGROUP_SLOTS` and
/// `CGROUP_OWNERS`, sized 1 unless -G; see `toolkit_core::CgroupSlot`)
/// and `cgroup_slots()`, the two as [`Slots`].
#[macro_export]
macro_rules! cgroup_slot_maps {
    ($value:ty) => {
        /// `-G`: values by cgroup id, each CPU's, in the slot of the
        /// index that the cgroup owns...
        #[aya_ebpf::macros::map]
        static CGROUP_SLOTS: aya_ebpf::maps::PerCpuArray<toolkit_core::CgroupSlot<$value>> =
            aya_ebpf::maps::PerCpuArray::with_max_entries(1, 0);

        /// ...for every CPU: each index's owner, the cgroup's id plus one.
        #[aya_ebpf::macros::map]
        static CGROUP_OWNERS: aya_ebpf::maps::Array<u64> =
            aya_ebpf::maps::Array::with_max_entries(1, 0);

        /// The split's slots, for [`cgroup_entry`]($crate::cgroup_entry).
        #[inline(always)]
        fn cgroup_slots() -> $crate::Slots<'static, $value> {
            $crate::Slots {
                values: &CGROUP_SLOTS,
                owners: &CGROUP_OWNERS,
            }
        }
    };
}

/// Defines the pair of programs for one tracepoint that every tool ships:
/// `$btf_name` (`tp_btf`) and `$raw_name` (`raw_tp`), both calling
/// `$handler(&ctx)`, which reads its arguments with [`ctx_arg`] and so works
/// with either context. Userspace picks one per run (`attach_tracepoints`).
#[macro_export]
macro_rules! tracepoint_programs {
    ($tracepoint:literal, $btf_name:ident, $raw_name:ident, $handler:path) => {
        #[aya_ebpf::macros::btf_tracepoint(function = $tracepoint)]
        pub fn $btf_name(ctx: aya_ebpf::programs::BtfTracePointContext) -> i32 {
            $handler(&ctx)
        }

        #[aya_ebpf::macros::raw_tracepoint(tracepoint = $tracepoint)]
        pub fn $raw_name(ctx: aya_ebpf::programs::RawTracePointContext) -> i32 {
            $handler(&ctx)
        }
    };
}

#![no_std]
//! The contract between biolatency's two halves: its configuration, map
//! names and drop reasons. The programs are in the `biolatency` binary
//! target of this crate; userspace is `crates/biolatency`.

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`: the verifier sees it as constants and prunes the
/// branches of options that are off.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// Raw units (ns) per histogram unit: 1000 for usecs, 1_000_000 for
    /// msecs.
    pub unit_divisor: u64,
    /// `-c`: only I/O issued by tasks in the cgroup (or below it).
    pub cgroup_filter: toolkit_core::CgroupMatch,
    /// `-d`: only this disk (its dev_t, `major << 20 | minor`).
    pub filter_dev: u32,
    pub target_dev: u32,
    /// `-D`: a histogram per disk.
    pub per_disk: u32,
    /// `-F`: a histogram per request flags.
    pub per_flag: u32,
    /// `-Q`: include the time queued (from insert).
    pub queued: u32,
    /// Also record log-linear histograms (`--percentiles`, `--compact`).
    pub loglinear: u32,
    /// `SLOTS` holds `1 << slot_bits` slots.
    pub slot_bits: u32,
    /// `-G`: a histogram per block cgroup of the request (`CGROUPS`).
    pub per_cgroup: u32,
    /// Field offsets from the running kernel's BTF.
    pub off: Offsets,
    /// With `-G`: from a cgroup to its id and name.
    pub cgroup: toolkit_core::CgroupOffsets,
}

/// Where biolatency's fields are in this kernel's structures.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Offsets {
    pub request_q: u32,
    pub request_cmd_flags: u32,
    pub queue_disk: u32,
    pub queue_elevator: u32,
    pub disk_major: u32,
    pub disk_first_minor: u32,
    /// With `-G`, the way from a request to the cgroup the kernel charges
    /// its I/O to: `request.bio`, `bio.bi_blkg`, `blkcg_gq.blkcg`, and
    /// `blkcg.css` + `cgroup_subsys_state.cgroup`.
    pub request_bio: u32,
    pub bio_blkg: u32,
    pub blkg_blkcg: u32,
    pub blkcg_cgroup: u32,
}

toolkit_core::aya_pod!(
    Config,
    DEFAULT {
        unit_divisor: 1000,
        slot_bits: maps::SLOT_BITS
    }
);
toolkit_core::aya_pod!(Offsets);

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// Start time of each in-flight request, in the slot its address
        /// picks.
        SLOTS,
        /// Start time of an in-flight request whose slot was taken, by its
        /// address.
        START,
        /// Requests timed in `START`, per CPU (for `-v`).
        HASHED_STARTS,
        /// Histograms of a split run (`-D`, `-F`), by disk and flags.
        HISTS,
        /// The one histogram of an unsplit run.
        TOTAL,
        LLHISTS,
        /// Errored requests by `dev << 32 | blk_status_t`.
        ERRORS,
        /// Histograms by block cgroup id (`-G`), and their log-linear
        /// twins.
        CGROUPS,
        CGROUPS_LL,
    );
    /// Histograms (disks x flags) a split run can hold.
    pub const MAX_HISTS: u32 = 1024;
    /// Requests in flight at once that can be timed in `START`.
    pub const MAX_IN_FLIGHT: u32 = 10240;
    /// Slots of `SLOTS`, by default `1 << SLOT_BITS`: a request finds its
    /// slot taken by another about once in `slots / requests in flight`.
    pub const SLOT_BITS: u32 = 13;
    /// The most slots: `1 << MAX_SLOT_BITS`.
    pub const MAX_SLOT_BITS: u32 = 16;
}

/// What a request's start leaves for its completion: the start time and,
/// with `-G`, the request's block cgroup (pointer and id). The cgroup is
/// read at the start, whose program has less to do than the completion's:
/// the same request, the same first bio, the same charged cgroup.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Started {
    pub start: u64,
    pub cgroup: u64,
    pub cgroup_id: u64,
}

toolkit_core::aya_pod!(Started);

/// One entry of `SLOTS`: the request that holds it (0 when free) and what
/// its start left.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Slot {
    pub rq: u64,
    pub started: Started,
}

toolkit_core::aya_pod!(Slot);

/// The index among `1 << bits` slots (`bits` up to 63) of the request at
/// address `rq`: Fibonacci hashing of the address (requests are cache-line
/// aligned, so its low 6 bits carry nothing).
#[inline(always)]
pub fn slot_index(rq: u64, bits: u32) -> u32 {
    ((rq >> 6).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (63 - bits) >> 1) as u32
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        START_FULL => "in-flight request map full",
        HIST_FULL => "histogram map full",
        /// A request whose completion the kernel did not run our program for
        /// (its address was issued again while its start time was still kept).
        COMPLETION_SKIPPED => "the kernel did not run the completion program",
        ERRORS_FULL => "error map full",
        LL_NO_MEMORY => "no kernel memory for a new log-linear histogram",
        CGROUPS_FULL => toolkit_core::CGROUPS_FULL,
    );
}

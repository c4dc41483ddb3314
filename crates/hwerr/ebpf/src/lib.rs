#![no_std]
//! The contract between hwerr's two halves: its configuration, the event
//! both read, the sources, map names and drop reasons. The programs are in
//! the `hwerr` binary target of this crate; userspace is `crates/hwerr`.

/// What reported an error ([`HwEvent::source`]), as the kernel's RAS and
/// MCE tracepoints name them.
pub mod source {
    /// `mce:mce_record`: a machine check logged by the x86 MCE code.
    pub const MCE: u32 = 0;
    /// `ras:mc_event`: a memory controller error (EDAC).
    pub const MEMORY_CONTROLLER: u32 = 1;
    /// `ras:memory_failure_event`: a page the kernel took out of use.
    pub const MEMORY_FAILURE: u32 = 2;
    /// `ras:aer_event`: a PCIe Advanced Error Reporting error.
    pub const PCIE_AER: u32 = 3;
}

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// `struct mce` fields (`mce_record`'s argument points at one, or at a
    /// `mce_hw_err` that begins with one), 0 where the kernel has no MCE.
    pub mce_status: u32,
    pub mce_addr: u32,
    pub mce_misc: u32,
    pub mce_mcgstatus: u32,
    pub mce_bank: u32,
    pub mce_extcpu: u32,
}

toolkit_core::aya_pod!(Config, DEFAULT {});

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// The ring buffer of [`HwEvent`](super::HwEvent)s.
        EVENTS,
    );
}

/// Bytes kept of each string the kernel gives (with its NUL).
pub const TEXT_BYTES: usize = 64;

/// One error, as the kernel side sends it through the `EVENTS` ring
/// buffer: the tracepoint's own fields, by source.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct HwEvent {
    /// A [`source`] constant.
    pub source: u32,
    /// The CPU the event fired on (for a machine check, the CPU that
    /// logged it; the CPU it concerns is `values[5]`).
    pub cpu: u32,
    /// `mce_record`: status, addr, misc, mcgstatus, bank, extcpu.
    /// `mc_event`: err_type, error_count, mc_index, address, grain_bits,
    /// syndrome, and the top, middle and lower layers packed in `values[6]`
    /// (a byte each, 0xff for -1).
    /// `memory_failure_event`: pfn, type, result.
    /// `aer_event`: status, severity, tlp_header_valid.
    pub values: [u64; 7],
    /// `mc_event`: error_msg, label, driver_detail. `aer_event`: dev_name.
    pub text: [[u8; TEXT_BYTES]; 3],
}

const _: () = assert!(core::mem::size_of::<HwEvent>() == 8 + 7 * 8 + 3 * TEXT_BYTES);
toolkit_core::aya_pod!(HwEvent);

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        /// The ring buffer was full.
        RING_FULL => "ring buffer full",
    );
}

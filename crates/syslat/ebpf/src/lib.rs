#![no_std]
//! Kernel side of syslat and memlat; the programs are in the `syslat` binary
//! target.

/// Syscall numbers at or above this are not traced (x32 ABI, future
/// syscalls); it sizes the watched-syscall table.
pub const SYSCALL_SLOTS: u32 = 1024;

/// Indexes of the `DROPPED` counters.
pub mod dropped {
    /// No task storage could be had for a start time.
    pub const START: u32 = 0;
    /// The latency histogram map was full.
    pub const HISTS: u32 = 1;
    /// The failed-call map was full.
    pub const ERRORS: u32 = 2;
    /// The size histogram map was full.
    pub const SIZES: u32 = 3;
}

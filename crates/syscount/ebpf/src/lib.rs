#![no_std]
//! Kernel side of syscount; the programs are in the `syscount` binary target.

/// Slots of the per-syscall table; numbers at or above it (x32 ABI, future
/// syscalls) are counted in the last slot.
pub const SYSCALL_SLOTS: u32 = 1024;

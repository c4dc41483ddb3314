#![no_std]
//! Kernel side of oomkill; the program is in the `oomkill` binary target.
//! This is the contract between the two halves: the event both read.

/// One OOM kill, as the kernel side sends it through the `EVENTS` ring
/// buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OomEvent {
    /// The process whose allocation triggered the kill (the one running
    /// when the kernel marked the victim).
    pub trigger_pid: u32,
    /// The process killed.
    pub victim_pid: u32,
    /// The victim's memory cgroup, as its kernfs node id (the inode number
    /// of its directory); 0 when the kernel does not say.
    pub memcg_id: u64,
    pub trigger_comm: [u8; 16],
    /// Empty on kernels whose `mark_victim` carries only a pid (before
    /// 6.8): userspace then reads the name from /proc.
    pub victim_comm: [u8; 16],
}

const _: () = assert!(core::mem::size_of::<OomEvent>() == 48);

/// Indexes of the `DROPPED` counter.
pub mod dropped {
    /// The ring buffer was full.
    pub const RING_FULL: u32 = 0;
}

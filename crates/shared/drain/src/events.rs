//! Events a tool's kernel side sends one by one through its ring buffer
//! (OOM kills, retransmits, hardware errors, slow file operations), read
//! as the records they are.

use std::marker::PhantomData;

use anyhow::Result;
use aya::{
    Ebpf, Pod,
    maps::{MapData, RingBuf},
};

use crate::take_map;

/// The object's ring buffer of `T` records.
pub struct EventRing<T: Pod> {
    ring: RingBuf<MapData>,
    record: PhantomData<T>,
}

impl<T: Pod> EventRing<T> {
    /// Takes the object's ring buffer `name`.
    pub fn new(ebpf: &mut Ebpf, name: &str) -> Result<Self> {
        Ok(Self {
            ring: RingBuf::try_from(take_map(ebpf, name)?)?,
            record: PhantomData,
        })
    }

    /// The records sent since the last call, oldest first. A record
    /// shorter than a `T` (never written so by the kernel side) is left
    /// out.
    pub fn drain(&mut self) -> Vec<T> {
        let mut records = Vec::new();
        while let Some(item) = self.ring.next() {
            if item.len() >= std::mem::size_of::<T>() {
                // SAFETY: at least size_of::<T>() bytes, and T is plain
                // data (any bytes are a valid value); the ring buffer does
                // not promise T's alignment, hence the unaligned read.
                records.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<T>()) });
            }
        }
        records
    }
}

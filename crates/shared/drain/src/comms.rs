//! Command names that the kernel side records beside per-process (or
//! per-thread) values, in a `HashMap<u32, [u8; 16]>` filled on first sight.

use std::collections::BTreeMap;

use anyhow::Result;
use aya::{
    Ebpf,
    maps::{HashMap, MapData},
};

/// The userspace copy of a kernel comm map: names outlive the kernel entries
/// for as long as their key is shown.
pub struct CommTable {
    map: HashMap<MapData, u32, [u8; 16]>,
    names: BTreeMap<u32, String>,
}

impl CommTable {
    /// Takes ownership of the object's comm map `name`.
    pub fn new(ebpf: &mut Ebpf, name: &str) -> Result<Self> {
        let map = crate::take_map(ebpf, name)?;
        Ok(Self {
            map: HashMap::try_from(map)?,
            names: BTreeMap::new(),
        })
    }

    /// Reads the names of `keys` (this interval's) and forgets those of
    /// `idle` keys, in the kernel too, so that the map cannot fill up.
    pub fn update(&mut self, keys: impl IntoIterator<Item = u32>, idle: &[u32]) {
        for key in idle {
            let _ = self.map.remove(key);
            self.names.remove(key);
        }
        for key in keys {
            if let Ok(comm) = self.map.get(&key, 0) {
                // Any user names its own processes: escaped once, here.
                self.names.insert(key, toolkit_core::escape::c_name(&comm));
            }
        }
    }

    /// The name recorded for `key`, empty when none was.
    pub fn name(&self, key: u32) -> &str {
        self.names.get(&key).map_or("", String::as_str)
    }

    /// All names known, by key.
    pub fn names(&self) -> &BTreeMap<u32, String> {
        &self.names
    }
}

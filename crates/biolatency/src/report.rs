//! One interval of biolatency output, as text (libbpf-tools layout) or JSON.

use std::io::{self, Write};

use common_ebpf::{
    Hist,
    user::{Unit, output::json_hist, print_log2_hist, print_timestamp, write_json_interval},
};
use serde_json::{Map, Value};

use crate::{disks::Disks, flags::FlagNames};

/// How histogram keys (`dev << 32 | cmd_flags`) are shown.
pub struct Report {
    pub unit: Unit,
    pub timestamp: bool,
    pub json: bool,
    pub per_disk: bool,
    /// Present with `-F`.
    pub flags: Option<FlagNames>,
    pub disks: Disks,
}

impl Report {
    /// Writes one interval's histograms (in key order) and flushes.
    pub fn write(&mut self, w: &mut impl Write, hists: &[(u64, Hist)]) -> io::Result<()> {
        if self.json {
            let histograms = hists
                .iter()
                .map(|(key, hist)| json_hist(self.labels(*key), hist))
                .collect();
            return write_json_interval(w, "biolatency", self.unit, histograms);
        }
        writeln!(w)?;
        if self.timestamp {
            print_timestamp(w)?;
        }
        for (key, hist) in hists {
            if self.per_disk {
                write!(w, "\ndisk = {}\t", self.disks.name_of((key >> 32) as u32))?;
            }
            if let Some(flags) = &self.flags {
                write!(w, "flags = {}", flags.describe(*key as u32))?;
            }
            writeln!(w)?;
            print_log2_hist(w, &hist.slots, self.unit.label())?;
        }
        w.flush()
    }

    fn labels(&mut self, key: u64) -> Map<String, Value> {
        let mut labels = Map::new();
        if self.per_disk {
            labels.insert("disk".into(), self.disks.name_of((key >> 32) as u32).into());
        }
        if let Some(flags) = &self.flags {
            labels.insert("flags".into(), flags.describe(key as u32).into());
        }
        labels
    }
}

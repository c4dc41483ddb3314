//! One interval of biolatency output, as text (libbpf-tools layout) or JSON.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use common_ebpf::{
    Hist, LlHist,
    user::{
        Losses, Unit,
        output::{CompactPrinter, json_hist, json_loglinear, print_percentiles},
        print_log2_hist, print_timestamp, write_json_interval,
    },
};
use serde_json::{Map, Value, json};

use crate::{disks::Disks, flags::FlagNames, status::status_name};

/// How histogram keys (`dev << 32 | cmd_flags`) are shown.
pub struct Report {
    pub unit: Unit,
    pub timestamp: bool,
    pub json: bool,
    pub per_disk: bool,
    /// Present with `-F`.
    pub flags: Option<FlagNames>,
    pub disks: Disks,
    /// `--percentiles`: printed under each histogram.
    pub percentiles: Option<Vec<f64>>,
    /// `--compact`: one line per histogram and interval instead.
    pub compact: Option<CompactPrinter>,
}

impl Report {
    /// Writes one interval's histograms (in key order) and flushes.
    pub fn write(
        &mut self,
        w: &mut impl Write,
        hists: &[(u64, Hist)],
        loglinear: &BTreeMap<u64, LlHist>,
        errors: &[(u64, u64)],
        lost: &Losses,
    ) -> io::Result<()> {
        if let Some(mut compact) = self.compact.take() {
            let rows: Vec<_> = hists
                .iter()
                .map(|(key, _)| (self.key_name(*key), loglinear.get(key)))
                .collect();
            let written = compact.write(w, rows);
            self.compact = Some(compact);
            return written;
        }
        if self.json {
            let histograms = hists
                .iter()
                .map(|(key, hist)| {
                    let mut value = json_hist(self.labels(*key), hist);
                    if let (Some(ps), Some(ll), Value::Object(fields)) =
                        (&self.percentiles, loglinear.get(key), &mut value)
                    {
                        fields.extend(json_loglinear(ll, ps));
                    }
                    value
                })
                .collect();
            let errors: Vec<Value> = self
                .error_rows(errors)
                .into_iter()
                .map(
                    |(disk, status, count)| json!({"disk": disk, "status": status, "count": count}),
                )
                .collect();
            let mut extra = Map::new();
            extra.insert("errors".into(), errors.into());
            return write_json_interval(w, "biolatency", self.unit, histograms, lost, extra);
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
            if let (Some(ps), Some(ll)) = (&self.percentiles, loglinear.get(key)) {
                print_percentiles(w, ll, ps, self.unit)?;
            }
        }
        // Only when there were errors, so that the libbpf-tools layout is
        // unchanged otherwise.
        if !errors.is_empty() {
            writeln!(w, "\nerrors:")?;
            writeln!(w, "{:<16} {:<16} {:>8}", "DISK", "STATUS", "COUNT")?;
            for (disk, status, count) in self.error_rows(errors) {
                writeln!(w, "{disk:<16} {status:<16} {count:>8}")?;
            }
        }
        w.flush()
    }

    /// `(disk, status, count)` of errored requests (keys `dev << 32 |
    /// blk_status_t`), in key order.
    pub fn error_rows(&mut self, errors: &[(u64, u64)]) -> Vec<(String, String, u64)> {
        errors
            .iter()
            .map(|&(key, count)| {
                let disk = self.disks.name_of((key >> 32) as u32).to_string();
                (disk, status_name(key as u8), count)
            })
            .collect()
    }

    /// The key as one word: `vda`, `Sync-Write`, `vda/Sync-Write`, or `all`.
    pub fn key_name(&mut self, key: u64) -> String {
        let disk = self
            .per_disk
            .then(|| self.disks.name_of((key >> 32) as u32).to_string());
        let flags = self.flags.as_ref().map(|f| f.describe(key as u32));
        match (disk, flags) {
            (Some(d), Some(f)) => format!("{d}/{f}"),
            (Some(d), None) => d,
            (None, Some(f)) => f,
            (None, None) => "all".to_string(),
        }
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

//! How biolatency names its histograms (libbpf-tools' `disk = vda\tflags
//! = ...`) and prints its errors, for the shared report path.

use std::{collections::BTreeMap, io};

use serde_json::{Map, Value, json};
use toolkit_core::{Hist, LlHist};
use toolkit_report::{HistRow, Sections, Unit};

use biolatency::{disks::Disks, flags::FlagNames, status::status_name};

/// How histogram keys (`dev << 32 | cmd_flags`) and error keys (`dev << 32
/// | blk_status_t`) are named.
pub struct Keys {
    pub per_disk: bool,
    /// Present with `-F`.
    pub flags: Option<FlagNames>,
    pub disks: Disks,
}

impl Keys {
    /// One interval's histograms as rows, in key order.
    pub fn rows<'a>(
        &mut self,
        hists: &'a [(u64, Hist)],
        loglinear: &'a BTreeMap<u64, LlHist>,
    ) -> Vec<HistRow<'a>> {
        hists
            .iter()
            .map(|(key, hist)| {
                let mut heading = String::new();
                if self.per_disk {
                    let disk = self.disks.name_of((key >> 32) as u32);
                    heading.push_str(&format!("\ndisk = {disk}\t"));
                }
                if let Some(flags) = &self.flags {
                    heading.push_str(&format!("flags = {}", flags.describe(*key as u32)));
                }
                heading.push('\n');
                HistRow::new(
                    heading,
                    self.key_name(*key),
                    self.labels(*key),
                    hist,
                    loglinear.get(key),
                )
            })
            .collect()
    }

    /// `(disk, status, count)` of errored requests, in key order.
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

/// What biolatency prints after the histograms: with `-e`, bcc's
/// extension summary of the interval (all histograms together); then the
/// interval's errored requests, `errors` in JSON (always), an `errors:`
/// table in text when there were any (so that the libbpf-tools layout is
/// unchanged otherwise).
pub struct Extras {
    pub errors: Vec<(String, String, u64)>,
    /// `-e`: total nanoseconds and count of the interval's I/Os, and the
    /// unit to say them in.
    pub summary: Option<(u64, u64, Unit)>,
}

impl Sections for Extras {
    fn json(&self, fields: &mut Map<String, Value>) {
        let rows: Vec<Value> = self
            .errors
            .iter()
            .map(|(disk, status, count)| json!({"disk": disk, "status": status, "count": count}))
            .collect();
        fields.insert("errors".into(), rows.into());
    }

    fn text(&self, w: &mut dyn io::Write) -> io::Result<()> {
        if let Some((total_ns, count, unit)) = self.summary
            && count > 0
        {
            // bcc's arithmetic: the total in the unit, then the average of
            // that, both printed truncated.
            let total = total_ns / unit.divisor();
            let label = unit.label();
            writeln!(
                w,
                "\navg = {} {label}, total: {total} {label}, count: {count}\n",
                total / count
            )?;
        }
        if self.errors.is_empty() {
            return Ok(());
        }
        writeln!(w, "\nerrors:")?;
        writeln!(w, "{:<16} {:<16} {:>8}", "DISK", "STATUS", "COUNT")?;
        for (disk, status, count) in &self.errors {
            writeln!(w, "{disk:<16} {status:<16} {count:>8}")?;
        }
        Ok(())
    }
}

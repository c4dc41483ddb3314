//! One interval of memlat output, as text or JSON.

use std::io::{self, Write};

use common_ebpf::{
    Hist,
    user::{
        Unit,
        names::{errno_name, syscall_name},
        output::CompactPrinter,
        print_timestamp, write_json_interval,
    },
};
use serde_json::{Map, Value, json};
use syslat::{Interval, json_hists, write_hists};

pub struct Report {
    pub unit: Unit,
    pub timestamp: bool,
    pub json: bool,
    pub sizes: bool,
    /// The traced syscalls, in display order.
    pub order: Vec<u32>,
    /// `--percentiles`: printed under each latency histogram.
    pub percentiles: Option<Vec<f64>>,
    /// `--compact`: one line per call and interval instead.
    pub compact: Option<CompactPrinter>,
}

impl Report {
    /// Writes one interval and flushes.
    pub fn write(&mut self, w: &mut impl Write, interval: Interval) -> io::Result<()> {
        let percentiles = self
            .percentiles
            .as_deref()
            .map(|ps| (&interval.loglinear, ps));
        if let Some(mut compact) = self.compact.take() {
            let rows: Vec<_> = self
                .ordered(interval.latency.clone())
                .into_iter()
                .map(|(nr, _)| (syscall_name(nr), interval.loglinear.get(&nr)))
                .collect();
            let written = compact.write(w, rows);
            self.compact = Some(compact);
            return written;
        }
        let latency = self.ordered(interval.latency);
        let sizes = self.ordered(interval.sizes);
        let mut errors = interval.errors;
        errors.sort_by_key(|&(nr, errno, count)| (self.rank(nr), std::cmp::Reverse(count), errno));
        if self.json {
            let mut extra = Map::new();
            let errors: Vec<Value> = errors
                .iter()
                .map(|&(nr, errno, count)| {
                    json!({ "syscall": syscall_name(nr), "errno": errno_name(errno), "count": count })
                })
                .collect();
            extra.insert("errors".into(), errors.into());
            if self.sizes {
                extra.insert("sizes".into(), json_hists(&sizes, None).into());
            }
            return write_json_interval(
                w,
                "memlat",
                self.unit,
                json_hists(&latency, percentiles),
                &interval.lost,
                extra,
            );
        }
        writeln!(w)?;
        if self.timestamp {
            print_timestamp(w)?;
        }
        write_hists(w, "syscall", &latency, self.unit, percentiles)?;
        writeln!(w)?;
        if errors.is_empty() {
            writeln!(w, "failed calls: none")?;
        } else {
            writeln!(w, "{:<16} {:<16} {:>8}", "FAILED", "ERRNO", "COUNT")?;
            for (nr, errno, count) in &errors {
                writeln!(
                    w,
                    "{:<16} {:<16} {:>8}",
                    syscall_name(*nr),
                    errno_name(*errno),
                    count
                )?;
            }
        }
        if self.sizes {
            write_hists(w, "size", &sizes, Unit::Bytes, None)?;
        }
        w.flush()
    }

    fn rank(&self, nr: u32) -> usize {
        self.order
            .iter()
            .position(|&n| n == nr)
            .unwrap_or(usize::MAX)
    }

    fn ordered(&self, mut hists: Vec<(u32, Hist)>) -> Vec<(u32, Hist)> {
        hists.sort_by_key(|(nr, _)| self.rank(*nr));
        hists
    }
}

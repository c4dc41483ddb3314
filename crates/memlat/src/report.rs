//! One interval of memlat output, as text or JSON.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use common_ebpf::{
    Hist, LlHist,
    user::{
        Unit,
        names::{errno_name, syscall_name},
        output::{CompactPrinter, json_hist, json_loglinear, print_percentiles},
        print_log2_hist, print_timestamp, write_json_interval,
    },
};
use serde_json::{Map, Value, json};
use syslat::{Interval, json_hists, write_hists};

pub struct Report {
    pub unit: Unit,
    pub timestamp: bool,
    pub json: bool,
    pub sizes: bool,
    /// `--reclaim`: direct-reclaim stall histograms after the failures.
    pub reclaim: bool,
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
            if self.reclaim {
                let hists: Vec<Value> = interval
                    .reclaim
                    .iter()
                    .map(|(key, hist)| {
                        let mut labels = Map::new();
                        labels.insert("kind".into(), reclaim_kind(*key).into());
                        if key >> 8 != 0 {
                            labels.insert("pid".into(), (key >> 8).into());
                            labels.insert("comm".into(), comm_of(key >> 8).into());
                        }
                        let mut value = json_hist(labels, hist);
                        if let (Some(ps), Some(ll), Value::Object(fields)) =
                            (&self.percentiles, interval.reclaim_ll.get(key), &mut value)
                        {
                            fields.extend(json_loglinear(ll, ps));
                        }
                        value
                    })
                    .collect();
                extra.insert("reclaim".into(), hists.into());
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
        if self.reclaim {
            self.write_reclaim(w, &interval.reclaim, &interval.reclaim_ll)?;
        }
        w.flush()
    }

    /// The direct-reclaim stall histograms: how long tasks waited for
    /// memory to be freed (`reclaim = memcg`: a memory cgroup at its limit;
    /// `reclaim = direct`: the machine short of memory), or `reclaim
    /// stalls: none`.
    fn write_reclaim(
        &self,
        w: &mut impl Write,
        reclaim: &[(u64, Hist)],
        ll: &BTreeMap<u64, LlHist>,
    ) -> io::Result<()> {
        if reclaim.is_empty() {
            return writeln!(w, "\nreclaim stalls: none");
        }
        let scale = self.unit.divisor() as f64;
        for (key, hist) in reclaim {
            writeln!(w, "\nreclaim = {}", reclaim_label(*key, " pid = "))?;
            print_log2_hist(w, &hist.slots, self.unit.label())?;
            writeln!(
                w,
                "count = {}, total = {:.1} {unit}, mean = {:.1} {unit}, max = {:.1} {unit}",
                hist.count,
                hist.sum as f64 / scale,
                hist.sum as f64 / hist.count.max(1) as f64 / scale,
                hist.max as f64 / scale,
                unit = self.unit.label()
            )?;
            if let (Some(ps), Some(ll)) = (&self.percentiles, ll.get(key)) {
                print_percentiles(w, ll, ps, self.unit)?;
            }
        }
        Ok(())
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

/// `direct` or `memcg`, from a reclaim key's low byte.
pub fn reclaim_kind(key: u64) -> &'static str {
    if key & 0xff == syslat_ebpf::reclaim::MEMCG {
        "memcg"
    } else {
        "direct"
    }
}

/// The kind, then `<sep>PID (comm)` when the key has a process.
pub fn reclaim_label(key: u64, sep: &str) -> String {
    match key >> 8 {
        0 => reclaim_kind(key).to_string(),
        pid => format!("{}{sep}{pid} {}", reclaim_kind(key), comm_of(pid)),
    }
}

/// A process's name, read when printed (`?` once it is gone).
fn comm_of(pid: u64) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map_or_else(|_| "?".to_string(), |c| c.trim().to_string())
}

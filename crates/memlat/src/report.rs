//! What memlat prints beyond its latency histograms (failed calls,
//! requested sizes, reclaim stalls), for the shared report path.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use serde_json::{Map, Value, json};
use syslat::{Interval, rows};
use toolkit_cgroup::CgroupName;
use toolkit_core::{Hist, LlHist};
use toolkit_report::{
    HistReport, Sections, Unit,
    names::{errno_name, syscall_name},
    output::{json_hist, json_loglinear, print_log2_hist, print_percentiles},
};

use crate::cli::Cli;

/// Writes one interval: the latency histograms in `order`, then the
/// sections of [`Extras`].
pub fn write(
    report: &mut HistReport,
    w: &mut impl Write,
    order: &[u32],
    cli: &Cli,
    interval: Interval,
) -> io::Result<()> {
    let rank = |nr: u32| order.iter().position(|&n| n == nr).unwrap_or(usize::MAX);
    let ordered = |mut hists: Vec<(u32, Hist)>| {
        hists.sort_by_key(|(nr, _)| rank(*nr));
        hists
    };
    let latency = ordered(interval.latency);
    let mut errors = interval.errors;
    errors.sort_by_key(|&(nr, errno, count)| (rank(nr), std::cmp::Reverse(count), errno));
    let extras = Extras {
        unit: report.unit,
        percentiles: report.percentiles.clone(),
        errors,
        sizes: cli.size.then(|| ordered(interval.sizes)),
        reclaim: cli
            .reclaim
            .then_some((interval.reclaim, interval.reclaim_ll)),
        reclaim_cgroups: interval.reclaim_cgroups,
    };
    if let Some(split) = &interval.cgroups {
        return report.write(w, &split.report_rows(), &interval.lost, &extras);
    }
    let rows = rows("syscall", &latency, &interval.loglinear);
    report.write(w, &rows, &interval.lost, &extras)
}

/// memlat's sections after the latency histograms.
pub struct Extras {
    unit: Unit,
    percentiles: Option<Vec<f64>>,
    /// `(syscall, errno, failed calls)`, in display order.
    errors: Vec<(u32, u32, u64)>,
    /// With `-s`: requested-length histograms.
    sizes: Option<Vec<(u32, Hist)>>,
    /// With `--reclaim`: stall histograms and their log-linear twins.
    reclaim: Option<Reclaim>,
    /// With `-G`: the cgroups of the reclaim keys.
    reclaim_cgroups: BTreeMap<u64, CgroupName>,
}

/// Reclaim stall histograms by key, and their log-linear twins.
type Reclaim = (Vec<(u64, Hist)>, BTreeMap<u64, LlHist>);

impl Sections for Extras {
    fn json(&self, fields: &mut Map<String, Value>) {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|&(nr, errno, count)| {
                json!({ "syscall": syscall_name(nr), "errno": errno_name(errno), "count": count })
            })
            .collect();
        fields.insert("errors".into(), errors.into());
        if let Some(sizes) = &self.sizes {
            let none = BTreeMap::new();
            let hists: Vec<Value> = rows("size", sizes, &none)
                .iter()
                .map(|row| json_hist(row.labels.clone(), row.hist))
                .collect();
            fields.insert("sizes".into(), hists.into());
        }
        if let Some((reclaim, reclaim_ll)) = &self.reclaim {
            let hists: Vec<Value> = reclaim
                .iter()
                .map(|(key, hist)| {
                    let mut labels = Map::new();
                    if let Some(cgroup) = self.reclaim_cgroups.get(&(key >> 8)) {
                        labels = cgroup.json();
                    } else if key >> 8 != 0 {
                        labels.insert("pid".into(), (key >> 8).into());
                        labels.insert("comm".into(), comm_of(key >> 8).into());
                    }
                    labels.insert("kind".into(), reclaim_kind(*key).into());
                    let mut value = json_hist(labels, hist);
                    if let (Some(ps), Some(ll), Value::Object(fields)) =
                        (&self.percentiles, reclaim_ll.get(key), &mut value)
                    {
                        fields.extend(json_loglinear(ll, ps));
                    }
                    value
                })
                .collect();
            fields.insert("reclaim".into(), hists.into());
        }
    }

    fn text(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w)?;
        if self.errors.is_empty() {
            writeln!(w, "failed calls: none")?;
        } else {
            writeln!(w, "{:<16} {:<16} {:>8}", "FAILED", "ERRNO", "COUNT")?;
            for (nr, errno, count) in &self.errors {
                writeln!(
                    w,
                    "{:<16} {:<16} {:>8}",
                    syscall_name(*nr),
                    errno_name(*errno),
                    count
                )?;
            }
        }
        if let Some(sizes) = &self.sizes {
            let bytes = HistReport::text_with_summary("memlat", Unit::Bytes);
            let none = BTreeMap::new();
            bytes.write_rows(w, &rows("size", sizes, &none), Unit::Bytes)?;
        }
        if let Some((reclaim, reclaim_ll)) = &self.reclaim {
            self.write_reclaim(w, reclaim, reclaim_ll)?;
        }
        Ok(())
    }
}

impl Extras {
    /// The direct-reclaim stall histograms: how long tasks waited for
    /// memory to be freed (`reclaim = memcg`: a memory cgroup at its limit;
    /// `reclaim = direct`: the machine short of memory), or `reclaim
    /// stalls: none`.
    fn write_reclaim(
        &self,
        w: &mut dyn Write,
        reclaim: &[(u64, Hist)],
        ll: &BTreeMap<u64, LlHist>,
    ) -> io::Result<()> {
        if reclaim.is_empty() {
            return writeln!(w, "\nreclaim stalls: none");
        }
        let scale = self.unit.divisor() as f64;
        for (key, hist) in reclaim {
            match self.reclaim_cgroups.get(&(key >> 8)) {
                Some(cgroup) => writeln!(
                    w,
                    "\nreclaim = {} cgroup = {}",
                    reclaim_kind(*key),
                    cgroup.describe()
                )?,
                None => writeln!(w, "\nreclaim = {}", reclaim_label(*key, " pid = "))?,
            }
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
}

/// `direct` or `memcg`, from a reclaim key's low byte.
pub fn reclaim_kind(key: u64) -> &'static str {
    if key & 0xff == syslat::reclaim::MEMCG {
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
    std::fs::read(format!("/proc/{pid}/comm")).map_or_else(
        |_| "?".to_string(),
        |c| toolkit_report::escape::escape_bytes(c.strip_suffix(b"\n").unwrap_or(&c)),
    )
}

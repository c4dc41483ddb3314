//! `-G`/`--per-cgroup`: one histogram or count per cgroup, the busiest
//! `--max-cgroups` shown by name and the rest summed into one `other` row,
//! so that a node with thousands of cgroups stays readable and its
//! OpenMetrics bounded. Nothing is merged silently: `other` says how many
//! cgroups it holds, and cgroups past the kernel map's capacity are the
//! kernel side's lost samples.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use aya::Ebpf;
use serde_json::{Map, Value};
use toolkit_core::{CGROUP_OWNERS_MAP, CGROUP_SLOTS_MAP, CGROUPS_LL_MAP, CGROUPS_MAP};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{Counters, HistDrain, Tick};
use toolkit_report::HistRow;

use crate::{CgroupDrain, CgroupName, CgroupNames};

/// Sizes of a histogram tool's split maps (`CGROUP_SLOTS`,
/// `CGROUP_OWNERS`, `CGROUPS`, `CGROUPS_LL`, `CGROUP_NAMES`):
/// [`CGROUP_SLOTS`](toolkit_core::CGROUP_SLOTS) slots and
/// [`MAX_CGROUPS`](toolkit_core::MAX_CGROUPS) entries with `-G` (`on`),
/// the log-linear one only with `loglinear`; one entry each otherwise, so
/// that a run without the split preallocates nothing.
pub fn split_map_sizes(on: bool, loglinear: bool) -> [(&'static str, u32); 5] {
    let cgroups = if on { toolkit_core::MAX_CGROUPS } else { 1 };
    let [slots, owners] = slot_map_sizes(on);
    [
        slots,
        owners,
        (CGROUPS_MAP, cgroups),
        (CGROUPS_LL_MAP, if loglinear { cgroups } else { 1 }),
        (toolkit_core::CGROUP_NAMES_MAP, cgroups),
    ]
}

/// Sizes of a split's slot maps (`CGROUP_SLOTS`, `CGROUP_OWNERS`):
/// [`CGROUP_SLOTS`](toolkit_core::CGROUP_SLOTS) each with `-G` (`on`), one
/// otherwise.
pub fn slot_map_sizes(on: bool) -> [(&'static str, u32); 2] {
    let slots = if on { toolkit_core::CGROUP_SLOTS } else { 1 };
    [(CGROUP_SLOTS_MAP, slots), (CGROUP_OWNERS_MAP, slots)]
}

/// OpenMetrics labels of a per-cgroup histogram or counter.
pub const LABELS: &[&str] = &["cgroup", "container", "pod_uid"];

/// One interval's split: the names, and how many are shown.
pub struct Split {
    names: CgroupNames,
    shown: usize,
}

/// A row of the split: a cgroup, or the sum of the cgroups not shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    Cgroup(CgroupName),
    Other { cgroups: usize },
}

/// The cgroups of one interval chosen for rows, in display order.
pub struct Selection {
    rows: Vec<Row>,
    /// Row index of each cgroup id (the `other` row's for those folded).
    index: HashMap<u64, usize>,
}

impl Split {
    /// A split naming cgroups with `names`, showing the `shown` busiest.
    pub fn new(names: CgroupNames, shown: u32) -> Self {
        Self {
            names,
            shown: shown.max(1) as usize,
        }
    }

    /// The name of cgroup `id`, learnt now if new (rows other than the
    /// split's own: memlat's reclaim stalls by cgroup).
    pub fn name(&mut self, id: u64) -> CgroupName {
        self.names.learn([id]);
        self.names.name(id)
    }

    /// Chooses the rows for cgroups measured `(id, measure)` (the tool's
    /// own measure: calls, total latency): the largest first, ties by id,
    /// and one `other` row for the rest.
    pub fn select(&mut self, measures: impl IntoIterator<Item = (u64, u64)>) -> Selection {
        let mut all: Vec<(u64, u64)> = measures.into_iter().collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown = all.len().min(self.shown);
        self.names.learn(all[..shown].iter().map(|&(id, _)| id));
        let mut rows: Vec<Row> = all[..shown]
            .iter()
            .map(|&(id, _)| Row::Cgroup(self.names.name(id)))
            .collect();
        let mut index: HashMap<u64, usize> = all[..shown]
            .iter()
            .enumerate()
            .map(|(i, &(id, _))| (id, i))
            .collect();
        let rest = &all[shown..];
        if !rest.is_empty() {
            index.extend(rest.iter().map(|&(id, _)| (id, rows.len())));
            rows.push(Row::Other {
                cgroups: rest.len(),
            });
        }
        Selection { rows, index }
    }
}

/// The per-cgroup histograms of a tool's object (its `CGROUPS` and
/// `CGROUPS_LL` maps) and their split: what every histogram tool's `-G`
/// drains each interval.
pub struct SplitDrain {
    hists: CgroupDrain<Hist>,
    loglinear: Option<HistDrain<u64, LlHist>>,
    split: Split,
}

impl SplitDrain {
    /// Takes the object's per-cgroup maps (the log-linear one with
    /// `loglinear`), naming cgroups with `names` (and the names the kernel
    /// side kept), showing the `shown` busiest.
    pub fn new(ebpf: &mut Ebpf, loglinear: bool, names: CgroupNames, shown: u32) -> Result<Self> {
        let names = names.with_kernel_names(ebpf)?;
        Ok(Self {
            hists: CgroupDrain::new(ebpf, CGROUPS_MAP)?,
            loglinear: loglinear
                .then(|| HistDrain::new(ebpf, CGROUPS_LL_MAP))
                .transpose()?,
            split: Split::new(names, shown),
        })
    }

    /// One interval's histograms, folded into the split's rows.
    pub fn drain(&mut self, tick: &Tick) -> Result<SplitHists> {
        let hists = self.hists.drain(tick)?;
        let loglinear = match &mut self.loglinear {
            Some(drain) => Some(drain.drain(tick)?.into_iter().collect()),
            None => None,
        };
        Ok(self.split.hists(hists, loglinear))
    }

    /// The name of cgroup `id`, for rows other than the split's own.
    pub fn name(&mut self, id: u64) -> CgroupName {
        self.split.name(id)
    }
}

/// One interval's per-cgroup histograms, folded into the split's rows:
/// what a histogram tool prints and exposes with `-G`.
pub struct SplitHists {
    pub rows: Vec<Row>,
    pub hists: Vec<Hist>,
    /// Their log-linear twins, when recorded.
    pub loglinear: Option<Vec<LlHist>>,
}

impl Split {
    /// Folds histograms by cgroup id (and their log-linear twins) into
    /// rows, the busiest by total time first.
    pub fn hists(
        &mut self,
        hists: Vec<(u64, Hist)>,
        loglinear: Option<BTreeMap<u64, LlHist>>,
    ) -> SplitHists {
        let selection = self.select(hists.iter().map(|(id, h)| (*id, h.sum)));
        SplitHists {
            hists: selection.fold(hists),
            loglinear: loglinear.map(|ll| selection.fold(ll)),
            rows: selection.rows,
        }
    }
}

impl SplitHists {
    /// The rows of the shared report, headed `cgroup = PATH (container)`.
    pub fn report_rows(&self) -> Vec<HistRow<'_>> {
        self.rows
            .iter()
            .zip(&self.hists)
            .enumerate()
            .map(|(i, (row, hist))| {
                let loglinear = self.loglinear.as_ref().map(|ll| &ll[i]);
                HistRow::new(row.heading(), row.name(), row.json(), hist, loglinear)
            })
            .collect()
    }

    /// The histograms (and their log-linear twins) with their OpenMetrics
    /// label values ([`LABELS`]).
    pub fn labelled(&self) -> impl Iterator<Item = (Vec<String>, (&Hist, Option<&LlHist>))> {
        self.rows
            .iter()
            .map(Row::label_values)
            .zip(&self.hists)
            .enumerate()
            .map(|(i, (values, hist))| {
                let loglinear = self.loglinear.as_ref().map(|ll| &ll[i]);
                (values, (hist, loglinear))
            })
    }
}

impl Selection {
    /// The rows, in display order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row cgroup `id` is shown in (its own, or `other`), by index in
    /// [`Selection::rows`]; `None` for an id not selected.
    pub fn row_of(&self, id: u64) -> Option<usize> {
        self.index.get(&id).copied()
    }

    /// `values` by cgroup id, summed into the rows (aligned with
    /// [`Selection::rows`]); ids not selected are ignored.
    pub fn fold<T: Counters>(&self, values: impl IntoIterator<Item = (u64, T)>) -> Vec<T> {
        let mut out = vec![T::ZERO; self.rows.len()];
        for (id, value) in values {
            if let Some(&i) = self.index.get(&id) {
                out[i].merge(&value);
            }
        }
        out
    }
}

impl Row {
    /// The text heading above its histogram, as `-P` heads a process's:
    /// `cgroup = /docker/3f4a… (docker 3f4a5b6c7d8e)`.
    pub fn heading(&self) -> String {
        format!("\ncgroup = {}\n", self.name())
    }

    /// The row in a few words (`--compact`, heatmaps, tables).
    pub fn name(&self) -> String {
        match self {
            Row::Cgroup(name) => name.describe(),
            Row::Other { cgroups } => format!("other ({cgroups} cgroups)"),
        }
    }

    /// JSON labels: the cgroup's ([`CgroupName::json`]), or `{"cgroup":
    /// "other", "cgroups": N}`.
    pub fn json(&self) -> Map<String, Value> {
        match self {
            Row::Cgroup(name) => name.json(),
            Row::Other { cgroups } => {
                let mut fields = Map::new();
                fields.insert("cgroup".into(), "other".into());
                fields.insert("cgroups".into(), (*cgroups).into());
                fields
            }
        }
    }

    /// OpenMetrics values for [`LABELS`].
    pub fn label_values(&self) -> Vec<String> {
        match self {
            Row::Cgroup(name) => name.label_values(),
            Row::Other { .. } => vec!["other".into(), String::new(), String::new()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_shown_and_the_rest_summed_into_other() {
        let mut split = Split::new(CgroupNames::new(None), 2);
        let counts: Vec<(u64, u64)> = vec![(10, 5), (11, 50), (12, 7), (13, 1)];
        let selection = split.select(counts.iter().copied());
        let ids: Vec<String> = selection.rows().iter().map(Row::name).collect();
        assert_eq!(ids[2], "other (2 cgroups)");
        assert!(ids[0].contains("cgroup 11,"), "{ids:?}");
        assert!(ids[1].contains("cgroup 12,"), "{ids:?}");
        assert_eq!(selection.fold(counts), vec![50, 7, 6]);
        assert_eq!(selection.rows()[2].json()["cgroups"], 2);
    }

    #[test]
    fn no_other_row_when_everything_is_shown() {
        let mut split = Split::new(CgroupNames::new(None), 5);
        let selection = split.select([(1, 3), (2, 3)]);
        assert_eq!(selection.rows().len(), 2);
        assert_eq!(selection.fold([(2, 4u64), (1, 6), (9, 100)]), vec![6, 4]);
    }
}

//! One interval of runqlat output, as text (libbpf-tools layout) or JSON.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use common_ebpf::{
    Hist, LlHist,
    user::{
        CommTable, Losses, Unit,
        output::{CompactPrinter, json_hist, json_loglinear, print_percentiles},
        print_log2_hist, print_timestamp, write_json_interval,
    },
};
use serde_json::{Map, Value};

/// How histogram keys are labelled: `pid = 42 comm` and the like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    None,
    Process,
    Thread,
    PidNamespace,
}

impl Grouping {
    /// The key's name in headers, JSON and OpenMetrics labels.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Process => Some("pid"),
            Self::Thread => Some("tid"),
            Self::PidNamespace => Some("pidns"),
        }
    }
}

pub struct Report {
    pub unit: Unit,
    pub timestamp: bool,
    pub json: bool,
    pub grouping: Grouping,
    /// `--percentiles`: printed under each histogram from the log-linear
    /// histograms.
    pub percentiles: Option<Vec<f64>>,
    /// `--compact`: one line per histogram and interval instead.
    pub compact: Option<CompactPrinter>,
}

impl Report {
    /// Writes one interval's histograms (in key order) and flushes.
    pub fn write(
        &mut self,
        w: &mut impl Write,
        hists: &[(u32, Hist)],
        loglinear: &BTreeMap<u32, LlHist>,
        comms: &CommTable,
        lost: &Losses,
    ) -> io::Result<()> {
        let name = |key: u32| match self.grouping.label() {
            Some(_) => format!("{key} {}", comms.name(key)),
            None => "all".to_string(),
        };
        if let Some(compact) = &mut self.compact {
            let rows = hists
                .iter()
                .map(|(key, _)| (name(*key), loglinear.get(key)));
            return compact.write(w, rows);
        }
        if self.json {
            let histograms = hists
                .iter()
                .map(|(key, hist)| {
                    let mut labels = Map::new();
                    if let Some(label) = self.grouping.label() {
                        labels.insert(label.into(), (*key).into());
                        labels.insert("comm".into(), comms.name(*key).into());
                    }
                    let mut value = json_hist(labels, hist);
                    if let (Some(ps), Some(ll), Value::Object(fields)) =
                        (&self.percentiles, loglinear.get(key), &mut value)
                    {
                        fields.extend(json_loglinear(ll, ps));
                    }
                    value
                })
                .collect();
            return write_json_interval(w, "runqlat", self.unit, histograms, lost, Map::new());
        }
        writeln!(w)?;
        if self.timestamp {
            print_timestamp(w)?;
        }
        for (key, hist) in hists {
            if let Some(label) = self.grouping.label() {
                writeln!(w, "\n{label} = {key} {}", comms.name(*key))?;
            }
            print_log2_hist(w, &hist.slots, self.unit.label())?;
            if let (Some(ps), Some(ll)) = (&self.percentiles, loglinear.get(key)) {
                print_percentiles(w, ll, ps, self.unit)?;
            }
        }
        w.flush()
    }
}

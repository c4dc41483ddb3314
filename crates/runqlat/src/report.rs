//! One interval of runqlat output, as text (libbpf-tools layout) or JSON.

use std::io::{self, Write};

use common_ebpf::{
    Hist,
    user::{
        CommTable, Unit, output::json_hist, print_log2_hist, print_timestamp, write_json_interval,
    },
};
use serde_json::Map;

/// How histogram keys are labelled: `pid = 42 comm` and the like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    None,
    Process,
    Thread,
    PidNamespace,
}

impl Grouping {
    fn label(self) -> Option<&'static str> {
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
}

impl Report {
    /// Writes one interval's histograms (in key order) and flushes.
    pub fn write(
        &self,
        w: &mut impl Write,
        hists: &[(u32, Hist)],
        comms: &CommTable,
    ) -> io::Result<()> {
        if self.json {
            let histograms = hists
                .iter()
                .map(|(key, hist)| {
                    let mut labels = Map::new();
                    if let Some(label) = self.grouping.label() {
                        labels.insert(label.into(), (*key).into());
                        labels.insert("comm".into(), comms.name(*key).into());
                    }
                    json_hist(labels, hist)
                })
                .collect();
            return write_json_interval(w, "runqlat", self.unit, histograms);
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
        }
        w.flush()
    }
}

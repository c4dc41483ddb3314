//! How runqlat names its histograms (libbpf-tools' `pid = 42 comm`), for
//! the shared report path.

use std::collections::BTreeMap;

use serde_json::Map;
use toolkit_core::{Hist, LlHist};
use toolkit_drain::CommTable;
use toolkit_report::HistRow;

/// How histogram keys are split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Grouping {
    #[default]
    None,
    Process,
    Thread,
    PidNamespace,
    Cpu,
    /// Per cgroup v2 (`-G`): rows from the split, not from keys.
    Cgroup,
}

impl Grouping {
    /// The key's name in headers, JSON and OpenMetrics labels.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Process => Some("pid"),
            Self::Thread => Some("tid"),
            Self::PidNamespace => Some("pidns"),
            Self::Cpu => Some("cpu"),
            Self::Cgroup => Some("cgroup"),
        }
    }
}

/// One interval's histograms as rows, in key order.
pub fn rows<'a>(
    grouping: Grouping,
    hists: &'a [(u32, Hist)],
    loglinear: &'a BTreeMap<u32, LlHist>,
    comms: &CommTable,
) -> Vec<HistRow<'a>> {
    hists
        .iter()
        .map(|(key, hist)| {
            let mut labels = Map::new();
            let (heading, name) = match grouping.label() {
                Some(label) if grouping == Grouping::Cpu => {
                    labels.insert(label.into(), (*key).into());
                    (format!("\n{label} = {key}\n"), key.to_string())
                }
                Some(label) => {
                    return HistRow::task(label, *key, comms.name(*key), hist, loglinear.get(key));
                }
                None => (String::new(), "all".to_string()),
            };
            HistRow::new(heading, name, labels, hist, loglinear.get(key))
        })
        .collect()
}

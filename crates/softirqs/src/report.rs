//! softirqs' output: libbpf-tools' table of total time (and counts, `-C`)
//! by vector, or a histogram per vector (`-d` and the shared report's
//! other modes), headed `softirq = net_rx` as there.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use serde_json::Map;
use softirqs_ebpf::VECTORS;
use toolkit_core::{Hist, LlHist};
use toolkit_report::{HistRow, Unit, output::local_hms};

/// A vector's name as libbpf-tools prints it (`net_rx`); `vector N` past
/// the known ones.
pub fn name(vector: u32) -> String {
    VECTORS
        .get(vector as usize)
        .map_or_else(|| format!("vector {vector}"), |n| n.to_lowercase())
}

/// One interval's histograms as rows of the shared report, in vector
/// order, a blank line between two as libbpf-tools prints them.
pub fn rows<'a>(
    hists: &'a [(u32, Hist)],
    loglinear: &'a BTreeMap<u32, LlHist>,
) -> Vec<HistRow<'a>> {
    hists
        .iter()
        .enumerate()
        .map(|(i, (vector, hist))| {
            let mut labels = Map::new();
            labels.insert("softirq".into(), name(*vector).into());
            let gap = if i == 0 { "" } else { "\n" };
            HistRow::new(
                format!("{gap}softirq = {}\n", name(*vector)),
                name(*vector),
                labels,
                hist,
                loglinear.get(vector),
            )
        })
        .collect()
}

/// libbpf-tools' table: after a blank line (and with `-T` the time), the
/// total time of each vector that ran, in `unit`, with `counts` its
/// number of runs too.
pub fn write_table(
    w: &mut impl Write,
    hists: &[(u32, Hist)],
    unit: Unit,
    counts: bool,
    timestamp: bool,
) -> io::Result<()> {
    writeln!(w)?;
    if timestamp {
        writeln!(w, "{:<8}", local_hms())?;
    }
    // Without the counts, the installed libbpf-tools' header (no padding
    // after the unit); with them, upstream's.
    write!(w, "{:<16} TOTAL_{:<5}", "SOFTIRQ", unit.label())?;
    if counts {
        write!(w, "  {:<11}", "TOTAL_count")?;
    }
    writeln!(w)?;
    for (vector, hist) in hists {
        write!(w, "{:<16} {:>11}", name(*vector), hist.sum / unit.divisor())?;
        if counts {
            write!(w, "  {:>11}", hist.count)?;
        }
        writeln!(w)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_libbpf_tools() {
        let mut timer = Hist::ZERO;
        timer.count = 3;
        timer.sum = 45_678;
        let hists = [(1, timer), (3, timer)];
        let mut out = Vec::new();
        write_table(&mut out, &hists, Unit::Usecs, true, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nSOFTIRQ          TOTAL_usecs  TOTAL_count\n\
             timer                     45            3\n\
             net_rx                    45            3\n"
        );
        let mut out = Vec::new();
        write_table(&mut out, &hists[..1], Unit::Nsecs, false, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nSOFTIRQ          TOTAL_nsecs\ntimer                  45678\n"
        );
    }

    #[test]
    fn names_are_lower_case_and_unknown_vectors_numbered() {
        assert_eq!(name(3), "net_rx");
        assert_eq!(name(9), "rcu");
        assert_eq!(name(12), "vector 12");
    }
}

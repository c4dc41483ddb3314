//! How tcprtt names its histograms (libbpf-tools' `All Addresses = ******`,
//! `Remote Address = 10.0.0.7 [AVG 42]`), for the shared report path.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr},
};

use serde_json::Map;
use tcprtt_ebpf::{AF_INET, AddrKey, key};
use toolkit_core::{Hist, LlHist};
use toolkit_report::{HistRow, Unit};

/// The address of a key, as text.
pub fn address(key: &AddrKey) -> String {
    if key.family == AF_INET {
        Ipv4Addr::new(key.addr[0], key.addr[1], key.addr[2], key.addr[3]).to_string()
    } else {
        Ipv6Addr::from(key.addr).to_string()
    }
}

/// The key's label in JSON and OpenMetrics: `laddr`, `raddr`, or none.
pub fn label(key_by: u16) -> Option<&'static str> {
    match key_by {
        key::LOCAL => Some("laddr"),
        key::REMOTE => Some("raddr"),
        key::CGROUP => Some("cgroup"),
        _ => None,
    }
}

/// The name of a histogram in `--compact` and OpenMetrics.
pub fn name(key_by: u16, key: &AddrKey) -> String {
    if key_by == key::ALL {
        "all".to_string()
    } else {
        address(key)
    }
}

/// One interval's histograms as rows, in key order. `extension` adds
/// libbpf-tools' `[AVG n]` (the mean, in `unit`) to each heading.
pub fn rows<'a>(
    key_by: u16,
    extension: bool,
    unit: Unit,
    hists: &'a [(AddrKey, Hist)],
    loglinear: &'a BTreeMap<AddrKey, LlHist>,
) -> Vec<HistRow<'a>> {
    hists
        .iter()
        .map(|(key, hist)| {
            let mut labels = Map::new();
            let mut heading = match label(key_by) {
                Some(label) => {
                    labels.insert(label.into(), address(key).into());
                    let which = if key_by == key::LOCAL {
                        "Local"
                    } else {
                        "Remote"
                    };
                    format!("{which} Address = {} ", address(key))
                }
                None => "All Addresses = ****** ".to_string(),
            };
            if extension && hist.count > 0 {
                heading.push_str(&format!("[AVG {}]", hist.sum / hist.count / unit.divisor()));
            }
            heading.push('\n');
            HistRow::new(heading, name(key_by, key), labels, hist, loglinear.get(key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_libbpf_tools() {
        let mut hist = Hist::ZERO;
        hist.count = 4;
        hist.sum = 4 * 1_234_000; // ns
        let mut key = AddrKey::ZERO;
        let all = [(key, hist)];
        let none = BTreeMap::new();
        assert_eq!(
            rows(key::ALL, false, Unit::Usecs, &all, &none)[0].heading,
            "All Addresses = ****** \n"
        );
        assert_eq!(
            rows(key::ALL, true, Unit::Usecs, &all, &none)[0].heading,
            "All Addresses = ****** [AVG 1234]\n"
        );
        key.family = AF_INET;
        key.addr[..4].copy_from_slice(&[10, 231, 1, 2]);
        let one = [(key, hist)];
        let row = &rows(key::REMOTE, true, Unit::Msecs, &one, &none)[0];
        assert_eq!(row.heading, "Remote Address = 10.231.1.2 [AVG 1]\n");
        assert_eq!(row.name, "10.231.1.2");
    }
}

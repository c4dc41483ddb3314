//! One interval of netdrop output: a table like syscount's, or a JSON line,
//! and the OpenMetrics counters.

use std::io::{self, Write};

use netdrop::{DropKey, interface_label, interface_name};
use serde_json::{Value, json};
use toolkit_drain::Losses;
use toolkit_report::output::{local_hms, losses_json, rfc3339_now};

/// A row: a drop key, named, and its count in the interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub reason: String,
    pub protocol: String,
    pub interface: String,
    /// The interface's network namespace (inode number; 0: no interface).
    pub netns: u32,
    /// With `-G`: the socket's cgroup (or `other`, or no socket).
    pub cgroup: Option<toolkit_cgroup::Row>,
    pub count: u64,
}

impl Row {
    pub fn new(key: &DropKey, reason: String, count: u64) -> Self {
        Self {
            reason,
            protocol: protocol_name(key.l3, key.l4),
            interface: interface_name(key),
            netns: key.netns,
            cgroup: None,
            count,
        }
    }

    /// The interface as [`interface_label`] names it.
    pub fn interface_label(&self, own_netns: u32) -> String {
        interface_label(&self.interface, self.netns, own_netns)
    }
}

/// `IPv4/TCP`, `IPv6/UDP`, `ARP`, `0x88cc`: the link-layer protocol, and
/// the IP protocol where there is one.
pub fn protocol_name(l3: u16, l4: u8) -> String {
    let l3_name = match l3 {
        0x0800 => "IPv4".to_string(),
        0x86dd => "IPv6".to_string(),
        0x0806 => "ARP".to_string(),
        0 => return "-".to_string(),
        other => return format!("{other:#06x}"),
    };
    let l4_name = match l4 {
        0 => return l3_name,
        1 => "ICMP".to_string(),
        2 => "IGMP".to_string(),
        6 => "TCP".to_string(),
        17 => "UDP".to_string(),
        58 => "ICMPv6".to_string(),
        132 => "SCTP".to_string(),
        other => other.to_string(),
    };
    format!("{l3_name}/{l4_name}")
}

/// Output settings from the command line.
pub struct Report {
    pub interfaces: bool,
    /// A CGROUP column (`-G`).
    pub cgroups: bool,
    pub top: usize,
    pub json: bool,
    /// The network namespace whose interfaces go by their plain names.
    pub own_netns: u32,
}

impl Report {
    /// Sorts by count (then name) and prints the top rows; an interval
    /// without drops says so, since "no errors" is an answer too.
    pub fn write(&self, w: &mut impl Write, mut rows: Vec<Row>, lost: &Losses) -> io::Result<()> {
        rows.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| {
                    (&a.reason, &a.protocol, &a.interface).cmp(&(
                        &b.reason,
                        &b.protocol,
                        &b.interface,
                    ))
                })
                .then_with(|| {
                    let name = |r: &Row| r.cgroup.as_ref().map(toolkit_cgroup::Row::name);
                    name(a).cmp(&name(b))
                })
        });
        if self.json {
            return self.write_json(w, &rows, lost);
        }
        writeln!(w, "[{}]", local_hms())?;
        if rows.is_empty() {
            writeln!(w, "no packet drops")?;
        } else {
            let shown = &rows[..rows.len().min(self.top)];
            let labels: Vec<String> = shown
                .iter()
                .map(|r| r.interface_label(self.own_netns))
                .collect();
            let width = labels.iter().map(String::len).max().unwrap_or(0).max(16);
            write!(w, "{:<28} {:<10}", "REASON", "PROTOCOL")?;
            if self.interfaces {
                write!(w, " {:<width$}", "INTERFACE")?;
            }
            write!(w, " {:>10}", "COUNT")?;
            // The cgroup last: paths are long.
            writeln!(w, "{}", if self.cgroups { " CGROUP" } else { "" })?;
            for (row, label) in shown.iter().zip(&labels) {
                write!(w, "{:<28} {:<10}", row.reason, row.protocol)?;
                if self.interfaces {
                    write!(w, " {label:<width$}")?;
                }
                write!(w, " {:>10}", row.count)?;
                match &row.cgroup {
                    Some(cgroup) => writeln!(w, " {}", cgroup.name())?,
                    None => writeln!(w)?,
                }
            }
            if rows.len() > self.top {
                let rest: u64 = rows[self.top..].iter().map(|r| r.count).sum();
                writeln!(
                    w,
                    "{:<28} {:<10}{} {rest:>10}",
                    "(other rows)",
                    "",
                    if self.interfaces {
                        " ".repeat(width + 1)
                    } else {
                        String::new()
                    }
                )?;
            }
        }
        writeln!(w)?;
        w.flush()
    }

    fn write_json(&self, w: &mut impl Write, rows: &[Row], lost: &Losses) -> io::Result<()> {
        let drops: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut v = json!({ "reason": r.reason, "protocol": r.protocol, "count": r.count });
                if self.interfaces {
                    v["interface"] = r.interface.clone().into();
                    if r.netns != 0 {
                        v["netns"] = r.netns.into();
                    }
                }
                if let (Some(cgroup), Value::Object(fields)) = (&r.cgroup, &mut v) {
                    fields.extend(cgroup.json());
                }
                v
            })
            .collect();
        let record = json!({
            "tool": "netdrop",
            "time": rfc3339_now(),
            "drops": drops,
            "total": rows.iter().map(|r| r.count).sum::<u64>(),
            "lost": losses_json(lost),
        });
        serde_json::to_writer(&mut *w, &record)?;
        writeln!(w)?;
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(reason: &str, protocol: &str, interface: &str, count: u64) -> Row {
        Row {
            reason: reason.into(),
            protocol: protocol.into(),
            interface: interface.into(),
            netns: if interface.is_empty() { 0 } else { OWN },
            cgroup: None,
            count,
        }
    }

    const OWN: u32 = 4026531840;

    fn render(report: &Report, rows: Vec<Row>) -> String {
        let mut out = Vec::new();
        report.write(&mut out, rows, &Losses::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        // Drop the wall-clock line.
        text.lines().skip(1).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn protocols_are_named() {
        assert_eq!(protocol_name(0x0800, 6), "IPv4/TCP");
        assert_eq!(protocol_name(0x86dd, 17), "IPv6/UDP");
        assert_eq!(protocol_name(0x86dd, 0), "IPv6");
        assert_eq!(protocol_name(0x0806, 0), "ARP");
        assert_eq!(protocol_name(0x88cc, 0), "0x88cc");
        assert_eq!(protocol_name(0, 0), "-");
    }

    #[test]
    fn table_sorts_by_count_and_keeps_the_top() {
        let report = Report {
            interfaces: true,
            cgroups: false,
            top: 2,
            json: false,
            own_netns: OWN,
        };
        let rows = vec![
            row("NO_SOCKET", "IPv4/UDP", "lo", 3),
            row("NETFILTER_DROP", "IPv4/TCP", "veth1", 1009),
            row("SOCKET_RCVBUFF", "IPv4/UDP", "", 40),
        ];
        insta::assert_snapshot!(render(&report, rows));
    }

    #[test]
    fn an_interval_without_drops_says_so() {
        let report = Report {
            interfaces: false,
            cgroups: false,
            top: 10,
            json: false,
            own_netns: OWN,
        };
        assert_eq!(render(&report, Vec::new()), "no packet drops\n");
    }

    #[test]
    fn interfaces_of_other_namespaces_carry_their_namespace() {
        let report = Report {
            interfaces: true,
            cgroups: false,
            top: 10,
            json: false,
            own_netns: OWN,
        };
        let mut theirs = row("NETFILTER_DROP", "IPv4/UDP", "eth0", 7);
        theirs.netns = 4026532281;
        let rows = vec![row("NETFILTER_DROP", "IPv4/UDP", "eth0", 5), theirs];
        insta::assert_snapshot!(render(&report, rows));
    }
}

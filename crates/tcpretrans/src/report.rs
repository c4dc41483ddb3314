//! tcpretrans's output: bcc's lines and per-flow table, or JSON.

use std::{
    io::{self, Write},
    net::{Ipv4Addr, Ipv6Addr},
};

use serde_json::{Value, json};
use tcpretrans_ebpf::{AF_INET, Flow, RetransEvent};
use toolkit_drain::Losses;
use toolkit_report::{
    OpenMetrics,
    output::{local_hms, losses_json, rfc3339_now},
};

/// bcc's names of the kernel's TCP states.
pub fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// A flow's endpoints as text: addresses, ports, IP version.
pub struct Endpoints {
    pub ip: u8,
    pub laddr: String,
    pub lport: u16,
    pub raddr: String,
    pub rport: u16,
}

impl Endpoints {
    pub fn of(flow: &Flow) -> Self {
        let addr = |bytes: &[u8; 16]| {
            if flow.family == AF_INET {
                Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()
            } else {
                Ipv6Addr::from(*bytes).to_string()
            }
        };
        Self {
            ip: if flow.family == AF_INET { 4 } else { 6 },
            laddr: addr(&flow.saddr),
            lport: flow.lport,
            raddr: addr(&flow.daddr),
            rport: flow.dport,
        }
    }

    fn json(&self) -> Value {
        json!({
            "ip": self.ip,
            "laddr": self.laddr,
            "lport": self.lport,
            "raddr": self.raddr,
            "rport": self.rport,
        })
    }
}

/// bcc's header of the per-event lines.
pub fn write_event_header(w: &mut impl Write) -> io::Result<()> {
    writeln!(
        w,
        "{:<8} {:<6} {:<2} {:<20} {:>1}> {:<20} {:<4}",
        "TIME", "PID", "IP", "LADDR:LPORT", "T", "RADDR:RPORT", "STATE"
    )
}

/// One retransmit: bcc's line, or a JSON object.
pub fn write_event(w: &mut impl Write, event: &RetransEvent, json: bool) -> io::Result<()> {
    let ends = Endpoints::of(&event.flow);
    let state = state_name(event.state);
    if json {
        let mut v = ends.json();
        v["time"] = rfc3339_now().into();
        v["pid"] = event.pid.into();
        v["type"] = "R".into();
        v["state"] = state.into();
        v["segments"] = event.segments.into();
        serde_json::to_writer(&mut *w, &v)?;
        return writeln!(w);
    }
    writeln!(
        w,
        "{:<8} {:<6} {:<2} {:<20} R> {:<20} {state}",
        local_hms(),
        event.pid,
        ends.ip,
        format!("{}:{}", ends.laddr, ends.lport),
        format!("{}:{}", ends.raddr, ends.rport),
    )
}

/// `tcpretrans_retransmits_total` and `tcpretrans_segments_total`: help.
const RETRANSMITS: &str = "Retransmitted skbs, since tcpretrans started.";
const SEGMENTS: &str = "Segments those skbs carried (more than one with TSO/GSO).";

/// The metrics' counter families, declared before any retransmit so that
/// scrapers see them (at 0) from the start; by TCP state, by flow (`-c`)
/// or by cgroup (`-G`).
pub fn declare_metrics(metrics: &mut OpenMetrics, labels: &'static [&'static str]) {
    metrics.declare_counter("retransmits", RETRANSMITS, labels);
    metrics.declare_counter("segments", SEGMENTS, labels);
}

/// Adds retransmits and segments with these label values.
pub fn count(
    metrics: &mut OpenMetrics,
    labels: &'static [&'static str],
    values: Vec<String>,
    [retransmits, segments]: [u64; 2],
) {
    metrics.count(
        "retransmits",
        RETRANSMITS,
        labels,
        values.clone(),
        retransmits,
    );
    metrics.count("segments", SEGMENTS, labels, values, segments);
}

/// The label values of a flow in the metrics: its addresses (ports are
/// left out: an ephemeral port per connection would make a series each).
pub fn flow_values(flow: &Flow) -> Vec<String> {
    let ends = Endpoints::of(flow);
    vec![ends.laddr, ends.raddr]
}

/// `-c`: the flows' counts (retransmitted skbs, and the segments they
/// carried), most retransmits first; bcc's table, or a JSON line.
pub fn write_counts(
    w: &mut impl Write,
    mut flows: Vec<(Flow, [u64; 2])>,
    lost: &Losses,
    json: bool,
    stamp: bool,
) -> io::Result<()> {
    flows.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
    if json {
        let rows = flows
            .iter()
            .map(|(flow, counts)| (Endpoints::of(flow).json(), counts));
        return write_counts_json(w, "flows", rows, lost);
    }
    if stamp {
        writeln!(w, "\n[{}]", local_hms())?;
    }
    writeln!(
        w,
        "\n{:<25} {:<25} {:<10}",
        "LADDR:LPORT", "RADDR:RPORT", "RETRANSMITS"
    )?;
    for (flow, [retransmits, _]) in &flows {
        let ends = Endpoints::of(flow);
        writeln!(
            w,
            "{:<20} <-> {:<20} {retransmits:>10}",
            format!("{}:{}", ends.laddr, ends.lport),
            format!("{}:{}", ends.raddr, ends.rport),
        )?;
    }
    w.flush()
}

/// A `-c` record: each row (a flow's endpoints, a cgroup's name) with its
/// `retransmits` and `segments`, under `field`.
fn write_counts_json<'a>(
    w: &mut impl Write,
    field: &str,
    rows: impl Iterator<Item = (Value, &'a [u64; 2])>,
    lost: &Losses,
) -> io::Result<()> {
    let rows: Vec<Value> = rows
        .map(|(mut v, [retransmits, segments])| {
            v["retransmits"] = (*retransmits).into();
            v["segments"] = (*segments).into();
            v
        })
        .collect();
    let mut record = json!({
        "tool": "tcpretrans",
        "time": rfc3339_now(),
        "lost": losses_json(lost),
    });
    record[field] = rows.into();
    serde_json::to_writer(&mut *w, &record)?;
    writeln!(w)?;
    w.flush()
}

/// `-c -G`: one interval's (or the run's) counts by the socket's cgroup,
/// the busiest first and `other` last, as a table (the cgroup last: paths
/// are long) or a JSON record.
pub fn write_cgroup_counts(
    w: &mut impl Write,
    rows: tcpretrans::CgroupRows,
    lost: &Losses,
    json: bool,
    stamp: bool,
) -> io::Result<()> {
    if json {
        let rows = rows
            .iter()
            .map(|(row, counts)| (Value::Object(row.json()), counts));
        return write_counts_json(w, "cgroups", rows, lost);
    }
    if stamp {
        writeln!(w, "\n[{}]", local_hms())?;
    }
    writeln!(w, "\n{:>11} {:>10} CGROUP", "RETRANSMITS", "SEGMENTS")?;
    for (row, [retransmits, segments]) in &rows {
        writeln!(w, "{retransmits:>11} {segments:>10} {}", row.name())?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use tcpretrans_ebpf::AF_INET6;

    use super::*;

    fn flow(family: u16) -> Flow {
        let mut flow = Flow {
            family,
            lport: 5201,
            dport: 40312,
            ..Flow::ZERO
        };
        if family == AF_INET {
            flow.saddr[..4].copy_from_slice(&[10, 231, 7, 2]);
            flow.daddr[..4].copy_from_slice(&[10, 231, 7, 1]);
        } else {
            flow.saddr = "fd00:231:7::2".parse::<Ipv6Addr>().unwrap().octets();
            flow.daddr = "fd00:231:7::1".parse::<Ipv6Addr>().unwrap().octets();
        }
        flow
    }

    #[test]
    fn event_lines_are_bccs() {
        let mut out = Vec::new();
        write_event_header(&mut out).unwrap();
        let event = RetransEvent {
            flow: flow(AF_INET),
            pid: 0,
            state: 1,
            _pad: [0],
            segments: 1,
        };
        write_event(&mut out, &event, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "TIME     PID    IP LADDR:LPORT          T> RADDR:RPORT          STATE"
        );
        // The time varies: compare after it.
        assert_eq!(
            &lines[1][9..],
            "0      4  10.231.7.2:5201      R> 10.231.7.1:40312     ESTABLISHED"
        );
    }

    #[test]
    fn count_table_is_bccs() {
        let mut out = Vec::new();
        let flows = vec![(flow(AF_INET6), [2, 2]), (flow(AF_INET), [7, 9])];
        write_counts(&mut out, flows, &Losses::default(), false, false).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }
}

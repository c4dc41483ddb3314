//! The rules of the screen: from two snapshots of the kernel's counters and
//! one interval of the probes to each resource's row (CPUs, memory, disks,
//! interfaces and the TCP stack), with what is flagged and where to drill
//! down.

use std::{collections::BTreeMap, net::IpAddr};

use serde_json::json;
use toolkit_core::LlHist;

use crate::{
    cell::{CellBuilder, Row, num, pct, rate, round, secs},
    counters,
    probes::{Probe, Probes, Sample, merge},
    screen::Snapshot,
    thresholds::Thresholds,
};

/// What every rule reads: the counters at the interval's ends, the probes'
/// interval, the thresholds, and the interval's length.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub before: &'a Snapshot,
    pub after: &'a Snapshot,
    pub sample: &'a Sample,
    pub probes: &'a Probes,
    pub t: &'a Thresholds,
    pub seconds: f64,
}

pub fn cpu_rows(rows: &mut Vec<Row>, per_cpu: bool, cpus: usize, i: &Inputs) {
    let (before, after, seconds) = (i.before, i.after, i.seconds);
    let (sample, probes, t) = (i.sample, i.probes, i.t);
    let keys: Vec<Option<u32>> = if per_cpu {
        after.cpu.keys().copied().filter(Option::is_some).collect()
    } else {
        vec![None]
    };
    for key in keys {
        let instance = key.map_or("all".to_string(), |c| c.to_string());
        let what = |column: &str| format!("cpu {instance} {column}");
        let mut util = CellBuilder::new(t, what("utilization"), "mpstat -P ALL 1");
        let mut sat = CellBuilder::new(t, what("saturation"), "runqlat").off(probes.runq.off());
        let mut steal = None;
        if let (Some(a), Some(b)) = (after.cpu.get(&key), before.cpu.get(&key)) {
            let total = a.total.saturating_sub(b.total).max(1) as f64;
            let share = |now: u64, then: u64| 100.0 * now.saturating_sub(then) as f64 / total;
            let busy = share(a.busy, b.busy);
            util.against(
                "busy_pct",
                busy,
                "cpu.busy",
                pct,
                format!("{} busy", pct(busy)),
            );
            // Busy's parts, which add up to it: who the time went to.
            let parts = [
                ("user_pct", "usr", share(a.user, b.user)),
                ("system_pct", "sys", share(a.system, b.system)),
                ("irq_pct", "irq", share(a.irq, b.irq)),
                ("softirq_pct", "si", share(a.softirq, b.softirq)),
            ];
            let text: Vec<String> = parts
                .iter()
                .map(|(_, label, v)| format!("{label} {}", pct(*v)))
                .collect();
            for (i, (key, _, value)) in parts.iter().enumerate() {
                // One line of text for the four; each its own figure.
                let text = if i == 0 {
                    text.join(" ")
                } else {
                    String::new()
                };
                util.plain(key, json!(round(*value)), text);
            }
            steal = Some(share(a.steal, b.steal));
        }
        if let Some(runq) = &sample.runq {
            let (wait_ns, hist) = runq.get(&key).copied().unwrap_or((0, LlHist::ZERO));
            let mut waiting = wait_ns as f64 / 1e9 / seconds;
            if key.is_none() {
                waiting /= cpus as f64;
            }
            sat.p99("runq_p99_seconds", "runq", Some(&hist), "cpu.runq");
            sat.against(
                "waiting_per_cpu",
                waiting,
                "cpu.waiting",
                num,
                format!("{} waiting/CPU", num(waiting)),
            );
        }
        if let Some(steal) = steal {
            sat.against(
                "steal_pct",
                steal,
                "cpu.steal",
                pct,
                format!("steal {}", pct(steal)),
            );
        }
        if key.is_none()
            && let (Some(a), Some(b)) = (after.cpu_psi_us, before.cpu_psi_us)
        {
            let some = 100.0 * a.saturating_sub(b) as f64 / 1e6 / seconds;
            sat.against(
                "psi_some_pct",
                some,
                "cpu.psi",
                pct,
                format!("psi some {}", pct(some)),
            );
        }
        let mut errors = CellBuilder::new(t, what("errors"), "hwerr").off(probes.hw.off());
        match (&probes.hw, &sample.hw_errors) {
            (Probe::On(hw), Some(counts)) if hw.sources.contains(&"machine-check") => {
                let n = hw_errors(counts, &["machine-check"], key);
                errors.count(
                    "machine_checks",
                    n,
                    format!("{n} machine check{}", if n == 1 { "" } else { "s" }),
                );
            }
            (Probe::On(_), _) => errors.elsewhere(
                "not available on this kernel: no mce:mce_record tracepoint (CONFIG_X86_MCE)",
                "- (not available on this kernel)",
            ),
            (Probe::Off(_), _) => {}
        }
        rows.push(Row {
            resource: "cpu",
            instance,
            cells: [util.done(), sat.done(), errors.done()],
        });
    }
}

/// Hardware errors of `sources` reported on CPU `cpu` (`None`: any).
fn hw_errors(counts: &BTreeMap<(&str, u32), u64>, sources: &[&str], cpu: Option<u32>) -> u64 {
    counts
        .iter()
        .filter(|((source, on), _)| sources.contains(source) && cpu.is_none_or(|c| c == *on))
        .map(|(_, n)| n)
        .sum()
}

pub fn memory_row(i: &Inputs) -> Row {
    let (before, after, seconds) = (i.before, i.after, i.seconds);
    let (sample, probes, t) = (i.sample, i.probes, i.t);
    let mut util = CellBuilder::new(
        t,
        "memory utilization".into(),
        "free -m; memory cgroups' usage",
    );
    if let Some((total, available)) = after.memory {
        let used = 100.0 * (1.0 - available as f64 / total.max(1) as f64);
        util.against(
            "used_pct",
            used,
            "mem.used",
            pct,
            format!("{} used", pct(used)),
        );
    }
    let mut sat = CellBuilder::new(t, "memory saturation".into(), "memlat --reclaim -P")
        .off(probes.memory.off());
    if let Some(ns) = sample.reclaim_ns {
        let per_second = ns as f64 / 1e9 / seconds;
        sat.against(
            "reclaim_seconds_per_second",
            per_second,
            "mem.reclaim",
            |v| format!("{}/s", secs(v)),
            format!("reclaim {}/s", secs(per_second)),
        );
    }
    if let (Some(a), Some(b)) = (after.psi_us, before.psi_us) {
        let some = 100.0 * a.saturating_sub(b) as f64 / 1e6 / seconds;
        sat.against(
            "psi_some_pct",
            some,
            "mem.psi",
            pct,
            format!("psi some {}", pct(some)),
        );
    }
    let mut errors = CellBuilder::new(t, "memory errors".into(), "oomkill; memlat; hwerr");
    let why: Vec<&str> = [probes.oom.off(), probes.memory.off(), probes.hw.off()]
        .into_iter()
        .flatten()
        .collect();
    if let Some(kills) = &sample.kills {
        let n = kills.len() as u64;
        errors.count(
            "oom_kills",
            n,
            format!("{n} OOM kill{}", if n == 1 { "" } else { "s" }),
        );
    }
    if let Some(failed) = &sample.failed_calls {
        let n: u64 = failed.values().sum();
        let which = failed.keys().cloned().collect::<Vec<_>>().join("/");
        let text = if n == 0 {
            "0 failed mmap/brk".to_string()
        } else {
            format!("{n} failed {which}")
        };
        errors.count("failed_calls", n, text);
    }
    if let (Probe::On(hw), Some(counts)) = (&probes.hw, &sample.hw_errors) {
        let sources: Vec<&str> = ["memory-controller", "memory-failure"]
            .into_iter()
            .filter(|s| hw.sources.contains(s))
            .collect();
        if !sources.is_empty() {
            let n = hw_errors(counts, &sources, None);
            errors.count("hw_memory_errors", n, format!("{n} hw memory errors"));
        }
    }
    let errors = errors.off((!why.is_empty()).then(|| why.join("; ")).as_deref());
    Row {
        resource: "memory",
        instance: "all".into(),
        cells: [util.done(), sat.done(), errors.done()],
    }
}

pub fn disk_rows(rows: &mut Vec<Row>, i: &Inputs) {
    let (before, after, seconds) = (i.before, i.after, i.seconds);
    let (sample, probes, t) = (i.sample, i.probes, i.t);
    let ms = seconds * 1e3;
    for (name, a) in &after.disks {
        let b = before.disks.get(name).copied().unwrap_or(*a);
        let ios = a.ios.saturating_sub(b.ios);
        let errors_here = sample
            .io_errors
            .as_ref()
            .and_then(|e| e.get(&a.dev))
            .cloned()
            .unwrap_or_default();
        // Idle loop devices would crowd the screen.
        if name.starts_with("loop") && ios == 0 && errors_here.is_empty() {
            continue;
        }
        let what = |column: &str| format!("disk {name} {column}");
        let mut util = CellBuilder::new(t, what("utilization"), "iostat -x 1");
        let busy = (100.0 * a.io_ticks.saturating_sub(b.io_ticks) as f64 / ms).min(100.0);
        util.against(
            "busy_pct",
            busy,
            "disk.busy",
            pct,
            format!("{} busy", pct(busy)),
        );
        let iops = ios as f64 / seconds;
        util.plain("iops", json!(round(iops)), format!("{iops:.0} IOPS"));
        let mut sat = CellBuilder::new(t, what("saturation"), "biolatency -D; fsdist -M")
            .off(probes.disk.off());
        if let Some(io) = &sample.io {
            sat.p99("io_p99_seconds", "I/O", io.get(&a.dev), "disk.p99");
        }
        // The file systems on this disk, as the application sees them: the
        // page cache's hits, and the waits for this disk, together.
        if let Some(fs) = &sample.fs {
            sat.p99("fs_p99_seconds", "fs", fs.get(&a.dev), "fs.p99");
        }
        let queue = a.time_in_queue.saturating_sub(b.time_in_queue) as f64 / ms;
        sat.against(
            "queue_depth",
            queue,
            "disk.queue",
            num,
            format!("queue {}", num(queue)),
        );
        let mut errors = CellBuilder::new(t, what("errors"), "biolatency -d DISK (errors table)")
            .off(probes.disk.off());
        if sample.io_errors.is_some() {
            let n: u64 = errors_here.values().sum();
            let text = match errors_here.iter().max_by_key(|(_, n)| **n) {
                Some((status, _)) => format!("{n} failed I/O ({status})"),
                None => "0 failed I/O".to_string(),
            };
            errors.count("failed_io", n, text);
        }
        rows.push(Row {
            resource: "disk",
            instance: name.clone(),
            cells: [util.done(), sat.done(), errors.done()],
        });
    }
}

pub fn net_rows(rows: &mut Vec<Row>, i: &Inputs) {
    let (before, after, seconds) = (i.before, i.after, i.seconds);
    let (sample, probes, t) = (i.sample, i.probes, i.t);
    let empty = BTreeMap::new();
    let drops = sample.drops.as_ref().unwrap_or(&empty);
    // RTT by interface, through the local addresses of this namespace.
    let addresses = counters::addresses();
    let mut rtt_by_if: BTreeMap<String, LlHist> = BTreeMap::new();
    let mut rtt_all = LlHist::ZERO;
    for (addr, hist) in sample.rtt.iter().flatten() {
        merge(&mut rtt_all, hist);
        let name = addresses.get(addr).cloned().unwrap_or_else(|| {
            // Loopback addresses beyond 127.0.0.1 are lo's too.
            if addr.is_loopback() || matches!(addr, IpAddr::V4(a) if a.octets()[0] == 127) {
                "lo".to_string()
            } else {
                String::new()
            }
        });
        merge(rtt_by_if.entry(name).or_insert(LlHist::ZERO), hist);
    }
    // This namespace's interfaces, then those only seen dropping (other
    // network namespaces: their counters are not readable from here).
    let mut names: Vec<String> = after.interfaces.keys().cloned().collect();
    names.extend(
        drops
            .keys()
            .filter(|n| !n.is_empty() && !after.interfaces.contains_key(*n))
            .cloned(),
    );
    for name in names {
        let counters = after
            .interfaces
            .get(&name)
            .map(|a| (a, before.interfaces.get(&name).copied().unwrap_or(*a)));
        let here = drops.get(&name);
        let (queue, other, top) = split_drops(here);
        let device_errors = counters.map(|(a, b)| a.errors.saturating_sub(b.errors));
        // lo only when something happened to it.
        if name == "lo" && queue + other + device_errors.unwrap_or(0) == 0 {
            continue;
        }
        let what = |column: &str| format!("net {name} {column}");
        let mut util = CellBuilder::new(t, what("utilization"), "sar -n DEV 1");
        match counters {
            Some((a, b)) => {
                let bits = 8.0 * a.bytes.saturating_sub(b.bytes) as f64 / seconds;
                util.plain("bits_per_second", json!(round(bits)), rate(bits));
                if let Some(speed) = counters::link_speed_mbps(&name) {
                    let used = 100.0 * bits / (speed as f64 * 1e6);
                    util.against(
                        "link_pct",
                        used,
                        "net.util",
                        pct,
                        format!("{} of {}", pct(used), rate(speed as f64 * 1e6)),
                    );
                }
            }
            None => {
                util.elsewhere(
                    "the interface is in another network namespace: its counters are read there (ip netns exec NS usecheck)",
                    "- (other netns)",
                );
            }
        }
        let mut sat = CellBuilder::new(t, what("saturation"), "netdrop -I; tcprtt -b")
            .off(probes.drops.off().or(probes.rtt.off()));
        if sample.rtt.is_some() {
            sat.p99("rtt_p99_seconds", "rtt", rtt_by_if.get(&name), "net.rtt");
        }
        if sample.drops.is_some() {
            sat.count("queue_drops", queue, format!("{queue} queue drops"));
        }
        let mut errors = CellBuilder::new(t, what("errors"), "netdrop -I").off(probes.drops.off());
        if sample.drops.is_some() {
            errors.drops(other, top.as_deref());
        }
        if let Some(n) = device_errors {
            errors.count("device_errors", n, format!("{n} device errors"));
        }
        rows.push(Row {
            resource: "net",
            instance: name,
            cells: [util.done(), sat.done(), errors.done()],
        });
    }
    // The TCP/IP stack: what belongs to no interface.
    let (a, b) = (after.tcp, before.tcp);
    let what = |column: &str| format!("net stack {column}");
    let mut util = CellBuilder::new(t, what("utilization"), "nstat");
    let segs = a.segments.saturating_sub(b.segments) as f64 / seconds;
    util.plain(
        "tcp_segments_per_second",
        json!(round(segs)),
        format!("{segs:.0} TCP segs/s"),
    );
    let (queue, other, top) = split_drops(drops.get(""));
    let mut sat = CellBuilder::new(t, what("saturation"), "tcprtt; netdrop; nstat")
        .off(probes.rtt.off().or(probes.drops.off()));
    if sample.rtt.is_some() {
        sat.p99("rtt_p99_seconds", "rtt", Some(&rtt_all), "net.rtt");
    }
    let overflows = a.listen_overflows.saturating_sub(b.listen_overflows);
    sat.count(
        "listen_overflows",
        overflows,
        format!("{overflows} listen overflows"),
    );
    if sample.drops.is_some() {
        sat.count("queue_drops", queue, format!("{queue} queue drops"));
    }
    let mut errors =
        CellBuilder::new(t, what("errors"), "tcpretrans; netdrop").off(probes.drops.off());
    let retrans = a.retransmits.saturating_sub(b.retransmits);
    errors.count("retransmits", retrans, format!("{retrans} retransmits"));
    let resets = a.resets_sent.saturating_sub(b.resets_sent);
    errors.plain(
        "resets_sent",
        json!(resets),
        format!("{resets} resets sent"),
    );
    if sample.drops.is_some() {
        errors.drops(other, top.as_deref());
    }
    rows.push(Row {
        resource: "net",
        instance: "stack".into(),
        cells: [util.done(), sat.done(), errors.done()],
    });
}

/// Drop reasons that say a queue or buffer was full: saturation, not
/// error.
fn queue_reason(reason: &str) -> bool {
    [
        "BACKLOG",
        "RCVBUFF",
        "QDISC",
        "FULL_RING",
        "PROTO_MEM",
        "NOMEM",
        "PRUNE",
    ]
    .iter()
    .any(|k| reason.contains(k))
}

/// Splits an interface's drops into (queue drops, other drops, the other
/// drops' most frequent reason).
fn split_drops(drops: Option<&BTreeMap<String, u64>>) -> (u64, u64, Option<String>) {
    let Some(drops) = drops else {
        return (0, 0, None);
    };
    let queue = drops
        .iter()
        .filter(|(r, _)| queue_reason(r))
        .map(|(_, n)| n)
        .sum();
    let other: Vec<(&String, &u64)> = drops.iter().filter(|(r, _)| !queue_reason(r)).collect();
    let top = other
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(r, _)| (*r).clone());
    (queue, other.iter().map(|(_, n)| **n).sum(), top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_drops_are_saturation_the_rest_errors() {
        let drops: BTreeMap<String, u64> = [
            ("SOCKET_RCVBUFF".to_string(), 3),
            ("NETFILTER_DROP".to_string(), 5),
            ("NO_SOCKET".to_string(), 1),
        ]
        .into();
        assert_eq!(
            split_drops(Some(&drops)),
            (3, 6, Some("NETFILTER_DROP".into()))
        );
        assert_eq!(split_drops(None), (0, 0, None));
    }
}

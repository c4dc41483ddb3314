//! One screen: a row per resource instance, three cells (utilization,
//! saturation, errors), each a few measured figures, flagged against the
//! thresholds; then text (comfy-table, 80 columns), JSON or OpenMetrics.

use std::{collections::BTreeMap, net::IpAddr, time::Instant};

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
use serde_json::{Map, Value, json};
use toolkit_core::LlHist;
use toolkit_report::{OpenMetrics, output::ll_percentiles};

use crate::{
    counters::{self, CpuTime, DiskStat, NetDev, Tcp},
    probes::{Probes, Sample, merge},
    thresholds::Thresholds,
};

/// The three columns.
pub const COLUMNS: [&str; 3] = ["utilization", "saturation", "errors"];

/// The kernel's counters at one instant.
pub struct Snapshot {
    at: Instant,
    cpu: BTreeMap<Option<u32>, CpuTime>,
    memory: Option<(u64, u64)>,
    psi_us: Option<u64>,
    disks: BTreeMap<String, DiskStat>,
    interfaces: BTreeMap<String, NetDev>,
    tcp: Tcp,
}

impl Snapshot {
    pub fn take() -> Self {
        Self {
            at: Instant::now(),
            cpu: counters::cpu_times(),
            memory: counters::memory(),
            psi_us: counters::memory_pressure_us(),
            disks: counters::disks(),
            interfaces: counters::interfaces(),
            tcp: counters::tcp(),
        }
    }
}

/// A measured figure: its JSON/OpenMetrics name, value, text, and why it
/// was flagged.
pub struct Figure {
    pub key: &'static str,
    pub value: Value,
    pub text: String,
    pub flag: Option<String>,
}

/// One cell: its figures, or why it has none.
#[derive(Default)]
pub struct Cell {
    pub figures: Vec<Figure>,
    pub unavailable: Option<String>,
    /// Nothing to measure here, by design: this text in the cell, the
    /// reason in JSON and the docs (not a note on every screen).
    pub dash: Option<&'static str>,
}

impl Cell {
    fn flagged(&self) -> bool {
        self.figures.iter().any(|f| f.flag.is_some())
    }

    fn text(&self) -> String {
        if let Some(text) = self.dash {
            return text.into();
        }
        if let Some(why) = &self.unavailable
            && self.figures.is_empty()
        {
            return format!("n/a: {}", short(why));
        }
        let lines: Vec<String> = self
            .figures
            .iter()
            .map(|f| {
                if f.flag.is_some() {
                    format!("{}!", f.text)
                } else {
                    f.text.clone()
                }
            })
            .collect();
        lines.join("\n")
    }
}

/// The first words of a reason, for a cell; the whole reason is in the
/// notes under the table.
fn short(why: &str) -> String {
    let words: Vec<&str> = why.split_whitespace().take(3).collect();
    let mut s = words.join(" ");
    if why.split_whitespace().count() > 3 {
        s.push_str("...");
    }
    s
}

/// A resource instance's row.
pub struct Row {
    pub resource: &'static str,
    pub instance: String,
    pub cells: [Cell; 3],
}

/// Builds a cell's figures, flagging them against thresholds, with the
/// names the flags' notes give.
struct CellBuilder<'a> {
    thresholds: &'a Thresholds,
    what: String,
    drill: &'static str,
    cell: Cell,
}

impl<'a> CellBuilder<'a> {
    fn new(thresholds: &'a Thresholds, what: String, drill: &'static str) -> Self {
        Self {
            thresholds,
            what,
            drill,
            cell: Cell::default(),
        }
    }

    /// A figure flagged when `value` reaches threshold `name`; `show`
    /// writes a value (the figure's or the threshold's).
    fn against(
        &mut self,
        key: &'static str,
        value: f64,
        name: &str,
        show: impl Fn(f64) -> String,
        text: String,
    ) {
        let limit = self.thresholds.get(name);
        let flag = (value >= limit).then(|| {
            format!(
                "{}: {} >= {} ({name}); drill down: {}",
                self.what,
                show(value),
                show(limit),
                self.drill
            )
        });
        self.cell.figures.push(Figure {
            key,
            value: json!(round(value)),
            text,
            flag,
        });
    }

    /// A count flagged when not zero (errors, drops for a full queue).
    fn count(&mut self, key: &'static str, count: u64, text: String) {
        let flag =
            (count > 0).then(|| format!("{}: {text}; drill down: {}", self.what, self.drill));
        self.cell.figures.push(Figure {
            key,
            value: json!(count),
            text,
            flag,
        });
    }

    /// A p99 latency (`label p99 4.2ms`) flagged at threshold `name`, or
    /// `label p99 -` (null in JSON) without samples.
    fn p99(&mut self, key: &'static str, label: &str, hist: Option<&LlHist>, name: &str) {
        match hist.and_then(p99) {
            Some(p) => self.against(key, p, name, secs, format!("{label} p99 {}", secs(p))),
            None => self.plain(key, Value::Null, format!("{label} p99 -")),
        }
    }

    /// Drops that are errors, with their commonest reason.
    fn drops(&mut self, count: u64, top: Option<&str>) {
        let text = match top {
            Some(reason) if count > 0 => format!("{count} drops ({reason})"),
            _ => format!("{count} drops"),
        };
        self.count("drops", count, text);
    }

    /// A figure never flagged.
    fn plain(&mut self, key: &'static str, value: Value, text: String) {
        self.cell.figures.push(Figure {
            key,
            value,
            text,
            flag: None,
        });
    }

    fn off(mut self, why: Option<&str>) -> Self {
        if let Some(why) = why {
            self.cell.unavailable = Some(why.to_string());
        }
        self
    }

    fn done(self) -> Cell {
        self.cell
    }
}

/// Rounds to 4 significant digits for JSON and OpenMetrics.
fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

fn num(v: f64) -> String {
    format!("{v:.2}")
}

/// A duration in seconds, as operators read it: 850us, 4.2ms, 1.20s.
pub fn secs(v: f64) -> String {
    if v < 1e-3 {
        format!("{:.0}us", v * 1e6)
    } else if v < 1.0 {
        format!("{:.1}ms", v * 1e3)
    } else {
        format!("{v:.2}s")
    }
}

fn p99(hist: &LlHist) -> Option<f64> {
    (hist.count > 0).then(|| ll_percentiles(hist, &[99.0])[0] / 1e9)
}

/// Bits per second, as `ip -s` and link speeds are written.
fn rate(bits: f64) -> String {
    match bits {
        b if b >= 1e9 => format!("{:.1} Gb/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mb/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kb/s", b / 1e3),
        b => format!("{b:.0} b/s"),
    }
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

/// One screen.
pub struct Screen {
    pub seconds: f64,
    pub cpus: usize,
    pub rows: Vec<Row>,
    pub kills: Vec<oomkill::Kill>,
    pub lost: Vec<(&'static str, u64)>,
}

impl Screen {
    pub fn new(
        before: &Snapshot,
        after: &Snapshot,
        sample: Sample,
        probes: &Probes,
        thresholds: &Thresholds,
        per_cpu: bool,
    ) -> Self {
        let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
        let cpus = after.cpu.keys().filter(|k| k.is_some()).count().max(1);
        let mut rows = Vec::new();
        cpu_rows(
            &mut rows, before, after, &sample, probes, thresholds, per_cpu, seconds, cpus,
        );
        rows.push(memory_row(
            before, after, &sample, probes, thresholds, seconds,
        ));
        disk_rows(
            &mut rows, before, after, &sample, probes, thresholds, seconds,
        );
        net_rows(
            &mut rows, before, after, &sample, probes, thresholds, seconds,
        );
        Self {
            seconds,
            cpus,
            rows,
            kills: sample.kills.unwrap_or_default(),
            lost: sample.lost,
        }
    }

    /// Whether any cell was flagged.
    pub fn flagged(&self) -> bool {
        self.rows.iter().any(|r| r.cells.iter().any(Cell::flagged))
    }

    /// The table, the flags' notes and the reasons for cells without
    /// figures.
    pub fn text(&self, time: Option<&str>) -> String {
        let mut out = String::new();
        let when = time.map_or(String::new(), |t| format!("{t} "));
        out.push_str(&format!(
            "{when}USE check of {} CPU{}, over {:.2} s\n",
            self.cpus,
            if self.cpus == 1 { "" } else { "s" },
            self.seconds
        ));
        let mut table = Table::new();
        table
            .load_style(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(80)
            .set_header(["RESOURCE", "UTILIZATION", "SATURATION", "ERRORS"]);
        for row in &self.rows {
            // Memory is one resource: no instance to name.
            let name = if row.resource == "memory" {
                row.resource.to_string()
            } else {
                format!("{} {}", row.resource, row.instance)
            };
            table.add_row([
                name,
                row.cells[0].text(),
                row.cells[1].text(),
                row.cells[2].text(),
            ]);
        }
        // A resource on one line (`net eth0@4026532246`): the figures wrap.
        if let Some(column) = table.column_mut(0) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
        for line in table.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let mut flags = Vec::new();
        // What is not measured, once per reason, with the cells it empties.
        let mut unmeasured: Vec<(String, Vec<String>)> = Vec::new();
        for row in &self.rows {
            for (column, cell) in COLUMNS.iter().zip(&row.cells) {
                flags.extend(cell.figures.iter().filter_map(|f| f.flag.clone()));
                if let Some(why) = cell.unavailable.as_ref().filter(|_| cell.dash.is_none()) {
                    let what = format!("{} {column}", row.resource);
                    match unmeasured.iter_mut().find(|(w, _)| w == why) {
                        Some((_, cells)) if !cells.contains(&what) => cells.push(what),
                        Some(_) => {}
                        None => unmeasured.push((why.clone(), vec![what])),
                    }
                }
            }
        }
        for kill in &self.kills {
            flags.push(format!(
                "OOM kill of PID {} (\"{}\"){}, triggered by PID {} (\"{}\")",
                kill.victim.0,
                kill.victim.1,
                kill.memcg
                    .as_deref()
                    .map_or(String::new(), |m| format!(" in {m}")),
                kill.trigger.0,
                kill.trigger.1
            ));
        }
        if flags.is_empty() {
            out.push_str("nothing flagged\n");
        }
        for flag in flags {
            out.push_str(&format!("! {flag}\n"));
        }
        for (why, cells) in unmeasured {
            out.push_str(&format!("n/a: {}: {why}\n", cells.join(", ")));
        }
        out
    }

    /// The JSON object of the screen.
    pub fn json(&self, thresholds: &Thresholds) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut object = Map::new();
                object.insert("resource".into(), row.resource.into());
                object.insert("instance".into(), row.instance.clone().into());
                let mut flagged = Vec::new();
                for (column, cell) in COLUMNS.iter().zip(&row.cells) {
                    let mut figures = Map::new();
                    for f in &cell.figures {
                        figures.insert(f.key.into(), f.value.clone());
                    }
                    if let Some(why) = &cell.unavailable {
                        figures.insert("unavailable".into(), why.clone().into());
                    }
                    if cell.flagged() {
                        flagged.push(*column);
                    }
                    object.insert((*column).into(), figures.into());
                }
                object.insert("flagged".into(), json!(flagged));
                object.into()
            })
            .collect();
        let kills: Vec<Value> = self.kills.iter().map(oomkill::Kill::json).collect();
        let lost: Map<String, Value> = self
            .lost
            .iter()
            .map(|(r, n)| ((*r).to_string(), json!(n)))
            .collect();
        json!({
            "tool": "usecheck",
            "time": toolkit_report::output::rfc3339_now(),
            "interval_s": round(self.seconds),
            "cpus": self.cpus,
            "flagged": self.flagged(),
            "resources": rows,
            "oom_kills": kills,
            "thresholds": thresholds.json(),
            "lost": lost,
        })
    }

    /// Sets the gauges (this screen's figures and flags) and adds the
    /// counts to the counters, then rewrites the file.
    pub fn publish(&self, om: &mut OpenMetrics) {
        // `device`, as node_exporter names disks and interfaces: Prometheus
        // keeps `instance` for the scraped target.
        const LABELS: &[&str] = &["resource", "device"];
        om.clear_gauges();
        for row in &self.rows {
            let labels = vec![row.resource.to_string(), row.instance.clone()];
            for (column, cell) in COLUMNS.iter().zip(&row.cells) {
                for f in &cell.figures {
                    // Errors are counters (totals since start: rate() and
                    // increase() give any window); the rest are gauges.
                    match (*column, f.value.as_u64(), f.value.as_f64()) {
                        ("errors", Some(n), _) => om.count(
                            f.key,
                            "Errors counted since usecheck started.",
                            LABELS,
                            labels.clone(),
                            n,
                        ),
                        (_, _, Some(v)) => om.gauge(
                            f.key,
                            "The last interval's figure (see usecheck(1)).",
                            LABELS,
                            labels.clone(),
                            v,
                        ),
                        _ => {}
                    }
                }
                let mut values = labels.clone();
                values.push((*column).to_string());
                om.gauge(
                    "flagged",
                    "1 when the last interval flagged this cell.",
                    &["resource", "device", "column"],
                    values,
                    f64::from(u8::from(cell.flagged())),
                );
            }
        }
        for (reason, n) in &self.lost {
            om.count(
                "lost_samples",
                "Events the kernel side could not record, by reason.",
                &["reason"],
                vec![(*reason).to_string()],
                *n,
            );
        }
        om.publish();
    }
}

#[allow(clippy::too_many_arguments)]
fn cpu_rows(
    rows: &mut Vec<Row>,
    before: &Snapshot,
    after: &Snapshot,
    sample: &Sample,
    probes: &Probes,
    t: &Thresholds,
    per_cpu: bool,
    seconds: f64,
    cpus: usize,
) {
    let keys: Vec<Option<u32>> = if per_cpu {
        after.cpu.keys().copied().filter(Option::is_some).collect()
    } else {
        vec![None]
    };
    for key in keys {
        let instance = key.map_or("all".to_string(), |c| c.to_string());
        let what = |column: &str| format!("cpu {instance} {column}");
        let mut util = CellBuilder::new(t, what("utilization"), "mpstat -P ALL 1");
        if let (Some(a), Some(b)) = (after.cpu.get(&key), before.cpu.get(&key)) {
            let total = a.total.saturating_sub(b.total).max(1) as f64;
            let busy = 100.0 * a.busy.saturating_sub(b.busy) as f64 / total;
            util.against(
                "busy_pct",
                busy,
                "cpu.busy",
                pct,
                format!("{} busy", pct(busy)),
            );
        }
        let mut sat = CellBuilder::new(t, what("saturation"), "runqlat").off(probes.runq.off());
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
        let errors = Cell {
            figures: Vec::new(),
            unavailable: Some(
                "the kernel keeps no count of CPU errors to read per interval; machine checks are logged (rasdaemon, mcelog)"
                    .into(),
            ),
            dash: Some("- (no counter)"),
        };
        rows.push(Row {
            resource: "cpu",
            instance,
            cells: [util.done(), sat.done(), errors],
        });
    }
}

fn memory_row(
    before: &Snapshot,
    after: &Snapshot,
    sample: &Sample,
    probes: &Probes,
    t: &Thresholds,
    seconds: f64,
) -> Row {
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
    let mut errors = CellBuilder::new(t, "memory errors".into(), "oomkill; memlat");
    let why: Vec<&str> = [probes.oom.off(), probes.memory.off()]
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
    let errors = errors.off((!why.is_empty()).then(|| why.join("; ")).as_deref());
    Row {
        resource: "memory",
        instance: "all".into(),
        cells: [util.done(), sat.done(), errors.done()],
    }
}

fn disk_rows(
    rows: &mut Vec<Row>,
    before: &Snapshot,
    after: &Snapshot,
    sample: &Sample,
    probes: &Probes,
    t: &Thresholds,
    seconds: f64,
) {
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
        let mut sat =
            CellBuilder::new(t, what("saturation"), "biolatency -D").off(probes.disk.off());
        if let Some(io) = &sample.io {
            sat.p99("io_p99_seconds", "I/O", io.get(&a.dev), "disk.p99");
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

fn net_rows(
    rows: &mut Vec<Row>,
    before: &Snapshot,
    after: &Snapshot,
    sample: &Sample,
    probes: &Probes,
    t: &Thresholds,
    seconds: f64,
) {
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
                util.cell.unavailable = Some(
                    "the interface is in another network namespace: its counters are read there (ip netns exec NS usecheck)"
                        .into(),
                );
                util.cell.dash = Some("- (other netns)");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(secs(0.000_85), "850us");
        assert_eq!(secs(0.0042), "4.2ms");
        assert_eq!(secs(1.2), "1.20s");
        assert_eq!(rate(1.5e6), "1.5 Mb/s");
        assert_eq!(round(1.234_567), 1.235);
    }

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

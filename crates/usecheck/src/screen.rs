//! One screen: the kernel's counters at an instant ([`Snapshot`]), the rows
//! the rules make of an interval ([`Screen::new`], rules in `rules.rs`, the
//! cells in `cell.rs`), and its three renderings: text (comfy-table, 80
//! columns), JSON and OpenMetrics.

use std::{collections::BTreeMap, time::Instant};

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
use serde_json::{Map, Value, json};
use toolkit_report::OpenMetrics;

use crate::{
    cell::{Cell, Row, round},
    counters::{self, CpuTime, DiskStat, NetDev, Tcp},
    probes::{Probes, Sample},
    rules::{self, Inputs},
    thresholds::Thresholds,
};

/// The three columns.
pub const COLUMNS: [&str; 3] = ["utilization", "saturation", "errors"];

/// The kernel's counters at one instant.
pub struct Snapshot {
    pub at: Instant,
    pub cpu: BTreeMap<Option<u32>, CpuTime>,
    pub memory: Option<(u64, u64)>,
    pub psi_us: Option<u64>,
    /// PSI's CPU `some` total, microseconds.
    pub cpu_psi_us: Option<u64>,
    pub disks: BTreeMap<String, DiskStat>,
    pub interfaces: BTreeMap<String, NetDev>,
    pub tcp: Tcp,
}

impl Snapshot {
    pub fn take() -> Self {
        Self {
            at: Instant::now(),
            cpu: counters::cpu_times(),
            memory: counters::memory(),
            psi_us: counters::memory_pressure_us(),
            cpu_psi_us: counters::cpu_pressure_us(),
            disks: counters::disks(),
            interfaces: counters::interfaces(),
            tcp: counters::tcp(),
        }
    }
}

/// One screen.
pub struct Screen {
    pub seconds: f64,
    pub cpus: usize,
    pub rows: Vec<Row>,
    pub kills: Vec<oomkill::Kill>,
    pub lost: Vec<(&'static str, u64)>,
    /// Disk requests started while tracing and not seen to complete
    /// (`Sample::io_unfinished`).
    pub io_unfinished: Option<u64>,
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
        let inputs = Inputs {
            before,
            after,
            sample: &sample,
            probes,
            t: thresholds,
            seconds,
        };
        let mut rows = Vec::new();
        rules::cpu_rows(&mut rows, per_cpu, cpus, &inputs);
        rows.push(rules::memory_row(&inputs));
        rules::disk_rows(&mut rows, &inputs);
        rules::net_rows(&mut rows, &inputs);
        Self {
            seconds,
            cpus,
            rows,
            kills: sample.kills.unwrap_or_default(),
            io_unfinished: sample.io_unfinished,
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
            "io_unfinished": self.io_unfinished,
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

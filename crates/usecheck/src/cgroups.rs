//! `--per-cgroup`: the cgroups that are saturated or failing, each from
//! its own counters and the run-queue split. CPU: the share of its
//! scheduling periods throttled by its limit (`cpu.stat`, v1 or v2) and
//! its tasks' run-queue latency p99 (runqlat's `-G`); memory: how often its
//! usage hit its limit (v2 `memory.events` `max`, v1 `memory.failcnt`:
//! each hit is reclaim) and memory pressure (PSI, v2); disk: I/O pressure
//! (PSI, v2); errors: its OOM kills (`memory.events` `oom_kill`, v1
//! `memory.oom_control`).

use std::{collections::BTreeMap, path::Path};

use serde_json::{Value, json};
use toolkit_cgroup::{Hierarchy, Row, SplitHists, container};

use crate::thresholds::Thresholds;

/// One cgroup's cumulative counters, as read.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    /// `cpu.stat`: periods with a limit, periods throttled.
    periods: u64,
    throttled: u64,
    /// Times the memory usage hit the limit.
    limit_hits: u64,
    oom_kills: u64,
    /// PSI `some` totals, us (v2 only).
    memory_stall_us: Option<u64>,
    io_stall_us: Option<u64>,
}

/// Every cgroup's counters at one moment, by path below its hierarchy's
/// root (the same path in the v1 trees and the v2 tree of a hybrid
/// machine, as systemd and the OCI runtimes make them).
pub struct Snapshot(BTreeMap<String, Counters>);

impl Snapshot {
    pub fn take() -> Self {
        let mut all: BTreeMap<String, Counters> = BTreeMap::new();
        if let Some(cpu) = Hierarchy::of_controller("cpu") {
            cpu.walk(&mut |dir, _| {
                let stat = keyed(&dir.join("cpu.stat"));
                let entry = all.entry(cpu.relative(dir)).or_default();
                entry.periods = stat.get("nr_periods").copied().unwrap_or(0);
                entry.throttled = stat.get("nr_throttled").copied().unwrap_or(0);
                true
            });
        }
        if let Some(memory) = Hierarchy::of_controller("memory") {
            memory.walk(&mut |dir, _| {
                let entry = all.entry(memory.relative(dir)).or_default();
                if memory.v2 {
                    let events = keyed(&dir.join("memory.events"));
                    entry.limit_hits = events.get("max").copied().unwrap_or(0);
                    entry.oom_kills = events.get("oom_kill").copied().unwrap_or(0);
                    entry.memory_stall_us = psi_some_total(&dir.join("memory.pressure"));
                    entry.io_stall_us = psi_some_total(&dir.join("io.pressure"));
                } else {
                    entry.limit_hits = std::fs::read_to_string(dir.join("memory.failcnt"))
                        .ok()
                        .and_then(|t| t.trim().parse().ok())
                        .unwrap_or(0);
                    let control = keyed(&dir.join("memory.oom_control"));
                    entry.oom_kills = control.get("oom_kill").copied().unwrap_or(0);
                }
                true
            });
        }
        Self(all)
    }
}

/// `name value` lines (`cpu.stat`, `memory.events`).
fn keyed(file: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// PSI's `some ... total=US`.
fn psi_some_total(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let some = text.lines().find(|l| l.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// One flagged cgroup of an interval.
pub struct Flagged {
    pub path: String,
    pub container: Option<toolkit_cgroup::Container>,
    /// % of its CPU periods throttled, when it has a limit.
    pub throttled_pct: Option<f64>,
    /// Its tasks' run-queue latency p99, seconds, with `--per-cgroup`'s
    /// run-queue split.
    pub runq_p99: Option<f64>,
    pub limit_hits: u64,
    /// PSI `some`, % of the interval (v2).
    pub memory_psi_pct: Option<f64>,
    pub io_psi_pct: Option<f64>,
    pub oom_kills: u64,
    /// What crossed its threshold: `cpu saturation`, `memory saturation`,
    /// `disk saturation`, `errors`.
    pub flags: Vec<&'static str>,
}

/// The interval's flagged cgroups, by path.
pub struct Section(pub Vec<Flagged>);

impl Section {
    /// From two snapshots `seconds` apart and the interval's run-queue
    /// split (by cgroup v2 path).
    pub fn new(
        before: &Snapshot,
        after: &Snapshot,
        seconds: f64,
        runq: Option<&SplitHists>,
        thresholds: &Thresholds,
    ) -> Self {
        let mut runq_p99: BTreeMap<String, f64> = BTreeMap::new();
        if let Some(SplitHists {
            rows,
            loglinear: Some(ll),
            ..
        }) = runq
        {
            for (row, hist) in rows.iter().zip(ll) {
                if let (Row::Cgroup(name), Some(p)) = (row, crate::cell::p99(hist)) {
                    runq_p99.insert(name.path.clone(), p);
                }
            }
        }
        let pct = |us: Option<u64>, was: Option<u64>| match (us, was) {
            (Some(now), Some(then)) => Some((now.saturating_sub(then)) as f64 / 1e4 / seconds),
            _ => None,
        };
        let mut flagged = Vec::new();
        for (path, now) in &after.0 {
            let then = before.0.get(path).copied().unwrap_or_default();
            let periods = now.periods.saturating_sub(then.periods);
            let throttled_pct = (periods > 0).then(|| {
                now.throttled.saturating_sub(then.throttled) as f64 * 100.0 / periods as f64
            });
            let limit_hits = now.limit_hits.saturating_sub(then.limit_hits);
            let oom_kills = now.oom_kills.saturating_sub(then.oom_kills);
            let memory_psi_pct = pct(now.memory_stall_us, then.memory_stall_us);
            let io_psi_pct = pct(now.io_stall_us, then.io_stall_us);
            let p99 = runq_p99.get(path).copied();
            let mut flags = Vec::new();
            let over = |v: Option<f64>, name: &str| v.is_some_and(|v| v >= thresholds.get(name));
            if over(throttled_pct, "cgroup.throttled") || over(p99, "cgroup.runq") {
                flags.push("cpu saturation");
            }
            if (limit_hits > 0 && limit_hits as f64 >= thresholds.get("cgroup.limit"))
                || over(memory_psi_pct, "cgroup.psi")
            {
                flags.push("memory saturation");
            }
            if over(io_psi_pct, "cgroup.psi") {
                flags.push("disk saturation");
            }
            if oom_kills > 0 {
                flags.push("errors");
            }
            // The root is the machine, which the table above covers.
            if flags.is_empty() || path == "/" {
                continue;
            }
            flagged.push(Flagged {
                container: container::decode(path),
                path: path.clone(),
                throttled_pct,
                runq_p99: p99,
                limit_hits,
                memory_psi_pct,
                io_psi_pct,
                oom_kills,
                flags,
            });
        }
        Self(flagged)
    }

    pub fn flagged(&self) -> bool {
        !self.0.is_empty()
    }

    /// The section under the table: a line per flagged cgroup with what
    /// crossed its threshold, or that none did.
    pub fn text(&self) -> String {
        if self.0.is_empty() {
            return "no cgroup flagged\n".to_string();
        }
        let mut out = String::from("cgroups flagged:\n");
        for c in &self.0 {
            let mut figures = Vec::new();
            if let Some(t) = c.throttled_pct {
                figures.push(format!("cpu throttled {t:.0}% of periods"));
            }
            if let Some(p) = c.runq_p99 {
                figures.push(format!("runq p99 {}", crate::cell::secs(p)));
            }
            if c.limit_hits > 0 {
                figures.push(format!("memory limit hit {} times", c.limit_hits));
            }
            if let Some(p) = c.memory_psi_pct.filter(|p| *p > 0.0) {
                figures.push(format!("memory psi {p:.1}%"));
            }
            if let Some(p) = c.io_psi_pct.filter(|p| *p > 0.0) {
                figures.push(format!("io psi {p:.1}%"));
            }
            if c.oom_kills > 0 {
                figures.push(format!("{} OOM kills", c.oom_kills));
            }
            let name = match &c.container {
                Some(container) => format!("{} ({})", c.path, container.describe()),
                None => c.path.clone(),
            };
            out.push_str(&format!(
                " ! {name}: {} [{}]\n",
                figures.join(", "),
                c.flags.join(", ")
            ));
        }
        out
    }

    pub fn json(&self) -> Value {
        self.0
            .iter()
            .map(|c| {
                json!({
                    "cgroup": c.path,
                    "container": c.container.as_ref().and_then(|c| c.id.clone()),
                    "runtime": c.container.as_ref().map(|c| c.runtime),
                    "pod_uid": c.container.as_ref().and_then(|c| c.pod_uid.clone()),
                    "cpu_throttled_pct": c.throttled_pct,
                    "runq_p99_seconds": c.runq_p99,
                    "memory_limit_hits": c.limit_hits,
                    "memory_psi_pct": c.memory_psi_pct,
                    "io_psi_pct": c.io_psi_pct,
                    "oom_kills": c.oom_kills,
                    "flagged": c.flags,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(rows: &[(&str, Counters)]) -> Snapshot {
        Snapshot(rows.iter().map(|(p, c)| (p.to_string(), *c)).collect())
    }

    #[test]
    fn flags_from_the_counters_deltas() {
        let thresholds = Thresholds::new(&[]);
        let zero = Counters::default();
        let before = snapshot(&[("/", zero), ("/a", zero), ("/b", zero), ("/c", zero)]);
        let after = snapshot(&[
            // The root is the machine: never listed here.
            (
                "/",
                Counters {
                    oom_kills: 1,
                    ..zero
                },
            ),
            (
                "/a",
                Counters {
                    periods: 20,
                    throttled: 18,
                    ..zero
                },
            ),
            (
                "/b",
                Counters {
                    limit_hits: 7,
                    memory_stall_us: Some(10),
                    ..zero
                },
            ),
            (
                "/c",
                Counters {
                    periods: 20,
                    throttled: 1,
                    ..zero
                },
            ),
            (
                "/new",
                Counters {
                    oom_kills: 2,
                    ..zero
                },
            ),
        ]);
        let section = Section::new(&before, &after, 1.0, None, &thresholds);
        let flags: Vec<(&str, Vec<&str>)> = section
            .0
            .iter()
            .map(|c| (c.path.as_str(), c.flags.clone()))
            .collect();
        assert_eq!(
            flags,
            [
                ("/a", vec!["cpu saturation"]),
                ("/b", vec!["memory saturation"]),
                ("/new", vec!["errors"]),
            ]
        );
        assert_eq!(section.0[0].throttled_pct, Some(90.0));
        assert!(
            section
                .text()
                .contains("! /a: cpu throttled 90% of periods [cpu saturation]")
        );
        assert_eq!(section.json()[1]["memory_limit_hits"], 7);
    }
}

//! One interval of syscount output: libbpf-tools' table, or a JSON line.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use serde_json::json;
use toolkit_drain::Losses;
use toolkit_report::output::{local_hms, losses_json};

use toolkit_report::{
    OpenMetrics,
    names::{errno_name, syscall_name},
};

use crate::cli::Cli;

/// A row: a syscall number, a pid, or with `-G` the index of its cgroup in
/// [`Report::cgroups`]; its count and total nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub key: u32,
    pub count: u64,
    pub total_ns: u64,
}

/// Output settings from the command line.
pub struct Report {
    pub latency: bool,
    pub milliseconds: bool,
    pub process: bool,
    pub top: usize,
    pub json: bool,
    /// Command names of processes, with -P.
    pub comms: BTreeMap<u32, String>,
    /// With -G: this interval's cgroups (rows index them), busiest first
    /// and `other` last, already chosen by `--max-cgroups`.
    pub cgroups: Option<Vec<toolkit_cgroup::Row>>,
}

impl Report {
    /// Adds the interval's rows to the metrics' totals and publishes them:
    /// `syscount_calls_total` (or `syscount_failed_calls_total` with `-x`
    /// or `-e`, the errno a label with `-e`) by syscall, process or cgroup,
    /// and with `-L` the time in them, `syscount_call_seconds_total`.
    pub fn publish(&self, metrics: &mut OpenMetrics, cli: &Cli, rows: &[Row], lost: &Losses) {
        let failed = cli.failures || cli.errno.is_some();
        let (calls, help) = match failed {
            true => ("failed_calls", "Failed syscalls, since syscount started."),
            false => ("calls", "Syscalls, since syscount started."),
        };
        let labels: &'static [&'static str] = match (self.cgroups.is_some(), self.process) {
            (true, _) => toolkit_cgroup::LABELS,
            (false, true) => &["pid", "comm"],
            (false, false) => &["syscall"],
        };
        let labels_errno: &'static [&'static str] = match (self.cgroups.is_some(), self.process) {
            (true, _) => &["cgroup", "container", "pod_uid", "errno"],
            (false, true) => &["pid", "comm", "errno"],
            (false, false) => &["syscall", "errno"],
        };
        let errno = cli.errno.map(|e| errno_name(e.unsigned_abs()));
        let labels = if errno.is_some() {
            labels_errno
        } else {
            labels
        };
        metrics.declare_counter(calls, help, labels);
        if self.latency {
            metrics.declare_counter(
                "call_seconds",
                "Time spent in those syscalls, since syscount started.",
                labels,
            );
        }
        for row in rows {
            let mut values = match (&self.cgroups, self.process) {
                (Some(cgroups), _) => cgroups
                    .get(row.key as usize)
                    .map_or_else(Vec::new, toolkit_cgroup::Row::label_values),
                (None, true) => vec![
                    row.key.to_string(),
                    self.comms.get(&row.key).cloned().unwrap_or_default(),
                ],
                (None, false) => vec![syscall_name(row.key)],
            };
            values.extend(errno.clone());
            metrics.count(calls, help, labels, values.clone(), row.count);
            if self.latency {
                metrics.count_nanoseconds(
                    "call_seconds",
                    "Time spent in those syscalls, since syscount started.",
                    labels,
                    values,
                    row.total_ns,
                );
            }
        }
        metrics.end_counts(lost);
    }

    /// Sorts (by count, or by total time with -L), keeps the top rows and
    /// prints them. Like libbpf-tools, an interval without rows prints
    /// nothing in text mode.
    pub fn write(&self, w: &mut impl Write, mut rows: Vec<Row>, lost: &Losses) -> io::Result<()> {
        if self.cgroups.is_some() {
            // In the split's order, `other` last; --max-cgroups bounds it.
            rows.sort_by_key(|row| row.key);
        } else {
            self.sort_and_keep_top(&mut rows);
        }
        if self.json {
            return self.write_json(w, &rows, lost);
        }
        if rows.is_empty() {
            return Ok(());
        }
        writeln!(w, "[{}]", local_hms())?;
        let unit = if self.milliseconds {
            "TIME (ms)"
        } else {
            "TIME (us)"
        };
        let div = if self.milliseconds { 1e6 } else { 1e3 };
        if self.cgroups.is_some() {
            // Paths are long: the cgroup last.
            match self.latency {
                true => writeln!(w, "{:>8} {unit:>16} CGROUP", "COUNT")?,
                false => writeln!(w, "{:>8} CGROUP", "COUNT")?,
            }
            for row in &rows {
                write!(w, "{:>8} ", row.count)?;
                if self.latency {
                    write!(w, "{:>16.3} ", row.total_ns as f64 / div)?;
                }
                writeln!(w, "{}", self.label(row.key))?;
            }
            writeln!(w)?;
            return w.flush();
        }
        let what = if self.process {
            "PID    COMM"
        } else {
            "SYSCALL"
        };
        if self.latency {
            writeln!(w, "{what:<22} {:>8} {unit:>16}", "COUNT")?;
        } else {
            writeln!(w, "{what:<22} {:>8}", "COUNT")?;
        }
        for row in &rows {
            write!(w, "{:<22} {:>8}", self.label(row.key), row.count)?;
            if self.latency {
                write!(w, " {:>16.3}", row.total_ns as f64 / div)?;
            }
            writeln!(w)?;
        }
        writeln!(w)?;
        w.flush()
    }

    /// Sorts by count, or by total time with -L, and keeps the top rows.
    fn sort_and_keep_top(&self, rows: &mut Vec<Row>) {
        rows.sort_by(|a, b| {
            let (x, y) = if self.latency {
                (a.total_ns, b.total_ns)
            } else {
                (a.count, b.count)
            };
            y.cmp(&x).then(a.key.cmp(&b.key))
        });
        rows.truncate(self.top);
    }

    fn label(&self, key: u32) -> String {
        if let Some(cgroups) = &self.cgroups {
            cgroups[key as usize].name()
        } else if self.process {
            let comm = self.comms.get(&key).map_or("?", String::as_str);
            format!("{key:<6} {comm:<15}")
        } else {
            syscall_name(key)
        }
    }

    fn write_json(&self, w: &mut impl Write, rows: &[Row], lost: &Losses) -> io::Result<()> {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut v = if let Some(cgroups) = &self.cgroups {
                    cgroups[r.key as usize].json().into()
                } else if self.process {
                    json!({ "pid": r.key, "comm": self.comms.get(&r.key) })
                } else {
                    json!({ "syscall": syscall_name(r.key), "nr": r.key })
                };
                v["count"] = r.count.into();
                if self.latency {
                    v["total_ns"] = r.total_ns.into();
                }
                v
            })
            .collect();
        let record = json!({
            "tool": "syscount",
            "time": toolkit_report::output::rfc3339_now(),
            "rows": rows,
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

    fn render(report: &Report, rows: Vec<Row>) -> String {
        let mut out = Vec::new();
        report.write(&mut out, rows, &Losses::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        // Drop the wall-clock line.
        text.lines().skip(1).collect::<Vec<_>>().join("\n")
    }

    fn report(latency: bool, process: bool) -> Report {
        Report {
            latency,
            milliseconds: false,
            process,
            top: 2,
            json: false,
            comms: BTreeMap::from([(4242, "getppid-loop".to_string())]),
            cgroups: None,
        }
    }

    #[test]
    fn count_layout() {
        let rows = vec![
            Row {
                key: 257,
                count: 1016,
                total_ns: 0,
            },
            Row {
                key: 110,
                count: 100003,
                total_ns: 0,
            },
            Row {
                key: 0,
                count: 3,
                total_ns: 0,
            },
        ];
        insta::assert_snapshot!(render(&report(false, false), rows));
    }

    #[test]
    fn latency_layout_sorts_by_time() {
        let rows = vec![
            Row {
                key: 257,
                count: 1016,
                total_ns: 9_000_000,
            },
            Row {
                key: 110,
                count: 100003,
                total_ns: 8_123_456,
            },
        ];
        insta::assert_snapshot!(render(&report(true, false), rows));
    }

    #[test]
    fn process_layout() {
        let rows = vec![Row {
            key: 4242,
            count: 101019,
            total_ns: 0,
        }];
        insta::assert_snapshot!(render(&report(false, true), rows));
    }

    #[test]
    fn empty_interval_prints_nothing() {
        let mut out = Vec::new();
        report(false, false)
            .write(&mut out, Vec::new(), &Losses::default())
            .unwrap();
        assert!(out.is_empty());
    }
}

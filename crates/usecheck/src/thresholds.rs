//! When a figure is flagged: the thresholds, their defaults and `-t
//! NAME=VALUE`. Errors have none: any error is flagged.

use std::time::Duration;

/// How a threshold's value is written.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// 0-100.
    Percent,
    /// A plain number.
    Number,
    /// A duration (`10ms`, `0.5s`), kept in seconds.
    Duration,
}

/// A threshold's definition.
#[derive(Debug)]
struct Def {
    name: &'static str,
    default: f64,
    kind: Kind,
    what: &'static str,
}

const DEFS: &[Def] = &[
    Def {
        name: "cpu.busy",
        default: 90.0,
        kind: Kind::Percent,
        what: "utilization: % of CPU time busy",
    },
    Def {
        name: "cpu.waiting",
        default: 0.5,
        kind: Kind::Number,
        what: "saturation: runnable tasks waiting per CPU, on average",
    },
    Def {
        name: "cpu.runq",
        default: 0.010,
        kind: Kind::Duration,
        what: "saturation: run-queue latency p99",
    },
    Def {
        name: "cpu.steal",
        default: 10.0,
        kind: Kind::Percent,
        what: "saturation: % of CPU time stolen by the hypervisor (a VM's vCPU not running)",
    },
    Def {
        name: "cpu.psi",
        default: 20.0,
        kind: Kind::Percent,
        what: "saturation: % of time some runnable task waited for a CPU (PSI cpu some)",
    },
    Def {
        name: "mem.used",
        default: 90.0,
        kind: Kind::Percent,
        what: "utilization: % of memory not available (MemAvailable)",
    },
    Def {
        name: "mem.reclaim",
        default: 0.000_1,
        kind: Kind::Duration,
        what: "saturation: time tasks stalled in reclaim (direct or memory cgroup), per second",
    },
    Def {
        name: "mem.psi",
        default: 10.0,
        kind: Kind::Percent,
        what: "saturation: % of time some task stalled on memory (PSI)",
    },
    Def {
        name: "disk.busy",
        default: 90.0,
        kind: Kind::Percent,
        what: "utilization: % of time with I/O in flight",
    },
    Def {
        name: "disk.p99",
        default: 0.050,
        kind: Kind::Duration,
        what: "saturation: I/O latency p99",
    },
    Def {
        name: "fs.p99",
        default: 0.050,
        kind: Kind::Duration,
        what: "saturation: file operation latency p99 on the disk's file systems (fsdist)",
    },
    Def {
        name: "disk.queue",
        default: 4.0,
        kind: Kind::Number,
        what: "saturation: average requests in flight",
    },
    Def {
        name: "cgroup.throttled",
        default: 10.0,
        kind: Kind::Percent,
        what: "saturation (--per-cgroup): % of a cgroup's CPU periods throttled by its limit",
    },
    Def {
        name: "cgroup.runq",
        default: 0.010,
        kind: Kind::Duration,
        what: "saturation (--per-cgroup): a cgroup's run-queue latency p99",
    },
    Def {
        name: "cgroup.limit",
        default: 1.0,
        kind: Kind::Number,
        what: "saturation (--per-cgroup): times a cgroup's memory hit its limit (reclaim)",
    },
    Def {
        name: "cgroup.psi",
        default: 10.0,
        kind: Kind::Percent,
        what: "saturation (--per-cgroup): % of time some task of a cgroup stalled on memory or I/O (PSI, cgroup v2)",
    },
    Def {
        name: "net.util",
        default: 80.0,
        kind: Kind::Percent,
        what: "utilization: % of link speed, received and sent",
    },
    Def {
        name: "net.rtt",
        default: 0.100,
        kind: Kind::Duration,
        what: "saturation: TCP round-trip time p99",
    },
];

/// One `-t NAME=VALUE`, its value in the definition's unit (seconds for
/// durations).
#[derive(Clone, Debug)]
pub struct Threshold {
    name: &'static str,
    value: f64,
}

/// clap's parser for `-t`.
pub fn parse_threshold(text: &str) -> Result<Threshold, String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    let def = DEFS.iter().find(|d| d.name == name).ok_or_else(|| {
        let names: Vec<&str> = DEFS.iter().map(|d| d.name).collect();
        format!("unknown threshold '{name}' (one of {})", names.join(", "))
    })?;
    let parsed = match def.kind {
        Kind::Duration => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .or_else(|| {
                humantime::parse_duration(value)
                    .ok()
                    .map(|d: Duration| d.as_secs_f64())
            }),
        _ => value.parse::<f64>().ok().filter(|v| v.is_finite()),
    };
    let value = parsed.ok_or_else(|| format!("'{value}' is not a valid value for {name}"))?;
    if value < 0.0 || (def.kind == Kind::Percent && value > 100.0) {
        return Err(format!(
            "{name} must be {}",
            match def.kind {
                Kind::Percent => "between 0 and 100",
                _ => "at least 0",
            }
        ));
    }
    Ok(Threshold {
        name: def.name,
        value,
    })
}

/// Every threshold, defaults overridden by `-t`.
#[derive(Clone, Debug)]
pub struct Thresholds(Vec<(&'static Def, f64)>);

impl Thresholds {
    pub fn new(overrides: &[Threshold]) -> Self {
        Self(
            DEFS.iter()
                .map(|d| {
                    let value = overrides
                        .iter()
                        .rev()
                        .find(|t| t.name == d.name)
                        .map_or(d.default, |t| t.value);
                    (d, value)
                })
                .collect(),
        )
    }

    /// The threshold `name` (one of the definitions).
    pub fn get(&self, name: &str) -> f64 {
        self.0
            .iter()
            .find(|(d, _)| d.name == name)
            .map_or(f64::INFINITY, |(_, v)| *v)
    }

    /// Each threshold's value (seconds for durations) and meaning, by
    /// name, for JSON.
    pub fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(d, v)| {
                (
                    d.name.to_string(),
                    serde_json::json!({"value": v, "what": d.what}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let t = Thresholds::new(&[
            parse_threshold("disk.p99=20ms").unwrap(),
            parse_threshold("cpu.busy=95").unwrap(),
        ]);
        assert_eq!(t.get("disk.p99"), 0.020);
        assert_eq!(t.get("cpu.busy"), 95.0);
        assert_eq!(t.get("cpu.waiting"), 0.5);
        assert_eq!(parse_threshold("net.rtt=0.25").unwrap().value, 0.25);
        assert!(parse_threshold("mem.used=101").is_err());
        assert!(parse_threshold("nope=1").unwrap_err().contains("cpu.busy"));
    }

    #[test]
    fn help_lists_every_threshold_with_its_default() {
        for def in DEFS {
            let line = crate::cli::LONG_ABOUT
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{}=", def.name)))
                .unwrap_or_else(|| panic!("{} missing from the help", def.name));
            assert!(line.contains(def.what.split(':').next().unwrap()), "{line}");
        }
    }
}

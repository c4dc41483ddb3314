//! Reading what the tools print: tables, log2 histograms, JSON and
//! OpenMetrics.

use std::{collections::BTreeMap, path::Path, process::Command};

/// Rows `NAME COUNT [TIME]` of a syscount-style table, by first column.
pub fn parse_table(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .filter(|l| {
            !l.starts_with('[')
                && !l.starts_with("SYSCALL")
                && !l.starts_with("PID ")
                && !l.starts_with("Tracing")
        })
        .filter_map(|l| {
            let mut cols = l.split_whitespace().map(str::to_string);
            Some((cols.next()?, cols.collect()))
        })
        .collect()
}

/// One printed log2 histogram: the header line above it (`disk = vda`,
/// `flags = Sync-Write`, or empty) and its bucket counts.
#[derive(Debug)]
pub struct PrintedHist {
    pub header: String,
    pub counts: Vec<u64>,
}

impl PrintedHist {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Parses every log2 histogram in a tool's text output.
pub fn parse_log2_hists(text: &str) -> Vec<PrintedHist> {
    let mut out: Vec<PrintedHist> = Vec::new();
    let mut last_header = String::new();
    let mut in_hist = false;
    for line in text.lines() {
        if line.contains(" : count    distribution") {
            out.push(PrintedHist {
                header: last_header.clone(),
                counts: Vec::new(),
            });
            in_hist = true;
            continue;
        }
        if in_hist
            && let Some((range, rest)) = line.split_once(" : ")
            && range.contains(" -> ")
        {
            let count = rest.split_whitespace().next().unwrap().parse().unwrap();
            out.last_mut().unwrap().counts.push(count);
            continue;
        }
        in_hist = false;
        if !line.trim().is_empty() {
            last_header = line.trim().to_string();
        }
    }
    out
}

/// Runs `script` (Python, reading the OpenMetrics file `path` as
/// `sys.argv[1]`) with the Prometheus project's own parser available,
/// removes the file, and returns what the script printed.
pub fn parse_openmetrics(script: &str, path: &Path) -> String {
    let parsed = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 with prometheus_client (scripts/setup.sh installs it)");
    let _ = std::fs::remove_file(path);
    assert!(parsed.status.success(), "{parsed:?}");
    String::from_utf8_lossy(&parsed.stdout).into_owned()
}

/// The sum of the `count` fields of a JSON histogram's `field` list
/// (`buckets` or `loglinear`).
pub fn counts_in(hist: &serde_json::Value, field: &str) -> u64 {
    json_list(&hist[field])
        .map(|b| b["count"].as_u64().unwrap())
        .sum()
}

/// The elements of a JSON array (none when it is not one).
pub fn json_list(value: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    value.as_array().into_iter().flatten()
}

/// Requests biolatency says on stderr it could not put in a histogram:
/// completions the kernel did not run its program for (found when the
/// request's address is started again), and requests started but not seen
/// to complete by exit. With the I/O settled before the tool exits, both
/// are losses the kernel caused, and every request is accounted for.
pub fn biolatency_unaccounted(stderr: &str) -> u64 {
    stderr
        .lines()
        .filter(|l| {
            l.contains("samples lost (the kernel did not run the completion program)")
                || l.contains("requests started while tracing were not seen to complete")
        })
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let n = if words[1] == "warning:" {
                words[2]
            } else {
                words[1]
            };
            n.parse::<u64>().unwrap()
        })
        .sum()
}

/// The one JSON record a tool printed at exit.
pub fn json_record(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no output"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// `cgroup path -> count` of syscount's JSON rows.
pub fn syscount_rows(record: &serde_json::Value) -> BTreeMap<String, u64> {
    json_list(&record["rows"])
        .map(|row| {
            let path = row["cgroup"].as_str().unwrap().to_string();
            (path, row["count"].as_u64().unwrap())
        })
        .collect()
}

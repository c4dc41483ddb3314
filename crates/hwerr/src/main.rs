//! hwerr: a line per hardware error the kernel reports (machine checks,
//! memory controller errors, memory failures, PCIe AER), or their counts.

mod cli;

use std::{collections::BTreeMap, io::Write as _};

use anyhow::Result;
use hwerr::{HEADER, Watcher};
use serde_json::json;
use toolkit_cli::{StopSignals, poll_events, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner, say};

use crate::cli::Cli;

/// The OVERHEAD section of `man hwerr`: measured cost per event.
const OVERHEAD: &str = "One program per RAS or MCE tracepoint, which runs once per hardware error: no cost at other times.";

/// `hwerr_errors_total`'s help.
const ERRORS: &str = "Hardware errors the kernel reported, by source and severity.";

fn main() {
    tool_main("hwerr", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let mut metrics = cli.metrics.counters("hwerr")?;
    let btf = KernelBtf::load()?;
    let (present, absent) = hwerr::available(&btf);
    // Every source watched, at 0 for both severities: "no error" is a
    // series, not an absence.
    if let Some(metrics) = &mut metrics {
        for source in &present {
            for severity in ["corrected", "uncorrected"] {
                let values = vec![source.name.to_string(), severity.to_string()];
                metrics.count("errors", ERRORS, &["source", "severity"], values, 0);
            }
        }
        metrics.publish();
    }
    let mut watcher = Watcher::attach("hwerr", &btf)?;
    let watched: Vec<&str> = present.iter().map(|s| s.name).collect();
    print_banner(
        &format!(
            "Tracing hardware errors ({})... Hit Ctrl-C to end.",
            watched.join(", ")
        ),
        cli.json,
    )?;
    if !absent.is_empty() {
        let names: Vec<&str> = absent.iter().map(|s| s.what).collect();
        say!("hwerr: not available on this kernel: {}", names.join(", "));
    }
    // Counts by source, then severity: every source watched, zero or not.
    let mut counts: BTreeMap<&str, BTreeMap<String, u64>> =
        present.iter().map(|s| (s.name, BTreeMap::new())).collect();
    let mut header = false;
    // The first poll publishes every loss reason, at 0: the counter is
    // there from the start, as the interval tools' is.
    let mut first = true;
    poll_events(signals, cli.duration, |last| {
        let errors = watcher.errors();
        let lost = watcher.lost()?;
        if let Some(metrics) = &mut metrics
            && (std::mem::take(&mut first) || !errors.is_empty() || lost.any())
        {
            for error in &errors {
                let values = vec![error.source.to_string(), error.severity.clone()];
                metrics.count("errors", ERRORS, &["source", "severity"], values, 1);
            }
            metrics.end_counts(&lost);
        }
        for error in errors {
            *counts
                .entry(error.source)
                .or_default()
                .entry(error.severity.clone())
                .or_insert(0) += 1;
            if cli.count {
                continue;
            }
            let mut out = stdout();
            if cli.json {
                serde_json::to_writer(&mut out, &error.json())?;
                writeln!(out)?;
            } else {
                if !header {
                    writeln!(out, "{HEADER}")?;
                    header = true;
                }
                error.write_text(&mut out)?;
            }
            out.flush()?;
        }
        if last && cli.count {
            write_counts(&counts, &lost, cli.json)?;
        }
        Ok(())
    })
}

/// `-c`: the counts, every source watched with its corrected and
/// uncorrected errors (and any other severity seen).
fn write_counts(
    counts: &BTreeMap<&str, BTreeMap<String, u64>>,
    lost: &toolkit_drain::Losses,
    json: bool,
) -> Result<()> {
    let mut out = stdout();
    let order = hwerr::SOURCES
        .iter()
        .filter_map(|s| counts.get_key_value(s.name));
    if json {
        let sources: serde_json::Map<String, serde_json::Value> = order
            .map(|(name, by)| {
                let mut by = by.clone();
                for severity in ["corrected", "uncorrected"] {
                    by.entry(severity.to_string()).or_insert(0);
                }
                ((*name).to_string(), json!(by))
            })
            .collect();
        let lost: serde_json::Map<String, serde_json::Value> = lost
            .0
            .iter()
            .map(|(r, n)| ((*r).to_string(), json!(n)))
            .collect();
        serde_json::to_writer(
            &mut out,
            &json!({"tool": "hwerr", "counts": sources, "lost": lost}),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:<17} {:>10} {:>12} {:>6}",
            "SOURCE", "CORRECTED", "UNCORRECTED", "OTHER"
        )?;
        for (name, by) in order {
            let get = |s: &str| by.get(s).copied().unwrap_or(0);
            let other: u64 = by
                .iter()
                .filter(|(s, _)| *s != "corrected" && *s != "uncorrected")
                .map(|(_, n)| n)
                .sum();
            writeln!(
                out,
                "{name:<17} {:>10} {:>12} {other:>6}",
                get("corrected"),
                get("uncorrected")
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

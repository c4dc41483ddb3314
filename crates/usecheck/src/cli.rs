//! usecheck's command line.

use std::path::PathBuf;

use clap::Parser;
use toolkit_cli::{IntervalArgs, VERSION};

use crate::{
    probes::Skip,
    thresholds::{THRESHOLDS_HELP, Threshold, parse_threshold},
};

const EXAMPLES: &str = "\
Examples:
    usecheck 5 1              # one screen after 5 seconds
    usecheck 1                # a screen every second
    usecheck -C 5 1           # a row per CPU
    usecheck --check 10 1     # exit 3 if anything crossed a threshold
    usecheck -t cpu.busy=95,disk.p99=20ms 5
    usecheck --json 10 1      # one JSON object per screen
    usecheck --skip memory 5  # without the syscall hooks (and their cost)
    usecheck --openmetrics /var/lib/prometheus/node-exporter/usecheck.prom 15

Flagged cells end with '!'; under the table, a line per flag names the
figure, its threshold and the tool to drill down with.";

/// The USE method on one screen: for each CPU, memory, disk and network
/// interface, its utilization, saturation and errors, from eBPF where
/// counters cannot see (latency distributions, stalls, drops by reason)
/// and from the kernel's own counters where they can
#[derive(Debug, Parser)]
#[command(name = "usecheck", version = VERSION, after_help = EXAMPLES, after_long_help = format!("{THRESHOLDS_HELP}\n\n{EXAMPLES}"))]
pub struct Cli {
    #[command(flatten)]
    pub every: IntervalArgs,
    /// A row per CPU
    #[arg(short = 'C', long = "per-cpu")]
    pub per_cpu: bool,
    /// Print a timestamp on each screen's heading
    #[arg(short = 'T', long)]
    pub timestamp: bool,
    /// Change thresholds, NAME=VALUE[,...] (see --help for the names and
    /// defaults)
    #[arg(short = 't', long = "threshold", value_name = "NAME=VALUE", value_delimiter = ',', value_parser = parse_threshold)]
    pub thresholds: Vec<Threshold>,
    /// Leave out these probes (their cells say so): runq, memory (the
    /// syscall hooks), oom, disk, drops, rtt
    #[arg(long, value_name = "PROBE", value_delimiter = ',', value_enum)]
    pub skip: Vec<Skip>,
    /// Exit with status 3 if any cell was flagged (0 if none)
    #[arg(long)]
    pub check: bool,
    /// Output one JSON object per screen
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Also write the figures (gauges, and error counters since start) to
    /// FILE in OpenMetrics text format, rewritten each interval (for
    /// node_exporter's textfile collector)
    #[arg(long, value_name = "FILE")]
    pub openmetrics: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_a_usage_error() {
        toolkit_cli::assert_usage_errors::<Cli>(&[
            &["-t", "cpu.busy"],
            &["-t", "cpu.nope=3"],
            &["-t", "cpu.busy=abc"],
            &["-t", "disk.p99=-1ms"],
            &["-t", "cpu.busy=101"],
            &["0"],
            &["1", "0"],
            &["--nope"],
            &["--skip", "cpu"],
        ]);
    }

    #[test]
    fn thresholds_parse_as_lists() {
        let cli = Cli::try_parse_from([
            "usecheck",
            "-t",
            "cpu.busy=95,disk.p99=20ms",
            "-t",
            "net.rtt=1s",
        ])
        .unwrap();
        assert_eq!(cli.thresholds.len(), 3);
    }
}

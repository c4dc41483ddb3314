//! Command line, compatible with libbpf-tools' runqlat.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use toolkit_cli::{CgroupSplitArgs, HistArgs, IntervalArgs, PercentileArgs, VERSION};

use runqlat::{Grouping, Measure, Options};
use toolkit_cgroup::CgroupFilter;
use toolkit_load::TracedProcess;

pub const EXAMPLES: &str = "\
EXAMPLES:
    runqlat         # summarize run queue latency as a histogram
    runqlat 1 10    # print 1 second summaries, 10 times
    runqlat -mT 1   # 1s summaries, milliseconds, and timestamps
    runqlat -P      # show each PID separately
    runqlat -C 1    # a histogram per CPU, every second
    runqlat -G 5    # a histogram per cgroup, containers named: whose tasks wait?
    runqlat -p 185  # trace PID 185 only
    runqlat -c CG   # trace tasks in cgroup v2 CG (and below)
    runqlat --json 1  # one JSON object per second, for scripts
    runqlat --percentiles -P  # p50, p90, p99, p99.9 per process
    runqlat --compact 1       # p10-p99 and max of run-queue waits, a line a second
    runqlat --heatmap 1       # run-queue waits over time, a shaded strip a second
    runqlat --openmetrics /var/lib/node_exporter/runqlat.prom 15";

/// Summarize run queue (scheduler) latency as a histogram.
///
/// Measures how long runnable tasks wait for a CPU, from wakeup (or
/// preemption) to running, and prints log2 histograms: the USE method's CPU
/// saturation, per process, thread or PID namespace. Needs root, or CAP_BPF
/// and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "runqlat", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub out: HistArgs,
    /// Print a histogram per process ID
    #[arg(short = 'P', long = "pids", conflicts_with_all = ["per_thread", "per_pidns", "per_cgroup"])]
    pub per_process: bool,
    /// Print a histogram per thread ID
    #[arg(short = 'L', long = "tids", conflicts_with_all = ["per_pidns", "per_cgroup"])]
    pub per_thread: bool,
    /// Print a histogram per PID namespace
    #[arg(long = "pidnss", conflicts_with = "per_cgroup")]
    pub per_pidns: bool,
    /// Print a histogram per CPU (the CPU the task waited for): one
    /// saturated CPU hides in the all-CPU histogram
    #[arg(short = 'C', long = "cpus", conflicts_with_all = ["per_process", "per_thread", "per_pidns", "per_cgroup"])]
    pub per_cpu: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    /// Trace this PID only
    #[arg(short = 'p', long, value_name = "PID",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,
    /// Trace tasks in this cgroup v2 (and its descendants)
    #[arg(short = 'c', long, value_name = "CGROUP")]
    pub cgroup: Option<PathBuf>,
    #[command(flatten)]
    pub hires: PercentileArgs,
    #[command(flatten)]
    pub every: IntervalArgs,
}

impl Cli {
    /// How histograms are split: `-P`, `-L`, `--pidnss` or not at all.
    pub fn grouping(&self) -> Grouping {
        if self.per_process {
            Grouping::Process
        } else if self.per_thread {
            Grouping::Thread
        } else if self.per_pidns {
            Grouping::PidNamespace
        } else if self.per_cpu {
            Grouping::Cpu
        } else if self.split.per_cgroup {
            Grouping::Cgroup
        } else {
            Grouping::None
        }
    }
}

impl Cli {
    /// The resolved options, the `-p` process pinned as `traced` (the one
    /// conversion from the command line).
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        Ok(Options {
            measure: Measure::RunQueue,
            grouping: self.grouping(),
            process: traced.map(TracedProcess::pinned),
            cgroup: CgroupFilter::from_arg(self.cgroup.as_deref())?,
            milliseconds: self.out.milliseconds,
            loglinear: self.hires.loglinear(),
            shown_cgroups: self.split.shown().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_libbpf_tools_style() {
        let cli = Cli::try_parse_from(["runqlat", "-mT", "-P", "-p", "185", "1", "5"]).unwrap();
        assert!(cli.out.milliseconds && cli.out.timestamp && cli.per_process);
        assert_eq!(cli.pid, Some(185));
        assert_eq!(
            (cli.every.interval, cli.every.count),
            (Some(std::time::Duration::from_secs(1)), Some(5))
        );
    }

    #[test]
    fn rejects_bad_values_and_combinations() {
        assert_usage_errors::<Cli>(&[
            &["0"],
            &["1", "0"],
            &["-1"],
            &["x"],
            &["-p", "0"],
            &["-p", "abc"],
            &["-P", "-L"],
            &["-L", "--pidnss"],
            &["-P", "--pidnss"],
            &["-G", "-P"],
            &["-G", "-L"],
            &["-G", "--pidnss"],
            &["-G", "-C"],
            &["-G", "--max-cgroups", "0"],
            &["-G", "--max-cgroups", "100000"],
            &["--max-cgroups", "5"],
        ]);
    }
}

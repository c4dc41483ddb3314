//! Command line, compatible with libbpf-tools' runqlat.

use anyhow::Result;
use clap::Parser;
use runqlat::{Measure, Options, args::TaskArgs};
use toolkit_cli::{HistArgs, IntervalArgs, PercentileArgs, VERSION};
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
    #[command(flatten)]
    pub tasks: TaskArgs,
    #[command(flatten)]
    pub hires: PercentileArgs,
    #[command(flatten)]
    pub every: IntervalArgs,
}

impl Cli {
    /// The resolved options, the `-p` process pinned as `traced`.
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        self.tasks.options(
            Measure::RunQueue,
            traced,
            self.out.milliseconds,
            self.hires.loglinear(),
        )
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_libbpf_tools_style() {
        let cli = Cli::try_parse_from(["runqlat", "-mT", "-P", "-p", "185", "1", "5"]).unwrap();
        assert!(cli.out.milliseconds && cli.out.timestamp && cli.tasks.per_process);
        assert_eq!(cli.tasks.pid, Some(185));
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

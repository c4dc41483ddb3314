//! Command line, compatible with libbpf-tools' cpudist.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use runqlat::{Grouping, Measure, Options};
use toolkit_cgroup::CgroupFilter;
use toolkit_cli::{CgroupSplitArgs, HistArgs, IntervalArgs, PercentileArgs, VERSION};
use toolkit_load::TracedProcess;

pub const EXAMPLES: &str = "\
EXAMPLES:
    cpudist              # summarize on-CPU time as a histogram
    cpudist -O           # summarize off-CPU time as a histogram
    cpudist -c CG        # trace tasks in cgroup v2 CG (and below)
    cpudist 1 10         # print 1 second summaries, 10 times
    cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    cpudist -P           # show each PID separately
    cpudist -p 185       # trace PID 185 only
    cpudist -G 5         # a histogram per cgroup, containers named
    cpudist -C 1         # a histogram per CPU, every second
    cpudist --json 1     # one JSON object per second, for scripts
    cpudist --compact 1  # p10-p99 and max of on-CPU times, a line a second";

/// Summarize on-CPU time per task as a histogram.
///
/// Times each stretch a task runs on a CPU, from being switched in to
/// being switched out (with -O, each stretch off a CPU, from switch-out to
/// the next switch-in), and prints log2 histograms: many short stretches
/// mean lock contention or too fine-grained work, stretches at the
/// scheduler's quantum mean CPU-bound tasks taking turns. The idle task is
/// not counted. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "cpudist", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub out: HistArgs,
    /// Measure off-CPU time
    #[arg(short = 'O', long = "offcpu")]
    pub offcpu: bool,
    /// Print a histogram per process ID
    #[arg(short = 'P', long = "pids", conflicts_with_all = ["per_thread", "per_pidns", "per_cgroup"])]
    pub per_process: bool,
    /// Print a histogram per thread ID
    #[arg(short = 'L', long = "tids", conflicts_with_all = ["per_pidns", "per_cgroup"])]
    pub per_thread: bool,
    /// Print a histogram per PID namespace
    #[arg(long = "pidnss", conflicts_with = "per_cgroup")]
    pub per_pidns: bool,
    /// Print a histogram per CPU (the CPU the task ran on, or, with -O,
    /// came back to)
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
    /// How histograms are split: `-P`, `-L`, `--pidnss`, `-C`, `-G` or not
    /// at all.
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

    /// The resolved options, the `-p` process pinned as `traced`.
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        Ok(Options {
            measure: if self.offcpu {
                Measure::OffCpu
            } else {
                Measure::OnCpu
            },
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
        let cli = Cli::try_parse_from(["cpudist", "-OmT", "-P", "-p", "185", "1", "5"]).unwrap();
        assert!(cli.offcpu && cli.out.milliseconds && cli.out.timestamp && cli.per_process);
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
            &["x"],
            &["-p", "0"],
            &["-p", "abc"],
            &["-P", "-L"],
            &["-G", "-P"],
            &["-G", "-C"],
            &["--max-cgroups", "5"],
        ]);
    }
}

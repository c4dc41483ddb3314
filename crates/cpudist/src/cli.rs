//! Command line, compatible with libbpf-tools' cpudist.

use anyhow::Result;
use clap::Parser;
use runqlat::{Measure, Options, args::TaskArgs};
use toolkit_cli::{HistArgs, IntervalArgs, PercentileArgs, VERSION};
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
        let measure = if self.offcpu {
            Measure::OffCpu
        } else {
            Measure::OnCpu
        };
        self.tasks.options(
            measure,
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
        let cli = Cli::try_parse_from(["cpudist", "-OmT", "-P", "-p", "185", "1", "5"]).unwrap();
        assert!(cli.offcpu && cli.out.milliseconds && cli.out.timestamp && cli.tasks.per_process);
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

//! Command line, compatible with libbpf-tools' hardirqs.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use hardirqs::Options;
use toolkit_cgroup::CgroupFilter;
use toolkit_cli::{HistArgs, IntervalArgs, PercentileArgs, VERSION};
use toolkit_report::Unit;

pub const EXAMPLES: &str = "\
EXAMPLES:
    hardirqs            # sum hard irq event time, printed at Ctrl-C
    hardirqs -d         # show hard irq event time as histograms
    hardirqs -C 1 10    # interrupt counts, 1 second summaries, 10 times
    hardirqs -s 1       # only interrupts served on CPU 1
    hardirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
    hardirqs --json 1   # one JSON object per second, for scripts";

/// Summarize hard irq event time as histograms.
///
/// Times each hardware interrupt handler from irq:irq_handler_entry to
/// irq:irq_handler_exit, by interrupt line, named as /proc/interrupts
/// names it: the CPU time /proc/stat's irq column counts, and which device
/// took it. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "hardirqs", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub out: HistArgs,
    /// Show distributions as histograms
    #[arg(short = 'd', long = "distributed")]
    pub distributed: bool,
    /// Output in nanoseconds
    #[arg(short = 'N', long = "nanoseconds", conflicts_with = "milliseconds")]
    pub nanoseconds: bool,
    /// Show event counts instead of timing
    #[arg(short = 'C', long = "count", conflicts_with = "distributed")]
    pub counts: bool,
    /// Only interrupts arriving while a task of this cgroup v2 (or below)
    /// runs
    #[arg(short = 'c', long = "cgroup", value_name = "CGROUP")]
    pub cgroup: Option<PathBuf>,
    /// Only interrupts served on this CPU
    #[arg(short = 's', long = "cpu", value_name = "CPU")]
    pub cpu: Option<u32>,
    #[command(flatten)]
    pub hires: PercentileArgs,
    #[command(flatten)]
    pub every: IntervalArgs,
}

impl Cli {
    /// The resolved options (the one conversion from the command line).
    pub fn options(&self) -> Result<Options> {
        if let Some(cpu) = self.cpu {
            toolkit_cli::require_online_cpu(cpu)?;
        }
        Ok(Options {
            unit: Unit::latency(self.out.milliseconds, self.nanoseconds),
            cpu: self.cpu,
            cgroup: CgroupFilter::from_arg(self.cgroup.as_deref())?,
            loglinear: self.hires.loglinear(),
        })
    }

    /// Histograms rather than libbpf-tools' table: `-d`, or any of the
    /// modes made of histograms.
    pub fn histograms(&self) -> bool {
        self.distributed || self.out.wants_histograms(&self.hires)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_libbpf_tools_style() {
        let cli = Cli::try_parse_from(["hardirqs", "-NTC", "-s", "1", "1", "10"]).unwrap();
        assert!(cli.nanoseconds && cli.out.timestamp && cli.counts);
        assert_eq!(cli.cpu, Some(1));
        assert_eq!(cli.every.interval, Some(Duration::from_secs(1)));
        assert_eq!(cli.every.count, Some(10));
    }

    #[test]
    fn rejects_bad_values_and_combinations() {
        assert_usage_errors::<Cli>(&[
            &["-N", "-m"],
            &["-C", "-d"],
            &["-s", "-1"],
            &["-s", "one"],
            &["0"],
            &["1", "2", "3"],
        ]);
    }
}

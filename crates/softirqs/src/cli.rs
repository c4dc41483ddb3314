//! Command line, compatible with libbpf-tools' softirqs (and bcc's).

use anyhow::Result;
use clap::Parser;
use softirqs::Options;
use toolkit_cli::{HistArgs, IntervalArgs, PercentileArgs, VERSION};
use toolkit_report::Unit;

pub const EXAMPLES: &str = "\
EXAMPLES:
    softirqs            # sum soft irq event time, printed at Ctrl-C
    softirqs -d         # show soft irq event time as histograms
    softirqs -C 1 10    # time and counts, 1 second summaries, 10 times
    softirqs -c 1       # only soft irqs run on CPU 1
    softirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
    softirqs --percentiles 5   # p50, p90, p99, p99.9 per vector every 5 seconds
    softirqs --json 1   # one JSON object per second, for scripts";

/// Summarize soft irq event time as histograms.
///
/// Times each softirq (deferred interrupt work: network receive and
/// transmit, timers, block completions, RCU, ...) from irq:softirq_entry to
/// irq:softirq_exit, by vector: the CPU time that /proc/stat's softirq
/// column counts, and by whom. The network-receive softirq eating a CPU is
/// a classic hidden saturation. Time includes hard interrupts served during
/// the softirq. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "softirqs", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub out: HistArgs,
    /// Show distributions as histograms
    #[arg(short = 'd', long = "distributed")]
    pub distributed: bool,
    /// Output in nanoseconds
    #[arg(short = 'N', long = "nanoseconds", conflicts_with = "milliseconds")]
    pub nanoseconds: bool,
    /// Show event counts with timing
    #[arg(short = 'C', long = "count")]
    pub counts: bool,
    /// Trace this CPU only
    #[arg(short = 'c', long = "cpu", value_name = "CPU")]
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
        let cli = Cli::try_parse_from(["softirqs", "-NTdC", "-c", "1", "1", "10"]).unwrap();
        assert!(cli.nanoseconds && cli.out.timestamp && cli.distributed && cli.counts);
        assert_eq!(cli.cpu, Some(1));
        assert_eq!(cli.every.interval, Some(Duration::from_secs(1)));
        assert_eq!(cli.every.count, Some(10));
    }

    #[test]
    fn rejects_bad_values_and_combinations() {
        assert_usage_errors::<Cli>(&[
            &["-N", "-m"],
            &["-c", "-1"],
            &["-c", "one"],
            &["0"],
            &["1", "0"],
            &["1", "2", "3"],
        ]);
    }
}

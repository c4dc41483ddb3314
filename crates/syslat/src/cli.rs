//! Command line of syslat.

use anyhow::Result;
use clap::{Parser, ValueEnum};
use syslat::Options;
use toolkit_cgroup::CgroupFilter;
use toolkit_cli::PercentileArgs;
use toolkit_cli::{CgroupSplitArgs, HistArgs, IntervalArgs, VERSION};
use toolkit_load::TracedProcess;
use toolkit_report::{Unit, names::parse_syscall};

pub const EXAMPLES: &str = "\
EXAMPLES:
    syslat                      # latency histogram of every syscall, at Ctrl-C
    syslat 1 10                 # 1 second summaries, 10 times
    syslat -p 185 -s read,write # process 185's read and write calls only
    syslat -n -s getppid        # nanosecond buckets, for the fast calls
    syslat -x                   # only calls that failed
    syslat -P -s read,write     # read and write latency, one histogram per process
    syslat -G -s read,write 5   # the same per cgroup, containers named: whose reads are slow?
    syslat --top 5 --sort total # the 5 syscalls with the most total time
    syslat -s read --percentiles          # p50, p90, p99, p99.9 of reads
    syslat --percentiles=50,99.99 -p 185  # chosen percentiles, one process
    syslat -s read --compact 1  # read latency percentiles, a line a second
    syslat -s read --heatmap --svg read.svg 1  # read latency over time; a picture at exit
    syslat --openmetrics /var/lib/node_exporter/syslat.prom 15  # for Prometheus
    syslat --json 1             # one JSON object per second, for scripts";

/// Order of the per-syscall histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortBy {
    /// Most calls first.
    Count,
    /// Most total time first.
    Total,
}

/// Summarize the latency of each syscall as a log2 histogram.
///
/// Times every syscall from entry to return in the kernel and prints one
/// histogram per syscall with its exact count, mean and maximum, because
/// syscall durations span eight orders of magnitude. Needs root, or CAP_BPF
/// and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "syslat", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub out: HistArgs,
    /// Nanosecond histograms (many syscalls take under a microsecond)
    #[arg(short = 'n', long, conflicts_with = "milliseconds")]
    pub nanoseconds: bool,
    /// Trace this process only
    #[arg(short = 'p', long, value_name = "PID",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,
    /// Trace this thread only
    #[arg(short = 't', long, value_name = "TID",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub tid: Option<u32>,
    /// A histogram per process (PID and command) instead of per syscall:
    /// the traced syscalls (all, or -s) together
    #[arg(short = 'P', long = "pids", conflicts_with = "per_cgroup")]
    pub per_process: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    /// Trace only these syscalls (names, comma-separated)
    #[arg(short = 's', long = "syscall", value_name = "NAME[,NAME...]",
          value_delimiter = ',', value_parser = parse_syscall)]
    pub syscalls: Option<Vec<u32>>,
    /// Trace only failed calls
    #[arg(short = 'x', long)]
    pub failures: bool,
    /// Trace only calls that fail with this error (number, or name like ENOENT)
    #[arg(short = 'e', long, value_parser = toolkit_report::names::parse_errno)]
    pub errno: Option<i32>,
    /// Trace tasks in this cgroup v2 (and its descendants)
    #[arg(short = 'c', long, value_name = "CGROUP")]
    pub cgroup: Option<std::path::PathBuf>,
    /// Print only the N syscalls (processes, with -P) with the most total time
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub top: Option<u64>,
    /// Order of the histograms
    #[arg(long, value_enum, default_value_t = SortBy::Count)]
    pub sort: SortBy,
    #[command(flatten)]
    pub hires: PercentileArgs,
    #[command(flatten)]
    pub every: IntervalArgs,
}

impl Cli {
    /// The resolved options, the `-p` process pinned as `traced` (the one
    /// conversion from the command line).
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        if let Some(tid) = self.tid {
            toolkit_cli::require_thread(tid)?;
        }
        Ok(Options {
            process: traced.map(TracedProcess::pinned),
            tid: self.tid,
            syscalls: self.syscalls.clone(),
            failed_only: self.failures,
            loglinear: self.hires.loglinear(),
            errno: self.errno,
            cgroup: CgroupFilter::from_arg(self.cgroup.as_deref())?,
            per_process: self.per_process,
            per_cgroup: self.split.shown(),
            unit: Unit::latency(self.out.milliseconds, self.nanoseconds),
            ..Options::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_syscall_lists() {
        let cli = Cli::try_parse_from(["syslat", "-n", "-s", "read,write", "-s", "getppid", "1"])
            .unwrap();
        assert_eq!(cli.syscalls, Some(vec![0, 1, 110]));
        assert!(cli.nanoseconds);
        assert_eq!(cli.every.interval, Some(std::time::Duration::from_secs(1)));
        let cli = Cli::try_parse_from(["syslat", "-P", "-s", "read"]).unwrap();
        assert!(cli.per_process);
    }

    #[test]
    fn rejects_bad_values() {
        assert_usage_errors::<Cli>(&[
            &["0"],
            &["1", "0"],
            &["-s", "nosuchcall"],
            &["-s", "read,,write"],
            &["-p", "0"],
            &["-t", "-3"],
            &["--top", "0"],
            &["--sort", "name"],
            &["-m", "-n"],
        ]);
    }
}

//! Command line of memlat.

use anyhow::Result;
use clap::Parser;
use syslat::Options;
use toolkit_cgroup::CgroupFilter;
use toolkit_cli::{CgroupSplitArgs, HistArgs, IntervalArgs, PercentileArgs, VERSION};
use toolkit_load::TracedProcess;
use toolkit_report::{Unit, names::syscall_number};

pub const EXAMPLES: &str = "\
EXAMPLES:
    memlat              # mmap/munmap/brk/mremap latency and failures, at Ctrl-C
    memlat 1 10         # 1 second summaries, 10 times
    memlat -p 185       # process 185 only
    memlat --size       # also the requested lengths of mmap and mremap
    memlat -a -n        # also mprotect and madvise, nanosecond buckets
    memlat --json 1     # one JSON object per second, for scripts
    memlat --percentiles  # p50, p90, p99, p99.9 of each call
    memlat --compact 1  # mmap/munmap/brk/mremap percentiles, a line a second
    memlat --heatmap 1  # their latency over time, as shaded strips
    memlat --reclaim 5  # also direct-reclaim stalls (memory saturation)
    memlat --reclaim -P # reclaim stalls per process";

/// Summarize the latency and failures of memory-management syscalls.
///
/// Times mmap, munmap, brk and mremap (and mprotect, madvise with -a),
/// counts their failures per errno (the USE method's memory errors), and
/// with --size shows the requested lengths. Other syscalls are filtered out
/// in the kernel. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "memlat", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub out: HistArgs,
    /// Nanosecond histograms
    #[arg(short = 'n', long, conflicts_with = "milliseconds")]
    pub nanoseconds: bool,
    /// Trace this process only
    #[arg(short = 'p', long, value_name = "PID",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,
    /// Trace tasks in this cgroup v2 (and its descendants)
    #[arg(short = 'c', long, value_name = "CGROUP")]
    pub cgroup: Option<std::path::PathBuf>,
    /// Also trace mprotect and madvise
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Also print histograms of the length requested from mmap and mremap
    #[arg(long)]
    pub size: bool,
    /// Also print how long tasks stall in direct reclaim, global and
    /// memory-cgroup: the USE method's memory saturation
    #[arg(long)]
    pub reclaim: bool,
    /// With --reclaim, a reclaim histogram per process
    #[arg(
        short = 'P',
        long = "pids",
        requires = "reclaim",
        conflicts_with = "per_cgroup"
    )]
    pub per_process: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    #[command(flatten)]
    pub hires: PercentileArgs,
    #[command(flatten)]
    pub every: IntervalArgs,
}

/// Traced always, then with `--all`.
const CALLS: [&str; 4] = ["mmap", "munmap", "brk", "mremap"];
const MORE_CALLS: [&str; 2] = ["mprotect", "madvise"];

impl Cli {
    /// The calls traced: always `CALLS`, then `MORE_CALLS` with `--all`.
    pub fn calls(&self) -> Vec<&'static str> {
        let mut names = CALLS.to_vec();
        if self.all {
            names.extend(MORE_CALLS);
        }
        names
    }

    /// The resolved options, the `-p` process pinned as `traced` (the one
    /// conversion from the command line).
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        let syscalls = self
            .calls()
            .iter()
            .filter_map(|n| syscall_number(n))
            .collect();
        Ok(Options {
            process: traced.map(TracedProcess::pinned),
            syscalls: Some(syscalls),
            count_errors: true,
            record_sizes: self.size,
            loglinear: self.hires.loglinear(),
            reclaim: self.reclaim,
            reclaim_per_process: self.per_process,
            per_cgroup: self.split.shown(),
            cgroup: CgroupFilter::from_arg(self.cgroup.as_deref())?,
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
    fn rejects_bad_values() {
        assert_usage_errors::<Cli>(&[
            &["0"],
            &["1", "0"],
            &["-p", "0"],
            &["-m", "-n"],
            &["--size=3"],
        ]);
    }
}

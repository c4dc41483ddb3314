//! Command line of fsdist: libbpf-tools' options, and ours.

use anyhow::Result;
use clap::Parser;
use fsdist::{FsArgs, Options};
use toolkit_cli::{CgroupSplitArgs, HistArgs, IntervalArgs, PercentileArgs, VERSION};
use toolkit_load::TracedProcess;
use toolkit_report::Unit;

pub const EXAMPLES: &str = "\
EXAMPLES:
    fsdist                      # every file system's operation latency, at Ctrl-C
    fsdist -t ext4              # ext4 only, as libbpf-tools' fsdist -t ext4 prints it
    fsdist -t xfs 1 10          # xfs, 1 second summaries, 10 times
    fsdist -p 185 -m 5          # process 185 only, 5 second summaries in ms
    fsdist -M                   # a histogram per mount, not per file system type
    fsdist -G -t xfs 5          # xfs latency per cgroup, containers named: whose is it?
    fsdist -a                   # sockets, pipes, devices and path-only calls too
    fsdist -t ext4 --percentiles # p50, p90, p99, p99.9 of each operation
    fsdist --compact 1          # percentiles of every file system, a line a second
    fsdist --json 1             # one JSON object per second, for scripts

WHAT IT SEES:
    The read, write, open, fsync, stat and getdents families of syscalls,
    timed from entry to return, attributed to the file system of the file
    behind the descriptor. Not seen: io_uring and AIO (no syscall per
    operation), page faults on mapped files, the copies inside sendfile,
    splice and copy_file_range. Calls given a path (stat, lstat, a failed
    open) cannot be attributed to a file system: -a shows them as
    'unresolved'.";

/// Summarize file system operation latency as log2 histograms.
///
/// Times each file syscall (read, write, open, fsync, stat, getdents and
/// their variants) on the syscall tracepoints, with no kprobes, and
/// attributes it in the kernel to the file system of the file behind its
/// descriptor. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "fsdist", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub fs: FsArgs,
    #[command(flatten)]
    pub out: HistArgs,
    /// A histogram per mount (mount point) instead of per file system type
    #[arg(short = 'M', long = "mounts", conflicts_with = "per_cgroup")]
    pub per_mount: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    #[command(flatten)]
    pub hires: PercentileArgs,
    #[command(flatten)]
    pub every: IntervalArgs,
}

impl Cli {
    /// The resolved options, the `-p` process pinned as `traced` (the one
    /// conversion from the command line).
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        Ok(Options {
            loglinear: self.hires.loglinear(),
            per_cgroup: self.split.shown(),
            unit: Unit::latency(self.out.milliseconds, false),
            ..self.fs.options(traced)?
        })
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_libbpf_tools_options() {
        let cli = Cli::try_parse_from(["fsdist", "-t", "ext4", "-T", "-m", "-p", "7", "1", "10"])
            .unwrap();
        assert_eq!(cli.fs.fstype.as_deref(), Some("ext4"));
        assert!(cli.out.timestamp && cli.out.milliseconds);
        assert_eq!(cli.fs.pid, Some(7));
        assert_eq!(cli.every.count, Some(10));
    }

    #[test]
    fn rejects_bad_values() {
        assert_usage_errors::<Cli>(&[
            &["0"],
            &["1", "0"],
            &["-p", "0"],
            &["-p", "-3"],
            &["-t"],
            &["-a", "-t", "ext4"],
            &["-G", "-M"],
            &["--max-cgroups", "3"],
        ]);
    }
}

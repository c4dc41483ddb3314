//! Command line, compatible with libbpf-tools' syscount.

use std::{path::PathBuf, time::Duration};

use anyhow::Result;
use clap::Parser;
use syscount::Options;
use toolkit_cgroup::CgroupFilter;
use toolkit_cli::{CgroupSplitArgs, MetricsArgs, VERSION};
use toolkit_load::TracedProcess;
use toolkit_report::names::parse_errno;

pub const EXAMPLES: &str = "\
EXAMPLES:
    syscount                 # top 10 syscalls by count, printed at Ctrl-C
    syscount -i 1            # every second
    syscount -p $(pidof dd)  # look only at a particular process
    syscount -L              # measure and sort output by latency
    syscount -P              # group statistics by pid, not by syscall
    syscount -G -i 5         # by cgroup, containers named: whose calls are they?
    syscount -G --syscall read,write --max-cgroups 5  # the 5 busiest readers and writers
    syscount -x -i 5         # count only failed syscalls
    syscount -e ENOENT -i 5  # count only syscalls failed with a given errno
    syscount -c CG           # trace processes in cgroup v2 path CG
    syscount --syscall openat,read   # count only these syscalls
    syscount -t 4242         # one thread only (bcc)
    syscount --json -i 1     # one JSON object per second";

/// Summarize syscall counts and latencies.
///
/// Counts syscalls (and, with -L, their total time) per syscall or per
/// process, and which ones fail: the first look at what a process asks of
/// the kernel. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "syscount", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    /// Process PID to trace
    #[arg(short = 'p', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,
    /// Print summary at this interval (seconds, fractions allowed, or a
    /// duration such as 500ms; at most a day), 0 for once at exit
    #[arg(short = 'i', long, value_parser = parse_interval_or_zero)]
    pub interval: Option<Duration>,
    /// Total tracing duration (seconds, fractions allowed, or a duration
    /// such as 10m; at most a week)
    #[arg(short = 'd', long, value_parser = toolkit_cli::parse_duration)]
    pub duration: Option<Duration>,
    /// Print only the top syscalls
    #[arg(short = 'T', long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,
    /// Trace only failed syscalls
    #[arg(short = 'x', long)]
    pub failures: bool,
    /// Trace only syscalls that return this error (number, or name like ENOENT)
    #[arg(short = 'e', long, value_parser = parse_errno)]
    pub errno: Option<i32>,
    /// Collect syscall latency
    #[arg(short = 'L', long)]
    pub latency: bool,
    /// Display latency in milliseconds (default: microseconds)
    #[arg(short = 'm', long)]
    pub milliseconds: bool,
    /// Count by process and not by syscall
    #[arg(short = 'P', long, conflicts_with = "per_cgroup")]
    pub process: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    /// Print list of recognized syscalls and exit
    #[arg(short = 'l', long)]
    pub list: bool,
    /// Trace this thread only (bcc)
    #[arg(short = 't', long = "tid", value_name = "TID", conflicts_with = "pid",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub tid: Option<u32>,
    /// Trace only the children of this process (bcc's -c, which here is the
    /// cgroup, as in libbpf-tools)
    #[arg(long = "ppid", value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub ppid: Option<u32>,
    /// Count only these syscalls (names or numbers, comma-separated; -l
    /// lists them)
    #[arg(long = "syscall", value_name = "SYSCALL", value_delimiter = ',',
          value_parser = toolkit_report::names::parse_syscall)]
    pub syscalls: Option<Vec<u32>>,
    /// Trace processes in this cgroup v2 (and its descendants)
    #[arg(short = 'c', long, value_name = "CGROUP")]
    pub cgroup: Option<PathBuf>,
    /// Print one JSON object per interval instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

impl Cli {
    /// The resolved options, the `-p` process pinned as `traced` (the
    /// one conversion from the command line).
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        if let Some(tid) = self.tid {
            toolkit_cli::require_thread(tid)?;
        }
        if let Some(ppid) = self.ppid
            && !std::path::Path::new(&format!("/proc/{ppid}")).exists()
        {
            anyhow::bail!("process {ppid} not found");
        }
        Ok(Options {
            process: traced.map(TracedProcess::pinned),
            tid: self.tid,
            ppid: self.ppid,
            syscalls: self.syscalls.clone(),
            failures: self.failures,
            errno: self.errno,
            latency: self.latency,
            by_process: self.process,
            cgroup: CgroupFilter::from_arg(self.cgroup.as_deref())?,
            per_cgroup: self.split.shown(),
        })
    }
}

/// An interval, or libbpf-tools' `-i 0` (the default: print once, at
/// exit) as zero.
fn parse_interval_or_zero(text: &str) -> Result<Duration, String> {
    if text.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    toolkit_cli::parse_interval(text)
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_libbpf_tools_style() {
        let cli = Cli::try_parse_from([
            "syscount", "-p", "42", "-L", "-m", "-i", "5", "-e", "ENOENT",
        ])
        .unwrap();
        assert_eq!(cli.pid, Some(42));
        assert_eq!(cli.errno, Some(2));
        assert!(cli.latency && cli.milliseconds);
        assert_eq!((cli.interval, cli.top), (Some(Duration::from_secs(5)), 10));
        let cli = Cli::try_parse_from(["syscount", "-i", "0.5", "-d", "2.5"]).unwrap();
        assert_eq!(cli.interval, Some(Duration::from_millis(500)));
        assert_eq!(cli.duration, Some(Duration::from_millis(2500)));
        let once = Cli::try_parse_from(["syscount", "-i", "0"]).unwrap();
        assert_eq!(once.interval, Some(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_values() {
        assert_usage_errors::<Cli>(&[
            &["-T", "0"],
            &["-e", "EBOGUS"],
            &["-e", "0"],
            &["-p", "0"],
            &["-p", "-3"],
            &["-d", "0"],
            &["-i", "x"],
        ]);
    }
}

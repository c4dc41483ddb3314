//! Command line of fsslower: libbpf-tools' options, and ours.

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use fsdist::{FsArgs, Options};
use toolkit_cli::VERSION;
use toolkit_load::TracedProcess;
use toolkit_report::Unit;

pub const EXAMPLES: &str = "\
EXAMPLES:
    fsslower                    # operations slower than 10 ms, every file system
    fsslower -t ext4            # ext4 operations slower than 10 ms
    fsslower -t xfs -m 1        # xfs operations slower than 1 ms
    fsslower -m 0 -p 185        # every operation of process 185
    fsslower -t xfs -c -d 1     # for 1 second, as CSV
    fsslower --json             # one JSON object per operation, for scripts

WHAT IT SEES:
    The read, write, open, fsync, stat and getdents families of syscalls,
    timed from entry to return; the file name is the last component of
    its path. Not seen: io_uring and AIO, page faults on mapped files, the
    copies inside sendfile, splice and copy_file_range. Operations the
    ring buffer could not hold are counted and said on stderr.";

/// Trace file system operations slower than a threshold.
///
/// One line per read, write, open, fsync, stat or getdents call slower
/// than the threshold, timed on the syscall tracepoints (no kprobes) and
/// attributed in the kernel to the file behind its descriptor. Needs
/// root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "fsslower", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub fs: FsArgs,
    /// Min latency to trace, in ms (0: every operation; at most a day)
    #[arg(short = 'm', long = "min", value_name = "MIN_MS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    pub min_ms: u64,
    /// Total duration of trace (plain numbers are seconds, as libbpf-tools
    /// takes them; or 500ms, 10m, 1h)
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = toolkit_cli::parse_duration)]
    pub duration: Option<Duration>,
    /// Output as csv
    #[arg(short = 'c', long, conflicts_with = "json")]
    pub csv: bool,
    /// One JSON object per operation instead of text
    #[arg(long)]
    pub json: bool,
}

impl Cli {
    /// The resolved options, the `-p` process pinned as `traced` (the one
    /// conversion from the command line).
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        Ok(Options {
            slower_than_ns: Some(self.min_ms * 1_000_000),
            unit: Unit::Usecs,
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
        let cli =
            Cli::try_parse_from(["fsslower", "-t", "xfs", "-c", "-d", "1", "-m", "0"]).unwrap();
        assert_eq!(cli.fs.fstype.as_deref(), Some("xfs"));
        assert!(cli.csv);
        assert_eq!(cli.duration, Some(Duration::from_secs(1)));
        assert_eq!(cli.min_ms, 0);
        assert_eq!(Cli::try_parse_from(["fsslower"]).unwrap().min_ms, 10);
    }

    #[test]
    fn rejects_bad_values() {
        assert_usage_errors::<Cli>(&[
            &["-m", "-1"],
            &["-m", "86400001"],
            &["-m", "ten"],
            &["-d", "0"],
            &["-p", "0"],
            &["-c", "--json"],
            &["1"],
        ]);
    }
}

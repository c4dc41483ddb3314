//! Command line, compatible with libbpf-tools' biolatency.

use std::path::PathBuf;

use anyhow::Result;
use biolatency::{Options, disks::Disks};
use clap::Parser;
use toolkit_cgroup::CgroupFilter;
use toolkit_cli::{CgroupSplitArgs, HistArgs, IntervalArgs, PercentileArgs, VERSION};

pub const EXAMPLES: &str = "\
EXAMPLES:
    biolatency              # summarize block I/O latency as a histogram
    biolatency 1 10         # print 1 second summaries, 10 times
    biolatency -mT 1        # 1s summaries, milliseconds, and timestamps
    biolatency -Q           # include OS queued time in I/O time
    biolatency -D           # show each disk device separately
    biolatency -F           # show I/O flags separately
    biolatency -e 1         # average, total and count of each second's I/Os
    biolatency -d sdc       # trace sdc only
    biolatency -c /sys/fs/cgroup/system.slice  # trace I/O issued by that cgroup
    biolatency --json 1     # one JSON object per second, for scripts
    biolatency -D --percentiles  # p50, p90, p99, p99.9 per disk
    biolatency -d vda --compact 1  # vda's I/O latency percentiles, a line a second
    biolatency -D --heatmap 1      # latency over time per disk, as shaded strips
    biolatency --svg io.svg 1 60   # a minute of latency, drawn as a heatmap at exit
    biolatency -D --openmetrics /var/lib/node_exporter/biolatency.prom 15";

/// Summarize block device I/O latency as a histogram.
///
/// Times every block I/O request from issue to the device (or, with -Q,
/// from insertion into the OS queue) to completion, in the kernel, and
/// prints log2 histograms: the USE method's disk latency, per disk and per
/// request type. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "biolatency", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub out: HistArgs,
    /// Include OS queued time in I/O time
    #[arg(short = 'Q', long)]
    pub queued: bool,
    /// Print a histogram per disk device
    #[arg(short = 'D', long = "disks", conflicts_with = "per_cgroup")]
    pub per_disk: bool,
    /// Print a histogram per set of I/O flags
    #[arg(
        short = 'F',
        long = "flag",
        visible_alias = "flags",
        conflicts_with = "per_cgroup"
    )]
    pub per_flag: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    /// Under the histograms: the average, total and count of the interval's
    /// I/Os (bcc's extension summary)
    #[arg(short = 'e', long = "extension")]
    pub extension: bool,
    /// bcc's JSON flag: the same as --json
    #[arg(short = 'j', hide = true)]
    pub bcc_json: bool,
    /// Trace this disk only (a name under /sys/block)
    #[arg(short = 'd', long, value_name = "DISK")]
    pub disk: Option<String>,
    /// Trace I/O issued by tasks in this cgroup v2 (and its descendants)
    #[arg(short = 'c', long, value_name = "CGROUP")]
    pub cgroup: Option<PathBuf>,
    #[command(flatten)]
    pub hires: PercentileArgs,
    /// Start-time slots (a power of two, 1 to 65536; default 8192): a
    /// request whose slot another holds is timed in a hash instead. For
    /// testing that path.
    #[arg(long, hide = true, value_name = "N", value_parser = slot_bits)]
    pub slots: Option<u32>,
    #[command(flatten)]
    pub every: IntervalArgs,
}

/// `--slots N` as a power of two.
fn slot_bits(arg: &str) -> Result<u32, String> {
    match arg.parse::<u32>() {
        Ok(n) if n.is_power_of_two() && n <= 1 << biolatency_ebpf::maps::MAX_SLOT_BITS => {
            Ok(n.trailing_zeros())
        }
        _ => Err(format!("{arg:?} is not a power of two from 1 to 65536")),
    }
}

impl Cli {
    /// The resolved options (the one conversion from the command line);
    /// `disks` names the `-d` disk.
    pub fn options(&self, disks: &Disks) -> Result<Options> {
        Ok(Options {
            per_disk: self.per_disk,
            per_flag: self.per_flag,
            queued: self.queued,
            dev: self.disk.as_deref().map(|d| disks.dev_of(d)).transpose()?,
            cgroup: CgroupFilter::from_arg(self.cgroup.as_deref())?,
            milliseconds: self.out.milliseconds,
            loglinear: self.hires.loglinear(),
            slot_bits: self.slots,
            per_cgroup: self.split.shown(),
        })
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_libbpf_tools_style() {
        let cli =
            Cli::try_parse_from(["biolatency", "-mT", "-D", "-F", "-d", "vda", "1", "5"]).unwrap();
        assert!(cli.out.milliseconds && cli.out.timestamp && cli.per_disk && cli.per_flag);
        assert_eq!(cli.disk.as_deref(), Some("vda"));
        assert_eq!(
            (cli.every.interval, cli.every.count),
            (Some(std::time::Duration::from_secs(1)), Some(5))
        );
    }

    #[test]
    fn rejects_zero_and_negative() {
        assert_usage_errors::<Cli>(&[&["0"], &["1", "0"], &["-1"], &["x"]]);
    }

    #[test]
    fn slots_are_powers_of_two() {
        let bits = |n: &str| {
            Cli::try_parse_from(["biolatency", "--slots", n])
                .unwrap()
                .slots
        };
        assert_eq!(bits("1"), Some(0));
        assert_eq!(bits("8192"), Some(13));
        assert_eq!(bits("65536"), Some(16));
        assert_usage_errors::<Cli>(&[&["--slots", "0"], &["--slots", "3"], &["--slots", "131072"]]);
    }
}

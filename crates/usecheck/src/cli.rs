//! usecheck's command line.

use clap::Parser;
use toolkit_cli::{IntervalArgs, MetricsArgs, VERSION};

use crate::{
    probes::Skip,
    thresholds::{Threshold, parse_threshold},
};

/// The description in `--help` and the man page: what is measured, and
/// the thresholds with their defaults.
pub const LONG_ABOUT: &str = "\
The USE method on one screen: for the CPUs, memory, each disk and each
network interface (and the TCP/IP stack), its utilization, saturation and
errors, each a measured figure: from eBPF where counters cannot see
(run-queue latency, reclaim stalls, OOM kills, failed memory calls, I/O
latency and failed I/O, drops by reason, TCP RTT), from the kernel's own
counters where they can. The programs are those of runqlat, memlat,
oomkill, biolatency, netdrop and tcprtt, loaded together.

Thresholds (-t NAME=VALUE); a figure at or above its threshold is flagged:
    cpu.busy=90         utilization: % of CPU time busy
    cpu.waiting=0.5     saturation: runnable tasks waiting per CPU, average
    cpu.runq=10ms       saturation: run-queue latency p99
    cpu.steal=10        saturation: % of CPU time stolen by the hypervisor
    cpu.psi=20          saturation: % of time some task waited for a CPU
    mem.used=90         utilization: % of memory not available (MemAvailable)
    mem.reclaim=100us   saturation: time stalled in reclaim, per second
    mem.psi=10          saturation: % of time some task stalled on memory
    disk.busy=90        utilization: % of time with I/O in flight
    disk.p99=50ms       saturation: I/O latency p99
    fs.p99=50ms         saturation: file operation latency p99 on the disk's file systems
    disk.queue=4        saturation: average requests in flight
    net.util=80         utilization: % of link speed, received and sent
    net.rtt=100ms       saturation: TCP round-trip time p99
    cgroup.throttled=10 saturation (--per-cgroup): % of a cgroup's CPU periods throttled
    cgroup.runq=10ms    saturation (--per-cgroup): a cgroup's run-queue latency p99
    cgroup.limit=1      saturation (--per-cgroup): times a cgroup's memory hit its limit
    cgroup.psi=10       saturation (--per-cgroup): % of time a cgroup stalled (PSI, v2)
Any error is flagged, and so is any packet dropped for a full queue or
backlog (saturation).";

const EXAMPLES: &str = "\
Examples:
    usecheck 5 1              # one screen after 5 seconds
    usecheck 1                # a screen every second
    usecheck -C 5 1           # a row per CPU
    usecheck -G --check 10 1  # and the cgroups saturated or failing, flagged
    usecheck --check 10 1     # exit 3 if anything crossed a threshold
    usecheck -t cpu.busy=95,disk.p99=20ms 5
    usecheck --json 10 1      # one JSON object per screen
    usecheck --skip memory 5  # without the syscall hooks (and their cost)
    usecheck --openmetrics /var/lib/prometheus/node-exporter/usecheck.prom 15

Flagged cells end with '!'; under the table, a line per flag names the
figure, its threshold and the tool to drill down with.";

/// The USE method on one screen: utilization, saturation and errors of
/// CPUs, memory, disks and network interfaces
#[derive(Debug, Parser)]
#[command(name = "usecheck", version = VERSION, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub every: IntervalArgs,
    /// A row per CPU
    #[arg(short = 'C', long = "per-cpu")]
    pub per_cpu: bool,
    /// Under the table, the cgroups that are saturated or failing: CPU
    /// throttled by its limit or waiting for a CPU, memory at its limit or
    /// stalled, I/O stalled, OOM kills (each against a cgroup.* threshold)
    #[arg(short = 'G', long = "per-cgroup")]
    pub per_cgroup: bool,
    /// Print a timestamp on each screen's heading
    #[arg(short = 'T', long)]
    pub timestamp: bool,
    /// Change thresholds, NAME=VALUE[,...] (the names and defaults are
    /// listed above, in --help)
    #[arg(short = 't', long = "threshold", value_name = "NAME=VALUE", value_delimiter = ',', value_parser = parse_threshold)]
    pub thresholds: Vec<Threshold>,
    /// Leave out these probes (their cells say so): runq, memory (the
    /// syscall hooks), oom, disk, drops, rtt
    #[arg(long, value_name = "PROBE", value_delimiter = ',', value_enum)]
    pub skip: Vec<Skip>,
    /// Exit with status 3 if any cell was flagged (0 if none)
    #[arg(long)]
    pub check: bool,
    /// Output one JSON object per screen
    #[arg(short = 'j', long)]
    pub json: bool,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_a_usage_error() {
        toolkit_cli::assert_usage_errors::<Cli>(&[
            &["-t", "cpu.busy"],
            &["-t", "cpu.nope=3"],
            &["-t", "cpu.busy=abc"],
            &["-t", "disk.p99=-1ms"],
            &["-t", "cpu.busy=101"],
            &["0"],
            &["1", "0"],
            &["--nope"],
            &["--skip", "cpu"],
        ]);
    }

    #[test]
    fn thresholds_parse_as_lists() {
        let cli = Cli::try_parse_from([
            "usecheck",
            "-t",
            "cpu.busy=95,disk.p99=20ms",
            "-t",
            "net.rtt=1s",
        ])
        .unwrap();
        assert_eq!(cli.thresholds.len(), 3);
    }
}

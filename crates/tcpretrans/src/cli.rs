//! Command line, compatible with bcc's tcpretrans (libbpf-tools has none).

use std::time::Duration;

use clap::Parser;
use tcpretrans::Options;
use tcpretrans_ebpf::{AF_INET, AF_INET6};
use toolkit_cli::{CgroupSplitArgs, EventMetricsArgs, VERSION};

pub const EXAMPLES: &str = "\
EXAMPLES:
    tcpretrans            # a line per TCP retransmit, until Ctrl-C
    tcpretrans -4         # IPv4 only
    tcpretrans -c         # count per flow, printed at Ctrl-C
    tcpretrans -c -i 10   # count per flow, every 10 seconds
    tcpretrans -c -G      # count per cgroup of the socket: whose connections lose packets?
    tcpretrans -d 1m --json   # a JSON object per retransmit, for a minute";

/// Trace or count TCP retransmits.
///
/// One line per retransmitted TCP segment (skb): when, which process was
/// running, the connection's endpoints and state. With -c, a count per
/// connection instead. The USE method's network errors: retransmits are
/// packets the network lost (or delayed past the retransmit timer).
/// Traces the tcp:tcp_retransmit_skb tracepoint, so bcc's -l (tail loss
/// probes, from a kprobe on tcp_send_loss_probe) has no equivalent here.
/// Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "tcpretrans", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    /// Count retransmits per flow instead of printing each
    #[arg(short = 'c', long)]
    pub count: bool,
    /// With -c: print the counts at this interval (seconds, fractions
    /// allowed, or a duration such as 500ms), not only at the end
    #[arg(short = 'i', long, requires = "count", value_parser = toolkit_cli::parse_interval)]
    pub interval: Option<Duration>,
    /// Trace for this long, then exit (seconds, or a duration: 30s, 10m)
    #[arg(short = 'd', long, value_parser = toolkit_cli::parse_duration)]
    pub duration: Option<Duration>,
    /// Trace IPv4 only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Trace IPv6 only
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// bcc's tail loss probes: not available (no tracepoint for
    /// tcp_send_loss_probe); refused rather than silently left out
    #[arg(short = 'l', long)]
    pub lossprobe: bool,
    /// Print JSON (an object per retransmit, or per interval with -c)
    #[arg(long)]
    pub json: bool,
    /// With -c: flow slots per CPU, or with -G socket slots (0, or a power
    /// of two up to 65536; default 1024); a flow whose slot another holds
    /// is counted in a hash, a socket's by its cgroup. For testing that
    /// path.
    #[arg(long, hide = true, requires = "count", value_name = "N", value_parser = flow_slots)]
    pub flow_slots: Option<u32>,
    /// With -c: count per cgroup of the socket instead of per flow
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    #[command(flatten)]
    pub metrics: EventMetricsArgs,
}

impl Cli {
    /// The resolved options (the one conversion from the command line).
    pub fn options(&self) -> Options {
        let family = if self.ipv4 {
            AF_INET
        } else if self.ipv6 {
            AF_INET6
        } else {
            0
        };
        Options {
            count: self.count,
            family,
            flow_slots: self.flow_slots,
            per_cgroup: self.split.shown(),
        }
    }
}

/// `--flow-slots N`: 0 or a power of two.
fn flow_slots(arg: &str) -> Result<u32, String> {
    match arg.parse::<u32>() {
        Ok(n) if n == 0 || (n.is_power_of_two() && n <= 1 << 16) => Ok(n),
        _ => Err(format!("{arg:?} is not 0 or a power of two up to 65536")),
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_bcc_style() {
        let cli = Cli::try_parse_from(["tcpretrans", "-c", "-4", "-i", "2", "-d", "1m"]).unwrap();
        assert!(cli.count && cli.ipv4 && !cli.ipv6);
        assert_eq!(cli.interval, Some(Duration::from_secs(2)));
        assert_eq!(cli.duration, Some(Duration::from_secs(60)));
    }

    #[test]
    fn rejects_bad_values_and_combinations() {
        assert_usage_errors::<Cli>(&[
            &["-4", "-6"],
            &["-i", "1"],
            &["-c", "-i", "0"],
            &["-d", "x"],
            &["extra"],
            &["--flow-slots", "4"],
            &["-c", "--flow-slots", "3"],
            &["-c", "--flow-slots", "131072"],
        ]);
    }
}

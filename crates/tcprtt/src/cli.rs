//! Command line, compatible with libbpf-tools' tcprtt (and bcc's, which
//! adds -4/-6).

use std::{net::IpAddr, time::Duration};

use anyhow::Result;
use clap::Parser;
use tcprtt::{Options, config, key};
use toolkit_cli::{CgroupSplitArgs, HistArgs, PercentileArgs, VERSION};

pub const EXAMPLES: &str = "\
EXAMPLES:
    tcprtt              # summarize TCP RTT, printed at Ctrl-C
    tcprtt -i 1 -d 10   # print 1 second summaries, 10 times
    tcprtt -m -T        # summarize in milliseconds, with timestamps
    tcprtt -p 80        # only connections whose local port is 80
    tcprtt -A 10.0.0.7  # only connections to 10.0.0.7
    tcprtt -B -e -i 5   # a histogram per remote address, with its average
    tcprtt --percentiles -i 10   # p50, p90, p99, p99.9 every 10 seconds
    tcprtt --openmetrics /var/lib/node_exporter/tcprtt.prom -i 15";

/// Summarize TCP round-trip time as a histogram.
///
/// The smoothed RTT (srtt) of established TCP connections, sampled once per
/// segment received (tcp:tcp_probe, at the top of tcp_rcv_established):
/// network latency as the kernel's own estimator sees it. The USE method's
/// network saturation: queueing anywhere on the path shows as RTT. Needs
/// root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "tcprtt", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    /// Summary interval (seconds, fractions allowed, or a duration such as 500ms)
    #[arg(short = 'i', long, value_parser = toolkit_cli::parse_interval)]
    pub interval: Option<Duration>,
    /// Total duration of trace (seconds, or a duration such as 10m)
    #[arg(short = 'd', long, value_parser = toolkit_cli::parse_duration)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub out: HistArgs,
    /// Filter for local port
    #[arg(short = 'p', long = "lport", value_name = "LPORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub lport: Option<u16>,
    /// Filter for remote port
    #[arg(short = 'P', long = "rport", value_name = "RPORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub rport: Option<u16>,
    /// Filter for local address (IPv4 or IPv6)
    #[arg(short = 'a', long = "laddr", value_name = "LADDR")]
    pub laddr: Option<IpAddr>,
    /// Filter for remote address (IPv4 or IPv6)
    #[arg(short = 'A', long = "raddr", value_name = "RADDR")]
    pub raddr: Option<IpAddr>,
    /// Show sockets histogram by local address
    #[arg(short = 'b', long = "byladdr", conflicts_with_all = ["by_raddr", "per_cgroup"])]
    pub by_laddr: bool,
    /// Show sockets histogram by remote address
    #[arg(short = 'B', long = "byraddr", conflicts_with = "per_cgroup")]
    pub by_raddr: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    /// Show extension summary (average)
    #[arg(short = 'e', long = "extension")]
    pub extension: bool,
    /// Trace IPv4 only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Trace IPv6 only
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    #[command(flatten)]
    pub hires: PercentileArgs,
}

impl Cli {
    /// The resolved options (the one conversion from the command line).
    pub fn options(&self) -> Result<Options> {
        Ok(Options {
            key_by: if self.by_laddr {
                key::LOCAL
            } else if self.by_raddr {
                key::REMOTE
            } else if self.split.per_cgroup {
                key::CGROUP
            } else {
                key::ALL
            },
            family: config::family(
                self.ipv4,
                self.ipv6,
                self.laddr.as_ref(),
                self.raddr.as_ref(),
            )?,
            laddr: self.laddr,
            raddr: self.raddr,
            lport: self.lport,
            rport: self.rport,
            milliseconds: self.out.milliseconds,
            loglinear: self.hires.loglinear(),
            shown_cgroups: self.split.shown().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_libbpf_tools_style() {
        let cli = Cli::try_parse_from([
            "tcprtt", "-i", "1", "-d", "10", "-m", "-T", "-p", "80", "-A", "fd00::1", "-B", "-e",
        ])
        .unwrap();
        assert_eq!(cli.interval, Some(Duration::from_secs(1)));
        assert_eq!(cli.duration, Some(Duration::from_secs(10)));
        assert!(cli.out.milliseconds && cli.out.timestamp && cli.by_raddr && cli.extension);
        assert_eq!(cli.lport, Some(80));
        assert_eq!(cli.raddr, Some("fd00::1".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_values_and_combinations() {
        assert_usage_errors::<Cli>(&[
            &["-4", "-6"],
            &["-b", "-B"],
            &["-p", "0"],
            &["-P", "65536"],
            &["-a", "10.0.0"],
            &["-A", "host.example"],
            &["-i", "0"],
            &["--compact"],
            &["extra"],
        ]);
    }
}

//! Command line of hwerr.

use std::time::Duration;

use clap::Parser;
use toolkit_cli::{EventMetricsArgs, VERSION};

pub const EXAMPLES: &str = "\
EXAMPLES:
    hwerr                 # a line per hardware error, until Ctrl-C
    hwerr -d 1h           # for an hour
    hwerr -c -d 10m       # count errors by source and severity for 10 minutes
    hwerr --json          # one JSON object per error, for scripts";

/// Trace hardware errors.
///
/// One line per error the kernel reports: machine checks (mce:mce_record),
/// memory controller errors (ras:mc_event), pages taken out of use after a
/// memory failure (ras:memory_failure_event) and PCIe Advanced Error
/// Reporting errors (ras:aer_event), with the kernel's own fields. The USE
/// method's CPU and memory errors. A healthy machine prints nothing but
/// the banner; sources this kernel lacks are named on stderr. Needs root,
/// or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "hwerr", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    /// Count errors by source and severity, printed at exit, instead of a
    /// line per error
    #[arg(short = 'c', long)]
    pub count: bool,
    /// Trace for this long, then exit (a duration: 30s, 10m, 1h; plain
    /// numbers are seconds)
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = toolkit_cli::parse_duration)]
    pub duration: Option<Duration>,
    /// Print JSON instead of text: one object per error, or with -c one
    /// object of counts
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub metrics: EventMetricsArgs,
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn options() {
        let cli = Cli::try_parse_from(["hwerr", "-c", "-d", "1m", "--json"]).unwrap();
        assert!(cli.count && cli.json);
        assert_eq!(cli.duration, Some(Duration::from_secs(60)));
        assert_usage_errors::<Cli>(&[&["-d", "0"], &["-d", "x"], &["extra"], &["-p", "1"]]);
    }
}

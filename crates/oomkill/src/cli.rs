//! Command line, compatible with libbpf-tools' oomkill (which takes none).

use std::time::Duration;

use clap::Parser;
use toolkit_cli::{EventMetricsArgs, VERSION};

pub const EXAMPLES: &str = "\
EXAMPLES:
    oomkill               # a line per OOM kill, until Ctrl-C
    oomkill -d 1h         # for an hour
    oomkill --json        # one JSON object per OOM kill, for scripts
    oomkill --listen 9436 # kills counted for Prometheus, by memory cgroup";

/// Trace OOM kills.
///
/// One line per process the kernel's OOM killer kills: who triggered it
/// (whose allocation failed), who was killed, the pages the kill was
/// measured against, and the load average; then the victim's memory
/// cgroup. The USE method's memory errors. Needs root, or CAP_BPF and
/// CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "oomkill", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    /// Trace for this long, then exit (a duration: 30s, 10m, 1h; plain
    /// numbers are seconds)
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = toolkit_cli::parse_duration)]
    pub duration: Option<Duration>,
    /// Print one JSON object per OOM kill instead of text
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
    fn durations() {
        let cli = Cli::try_parse_from(["oomkill", "-d", "1m"]).unwrap();
        assert_eq!(cli.duration, Some(Duration::from_secs(60)));
        let cli = Cli::try_parse_from(["oomkill", "-d", "2.5"]).unwrap();
        assert_eq!(cli.duration, Some(Duration::from_millis(2500)));
        assert_usage_errors::<Cli>(&[&["-d", "0"], &["-d", "-1"], &["-d", "x"], &["extra"]]);
    }
}

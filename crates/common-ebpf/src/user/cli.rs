//! Command-line pieces every histogram tool shares, and their `main`.

use std::time::Duration;

use super::{StopSignals, exit_on_error};

/// The trailing `[interval] [count]` of bcc-style tools.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct IntervalArgs {
    /// Output interval, in seconds (default: until Ctrl-C)
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: Option<u64>,
    /// Number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

impl IntervalArgs {
    /// The interval as a duration, `None` for "until Ctrl-C".
    pub fn every(&self) -> Option<Duration> {
        self.interval.map(Duration::from_secs)
    }
}

/// The whole `main` of a tool: block the stop signals (before any thread
/// exists), parse the command line (usage errors exit 2), run, and turn the
/// outcome into an exit status through [`exit_on_error`].
pub fn tool_main<C: clap::Parser>(
    tool: &str,
    run: impl FnOnce(C, &StopSignals) -> anyhow::Result<()>,
) -> ! {
    let signals = StopSignals::block();
    let cli = C::parse();
    exit_on_error(tool, signals.map_err(Into::into).and_then(|s| run(cli, &s)))
}

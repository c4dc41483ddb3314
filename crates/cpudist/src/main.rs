//! cpudist: how long tasks run on a CPU before leaving it (or, with -O,
//! stay off one), as a log2 histogram, on runqlat's programs.

mod cli;

use anyhow::Result;
use runqlat::show::{self, Shown};
use toolkit_cli::{StopSignals, tool_main};
use toolkit_load::TracedProcess;

use crate::cli::Cli;

/// The OVERHEAD section of `man cpudist`: measured cost per event.
const OVERHEAD: &str = "One program, on sched_switch: on-CPU time keeps one start per CPU (no map lookup by task); off-CPU time keeps starts in task storage as runqlat does. Measured on the project's 2-core VM: 214 ns per sched_switch (0.37x libbpf-tools' cpudist, which records fewer stretches), exec to attached 8.7 ms. See docs/performance.md.";

fn main() {
    tool_main("cpudist", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let traced = TracedProcess::from_arg(cli.tasks.pid)?;
    signals.watch(traced.as_ref())?;
    let options = cli.options(traced.as_ref())?;
    let banner = if cli.offcpu {
        "Tracing off-CPU time... Hit Ctrl-C to end."
    } else {
        "Tracing on-CPU time... Hit Ctrl-C to end."
    };
    let shown = Shown {
        tool: "cpudist",
        banner,
        out: &cli.out,
        hires: &cli.hires,
        every: &cli.every,
    };
    show::run(&options, &shown, signals)
}

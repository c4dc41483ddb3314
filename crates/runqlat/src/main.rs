//! runqlat: how long runnable tasks wait for a CPU, as a log2 histogram.

mod cli;

use anyhow::Result;
use runqlat::show::{self, Shown};
use toolkit_cli::{StopSignals, tool_main};
use toolkit_load::TracedProcess;

use crate::cli::Cli;

/// The OVERHEAD section of `man runqlat`: measured cost per event.
const OVERHEAD: &str = "Enqueue times live in task storage and task fields are plain loads (tp_btf): on the project's 2-core VM sched_switch about 90 ns per event (0.53x libbpf-tools' runqlat), sched_wakeup about 100 ns (0.60x); a do-nothing program costs 30 ns. No program runs at sched_wakeup_new: a new task's first wait is read from the kernel's sched_info at its first switch (all programs together, 0.64x libbpf-tools' per fork+exec). See docs/performance.md.";

fn main() {
    tool_main("runqlat", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let traced = TracedProcess::from_arg(cli.tasks.pid)?;
    signals.watch(traced.as_ref())?;
    let options = cli.options(traced.as_ref())?;
    let shown = Shown {
        tool: "runqlat",
        banner: "Tracing run queue latency... Hit Ctrl-C to end.",
        out: &cli.out,
        hires: &cli.hires,
        every: &cli.every,
    };
    show::run(&options, &shown, signals)
}

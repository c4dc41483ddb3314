//! memlat: how long mmap, munmap, brk and mremap take, and how often they
//! fail (the USE method's memory errors).

mod cli;
mod report;

use anyhow::Result;
use syslat::Tracer;
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_report::{output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man memlat`: measured cost per event.
const OVERHEAD: &str = "Syscalls other than the memory calls are filtered in the kernel at entry; on a getppid loop (not traced) memlat adds about 120 ns per call, 0.49x what libbpf-tools' syscount -L adds, close to the cost of any two programs on the syscall hooks. See docs/performance.md.";

fn main() {
    tool_main("memlat", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let traced = toolkit_load::TracedProcess::from_arg(cli.pid)?;
    signals.watch(traced.as_ref())?;
    let names = cli.calls();
    let options = cli.options(traced.as_ref())?;
    let (order, unit) = (options.syscalls.clone().unwrap_or_default(), options.unit);
    let btf = toolkit_load::KernelBtf::load()?;
    let mut tracer = Tracer::attach("memlat", &btf, &options)?;
    // Every traced call has a --compact line from the first interval on
    // (cgroups only once they make one).
    let always = names
        .iter()
        .filter(|_| !cli.split.per_cgroup)
        .map(|n| n.to_string());
    let title = if cli.split.per_cgroup {
        "CGROUP"
    } else {
        "SYSCALL"
    };
    let mut report = cli
        .out
        .report("memlat", &cli.hires, title, unit, always)?
        .summarized();
    let mut openmetrics = cli.hires.open_metrics("memlat", Some("syscall"), unit)?;
    if cli.split.per_cgroup {
        openmetrics = openmetrics.map(|om| om.labelled(toolkit_cgroup::LABELS));
    }
    print_banner(
        &format!(
            "Tracing memory syscalls ({})... Hit Ctrl-C to end.",
            names.join(", ")
        ),
        report.mode.is_json(),
    )?;
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval(openmetrics.as_mut())?;
        report::write(&mut report, &mut stdout(), &order, &cli, interval)?;
        Ok(())
    })?;
    report.finish()
}

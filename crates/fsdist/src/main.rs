//! fsdist: the latency of file system operations, by file system type
//! and operation.

mod cli;

use std::io::Write;

use anyhow::Result;
use fsdist::{Tracer, hist_rows};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_report::{Sections, output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man fsdist`: measured cost per event.
const OVERHEAD: &str = "Two programs per syscall: a table lookup for every syscall, and for file operations a walk from the descriptor to its file system (a few kernel reads) and a per-CPU histogram update. See docs/performance.md.";

fn main() {
    tool_main("fsdist", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let traced = toolkit_load::TracedProcess::from_arg(cli.fs.pid)?;
    signals.watch(traced.as_ref())?;
    let options = cli.options(traced.as_ref())?;
    let unit = options.unit;
    let single = cli.fs.fstype.is_some() && !cli.per_mount;
    let labels: &'static [&'static str] = if cli.split.per_cgroup {
        toolkit_cgroup::LABELS
    } else if cli.per_mount {
        &["fs", "mount", "operation"]
    } else {
        &["fs", "operation"]
    };
    let mut openmetrics = cli
        .hires
        .open_metrics("fsdist", None, unit)?
        .map(|om| om.labelled(labels));
    let btf = toolkit_load::KernelBtf::load()?;
    let mut tracer = Tracer::attach("fsdist", &btf, &options)?;
    let title = if cli.split.per_cgroup {
        "CGROUP"
    } else if cli.per_mount {
        "MOUNT OP"
    } else {
        "FS OP"
    };
    let mut report = cli
        .out
        .report("fsdist", &cli.hires, title, unit, std::iter::empty())?;
    let what = cli.fs.fstype.as_deref().unwrap_or("file system");
    print_banner(
        &format!("Tracing {what} operation latency... Hit Ctrl-C to end."),
        report.mode.is_json(),
    )?;
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval()?;
        if let Some(split) = &interval.cgroups {
            if let Some(om) = openmetrics.as_mut() {
                om.end_interval(split.labelled(), &interval.lost);
            }
            let rows = split.report_rows();
            return Ok(report.write(&mut stdout(), &rows, &interval.lost, &())?);
        }
        let rows = interval.rows(&tracer.names, cli.per_mount);
        if let Some(om) = openmetrics.as_mut() {
            let labelled = rows.iter().map(|(key, hist, loglinear)| {
                let mut values = vec![key.fs.clone()];
                values.extend(key.mount.clone().filter(|_| cli.per_mount));
                values.push(fsdist::op_name(key.op).to_string());
                (values, (hist, loglinear.as_ref()))
            });
            om.end_interval(labelled, &interval.lost);
        }
        let shown = hist_rows(&rows, single);
        let trailer = Trailer(!shown.is_empty());
        Ok(report.write(&mut stdout(), &shown, &interval.lost, &trailer)?)
    })?;
    report.finish()
}

/// The blank line libbpf-tools prints after the interval's last histogram.
struct Trailer(bool);

impl Sections for Trailer {
    fn text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        if self.0 {
            writeln!(w)?;
        }
        Ok(())
    }
}

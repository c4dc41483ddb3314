//! biolatency: block device I/O latency as a log2 histogram.

mod cli;
mod report;

use anyhow::Result;
use biolatency::{Tracer, disks::Disks};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_report::{output::stdout, print_banner};

use crate::{
    cli::Cli,
    report::{Extras, Keys},
};

/// The OpenMetrics counter family of errored requests: name, help, labels.
const ERRORS: (&str, &str, &[&str]) = (
    "errors",
    "Block I/O requests completed with an error, by disk and status.",
    &["disk", "status"],
);

/// The OVERHEAD section of `man biolatency`: measured cost per event.
const OVERHEAD: &str = "Two programs per block I/O (three with -Q): about 100-230 ns per event each on the project's 2-core VM, 0.44-0.73x libbpf-tools' biolatency (start times in array slots claimed by compare-and-swap, where libbpf-tools inserts into and deletes from a hash; about 10 ns more with -d, -D, -F or -Q, which read the request's fields); a do-nothing program on the same hook costs 35-60 ns. See docs/performance.md.";

fn main() {
    tool_main("biolatency", OVERHEAD, run)
}

fn run(mut cli: Cli, signals: &StopSignals) -> Result<()> {
    cli.out.json |= cli.bcc_json;
    let disks = Disks::load();
    let options = cli.options(&disks)?;
    let mut tracer = Tracer::attach("biolatency", &toolkit_load::KernelBtf::load()?, &options)?;
    let mut keys = Keys {
        per_disk: cli.per_disk,
        flags: tracer.take_flag_names(),
        disks,
    };
    let unit = options.unit();
    // Unsplit, the one histogram is "all" from the first interval on.
    let always = (!options.split() && !cli.split.per_cgroup).then(|| "all".to_string());
    let title = if cli.split.per_cgroup {
        "CGROUP"
    } else {
        "DISK"
    };
    let mut report = cli
        .out
        .report("biolatency", &cli.hires, title, unit, always)?;
    // One OpenMetrics label: the disk, the flags, or both joined by '/'.
    let label = match (cli.per_disk, cli.per_flag) {
        (true, true) => Some("disk_flags"),
        (true, false) => Some("disk"),
        (false, true) => Some("flags"),
        (false, false) => None,
    };
    let mut openmetrics = cli.hires.open_metrics("biolatency", label, unit)?;
    if cli.split.per_cgroup {
        openmetrics = openmetrics.map(|om| om.labelled(toolkit_cgroup::LABELS));
    }
    if let Some(om) = &mut openmetrics {
        om.declare_counter(ERRORS.0, ERRORS.1, ERRORS.2);
    }

    print_banner(
        "Tracing block device I/O... Hit Ctrl-C to end.",
        report.mode.is_json(),
    )?;
    run_intervals(signals, cli.every.every(), cli.every.count, || {
        let interval = tracer.interval()?;
        let hists = &interval.hists;
        let extras = Extras {
            errors: keys.error_rows(&interval.errors),
            summary: cli.extension.then(|| {
                let total = hists.iter().map(|(_, h)| h.sum).sum();
                (total, hists.iter().map(|(_, h)| h.count).sum(), unit)
            }),
        };
        let rows = match &interval.cgroups {
            Some(split) => split.report_rows(),
            None => keys.rows(hists, &interval.loglinear),
        };
        if let Some(om) = &mut openmetrics {
            for (disk, status, count) in &extras.errors {
                let labels = vec![disk.clone(), status.clone()];
                om.count(ERRORS.0, ERRORS.1, ERRORS.2, labels, *count);
            }
            match &interval.cgroups {
                Some(split) => om.end_interval(split.labelled(), &interval.lost),
                None => om.end_interval(
                    rows.iter().map(|r| (r.name.clone(), (r.hist, r.loglinear))),
                    &interval.lost,
                ),
            }
        }
        report.write(&mut stdout(), &rows, &interval.lost, &extras)?;
        Ok(())
    })?;
    report.finish()?;
    // At exit, requests started while tracing but not seen to complete
    // are in no histogram: say how many.
    toolkit_load::verbose(|| {
        let hashed = tracer.hashed_starts().unwrap_or(0);
        format!(
            "biolatency: {hashed} requests found their start-time slot taken and were timed in the hash"
        )
    });
    let unfinished = tracer.unfinished()?;
    if unfinished > 0 {
        toolkit_report::say!(
            "biolatency: {unfinished} requests started while tracing were not seen to \
             complete (in flight at exit) and are in no histogram"
        );
    }
    Ok(())
}

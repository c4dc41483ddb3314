//! tcprtt: TCP round-trip time as a log2 histogram, as libbpf-tools'.

mod cli;

use anyhow::Result;
use tcprtt::{Tracer, report};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_load::KernelBtf;
use toolkit_report::{output::stdout, print_banner};

use crate::cli::Cli;

/// The OVERHEAD section of `man tcprtt`: measured cost per event.
const OVERHEAD: &str = "One program on tcp:tcp_probe, which runs once per TCP segment received on an established connection: a few field reads and a per-CPU histogram update. See docs/performance.md.";

fn main() {
    tool_main("tcprtt", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let options = cli.options()?;
    let mut tracer = Tracer::attach("tcprtt", &KernelBtf::load()?, &options)?;
    let unit = options.unit();
    let label = report::label(options.key_by);
    let always = label.is_none().then(|| "all".to_string());
    let title = label.unwrap_or("ADDRESSES").to_uppercase();
    let mut report = cli.out.report("tcprtt", &cli.hires, &title, unit, always)?;
    let mut openmetrics = cli.hires.open_metrics("tcprtt", label, unit)?;
    if options.key_by == tcprtt::key::CGROUP {
        openmetrics = openmetrics.map(|om| om.labelled(toolkit_cgroup::LABELS));
    }
    let banner = match cli.duration {
        Some(d) => format!("Tracing TCP RTT for {} secs.", d.as_secs_f64()),
        None => "Tracing TCP RTT... Hit Ctrl-C to end.".to_string(),
    };
    print_banner(&banner, report.mode.is_json())?;
    let (interval, count) = toolkit_cli::interval_and_count(cli.interval, cli.duration);
    run_intervals(signals, interval, count, || {
        let tcprtt::Interval {
            hists,
            loglinear,
            cgroups,
            lost,
        } = tracer.interval()?;
        if let Some(split) = &cgroups {
            if let Some(om) = &mut openmetrics {
                om.end_interval(split.labelled(), &lost);
            }
            return Ok(report.write(&mut stdout(), &split.report_rows(), &lost, &())?);
        }
        if let Some(om) = &mut openmetrics {
            om.end_interval(
                hists
                    .iter()
                    .map(|(key, h)| (report::name(options.key_by, key), (h, loglinear.get(key)))),
                &lost,
            );
        }
        let rows = report::rows(options.key_by, cli.extension, unit, &hists, &loglinear);
        report.write(&mut stdout(), &rows, &lost, &())?;
        Ok(())
    })?;
    report.finish()
}

//! tcprtt: TCP round-trip time as a log2 histogram, as libbpf-tools'.

mod cli;
mod config;
mod report;

use anyhow::Result;
use tcprtt_ebpf::{AddrKey, dropped, maps};
use toolkit_cli::{StopSignals, run_intervals, tool_main};
use toolkit_drain::{DropReport, HistDrain, IntervalClock, drain_optional};
use toolkit_load::{Hook, KernelBtf, attach_tracepoints, check_privileges, load_object};
use toolkit_report::{output::stdout, print_banner};

use crate::{cli::Cli, config::TRACEPOINT};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcprtt"));

/// The OVERHEAD section of `man tcprtt`: measured cost per event.
const OVERHEAD: &str = "One program on tcp:tcp_probe, which runs once per TCP segment received on an established connection: a few field reads and a per-CPU histogram update. See docs/performance.md.";

fn main() {
    tool_main("tcprtt", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    check_privileges()?;
    let btf = KernelBtf::load()?;
    btf.require_tracepoints(&[TRACEPOINT])?;
    let config = config::build(&cli, &btf)?;
    let mut ebpf = load_object(OBJECT, &config, &config::map_sizes(&cli))?;
    // tp_btf first: the socket's fields are plain loads there.
    attach_tracepoints(&mut ebpf, &btf, &[TRACEPOINT], Hook::BtfTracePoint)?;
    let mut clock = IntervalClock::new(&mut ebpf)?;
    let mut drain = HistDrain::<AddrKey>::new(&mut ebpf, maps::HISTS)?;
    let mut loglinear = cli
        .hires
        .loglinear()
        .then(|| HistDrain::new(&mut ebpf, maps::LLHISTS))
        .transpose()?;
    let unit = config::unit(&cli);
    let label = report::label(config.key_by);
    let always = label.is_none().then(|| "all".to_string());
    let title = label.unwrap_or("ADDRESSES").to_uppercase();
    let mut report = cli.out.report("tcprtt", &cli.hires, &title, unit, always)?;
    let mut openmetrics = cli.hires.open_metrics("tcprtt", label, unit)?;
    let banner = match cli.duration {
        Some(d) => format!("Tracing TCP RTT for {} secs.", d.as_secs_f64()),
        None => "Tracing TCP RTT... Hit Ctrl-C to end.".to_string(),
    };
    print_banner(&banner, report.mode.is_json())?;
    let (interval, count) = toolkit_cli::interval_and_count(cli.interval, cli.duration);
    let mut drops = DropReport::new("tcprtt", dropped::REASONS);
    run_intervals(signals, interval, count, || {
        let tick = clock.tick();
        let hists = drain.drain(&tick)?;
        let ll = drain_optional(&mut loglinear, &tick)?;
        clock.advance(tick)?;
        let lost = drops.check(&ebpf)?;
        if let Some(om) = &mut openmetrics {
            om.end_interval(
                hists
                    .iter()
                    .map(|(key, h)| (report::name(config.key_by, key), h)),
                &lost,
            );
        }
        let rows = report::rows(config.key_by, cli.extension, unit, &hists, &ll);
        report.write(&mut stdout(), &rows, &lost, &())?;
        Ok(())
    })?;
    report.finish()
}

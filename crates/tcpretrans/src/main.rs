//! tcpretrans: a line per TCP retransmit, or a count per flow, as bcc's.

mod cli;
mod config;
mod flows;
mod report;

use std::{
    io::Write as _,
    time::{Duration, Instant},
};

use anyhow::Result;
use aya::maps::RingBuf;
use clap::CommandFactory as _;
use tcpretrans_ebpf::{RetransEvent, dropped, maps};
use toolkit_cli::{StopSignals, Wake, run_intervals, tool_main};
use toolkit_drain::{DropReport, IntervalClock, take_map};
use toolkit_load::{Hook, KernelBtf, attach_tracepoints, check_privileges, load_object};
use toolkit_report::{output::stdout, print_banner};

use crate::{cli::Cli, config::TRACEPOINT, flows::FlowCounts};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcpretrans"));

/// The OVERHEAD section of `man tcpretrans`: measured cost per event.
const OVERHEAD: &str = "One program on tcp:tcp_retransmit_skb, which runs once per retransmit (not per packet): a few hundred ns of mostly cold cache lines, 0.47-0.85x a bpftrace one-liner counting on the same tracepoint. See docs/performance.md.";

/// How long events may wait in the ring buffer before they are printed.
const POLL: Duration = Duration::from_millis(100);

fn main() {
    tool_main("tcpretrans", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    if cli.lossprobe {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "-l (tail loss probes) is not available: this kernel has no tracepoint for \
                 tcp_send_loss_probe, and tcpretrans uses no kprobes",
            )
            .exit();
    }
    check_privileges()?;
    let btf = KernelBtf::load()?;
    btf.require_tracepoints(&[TRACEPOINT])?;
    let config = config::build(&cli, &btf)?;
    let mut ebpf = load_object(OBJECT, &config, &config::map_sizes(&cli))?;
    // tp_btf first: the socket's fields are plain loads there.
    attach_tracepoints(&mut ebpf, &btf, &[TRACEPOINT], Hook::BtfTracePoint)?;
    let mut drops = DropReport::new("tcpretrans", dropped::REASONS);
    print_banner("Tracing retransmits ... Hit Ctrl-C to end", cli.json)?;
    if cli.count {
        let mut clock = IntervalClock::new(&mut ebpf)?;
        let mut counts = FlowCounts::new(&mut ebpf)?;
        let (interval, count) = toolkit_cli::interval_and_count(cli.interval, cli.duration);
        // Counts since the start when printed only at the end (as bcc);
        // per interval with -i.
        return run_intervals(signals, interval, count, || {
            let tick = clock.tick();
            let flows = counts.drain(&tick)?;
            clock.advance(tick)?;
            let lost = drops.check(&ebpf)?;
            report::write_counts(
                &mut stdout(),
                flows,
                &lost,
                cli.json,
                cli.interval.is_some(),
            )?;
            Ok(())
        });
    }
    let mut events = RingBuf::try_from(take_map(&mut ebpf, maps::EVENTS)?)?;
    if !cli.json {
        let mut out = stdout();
        report::write_event_header(&mut out)?;
        out.flush()?;
    }
    let end = cli.duration.map(|d| Instant::now() + d);
    loop {
        let left = end.map(|e| e.saturating_duration_since(Instant::now()));
        let wake = signals.wait(Some(left.map_or(POLL, |l| l.min(POLL))));
        let mut out = stdout();
        while let Some(item) = events.next() {
            // SAFETY: the kernel side writes exactly one RetransEvent per record.
            let event = unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<RetransEvent>()) };
            report::write_event(&mut out, &event, cli.json)?;
        }
        out.flush()?;
        drops.check(&ebpf)?;
        if wake != Wake::Timeout || left.is_some_and(|l| l.is_zero()) {
            return Ok(());
        }
    }
}

//! fsslower: one line per file system operation slower than a threshold.

mod cli;

use std::io::Write;

use anyhow::Result;
use fsdist::{Mounts, Watcher, op_name};
use fsdist_ebpf::{FsEvent, kind, op};
use serde_json::json;
use toolkit_cli::{StopSignals, poll_events, tool_main};
use toolkit_core::escape::c_name;
use toolkit_report::{
    output::{local_hms, stdout},
    print_banner,
};

use crate::cli::Cli;

/// The OVERHEAD section of `man fsslower`: measured cost per event.
const OVERHEAD: &str = "fsdist's two programs per syscall; only operations past the threshold are sent to userspace, through a ring buffer. See docs/performance.md.";

fn main() {
    tool_main("fsslower", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let traced = toolkit_load::TracedProcess::from_arg(cli.fs.pid)?;
    signals.watch(traced.as_ref())?;
    let options = cli.options(traced.as_ref())?;
    let btf = toolkit_load::KernelBtf::load()?;
    let mut watcher = Watcher::attach("fsslower", &btf, &options)?;
    if cli.csv {
        let mut out = stdout();
        writeln!(
            out,
            "ENDTIME_ns,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE"
        )?;
        out.flush()?;
    } else {
        let fs = cli.fs.fstype.as_deref().unwrap_or("file system");
        let mut banner = format!("Tracing {fs} operations");
        if cli.min_ms > 0 {
            banner += &format!(" slower than {} ms", cli.min_ms);
        }
        match cli.duration {
            Some(d) => banner += &format!(" for {} secs.", humantime_secs(d)),
            None => banner += "... Hit Ctrl-C to end.",
        }
        print_banner(&banner, cli.json)?;
        if !cli.json {
            let mut out = stdout();
            writeln!(
                out,
                "{:<8} {:<16} {:<7} {:1} {:<7} {:<8} {:>7} FILENAME",
                "TIME", "COMM", "PID", "T", "BYTES", "OFF_KB", "LAT(ms)"
            )?;
            out.flush()?;
        }
    }
    poll_events(signals, cli.duration, |_| {
        let events = watcher.events();
        let mut out = stdout();
        for event in &events {
            if cli.json {
                serde_json::to_writer(&mut out, &event_json(event, &watcher.mounts))?;
                writeln!(out)?;
            } else if cli.csv {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{}",
                    event.end_ns,
                    c_name(&event.comm),
                    event.pid,
                    op_letter(event.op),
                    bytes(event),
                    event.offset,
                    event.latency_ns / 1000,
                    c_name(&event.file)
                )?;
            } else {
                writeln!(
                    out,
                    "{:<8} {:<16} {:<7} {} {:<7} {:<8} {:>7.2} {}",
                    local_hms(),
                    c_name(&event.comm),
                    event.pid,
                    op_letter(event.op),
                    bytes(event),
                    event.offset / 1024,
                    (event.latency_ns / 1000) as f64 / 1000.0,
                    c_name(&event.file)
                )?;
            }
        }
        out.flush()?;
        watcher.lost()?;
        Ok(())
    })
}

/// A duration as libbpf-tools' banner gives it: whole seconds, or the
/// fraction when there is one.
fn humantime_secs(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}", d.as_secs_f64())
    }
}

/// libbpf-tools' letter for each operation (and ours for the two it lacks).
fn op_letter(op: u8) -> char {
    match op {
        op::READ => 'R',
        op::WRITE => 'W',
        op::OPEN => 'O',
        op::FSYNC => 'F',
        op::GETATTR => 'S',
        op::READDIR => 'D',
        _ => '?',
    }
}

/// The BYTES column as libbpf-tools fills it: what a read, write or
/// getdents returned, 0 for an open or a stat, and for an fsync the range
/// synced (the whole file: `LL_MAX`).
fn bytes(event: &FsEvent) -> String {
    match event.op {
        op::READ | op::WRITE | op::READDIR => event.ret.to_string(),
        op::FSYNC => "LL_MAX".to_string(),
        _ => "0".to_string(),
    }
}

/// One operation as a JSON object.
fn event_json(event: &FsEvent, mounts: &Mounts) -> serde_json::Value {
    let fs = if event.kind == kind::FILE {
        c_name(&event.fstype)
    } else {
        kind::NAMES
            .get(event.kind as usize)
            .copied()
            .unwrap_or("other")
            .to_string()
    };
    let mount = mounts.get(event.dev).map(|m| m.point.clone());
    json!({
        "time": local_hms(),
        "end_ns": event.end_ns,
        "comm": c_name(&event.comm),
        "pid": event.pid,
        "tid": event.tid,
        "operation": op_name(event.op),
        "fs": fs,
        "mount": mount,
        "file": c_name(&event.file),
        "offset": event.offset,
        "ret": event.ret,
        "latency_ns": event.latency_ns,
    })
}

//! floor: attaches a do-nothing program to each named tracepoint until
//! Ctrl-C, so that benchmarks can subtract what merely having a program on
//! a hook costs. Not installed; `bench/run.py` uses it.

use anyhow::{Context as _, Result};
use aya::{EbpfLoader, programs::BtfTracePoint};
use clap::Parser;
use toolkit_cli::{StopSignals, tool_main};
use toolkit_load::{KernelBtf, check_privileges};
use toolkit_report::print_banner;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/floor"));

/// Attach do-nothing tp_btf programs to tracepoints until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "floor", version)]
struct Cli {
    /// Tracepoints (sys_enter, sched_switch, block_rq_issue, ...)
    #[arg(required = true)]
    tracepoints: Vec<String>,
}

/// The OVERHEAD section of its man page.
const OVERHEAD: &str = "Only what any program on a hook costs.";

fn main() {
    tool_main("floor", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    check_privileges()?;
    let btf = KernelBtf::load()?;
    let mut loaded = Vec::new();
    for tp in &cli.tracepoints {
        let mut ebpf = EbpfLoader::new().btf(None).load(OBJECT)?;
        let program: &mut BtfTracePoint = ebpf
            .program_mut("noop")
            .context("program noop missing from the object")?
            .try_into()?;
        program.load_by_btf_id(btf.tracepoint_btf_id(tp)?)?;
        program
            .attach()
            .with_context(|| format!("attaching to {tp}"))?;
        loaded.push(ebpf);
    }
    print_banner(
        "Tracing with do-nothing programs... Hit Ctrl-C to end.",
        false,
    )?;
    signals.wait(None);
    Ok(())
}

//! floor: attaches a do-nothing program to each named tracepoint until
//! Ctrl-C, so that benchmarks can subtract what merely having a program on
//! a hook costs. With `--syscall-timing`, programs on `sys_enter` and
//! `sys_exit` that time every syscall per thread and record nothing: the
//! least that a syscall latency tool can cost. Not installed; `bench/run.py`
//! uses it.

use anyhow::{Context as _, Result, bail};
use aya::{Ebpf, EbpfLoader, programs::BtfTracePoint};
use clap::Parser;
use toolkit_cli::{StopSignals, tool_main};
use toolkit_load::{KernelBtf, check_privileges};
use toolkit_report::print_banner;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/floor"));

/// Attach do-nothing tp_btf programs to tracepoints until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "floor", version)]
struct Cli {
    /// Time every syscall per thread (task storage and the clock at
    /// sys_enter and sys_exit), recording nothing; no TRACEPOINTS then
    #[arg(long, conflicts_with = "tracepoints")]
    syscall_timing: bool,

    /// Tracepoints (sys_enter, sched_switch, block_rq_issue, ...)
    #[arg(required_unless_present = "syscall_timing")]
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
    if cli.syscall_timing {
        // One object: both programs share its task storage.
        let mut ebpf = load()?;
        for tp in ["sys_enter", "sys_exit"] {
            attach(&mut ebpf, &format!("timed_{tp}"), tp, &btf)?;
        }
        loaded.push(ebpf);
    }
    for tp in &cli.tracepoints {
        let mut ebpf = load()?;
        attach(&mut ebpf, "noop", tp, &btf)?;
        loaded.push(ebpf);
    }
    print_banner(
        "Tracing with do-nothing programs... Hit Ctrl-C to end.",
        false,
    )?;
    signals.wait(None);
    Ok(())
}

fn load() -> Result<Ebpf> {
    // Task storage has no userspace type in aya; the kernel creates it.
    Ok(EbpfLoader::new()
        .btf(None)
        .allow_unsupported_maps()
        .load(OBJECT)?)
}

fn attach(ebpf: &mut Ebpf, name: &str, tp: &str, btf: &KernelBtf) -> Result<()> {
    let Some(program) = ebpf.program_mut(name) else {
        bail!("program {name} missing from the object");
    };
    let program: &mut BtfTracePoint = program.try_into()?;
    program.load_by_btf_id(btf.tracepoint_btf_id(tp)?)?;
    program
        .attach()
        .with_context(|| format!("attaching to {tp}"))?;
    Ok(())
}

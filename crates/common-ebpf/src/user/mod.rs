//! Userspace half shared by the tools.

pub mod btf;
pub mod cgroup;
pub mod cli;
pub mod comms;
pub mod drain;
pub mod load;
pub mod names;
pub mod openmetrics;
pub mod output;
pub mod signals;

use std::io;

pub use btf::KernelBtf;
pub use cgroup::CgroupFilter;
pub use cli::{
    HistArgs, IntervalArgs, ManPage, PercentileArgs, VERSION, assert_usage_errors, tool_main,
};
pub use comms::CommTable;
pub use drain::{ArrayDrain, Counters, HistDrain, drain_optional, percpu_counter};
pub use load::{DropReport, Hook, attach_tracepoints, check_privileges, load_object, print_banner};
pub use openmetrics::OpenMetrics;
pub use output::{
    Unit, print_log2_hist, print_summary, print_timestamp, write_json_interval, write_json_record,
};
pub use signals::{StopSignals, run_intervals};

/// Fails with `process N not found` unless `pid` names a live process (a
/// `-p` filter for a process that is gone would silently trace nothing).
pub fn require_process(pid: u32) -> anyhow::Result<()> {
    if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        anyhow::bail!("process {pid} not found");
    }
    Ok(())
}

/// The one error sink of every tool's `main`: a closed pipe (`| head`) ends
/// quietly with 0; anything else prints `tool: error: ...` on one line and
/// exits 1.
pub fn exit_on_error(tool: &str, result: anyhow::Result<()>) -> ! {
    let code = match result {
        Ok(()) => 0,
        Err(err)
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<io::Error>())
                .any(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            0
        }
        Err(err) => {
            let text = format!("{err:#}").replace('\n', " ");
            eprintln!("{tool}: error: {text}");
            1
        }
    };
    std::process::exit(code)
}

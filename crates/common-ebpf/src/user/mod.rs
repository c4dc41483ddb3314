//! Userspace half shared by the tools.

pub mod btf;
pub mod cgroup;
pub mod cli;
pub mod comms;
pub mod drain;
pub mod load;
pub mod names;
pub mod openmetrics;
pub mod outfile;
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
pub use load::{
    DropReport, Hook, Losses, attach_tracepoints, check_privileges, load_object, print_banner,
};
pub use openmetrics::OpenMetrics;
pub use outfile::ReplacedFile;
pub use output::{Unit, print_log2_hist, print_summary, print_timestamp, write_json_interval};
pub use signals::{StopSignals, Wake, run_intervals};

/// Fails with `thread N not found` unless `tid` names a live thread (a
/// `-t` filter for a thread that is gone would silently trace nothing).
/// Processes (`-p`) are checked and watched by
/// [`StopSignals::watch_process`].
pub fn require_thread(tid: u32) -> anyhow::Result<()> {
    if tid == 0 || !std::path::Path::new(&format!("/proc/{tid}/status")).exists() {
        anyhow::bail!("thread {tid} not found");
    }
    Ok(())
}

/// Writes one line to stderr and ignores a failure: a closed or full
/// stderr must neither crash a tool (`eprintln!` panics) nor stop one whose
/// stdout still works.
pub fn say(line: std::fmt::Arguments) {
    use std::io::Write as _;
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// [`say`] with `format!` arguments: `say!("{tool}: warning: ...")`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::user::say(format_args!($($arg)*))
    };
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
            crate::say!("{tool}: error: {text}");
            1
        }
    };
    std::process::exit(code)
}

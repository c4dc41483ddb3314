//! The command-line options runqlat and cpudist share: how the histograms
//! are split by task, and which tasks are traced.

use std::path::PathBuf;

use anyhow::Result;
use toolkit_cgroup::CgroupFilter;
use toolkit_cli::CgroupSplitArgs;
use toolkit_load::TracedProcess;

use crate::{Grouping, Measure, Options};

#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    /// Print a histogram per process ID
    #[arg(short = 'P', long = "pids", conflicts_with_all = ["per_thread", "per_pidns", "per_cgroup"])]
    pub per_process: bool,
    /// Print a histogram per thread ID
    #[arg(short = 'L', long = "tids", conflicts_with_all = ["per_pidns", "per_cgroup"])]
    pub per_thread: bool,
    /// Print a histogram per PID namespace
    #[arg(long = "pidnss", conflicts_with = "per_cgroup")]
    pub per_pidns: bool,
    /// Print a histogram per CPU (the CPU switching the task in, or out):
    /// one saturated or busy CPU hides in the all-CPU histogram
    #[arg(short = 'C', long = "cpus", conflicts_with_all = ["per_process", "per_thread", "per_pidns", "per_cgroup"])]
    pub per_cpu: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    /// Trace this PID only
    #[arg(short = 'p', long, value_name = "PID",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,
    /// Trace tasks in this cgroup v2 (and its descendants)
    #[arg(short = 'c', long, value_name = "CGROUP")]
    pub cgroup: Option<PathBuf>,
}

impl TaskArgs {
    /// How histograms are split: `-P`, `-L`, `--pidnss`, `-C`, `-G` or not
    /// at all.
    pub fn grouping(&self) -> Grouping {
        if self.per_process {
            Grouping::Process
        } else if self.per_thread {
            Grouping::Thread
        } else if self.per_pidns {
            Grouping::PidNamespace
        } else if self.per_cpu {
            Grouping::Cpu
        } else if self.split.per_cgroup {
            Grouping::Cgroup
        } else {
            Grouping::None
        }
    }

    /// The resolved options for `measure`, the `-p` process pinned as
    /// `traced` (the one conversion from the command line).
    pub fn options(
        &self,
        measure: Measure,
        traced: Option<&TracedProcess>,
        milliseconds: bool,
        loglinear: bool,
    ) -> Result<Options> {
        Ok(Options {
            measure,
            grouping: self.grouping(),
            process: traced.map(TracedProcess::pinned),
            cgroup: CgroupFilter::from_arg(self.cgroup.as_deref())?,
            milliseconds,
            loglinear,
            shown_cgroups: self.split.shown().unwrap_or(0),
        })
    }
}

//! The resolved options (built from the command line in `cli.rs`), and
//! from them and the kernel's BTF the configuration the kernel side reads
//! (`runqlat_ebpf::Config`): a pure function, tested without loading
//! anything.

use anyhow::Result;
use runqlat_ebpf::{Config, FirstRunOffsets, PidNsOffsets, TaskOffsets, group, maps, measure};
use toolkit_cgroup::{CgroupFilter, split_map_sizes};
use toolkit_load::{KernelBtf, PinnedPid};
use toolkit_report::Unit;

use crate::report::Grouping;

/// What the programs time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Measure {
    /// Waits on a run queue, from enqueue to switch-in: `runqlat`.
    #[default]
    RunQueue,
    /// Stretches on a CPU, from switch-in to switch-out: `cpudist`.
    OnCpu,
    /// Stretches off a CPU, from switch-out to switch-in: `cpudist -O`.
    OffCpu,
}

/// What to trace and how; by default every task's run-queue waits, one
/// histogram, microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// What is timed.
    pub measure: Measure,
    /// How histograms are split (`-P`, `-L`, `--pidnss`, `-C`).
    pub grouping: Grouping,
    /// Only this process (`-p`), never one that reuses its pid.
    pub process: Option<PinnedPid>,
    /// Only tasks in this cgroup v2 or below.
    pub cgroup: Option<CgroupFilter>,
    /// Millisecond buckets.
    pub milliseconds: bool,
    /// Log-linear histograms too, for percentiles.
    pub loglinear: bool,
    /// With `-G`: how many cgroups to show.
    pub shown_cgroups: u32,
}

impl Options {
    /// The histograms' unit.
    pub fn unit(&self) -> Unit {
        Unit::latency(self.milliseconds, false)
    }
}

/// The kernel side's configuration for `options`; offsets the run does
/// not use stay zero (their code is pruned by the verifier).
pub fn build(options: &Options, btf: &KernelBtf) -> Result<Config> {
    let grouping = options.grouping;
    let task = |member: &str| btf.member_offset("task_struct", member);
    let mut config = Config {
        unit_divisor: options.unit().divisor(),
        process: PinnedPid::filter(options.process, btf)?,
        group_by: match grouping {
            Grouping::None => group::NONE,
            Grouping::Process => group::PROCESS,
            Grouping::Thread => group::THREAD,
            Grouping::PidNamespace => group::PIDNS,
            Grouping::Cpu => group::CPU,
            Grouping::Cgroup => group::CGROUP,
        },
        loglinear: u32::from(options.loglinear),
        measure: match options.measure {
            Measure::RunQueue => measure::RUN_QUEUE,
            Measure::OnCpu => measure::ON_CPU,
            Measure::OffCpu => measure::OFF_CPU,
        },
        task: TaskOffsets {
            state: btf.first_member_offset("task_struct", &["__state", "state"])?,
            pid: task("pid")?,
            tgid: task("tgid")?,
            comm: task("comm")?,
            group_leader: task("group_leader")?,
        },
        ..Config::DEFAULT
    };
    if options.measure == Measure::RunQueue {
        config.first_run = first_run(btf).unwrap_or(Config::ZERO.first_run);
    }
    if grouping == Grouping::PidNamespace {
        config.pidns = PidNsOffsets {
            task_thread_pid: task("thread_pid")?,
            pid_level: btf.member_offset("pid", "level")?,
            pid_numbers: btf.member_offset("pid", "numbers")?,
            size_upid: btf.struct_size("upid")?,
            upid_ns: btf.member_offset("upid", "ns")?,
            pidns_inum: btf.member_offset("pid_namespace", "ns")?
                + btf.member_offset("ns_common", "inum")?,
        };
    }
    config.cgroup_filter = CgroupFilter::matching(options.cgroup);
    if options.cgroup.is_some() || grouping == Grouping::Cgroup {
        config.cgroup = btf.cgroup_offsets()?;
    }
    Ok(config)
}

/// Where a new task's first wait is read from, `None` where the kernel
/// lacks a field (no `CONFIG_SCHED_INFO` or `CONFIG_FAIR_GROUP_SCHED`):
/// `sched_wakeup_new` is traced there instead.
fn first_run(btf: &KernelBtf) -> Option<FirstRunOffsets> {
    let field = |name, member| btf.member_offset(name, member).ok();
    let info = field("task_struct", "sched_info")?;
    Some(FirstRunOffsets {
        enabled: 1,
        pcount: info + field("sched_info", "pcount")?,
        run_delay: info + field("sched_info", "run_delay")?,
        last_queued: info + field("sched_info", "last_queued")?,
        cfs_rq: field("task_struct", "se")? + field("sched_entity", "cfs_rq")?,
        rq: field("cfs_rq", "rq")?,
        rq_clock: field("rq", "clock")?,
        _reserved: 0,
    })
}

/// Map sizes: one histogram unless split; log-linear ones only when used;
/// the per-cgroup maps only with `-G`.
pub fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
    let keys = match options.grouping {
        Grouping::None | Grouping::Cgroup => 1,
        _ => maps::MAX_KEYS,
    };
    let ll = if options.loglinear { keys } else { 1 };
    let mut sizes = vec![
        (maps::HISTS, keys),
        (maps::COMMS, keys),
        (maps::LLHISTS, ll),
    ];
    let split = options.grouping == Grouping::Cgroup;
    sizes.extend(split_map_sizes(split, options.loglinear));
    sizes
}

#[cfg(test)]
mod tests {
    use toolkit_cgroup::CgroupFilter;

    use toolkit_core::CgroupMatch;

    use super::*;

    fn config_of(options: Options) -> Config {
        build(&options, &KernelBtf::load().unwrap()).unwrap()
    }

    #[test]
    fn defaults_trace_everything_in_usecs() {
        let config = config_of(Options::default());
        assert_eq!(config.unit_divisor, 1000);
        assert_eq!(
            (config.process.pid, config.group_by, config.loglinear),
            (0, group::NONE, 0)
        );
        assert_ne!(config.task.comm, 0);
        // Unused offsets stay zero: nothing reads them.
        assert_eq!(config.pidns, Config::DEFAULT.pidns);
        assert_eq!(config.cgroup, Config::DEFAULT.cgroup);
    }

    #[test]
    fn options_map_to_fields() {
        let config = config_of(Options {
            milliseconds: true,
            grouping: Grouping::Process,
            process: Some(PinnedPid {
                pid: 42,
                born_before: 7,
            }),
            loglinear: true,
            ..Options::default()
        });
        assert_eq!(config.unit_divisor, 1_000_000);
        assert_eq!((config.process.pid, config.group_by), (42, group::PROCESS));
        assert_eq!(config.process.born_before, 7);
        assert_ne!(config.process.off_start_time, 0);
        assert_eq!(config.loglinear, 1);
        let by = |grouping| {
            config_of(Options {
                grouping,
                ..Options::default()
            })
        };
        assert_eq!(by(Grouping::Thread).group_by, group::THREAD);
        assert_eq!(by(Grouping::Cpu).group_by, group::CPU);
        let pidns = by(Grouping::PidNamespace);
        assert_eq!(pidns.group_by, group::PIDNS);
        assert_ne!(pidns.pidns.size_upid, 0);
    }

    /// Debian's kernels (6.1, 6.12) and the host's have the fields a new
    /// task's first wait is read from, so `sched_wakeup_new` is not traced.
    #[test]
    fn first_waits_come_from_sched_info() {
        let first = config_of(Options::default()).first_run;
        assert_eq!(first.enabled, 1);
        let offsets = [
            first.pcount,
            first.run_delay,
            first.last_queued,
            first.cfs_rq,
            first.rq,
            first.rq_clock,
        ];
        assert!(offsets.iter().all(|&o| o != 0), "{first:?}");
        assert!(first.pcount < first.run_delay && first.run_delay < first.last_queued);
    }

    /// cpudist's measures: the measure set, and no first waits read
    /// (they are run-queue waits).
    #[test]
    fn cpudist_measures_read_no_first_waits() {
        for (measure, constant) in [
            (Measure::OnCpu, measure::ON_CPU),
            (Measure::OffCpu, measure::OFF_CPU),
        ] {
            let config = config_of(Options {
                measure,
                ..Options::default()
            });
            assert_eq!(config.measure, constant);
            assert_eq!(config.first_run, Config::ZERO.first_run);
        }
        assert_eq!(config_of(Options::default()).measure, measure::RUN_QUEUE);
    }

    #[test]
    fn cgroup_filter_carries_its_id_and_offsets() {
        let cgroup = CgroupFilter { id: 77, level: 2 };
        let config = config_of(Options {
            cgroup: Some(cgroup),
            ..Options::default()
        });
        assert_eq!(
            config.cgroup_filter,
            CgroupMatch {
                id: 77,
                on: 1,
                level: 2
            }
        );
        assert_ne!(config.cgroup.cgroup_ancestors, 0);
    }
}

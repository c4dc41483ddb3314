//! From the command line and the kernel's BTF to the configuration the
//! kernel side reads (`runqlat_ebpf::Config`): a pure function, tested
//! without loading anything.

use anyhow::Result;
use runqlat_ebpf::{CgroupOffsets, Config, PidNsOffsets, TaskOffsets, group, maps};
use toolkit_load::{CgroupFilter, KernelBtf};
use toolkit_report::Unit;

use crate::{cli::Cli, report::Grouping};

/// The kernel side's configuration for `cli`; offsets the run does not
/// use stay zero (their code is pruned by the verifier).
pub fn build(cli: &Cli, btf: &KernelBtf, cgroup: Option<CgroupFilter>) -> Result<Config> {
    let grouping = cli.grouping();
    let task = |member: &str| btf.member_offset("task_struct", member);
    let mut config = Config {
        unit_divisor: unit(cli).divisor(),
        filter_tgid: cli.pid.unwrap_or(0),
        group_by: match grouping {
            Grouping::None => group::NONE,
            Grouping::Process => group::PROCESS,
            Grouping::Thread => group::THREAD,
            Grouping::PidNamespace => group::PIDNS,
            Grouping::Cpu => group::CPU,
        },
        loglinear: u32::from(cli.hires.loglinear()),
        task: TaskOffsets {
            state: btf.first_member_offset("task_struct", &["__state", "state"])?,
            pid: task("pid")?,
            tgid: task("tgid")?,
            comm: task("comm")?,
            group_leader: task("group_leader")?,
        },
        ..Config::DEFAULT
    };
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
    if let Some(cgroup) = cgroup {
        config.filter_cgroup = 1;
        config.cgroup_id = cgroup.id;
        config.cgroup_level = cgroup.level;
        config.cgroup = CgroupOffsets {
            task_cgroups: task("cgroups")?,
            css_set_dfl_cgrp: btf.member_offset("css_set", "dfl_cgrp")?,
            cgroup_level: btf.member_offset("cgroup", "level")?,
            cgroup_ancestors: btf.member_offset("cgroup", "ancestors")?,
            cgroup_kn: btf.member_offset("cgroup", "kn")?,
            kernfs_node_id: btf.member_offset("kernfs_node", "id")?,
        };
    }
    Ok(config)
}

/// The histograms' unit.
pub fn unit(cli: &Cli) -> Unit {
    Unit::latency(cli.out.milliseconds, false)
}

/// Map sizes: one histogram unless split; log-linear ones only when used.
pub fn map_sizes(cli: &Cli) -> [(&'static str, u32); 3] {
    let keys = if cli.grouping() == Grouping::None {
        1
    } else {
        maps::MAX_KEYS
    };
    let ll_keys = if cli.hires.loglinear() { keys } else { 1 };
    [
        (maps::HISTS, keys),
        (maps::COMMS, keys),
        (maps::LLHISTS, ll_keys),
    ]
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn config_of(args: &[&str], cgroup: Option<CgroupFilter>) -> Config {
        let cli =
            Cli::try_parse_from(std::iter::once("runqlat").chain(args.iter().copied())).unwrap();
        build(&cli, &KernelBtf::load().unwrap(), cgroup).unwrap()
    }

    #[test]
    fn defaults_trace_everything_in_usecs() {
        let config = config_of(&[], None);
        assert_eq!(config.unit_divisor, 1000);
        assert_eq!(
            (config.filter_tgid, config.group_by, config.loglinear),
            (0, group::NONE, 0)
        );
        assert_ne!(config.task.comm, 0);
        // Unused offsets stay zero: nothing reads them.
        assert_eq!(config.pidns, Config::DEFAULT.pidns);
        assert_eq!(config.cgroup, Config::DEFAULT.cgroup);
    }

    #[test]
    fn options_map_to_fields() {
        let config = config_of(&["-m", "-P", "-p", "42", "--percentiles"], None);
        assert_eq!(config.unit_divisor, 1_000_000);
        assert_eq!((config.filter_tgid, config.group_by), (42, group::PROCESS));
        assert_eq!(config.loglinear, 1);
        assert_eq!(config_of(&["-L"], None).group_by, group::THREAD);
        let pidns = config_of(&["--pidnss"], None);
        assert_eq!(pidns.group_by, group::PIDNS);
        assert_ne!(pidns.pidns.size_upid, 0);
    }

    #[test]
    fn cgroup_filter_carries_its_id_and_offsets() {
        let cgroup = CgroupFilter { id: 77, level: 2 };
        let config = config_of(&[], Some(cgroup));
        assert_eq!(
            (config.filter_cgroup, config.cgroup_id, config.cgroup_level),
            (1, 77, 2)
        );
        assert_ne!(config.cgroup.cgroup_ancestors, 0);
    }
}

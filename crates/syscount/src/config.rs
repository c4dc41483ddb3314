//! The resolved options (built from the command line in `cli.rs`), and
//! from them and the kernel's BTF the configuration the kernel side reads
//! (`syscount_ebpf::Config`): a pure function, tested without loading
//! anything.

use anyhow::Result;
use syscount_ebpf::{Config, maps};
use toolkit_cgroup::CgroupFilter;
use toolkit_load::{KernelBtf, PinnedPid};
use toolkit_report::names::syscall_number;

/// What to count and how, resolved from the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only this process (`-p`), never one that reuses its pid.
    pub process: Option<PinnedPid>,
    /// Only this thread (`-t`, bcc).
    pub tid: Option<u32>,
    /// Only the children of this process (`--ppid`, bcc's `-c`).
    pub ppid: Option<u32>,
    /// Only these syscall numbers (`--syscall`).
    pub syscalls: Option<Vec<u32>>,
    /// Only failed calls (`-x`).
    pub failures: bool,
    /// Only calls failing with this errno (`-e`).
    pub errno: Option<i32>,
    /// Time calls too (`-L`).
    pub latency: bool,
    /// Count per process instead of per syscall (`-P`).
    pub by_process: bool,
    /// Only tasks in this cgroup v2 or below (`-c`).
    pub cgroup: Option<CgroupFilter>,
    /// Count per cgroup v2 instead of per syscall (`-G`): how many cgroups
    /// to show.
    pub per_cgroup: Option<u32>,
}

/// The kernel side's configuration for `options`; `self_pid` (syscount's
/// own) is never counted.
pub fn build(options: &Options, btf: &KernelBtf, self_pid: u32) -> Result<Config> {
    let flag = |on: bool| u32::from(on);
    let cgroup = options.cgroup;
    Ok(Config {
        cgroup_filter: CgroupFilter::matching(cgroup),
        process: PinnedPid::filter(options.process, btf)?,
        self_pid,
        filter_failed: flag(options.failures),
        filter_errno: options.errno.unwrap_or(0) as u32,
        measure_latency: flag(options.latency),
        by_process: flag(options.by_process),
        off_syscall_nr: btf.syscall_regs()?.nr,
        filter_tid: options.tid.unwrap_or(0),
        filter_ppid: options.ppid.unwrap_or(0),
        filter_syscalls: flag(options.syscalls.is_some()),
        off_task_real_parent: btf.member_offset("task_struct", "real_parent")?,
        off_task_tgid: btf.member_offset("task_struct", "tgid")?,
        nr_sigreturn: syscall_number("rt_sigreturn").unwrap_or(u32::MAX),
        by_cgroup: flag(options.per_cgroup.is_some()),
        _reserved: 0,
        cgroup: match options.per_cgroup {
            Some(_) => btf.cgroup_offsets()?,
            None => toolkit_core::CgroupOffsets::ZERO,
        },
    })
}

/// Map sizes: the process tables only with `-P`, the cgroup table only
/// with `-G`.
pub fn map_sizes(options: &Options) -> [(&'static str, u32); 6] {
    let processes = if options.by_process {
        maps::MAX_PROCESSES
    } else {
        1
    };
    let split = options.per_cgroup.is_some();
    let cgroups = if split { toolkit_core::MAX_CGROUPS } else { 1 };
    let [slots, owners] = toolkit_cgroup::slot_map_sizes(split);
    [
        slots,
        owners,
        (maps::PROCESSES, processes),
        (maps::COMMS, processes),
        (maps::CGROUPS, cgroups),
        (toolkit_core::CGROUP_NAMES_MAP, cgroups),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(options: Options) -> Config {
        build(&options, &KernelBtf::load().unwrap(), 7).unwrap()
    }

    #[test]
    fn defaults_count_everything() {
        let config = config_of(Options::default());
        assert_eq!(config.self_pid, 7);
        let switches = [
            config.process.pid,
            config.filter_failed,
            config.filter_errno,
            config.measure_latency,
            config.by_process,
            config.cgroup_filter.on,
        ];
        assert_eq!(switches, [0; 6]);
        assert_ne!(config.off_syscall_nr, 0);
    }

    #[test]
    fn options_map_to_fields() {
        let bcc = config_of(Options {
            tid: Some(7),
            ppid: Some(1),
            syscalls: Some(vec![0, 1]),
            ..Options::default()
        });
        assert_eq!(
            (bcc.filter_tid, bcc.filter_ppid, bcc.filter_syscalls),
            (7, 1, 1)
        );
        assert_ne!(bcc.off_task_real_parent, bcc.off_task_tgid);
        let me = toolkit_load::TracedProcess::open(std::process::id()).unwrap();
        let config = config_of(Options {
            process: Some(me.pinned()),
            errno: Some(2),
            latency: true,
            by_process: true,
            ..Options::default()
        });
        assert_eq!(config.process.pid, std::process::id());
        assert_ne!(config.process.born_before, 0);
        // rt_sigreturn: x86_64's 15, the generic table's (arm64's) 139.
        let sigreturn = if cfg!(target_arch = "aarch64") {
            139
        } else {
            15
        };
        assert_eq!(config.nr_sigreturn, sigreturn);
        assert_eq!(config.filter_errno, 2);
        assert_eq!((config.measure_latency, config.by_process), (1, 1));
        let failures = config_of(Options {
            failures: true,
            ..Options::default()
        });
        assert_eq!(failures.filter_failed, 1);
    }
}

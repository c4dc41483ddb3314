//! From the command line and the kernel's BTF to the configuration the
//! kernel side reads (`syscount_ebpf::Config`): a pure function, tested
//! without loading anything.

use anyhow::Result;
use syscount_ebpf::{Config, maps};
use toolkit_load::{CgroupFilter, KernelBtf, TracedProcess};
use toolkit_report::names::syscall_number;

use crate::cli::Cli;

/// The kernel side's configuration for `cli`, its `-p` process pinned as
/// `traced`; `self_pid` (syscount's own) is never counted.
pub fn build(
    cli: &Cli,
    btf: &KernelBtf,
    traced: Option<&TracedProcess>,
    cgroup: Option<CgroupFilter>,
    self_pid: u32,
) -> Result<Config> {
    let flag = |on: bool| u32::from(on);
    Ok(Config {
        cgroup_id: cgroup.map_or(0, |c| c.id),
        process: TracedProcess::filter(traced, btf)?,
        self_pid,
        filter_failed: flag(cli.failures),
        filter_errno: cli.errno.unwrap_or(0) as u32,
        measure_latency: flag(cli.latency),
        by_process: flag(cli.process),
        filter_cgroup: flag(cgroup.is_some()),
        cgroup_level: cgroup.map_or(0, |c| c.level),
        off_pt_regs_orig_ax: btf.member_offset("pt_regs", "orig_ax")?,
        filter_tid: cli.tid.unwrap_or(0),
        filter_ppid: cli.ppid.unwrap_or(0),
        filter_syscalls: flag(cli.syscalls.is_some()),
        off_task_real_parent: btf.member_offset("task_struct", "real_parent")?,
        off_task_tgid: btf.member_offset("task_struct", "tgid")?,
        nr_sigreturn: syscall_number("rt_sigreturn").unwrap_or(u32::MAX),
    })
}

/// Map sizes: the process tables only with `-P`.
pub fn map_sizes(cli: &Cli) -> [(&'static str, u32); 2] {
    let processes = if cli.process { maps::MAX_PROCESSES } else { 1 };
    [(maps::PROCESSES, processes), (maps::COMMS, processes)]
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn config_of(args: &[&str]) -> Config {
        let argv = std::iter::once("syscount").chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).unwrap();
        let traced = TracedProcess::from_arg(cli.pid).unwrap();
        build(&cli, &KernelBtf::load().unwrap(), traced.as_ref(), None, 7).unwrap()
    }

    #[test]
    fn defaults_count_everything() {
        let config = config_of(&[]);
        assert_eq!(config.self_pid, 7);
        let switches = [
            config.process.pid,
            config.filter_failed,
            config.filter_errno,
            config.measure_latency,
            config.by_process,
            config.filter_cgroup,
        ];
        assert_eq!(switches, [0; 6]);
        assert_ne!(config.off_pt_regs_orig_ax, 0);
    }

    #[test]
    fn options_map_to_fields() {
        let bcc = config_of(&["-t", "7", "--ppid", "1", "--syscall", "read,write"]);
        assert_eq!(
            (bcc.filter_tid, bcc.filter_ppid, bcc.filter_syscalls),
            (7, 1, 1)
        );
        assert_ne!(bcc.off_task_real_parent, bcc.off_task_tgid);
        let me = std::process::id().to_string();
        let config = config_of(&["-p", &me, "-e", "ENOENT", "-L", "-P"]);
        assert_eq!(config.process.pid, std::process::id());
        assert_ne!(config.process.born_before, 0);
        assert_eq!(config.nr_sigreturn, 15);
        assert_eq!(config.filter_errno, 2);
        assert_eq!((config.measure_latency, config.by_process), (1, 1));
        assert_eq!(config_of(&["-x"]).filter_failed, 1);
    }
}

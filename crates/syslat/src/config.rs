//! The resolved options of syslat and memlat (built from their command
//! lines in their `cli.rs`), and from them and the kernel's BTF the
//! configuration the kernel side reads (`syslat_ebpf::Config`) and the map
//! sizes: pure functions, tested without loading anything.

use anyhow::Result;
use syslat_ebpf::{Config, SYSCALL_SLOTS, maps};
use toolkit_cgroup::CgroupFilter;
use toolkit_load::{KernelBtf, PinnedPid};
use toolkit_report::{Unit, names::syscall_number};

/// What to trace and how.
#[derive(Debug, Default)]
pub struct Options {
    /// Only this process (`-p`), never one that reuses its pid.
    pub process: Option<PinnedPid>,
    /// Only this thread.
    pub tid: Option<u32>,
    /// Only these syscall numbers (filtered in the kernel).
    pub syscalls: Option<Vec<u32>>,
    /// Only failed calls.
    pub failed_only: bool,
    /// Count failed calls per syscall and errno.
    pub count_errors: bool,
    /// Histograms of the length requested from mmap and mremap.
    pub record_sizes: bool,
    /// Log-linear latency histograms too, for percentiles.
    pub loglinear: bool,
    /// Direct reclaim stalls, global and memory-cgroup (memlat `--reclaim`).
    pub reclaim: bool,
    /// Reclaim stalls per process (memlat `-P`).
    pub reclaim_per_process: bool,
    /// Latency per process, the traced syscalls together (syslat `-P`).
    pub per_process: bool,
    /// Latency (and reclaim stalls) per cgroup v2, the traced syscalls
    /// together (`-G`): how many cgroups to show.
    pub per_cgroup: Option<u32>,
    /// Only calls failing with this errno (syslat `-e`).
    pub errno: Option<i32>,
    /// Only tasks in this cgroup v2 or below (`-c`).
    pub cgroup: Option<CgroupFilter>,
    /// The latency histograms' unit (`-m`, `-n`).
    pub unit: Unit,
}

/// The kernel side's configuration for `options`; `self_pid` (the tool's
/// own) is never traced. A pure function: tested without loading anything.
pub fn build(options: &Options, btf: &KernelBtf, self_pid: u32) -> Result<Config> {
    let flag = |on: bool| u32::from(on);
    let regs = btf.syscall_regs()?;
    let nr = |name| syscall_number(name).unwrap_or(u32::MAX);
    Ok(Config {
        unit_divisor: options.unit.divisor(),
        process: PinnedPid::filter(options.process, btf)?,
        filter_tid: options.tid.unwrap_or(0),
        self_pid,
        filter_syscalls: flag(options.syscalls.is_some()),
        filter_failed: flag(options.failed_only),
        count_errors: flag(options.count_errors),
        record_sizes: flag(options.record_sizes),
        loglinear: flag(options.loglinear),
        reclaim_per_process: flag(options.reclaim_per_process),
        off_mmap_len: regs.args[1],
        off_mremap_len: regs.args[2],
        nr_mmap: nr("mmap"),
        nr_mremap: nr("mremap"),
        filter_errno: options.errno.unwrap_or(0) as u32,
        cgroup_filter: CgroupFilter::matching(options.cgroup),
        per_process: flag(options.per_process),
        per_cgroup: flag(options.per_cgroup.is_some()),
        _reserved: 0,
        cgroup: match options.per_cgroup {
            Some(_) => btf.cgroup_offsets()?,
            None => toolkit_core::CgroupOffsets::ZERO,
        },
    })
}

/// Map sizes: histograms up to the highest traced syscall; failures,
/// sizes, log-linear, per-process, per-cgroup and reclaim maps only when
/// asked.
pub fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
    let syscalls = options.syscalls.as_ref().map_or(SYSCALL_SLOTS, |s| {
        s.iter().max().map_or(1, |&nr| (nr + 1).min(SYSCALL_SLOTS))
    });
    let on = |wanted: bool, size: u32| if wanted { size } else { 1 };
    let reclaim = match (options.reclaim, options.reclaim_per_process) {
        (false, _) => 1,
        (true, true) => maps::MAX_PROCESSES,
        // Both kinds for each cgroup.
        (true, false) if options.per_cgroup.is_some() => 2 * toolkit_core::MAX_CGROUPS,
        (true, false) => 2,
    };
    let processes = on(options.per_process, maps::MAX_PROCESSES);
    let hists = if options.per_process || options.per_cgroup.is_some() {
        1
    } else {
        syscalls
    };
    let loglinear = if options.per_process {
        processes
    } else {
        SYSCALL_SLOTS
    };
    let mut sizes = vec![
        (maps::HISTS, hists),
        (maps::PROCESSES, processes),
        (maps::COMMS, processes),
        (maps::ERRORS, on(options.count_errors, maps::MAX_ERRORS)),
        (maps::SIZES, on(options.record_sizes, maps::MAX_SIZES)),
        (maps::LLHISTS, on(options.loglinear, loglinear)),
        (maps::RECLAIM, reclaim),
        (maps::RECLAIM_LL, on(options.loglinear, reclaim)),
    ];
    let split = options.per_cgroup.is_some();
    sizes.extend(toolkit_cgroup::split_map_sizes(split, options.loglinear));
    sizes
}

#[cfg(test)]
mod tests {
    use toolkit_core::CgroupMatch;

    use super::*;

    #[test]
    fn options_map_to_config_fields() {
        let btf = KernelBtf::load().unwrap();
        let options = Options {
            process: Some(PinnedPid {
                pid: 5,
                born_before: 8,
            }),
            tid: Some(6),
            syscalls: Some(vec![9, 11]),
            failed_only: true,
            count_errors: true,
            record_sizes: true,
            loglinear: true,
            reclaim: true,
            reclaim_per_process: true,
            per_process: false,
            per_cgroup: None,
            errno: Some(2),
            cgroup: Some(CgroupFilter { id: 77, level: 2 }),
            unit: Unit::Nsecs,
        };
        let config = build(&options, &btf, 99).unwrap();
        assert_eq!(config.filter_errno, 2);
        assert_eq!(
            config.cgroup_filter,
            CgroupMatch {
                id: 77,
                on: 1,
                level: 2
            }
        );
        assert_eq!(config.unit_divisor, 1);
        assert_eq!(
            (config.process.pid, config.filter_tid, config.self_pid),
            (5, 6, 99)
        );
        let switches = [
            config.filter_syscalls,
            config.filter_failed,
            config.count_errors,
            config.record_sizes,
            config.loglinear,
            config.reclaim_per_process,
        ];
        assert_eq!(switches, [1; 6]);
        assert_ne!(config.off_mmap_len, config.off_mremap_len);
        assert_eq!(config.nr_mmap, syscall_number("mmap").unwrap());
        let sizes = map_sizes(&options);
        assert_eq!(sizes[0], (maps::HISTS, 12));
        assert_eq!(sizes[6], (maps::RECLAIM, maps::MAX_PROCESSES));
        assert_eq!(sizes[1], (maps::PROCESSES, 1));
        let per_process = Options {
            per_process: true,
            loglinear: true,
            ..Options::default()
        };
        let on = build(&per_process, &btf, 1).unwrap();
        assert_eq!(on.per_process, 1);
        let sizes = map_sizes(&per_process);
        assert_eq!(sizes[0], (maps::HISTS, 1));
        assert_eq!(sizes[1], (maps::PROCESSES, maps::MAX_PROCESSES));
        assert_eq!(sizes[2], (maps::COMMS, maps::MAX_PROCESSES));
        assert_eq!(sizes[5], (maps::LLHISTS, maps::MAX_PROCESSES));
        let plain = build(&Options::default(), &btf, 99).unwrap();
        assert_eq!(plain.unit_divisor, 1000);
        assert_eq!((plain.filter_syscalls, plain.count_errors), (0, 0));
        assert_eq!(map_sizes(&Options::default())[3], (maps::ERRORS, 1));
    }
}

//! From the command line and the kernel's BTF to the configuration the
//! kernel side reads (`biolatency_ebpf::Config`): a pure function, tested
//! without loading anything.

use anyhow::Result;
use biolatency_ebpf::{Config, Offsets, maps};
use toolkit_load::{CgroupFilter, KernelBtf};
use toolkit_report::Unit;

use crate::cli::Cli;

/// The kernel side's configuration for `cli`, `dev` being the `-d` disk's
/// dev_t.
pub fn build(
    cli: &Cli,
    btf: &KernelBtf,
    dev: Option<u32>,
    cgroup: Option<CgroupFilter>,
) -> Result<Config> {
    let flag = |on: bool| u32::from(on);
    Ok(Config {
        unit_divisor: unit(cli).divisor(),
        cgroup_id: cgroup.map_or(0, |c| c.id),
        filter_dev: flag(dev.is_some()),
        target_dev: dev.unwrap_or(0),
        per_disk: flag(cli.per_disk),
        per_flag: flag(cli.per_flag),
        queued: flag(cli.queued),
        loglinear: flag(cli.hires.loglinear()),
        filter_cgroup: flag(cgroup.is_some()),
        cgroup_level: cgroup.map_or(0, |c| c.level),
        off: Offsets {
            request_q: btf.member_offset("request", "q")?,
            request_cmd_flags: btf.member_offset("request", "cmd_flags")?,
            queue_disk: btf.member_offset("request_queue", "disk")?,
            queue_elevator: btf.member_offset("request_queue", "elevator")?,
            disk_major: btf.member_offset("gendisk", "major")?,
            disk_first_minor: btf.member_offset("gendisk", "first_minor")?,
        },
    })
}

/// The histograms' unit.
pub fn unit(cli: &Cli) -> Unit {
    Unit::latency(cli.out.milliseconds, false)
}

/// Map sizes: one histogram unless split; log-linear ones only when used.
pub fn map_sizes(cli: &Cli) -> [(&'static str, u32); 2] {
    let hists = if cli.per_disk || cli.per_flag {
        maps::MAX_HISTS
    } else {
        1
    };
    let ll_hists = if cli.hires.loglinear() { hists } else { 1 };
    [(maps::HISTS, hists), (maps::LLHISTS, ll_hists)]
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn config_of(args: &[&str], dev: Option<u32>, cgroup: Option<CgroupFilter>) -> Config {
        let argv = std::iter::once("biolatency").chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).unwrap();
        build(&cli, &KernelBtf::load().unwrap(), dev, cgroup).unwrap()
    }

    #[test]
    fn defaults_time_every_disk_in_usecs() {
        let config = config_of(&[], None, None);
        assert_eq!(config.unit_divisor, 1000);
        let switches = [
            config.filter_dev,
            config.per_disk,
            config.per_flag,
            config.queued,
            config.loglinear,
            config.filter_cgroup,
        ];
        assert_eq!(switches, [0; 6]);
        assert_ne!(config.off.disk_first_minor, 0);
    }

    #[test]
    fn options_map_to_fields() {
        let cgroup = CgroupFilter { id: 9, level: 1 };
        let config = config_of(
            &["-m", "-D", "-F", "-Q", "--percentiles"],
            Some(253 << 20),
            Some(cgroup),
        );
        assert_eq!(config.unit_divisor, 1_000_000);
        assert_eq!((config.filter_dev, config.target_dev), (1, 253 << 20));
        assert_eq!([config.per_disk, config.per_flag, config.queued], [1; 3]);
        assert_eq!(config.loglinear, 1);
        assert_eq!(
            (config.filter_cgroup, config.cgroup_id, config.cgroup_level),
            (1, 9, 1)
        );
    }
}

//! The resolved options (built from the command line in `cli.rs`), and
//! from them and the kernel's BTF the configuration the kernel side reads
//! (`biolatency_ebpf::Config`): a pure function, tested without loading
//! anything.

use anyhow::Result;
use biolatency_ebpf::{Config, Offsets, maps};
use toolkit_cgroup::{CgroupFilter, split_map_sizes};
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::Unit;

/// What to trace and how.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// A histogram per disk (`-D`).
    pub per_disk: bool,
    /// A histogram per request flag set (`-F`).
    pub per_flag: bool,
    /// From insertion in the queue rather than issue (`-Q`).
    pub queued: bool,
    /// Only this disk, as the kernel's dev_t (`-d`).
    pub dev: Option<u32>,
    /// Only I/O issued by tasks in this cgroup v2 or below (`-c`).
    pub cgroup: Option<CgroupFilter>,
    /// Millisecond buckets.
    pub milliseconds: bool,
    /// Log-linear histograms too, for percentiles.
    pub loglinear: bool,
    /// Start-time slots as a power of two (`--slots`); `None`: the default,
    /// `maps::SLOT_BITS`.
    pub slot_bits: Option<u32>,
    /// A histogram per block cgroup (`-G`): how many cgroups to show.
    pub per_cgroup: Option<u32>,
}

impl Options {
    /// The histograms' unit.
    pub fn unit(&self) -> Unit {
        Unit::latency(self.milliseconds, false)
    }

    /// Whether histograms are split by disk or flags.
    pub fn split(&self) -> bool {
        self.per_disk || self.per_flag
    }

    /// The hook that costs least per request: `tp_btf`, where a request's
    /// fields are plain loads, when the programs read every request's
    /// (its disk for `-d` and `-D`, its flags for `-F`, its queue's
    /// scheduler for `-Q`); else `raw_tp`, where the request's address is a
    /// number without the helper call that `tp_btf` needs to hash it (a
    /// failed request's disk is read either way).
    pub(crate) fn hook(&self) -> Hook {
        if self.split() || self.dev.is_some() || self.queued || self.per_cgroup.is_some() {
            Hook::BtfTracePoint
        } else {
            Hook::RawTracePoint
        }
    }
}

/// The kernel side's configuration for `options`.
pub fn build(options: &Options, btf: &KernelBtf) -> Result<Config> {
    let flag = |on: bool| u32::from(on);
    let (dev, cgroup) = (options.dev, options.cgroup);
    Ok(Config {
        unit_divisor: options.unit().divisor(),
        cgroup_filter: CgroupFilter::matching(cgroup),
        filter_dev: flag(dev.is_some()),
        target_dev: dev.unwrap_or(0),
        per_disk: flag(options.per_disk),
        per_flag: flag(options.per_flag),
        queued: flag(options.queued),
        loglinear: flag(options.loglinear),
        slot_bits: slot_bits(options),
        per_cgroup: flag(options.per_cgroup.is_some()),
        cgroup: match options.per_cgroup {
            Some(_) => btf.cgroup_offsets()?,
            None => toolkit_core::CgroupOffsets::ZERO,
        },
        off: Offsets {
            request_q: btf.member_offset("request", "q")?,
            request_cmd_flags: btf.member_offset("request", "cmd_flags")?,
            queue_disk: btf.member_offset("request_queue", "disk")?,
            queue_elevator: btf.member_offset("request_queue", "elevator")?,
            disk_major: btf.member_offset("gendisk", "major")?,
            disk_first_minor: btf.member_offset("gendisk", "first_minor")?,
            ..block_cgroup_offsets(options, btf)?
        },
    })
}

/// With `-G`, the way from a request to its block cgroup; zero otherwise.
fn block_cgroup_offsets(options: &Options, btf: &KernelBtf) -> Result<Offsets> {
    let none = Offsets::ZERO;
    if options.per_cgroup.is_none() {
        return Ok(none);
    }
    let Ok(bio_blkg) = btf.member_offset("bio", "bi_blkg") else {
        anyhow::bail!(
            "-G needs the kernel's block cgroup accounting, which this kernel lacks (CONFIG_BLK_CGROUP)"
        );
    };
    Ok(Offsets {
        request_bio: btf.member_offset("request", "bio")?,
        bio_blkg,
        blkg_blkcg: btf.member_offset("blkcg_gq", "blkcg")?,
        blkcg_cgroup: btf.member_offset("blkcg", "css")?
            + btf.member_offset("cgroup_subsys_state", "cgroup")?,
        ..none
    })
}

fn slot_bits(options: &Options) -> u32 {
    options
        .slot_bits
        .unwrap_or(maps::SLOT_BITS)
        .min(maps::MAX_SLOT_BITS)
}

/// Map sizes: one histogram unless split; log-linear ones only when used;
/// the start-time slots.
pub fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
    let hists = if options.split() { maps::MAX_HISTS } else { 1 };
    let ll = if options.loglinear { hists } else { 1 };
    let mut sizes = vec![
        (maps::HISTS, hists),
        (maps::LLHISTS, ll),
        (maps::SLOTS, 1 << slot_bits(options)),
    ];
    sizes.extend(split_map_sizes(
        options.per_cgroup.is_some(),
        options.loglinear,
    ));
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
    fn defaults_time_every_disk_in_usecs() {
        let config = config_of(Options::default());
        assert_eq!(config.unit_divisor, 1000);
        let switches = [
            config.filter_dev,
            config.per_disk,
            config.per_flag,
            config.queued,
            config.loglinear,
            config.cgroup_filter.on,
        ];
        assert_eq!(switches, [0; 6]);
        assert_ne!(config.off.disk_first_minor, 0);
        assert_eq!(config.slot_bits, maps::SLOT_BITS);
        assert_eq!(
            config,
            Config {
                off: config.off,
                ..Config::DEFAULT
            }
        );
    }

    #[test]
    fn options_map_to_fields() {
        let cgroup = CgroupFilter { id: 9, level: 1 };
        let config = config_of(Options {
            milliseconds: true,
            per_disk: true,
            per_flag: true,
            queued: true,
            loglinear: true,
            dev: Some(253 << 20),
            cgroup: Some(cgroup),
            slot_bits: Some(0),
            per_cgroup: None,
        });
        assert_eq!(config.unit_divisor, 1_000_000);
        assert_eq!((config.filter_dev, config.target_dev), (1, 253 << 20));
        assert_eq!([config.per_disk, config.per_flag, config.queued], [1; 3]);
        assert_eq!(config.loglinear, 1);
        assert_eq!(
            config.cgroup_filter,
            CgroupMatch {
                id: 9,
                on: 1,
                level: 1
            }
        );
        assert_eq!(config.slot_bits, 0);
        // Without -G nothing of the request's cgroup is read.
        assert_eq!(config.off.bio_blkg, 0);
    }

    /// This kernel has block cgroup accounting: -G finds the way from a
    /// request to its cgroup.
    #[test]
    fn per_cgroup_reads_the_requests_block_cgroup() {
        let config = config_of(Options {
            per_cgroup: Some(50),
            ..Options::default()
        });
        assert_eq!(config.per_cgroup, 1);
        let off = config.off;
        // (`blkcg.css.cgroup` is at 0: both are first members.)
        assert!(
            off.request_bio != 0 && off.bio_blkg != 0 && off.blkg_blkcg != 0,
            "{off:?}"
        );
        assert_ne!(config.cgroup.kernfs_node_id, 0);
    }

    #[test]
    fn slots_are_sized_and_capped() {
        let slots = |bits| {
            let sizes = map_sizes(&Options {
                slot_bits: bits,
                ..Options::default()
            });
            sizes
                .iter()
                .find(|(name, _)| *name == maps::SLOTS)
                .unwrap()
                .1
        };
        assert_eq!(slots(None), 8192);
        assert_eq!(slots(Some(0)), 1);
        assert_eq!(slots(Some(40)), 1 << maps::MAX_SLOT_BITS);
    }
}

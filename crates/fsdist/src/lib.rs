//! File system latency from the syscall tracepoints, shared by `fsdist`
//! (histograms by file system and operation) and `fsslower` (one line per
//! slow operation): load and attach the eBPF object, name the file
//! systems it saw, drain its histograms or read its events.
//!
//! What a syscall tracepoint cannot see is not here: io_uring and AIO
//! (no read or write syscall per operation), page faults on mapped files,
//! the copies inside `sendfile`, `splice` and `copy_file_range`, and the
//! file system of a call given a path (`stat`, a failed `open`): those
//! are counted as `unresolved` with `--all-kinds`.

pub mod args;
pub mod config;
pub mod mounts;

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData},
};
use fsdist_ebpf::{Config, FsEvent, FsName, dropped, maps, op};
use serde_json::{Map, Value};
use toolkit_cgroup::{CgroupDrain, CgroupNames, SplitDrain, SplitHists};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{Counters as _, EventRing, HistDrain, Losses, drain_optional, take_map};
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::{HistRow, escape};
use toolkit_session::{Attach, Session, Tool};

pub use args::FsArgs;
pub use config::Options;
/// The histograms' keys and the descriptor kinds, for other tools that run
/// fsdist's object (usecheck).
pub use fsdist_ebpf::{key_parts, kind};
pub use mounts::{Mount, Mounts, dev_name};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fsdist"));

/// fsdist (and fsslower) as a [`Tool`]: its object on the syscall
/// tracepoints, the traced syscalls written into its table.
pub struct Fsdist;

impl Tool for Fsdist {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Config> {
        config::build(options, btf, std::process::id())
    }

    fn attach(_: &Options, _: &Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        // sys_exit first: a call entered before sys_exit is attached is
        // then never half-seen. tp_btf first: its way from the task to the
        // descriptor table is plain loads, not helper calls.
        Ok(vec![Attach::new(
            ["sys_exit", "sys_enter"],
            Hook::BtfTracePoint,
        )])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options)
    }

    fn prepare(_: &Options, ebpf: &mut Ebpf) -> Result<()> {
        let map = ebpf
            .map_mut(maps::SYSCALLS)
            .context("map SYSCALLS missing from the object")?;
        let mut table: Array<_, u32> = Array::try_from(map)?;
        for (nr, entry) in config::syscall_table() {
            if nr < table.len() {
                table.set(nr, entry, 0)?;
            }
        }
        Ok(())
    }
}

/// The name of an operation ([`op`]).
pub fn op_name(op: u8) -> &'static str {
    op::NAMES.get(op as usize).copied().unwrap_or("other")
}

/// How the file systems seen are named: their device and the kernel's own
/// type name, kept by superblock when each was first seen, and this
/// namespace's mounts.
pub struct Names {
    fstypes: HashMap<MapData, u64, FsName>,
    pub mounts: Mounts,
}

impl Names {
    fn new(ebpf: &mut Ebpf) -> Result<Self> {
        Ok(Self {
            fstypes: HashMap::try_from(take_map(ebpf, maps::FSTYPES)?)?,
            mounts: Mounts::read(),
        })
    }

    /// The device of the file system of superblock `sb` (0 when its name
    /// could not be kept: the map full, said as a loss).
    pub fn dev(&self, sb: u64) -> u32 {
        self.fstypes.get(&sb, 0).map_or(0, |n| n.dev)
    }

    /// The type of the file system of superblock `sb`: the kernel's name
    /// for it, or mountinfo's, or its device number.
    pub fn fstype(&self, sb: u64) -> String {
        match self.fstypes.get(&sb, 0) {
            Ok(name) if name.fstype[0] != 0 => escape::c_name(&name.fstype),
            Ok(name) => self
                .mounts
                .get(name.dev)
                .map_or_else(|| dev_name(name.dev), |m| m.fstype.clone()),
            Err(_) => "unknown".to_string(),
        }
    }

    /// Where the file system of superblock `sb` is mounted (its device
    /// number when this namespace does not show it).
    pub fn mount_point(&self, sb: u64) -> String {
        let dev = self.dev(sb);
        self.mounts
            .get(dev)
            .map_or_else(|| format!("({})", dev_name(dev)), |m| m.point.clone())
    }
}

/// One interval's histograms, by [`fsdist_ebpf::key`] (file system, kind
/// and operation).
pub struct Interval {
    pub hists: Vec<(u64, Hist)>,
    pub loglinear: BTreeMap<u64, LlHist>,
    /// With `per_cgroup`: the histograms by cgroup, folded into the split's
    /// rows (`hists` is then empty).
    pub cgroups: Option<SplitHists>,
    pub lost: Losses,
}

/// A row of the report: what the histograms were summed by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowKey {
    /// The file system type, or the kind of descriptor that is not a file
    /// (`socket`, `pipe`, ..., `unresolved`).
    pub fs: String,
    /// With the per-mount split: the mount point.
    pub mount: Option<String>,
    pub op: u8,
}

/// Histograms summed by [`RowKey`], in display order.
pub type Rows = Vec<(RowKey, Hist, Option<LlHist>)>;

impl Interval {
    /// The histograms summed by file system type (or kind) and operation,
    /// and with `per_mount` by mount too, in order: file systems by name,
    /// then the other kinds, operations in libbpf-tools' order.
    pub fn rows(&self, names: &Names, per_mount: bool) -> Rows {
        let mut rows: BTreeMap<(bool, RowKey), (Hist, Option<LlHist>)> = BTreeMap::new();
        for (key, hist) in &self.hists {
            let (sb, kind, op) = key_parts(*key);
            let file = kind == kind::FILE;
            let row = RowKey {
                fs: if file {
                    names.fstype(sb)
                } else {
                    kind::NAMES
                        .get(kind as usize)
                        .copied()
                        .unwrap_or("other")
                        .to_string()
                },
                mount: (per_mount && file).then(|| names.mount_point(sb)),
                op,
            };
            let (sum, ll) = rows
                .entry((!file, row))
                .or_insert_with(|| (Hist::ZERO, None));
            sum.merge(hist);
            if let Some(bins) = self.loglinear.get(key) {
                ll.get_or_insert(LlHist::ZERO).merge(bins);
            }
        }
        rows.into_iter()
            .map(|((_, key), (hist, ll))| (key, hist, ll))
            .collect()
    }
}

/// The rows as the shared report's, headed as libbpf-tools' fsdist heads
/// them (`operation = 'read'`) when one file system type is traced
/// (`single`), else with the file system (and mount) in front.
pub fn hist_rows(rows: &Rows, single: bool) -> Vec<HistRow<'_>> {
    rows.iter()
        .enumerate()
        .map(|(i, (key, hist, ll))| {
            let op = op_name(key.op);
            let mut labels = Map::new();
            labels.insert("fs".into(), Value::from(key.fs.clone()));
            if let Some(mount) = &key.mount {
                labels.insert("mount".into(), Value::from(mount.clone()));
            }
            labels.insert("operation".into(), Value::from(op));
            let (heading, name) = match (&key.mount, single) {
                (None, true) => (format!("operation = '{op}'\n"), op.to_string()),
                (None, false) => (
                    format!("fs = '{}', operation = '{op}'\n", key.fs),
                    format!("{} {op}", key.fs),
                ),
                (Some(mount), _) => (
                    format!("mount = '{mount}' ({}), operation = '{op}'\n", key.fs),
                    format!("{mount} {op}"),
                ),
            };
            // libbpf-tools prints a blank line after each histogram: the
            // first row's comes from the interval's own, the last's from
            // the report's sections.
            let heading = if i == 0 {
                heading
            } else {
                format!("\n{heading}")
            };
            HistRow::new(heading, name, labels, hist, ll.as_ref())
        })
        .collect()
}

/// fsdist's attached programs and their maps.
pub struct Tracer {
    session: Session,
    hists: CgroupDrain<Hist>,
    loglinear: Option<HistDrain<u64, LlHist>>,
    cgroups: Option<SplitDrain>,
    pub names: Names,
}

impl Tracer {
    /// Loads the object with `options` and attaches it, with the kernel's
    /// `btf`.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Fsdist>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let hists = CgroupDrain::with_slots(ebpf, maps::FS_SLOTS, maps::HISTS)?;
        let loglinear = options
            .loglinear
            .then(|| HistDrain::new(ebpf, maps::LLHISTS))
            .transpose()?;
        let cgroups = options
            .per_cgroup
            .map(|shown| SplitDrain::new(ebpf, options.loglinear, CgroupNames::unified(), shown))
            .transpose()?;
        let names = Names::new(ebpf)?;
        Ok(Self {
            session,
            hists,
            loglinear,
            cgroups,
            names,
        })
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Interval> {
        let Self {
            session,
            hists,
            loglinear,
            cgroups,
            names,
        } = self;
        let ((hists, loglinear, cgroups), lost) = session.interval(|tick| {
            Ok((
                hists.drain(tick)?,
                drain_optional(loglinear.as_mut(), tick)?,
                cgroups.as_mut().map(|c| c.drain(tick)).transpose()?,
            ))
        })?;
        let devs: Vec<u32> = hists
            .iter()
            .map(|(key, _)| names.dev(key_parts(*key).0))
            .collect();
        names.mounts.refresh_for(devs);
        Ok(Interval {
            hists,
            loglinear,
            cgroups,
            lost,
        })
    }
}

/// fsslower's attached programs and their ring buffer.
pub struct Watcher {
    session: Session,
    events: EventRing<FsEvent>,
    pub mounts: Mounts,
}

impl Watcher {
    /// Loads the object for events slower than `options.slower_than_ns`
    /// and attaches it.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Fsdist>(tool, btf, options)?;
        let events = EventRing::new(session.ebpf(), maps::EVENTS)?;
        Ok(Self {
            session,
            events,
            mounts: Mounts::read(),
        })
    }

    /// The operations sent since the last call, oldest first.
    pub fn events(&mut self) -> Vec<FsEvent> {
        let events = self.events.drain();
        self.mounts.refresh_for(events.iter().map(|e| e.dev));
        events
    }

    /// Operations the kernel side could not send (a full ring buffer),
    /// said on stderr.
    pub fn lost(&mut self) -> Result<Losses> {
        Ok(self.session.interval(|_| Ok(()))?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_a_kernel_address_kind_and_operation() {
        use fsdist_ebpf::{is_key_address, key, slot_index};
        for sb in [
            0xffff_8880_0123_4800u64,
            0xff11_0000_dead_bee8,
            0xfe00_0000_0000_0008,
        ] {
            assert!(is_key_address(sb), "{sb:x}");
            for (kind, op) in [(0, 0), (6, 5), (kind::PIPE, op::FSYNC)] {
                assert_eq!(key_parts(key(sb, kind, op)), (sb, kind, op), "{sb:x}");
            }
        }
        assert_eq!(
            key_parts(key(0, kind::UNRESOLVED, op::OPEN)),
            (0, kind::UNRESOLVED, op::OPEN)
        );
        assert!(!is_key_address(0x0000_7fff_0000_0000));
        assert!(!is_key_address(0xffff_8880_0000_0004));
        // Superblocks 2 KiB apart, and one file system's operations, use
        // different slots.
        let a = slot_index(key(0xffff_8880_0100_0000, 0, op::READ));
        let b = slot_index(key(0xffff_8880_0100_0800, 0, op::READ));
        let c = slot_index(key(0xffff_8880_0100_0000, 0, op::WRITE));
        assert!(a != b && a != c, "{a} {b} {c}");
    }

    #[test]
    fn headings_follow_libbpf_tools_for_one_type() {
        let hist = Hist::ZERO;
        let rows: Rows = vec![
            (
                RowKey {
                    fs: "ext4".into(),
                    mount: None,
                    op: op::READ,
                },
                hist,
                None,
            ),
            (
                RowKey {
                    fs: "ext4".into(),
                    mount: None,
                    op: op::FSYNC,
                },
                hist,
                None,
            ),
        ];
        let single = hist_rows(&rows, true);
        assert_eq!(single[0].heading, "operation = 'read'\n");
        assert_eq!(single[1].heading, "\noperation = 'fsync'\n");
        let all = hist_rows(&rows, false);
        assert_eq!(all[1].heading, "\nfs = 'ext4', operation = 'fsync'\n");
        assert_eq!(all[1].name, "ext4 fsync");
        assert_eq!(all[0].labels["operation"], "read");
    }
}

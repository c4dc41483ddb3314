//! The resolved options of fsdist and fsslower (built from their command
//! lines in their `cli.rs`), and from them and the kernel's BTF the
//! configuration the kernel side reads (`fsdist_ebpf::Config`), the map
//! sizes and the table of traced syscalls: pure functions, tested without
//! loading anything.

use anyhow::{Result, bail};
use fsdist_ebpf::{Config, FSTYPE_BYTES, FileOffsets, INODE_BLOCK, how, maps, op};
use toolkit_load::{KernelBtf, PinnedPid};
use toolkit_report::{Unit, names::syscall_number};

/// What to trace and how.
#[derive(Debug, Default)]
pub struct Options {
    /// Only this process (`-p`), never one that reuses its pid.
    pub process: Option<PinnedPid>,
    /// Only this file system type (`-t`), checked by [`check_fstype`].
    pub fstype: Option<String>,
    /// Descriptors that are not files too, and calls whose file is not
    /// known (`--all-kinds`).
    pub other_kinds: bool,
    /// Log-linear latency histograms too, for percentiles.
    pub loglinear: bool,
    /// fsslower: operations slower than this many ns, as events.
    pub slower_than_ns: Option<u64>,
    /// Latency per cgroup v2, the traced operations together (`-G`): how
    /// many cgroups to show.
    pub per_cgroup: Option<u32>,
    /// The latency histograms' unit (`-m`).
    pub unit: Unit,
}

/// The syscalls traced, by name (those this architecture lacks are left
/// out): the operation each is, and where its file is.
pub const SYSCALLS: [(&str, u8, u8); 24] = [
    ("read", op::READ, how::FD),
    ("readv", op::READ, how::FD),
    ("pread64", op::READ, how::FD_AT_OFFSET),
    ("preadv", op::READ, how::FD_AT_OFFSET),
    ("preadv2", op::READ, how::FD_AT_OFFSET),
    ("write", op::WRITE, how::FD),
    ("writev", op::WRITE, how::FD),
    ("pwrite64", op::WRITE, how::FD_AT_OFFSET),
    ("pwritev", op::WRITE, how::FD_AT_OFFSET),
    ("pwritev2", op::WRITE, how::FD_AT_OFFSET),
    ("open", op::OPEN, how::RETURNED_FD),
    ("openat", op::OPEN, how::RETURNED_FD),
    ("openat2", op::OPEN, how::RETURNED_FD),
    ("creat", op::OPEN, how::RETURNED_FD),
    ("fsync", op::FSYNC, how::FD),
    ("fdatasync", op::FSYNC, how::FD),
    ("fstat", op::GETATTR, how::FD),
    ("stat", op::GETATTR, how::PATH),
    ("lstat", op::GETATTR, how::PATH),
    ("newfstatat", op::GETATTR, how::STAT_AT),
    ("statx", op::GETATTR, how::STATX),
    ("getdents", op::READDIR, how::FD),
    ("getdents64", op::READDIR, how::FD),
    ("fstatfs", op::GETATTR, how::FD),
];

/// The `SYSCALLS` map's entries: each traced syscall number and its
/// `op + 1 | how << 8`.
pub fn syscall_table() -> Vec<(u32, u32)> {
    SYSCALLS
        .iter()
        .filter_map(|&(name, op, how)| {
            syscall_number(name).map(|nr| (nr, (op as u32 + 1) | (how as u32) << 8))
        })
        .collect()
}

/// File systems that may be asked for before their module is loaded.
const MODULAR: [&str; 7] = ["btrfs", "ext4", "nfs", "nfs4", "xfs", "f2fs", "zfs"];

/// Refuses a `-t` type this kernel does not know (`/proc/filesystems`),
/// unless it is a common one whose module loads on its first mount.
pub fn check_fstype(name: &str, known: &str) -> Result<()> {
    if name.is_empty() || name.len() >= FSTYPE_BYTES {
        bail!("file system type '{name}' is not a name this kernel could have");
    }
    let listed = known
        .lines()
        .any(|line| line.split_whitespace().last() == Some(name));
    if !listed && !MODULAR.contains(&name) {
        bail!("unknown file system type '{name}': not in /proc/filesystems");
    }
    Ok(())
}

/// The offsets the kernel side follows, from this kernel's BTF.
pub fn file_offsets(btf: &KernelBtf) -> Result<FileOffsets> {
    let regs = btf.syscall_regs()?.args;
    let mode = btf.member_offset("inode", "i_mode")?;
    let sb = btf.member_offset("inode", "i_sb")?;
    let block = mode.min(sb);
    // Both within one read; i_mode 2-byte aligned, i_sb 8-byte aligned
    // within it, as the kernel side takes them.
    if mode.max(sb) + 8 - block > INODE_BLOCK || (mode - block) % 2 != 0 || (sb - block) % 8 != 0 {
        bail!("struct inode has i_mode at {mode} and i_sb at {sb}: not within one read");
    }
    Ok(FileOffsets {
        regs_arg: [regs[0], regs[1], regs[2], regs[3]],
        task_files: btf.member_offset("task_struct", "files")?,
        files_fdt: btf.member_offset("files_struct", "fdt")?,
        fdt_max_fds: btf.member_offset("fdtable", "max_fds")?,
        fdt_fd: btf.member_offset("fdtable", "fd")?,
        file_inode: btf.member_offset("file", "f_inode")?,
        file_pos: btf.member_offset("file", "f_pos")?,
        file_dentry: btf.member_offset("file", "f_path")? + btf.member_offset("path", "dentry")?,
        dentry_name: btf.member_offset("dentry", "d_name")? + btf.member_offset("qstr", "name")?,
        inode_block: block,
        inode_mode: mode - block,
        inode_sb: sb - block,
        sb_dev: btf.member_offset("super_block", "s_dev")?,
        sb_type: btf.member_offset("super_block", "s_type")?,
        fstype_name: btf.member_offset("file_system_type", "name")?,
    })
}

/// The kernel side's configuration for `options`; `self_pid` (the tool's
/// own) is never traced.
pub fn build(options: &Options, btf: &KernelBtf, self_pid: u32) -> Result<Config> {
    let mut fstype = [0u8; FSTYPE_BYTES];
    if let Some(name) = &options.fstype {
        fstype[..name.len()].copy_from_slice(name.as_bytes());
    }
    Ok(Config {
        unit_divisor: options.unit.divisor(),
        min_ns: options.slower_than_ns.unwrap_or(0),
        process: PinnedPid::filter(options.process, btf)?,
        self_pid,
        events: u32::from(options.slower_than_ns.is_some()),
        loglinear: u32::from(options.loglinear),
        other_kinds: u32::from(options.other_kinds),
        fstype,
        offsets: file_offsets(btf)?,
        per_cgroup: u32::from(options.per_cgroup.is_some()),
        _reserved: 0,
        cgroup: match options.per_cgroup {
            Some(_) => btf.cgroup_offsets()?,
            None => toolkit_core::CgroupOffsets::ZERO,
        },
    })
}

/// Map sizes: histograms for fsdist, the ring buffer for fsslower.
pub fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
    let events = options.slower_than_ns.is_some();
    let split = options.per_cgroup.is_some();
    let hists = if events || split { 1 } else { maps::MAX_HISTS };
    let slots = if events || split {
        1
    } else {
        fsdist_ebpf::SLOTS
    };
    let mut sizes = vec![
        (maps::FS_SLOTS, slots),
        (maps::FS_OWNERS, slots),
        (maps::HISTS, hists),
        (maps::LLHISTS, if options.loglinear { hists } else { 1 }),
        (maps::EVENTS, if events { 1 << 20 } else { 4096 }),
    ];
    sizes.extend(toolkit_cgroup::split_map_sizes(split, options.loglinear));
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_come_from_this_kernel() {
        let btf = KernelBtf::load().unwrap();
        let options = Options {
            fstype: Some("ext4".into()),
            other_kinds: true,
            loglinear: true,
            unit: Unit::Msecs,
            ..Options::default()
        };
        let config = build(&options, &btf, 42).unwrap();
        assert_eq!(&config.fstype[..5], b"ext4\0");
        assert_eq!((config.other_kinds, config.loglinear), (1, 1));
        assert_eq!((config.events, config.self_pid), (0, 42));
        assert_eq!(config.unit_divisor, 1_000_000);
        let o = config.offsets;
        // Every pointer followed is a distinct field of its structure.
        assert_ne!(o.fdt_max_fds, o.fdt_fd);
        assert_ne!(o.inode_mode, o.inode_sb);
        assert!(o.inode_mode.max(o.inode_sb) + 8 <= INODE_BLOCK);
        assert_ne!(o.sb_dev, o.sb_type);
        assert!(o.task_files > 0 && o.file_inode > 0 && o.dentry_name > 0);
        let slower = Options {
            slower_than_ns: Some(10_000_000),
            ..Options::default()
        };
        let config = build(&slower, &btf, 1).unwrap();
        assert_eq!((config.events, config.min_ns), (1, 10_000_000));
        assert!(map_sizes(&slower).contains(&(maps::HISTS, 1)));
        let split = Options {
            per_cgroup: Some(50),
            ..Options::default()
        };
        let config = build(&split, &btf, 1).unwrap();
        assert_eq!(config.per_cgroup, 1);
        assert_ne!(config.cgroup, toolkit_core::CgroupOffsets::ZERO);
        assert!(map_sizes(&split).contains(&(maps::HISTS, 1)));
    }

    #[test]
    fn syscalls_map_to_their_operation() {
        let table = syscall_table();
        let entry = |name| {
            let nr = syscall_number(name).unwrap();
            table.iter().find(|(n, _)| *n == nr).unwrap().1
        };
        assert_eq!(entry("read"), 1);
        assert_eq!(entry("openat"), 3 | (how::RETURNED_FD as u32) << 8);
        assert_eq!(entry("fdatasync"), 4);
        assert_eq!(entry("getdents64"), 6);
    }

    #[test]
    fn file_system_types_are_checked() {
        let known = "nodev\ttmpfs\n\text4\nnodev\tproc\n";
        check_fstype("ext4", known).unwrap();
        check_fstype("tmpfs", known).unwrap();
        check_fstype("xfs", known).unwrap();
        let err = check_fstype("ext5", known).unwrap_err().to_string();
        assert!(err.contains("unknown file system type 'ext5'"), "{err}");
        assert!(check_fstype("a-name-far-too-long", known).is_err());
        assert!(check_fstype("", known).is_err());
    }
}

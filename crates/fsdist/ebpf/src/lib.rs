#![no_std]
//! The contract between the two halves of fsdist and fsslower (one eBPF
//! object): its configuration, the file operations and descriptor kinds,
//! the keys of its histograms, the slow-operation event, map names and
//! drop reasons. The programs are in the `fsdist` binary target of this
//! crate; userspace is `crates/fsdist` (and `crates/fsslower`).

/// Syscall numbers at or above this are not traced; it sizes the table of
/// traced syscalls.
pub const SYSCALL_SLOTS: u32 = 1024;

/// File operations, as libbpf-tools' fsdist names them (and `readdir`):
/// the low byte of a histogram key, [`FsEvent::op`].
pub mod op {
    pub const READ: u8 = 0;
    pub const WRITE: u8 = 1;
    pub const OPEN: u8 = 2;
    pub const FSYNC: u8 = 3;
    pub const GETATTR: u8 = 4;
    pub const READDIR: u8 = 5;
    /// Their names, indexed by the constants above.
    pub const NAMES: [&str; 6] = ["read", "write", "open", "fsync", "getattr", "readdir"];
}

/// Where a traced syscall's file is, and where its offset: the second byte
/// of its entry in the `SYSCALLS` table (the first is its [`op`] + 1).
pub mod how {
    /// The file is the descriptor in the first argument, found at entry.
    pub const FD: u8 = 0;
    /// The file is the descriptor the call returns (the open family).
    pub const RETURNED_FD: u8 = 1;
    /// `newfstatat(dirfd, path, buf, flags)`: the descriptor with
    /// `AT_EMPTY_PATH` and an empty path, else a path (unresolved).
    pub const STAT_AT: u8 = 2;
    /// `statx(dirfd, path, flags, mask, buf)`: the same, flags third.
    pub const STATX: u8 = 3;
    /// A path: the file system is not known to a syscall tracepoint.
    pub const PATH: u8 = 4;
    /// The descriptor in the first argument, the offset in the fourth
    /// (`pread64`, `preadv`, ...; -1 there means the file's position).
    pub const FD_AT_OFFSET: u8 = 5;
}

/// What the file descriptor was: the second byte of a histogram key
/// ([`FsEvent::kind`]). Files (regular files, directories, symlinks) are
/// traced always; the others only with `Config::other_kinds`.
pub mod kind {
    pub const FILE: u8 = 0;
    pub const SOCKET: u8 = 1;
    pub const PIPE: u8 = 2;
    pub const CHARDEV: u8 = 3;
    pub const BLOCKDEV: u8 = 4;
    /// An anonymous inode (eventfd, timerfd, epoll, ...): no file type.
    pub const ANON: u8 = 5;
    /// A path-based call, or an open that failed: no file to follow.
    pub const UNRESOLVED: u8 = 6;
    /// Their names, indexed by the constants above.
    pub const NAMES: [&str; 7] = [
        "file",
        "socket",
        "pipe",
        "chardev",
        "blockdev",
        "anon",
        "unresolved",
    ];
}

/// A histogram's key: the file system (its superblock's address: one
/// mounted instance, whatever its mounts), the descriptor's kind and the
/// operation, in one u64. A kernel address has its top 6 bits set and its
/// low 3 clear (`struct super_block` is at least 8-byte aligned): the 55
/// bits between, then 3 bits of kind and 3 of operation. `sb` 0 (no file)
/// is kept as 0. [`is_key_address`] says which addresses fit.
pub const fn key(sb: u64, kind: u8, op: u8) -> u64 {
    ((sb >> 3) & KEY_ADDRESS_BITS) << 6 | ((kind & 7) as u64) << 3 | (op & 7) as u64
}

/// The parts of a [`key`]: superblock, kind, operation.
pub const fn key_parts(key: u64) -> (u64, u8, u8) {
    let bits = (key >> 6) & KEY_ADDRESS_BITS;
    let sb = if bits == 0 {
        0
    } else {
        bits << 3 | !((1 << 58) - 1)
    };
    (sb, ((key >> 3) & 7) as u8, (key & 7) as u8)
}

/// Whether superblock address `sb` fits a [`key`] (every kernel address
/// of x86_64 and arm64 does; 0 too).
pub const fn is_key_address(sb: u64) -> bool {
    sb == 0 || (sb >> 58 == 0x3f && sb & 7 == 0)
}

const KEY_ADDRESS_BITS: u64 = (1 << 55) - 1;

/// Per-CPU histogram slots (`FS_SLOTS`), before the hash map: a key's
/// slot is [`slot_index`], taken by the first key that needs it.
pub const SLOTS: u32 = 64;

/// A key's slot: its superblock's address bits above the allocator's
/// alignment, mixed with the kind and the operation.
pub const fn slot_index(key: u64) -> u32 {
    ((key >> 14) ^ (key >> 20) ^ key) as u32 & (SLOTS - 1)
}

/// What the kernel side keeps of each file system seen, by superblock:
/// its device (`s_dev`, the kernel's `major << 20 | minor`) and its type's
/// name.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FsName {
    pub dev: u32,
    pub _pad: u32,
    pub fstype: [u8; FSTYPE_BYTES],
}

/// Bytes of an inode read at once from `FileOffsets::inode_block`: its
/// mode and its superblock pointer are both within them.
pub const INODE_BLOCK: u32 = 64;

/// Bytes of a file system type's name kept (`file_system_type.name`, with
/// its NUL): longer names are cut, and compared cut.
pub const FSTYPE_BYTES: usize = 16;

/// Bytes of a file's name kept in a slow-operation event (the dentry's
/// last component, with its NUL).
pub const FILE_NAME_BYTES: usize = 64;

/// Offsets into the kernel's structures, from its BTF: from the current
/// task to the file behind a descriptor, and from the file to its name,
/// position, inode, mode and superblock.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FileOffsets {
    /// `pt_regs` fields of the first, second, third and fourth syscall
    /// arguments.
    pub regs_arg: [u32; 4],
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    pub file_inode: u32,
    pub file_pos: u32,
    /// `file.f_path.dentry`.
    pub file_dentry: u32,
    /// `dentry.d_name.name`.
    pub dentry_name: u32,
    /// `inode.i_mode` and `inode.i_sb`, read in one block of
    /// [`INODE_BLOCK`] bytes from `inode_block`; their offsets within it.
    pub inode_block: u32,
    pub inode_mode: u32,
    pub inode_sb: u32,
    pub sb_dev: u32,
    pub sb_type: u32,
    pub fstype_name: u32,
}

/// Everything userspace decides before load, read by the kernel from the
/// one global `CONFIG`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Config {
    /// Raw units (ns) per histogram unit: 1000 or 1_000_000.
    pub unit_divisor: u64,
    /// fsslower: operations slower than this (ns) are sent as events,
    /// and nothing is recorded in histograms.
    pub min_ns: u64,
    /// `-p`: only this process, never one that reuses its pid.
    pub process: toolkit_core::PidFilter,
    /// The tool's own pid: its reads of `/proc` are not the workload's.
    pub self_pid: u32,
    /// fsslower: send events instead of recording histograms.
    pub events: u32,
    /// Also record log-linear histograms (`--percentiles`, `--compact`).
    pub loglinear: u32,
    /// Trace descriptors that are not files too (sockets, pipes, ...),
    /// and calls whose file is not known (`unresolved`).
    pub other_kinds: u32,
    /// `-t`: only this file system type (its name, NUL-padded; all zeros:
    /// every type).
    pub fstype: [u8; FSTYPE_BYTES],
    pub offsets: FileOffsets,
    /// `-G`: latency histograms per cgroup v2 of the calling task
    /// (`CGROUPS`, `CGROUPS_LL`), the traced operations together.
    pub per_cgroup: u32,
    pub _reserved: u32,
    /// With `-G`: the way to the current task's cgroup's name.
    pub cgroup: toolkit_core::CgroupOffsets,
}

toolkit_core::aya_pod!(Config, DEFAULT { unit_divisor: 1000 });
toolkit_core::aya_pod!(FsEvent);
toolkit_core::aya_pod!(FsName);

/// One operation slower than fsslower's threshold, as the kernel side
/// sends it through the `EVENTS` ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FsEvent {
    /// `CLOCK_MONOTONIC` ns at the call's return.
    pub end_ns: u64,
    /// How long the call took, ns.
    pub latency_ns: u64,
    /// The file offset the call began at (reads, writes), else 0.
    pub offset: i64,
    /// What the call returned: bytes for reads and writes, the descriptor
    /// for opens, or -errno.
    pub ret: i64,
    pub pid: u32,
    pub tid: u32,
    /// The file system's `s_dev` (0: unresolved).
    pub dev: u32,
    /// An [`op`] and a [`kind`].
    pub op: u8,
    pub kind: u8,
    pub _pad: [u8; 2],
    pub comm: [u8; 16],
    pub fstype: [u8; FSTYPE_BYTES],
    pub file: [u8; FILE_NAME_BYTES],
}

/// Map names, shared with the kernel's statics of the same names.
pub mod maps {
    toolkit_core::map_names!(
        /// Each traced syscall number's `op + 1 | how << 8` (0: not traced).
        SYSCALLS,
        /// Latency histograms by [`key`](super::key): the keys whose
        /// per-CPU slot (`FS_SLOTS`) is another's.
        FS_SLOTS,
        /// Each slot index's owner, the same on every CPU.
        FS_OWNERS,
        HISTS,
        /// Their log-linear twins.
        LLHISTS,
        /// The device and type name of each file system seen, by
        /// superblock ([`FsName`](super::FsName)).
        FSTYPES,
        /// fsslower's ring buffer of [`FsEvent`](super::FsEvent)s.
        EVENTS,
    );
    /// Histograms: file systems × kinds × operations seen at once.
    pub const MAX_HISTS: u32 = 4096;
    /// File systems named at once.
    pub const MAX_FSTYPES: u32 = 1024;
}

/// Indexes of the `DROPPED` counter, and what each means.
pub mod dropped {
    toolkit_core::drop_reasons!(
        /// No task storage for a start time.
        START => toolkit_core::STORAGE_REFUSED,
        /// The histogram map was full.
        HISTS => "latency histogram map full",
        /// No kernel memory for a new log-linear histogram.
        LL_NO_MEMORY => "no kernel memory for a new log-linear histogram",
        /// fsslower's ring buffer was full.
        RING_FULL => "ring buffer full",
        /// The file system name map was full: its type shows as unknown.
        FSTYPES => "file system name map full",
        CGROUPS => toolkit_core::CGROUPS_FULL,
        /// A superblock at an address a key cannot hold (never seen).
        ADDRESS => "superblock address outside the kernel's",
    );
}

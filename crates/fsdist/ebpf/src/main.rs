//! fsdist's and fsslower's eBPF programs: time each file syscall from
//! sys_enter to sys_exit, and find at entry (at exit for the open family)
//! the file behind its descriptor: task → files → fd table → file →
//! inode → superblock, offsets from the kernel's BTF. The latency goes
//! into a per-CPU histogram by file system, descriptor kind and operation
//! (fsdist), or, past a threshold, to userspace as one event (fsslower).
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns,
        bpf_probe_read_kernel_str_bytes, bpf_probe_read_user,
    },
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
};
use fsdist_ebpf::{
    Config, FILE_NAME_BYTES, FSTYPE_BYTES, FsEvent, FsName, INODE_BLOCK, SLOTS, SYSCALL_SLOTS,
    dropped, how, is_key_address, key, kind,
    maps::{MAX_FSTYPES, MAX_HISTS},
    slot_index,
};
use toolkit_core::{CgroupSlot, Hist, LlHist};
use toolkit_kernel::{
    Slots, TaskStorage, TracepointContext, bump, ctx_arg, current_cgroup, current_in_process,
    global, hist_record, ll_hist_record, read_kernel, remember_cgroup, send_event, slot_entry,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

/// `AT_EMPTY_PATH`: the stat calls' flag for "the descriptor itself".
const AT_EMPTY_PATH: u64 = 0x1000;

/// A thread's file syscall in progress, in its task storage.
#[repr(C)]
#[derive(Clone, Copy)]
struct FileCall {
    /// When it entered (0: none in progress).
    at: u64,
    /// The file (0: not known yet, or none), and its superblock.
    file: u64,
    sb: u64,
    /// The file offset at entry (reads, writes; fsslower).
    offset: i64,
    op: u8,
    how: u8,
    kind: u8,
    _pad: [u8; 5],
}

/// The call in progress of each thread.
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "CALLS")]
static CALLS: TaskStorage<FileCall> = TaskStorage::new();

/// Each traced syscall number's `op + 1 | how << 8`, set by userspace
/// before the programs are attached (0: not traced).
#[map]
static SYSCALLS: Array<u32> = Array::with_max_entries(SYSCALL_SLOTS, 0);

/// Latency histograms by `key(sb, kind, op)`: per-CPU slots first (no
/// hash lookup), taken by the first key of each slot index for the run...
#[map]
static FS_SLOTS: PerCpuArray<CgroupSlot<Hist>> = PerCpuArray::with_max_entries(SLOTS, 0);

/// ...for every CPU: each index's owner, the key plus one (see
/// `toolkit_kernel::Slots`)...
#[map]
static FS_OWNERS: Array<u64> = Array::with_max_entries(SLOTS, 0);

/// ...then the hash map, for keys whose slot is another's.
#[map]
static HISTS: PerCpuHashMap<u64, Hist> = PerCpuHashMap::with_max_entries(MAX_HISTS, 0);

/// Initial value of new histograms (never on the stack).
static ZERO_HIST: Hist = Hist::ZERO;

/// Their log-linear twins (ns), with `--percentiles`; allocated on use.
#[map]
static LLHISTS: PerCpuHashMap<u64, LlHist> =
    PerCpuHashMap::with_max_entries(MAX_HISTS, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

/// The device and type name of each file system seen (superblock →
/// name), kept when its first histogram is made, so that a file system
/// unmounted (or mounted in another namespace) is still named.
#[map]
static FSTYPES: HashMap<u64, FsName> = HashMap::with_max_entries(MAX_FSTYPES, 0);

/// fsslower's slow operations (sized 1 page unless fsslower).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(4096, 0);

toolkit_kernel::cgroup_split_maps!(dropped::CGROUPS, dropped::LL_NO_MEMORY);

/// The current thread is traced: -p, and never the tool itself.
#[inline(always)]
fn traced() -> bool {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    tgid != global(&CONFIG.self_pid) && current_in_process(&CONFIG.process, tgid)
}

/// Argument `n` (0..4) of the syscall whose `pt_regs` are at `regs` (the
/// tracepoint's argument: a plain load on `tp_btf`).
#[inline(always)]
fn arg<C: TracepointContext>(regs: u64, n: usize) -> u64 {
    let offset = global(&CONFIG.offsets.regs_arg[n & 3]);
    C::arg_field::<u64>(regs, offset).unwrap_or(0)
}

/// The `struct file` behind the current task's descriptor `fd`. On
/// `tp_btf` the way to the descriptor table is plain loads from the
/// task's typed pointer; the table's entry, a pointer to a pointer, is a
/// number to the verifier, read through the helper.
#[inline(always)]
fn file_of<C: TracepointContext>(fd: u64) -> Option<u64> {
    let o = &CONFIG.offsets;
    let task = C::current_task();
    let files = C::arg_field::<u64>(task, global(&o.task_files))?;
    if files == 0 {
        return None;
    }
    let fdt = C::arg_field::<u64>(files, global(&o.files_fdt))?;
    if fdt == 0 {
        return None;
    }
    let max = C::arg_field::<u32>(fdt, global(&o.fdt_max_fds))?;
    if fd >= max as u64 {
        return None;
    }
    let table = C::arg_field::<u64>(fdt, global(&o.fdt_fd))?;
    let file = read_kernel::<u64>(table, (fd * 8) as u32)?;
    (file != 0).then_some(file)
}

/// The kind of `file` and its superblock: the inode's mode and
/// superblock pointer in one read.
#[inline(always)]
fn classify(file: u64) -> Option<(u8, u64)> {
    let o = &CONFIG.offsets;
    let inode = read_kernel::<u64>(file, global(&o.file_inode))?;
    let block = read_kernel::<[u8; INODE_BLOCK as usize]>(inode, global(&o.inode_block))?;
    let m = global(&o.inode_mode) as usize & (INODE_BLOCK as usize - 2);
    let mode = u16::from_le_bytes([block[m], block[m + 1]]) as u32;
    let at = global(&o.inode_sb) as usize & (INODE_BLOCK as usize - 8);
    let mut sb = [0u8; 8];
    sb.copy_from_slice(&block[at..at + 8]);
    let sb = u64::from_le_bytes(sb);
    if sb == 0 {
        return None;
    }
    let kind = match mode & 0o170000 {
        0o100000 | 0o040000 | 0o120000 => kind::FILE,
        0o140000 => kind::SOCKET,
        0o010000 => kind::PIPE,
        0o020000 => kind::CHARDEV,
        0o060000 => kind::BLOCKDEV,
        _ => kind::ANON,
    };
    Some((kind, sb))
}

/// The type name of the file system of superblock `sb`.
#[inline(always)]
fn fstype_of(sb: u64) -> [u8; FSTYPE_BYTES] {
    let o = &CONFIG.offsets;
    let mut name = [0u8; FSTYPE_BYTES];
    let ptr = read_kernel::<u64>(sb, global(&o.sb_type))
        .and_then(|ty| read_kernel::<u64>(ty, global(&o.fstype_name)));
    if let Some(ptr) = ptr {
        // SAFETY: a kernel string, read by the helper that checks it.
        let _ = unsafe { bpf_probe_read_kernel_str_bytes(ptr as *const u8, &mut name) };
    }
    name
}

/// Whether a call on a file of `kind` on superblock `sb` is traced: files
/// always, other kinds when asked; with `-t`, only that file system type.
#[inline(always)]
fn wanted(sb: u64, kind: u8) -> bool {
    if kind != kind::FILE && global(&CONFIG.other_kinds) == 0 {
        return false;
    }
    let want: [u8; FSTYPE_BYTES] = global(&CONFIG.fstype);
    if want[0] == 0 {
        return true;
    }
    fstype_of(sb) == want
}

/// At entry: the file of a `STAT_AT`/`STATX` call given with
/// `AT_EMPTY_PATH` and an empty path (the descriptor itself), else none.
#[inline(always)]
fn empty_path_fd<C: TracepointContext>(regs: u64, flags: u64) -> Option<u64> {
    if flags & AT_EMPTY_PATH == 0 {
        return None;
    }
    let path = arg::<C>(regs, 1);
    if path != 0 {
        // SAFETY: a user pointer, read by the helper that checks it.
        let first = unsafe { bpf_probe_read_user(path as *const u8) }.ok()?;
        if first != 0 {
            return None;
        }
    }
    file_of::<C>(arg::<C>(regs, 0))
}

#[inline(always)]
fn on_enter<C: TracepointContext>(ctx: &C) -> i32 {
    let nr = ctx_arg(ctx, 1);
    if nr >= SYSCALL_SLOTS as u64 {
        return 0;
    }
    let entry = match SYSCALLS.get(nr as u32) {
        Some(&entry) if entry != 0 => entry,
        _ => return 0,
    };
    if !traced() {
        return 0;
    }
    let op = (entry & 0xff) as u8 - 1;
    let how = (entry >> 8) as u8;
    let regs = ctx_arg(ctx, 0);
    let mut call = FileCall {
        at: 0,
        file: 0,
        offset: 0,
        sb: 0,
        op,
        how,
        kind: kind::UNRESOLVED,
        _pad: [0; 5],
    };
    let file = match how {
        how::FD | how::FD_AT_OFFSET => file_of::<C>(arg::<C>(regs, 0)),
        how::STAT_AT => empty_path_fd::<C>(regs, arg::<C>(regs, 3)),
        how::STATX => empty_path_fd::<C>(regs, arg::<C>(regs, 2)),
        _ => None, // the open family (at exit), or a path
    };
    if let Some(file) = file {
        let Some((kind, sb)) = classify(file) else {
            return 0;
        };
        if !wanted(sb, kind) {
            return 0;
        }
        call.file = file;
        call.kind = kind;
        call.sb = sb;
        // The offset only for fsslower's lines.
        if global(&CONFIG.events) != 0 {
            call.offset = read_kernel::<i64>(file, global(&CONFIG.offsets.file_pos)).unwrap_or(0);
            if how == how::FD_AT_OFFSET {
                let at = arg::<C>(regs, 3) as i64;
                if at != -1 {
                    call.offset = at;
                }
            }
        }
    } else if how != how::RETURNED_FD
        && (global(&CONFIG.other_kinds) == 0 || global(&CONFIG.fstype)[0] != 0)
    {
        return 0; // a path, or a descriptor that is not open: not shown
    }
    let Ok(slot) = CALLS.current() else {
        bump(&DROPPED, dropped::START);
        return 0;
    };
    // SAFETY: helper without arguments.
    call.at = unsafe { bpf_ktime_get_ns() };
    *slot = call;
    0
}

#[inline(always)]
fn on_exit<C: TracepointContext>(ctx: &C) -> i32 {
    let Ok(slot) = CALLS.current() else {
        // Only counted when a call may have been timed: the cost of a
        // refused lookup is the same either way.
        bump(&DROPPED, dropped::START);
        return 0;
    };
    if slot.at == 0 {
        return 0; // not a traced call, or entered before tracing began
    }
    let mut call = *slot;
    slot.at = 0;
    let ret = ctx_arg(ctx, 1) as i64;
    if call.how == how::RETURNED_FD && ret >= 0 {
        match file_of::<C>(ret as u64).and_then(|f| classify(f).map(|c| (f, c))) {
            Some((file, (kind, sb))) => {
                if !wanted(sb, kind) {
                    return 0;
                }
                call.file = file;
                call.kind = kind;
                call.sb = sb;
            }
            None => return 0,
        }
    } else if call.kind == kind::UNRESOLVED
        && (global(&CONFIG.other_kinds) == 0 || global(&CONFIG.fstype)[0] != 0)
    {
        return 0; // a failed open: no file, not shown
    }
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let elapsed = now.saturating_sub(call.at);
    if global(&CONFIG.events) != 0 {
        if elapsed > global(&CONFIG.min_ns) {
            send(&call, now, elapsed, ret);
        }
        return 0;
    }
    record(&call, elapsed);
    0
}

/// fsdist: the latency in the histograms of the call's key, or with `-G`
/// in those of the calling task's cgroup.
#[inline(always)]
fn record(call: &FileCall, elapsed: u64) {
    if global(&CONFIG.per_cgroup) != 0 {
        let cgroup = current_cgroup();
        let loglinear = global(&CONFIG.loglinear) != 0;
        if split_maps().record(cgroup, elapsed, global(&CONFIG.unit_divisor), loglinear) {
            // SAFETY: helper without arguments.
            let task = unsafe { aya_ebpf::helpers::bpf_get_current_task() };
            remember_cgroup(&CGROUP_NAMES, cgroup, task, &CONFIG.cgroup);
        }
        return;
    }
    if !is_key_address(call.sb) {
        bump(&DROPPED, dropped::ADDRESS);
        return;
    }
    let key = key(call.sb, call.kind, call.op);
    let slots = Slots {
        values: &FS_SLOTS,
        owners: &FS_OWNERS,
    };
    match slot_entry(slots, &HISTS, key, slot_index(key), &ZERO_HIST, |h| {
        h.count == 0
    }) {
        Ok((hist, new)) => {
            if new {
                name_fstype(call);
            }
            hist_record(hist, elapsed, global(&CONFIG.unit_divisor));
        }
        Err(_) => bump(&DROPPED, dropped::HISTS),
    }
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&LLHISTS, &key, elapsed)
    {
        bump(&DROPPED, no.reason(dropped::HISTS, dropped::LL_NO_MEMORY));
    }
}

/// Keeps the device and type name of the call's file system, once.
#[inline(always)]
fn name_fstype(call: &FileCall) {
    if call.sb == 0 || FSTYPES.get_ptr(call.sb).is_some() {
        return;
    }
    let name = FsName {
        dev: read_kernel::<u32>(call.sb, global(&CONFIG.offsets.sb_dev)).unwrap_or(0),
        _pad: 0,
        fstype: fstype_of(call.sb),
    };
    if FSTYPES.insert(call.sb, name, 0).is_err() {
        bump(&DROPPED, dropped::FSTYPES);
    }
}

/// fsslower: the call as one event; a full ring buffer is counted.
#[inline(always)]
fn send(call: &FileCall, now: u64, elapsed: u64, ret: i64) {
    send_event(
        &EVENTS,
        &DROPPED,
        dropped::RING_FULL,
        |event: &mut FsEvent| {
            let pid_tgid = bpf_get_current_pid_tgid();
            event.end_ns = now;
            event.latency_ns = elapsed;
            event.offset = call.offset;
            event.ret = ret;
            event.pid = (pid_tgid >> 32) as u32;
            event.tid = pid_tgid as u32;
            if call.sb != 0 {
                event.dev =
                    read_kernel::<u32>(call.sb, global(&CONFIG.offsets.sb_dev)).unwrap_or(0);
                event.fstype = fstype_of(call.sb);
            }
            event.op = call.op;
            event.kind = call.kind;
            if let Ok(comm) = bpf_get_current_comm() {
                event.comm = comm;
            }
            if call.file != 0 {
                let o = &CONFIG.offsets;
                let name = read_kernel::<u64>(call.file, global(&o.file_dentry))
                    .and_then(|dentry| read_kernel::<u64>(dentry, global(&o.dentry_name)));
                if let Some(name) = name {
                    let out: &mut [u8; FILE_NAME_BYTES] = &mut event.file;
                    // SAFETY: a kernel string, read by the helper that checks it.
                    let _ = unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, out) };
                }
            }
        },
    );
}

toolkit_kernel::tracepoint_programs!("sys_enter", sys_enter_btf, sys_enter_raw, on_enter);
toolkit_kernel::tracepoint_programs!("sys_exit", sys_exit_btf, sys_exit_raw, on_exit);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

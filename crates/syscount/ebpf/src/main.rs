//! syscount's eBPF programs: count syscalls (and their total time with -L)
//! per syscall number, per process or per cgroup, at sys_exit, where the return value
//! tells failures apart.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_EXIST,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use syscount_ebpf::{Config, SYSCALL_SLOTS, dropped, maps::MAX_PROCESSES};
use toolkit_core::CgroupLeaf;
use toolkit_kernel::{
    SyscallStart, TaskStorage, TracepointContext, bump, cgroup_entry, ctx_arg, current_cgroup,
    current_in_process, current_passes, global, read_kernel, remember_cgroup, syscall_enter,
    syscall_exit,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

/// [count, total_ns] per syscall number.
/// Syscall entry time of each thread (0: none), in its task storage.
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "SYSCALL_ENTRY")]
static SYSCALL_ENTRY: TaskStorage<SyscallStart> = TaskStorage::new();

#[map]
static SYSCALLS: PerCpuArray<[u64; 2]> = PerCpuArray::with_max_entries(SYSCALL_SLOTS, 0);

/// `--syscall`: 1 for each syscall number to count. Set by userspace
/// before attach.
#[map]
static WATCHED: Array<u32> = Array::with_max_entries(SYSCALL_SLOTS, 0);

/// [count, total_ns] per process (tgid), with -P.
#[map]
static PROCESSES: PerCpuHashMap<u32, [u64; 2]> = PerCpuHashMap::with_max_entries(MAX_PROCESSES, 0);

/// Command name of each process seen with -P.
#[map]
static COMMS: HashMap<u32, [u8; 16]> = HashMap::with_max_entries(MAX_PROCESSES, 0);

// `-G`: `[count, total_ns]` per cgroup v2 id, in slots first...
toolkit_kernel::cgroup_slot_maps!([u64; 2]);

/// Then the hash map, for cgroups whose slot is another's.
#[map]
static CGROUPS: PerCpuHashMap<u64, [u64; 2]> = PerCpuHashMap::with_max_entries(1, 0);

static ZERO_STAT: [u64; 2] = [0, 0];

/// `-G`: each cgroup's name, for one removed before userspace reads it.
#[map]
static CGROUP_NAMES: HashMap<u64, CgroupLeaf> = HashMap::with_max_entries(1, 0);

/// The current task passes the -p and -c filters; returns its pid_tgid.
#[inline(always)]
fn traced() -> Option<u64> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if tgid == global(&CONFIG.self_pid) || !current_in_process(&CONFIG.process, tgid) {
        return None;
    }
    let tid = global(&CONFIG.filter_tid);
    if tid != 0 && pid_tgid as u32 != tid {
        return None;
    }
    let ppid = global(&CONFIG.filter_ppid);
    if ppid != 0 {
        // SAFETY: helper without arguments.
        let task = unsafe { bpf_get_current_task() };
        let parent = read_kernel::<u64>(task, global(&CONFIG.off_task_real_parent))?;
        if read_kernel::<u32>(parent, global(&CONFIG.off_task_tgid)) != Some(ppid) {
            return None;
        }
    }
    if !current_passes(&CONFIG.cgroup_filter) {
        return None;
    }
    Some(pid_tgid)
}

/// The number of the syscall exiting, from `pt_regs` (when its entry was
/// not timed). `rt_sigreturn` has replaced the registers with the signal
/// frame's and set this number to -1, which no other syscall does. The
/// field's low 32 bits, signed: x86_64's is an `unsigned long`, arm64's
/// an `s32` (both little-endian).
#[inline(always)]
fn exit_number<C: TracepointContext>(ctx: &C) -> u64 {
    match C::arg_field::<i32>(ctx_arg(ctx, 0), global(&CONFIG.off_syscall_nr)) {
        Some(-1) => u64::from(global(&CONFIG.nr_sigreturn)),
        Some(nr) if nr >= 0 => nr as u64,
        _ => u64::MAX,
    }
}

#[inline(always)]
fn on_enter<C: EbpfContext>(ctx: &C) -> i32 {
    // Only attached with -L.
    if traced().is_none() {
        return 0;
    }
    if !syscall_enter(&SYSCALL_ENTRY, ctx_arg(ctx, 1)) {
        bump(&DROPPED, dropped::NO_TASK_STORAGE);
    }
    0
}

#[inline(always)]
fn on_exit<C: TracepointContext>(ctx: &C) -> i32 {
    // With -L and no filter, only calls traced at entry have a start time
    // (the tool's own do not): the exclusion need not be checked again.
    let filtered = global(&CONFIG.process.pid) != 0
        || global(&CONFIG.filter_tid) != 0
        || global(&CONFIG.filter_ppid) != 0
        || global(&CONFIG.cgroup_filter.on) != 0;
    if (filtered || global(&CONFIG.measure_latency) == 0) && traced().is_none() {
        return 0;
    }
    // With -L the number comes with the start time; otherwise from pt_regs.
    let (elapsed, mut known_nr) = if global(&CONFIG.measure_latency) != 0 {
        match syscall_exit(&SYSCALL_ENTRY) {
            Ok(Some((ns, nr))) => (ns, Some(nr)),
            Ok(None) => return 0, // entered before tracing began
            Err(_) => {
                bump(&DROPPED, dropped::NO_TASK_STORAGE);
                return 0;
            }
        }
    } else {
        (0, None)
    };
    let ret = ctx_arg(ctx, 1) as i64;
    if global(&CONFIG.filter_failed) != 0 && ret >= 0 {
        return 0;
    }
    let errno = global(&CONFIG.filter_errno);
    if errno != 0 && ret != -(errno as i64) {
        return 0;
    }
    if global(&CONFIG.filter_syscalls) != 0 {
        let nr = known_nr.unwrap_or_else(|| exit_number(ctx));
        if !(nr < SYSCALL_SLOTS as u64 && WATCHED.get(nr as u32).is_some_and(|&on| on != 0)) {
            return 0;
        }
        known_nr = Some(nr);
    }
    let stat = if global(&CONFIG.by_cgroup) != 0 {
        let cgroup = current_cgroup();
        match cgroup_entry(cgroup_slots(), &CGROUPS, cgroup, &ZERO_STAT, |s| s[0] == 0) {
            Ok((stat, new)) => {
                if new {
                    // SAFETY: helper without arguments.
                    let task = unsafe { bpf_get_current_task() };
                    remember_cgroup(&CGROUP_NAMES, cgroup, task, &CONFIG.cgroup);
                }
                stat as *mut [u64; 2]
            }
            Err(_) => {
                bump(&DROPPED, dropped::CGROUPS_FULL);
                return 0;
            }
        }
    } else if global(&CONFIG.by_process) != 0 {
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        match PROCESSES.get_ptr_mut(tgid) {
            Some(ptr) => ptr,
            None => {
                if let Ok(comm) = bpf_get_current_comm() {
                    let _ = COMMS.insert(tgid, comm, 0);
                }
                let _ = PROCESSES.insert(tgid, [0, 0], 0);
                match PROCESSES.get_ptr_mut(tgid) {
                    Some(ptr) => ptr,
                    None => {
                        bump(&DROPPED, dropped::PROCESSES_FULL);
                        return 0;
                    }
                }
            }
        }
    } else {
        let nr = known_nr.unwrap_or_else(|| exit_number(ctx));
        let slot = if nr < SYSCALL_SLOTS as u64 {
            nr as u32
        } else {
            SYSCALL_SLOTS - 1
        };
        match SYSCALLS.get_ptr_mut(slot) {
            Some(ptr) => ptr,
            None => return 0,
        }
    };
    // SAFETY: per-CPU value, exclusive to this CPU while we run.
    unsafe {
        (*stat)[0] += 1;
        (*stat)[1] += elapsed;
    }
    0
}

/// With -P: a process that execs takes its new name (`true`, not the
/// `bash` it forked from), as the names in ps and libbpf-tools' output do.
/// Only processes already counted are renamed: others are not in COMMS.
fn on_exec<C: EbpfContext>(_ctx: &C) -> i32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = COMMS.insert(tgid, comm, BPF_EXIST as u64);
    }
    0
}

toolkit_kernel::tracepoint_programs!("sys_enter", sys_enter_btf, sys_enter_raw, on_enter);
toolkit_kernel::tracepoint_programs!(
    "sched_process_exec",
    sched_process_exec_btf,
    sched_process_exec_raw,
    on_exec
);
toolkit_kernel::tracepoint_programs!("sys_exit", sys_exit_btf, sys_exit_raw, on_exit);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

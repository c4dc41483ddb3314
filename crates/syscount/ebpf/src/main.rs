//! syscount's eBPF programs: count syscalls (and their total time with -L)
//! per syscall number or per process, at sys_exit, where the return value
//! tells failures apart.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_EXIST,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::map,
    maps::{HashMap, PerCpuArray, PerCpuHashMap},
};
use common_ebpf::bpf::{
    SyscallStart, TaskStorage, bump, ctx_arg, current_in_cgroup, global, read_kernel,
    syscall_enter, syscall_exit,
};
use syscount_ebpf::SYSCALL_SLOTS;

#[unsafe(no_mangle)]
static FILTER_PID: u32 = 0;
/// syscount's own pid: its map reads are not the workload's syscalls.
#[unsafe(no_mangle)]
static SELF_PID: u32 = 0;
#[unsafe(no_mangle)]
static FILTER_FAILED: u32 = 0;
#[unsafe(no_mangle)]
static FILTER_ERRNO: u32 = 0;
#[unsafe(no_mangle)]
static MEASURE_LATENCY: u32 = 0;
#[unsafe(no_mangle)]
static BY_PROCESS: u32 = 0;
#[unsafe(no_mangle)]
static FILTER_CGROUP: u32 = 0;
#[unsafe(no_mangle)]
static CGROUP_ID: u64 = 0;
#[unsafe(no_mangle)]
static CGROUP_LEVEL: u32 = 0;
#[unsafe(no_mangle)]
static OFF_PT_REGS_ORIG_AX: u32 = 0;

/// [count, total_ns] per syscall number.
/// Syscall entry time of each thread (0: none), in its task storage.
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "SYSCALL_ENTRY")]
static SYSCALL_ENTRY: TaskStorage<SyscallStart> = TaskStorage::new();

#[map]
static SYSCALLS: PerCpuArray<[u64; 2]> = PerCpuArray::with_max_entries(SYSCALL_SLOTS, 0);

/// [count, total_ns] per process (tgid), with -P.
#[map]
static PROCESSES: PerCpuHashMap<u32, [u64; 2]> = PerCpuHashMap::with_max_entries(10240, 0);

/// Command name of each process seen with -P.
#[map]
static COMMS: HashMap<u32, [u8; 16]> = HashMap::with_max_entries(10240, 0);

/// Samples lost: [0] no task storage for a start time, [1] process map full.
#[map]
static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// The current task passes the -p and -c filters; returns its pid_tgid.
#[inline(always)]
fn traced() -> Option<u64> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let pid = global(&FILTER_PID);
    if (pid != 0 && tgid != pid) || tgid == global(&SELF_PID) {
        return None;
    }
    if global(&FILTER_CGROUP) != 0 && !current_in_cgroup(global(&CGROUP_ID), global(&CGROUP_LEVEL))
    {
        return None;
    }
    Some(pid_tgid)
}

#[inline(always)]
fn on_enter<C: EbpfContext>(ctx: &C) -> i32 {
    // Only attached with -L.
    if traced().is_none() {
        return 0;
    }
    if !syscall_enter(&SYSCALL_ENTRY, ctx_arg(ctx, 1)) {
        bump(&DROPPED, 0);
    }
    0
}

#[inline(always)]
fn on_exit<C: EbpfContext>(ctx: &C) -> i32 {
    let Some(pid_tgid) = traced() else { return 0 };
    // With -L the number comes with the start time; otherwise from pt_regs.
    let (elapsed, known_nr) = if global(&MEASURE_LATENCY) != 0 {
        match syscall_exit(&SYSCALL_ENTRY) {
            Some((ns, nr)) => (ns, Some(nr)),
            None => return 0, // entered before tracing began
        }
    } else {
        (0, None)
    };
    let ret = ctx_arg(ctx, 1) as i64;
    if global(&FILTER_FAILED) != 0 && ret >= 0 {
        return 0;
    }
    let errno = global(&FILTER_ERRNO);
    if errno != 0 && ret != -(errno as i64) {
        return 0;
    }
    let stat = if global(&BY_PROCESS) != 0 {
        let tgid = (pid_tgid >> 32) as u32;
        match PROCESSES.get_ptr_mut(&tgid) {
            Some(ptr) => ptr,
            None => {
                if let Ok(comm) = bpf_get_current_comm() {
                    let _ = COMMS.insert(&tgid, &comm, 0);
                }
                let _ = PROCESSES.insert(&tgid, &[0, 0], 0);
                match PROCESSES.get_ptr_mut(&tgid) {
                    Some(ptr) => ptr,
                    None => {
                        bump(&DROPPED, 1);
                        return 0;
                    }
                }
            }
        }
    } else {
        let nr = known_nr.unwrap_or_else(|| {
            read_kernel::<u64>(ctx_arg(ctx, 0), global(&OFF_PT_REGS_ORIG_AX)).unwrap_or(u64::MAX)
        });
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
        let _ = COMMS.insert(&tgid, &comm, BPF_EXIST as u64);
    }
    0
}

common_ebpf::tracepoint_programs!("sys_enter", sys_enter_btf, sys_enter_raw, on_enter);
common_ebpf::tracepoint_programs!(
    "sched_process_exec",
    sched_process_exec_btf,
    sched_process_exec_raw,
    on_exec
);
common_ebpf::tracepoint_programs!("sys_exit", sys_exit_btf, sys_exit_raw, on_exit);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

//! syslat's (and memlat's) eBPF programs: time each syscall from sys_enter
//! to sys_exit in the thread's task storage and record the latency in a
//! per-CPU histogram per syscall number. memlat also counts failures per
//! errno and the requested length of mmap/mremap.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_EXIST, BPF_F_NO_PREALLOC},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
    },
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use syslat_ebpf::{
    Config, SYSCALL_SLOTS, dropped,
    maps::{MAX_ERRORS, MAX_SIZES},
    reclaim,
};
use toolkit_core::{Hist, LlHist};
use toolkit_kernel::{
    SyscallStart, TaskStorage, bump, ctx_arg, current_cgroup, current_in_process, current_passes,
    global, hist_entry, hist_record, ll_hist_record, ns_since, read_kernel, remember_cgroup,
    syscall_enter, syscall_exit,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

/// Syscall entry time of each thread (0: none), in its task storage.
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "SYSCALL_ENTRY")]
static SYSCALL_ENTRY: TaskStorage<SyscallStart> = TaskStorage::new();

/// Non-zero for each syscall number to trace, with `filter_syscalls`; set
/// by userspace before the programs are attached.
#[map]
static WATCHED: Array<u32> = Array::with_max_entries(SYSCALL_SLOTS, 0);

/// Latency histograms indexed by syscall number (an array: no hash lookup
/// on the hot path).
#[map]
static HISTS: PerCpuArray<Hist> = PerCpuArray::with_max_entries(SYSCALL_SLOTS, 0);

/// Log-linear latency histograms (ns) by syscall number (by tgid with -P),
/// with `--percentiles`; allocated per key on first use (8.7 KiB per CPU
/// each).
#[map]
static LLHISTS: PerCpuHashMap<u32, LlHist> =
    PerCpuHashMap::with_max_entries(SYSCALL_SLOTS, BPF_F_NO_PREALLOC);

/// syslat -P: latency histograms by tgid, for the watched syscalls
/// together (sized 1 unless -P).
#[map]
static PROCESSES: PerCpuHashMap<u32, Hist> = PerCpuHashMap::with_max_entries(1, 0);

/// The command name of each process in `PROCESSES`, from its first call.
#[map]
static COMMS: HashMap<u32, [u8; 16]> = HashMap::with_max_entries(1, 0);

/// Failed calls by `nr << 32 | errno`: [count, 0].
#[map]
static ERRORS: PerCpuHashMap<u64, [u64; 2]> = PerCpuHashMap::with_max_entries(MAX_ERRORS, 0);

/// Requested-length histograms (bytes) of mmap and mremap, by number.
#[map]
static SIZES: PerCpuHashMap<u32, Hist> = PerCpuHashMap::with_max_entries(MAX_SIZES, 0);

/// When the thread entered each kind of reclaim (0: not in it), in its task
/// storage; indexed by `syslat_ebpf::reclaim`.
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "RECLAIM_START")]
static RECLAIM_START: TaskStorage<[u64; 2]> = TaskStorage::new();

/// Reclaim stall histograms (ns), keyed by kind, with the tgid above it
/// under -P.
#[map]
static RECLAIM: PerCpuHashMap<u64, Hist> = PerCpuHashMap::with_max_entries(1, 0);

/// Their log-linear twins, with --percentiles.
#[map]
static RECLAIM_LL: PerCpuHashMap<u64, LlHist> =
    PerCpuHashMap::with_max_entries(1, BPF_F_NO_PREALLOC);

toolkit_kernel::cgroup_split_maps!(dropped::CGROUPS, dropped::LL_NO_MEMORY);

/// The current thread passes the -p/-t filters.
#[inline(always)]
fn traced() -> bool {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let tid = global(&CONFIG.filter_tid);
    if (tid != 0 && pid_tgid as u32 != tid)
        || tgid == global(&CONFIG.self_pid)
        || !current_in_process(&CONFIG.process, tgid)
    {
        return false;
    }
    current_passes(&CONFIG.cgroup_filter)
}

#[inline(always)]
fn watched(nr: u64) -> bool {
    if global(&CONFIG.filter_syscalls) == 0 {
        return true;
    }
    nr < SYSCALL_SLOTS as u64 && WATCHED.get(nr as u32).is_some_and(|&on| on != 0)
}

#[inline(always)]
fn on_enter<C: EbpfContext>(ctx: &C) -> i32 {
    let nr = ctx_arg(ctx, 1);
    if !watched(nr) || !traced() {
        return 0;
    }
    if !syscall_enter(&SYSCALL_ENTRY, nr) {
        bump(&DROPPED, dropped::START);
    }
    let nr_mmap = u64::from(global(&CONFIG.nr_mmap));
    let nr_mremap = u64::from(global(&CONFIG.nr_mremap));
    if global(&CONFIG.record_sizes) != 0 && (nr == nr_mmap || nr == nr_mremap) {
        let regs = ctx_arg(ctx, 0);
        // mmap(addr, len, ...), mremap(old_addr, old_len, new_len, ...)
        let offset = if nr == nr_mmap {
            global(&CONFIG.off_mmap_len)
        } else {
            global(&CONFIG.off_mremap_len)
        };
        let len = read_kernel::<u64>(regs, offset).unwrap_or(0);
        match hist_entry(&SIZES, &(nr as u32)) {
            Some(hist) => hist_record(hist, len, 1),
            None => bump(&DROPPED, dropped::SIZES),
        }
    }
    0
}

#[inline(always)]
fn on_exit<C: EbpfContext>(ctx: &C) -> i32 {
    // Without a filter, only calls traced at entry have a start time (the
    // tool's own do not): the exclusion need not be checked again.
    let filtered = global(&CONFIG.process.pid) != 0
        || global(&CONFIG.filter_tid) != 0
        || global(&CONFIG.cgroup_filter.on) != 0;
    if filtered && !traced() {
        return 0;
    }
    // Only watched syscalls were given a start time at sys_enter.
    let (elapsed, nr) = match syscall_exit(&SYSCALL_ENTRY) {
        Ok(Some(timed)) => timed,
        Ok(None) => return 0, // not watched, or entered before tracing began
        Err(_) => {
            bump(&DROPPED, dropped::START);
            return 0;
        }
    };
    let ret = ctx_arg(ctx, 1) as i64;
    let failed = (-4095..0).contains(&ret);
    if global(&CONFIG.filter_failed) != 0 && !failed {
        return 0;
    }
    let errno = global(&CONFIG.filter_errno);
    if errno != 0 && ret != -(errno as i64) {
        return 0;
    }
    if global(&CONFIG.count_errors) != 0 && failed {
        let key = nr << 32 | (-ret) as u64;
        match ERRORS.get_ptr_mut(key) {
            // SAFETY: per-CPU value, exclusive to this CPU while we run.
            Some(count) => unsafe { (*count)[0] += 1 },
            None => {
                if ERRORS.insert(key, [1, 0], 0).is_err() {
                    bump(&DROPPED, dropped::ERRORS);
                }
            }
        }
    }
    if global(&CONFIG.per_cgroup) != 0 {
        record_for_cgroup(elapsed);
        return 0;
    }
    let key = if global(&CONFIG.per_process) != 0 {
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        match process_hist(tgid) {
            Some(hist) => hist_record(hist, elapsed, global(&CONFIG.unit_divisor)),
            None => {
                bump(&DROPPED, dropped::PROCESSES);
                return 0;
            }
        }
        tgid
    } else {
        match HISTS.get_ptr_mut(nr as u32) {
            // SAFETY: per-CPU array slot, exclusive to this CPU while we run.
            Some(hist) => hist_record(unsafe { &mut *hist }, elapsed, global(&CONFIG.unit_divisor)),
            None => bump(&DROPPED, dropped::HISTS),
        }
        nr as u32
    };
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&LLHISTS, &key, elapsed)
    {
        bump(&DROPPED, no.reason(dropped::HISTS, dropped::LL_NO_MEMORY));
    }
    0
}

/// `-G`: records `elapsed` in the current task's cgroup's histograms.
#[inline(always)]
fn record_for_cgroup(elapsed: u64) {
    let cgroup = current_cgroup();
    let maps = split_maps();
    let loglinear = global(&CONFIG.loglinear) != 0;
    if maps.record(cgroup, elapsed, global(&CONFIG.unit_divisor), loglinear) {
        // SAFETY: helper without arguments.
        let task = unsafe { bpf_get_current_task() };
        remember_cgroup(&CGROUP_NAMES, cgroup, task, &CONFIG.cgroup);
    }
}

/// The histogram of process `tgid` (syslat -P), created on its first call
/// with its command name beside it.
#[inline(always)]
fn process_hist(tgid: u32) -> Option<&'static mut Hist> {
    if let Some(hist) = PROCESSES.get_ptr_mut(tgid) {
        // SAFETY: per-CPU value, exclusive to this CPU while we run.
        return Some(unsafe { &mut *hist });
    }
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = COMMS.insert(tgid, comm, 0);
    }
    hist_entry(&PROCESSES, &tgid)
}

/// With -P: a process that execs takes its new name, as in ps. Only
/// processes already named are renamed (`BPF_EXIST`).
fn on_exec<C: EbpfContext>(_ctx: &C) -> i32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = COMMS.insert(tgid, comm, BPF_EXIST as u64);
    }
    0
}

/// Entering direct reclaim of `kind`: remember when.
#[inline(always)]
fn reclaim_begin(kind: u64) -> i32 {
    if !traced() {
        return 0;
    }
    match RECLAIM_START.current() {
        // SAFETY: helper without arguments.
        Ok(start) => start[kind as usize & 1] = unsafe { bpf_ktime_get_ns() },
        Err(_) => bump(&DROPPED, dropped::START),
    }
    0
}

/// Leaving it: record the stall.
#[inline(always)]
fn reclaim_end(kind: u64) -> i32 {
    let Ok(start) = RECLAIM_START.current() else {
        bump(&DROPPED, dropped::START);
        return 0;
    };
    let slot = &mut start[kind as usize & 1];
    let then = core::mem::take(slot);
    if then == 0 {
        return 0; // began before tracing, or filtered out
    }
    let delta = ns_since(then);
    let mut key = kind;
    if global(&CONFIG.reclaim_per_process) != 0 {
        key |= (bpf_get_current_pid_tgid() >> 32) << 8;
    } else if global(&CONFIG.per_cgroup) != 0 {
        key |= current_cgroup() << 8;
    }
    match hist_entry(&RECLAIM, &key) {
        Some(hist) => hist_record(hist, delta, global(&CONFIG.unit_divisor)),
        None => bump(&DROPPED, dropped::RECLAIM),
    }
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&RECLAIM_LL, &key, delta)
    {
        bump(&DROPPED, no.reason(dropped::RECLAIM, dropped::LL_NO_MEMORY));
    }
    0
}

fn on_direct_begin<C: EbpfContext>(_ctx: &C) -> i32 {
    reclaim_begin(reclaim::DIRECT)
}

fn on_direct_end<C: EbpfContext>(_ctx: &C) -> i32 {
    reclaim_end(reclaim::DIRECT)
}

fn on_memcg_begin<C: EbpfContext>(_ctx: &C) -> i32 {
    reclaim_begin(reclaim::MEMCG)
}

fn on_memcg_end<C: EbpfContext>(_ctx: &C) -> i32 {
    reclaim_end(reclaim::MEMCG)
}

toolkit_kernel::tracepoint_programs!(
    "mm_vmscan_direct_reclaim_begin",
    mm_vmscan_direct_reclaim_begin_btf,
    mm_vmscan_direct_reclaim_begin_raw,
    on_direct_begin
);
toolkit_kernel::tracepoint_programs!(
    "mm_vmscan_direct_reclaim_end",
    mm_vmscan_direct_reclaim_end_btf,
    mm_vmscan_direct_reclaim_end_raw,
    on_direct_end
);
toolkit_kernel::tracepoint_programs!(
    "mm_vmscan_memcg_reclaim_begin",
    mm_vmscan_memcg_reclaim_begin_btf,
    mm_vmscan_memcg_reclaim_begin_raw,
    on_memcg_begin
);
toolkit_kernel::tracepoint_programs!(
    "mm_vmscan_memcg_reclaim_end",
    mm_vmscan_memcg_reclaim_end_btf,
    mm_vmscan_memcg_reclaim_end_raw,
    on_memcg_end
);
toolkit_kernel::tracepoint_programs!(
    "sched_process_exec",
    sched_process_exec_btf,
    sched_process_exec_raw,
    on_exec
);
toolkit_kernel::tracepoint_programs!("sys_enter", sys_enter_btf, sys_enter_raw, on_enter);
toolkit_kernel::tracepoint_programs!("sys_exit", sys_exit_btf, sys_exit_raw, on_exit);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

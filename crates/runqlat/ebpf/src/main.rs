//! runqlat's eBPF programs: a task's run-queue latency is the time from its
//! enqueue (wakeup, or preemption while still runnable) to the moment it is
//! switched in; it is recorded in per-CPU histograms. With `measure` set,
//! the same programs time what `cpudist` shows instead: each stretch a task
//! ran on a CPU (switch-in to switch-out), or was off one (switch-out to
//! switch-in), with the same keys and filters.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_EXIST, BPF_F_NO_PREALLOC},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns,
    },
    macros::{btf_tracepoint, map, raw_tracepoint},
    maps::{HashMap, PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use runqlat_ebpf::{ALL, Config, dropped, group, maps::MAX_KEYS, measure};
use toolkit_core::{Hist, LlHist};
use toolkit_kernel::{
    TaskStorage, TracepointContext, bump, ctx_arg, global, hist_entry, hist_record, ll_hist_record,
    ns_since, read_kernel, remember_cgroup, task_cgroup, task_in_process, task_passes,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

const TASK_RUNNING: u32 = 0;
const TASK_DEAD: u32 = 0x80;

/// Enqueue time of each runnable task that has not run yet (0: none), in
/// its task storage: the `tp_btf` programs' way, no hash update per event.
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "QUEUED_AT")]
static QUEUED_AT: TaskStorage<u64> = TaskStorage::new();

/// The same by thread id, for the `raw_tp` fallback programs, whose task
/// pointers the verifier does not trust for task storage.
#[map]
static START: HashMap<u32, u64> = HashMap::with_max_entries(MAX_KEYS, 0);

/// On-CPU time: the task this CPU last switched to, and since when.
#[map]
static ON_CPU: PerCpuArray<OnCpu> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
#[derive(Clone, Copy)]
struct OnCpu {
    /// Its `task_struct` (0: none seen yet).
    task: u64,
    since: u64,
    /// 1 when it passes the filters (not idle, in `-p`, `-c`).
    traced: u64,
}

/// Histograms keyed by tgid, tid or PID namespace inode ([`ALL`] unsplit).
#[map]
static HISTS: PerCpuHashMap<u32, Hist> = PerCpuHashMap::with_max_entries(MAX_KEYS, 0);

/// Log-linear histograms (ns), same keys; allocated per key on first use.
#[map]
static LLHISTS: PerCpuHashMap<u32, LlHist> =
    PerCpuHashMap::with_max_entries(MAX_KEYS, BPF_F_NO_PREALLOC);

/// Command name of each histogram key, with -P, -L and --pidnss.
#[map]
static COMMS: HashMap<u32, [u8; 16]> = HashMap::with_max_entries(MAX_KEYS, 0);

toolkit_kernel::cgroup_split_maps!(dropped::CGROUPS_FULL, dropped::LL_NO_MEMORY);

#[inline(always)]
fn task_u32(task: u64, offset: &u32) -> u32 {
    read_kernel::<u32>(task, global(offset)).unwrap_or(0)
}

/// Like [`task_u32`] for a task that is the tracepoint's argument itself:
/// a plain load on `tp_btf`, whose arguments are typed pointers.
#[inline(always)]
fn arg_u32<C: TracepointContext>(task: u64, offset: &u32) -> u32 {
    C::arg_field::<u32>(task, global(offset)).unwrap_or(0)
}

/// Where enqueue times are kept.
trait StartTimes {
    /// The drop reason when a time cannot be kept or taken.
    const LOST: u32;
    /// Records `now` for `task` (thread id `tid`); false when it cannot.
    fn set(task: u64, tid: u32, now: u64) -> bool;
    /// Takes (and clears) the enqueue time of `task`: `Ok(None)` when none
    /// was recorded, `Err` when it could not be looked up.
    fn take(task: u64) -> Result<Option<u64>, ()>;
}

/// In task storage, for `tp_btf` programs.
struct InTaskStorage;

impl StartTimes for InTaskStorage {
    const LOST: u32 = dropped::START_REFUSED;

    #[inline(always)]
    fn set(task: u64, _tid: u32, now: u64) -> bool {
        match QUEUED_AT.get_or_create(task) {
            Ok(start) => {
                *start = now;
                true
            }
            Err(_) => false,
        }
    }

    #[inline(always)]
    fn take(task: u64) -> Result<Option<u64>, ()> {
        // A lookup, not a get-or-create: creating storage for every task
        // switched in, under the run-queue lock, locked a CPU up on 6.1 in
        // the kernel matrix. On kernels before 6.2 a lookup nested in
        // another task-storage operation on the CPU is refused like a
        // missing slot; userspace prefers raw_tp there (see main.rs).
        let Some(start) = QUEUED_AT.lookup(task) else {
            return Ok(None);
        };
        Ok(Some(core::mem::take(start)).filter(|&then| then != 0))
    }
}

/// In a hash map by thread id, for `raw_tp` programs.
struct ByTid;

impl StartTimes for ByTid {
    const LOST: u32 = dropped::START_FULL;

    #[inline(always)]
    fn set(_task: u64, tid: u32, now: u64) -> bool {
        START.insert(tid, now, 0).is_ok()
    }

    #[inline(always)]
    fn take(task: u64) -> Result<Option<u64>, ()> {
        let tid = task_u32(task, &CONFIG.task.pid);
        // SAFETY: the value is copied out before the entry is removed.
        let Some(then) = unsafe { START.get(tid) }.copied() else {
            return Ok(None);
        };
        let _ = START.remove(tid);
        Ok(Some(then))
    }
}

/// The thread id of `task` when its waits are traced: not the idle task,
/// and in the `-p` process and `-c` cgroup when given.
#[inline(always)]
fn traced<C: TracepointContext>(task: u64) -> Option<u32> {
    let pid = arg_u32::<C>(task, &CONFIG.task.pid);
    if pid == 0 {
        return None; // the idle task
    }
    if global(&CONFIG.process.pid) != 0
        && !task_in_process(&CONFIG.process, task, arg_u32::<C>(task, &CONFIG.task.tgid))
    {
        return None;
    }
    if !task_passes(task, &CONFIG.cgroup, &CONFIG.cgroup_filter) {
        return None;
    }
    Some(pid)
}

/// `task` is runnable from now on: remember when, unless filtered out.
#[inline(always)]
fn enqueue<S: StartTimes, C: TracepointContext>(task: u64) {
    let Some(pid) = traced::<C>(task) else {
        return;
    };
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if !S::set(task, pid, now) {
        bump(&DROPPED, S::LOST);
    }
}

/// The first wait of `task` if it has never run: a task created while
/// tracing, whose wait began at `sched_wakeup_new`, where no program runs
/// (creating its storage there cost more than the rest of runqlat's work
/// on the task). The kernel's own run-queue accounting has it: at
/// `sched_switch`, just before the kernel adds this wait to
/// `sched_info`, the whole wait is `run_delay` (what it waited on run
/// queues it migrated from) plus the time since it was queued on this
/// one, on this run queue's clock, which is the clock of that stamp.
#[inline(always)]
fn first_wait<C: TracepointContext>(task: u64) -> Option<u64> {
    let off = &CONFIG.first_run;
    if global(&off.enabled) == 0 {
        return None;
    }
    // First, as it is the cheapest: every task that has run (all but the
    // new ones) ends here.
    if C::arg_field::<u64>(task, global(&off.pcount))? != 0 {
        return None; // it has run: enqueued before tracing began, or filtered out
    }
    traced::<C>(task)?;
    let queued = C::arg_field::<u64>(task, global(&off.last_queued))?;
    if queued == 0 {
        return None; // not queued: the kernel counts no arrival either
    }
    let waited = C::arg_field::<u64>(task, global(&off.run_delay))?;
    let cfs_rq = C::arg_field::<u64>(task, global(&off.cfs_rq))?;
    let rq = C::arg_field::<u64>(cfs_rq, global(&off.rq))?;
    let now = C::arg_field::<u64>(rq, global(&off.rq_clock))?;
    Some(waited + now.saturating_sub(queued))
}

/// Inode number of the PID namespace `task` belongs to (the one its pid
/// was allocated in).
#[inline(always)]
fn pid_namespace(task: u64) -> u32 {
    let Some(pid) = read_kernel::<u64>(task, global(&CONFIG.pidns.task_thread_pid)) else {
        return 0;
    };
    let level = task_u32(pid, &CONFIG.pidns.pid_level);
    let upid = global(&CONFIG.pidns.pid_numbers) + level * global(&CONFIG.pidns.size_upid);
    let Some(ns) = read_kernel::<u64>(pid, upid + global(&CONFIG.pidns.upid_ns)) else {
        return 0;
    };
    task_u32(ns, &CONFIG.pidns.pidns_inum)
}

/// The histogram key of `task` and the task whose comm names it.
#[inline(always)]
fn key_of(task: u64) -> (u32, u64) {
    match global(&CONFIG.group_by) {
        group::PROCESS => {
            let leader =
                read_kernel::<u64>(task, global(&CONFIG.task.group_leader)).unwrap_or(task);
            (task_u32(task, &CONFIG.task.tgid), leader)
        }
        group::THREAD => (task_u32(task, &CONFIG.task.pid), task),
        group::PIDNS => (pid_namespace(task), task),
        // SAFETY: helper without arguments. At sched_switch, the CPU
        // switching: the one `next` waited for, the one `prev` ran on.
        group::CPU => (unsafe { bpf_get_smp_processor_id() }, task),
        _ => (ALL, task),
    }
}

#[inline(always)]
fn on_switch<S: StartTimes, C: TracepointContext>(preempt: u64, prev: u64, next: u64) -> i32 {
    let timed = match global(&CONFIG.measure) {
        measure::ON_CPU => on_cpu_until::<C>(prev, next).map(|delta| (prev, delta)),
        measure::OFF_CPU => {
            // An exiting task's last switch: it never comes back, and its
            // start time would hold a hash entry for good.
            if arg_u32::<C>(prev, &CONFIG.task.state) & TASK_DEAD == 0 {
                enqueue::<S, C>(prev);
            }
            taken::<S, C>(next, false).map(|delta| (next, delta))
        }
        _ => {
            // A preempted task stays on the run queue, as does one whose
            // sleep was cancelled (state set back to running): both wait
            // from now on.
            if preempt & 1 != 0 || arg_u32::<C>(prev, &CONFIG.task.state) == TASK_RUNNING {
                enqueue::<S, C>(prev);
            }
            taken::<S, C>(next, true).map(|delta| (next, delta))
        }
    };
    if let Some((task, delta)) = timed {
        record::<C>(task, delta);
    }
    0
}

/// How long `next` waited since its start time was kept (by `enqueue`),
/// taking it; with `first`, a new task's first wait (`first_wait`). `None`
/// for a task enqueued before tracing began, filtered out, or idle.
#[inline(always)]
fn taken<S: StartTimes, C: TracepointContext>(next: u64, first: bool) -> Option<u64> {
    match S::take(next) {
        Ok(Some(start)) => Some(ns_since(start)),
        Ok(None) if first => first_wait::<C>(next),
        Ok(None) => None,
        Err(()) => {
            bump(&DROPPED, S::LOST);
            None
        }
    }
}

/// On-CPU time: how long `prev` ran on this CPU, if it was switched in
/// while tracing (and traced); `next` is timed from now. A CPU runs one
/// task at a time and `sched_switch` does not nest, so one slot per CPU
/// holds the running task. One that is not `prev` means the kernel fired
/// no event for the switch to `prev`: counted when `prev` is traced, never
/// timed from another task's start.
#[inline(always)]
fn on_cpu_until<C: TracepointContext>(prev: u64, next: u64) -> Option<u64> {
    let slot = ON_CPU.get_ptr_mut(0)?;
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let running = OnCpu {
        task: next,
        since: now,
        traced: u64::from(traced::<C>(next).is_some()),
    };
    // SAFETY: this CPU's slot, and sched_switch does not nest on a CPU.
    let last = unsafe { core::mem::replace(&mut *slot, running) };
    if last.task == prev {
        return (last.traced != 0).then(|| now.saturating_sub(last.since));
    }
    if last.task != 0 && traced::<C>(prev).is_some() {
        bump(&DROPPED, dropped::SWITCH_UNSEEN);
    }
    None // switched in before tracing began, or unseen
}

/// Records `delta` ns of `task` under its key (or cgroup, with `-G`).
#[inline(always)]
fn record<C: TracepointContext>(task: u64, delta: u64) {
    if global(&CONFIG.group_by) == group::CGROUP {
        record_for_cgroup(task, task_cgroup::<C>(task, &CONFIG.cgroup), delta);
        return;
    }
    let (key, named) = key_of(task);
    let Some(hist) = hist_entry(&HISTS, &key) else {
        bump(&DROPPED, dropped::HIST_FULL);
        return;
    };
    let named_keys = matches!(
        global(&CONFIG.group_by),
        group::PROCESS | group::THREAD | group::PIDNS
    );
    if hist.count == 0 && named_keys {
        // First sample of this key on this CPU: name it.
        if let Some(comm) = read_kernel::<[u8; 16]>(named, global(&CONFIG.task.comm)) {
            let _ = COMMS.insert(key, comm, 0);
        }
    }
    hist_record(hist, delta, global(&CONFIG.unit_divisor));
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&LLHISTS, &key, delta)
    {
        bump(
            &DROPPED,
            no.reason(dropped::HIST_FULL, dropped::LL_NO_MEMORY),
        );
    }
}

/// `-G`: records a wait of `delta` ns of `task` in the histograms of its
/// `cgroup`.
#[inline(always)]
fn record_for_cgroup(task: u64, cgroup: u64, delta: u64) {
    let maps = split_maps();
    let loglinear = global(&CONFIG.loglinear) != 0;
    if maps.record(cgroup, delta, global(&CONFIG.unit_divisor), loglinear) {
        remember_cgroup(&CGROUP_NAMES, cgroup, task, &CONFIG.cgroup);
    }
}

/// With -P and -L: a process (or thread) that execs takes its new name, as
/// in ps; only keys already named are renamed (`BPF_EXIST`).
fn on_exec<C: EbpfContext>(_ctx: &C) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let key = match global(&CONFIG.group_by) {
        group::PROCESS => (pid_tgid >> 32) as u32,
        group::THREAD => pid_tgid as u32,
        _ => return 0,
    };
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = COMMS.insert(key, comm, BPF_EXIST as u64);
    }
    0
}

toolkit_kernel::tracepoint_programs!(
    "sched_process_exec",
    sched_process_exec_btf,
    sched_process_exec_raw,
    on_exec
);

/// A task becomes runnable: `sched_wakeup(p)`, `sched_wakeup_new(p)`.
#[inline(always)]
fn on_wakeup<S: StartTimes, C: TracepointContext>(ctx: &C) -> i32 {
    enqueue::<S, C>(ctx_arg(ctx, 0));
    0
}

/// `sched_switch(preempt, prev, next, ...)`.
#[inline(always)]
fn on_switch_args<S: StartTimes, C: TracepointContext>(ctx: &C) -> i32 {
    on_switch::<S, C>(ctx_arg(ctx, 0), ctx_arg(ctx, 1), ctx_arg(ctx, 2))
}

/// The two programs of one scheduler tracepoint: `tp_btf`, keeping start
/// times in task storage, and the `raw_tp` fallback, keeping them by
/// thread id.
macro_rules! sched_programs {
    ($tracepoint:literal, $btf_name:ident, $raw_name:ident, $handler:ident) => {
        #[btf_tracepoint(function = $tracepoint)]
        pub fn $btf_name(ctx: BtfTracePointContext) -> i32 {
            $handler::<InTaskStorage, _>(&ctx)
        }

        #[raw_tracepoint(tracepoint = $tracepoint)]
        pub fn $raw_name(ctx: RawTracePointContext) -> i32 {
            $handler::<ByTid, _>(&ctx)
        }
    };
}

sched_programs!(
    "sched_wakeup",
    sched_wakeup_btf,
    sched_wakeup_raw,
    on_wakeup
);
sched_programs!(
    "sched_wakeup_new",
    sched_wakeup_new_btf,
    sched_wakeup_new_raw,
    on_wakeup
);
sched_programs!(
    "sched_switch",
    sched_switch_btf,
    sched_switch_raw,
    on_switch_args
);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

//! oomkill's eBPF program: at `oom:mark_victim`, who triggered the OOM
//! kill, who is killed, and the victim's memory cgroup, sent to userspace
//! through a ring buffer (OOM kills are rare: no per-event cost to save).
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::map,
    maps::{PerCpuArray, RingBuf},
};
use oomkill_ebpf::{Config, OomEvent, dropped};
use toolkit_kernel::{bump, ctx_arg, global, read_kernel};

/// Set by userspace before load (see `Config`).
#[unsafe(no_mangle)]
static CONFIG: Config = Config::DEFAULT;

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

/// Events lost, by [`dropped`] index.
#[map]
static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(dropped::REASONS.len() as u32, 0);

/// The kernfs id of `task`'s memory cgroup, 0 when unreadable.
#[inline(always)]
fn memcg_id(task: u64) -> u64 {
    if global(&CONFIG.task_cgroups) == 0 {
        return 0; // no memory controller in this kernel
    }
    let id = || {
        let css_set = read_kernel::<u64>(task, global(&CONFIG.task_cgroups))?;
        let css = read_kernel::<u64>(css_set, global(&CONFIG.css_set_memcg))?;
        let cgroup = read_kernel::<u64>(css, global(&CONFIG.css_cgroup))?;
        let kn = read_kernel::<u64>(cgroup, global(&CONFIG.cgroup_kn))?;
        read_kernel::<u64>(kn, global(&CONFIG.kernfs_node_id))
    };
    id().unwrap_or(0)
}

fn on_mark_victim<C: EbpfContext>(ctx: &C) -> i32 {
    let arg = ctx_arg(ctx, 0);
    let mut event = OomEvent {
        trigger_pid: (bpf_get_current_pid_tgid() >> 32) as u32,
        trigger_comm: bpf_get_current_comm().unwrap_or_default(),
        ..OomEvent::default()
    };
    if global(&CONFIG.arg_is_task) != 0 {
        event.victim_pid = read_kernel::<u32>(arg, global(&CONFIG.task_tgid)).unwrap_or(0);
        event.victim_comm =
            read_kernel::<[u8; 16]>(arg, global(&CONFIG.task_comm)).unwrap_or_default();
        event.memcg_id = memcg_id(arg);
    } else {
        event.victim_pid = arg as u32;
    }
    if EVENTS.output::<OomEvent>(&event, 0).is_err() {
        bump(&DROPPED, dropped::RING_FULL);
    }
    0
}

toolkit_kernel::tracepoint_programs!(
    "mark_victim",
    mark_victim_btf,
    mark_victim_raw,
    on_mark_victim
);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

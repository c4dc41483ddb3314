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
use common_ebpf::bpf::{bump, ctx_arg, global, read_kernel};
use oomkill_ebpf::{OomEvent, dropped};

/// 1 when `mark_victim`'s first argument is the victim's task (Linux 6.8
/// and later), 0 when it is its pid.
#[unsafe(no_mangle)]
static ARG_IS_TASK: u32 = 1;
// Field offsets from the running kernel's BTF.
#[unsafe(no_mangle)]
static OFF_TASK_TGID: u32 = 0;
#[unsafe(no_mangle)]
static OFF_TASK_COMM: u32 = 0;
#[unsafe(no_mangle)]
static OFF_TASK_CGROUPS: u32 = 0;
/// `css_set.subsys[memory_cgrp_id]`.
#[unsafe(no_mangle)]
static OFF_CSS_SET_MEMCG: u32 = 0;
#[unsafe(no_mangle)]
static OFF_CSS_CGROUP: u32 = 0;
#[unsafe(no_mangle)]
static OFF_CGROUP_KN: u32 = 0;
#[unsafe(no_mangle)]
static OFF_KERNFS_NODE_ID: u32 = 0;

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

/// Events lost, by [`dropped`] index.
#[map]
static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The kernfs id of `task`'s memory cgroup, 0 when unreadable.
#[inline(always)]
fn memcg_id(task: u64) -> u64 {
    let id = || {
        let css_set = read_kernel::<u64>(task, global(&OFF_TASK_CGROUPS))?;
        let css = read_kernel::<u64>(css_set, global(&OFF_CSS_SET_MEMCG))?;
        let cgroup = read_kernel::<u64>(css, global(&OFF_CSS_CGROUP))?;
        let kn = read_kernel::<u64>(cgroup, global(&OFF_CGROUP_KN))?;
        read_kernel::<u64>(kn, global(&OFF_KERNFS_NODE_ID))
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
    if global(&ARG_IS_TASK) != 0 {
        event.victim_pid = read_kernel::<u32>(arg, global(&OFF_TASK_TGID)).unwrap_or(0);
        event.victim_comm =
            read_kernel::<[u8; 16]>(arg, global(&OFF_TASK_COMM)).unwrap_or_default();
        event.memcg_id = memcg_id(arg);
    } else {
        event.victim_pid = arg as u32;
    }
    if EVENTS.output::<OomEvent>(&event, 0).is_err() {
        bump(&DROPPED, dropped::RING_FULL);
    }
    0
}

common_ebpf::tracepoint_programs!(
    "mark_victim",
    mark_victim_btf,
    mark_victim_raw,
    on_mark_victim
);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

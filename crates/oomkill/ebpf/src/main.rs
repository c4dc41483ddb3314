//! oomkill's eBPF program: at `oom:mark_victim`, who triggered the OOM
//! kill, who is killed, and the victim's memory cgroup, sent to userspace
//! through a ring buffer (OOM kills are rare: no per-event cost to save).
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes},
    macros::map,
    maps::RingBuf,
};
use oomkill_ebpf::{Config, OomEvent, PATH_LEVELS, dropped};
use toolkit_kernel::{bump, ctx_arg, global, read_kernel};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// `task`'s memory cgroup (its `cgroup_subsys_state`), if this kernel has
/// the memory controller.
#[inline(always)]
fn memcg_css(task: u64) -> Option<u64> {
    if global(&CONFIG.task_cgroups) == 0 {
        return None; // no memory controller in this kernel
    }
    let css_set = read_kernel::<u64>(task, global(&CONFIG.task_cgroups))?;
    read_kernel::<u64>(css_set, global(&CONFIG.css_set_memcg))
}

/// Fills the memory cgroup's id, limit and path: read now, at the kill,
/// since a container runtime removes the cgroup as soon as its task dies.
#[inline(always)]
fn memcg(event: &mut OomEvent, task: u64) -> Option<()> {
    let css = memcg_css(task)?;
    let memcg = css - u64::from(global(&CONFIG.memcg_css));
    event.limit_pages = read_kernel::<u64>(memcg, global(&CONFIG.memcg_memory_max))?;
    let cgroup = read_kernel::<u64>(css, global(&CONFIG.css_cgroup))?;
    let mut kn = read_kernel::<u64>(cgroup, global(&CONFIG.cgroup_kn))?;
    event.memcg_id = read_kernel::<u64>(kn, global(&CONFIG.kernfs_node_id))?;
    event.path_incomplete = 1;
    for level in 0..PATH_LEVELS {
        let parent = read_kernel::<u64>(kn, global(&CONFIG.kernfs_node_parent))?;
        if parent == 0 {
            event.path_incomplete = 0; // the hierarchy's root: not named
            return Some(());
        }
        let name = read_kernel::<u64>(kn, global(&CONFIG.kernfs_node_name))?;
        // SAFETY: a kernel string, read by the helper that checks it.
        unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut event.path[level]) }
            .ok()?;
        event.path_levels = level as u32 + 1;
        kn = parent;
    }
    Some(())
}

fn on_mark_victim<C: EbpfContext>(ctx: &C) -> i32 {
    let arg = ctx_arg(ctx, 0);
    // Built in the ring buffer itself: 2 KiB of path is more than the stack.
    let Some(mut entry) = EVENTS.reserve::<OomEvent>(0) else {
        bump(&DROPPED, dropped::RING_FULL);
        return 0;
    };
    // SAFETY: the reserved record is written whole here before any read:
    // the fixed fields now, the path's bytes only up to the levels counted.
    let event = unsafe {
        let event = entry.as_mut_ptr();
        core::ptr::write_bytes(event.cast::<u8>(), 0, 64);
        &mut *event
    };
    event.trigger_pid = (bpf_get_current_pid_tgid() >> 32) as u32;
    event.trigger_comm = bpf_get_current_comm().unwrap_or_default();
    event.limit_pages = u64::MAX;
    if global(&CONFIG.arg_is_task) != 0 {
        event.victim_pid = read_kernel::<u32>(arg, global(&CONFIG.task_tgid)).unwrap_or(0);
        event.victim_comm =
            read_kernel::<[u8; 16]>(arg, global(&CONFIG.task_comm)).unwrap_or_default();
        memcg(event, arg);
    } else {
        event.victim_pid = arg as u32;
    }
    entry.submit(0);
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

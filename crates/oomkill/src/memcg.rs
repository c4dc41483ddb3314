//! The victim's memory cgroup: its path as the kernel side read it at the
//! kill (or found by its id in whichever hierarchy holds the memory
//! controller, cgroup v1 `memory` or v2), and the pages an OOM kill in it
//! is measured against.

use std::path::Path;

use toolkit_cgroup::Hierarchy;

/// The limit of the memory cgroup at `dir` in `hierarchy`, in bytes;
/// `None` when unlimited.
pub fn limit(hierarchy: &Hierarchy, dir: &Path) -> Option<u64> {
    let file = if hierarchy.v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    let limit = text.trim().parse::<u64>().ok()?;
    // v1 writes "unlimited" as a huge page-rounded number.
    (limit < 1 << 62).then_some(limit)
}

/// The memory cgroup's path from the hierarchy's root, as the kernel side
/// read it at the kill (`/` for the root), each name escaped; `None` when
/// it could not read it whole (no memory controller, a kernel before 6.8,
/// a path deeper than it reads).
pub fn path_of_event(event: &oomkill_ebpf::OomEvent) -> Option<String> {
    if event.memcg_id == 0 || event.path_incomplete != 0 {
        return None;
    }
    let levels = (event.path_levels as usize).min(oomkill_ebpf::PATH_LEVELS);
    let names: Vec<String> = event.path[..levels]
        .iter()
        .rev()
        .map(|name| toolkit_core::escape::c_name(name))
        .collect();
    Some(format!("/{}", names.join("/")))
}

/// A limit of `pages` (`memory.max` as the kernel keeps it), or `None`
/// when unlimited (the kernel's `PAGE_COUNTER_MAX`, about 2^63 bytes).
pub fn limited(pages: u64, page_size: u64) -> Option<u64> {
    (pages.saturating_mul(page_size) < 1 << 62).then_some(pages)
}

/// The memory the kernel measures a global OOM kill against: RAM plus
/// swap, in pages.
pub fn system_pages(page_size: u64) -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |name: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kib("MemTotal:") + kib("SwapTotal:")) * 1024 / page_size
}

#[cfg(test)]
mod tests {
    use oomkill_ebpf::{NAME_BYTES, OomEvent, PATH_LEVELS};

    use super::*;

    fn event(names: &[&[u8]], incomplete: u32) -> OomEvent {
        let mut event = OomEvent {
            trigger_pid: 1,
            victim_pid: 2,
            memcg_id: 77,
            trigger_comm: [0; 16],
            victim_comm: [0; 16],
            limit_pages: 2048,
            path_levels: names.len() as u32,
            path_incomplete: incomplete,
            path: [[0; NAME_BYTES]; PATH_LEVELS],
        };
        for (slot, name) in event.path.iter_mut().zip(names) {
            slot[..name.len()].copy_from_slice(name);
        }
        event
    }

    #[test]
    fn path_read_at_the_kill_leaf_first() {
        let e = event(&[b"docker-abc.scope", b"system.slice"], 0);
        assert_eq!(
            path_of_event(&e).as_deref(),
            Some("/system.slice/docker-abc.scope")
        );
        assert_eq!(path_of_event(&event(&[], 0)).as_deref(), Some("/"));
        assert_eq!(
            path_of_event(&event(&[b"a\nb"], 0)).as_deref(),
            Some("/a\\x0ab")
        );
        assert_eq!(path_of_event(&event(&[b"deep"], 1)), None);
        assert_eq!(limited(2048, 4096), Some(2048));
        assert_eq!(limited((1 << 63) / 4096, 4096), None);
    }
}

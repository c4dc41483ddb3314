//! oomkill: a line per OOM kill, in libbpf-tools' format, with the victim's
//! memory cgroup.

mod cli;
mod memcg;

use std::{
    io::Write as _,
    time::{Duration, Instant},
};

use anyhow::Result;
use aya::maps::RingBuf;
use oomkill_ebpf::{Config, OomEvent, dropped, maps};
use serde_json::json;
use toolkit_cli::{StopSignals, Wake, tool_main};
use toolkit_drain::{DropReport, take_map};
use toolkit_load::{Hook, KernelBtf, attach_tracepoints, load_object};
use toolkit_report::{
    output::{local_hms, rfc3339_now, stdout},
    print_banner,
};

use crate::{cli::Cli, memcg::MemoryHierarchy};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/oomkill"));

/// The OVERHEAD section of `man oomkill`: measured cost per event.
const OVERHEAD: &str =
    "One program on oom:mark_victim, which runs once per OOM kill: no cost at other times.";

/// How long events may wait in the ring buffer before they are printed.
const POLL: Duration = Duration::from_millis(100);

fn main() {
    tool_main("oomkill", OVERHEAD, run)
}

fn run(cli: Cli, signals: &StopSignals) -> Result<()> {
    let btf = KernelBtf::load()?;
    btf.require_tracepoints(&["mark_victim"])?;
    let config = config(&btf)?;
    let mut ebpf = load_object(OBJECT, &config, &[])?;
    attach_tracepoints(&mut ebpf, &btf, &["mark_victim"], Hook::RawTracePoint)?;
    let mut events = RingBuf::try_from(take_map(&mut ebpf, maps::EVENTS)?)?;
    let memory = MemoryHierarchy::find();
    // SAFETY: sysconf has no preconditions.
    let page_size = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let mut drops = DropReport::new("oomkill", dropped::REASONS);
    print_banner("Tracing OOM kills... Ctrl-C to stop.", cli.json)?;
    let end = cli.duration.map(|d| Instant::now() + d);
    loop {
        let left = end.map(|e| e.saturating_duration_since(Instant::now()));
        let wake = signals.wait(Some(left.map_or(POLL, |l| l.min(POLL))));
        while let Some(item) = events.next() {
            // SAFETY: the kernel side writes exactly one OomEvent per record.
            let event = unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<OomEvent>()) };
            let kill = Kill::new(&event, memory.as_ref(), page_size);
            let mut out = stdout();
            if cli.json {
                serde_json::to_writer(&mut out, &kill.json())?;
                writeln!(out)?;
            } else {
                kill.write_text(&mut out)?;
            }
            out.flush()?;
        }
        drops.check(&ebpf)?;
        if wake == Wake::Signal || left.is_some_and(|l| l.is_zero()) {
            return Ok(());
        }
    }
}

/// One OOM kill, with what userspace adds: names read from /proc where the
/// kernel gave none, the memory cgroup's path, pages and load average.
struct Kill {
    time: String,
    trigger: (u32, String),
    victim: (u32, String),
    pages: u64,
    loadavg: String,
    memcg: Option<String>,
}

impl Kill {
    fn new(event: &OomEvent, memory: Option<&MemoryHierarchy>, page_size: u64) -> Self {
        let name = |comm: &[u8; 16], pid: u32| {
            let end = comm.iter().position(|&b| b == 0).unwrap_or(16);
            if end > 0 {
                String::from_utf8_lossy(&comm[..end]).into_owned()
            } else {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map_or_else(|_| "?".to_string(), |c| c.trim().to_string())
            }
        };
        let dir = memory.and_then(|m| m.path_of(event.memcg_id).map(|p| (m, p)));
        // As the kernel measures the kill: the cgroup's limit when it has
        // one, else RAM plus swap.
        let pages = dir
            .as_ref()
            .and_then(|(m, p)| m.limit(p))
            .map_or_else(|| memcg::system_pages(page_size), |b| b / page_size);
        let memcg = dir.map(|(m, p)| {
            let rel = p.strip_prefix(&m.root).unwrap_or(&p).to_string_lossy();
            format!("/{rel}")
        });
        Self {
            time: local_hms(),
            trigger: (
                event.trigger_pid,
                name(&event.trigger_comm, event.trigger_pid),
            ),
            victim: (event.victim_pid, name(&event.victim_comm, event.victim_pid)),
            pages,
            loadavg: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_string(),
            memcg,
        }
    }

    /// libbpf-tools' line, then the memory cgroup on a line of its own so
    /// that scripts parsing the first keep working.
    fn write_text(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{} Triggered by PID {} (\"{}\"), OOM kill of PID {} (\"{}\"), {} pages, loadavg: {}",
            self.time,
            self.trigger.0,
            self.trigger.1,
            self.victim.0,
            self.victim.1,
            self.pages,
            self.loadavg
        )?;
        if let Some(memcg) = &self.memcg {
            writeln!(w, "  memcg: {memcg}")?;
        }
        Ok(())
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "tool": "oomkill",
            "time": rfc3339_now(),
            "trigger": {"pid": self.trigger.0, "comm": self.trigger.1},
            "victim": {"pid": self.victim.0, "comm": self.victim.1},
            "pages": self.pages,
            "loadavg": self.loadavg,
            "memcg": self.memcg,
        })
    }
}

/// The kernel side's configuration: this kernel's `mark_victim` argument
/// and the offsets from a task to its memory cgroup's id.
fn config(btf: &KernelBtf) -> Result<Config> {
    // Linux 6.8 passes the victim's task (and uid); before, only its pid,
    // and the task's fields are then not read.
    let arg_is_task = btf.member_offset("task_struct", "tgid").is_ok()
        && btf.tracepoint_first_arg_is_pointer("mark_victim")?;
    let memcg_id = btf
        .enum_values("cgroup_subsys_id")?
        .into_iter()
        .find(|(name, _)| name == "memory_cgrp_id")
        .map(|(_, v)| v as u32);
    if !arg_is_task {
        return Ok(Config {
            arg_is_task: 0,
            ..Config::DEFAULT
        });
    }
    let mut config = Config {
        arg_is_task: 1,
        task_tgid: btf.member_offset("task_struct", "tgid")?,
        task_comm: btf.member_offset("task_struct", "comm")?,
        ..Config::DEFAULT
    };
    // Without the memory controller, the cgroup offsets stay zero and the
    // kernel side reads no memory cgroup.
    if let Some(memcg) = memcg_id {
        config.task_cgroups = btf.member_offset("task_struct", "cgroups")?;
        config.css_set_memcg = btf.member_offset("css_set", "subsys")? + 8 * memcg;
        config.css_cgroup = btf.member_offset("cgroup_subsys_state", "cgroup")?;
        config.cgroup_kn = btf.member_offset("cgroup", "kn")?;
        config.kernfs_node_id = btf.member_offset("kernfs_node", "id")?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_passes_the_victim_task_with_its_memcg_offsets() {
        let config = config(&KernelBtf::load().unwrap()).unwrap();
        // 6.8 and later (this machine runs 6.18).
        assert_eq!(config.arg_is_task, 1);
        assert_ne!(config.task_cgroups, 0);
        assert_ne!(config.task_comm, config.task_tgid);
    }
}

//! OOM-kill tracing, for `oomkill` and any tool that reports OOM kills
//! (`usecheck`'s memory errors): load and attach the program on
//! `oom:mark_victim` ([`Watcher::attach`]), then read each kill with what
//! userspace adds ([`Watcher::kills`]).

pub mod memcg;

use anyhow::Result;
use oomkill_ebpf::{Config, OomEvent, dropped, maps};
use serde_json::json;
use toolkit_cgroup::{Container, Hierarchy, container};
use toolkit_drain::{EventRing, Losses};
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::{
    escape,
    output::{local_hms, rfc3339_now},
};
use toolkit_session::{Attach, Session, Tool};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/oomkill"));

/// The tracepoint traced.
pub const TRACEPOINT: &str = "mark_victim";

/// oomkill as a [`Tool`]: its object on `oom:mark_victim`, which has no
/// options.
pub struct Oomkill;

impl Tool for Oomkill {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = ();
    type Config = Config;

    fn config(_: &(), btf: &KernelBtf) -> Result<Config> {
        config(btf)
    }

    fn attach(_: &(), _: &Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        Ok(vec![Attach::new([TRACEPOINT], Hook::RawTracePoint)])
    }
}

/// The attached program and its ring buffer.
pub struct Watcher {
    session: Session,
    events: EventRing<OomEvent>,
    memory: Option<Hierarchy>,
    page_size: u64,
}

impl Watcher {
    /// Loads the program and attaches it, with the kernel's `btf` (read
    /// once by the caller); `tool` names the losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf) -> Result<Self> {
        let mut session = Session::start::<Oomkill>(tool, btf, &())?;
        let events = EventRing::new(session.ebpf(), maps::EVENTS)?;
        // SAFETY: sysconf has no preconditions.
        let page_size = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        Ok(Self {
            session,
            events,
            memory: Hierarchy::of_controller("memory"),
            page_size,
        })
    }

    /// The kills sent since the last call, oldest first.
    pub fn kills(&mut self) -> Vec<Kill> {
        self.events
            .drain()
            .iter()
            .map(|event| Kill::new(event, self.memory.as_ref(), self.page_size))
            .collect()
    }

    /// Kills the kernel side could not send (a full ring buffer), said on
    /// stderr.
    pub fn lost(&mut self) -> Result<Losses> {
        Ok(self.session.interval(|_| Ok(()))?.1)
    }
}

/// One OOM kill, with what userspace adds: names read from /proc where the
/// kernel gave none, the memory cgroup's path, pages and load average.
pub struct Kill {
    /// When userspace read it, local `HH:MM:SS`.
    pub time: String,
    /// The process whose allocation triggered the kill: pid, name.
    pub trigger: (u32, String),
    /// The process killed: pid, name.
    pub victim: (u32, String),
    /// The memory the kill was measured against, in pages.
    pub pages: u64,
    /// /proc/loadavg then.
    pub loadavg: String,
    /// The victim's memory cgroup, from the hierarchy's root.
    pub memcg: Option<String>,
    /// The container that cgroup is, or is in (from its path).
    pub container: Option<Container>,
}

impl Kill {
    fn new(event: &OomEvent, memory: Option<&Hierarchy>, page_size: u64) -> Self {
        // Escaped: a victim named "x\n00:00:00 Triggered by ..." must not
        // forge a line.
        let name = |comm: &[u8; 16], pid: u32| {
            if comm[0] != 0 {
                escape::c_name(comm)
            } else {
                std::fs::read(format!("/proc/{pid}/comm")).map_or_else(
                    |_| "?".to_string(),
                    |c| escape::escape_bytes(c.strip_suffix(b"\n").unwrap_or(&c)),
                )
            }
        };
        // The cgroup's path and limit as the kernel side read them at the
        // kill; only on kernels where it could not, looked up now (the
        // cgroup may be gone by then).
        let read_then = memcg::path_of_event(event);
        let dir = match read_then {
            Some(_) => None,
            None => memory.and_then(|m| m.path_of(event.memcg_id).map(|p| (m, p))),
        };
        let limit = match event.limit_pages {
            u64::MAX => dir
                .as_ref()
                .and_then(|(m, p)| memcg::limit(m, p))
                .map(|b| b / page_size),
            pages => memcg::limited(pages, page_size),
        };
        // As the kernel measures the kill: the cgroup's limit when it has
        // one, else RAM plus swap.
        let pages = limit.unwrap_or_else(|| memcg::system_pages(page_size));
        let memcg = read_then.or_else(|| dir.map(|(m, p)| m.relative(&p)));
        let container = memcg.as_deref().and_then(container::decode);
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
            container,
        }
    }

    /// libbpf-tools' line, then the memory cgroup on a line of its own so
    /// that scripts parsing the first keep working.
    pub fn write_text(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
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
        match (&self.memcg, &self.container) {
            (Some(memcg), Some(container)) => {
                writeln!(w, "  memcg: {memcg} ({})", container.describe())?
            }
            (Some(memcg), None) => writeln!(w, "  memcg: {memcg}")?,
            _ => {}
        }
        Ok(())
    }

    /// The kill's values of `oomkill_kills_total`'s labels: memory
    /// cgroup, container, pod UID, the victim's name (empty when unknown).
    pub fn label_values(&self) -> Vec<String> {
        let container = self.container.as_ref();
        vec![
            self.memcg.clone().unwrap_or_default(),
            container.and_then(|c| c.id.clone()).unwrap_or_default(),
            container
                .and_then(|c| c.pod_uid.clone())
                .unwrap_or_default(),
            self.victim.1.clone(),
        ]
    }

    pub fn json(&self) -> serde_json::Value {
        let container = self.container.as_ref();
        json!({
            "tool": "oomkill",
            "time": rfc3339_now(),
            "trigger": {"pid": self.trigger.0, "comm": self.trigger.1},
            "victim": {"pid": self.victim.0, "comm": self.victim.1},
            "pages": self.pages,
            "loadavg": self.loadavg,
            "memcg": self.memcg,
            "container": container.and_then(|c| c.id.as_deref()),
            "runtime": container.map(|c| c.runtime),
            "pod_uid": container.and_then(|c| c.pod_uid.as_deref()),
        })
    }
}

/// The kernel side's configuration: this kernel's `mark_victim` argument
/// and the offsets from a task to its memory cgroup's id.
pub fn config(btf: &KernelBtf) -> Result<Config> {
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
        config.kernfs_node_name = btf.member_offset("kernfs_node", "name")?;
        config.kernfs_node_parent =
            btf.first_member_offset("kernfs_node", &["__parent", "parent"])?;
        config.memcg_css = btf.member_offset("mem_cgroup", "css")?;
        config.memcg_memory_max = btf.member_offset("mem_cgroup", "memory")?
            + btf.member_offset("page_counter", "max")?;
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

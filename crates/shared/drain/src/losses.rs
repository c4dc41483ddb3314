//! What the kernel side could not record, interval by interval: each
//! tool's per-CPU drop counter (one index per reason, named in the tool's
//! eBPF crate) and the kernel's own recursion-miss counts.

use std::io::Write as _;

use anyhow::Result;
use aya::Ebpf;
use toolkit_core::DROPPED_MAP;

/// Why events went unrecorded in the kernel, as said on stderr and in JSON
/// and OpenMetrics: a name for each index of a tool's per-CPU drop counter,
/// and [`RECURSION`] for events the kernel did not run a program for.
pub const RECURSION: &str = "a program was already running on that CPU";

/// What one interval could not record, per reason (every reason listed,
/// zero or not, so that scripts find the same keys every time).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses(pub Vec<(&'static str, u64)>);

impl Losses {
    /// Whether anything was lost.
    pub fn any(&self) -> bool {
        self.0.iter().any(|(_, n)| *n > 0)
    }
}

/// Reports, after each interval, samples the kernel side could not record
/// (counted in the object's per-CPU `u64` array [`DROPPED_MAP`], one index
/// per reason): loss is said on stderr, and returned for JSON and
/// OpenMetrics, never silent.
pub struct DropReport {
    tool: &'static str,
    reasons: &'static [&'static str],
    seen: Vec<u64>,
    recursion_misses: u64,
}

impl DropReport {
    /// `reasons[i]` explains index `i` of the drop counter (a tool's eBPF
    /// crate names them, beside its indexes).
    pub fn new(tool: &'static str, reasons: &'static [&'static str]) -> Self {
        Self {
            tool,
            reasons,
            seen: vec![0; reasons.len()],
            recursion_misses: 0,
        }
    }

    /// Prints a warning for every reason whose count grew, and for events
    /// the kernel did not run our programs for because one of them was
    /// already running on that CPU (a completion interrupting another, say):
    /// the kernel counts those per program as recursion misses. Returns the
    /// interval's losses.
    pub fn check(&mut self, ebpf: &Ebpf) -> Result<Losses> {
        let mut losses = Vec::with_capacity(self.reasons.len() + 1);
        for (i, reason) in self.reasons.iter().enumerate() {
            let now = crate::percpu_counter(ebpf, DROPPED_MAP, i as u32)?;
            losses.push((*reason, now - self.seen[i]));
            self.seen[i] = now;
        }
        let misses = own_recursion_misses();
        losses.push((RECURSION, misses.saturating_sub(self.recursion_misses)));
        self.recursion_misses = self.recursion_misses.max(misses);
        for (reason, n) in &losses {
            if *n > 0 {
                let what = if *reason == RECURSION {
                    "events missed"
                } else {
                    "samples lost"
                };
                // Never fails the tool: a closed stderr must not stop one
                // whose stdout still works.
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{}: warning: {n} {what} ({reason})",
                    self.tool
                );
            }
        }
        Ok(Losses(losses))
    }
}

/// Sum of the kernel's recursion-miss counters over this process's eBPF
/// programs (from /proc/self/fdinfo; 0 where the kernel does not say).
fn own_recursion_misses() -> u64 {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    fds.flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.as_os_str() == "anon_inode:bpf-prog")
        })
        .filter_map(|fd| {
            let info = std::fs::read_to_string(format!(
                "/proc/self/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .ok()?;
            info.lines()
                .find_map(|l| l.strip_prefix("recursion_misses:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

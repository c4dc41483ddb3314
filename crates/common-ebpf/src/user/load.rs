//! Loading an eBPF object and attaching its tracepoint programs.

use anyhow::{Context as _, Result, anyhow, bail};
use aya::{
    Btf, Ebpf, EbpfLoader, GlobalData,
    programs::{BtfTracePoint, RawTracePoint},
};

use super::btf::aya_btf;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Fails with a one-line explanation unless this process may load and
/// attach tracing programs: root, CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN.
pub fn check_privileges() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    if (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN) {
        return Ok(());
    }
    bail!("permission denied: run as root, or with the CAP_BPF and CAP_PERFMON capabilities")
}

/// Loads `object` into the kernel with read-only `u32` and `u64` globals
/// (filters, units, field offsets) set before load, so that the verifier
/// sees them as constants, and with the map sizes in `max_entries` (maps a
/// run does not need shrunk to one entry: preallocating a large per-CPU hash
/// takes milliseconds).
pub fn load_object(
    object: &[u8],
    u32s: &[(&str, u32)],
    u64s: &[(&str, u64)],
    max_entries: &[(&str, u32)],
) -> Result<Ebpf> {
    check_privileges()?;
    // aya 0.14 parses the kernel's BTF here, eagerly (18 MiB of heap, ~8 ms
    // on the test machine), although it is then discarded: the largest part
    // of every tool's start-up time and peak RSS, not avoidable through
    // aya's public API.
    let mut loader = EbpfLoader::new();
    for (name, size) in max_entries {
        loader.map_max_entries(name, *size);
    }
    // Our objects carry no CO-RE relocations (offsets come from KernelBtf as
    // globals), so aya need not parse the kernel's BTF a second time.
    loader.btf(None);
    // Task storage (the syscall tools' start times) has no userspace type in
    // aya; userspace never touches it, the kernel creates it all the same.
    loader.allow_unsupported_maps();
    for (name, value) in u32s {
        loader.override_global(name, GlobalData::from(value), true);
    }
    for (name, value) in u64s {
        loader.override_global(name, GlobalData::from(value), true);
    }
    loader.load(object).map_err(|err| {
        let text = format!("{err:#}");
        if text.contains("Operation not permitted") {
            anyhow!(
                "the kernel refused to load eBPF programs ({text}): run as root, or with CAP_BPF and CAP_PERFMON"
            )
        } else {
            anyhow!(err).context("loading eBPF programs")
        }
    })
}

/// Prints the "Tracing ..." banner once everything is attached, flushed so
/// that whoever waits on it (a person, a test) sees it at once; on stderr
/// with `--json`, whose stdout is only JSON lines.
pub fn print_banner(banner: &str, json: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    // Everything is loaded: hand the BTF parses' heap back to the system so
    // that a long-running tool's resident set stays small.
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    if json {
        crate::say!("{banner}");
        Ok(())
    } else {
        let mut out = super::output::stdout();
        writeln!(out, "{banner}")?;
        out.flush()
    }
}

/// Why events went unrecorded in the kernel, as said on stderr and in JSON
/// and OpenMetrics: a name for each index of a tool's per-CPU drop counter,
/// and [`RECURSION`] for events the kernel did not run a program for.
pub const RECURSION: &str = "a program was already running on that CPU";

/// What one interval could not record, per reason (every reason listed,
/// zero or not, so that scripts find the same keys every time).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses(pub Vec<(&'static str, u64)>);

impl Losses {
    /// `{"reason": count, ...}` for JSON records.
    pub fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(reason, n)| (reason.to_string(), serde_json::Value::from(*n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Adds them to the `<tool>_lost_samples_total{reason}` counters.
    pub fn count_in(&self, om: &mut super::OpenMetrics) {
        for (reason, n) in &self.0 {
            om.count(
                "lost_samples",
                "Events the kernel side could not record, by reason.",
                &["reason"],
                vec![reason.to_string()],
                *n,
            );
        }
    }
}

/// Reports, after each interval, samples the kernel side could not record
/// (counted in a per-CPU `u64` array, one index per reason): loss is said on
/// stderr, and returned for JSON and OpenMetrics, never silent.
pub struct DropReport {
    tool: &'static str,
    map: &'static str,
    reasons: &'static [&'static str],
    seen: Vec<u64>,
    recursion_misses: u64,
}

impl DropReport {
    /// `reasons[i]` explains index `i` of the per-CPU array `map`.
    pub fn new(tool: &'static str, map: &'static str, reasons: &'static [&'static str]) -> Self {
        Self {
            tool,
            map,
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
            let now = super::percpu_counter(ebpf, self.map, i as u32)?;
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
                crate::say!("{}: warning: {n} {what} ({reason})", self.tool);
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

/// How a program ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// BTF-typed tracepoint (`tp_btf`).
    BtfTracePoint,
    /// Raw tracepoint (`raw_tp`).
    RawTracePoint,
}

/// Environment variable that makes every tool use its `raw_tp` programs,
/// so that tests exercise them on kernels where `tp_btf` works.
pub const FORCE_RAW_TP_ENV: &str = "EBPF_TOOLKIT_FORCE_RAW_TP";

/// Attaches each of `tracepoints` with the object's programs named after it,
/// `<tracepoint>_btf` (`tp_btf`) and `<tracepoint>_raw` (`raw_tp`), trying
/// `first` and falling back to the other. The links live as long as `ebpf`.
///
/// Tools whose programs need the kernel's trusted task pointers (task
/// storage of a task other than the current one) prefer `tp_btf`; the
/// others prefer `raw_tp`, which costs the same per event and spares
/// parsing the kernel's BTF into aya's types (18 MiB, ~10 ms). Check that
/// the tracepoints exist first (`KernelBtf::require_tracepoints`).
pub fn attach_tracepoints(ebpf: &mut Ebpf, tracepoints: &[&str], first: Hook) -> Result<Hook> {
    let force_raw = std::env::var_os(FORCE_RAW_TP_ENV).is_some();
    let order = match (force_raw, first) {
        (true, _) => &[Hook::RawTracePoint][..],
        (false, Hook::RawTracePoint) => &[Hook::RawTracePoint, Hook::BtfTracePoint],
        (false, Hook::BtfTracePoint) => &[Hook::BtfTracePoint, Hook::RawTracePoint],
    };
    let mut btf = None;
    let mut errors = Vec::new();
    for &hook in order {
        let mut done = Vec::new();
        let attached = tracepoints.iter().try_for_each(|tp| {
            attach_one(ebpf, tp, hook, &mut btf)?;
            done.push(*tp);
            Ok::<_, anyhow::Error>(())
        });
        match attached {
            Ok(()) => return Ok(hook),
            Err(err) => {
                // Detach this kind's programs before trying the other, or
                // their events would be counted twice.
                for tp in done {
                    unload_one(ebpf, tp, hook);
                }
                errors.push(format!("{err:#}"));
            }
        }
    }
    bail!(
        "attaching {}: {}",
        tracepoints.join(", "),
        errors.join("; then ")
    )
}

fn unload_one(ebpf: &mut Ebpf, tracepoint: &str, hook: Hook) {
    let suffix = match hook {
        Hook::RawTracePoint => "raw",
        Hook::BtfTracePoint => "btf",
    };
    let Some(program) = ebpf.program_mut(&format!("{tracepoint}_{suffix}")) else {
        return;
    };
    let _ = match hook {
        Hook::RawTracePoint => <&mut RawTracePoint>::try_from(program).map(|p| p.unload()),
        Hook::BtfTracePoint => <&mut BtfTracePoint>::try_from(program).map(|p| p.unload()),
    };
}

fn attach_one(ebpf: &mut Ebpf, tracepoint: &str, hook: Hook, btf: &mut Option<Btf>) -> Result<()> {
    match hook {
        Hook::RawTracePoint => {
            let name = format!("{tracepoint}_raw");
            let program: &mut RawTracePoint = ebpf
                .program_mut(&name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            program
                .load()
                .with_context(|| format!("loading raw_tp {tracepoint}"))?;
            program
                .attach(tracepoint)
                .with_context(|| format!("attaching raw_tp {tracepoint}"))?;
        }
        Hook::BtfTracePoint => {
            let name = format!("{tracepoint}_btf");
            let btf = match btf {
                Some(btf) => btf,
                None => btf.insert(aya_btf()?),
            };
            let program: &mut BtfTracePoint = ebpf
                .program_mut(&name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            program
                .load(tracepoint, btf)
                .with_context(|| format!("loading tp_btf {tracepoint}"))?;
            program
                .attach()
                .with_context(|| format!("attaching tp_btf {tracepoint}"))?;
        }
    }
    Ok(())
}

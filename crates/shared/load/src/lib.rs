//! Loading a tool's eBPF object: the privileges it needs, its typed
//! configuration set before load, the kernel's BTF for field offsets and
//! tracepoint checks ([`btf`]), the `-p` process ([`process`]), and attaching
//! its tracepoint programs ([`attach`]).

pub mod attach;
pub mod btf;
pub mod process;

pub use attach::{FORCE_RAW_TP_ENV, FORCE_TP_BTF_ENV, Hook, attach_tracepoints};
pub use btf::{KernelBtf, SyscallRegs};
pub use process::{PinnedPid, TracedProcess};

use anyhow::{Result, anyhow, bail};
use aya::{Ebpf, EbpfLoader, GlobalData, Pod};

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

/// Name of the one global every tool's eBPF object reads its configuration
/// from: a `#[repr(C)]` struct defined in the tool's eBPF crate (`lib.rs`),
/// the contract both halves compile against.
pub const CONFIG_GLOBAL: &str = "CONFIG";

/// Loads `object` into the kernel with its configuration global set to
/// `config` before load, so that the verifier sees every filter, unit and
/// field offset as a constant (and prunes the branches of disabled
/// options), and with the map sizes in `max_entries` (maps a run does not
/// need shrunk to one entry: preallocating a large per-CPU hash takes
/// milliseconds). A configuration whose size differs from the object's is
/// refused by the loader.
/// `-v` (every tool, as libbpf-tools' `--verbose`): say on stderr what is
/// loaded and attached, and a failed program's whole verifier log.
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns `-v` on or off.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// With `-v`, writes `what()` on stderr (a failing stderr is ignored: it
/// is only diagnostics).
pub fn verbose(what: impl FnOnce() -> String) {
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{}", what());
    }
}

pub fn load_object<C: Pod>(object: &[u8], config: &C, max_entries: &[(&str, u32)]) -> Result<Ebpf> {
    check_privileges()?;
    // aya 0.14 parsed the kernel's BTF here, eagerly (18 MiB of heap, ~8 ms
    // on the test machine), to throw it away: the patched copy in
    // vendor/aya-0.14.0-lazy-btf does not (see its PATCH.md).
    let mut loader = EbpfLoader::new();
    for (name, size) in max_entries {
        loader.map_max_entries(name, *size);
    }
    // Our objects carry no CO-RE relocations (offsets come from KernelBtf in
    // the configuration), so aya need not parse the kernel's BTF again.
    loader.btf(None);
    // Task storage (the syscall tools' start times) has no userspace type in
    // aya; userspace never touches it, the kernel creates it all the same.
    loader.allow_unsupported_maps();
    loader.override_global(CONFIG_GLOBAL, GlobalData::from(config), true);
    let loaded = loader.load(object).map_err(|err| {
        let text = format!("{err:#}");
        if text.contains("Operation not permitted") {
            anyhow!(
                "the kernel refused to load eBPF programs ({text}): run as root, or with CAP_BPF and CAP_PERFMON"
            )
        } else {
            anyhow!(err).context("loading eBPF programs")
        }
    })?;
    verbose(|| {
        let maps: Vec<&str> = loaded.maps().map(|(name, _)| name).collect();
        let programs: Vec<&str> = loaded.programs().map(|(name, _)| name).collect();
        format!(
            "loaded an object of {} bytes: maps {maps:?}, programs {programs:?}",
            object.len()
        )
    });
    Ok(loaded)
}

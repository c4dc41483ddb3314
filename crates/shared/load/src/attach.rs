//! Attaching a tool's tracepoint programs, `tp_btf` or `raw_tp`.

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    programs::{BtfTracePoint, RawTracePoint},
};

use crate::btf::KernelBtf;

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

/// Environment variable that makes every tool use its `tp_btf` programs,
/// even those that prefer `raw_tp`, so that the kernel matrix proves both
/// kinds of every tool on every kernel.
pub const FORCE_TP_BTF_ENV: &str = "EBPF_TOOLKIT_FORCE_TP_BTF";

/// Attaches each of `tracepoints` with the object's programs named after it,
/// `<tracepoint>_btf` (`tp_btf`) and `<tracepoint>_raw` (`raw_tp`), trying
/// `first` and falling back to the other. The links live as long as `ebpf`.
///
/// Tools whose programs read fields of their arguments (plain loads the
/// verifier checks on `tp_btf`, helper calls on `raw_tp`) or need the
/// kernel's trusted task pointers (task storage of a task other than the
/// current one) prefer `tp_btf`; the others prefer `raw_tp`, which costs
/// them the same per event. A `tp_btf`
/// program is loaded with the type id `btf` finds for it (aya's own parse
/// of the kernel's BTF is never needed). Check that the tracepoints exist
/// first (`KernelBtf::require_tracepoints`).
pub fn attach_tracepoints(
    ebpf: &mut Ebpf,
    btf: &KernelBtf,
    tracepoints: &[&str],
    first: Hook,
) -> Result<Hook> {
    let forced = |name| std::env::var_os(name).is_some();
    let order = match first {
        _ if forced(FORCE_RAW_TP_ENV) => &[Hook::RawTracePoint][..],
        _ if forced(FORCE_TP_BTF_ENV) => &[Hook::BtfTracePoint][..],
        Hook::RawTracePoint => &[Hook::RawTracePoint, Hook::BtfTracePoint],
        Hook::BtfTracePoint => &[Hook::BtfTracePoint, Hook::RawTracePoint],
    };
    let mut errors = Vec::new();
    for &hook in order {
        let mut done = Vec::new();
        let attached = tracepoints.iter().try_for_each(|tp| {
            attach_one(ebpf, tp, hook, btf)?;
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

fn attach_one(ebpf: &mut Ebpf, tracepoint: &str, hook: Hook, btf: &KernelBtf) -> Result<()> {
    match hook {
        Hook::RawTracePoint => {
            let name = format!("{tracepoint}_raw");
            let program: &mut RawTracePoint = ebpf
                .program_mut(&name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            program
                .load()
                .inspect_err(|err| crate::verbose(|| format!("loading {name} failed: {err:#}")))
                .with_context(|| format!("loading raw_tp {tracepoint}"))?;
            program
                .attach(tracepoint)
                .with_context(|| format!("attaching raw_tp {tracepoint}"))?;
            crate::verbose(|| format!("attached {name} to raw tracepoint {tracepoint}"));
        }
        Hook::BtfTracePoint => {
            let name = format!("{tracepoint}_btf");
            let id = btf.tracepoint_btf_id(tracepoint)?;
            let program: &mut BtfTracePoint = ebpf
                .program_mut(&name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            program
                .load_by_btf_id(id)
                .inspect_err(|err| crate::verbose(|| format!("loading {name} failed: {err:#}")))
                .with_context(|| format!("loading tp_btf {tracepoint}"))?;
            program
                .attach()
                .with_context(|| format!("attaching tp_btf {tracepoint}"))?;
            crate::verbose(|| format!("attached {name} to BTF tracepoint {tracepoint}"));
        }
    }
    Ok(())
}

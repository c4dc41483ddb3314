//! Called from each tool's `build.rs`: compiles the tool's eBPF crate for
//! `bpfel-unknown-none` with the nightly toolchain and bpf-linker, leaving
//! the object in `OUT_DIR` for `include_bytes_aligned!`.

use anyhow::{Context as _, Result, anyhow};

/// Builds the workspace package `package` (e.g. `biolatency-ebpf`).
pub fn build_ebpf(package: &str) -> Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("reading the workspace metadata")?;
    let ebpf = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == package)
        .ok_or_else(|| anyhow!("package {package} not found in the workspace"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("{package} has no manifest directory"))?;
    // aya-build watches the eBPF crate's directory; the shared crates it
    // compiles in (toolkit-kernel, toolkit-core) must trigger a rebuild too.
    println!(
        "cargo:rerun-if-changed={}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../kernel")
    );
    println!(
        "cargo:rerun-if-changed={}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../core")
    );
    aya_build::build_ebpf(
        [aya_build::Package {
            name: package,
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}

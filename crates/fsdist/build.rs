//! Compiles fsdist-ebpf (nightly, bpfel-unknown-none) and leaves its object in
//! OUT_DIR, where the userspace half embeds it.

fn main() -> anyhow::Result<()> {
    toolkit_build::build_ebpf("fsdist-ebpf")
}

fn main() -> anyhow::Result<()> {
    toolkit_build::build_ebpf("netdrop-ebpf")
}

fn main() -> anyhow::Result<()> {
    toolkit_build::build_ebpf("tcprtt-ebpf")
}

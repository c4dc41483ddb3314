fn main() -> anyhow::Result<()> {
    toolkit_build::build_ebpf("tcpretrans-ebpf")
}

fn main() -> anyhow::Result<()> {
    common_ebpf::build::build_ebpf("oomkill-ebpf")
}

#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test the toolkit:
# LLVM 22 (for bpf-linker), nightly rust-src (for -Z build-std=core on the
# eBPF side), bpf-linker, and the peers used as yardsticks in tests and
# benchmarks (libbpf-tools, bpftrace, bpftool, stress-ng, perf, gcc),
# QEMU for the kernel matrix (x86_64 and aarch64 guests, with the arm64
# cross linker), and Prometheus for the fleet test.
# Idempotent: a second run only checks.
set -euo pipefail

BPF_LINKER_VERSION=0.13.0
LLVM_MAJOR=22

log() { printf 'setup: %s\n' "$*" >&2; }

# The kernel matrix's arm64 guests: their kernels and userland are
# Debian's arm64 packages (downloaded, never installed).
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding arm64 to dpkg's architectures (the kernel matrix's arm64 guests)"
    dpkg --add-architecture arm64
    apt-get update -qq
fi

need_apt=()
[ -x /usr/lib/llvm-${LLVM_MAJOR}/bin/llvm-config ] || need_apt+=("llvm-${LLVM_MAJOR}-dev")
[ -x /usr/sbin/biolatency ] || need_apt+=(libbpf-tools)
command -v bpftool >/dev/null 2>&1 || need_apt+=(bpftool)
command -v stress-ng >/dev/null 2>&1 || need_apt+=(stress-ng)
command -v bpftrace >/dev/null 2>&1 || need_apt+=(bpftrace)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
command -v perf >/dev/null 2>&1 || need_apt+=(linux-perf)
# The network tools' tests: namespaces and veth pairs (iproute2), nft rules
# that drop (nftables), offloads off on the veth pairs (ethtool).
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v ethtool >/dev/null 2>&1 || need_apt+=(ethtool)
# A standard OpenMetrics parser, for the --openmetrics tests.
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || need_apt+=(python3-prometheus-client)
# A standard SVG renderer, for the --svg tests (the picture, rendered).
command -v rsvg-convert >/dev/null 2>&1 || need_apt+=(librsvg2-bin)
# The per-cgroup split's container test: a real OCI runtime.
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
# fsdist's tests: ext4 and XFS file systems on loop devices.
command -v mkfs.ext4 >/dev/null 2>&1 || need_apt+=(e2fsprogs)
command -v mkfs.xfs >/dev/null 2>&1 || need_apt+=(xfsprogs)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The kernel matrix (scripts/kernel-matrix.sh): QEMU, and a static busybox
# for the guests' initramfs. Without QEMU's recommends (a desktop's worth of
# GUI and audio libraries).
need_matrix=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_matrix+=(qemu-system-x86)
[ -x /bin/busybox ] || need_matrix+=(busybox-static)
command -v xz >/dev/null 2>&1 || need_matrix+=(xz-utils)
# The arm64 guests: QEMU's aarch64 emulator, and the cross linker and C
# library the tools and tests are cross-built with (docs/kernels.md).
command -v qemu-system-aarch64 >/dev/null 2>&1 || need_matrix+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_matrix+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if [ ${#need_matrix[@]} -gt 0 ]; then
    log "installing Debian packages for the kernel matrix: ${need_matrix[*]}"
    export DEBIAN_FRONTEND=noninteractive
    [ ${#need_apt[@]} -gt 0 ] || apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_matrix[@]}" >/dev/null
fi

# The fleet test (tests/fleet.rs): Debian's Prometheus and node_exporter,
# started by the test on 127.0.0.1 (not as services).
need_fleet=()
command -v prometheus >/dev/null 2>&1 || need_fleet+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need_fleet+=(prometheus-node-exporter)
if [ ${#need_fleet[@]} -gt 0 ]; then
    log "installing Debian packages for the fleet test: ${need_fleet[*]}"
    export DEBIAN_FRONTEND=noninteractive
    [ ${#need_apt[@]} -gt 0 ] || [ ${#need_matrix[@]} -gt 0 ] || apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_fleet[@]}" >/dev/null
fi

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    log "adding rust-src to the nightly toolchain"
    rustup component add rust-src --toolchain nightly
fi

if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^clippy'; then
    log "adding clippy to the nightly toolchain (lints the eBPF crates)"
    rustup component add clippy --toolchain nightly
fi

if ! bpf-linker --version 2>/dev/null | grep -q "${BPF_LINKER_VERSION}"; then
    log "building bpf-linker ${BPF_LINKER_VERSION} against LLVM ${LLVM_MAJOR} (about a minute)"
    LLVM_PREFIX=/usr/lib/llvm-${LLVM_MAJOR} cargo install bpf-linker \
        --version "${BPF_LINKER_VERSION}" --locked \
        --no-default-features --features "llvm-${LLVM_MAJOR}"
fi

# The yardsticks attach classic tracepoints, which need tracefs: libbpf-tools'
# syscount and bpftrace (tests and benchmarks; our tools do not). systemd
# mounts it at boot; a machine without it, or without debugfs (whose tracing
# directory mounts it when touched), gets it here.
if [ ! -e /sys/kernel/tracing/events ] && [ ! -e /sys/kernel/debug/tracing/events ]; then
    log "mounting tracefs at /sys/kernel/tracing"
    mount -t tracefs nodev /sys/kernel/tracing
fi
log "toolchain ready"

#!/usr/bin/env bash
# Sets up a fresh machine, builds everything, and runs every test: unit
# tests, CLI tests, and the root-only integration tests against the running
# kernel (they load real eBPF programs; they fail, never skip, without BPF),
# then the kernel matrix: the oracle checks on other kernels under QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo fmt --all --check
cargo build --release --locked
cargo clippy --release --locked --all-targets -- -D warnings
# The kernel halves too, as aya-build compiles them (nightly, bpf target).
mapfile -t ebpf_crates < <(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["packages"] if p["name"].endswith("-ebpf") or p["name"] in ("toolkit-kernel", "toolkit-core")))')
cargo +nightly clippy --release --locked --target bpfel-unknown-none -Z build-std=core \
    "${ebpf_crates[@]/#/-p=}" -- -D warnings
# The tools must be built before the integration tests run them.
cargo test --release --locked
# The oracle checks again on Debian's 6.1 and 6.12 kernels under QEMU, for
# x86_64 and arm64 (cross-built), and on this one, with both hook kinds;
# each arm64 kernel with one of them (--ci; about 35 minutes with the
# builds).
bash scripts/kernel-matrix.sh --ci

#!/usr/bin/env bash
# Sets up a fresh machine, builds everything, and runs every test: unit
# tests, CLI tests, and the root-only integration tests against the running
# kernel (they load real eBPF programs; they fail, never skip, without BPF).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo fmt --all --check
cargo build --release --locked
cargo clippy --release --locked --all-targets -- -D warnings
# The tools must be built before the integration tests run them.
cargo test --release --locked

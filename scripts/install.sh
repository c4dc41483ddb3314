#!/usr/bin/env bash
# Installs the tools listed in tools.txt, their man pages (section 8) and bash, zsh and fish
# completions under PREFIX (default /usr/local); with --uninstall, removes
# exactly those files. Man pages and completions are generated from each
# tool's clap definition (EBPF_TOOLKIT_GENERATE), so they match --help.
#
#   scripts/install.sh [--uninstall] [PREFIX]
#
# Builds with `cargo build --release --locked` unless the binaries are
# already built (set NO_BUILD=1 to insist on that). BIN_DIR=DIR installs the
# binaries built in DIR instead, unbuilt: on an arm64 machine, the
# cross-built target/aarch64-unknown-linux-gnu/release (docs/kernels.md).
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t TOOLS < tools.txt
uninstall=0
if [ "${1:-}" = --uninstall ]; then uninstall=1; shift; fi
prefix=${1:-/usr/local}

paths_of() { # tool -> installed paths
    printf '%s\n' \
        "$prefix/bin/$1" \
        "$prefix/share/man/man8/$1.8" \
        "$prefix/share/bash-completion/completions/$1" \
        "$prefix/share/zsh/site-functions/_$1" \
        "$prefix/share/fish/vendor_completions.d/$1.fish"
}

if [ $uninstall = 1 ]; then
    for tool in "${TOOLS[@]}"; do
        paths_of "$tool" | while read -r path; do rm -fv "$path"; done
    done
    command -v mandb >/dev/null && mandb -q 2>/dev/null || true
    exit 0
fi

if [ -z "${NO_BUILD:-}" ] && [ -z "${BIN_DIR:-}" ]; then
    cargo build --release --locked
fi
for tool in "${TOOLS[@]}"; do
    bin=${BIN_DIR:-target/release}/$tool
    [ -x "$bin" ] || { echo "install: $bin missing: cargo build --release" >&2; exit 1; }
    mapfile -t dest < <(paths_of "$tool")
    install -D -m 0755 "$bin" "${dest[0]}"
    gen() { EBPF_TOOLKIT_GENERATE=$1 "$bin"; }
    install -d "$(dirname "${dest[1]}")" "$(dirname "${dest[2]}")" \
        "$(dirname "${dest[3]}")" "$(dirname "${dest[4]}")"
    gen man > "${dest[1]}"
    gen bash > "${dest[2]}"
    gen zsh > "${dest[3]}"
    gen fish > "${dest[4]}"
    chmod 0644 "${dest[@]:1}"
    printf 'install: %s\n' "${dest[@]}"
done
# Refresh the man index where there is one (`man -k`); `man TOOL` works
# without it.
command -v mandb >/dev/null && mandb -q 2>/dev/null || true

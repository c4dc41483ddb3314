#!/usr/bin/env bash
# Per-event cost of eBPF programs, ours beside libbpf-tools', on one load.
#
#   bench/prog-cost.sh biolatency [ARGS...]
#   bench/prog-cost.sh runqlat [ARGS...]
#
# Starts our tool and its libbpf-tools twin at the same time, runs the
# tool's workload, and prints run_time_ns / run_cnt per program from the
# kernel's own accounting (kernel.bpf_stats_enabled=1).
set -euo pipefail
cd "$(dirname "$0")/.."
tool=$1; shift
ours=target/release/$tool
theirs=/usr/sbin/$tool
[ -x "$ours" ] || { echo "build first: cargo build --release" >&2; exit 1; }

prev_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${loopdev:-}" ] && losetup -d "$loopdev"
    rm -f "${img:-}"
    sysctl -qw kernel.bpf_stats_enabled="$prev_stats"
}
trap cleanup EXIT

workload() {
    case $tool in
    biolatency)
        img=$(mktemp /tmp/bench-XXXX.img); truncate -s 256M "$img"
        loopdev=$(losetup -f --show "$img")
        for _ in 1 2 3; do
            dd if=/dev/zero of="$loopdev" bs=4k count=20000 oflag=direct status=none
            dd if="$loopdev" of=/dev/null bs=4k count=20000 iflag=direct status=none
        done ;;
    runqlat)
        # Four CPU hogs on this 2-core machine: constant preemption and
        # run-queue waits, plus the machine's own wakeups.
        stress-ng --cpu 4 --timeout 10s --quiet ;;
    *) echo "no workload for $tool" >&2; exit 1 ;;
    esac
}

pids=()
"$ours" "$@" >/dev/null & pids+=($!)
stdbuf -oL "$theirs" "$@" >/dev/null & pids+=($!)
sleep 1
workload

progs_of() { # pid -> prog ids
    for fd in /proc/$1/fd/*; do
        [ "$(readlink "$fd")" = "anon_inode:bpf-prog" ] || continue
        awk '/^prog_id:/ {print $2}' "/proc/$1/fdinfo/${fd##*/}"
    done
}
printf '%-12s %-22s %12s %14s %10s\n' who program run_cnt run_time_ns ns/event
for who in ours libbpf-tools; do
    pid=${pids[0]}; [ $who = ours ] || pid=${pids[1]}
    for id in $(progs_of "$pid"); do
        bpftool prog show id "$id" --json | python3 -c '
import json, sys
p = json.load(sys.stdin); who = sys.argv[1]
cnt = p.get("run_cnt", 0); ns = p.get("run_time_ns", 0); name = p.get("name", "?")
if cnt: print(f"{who:<12} {name:<22} {cnt:>12} {ns:>14} {ns/cnt:>10.1f}")
' "$who"
    done
done

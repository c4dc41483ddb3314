#!/usr/bin/env bash
# Slowdown of a tight getppid loop (3 million calls) under each syscall
# tracer (syscount, syscount -L, syslat, memlat, and libbpf-tools' syscount),
# interleaved A B A B ... and reported as medians of ROUNDS runs, as ns per
# call, as the time each tracer adds per call, and as that added time
# relative to libbpf-tools' syscount -L.
#
#   bench/syscall-overhead.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
calls=3000000
ours=target/release/syscount
[ -x "$ours" ] || { echo "build first: cargo build --release" >&2; exit 1; }
# libbpf-tools' syscount attaches classic tracepoints, which need tracefs.
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/loop.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
C
gcc -O2 -o "$work/loop" "$work/loop.c"

declare -A tracers=(
    [none]=""
    [ours]="$ours"
    [ours_L]="$ours -L"
    [libbpf]="/usr/sbin/syscount"
    [libbpf_L]="/usr/sbin/syscount -L"
    [syslat]="target/release/syslat"
    [memlat]="target/release/memlat"
)
order=(none ours libbpf ours_L libbpf_L syslat memlat)
declare -A results
for ((r = 0; r < rounds; r++)); do
    for name in "${order[@]}"; do
        cmd=${tracers[$name]}
        if [ -n "$cmd" ]; then
            stdbuf -oL $cmd > "$work/out" 2>&1 &
            tracer=$!
            # Wait until attached: both print their banner after attaching.
            until grep -q Tracing "$work/out" 2>/dev/null; do sleep 0.05; done
        fi
        ns=$("$work/loop" $calls)
        results[$name]+="$ns "
        if [ -n "$cmd" ]; then kill -INT $tracer; wait $tracer 2>/dev/null || true; fi
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(echo ${results[none]} | median)
ref=$(echo ${results[libbpf_L]} | median)
printf '%-34s %10s %10s %12s %16s\n' "tracer ($calls getppid calls)" "ns/call" "ratio" "added ns" "added/libbpf -L"
for name in "${order[@]}"; do
    m=$(echo ${results[$name]} | median)
    awk -v m="$m" -v b="$base" -v r="$ref" -v cmd="${tracers[$name]:-no tracer}" \
        'BEGIN { printf "%-34s %10.1f %10.2f %12.1f %16.2f\n", cmd, m, m / b, m - b, (m - b) / (r - b) }'
done

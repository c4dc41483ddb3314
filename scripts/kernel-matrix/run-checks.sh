#!/bin/sh
# Runs the matrix's checks (checks.txt) with one hook kind, on whatever
# kernel this runs on: the host, or a guest booted by kernel-matrix.sh
# (busybox sh, hence POSIX sh). Prints two lines per check, one as it
# starts (which names the check a hung guest was running) and one with its
# result:
#   begin HOOK TOOL TEST
#   check HOOK TOOL TEST pass|fail SECONDS [first error line]
# Usage: run-checks.sh BINDIR CHECKS HOOK [TOOL...]
#   BINDIR  the tools' directory, with the test binaries in BINDIR/deps,
#           as TARGET-matrix (kernel-matrix.sh stages them so)
#   HOOK    tp_btf (EBPF_TOOLKIT_FORCE_TP_BTF) or raw_tp (EBPF_TOOLKIT_FORCE_RAW_TP)
set -u
bindir=$1 checks=$2 hook=$3
shift 3
# Each tool is forced onto one kind (without, most prefer raw_tp).
unset EBPF_TOOLKIT_FORCE_RAW_TP EBPF_TOOLKIT_FORCE_TP_BTF
case $hook in
tp_btf) export EBPF_TOOLKIT_FORCE_TP_BTF=1 ;;
raw_tp) export EBPF_TOOLKIT_FORCE_RAW_TP=1 ;;
*) echo "run-checks.sh: unknown hook kind '$hook'" >&2; exit 2 ;;
esac
log=${TMPDIR:-/tmp}/matrix-check.log
arch=$(uname -m)
grep -v '^#' "$checks" | while read -r tool target test only; do
    [ -n "$tool" ] || continue
    # only=ARCH: a check of something that architecture alone has.
    case ${only:-} in "" | "only=$arch") ;; *) continue ;; esac
    if [ $# -gt 0 ]; then
        case " $* " in *" $tool "*) ;; *) continue ;; esac
    fi
    bin=$bindir/deps/$target-matrix
    echo "begin $hook $tool $test"
    start=$(date +%s)
    if [ ! -x "$bin" ]; then
        result="fail" why="no test binary for $target in $bindir/deps"
    else
        # A check stuck in the kernel (uninterruptible: timeout cannot end
        # it) is shown with the kernel's list of blocked tasks.
        # Its sleep ends with it: a `sleep` left behind would wake during
        # a later check (runqlat -P counted one among the test's own).
        (
            sleep 240 </dev/null >/dev/null 2>&1 & # (not holding the output open)
            sleeper=$!
            trap 'kill $sleeper 2>/dev/null; exit 0' TERM
            wait $sleeper || exit 0
            echo "  | $test still running after 240 s; blocked tasks:"
            { echo w >/proc/sysrq-trigger; } 2>/dev/null
            dmesg 2>/dev/null | tail -n 80 | sed 's/^/  | /'
        ) &
        watchdog=$!
        timeout 300 "$bin" --exact "$test" --test-threads=1 >"$log" 2>&1
        kill "$watchdog" 2>/dev/null
    fi
    if [ -x "$bin" ] && grep -q '^test result: ok. 1 passed' "$log"; then
        result=pass why=
    elif [ -x "$bin" ]; then
        result=fail
        # The assertion's message follows "panicked at" (with assert_eq!'s
        # left and right after it); a test that never panicked
        # (killed, timed out, not found) has its last line instead.
        # assert_eq!'s values come first: its message may be long.
        why=$(sed -n '/panicked at/,/^note: /p' "$log" | sed '1d; /^note: /d; s/^ *//' |
            awk '/^(left|right):/ { lr = lr $0 " "; next } { msg = msg $0 " " } END { print lr msg }' |
            cut -c1-240)
        [ -n "$why" ] || why=$(grep -v '^$' "$log" | tail -n1)
        [ -n "$why" ] || why="no output (timed out after 300 s?)"
    fi
    echo "check $hook $tool $test $result $(($(date +%s) - start)) $why"
    # A failed test's own output, for the console log (kernel-matrix.sh
    # prints it under the table).
    [ "$result" = pass ] || tail -n 60 "$log" | sed 's/^/  | /'

done

#!/usr/bin/env python3
"""Overhead of every tool beside its libbpf-tools twin, the equivalent
bpftrace one-liner and a do-nothing program on the same hooks (the floor;
for the syscall latency tools also `floor --syscall-timing`, which times
every syscall per thread and records nothing: the least such a tool costs).

    bench/run.py [--rounds N] [--tools biolatency,runqlat,...] [--no-write]
    bench/run.py --compare ../before/target/release --tools biolatency

For each tool, in each round, the workload runs with no tracer and under
each tracer in turn, in an order that changes every round (a Williams
design: over as many rounds as runs, twice as many for an odd number, each
run comes in each place and right after each other run equally often; a
run's place and its predecessor bias it), 100 ms apart; medians over the
rounds are reported:

- per-event cost of each program: run_time_ns / run_cnt from the kernel's
  own accounting (kernel.bpf_stats_enabled=1), over the workload;
- the programs' own time per workload operation: all of the tracer's
  run_time_ns over the run, divided by the operations (free of the
  workload's scheduling noise, which the slowdown is not);
- workload slowdown: ns per operation against the no-tracer run (a getppid
  loop for the syscall tools, a two-thread pipe ping-pong for runqlat,
  O_DIRECT 4 KiB writes to a loop device for biolatency);
- time from exec to attached (the tool's banner line), peak RSS (VmHWM),
  binary size.

`--compare DIR` adds the tools as built in DIR (another checkout, say the
commit before a change) as one more tracer beside this build: an A/B of
the change, interleaved on the same workload.

usecheck, which loads six tools' programs at once, is measured on each of
their workloads beside those six tools run side by side.

Prints one table and writes it, with the machine and the command, to
docs/performance.md. Needs root; builds nothing (run `cargo build
--release` first).
"""

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workloads import (DIO_WRITES, GETPPID_CALLS, LOSSY_BYTES, NET_OPS, OOM_KILLS, OPS,
                       PINGPONG_LOOPS, RECLAIM_FILE_MIB, RECLAIM_LIMIT, Workloads)

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
LIBBPF = Path("/usr/sbin")

# Pause before each run: a tracer attached to a tracepoint within a grace
# period of the previous tracer's detaching from it waits for that grace
# period in the kernel (7-36 ms measured here back to back, none after a
# 20 ms pause), which would be charged to its exec-to-attached time.
SETTLE_S = 0.1

# bpftrace equivalents, on perf-event tracepoints (bpftrace 0.17 has no
# raw_tp probes), keeping what our tool keeps.
BT_BIOLATENCY = """
tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; }
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ {
  @usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000);
  delete(@start[args->dev, args->sector]);
}"""
BT_RUNQLAT = """
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qtime[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; }
  $ns = @qtime[args->next_pid];
  if ($ns) { @usecs = hist((nsecs - $ns) / 1000); }
  delete(@qtime[args->next_pid]);
}"""
BT_CPUDIST = """
tracepoint:sched:sched_switch {
  $ns = @start[cpu];
  if ($ns) { @usecs = hist((nsecs - $ns) / 1000); }
  if (args->next_pid != 0) { @start[cpu] = nsecs; } else { delete(@start[cpu]); }
}"""
BT_SYSCOUNT = "tracepoint:raw_syscalls:sys_exit { @[args->id] = count(); }"
BT_SYSCOUNT_L = """
tracepoint:raw_syscalls:sys_enter { @start[tid] = nsecs; }
tracepoint:raw_syscalls:sys_exit /@start[tid]/ {
  @[args->id] = stats(nsecs - @start[tid]); delete(@start[tid]);
}"""
BT_SYSLAT = """
tracepoint:raw_syscalls:sys_enter { @start[tid] = nsecs; }
tracepoint:raw_syscalls:sys_exit /@start[tid]/ {
  @[args->id] = hist(nsecs - @start[tid]); delete(@start[tid]);
}"""
MEM = "args->id == 9 || args->id == 11 || args->id == 12 || args->id == 25"
BT_MEMLAT = f"""
tracepoint:raw_syscalls:sys_enter /{MEM}/ {{ @start[tid] = nsecs; }}
tracepoint:raw_syscalls:sys_exit /({MEM}) && @start[tid]/ {{
  @[args->id] = hist(nsecs - @start[tid]); delete(@start[tid]);
  if (args->ret < 0) {{ @errors[args->id, -args->ret] = count(); }}
}}"""

BT_RECLAIM = """
tracepoint:vmscan:mm_vmscan_memcg_reclaim_begin { @start[tid] = nsecs; }
tracepoint:vmscan:mm_vmscan_memcg_reclaim_end /@start[tid]/ {
  @ns = hist(nsecs - @start[tid]); delete(@start[tid]);
}"""
BT_OOMKILL = """
tracepoint:oom:mark_victim { printf("OOM kill of %d by %d (%s)\\n", args->pid, pid, comm); }"""

BT_NETDROP = "tracepoint:skb:kfree_skb { @[args->reason] = count(); }"
BT_TCPRTT = "tracepoint:tcp:tcp_probe { @usecs = hist(args->srtt >> 3); }"
BT_TCPRETRANS = """
tracepoint:tcp:tcp_retransmit_skb { @[args->sport, args->dport] = count(); }"""

BT_SOFTIRQS = """
tracepoint:irq:softirq_entry { @start[cpu] = nsecs; }
tracepoint:irq:softirq_exit /@start[cpu]/ {
  @usecs[args->vec] = sum((nsecs - @start[cpu]) / 1000); delete(@start[cpu]);
}"""

# fsdist's read latency without its file system attribution (bpftrace
# 0.17 cannot follow the descriptor table): the read family's syscalls.
READS = "args->id == 0 || args->id == 17 || args->id == 19 || args->id == 295"
BT_FSDIST = f"""
tracepoint:raw_syscalls:sys_enter /{READS}/ {{ @start[tid] = nsecs; }}
tracepoint:raw_syscalls:sys_exit /@start[tid]/ {{
  @[args->id] = hist(nsecs - @start[tid]); delete(@start[tid]);
}}"""

SYS = ["sys_enter", "sys_exit"]
RECLAIM = ["mm_vmscan_memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_end"]
TOOLS = {
    "biolatency": dict(workload="dio", ours=["biolatency"], libbpf=["biolatency"],
                       bpftrace=BT_BIOLATENCY, hooks=["block_rq_issue", "block_rq_complete"]),
    "runqlat": dict(workload="pingpong", ours=["runqlat"], libbpf=["runqlat"],
                    bpftrace=BT_RUNQLAT,
                    hooks=["sched_wakeup", "sched_wakeup_new", "sched_switch"]),
    "syscount": dict(workload="getppid", ours=["syscount"], libbpf=["syscount"],
                     bpftrace=BT_SYSCOUNT, hooks=["sys_exit"]),
    "syscount -L": dict(workload="getppid", ours=["syscount", "-L"], libbpf=["syscount", "-L"],
                        bpftrace=BT_SYSCOUNT_L, hooks=SYS, timing_floor=True),
    "syslat": dict(workload="getppid", ours=["syslat"], libbpf=["syscount", "-L"],
                   bpftrace=BT_SYSLAT, hooks=SYS, timing_floor=True),
    "runqlat --percentiles": dict(workload="pingpong", ours=["runqlat", "--percentiles"],
                                  libbpf=["runqlat"], bpftrace=BT_RUNQLAT,
                                  hooks=["sched_wakeup", "sched_wakeup_new", "sched_switch"]),
    "syslat --percentiles": dict(workload="getppid", ours=["syslat", "--percentiles"],
                                 libbpf=["syscount", "-L"], bpftrace=BT_SYSLAT, hooks=SYS),
    # The metrics endpoint (issue 36: per-event cost unchanged), beside the
    # same log-linear recording without it in every round.
    "syslat --listen": dict(workload="getppid", ours=["syslat", "--listen", "127.0.0.1:0", "1"],
                            beside=[("syslat --percentiles", ["syslat", "--percentiles", "1"])],
                            libbpf=["syscount", "-L"], bpftrace=BT_SYSLAT, hooks=SYS),
    "memlat": dict(workload="getppid", ours=["memlat"], libbpf=["syscount", "-L"],
                   bpftrace=BT_MEMLAT, hooks=SYS),
    # The per-cgroup split, beside the same tool unsplit in every round
    # (issue 33: at most 1.3x the unsplit cost per hook, below libbpf-tools').
    "syscount -G": dict(workload="getppid", ours=["syscount", "-G"], unsplit=["syscount"],
                        libbpf=["syscount"], bpftrace=BT_SYSCOUNT, hooks=["sys_exit"]),
    "syslat -G": dict(workload="getppid", ours=["syslat", "-G"], unsplit=["syslat"],
                      libbpf=["syscount", "-L"], bpftrace=BT_SYSLAT, hooks=SYS,
                      timing_floor=True),
    "runqlat -G": dict(workload="pingpong", ours=["runqlat", "-G"], unsplit=["runqlat"],
                       libbpf=["runqlat"], bpftrace=BT_RUNQLAT,
                       hooks=["sched_wakeup", "sched_wakeup_new", "sched_switch"]),
    "netdrop -G": dict(workload="udp_noport", ours=["netdrop", "-G"], unsplit=["netdrop"],
                       libbpf=None, bpftrace=BT_NETDROP, hooks=["kfree_skb"]),
    "biolatency -G": dict(workload="dio", ours=["biolatency", "-G"], unsplit=["biolatency"],
                          libbpf=["biolatency"], bpftrace=BT_BIOLATENCY,
                          hooks=["block_rq_issue", "block_rq_complete"]),
    # No libbpf-tools twin: libbpf-tools has no reclaim tool, and its
    # oomkill needs a kprobe this kernel lacks.
    "memlat --reclaim": dict(workload="reclaim", ours=["memlat", "--reclaim"], libbpf=None,
                             bpftrace=BT_RECLAIM, hooks=RECLAIM),
    "oomkill": dict(workload="oom", ours=["oomkill"], libbpf=None, bpftrace=BT_OOMKILL,
                    hooks=["mark_victim"]),
    # libbpf-tools' tcprtt needs fentry or a kprobe; it has no tcpretrans
    # or drop counter: bpftrace and the floor are the yardsticks.
    "netdrop": dict(workload="udp_noport", ours=["netdrop"], libbpf=None, bpftrace=BT_NETDROP,
                    hooks=["kfree_skb"]),
    "tcprtt": dict(workload="tcp_pingpong", ours=["tcprtt"], libbpf=None, bpftrace=BT_TCPRTT,
                   hooks=["tcp_probe"]),
    "tcpretrans": dict(workload="tcp_lossy", ours=["tcpretrans", "-c"], libbpf=None,
                       bpftrace=BT_TCPRETRANS, hooks=["tcp_retransmit_skb"]),
    # libbpf-tools 0.26's softirqs: no -C, no -c; its default table.
    # libbpf-tools' cpudist records only preempted stretches (its histogram
    # update is skipped for a task that sleeps); ours records every one.
    "cpudist": dict(workload="pingpong", ours=["cpudist"], libbpf=["cpudist"],
                    bpftrace=BT_CPUDIST, hooks=["sched_switch"]),
    "softirqs": dict(workload="udp_noport", ours=["softirqs"], libbpf=["softirqs"],
                     bpftrace=BT_SOFTIRQS, hooks=["softirq_entry", "softirq_exit"]),
    "hardirqs": dict(workload="disk_reads", ours=["hardirqs"], libbpf=["hardirqs"], bpftrace=None,
                     hooks=["irq_handler_entry", "irq_handler_exit"]),
    # No libbpf-tools twin that runs here (its fsdist needs kprobes or
    # fentry): syslat on the same hooks beside it in every round (issue 34:
    # at most 1.5x syslat's per-event cost).
    "fsdist": dict(workload="cached_reads", ours=["fsdist"], beside=[("syslat", ["syslat"])],
                   libbpf=None, bpftrace=BT_FSDIST, hooks=SYS, timing_floor=True),
    "tcprtt -G": dict(workload="tcp_pingpong", ours=["tcprtt", "-G"], unsplit=["tcprtt"],
                      libbpf=None, bpftrace=BT_TCPRTT, hooks=["tcp_probe"]),
    "tcpretrans -c -G": dict(workload="tcp_lossy_long", ours=["tcpretrans", "-c", "-G"],
                             unsplit=["tcpretrans", "-c"], libbpf=None,
                             bpftrace=BT_TCPRETRANS, hooks=["tcp_retransmit_skb"]),
}

# usecheck loads the kernel halves of these tools together: its yardstick
# is them, run side by side, on each of their workloads (its cost must not
# exceed their sum).
USECHECK_GROUP = [["runqlat", "--percentiles"], ["memlat", "--reclaim"], ["oomkill"],
                  ["biolatency", "-D", "--percentiles"], ["netdrop", "-I"],
                  ["tcprtt", "-b", "--percentiles"]]
USECHECK_HOOKS = (["sched_wakeup", "sched_wakeup_new", "sched_switch"] + SYS
                  + ["block_rq_issue", "block_rq_requeue", "block_rq_complete", "kfree_skb",
                     "tcp_probe", "mark_victim"] + RECLAIM)
for _name, _workload in [("usecheck (scheduler)", "pingpong"), ("usecheck (syscalls)", "getppid"),
                         ("usecheck (block)", "dio"), ("usecheck (drops)", "udp_noport"),
                         ("usecheck (tcp)", "tcp_pingpong")]:
    TOOLS[_name] = dict(workload=_workload, ours=["usecheck"], libbpf=None, bpftrace=None,
                        group=USECHECK_GROUP, hooks=USECHECK_HOOKS)
GROUP = "the tools it stands for"

def prog_fds(pid: int) -> dict:
    """prog_id -> (run_time_ns, run_cnt, recursion_misses) of pid's programs."""
    out = {}
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            if os.readlink(fd) != "anon_inode:bpf-prog":
                continue
            info = dict(line.split(":", 1) for line in
                        Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines()
                        if ":" in line)
        except OSError:
            continue
        out[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)),
                                     int(info.get("recursion_misses", 0)))
    return out


def prog_name(prog_id: int) -> str:
    out = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)],
                         capture_output=True, text=True)
    m = re.search(r"name (\S+)", out.stdout)
    return m.group(1) if m else str(prog_id)


def hook_of(name: str, hooks: list) -> str:
    """Which hook a program serves, from its name (longest hook first)."""
    base = re.sub(r"_(btf|raw)$", "", name)
    base = re.sub(r"^(tracepoint_\w+?_|handle_)", "", base)
    for hook in sorted(hooks, key=len, reverse=True):
        if base == hook or base.endswith(hook):
            return hook
    for hook in sorted(hooks, key=len, reverse=True):
        if hook in name:
            return hook
    return name


def vm_kib(pid: int, field: str) -> int:
    """VmHWM (peak resident set) or VmRSS (resident now) of pid, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_traced(cmd: list, ready: str, workloads: Workloads, workload: str, hooks: list):
    """Starts cmd (or each command of a list of them), waits for its `ready`
    line, runs the workload once."""
    cmds = cmd if isinstance(cmd[0], list) else [cmd]
    start = time.perf_counter_ns()
    procs = []
    for one in cmds:
        proc = subprocess.Popen(one, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(proc)
        while True:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit(f"{one[0]} exited before attaching")
            if line.startswith(ready):
                break
    attach_ms = (time.perf_counter_ns() - start) / 1e6
    proc = procs[0]
    if cmd[0] == "bpftrace":
        time.sleep(1)  # it prints "Attaching" before it attaches
    before = {k: v for p in procs for k, v in prog_fds(p.pid).items()}
    ns_per_op = workloads.run(workload)
    after = {k: v for p in procs for k, v in prog_fds(p.pid).items()}
    # Side by side, the tools' memory adds up.
    rss = (sum(vm_kib(p.pid, "VmHWM") for p in procs), sum(vm_kib(p.pid, "VmRSS") for p in procs))
    # Names while the programs are still loaded. floor's are all "noop",
    # loaded one per hook in order.
    names = {prog_id: prog_name(prog_id) for prog_id in after}
    if names and all(n == "noop" for n in names.values()):
        names = dict(zip(sorted(names), hooks))
    elif cmd[0] == "bpftrace" and (len(set(names.values())) < len(names) == len(hooks)
                                   or len(names) == len(hooks) == 1):
        # Names cut to 15 characters can collide (tracepoint_vmsc...) or
        # lose the hook's name (tracepoint_tcp_): bpftrace loads its probes
        # in script order, which follows hooks.
        names = dict(zip(sorted(names), hooks))
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    per_prog = {}
    total_ns = 0
    for prog_id, (ns, cnt, _) in after.items():
        ns0, cnt0, _ = before.get(prog_id, (0, 0, 0))
        total_ns += ns - ns0
        if cnt > cnt0:
            per_prog[hook_of(names[prog_id], hooks)] = (ns - ns0) / (cnt - cnt0)
    return ns_per_op, per_prog, attach_ms, rss, total_ns / OPS[workload]


TIMING_FLOOR = "floor, syscall timing"


def tracers(tool: str, spec: dict, compare: Path = None) -> dict:
    out = {"ours": ([str(RELEASE / spec["ours"][0])] + spec["ours"][1:], "Tracing")}
    if compare is not None:
        # The same tool from another build, beside ours in every round: an
        # A/B of a change on the same workload.
        out[f"ours, {compare}"] = ([str(compare / spec["ours"][0])] + spec["ours"][1:],
                                   "Tracing")
    for label, cmd in spec.get("beside", []):
        out[label] = ([str(RELEASE / cmd[0])] + cmd[1:], "Tracing")
    if spec.get("unsplit"):
        out["ours, unsplit"] = ([str(RELEASE / spec["unsplit"][0])] + spec["unsplit"][1:],
                                "Tracing")
    if spec.get("libbpf"):
        label = "libbpf-tools " + " ".join(spec["libbpf"])
        out[label] = (["stdbuf", "-oL", str(LIBBPF / spec["libbpf"][0])] + spec["libbpf"][1:],
                      "Tracing")
    if spec.get("group"):
        out[GROUP] = ([[str(RELEASE / c[0])] + c[1:] for c in spec["group"]], "Tracing")
    if spec.get("bpftrace"):
        out["bpftrace"] = (["bpftrace", "-e", spec["bpftrace"]], "Attaching")
    out["floor"] = ([str(RELEASE / "floor")] + spec["hooks"], "Tracing")
    if spec.get("timing_floor"):
        # The least a per-thread syscall timer costs: task storage and the
        # clock at entry and exit, nothing recorded.
        out[TIMING_FLOOR] = ([str(RELEASE / "floor"), "--syscall-timing"], "Tracing")
    return out


def ordered(runs: list, r: int) -> list:
    """The runs of round `r` (0-based), in the order of row `r` of a
    Williams design: over len(runs) rounds (twice that for an odd number of
    runs) each run comes in each place, and right after each other run,
    equally often. A run's place and its predecessor bias it: with ours
    always first after the no-tracer run, the very same biolatency binary
    measured 163 ns per event there and 123 ns in the next place."""
    n = len(runs)
    first = [0]
    low, high = 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    row = [(i + r) % n for i in first]
    if n % 2 and (r // n) % 2:
        row.reverse()
    return [runs[i] for i in row]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    return "-" if v is None else f"{v:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help="comma-separated, from: " + ", ".join(TOOLS))
    parser.add_argument("--no-write", action="store_true", help="do not write docs/performance.md")
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="also run each tool as built in DIR (another checkout's "
                        "target/release), beside this build in every round; implies --no-write")
    args = parser.parse_args()
    if args.compare:
        args.no_write = True
        args.compare = args.compare.resolve()
    if os.geteuid() != 0:
        raise SystemExit("bench/run.py: run as root")
    tools = (ROOT / "tools.txt").read_text().split()
    for tool in tools + ["floor"]:
        for release in [RELEASE] + ([args.compare] if args.compare else []):
            if not (release / tool).exists():
                raise SystemExit(f"bench/run.py: {release / tool} missing: cargo build --release")
    # libbpf-tools' syscount and bpftrace attach perf-event tracepoints;
    # tracefs is unmounted again at the end if it was mounted here.
    mounted_tracefs = False
    if subprocess.run(["mountpoint", "-q", "/sys/kernel/tracing"]).returncode != 0:
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
        mounted_tracefs = True
    stats_before = Path("/proc/sys/kernel/bpf_stats_enabled").read_text().strip()
    Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1")
    selected = args.tools.split(",")
    results = {}  # (tool, tracer) -> lists
    with tempfile.TemporaryDirectory() as tmp:
        workloads = Workloads(Path(tmp))
        try:
            for r in range(args.rounds):
                for tool in selected:
                    spec = TOOLS[tool]
                    runs = [("none", (None, None))]
                    runs += tracers(tool, spec, args.compare).items()
                    for label, (cmd, ready) in ordered(runs, r):
                        time.sleep(SETTLE_S)
                        if cmd is None:
                            base = workloads.run(spec["workload"])
                            results.setdefault((tool, "none"), {"op": []})["op"].append(base)
                            continue
                        op, progs, attach, rss, prog_op = run_traced(
                            cmd, ready, workloads, spec["workload"], spec["hooks"])
                        entry = results.setdefault((tool, label),
                                                   {"op": [], "attach": [], "rss": [], "now": [],
                                                    "progs": {}, "prog_op": []})
                        entry["op"].append(op)
                        entry["prog_op"].append(prog_op)
                        entry["attach"].append(attach)
                        entry["rss"].append(rss[0])
                        entry["now"].append(rss[1])
                        for name, ns in progs.items():
                            entry["progs"].setdefault(name, []).append(ns)
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            workloads.close()
            Path("/proc/sys/kernel/bpf_stats_enabled").write_text(stats_before)
            if mounted_tracefs:
                subprocess.run(["umount", "/sys/kernel/tracing"], check=False)
    table = render(results, selected, args.rounds)
    print(table)
    if not args.no_write:
        write_doc(table, args)


def render(results, selected, rounds) -> str:
    sizes = {"ours": lambda t: RELEASE / TOOLS[t]["ours"][0],
             "floor": lambda t: RELEASE / "floor",
             TIMING_FLOOR: lambda t: RELEASE / "floor"}
    lines = [
        "| tool | tracer | per-event ns, by hook (ratio to libbpf-tools) | workload ns/op "
        "| ratio to no tracer | added ns/op (ratio to libbpf-tools) "
        "| program ns/op (ratio to libbpf-tools) | exec to attached, ms "
        "| peak RSS, MiB | RSS while tracing, MiB | binary, KiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tool in selected:
        base = med(results[(tool, "none")]["op"])
        twin = next((k for k in results if k[0] == tool
                     and (k[1].startswith("libbpf") or k[1] == GROUP)), None)
        twin_progs = {n: med(v) for n, v in results[twin]["progs"].items()} if twin else {}
        twin_added = med(results[twin]["op"]) - base if twin else None
        twin_prog_op = med(results[twin]["prog_op"]) if twin else None
        lines.append(f"| {tool} | none | | {fmt(base, 1)} | 1.00 | | | | | | |")
        for key in [k for k in results if k[0] == tool and k[1] != "none"]:
            entry = results[key]
            progs = []
            for hook in TOOLS[tool]["hooks"]:
                if hook not in entry["progs"]:
                    continue
                ns = med(entry["progs"][hook])
                ratio = ""
                if twin and key[1] != twin[1] and hook in twin_progs:
                    ratio = f" ({ns / twin_progs[hook]:.2f})"
                progs.append(f"{hook} {ns:.0f}{ratio}")
            op = med(entry["op"])
            added = op - base
            # Ratios of added time only where the twin's is clear of the noise
            # (the block and ping-pong workloads vary by more than a tracer
            # adds to them).
            clear = twin_added is not None and twin_added > 0.05 * base
            added_ratio = f" ({added / twin_added:.2f})" if clear and key != twin else ""
            prog_op = med(entry["prog_op"])
            prog_ratio = (f" ({prog_op / twin_prog_op:.2f})"
                          if twin_prog_op and key != twin else "")
            path = None
            if key[1] in sizes:
                path = sizes[key[1]](tool)
            elif key[1].startswith("libbpf"):
                path = LIBBPF / TOOLS[tool]["libbpf"][0]
            elif key[1] == "bpftrace":
                path = Path(subprocess.run(["which", "bpftrace"], capture_output=True,
                                           text=True).stdout.strip())
            size = fmt(path.stat().st_size / 1024) if path and path.exists() else "-"
            lines.append(
                f"| {tool} | {key[1]} | {'; '.join(progs)} | {op:.1f} | {op / base:.2f} "
                f"| {added:.1f}{added_ratio} | {fmt(prog_op, 1)}{prog_ratio} "
                f"| {fmt(med(entry['attach']), 1)} "
                f"| {fmt(med(entry['rss']) / 1024, 1)} | {fmt(med(entry['now']) / 1024, 1)} "
                f"| {size} |")
    return "\n".join(lines)


def write_doc(table: str, args):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal")), "0")
    command = "bench/run.py" + ("" if args.rounds == 5 else f" --rounds {args.rounds}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text() if doc.exists() else ""
    generated = f"""<!-- generated by bench/run.py: everything up to the end marker -->
## Results

Machine: {os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024} MiB RAM, kernel
{platform.release()}. Command: `{command}` (after `cargo build --release`),
{args.rounds} rounds, medians; run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}
on commit {commit}.
Workloads: `getppid` loop of {GETPPID_CALLS:,} calls (syscall tools),
`perf bench sched pipe -T -l {PINGPONG_LOOPS}` (runqlat), {DIO_WRITES:,}
O_DIRECT 4 KiB writes to a loop device (biolatency). For syslat and memlat,
which have no libbpf-tools twin, the reference is libbpf-tools'
`syscount -L` on the same hooks. For usecheck, the reference ("the tools
it stands for") is the six tools whose programs it loads, run side by side
on the same workload (`runqlat --percentiles`, `memlat --reclaim`,
`oomkill`, `biolatency -D --percentiles`, `netdrop -I`,
`tcprtt -b --percentiles`); their RSS is the sum of theirs.

{table}
<!-- end of generated results -->
"""
    if "<!-- generated by bench/run.py" in text:
        head = text.split("<!-- generated by bench/run.py")[0]
        tail = text.split("<!-- end of generated results -->\n", 1)[1] if \
            "<!-- end of generated results -->\n" in text else ""
        text = head + generated + tail
    else:
        text = "# Performance\n\n" + generated
    doc.write_text(text)
    print(f"wrote {doc.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

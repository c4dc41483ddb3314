"""The benchmark's workloads (bench/run.py runs them under each tracer): a
getppid loop, a pipe ping-pong, O_DIRECT writes to a loop device, memory
reclaim and OOM kills in a cgroup, and UDP and TCP traffic between two
network namespaces of their own; each returns ns per operation."""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GETPPID_CALLS = 2_000_000
PINGPONG_LOOPS = 20_000
CACHED_READS = 1_000_000
DIO_WRITES = 10_000

NET_OPS = 20_000
LOSSY_BYTES = 8 << 20
# tcpretrans -G's row: one connection long enough (about 130 retransmits)
# that what a split pays once per socket and CPU, its cgroup's id and name
# read at its first retransmit there (about 2 us), is not spread over the
# 17 or so of LOSSY_BYTES as if each retransmit paid a tenth of it.
LONG_LOSSY_BYTES = 64 << 20

RECLAIM_FILE_MIB = 64
RECLAIM_LIMIT = 16 << 20
OOM_KILLS = 5

# Operations per workload run, for the programs' own time per operation.
OPS = {"getppid": GETPPID_CALLS, "cached_reads": CACHED_READS, "pingpong": PINGPONG_LOOPS, "dio": DIO_WRITES,
       "disk_reads": DIO_WRITES,
       "reclaim": RECLAIM_FILE_MIB, "oom": OOM_KILLS, "udp_noport": NET_OPS,
       "tcp_pingpong": NET_OPS, "tcp_lossy": LOSSY_BYTES >> 20,
       "tcp_lossy_long": LONG_LOSSY_BYTES >> 20}

GETPPID_C = r"""
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
"""

# pread of 4 KiB at offset 0 of a cached file, argv[2] times: what the
# file system tools add to a read served from the page cache.
PREADS_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]);
    static char buf[4096];
    int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
    if (fd < 0 || pwrite(fd, buf, sizeof buf, 0) != sizeof buf) return 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) pread(fd, buf, sizeof buf, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"""


class Workloads:
    """The three workloads, each returning ns per operation."""

    def __init__(self, work: Path):
        self.work = work
        self.loop = None
        self.cgroups = []
        subprocess.run(["gcc", "-O2", "-o", work / "getppid", "-x", "c", "-"],
                       input=GETPPID_C, text=True, check=True)
        subprocess.run(["gcc", "-O2", "-o", work / "preads", "-x", "c", "-"],
                       input=PREADS_C, text=True, check=True)

    def run(self, name: str) -> float:
        return getattr(self, name)()

    def getppid(self) -> float:
        out = subprocess.run([self.work / "getppid", str(GETPPID_CALLS)],
                             capture_output=True, text=True, check=True)
        return float(out.stdout)

    def cached_reads(self) -> float:
        out = subprocess.run([self.work / "preads", self.work / "cached.bin", str(CACHED_READS)],
                             capture_output=True, text=True, check=True)
        return float(out.stdout)

    def pingpong(self) -> float:
        # Two threads waking each other through pipes: every loop is two
        # wakeups and two context switches.
        out = subprocess.run(["perf", "bench", "sched", "pipe", "-T", "-l", str(PINGPONG_LOOPS)],
                             capture_output=True, text=True, check=True)
        usecs = re.search(r"([\d.]+) usecs/op", out.stdout)
        return float(usecs.group(1)) * 1000

    def dio(self) -> float:
        if self.loop is None:
            img = self.work / "disk.img"
            with open(img, "wb") as f:
                f.truncate(256 << 20)
            self.loop = subprocess.run(["losetup", "-f", "--show", img], capture_output=True,
                                       text=True, check=True).stdout.strip()
        start = time.perf_counter_ns()
        subprocess.run(["dd", "if=/dev/zero", f"of={self.loop}", "bs=4k",
                        f"count={DIO_WRITES}", "oflag=direct", "status=none"], check=True)
        return (time.perf_counter_ns() - start) / DIO_WRITES

    def disk_reads(self) -> float:
        """O_DIRECT 4 KiB reads of a file on the work directory's real disk
        (not a loop device): one request, one completion interrupt each."""
        path = self.work / "reads.bin"
        if not path.exists():
            with open(path, "wb") as f:
                f.write(b"\x5a" * (DIO_WRITES * 4096))
                os.fsync(f.fileno())
        start = time.perf_counter_ns()
        subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=4k", f"count={DIO_WRITES}",
                        "iflag=direct", "skip=0", "status=none"], check=True)
        return (time.perf_counter_ns() - start) / DIO_WRITES

    def memcg(self, name: str, limit: int) -> Path:
        """A memory cgroup limited to `limit` bytes, in whichever hierarchy
        holds the memory controller (v1 here, v2 elsewhere)."""
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, right = line.split(" - ")
            point, fields = Path(left.split()[4]), right.split()
            v1 = fields[0] == "cgroup" and "memory" in fields[2].split(",")
            v2 = fields[0] == "cgroup2" and "memory" in \
                (point / "cgroup.controllers").read_text().split()
            if v1 or v2:
                path = point / f"{name}-{os.getpid()}"
                path.mkdir(exist_ok=True)
                (path / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(limit))
                self.cgroups.append(path)
                return path
        raise SystemExit("bench/run.py: no memory cgroup controller mounted")

    def in_cgroup(self, cgroup: Path, cmd: list):
        def join():
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        return subprocess.run(cmd, preexec_fn=join, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def reclaim(self) -> float:
        """Reads a file four times its memory cgroup's limit, its cached
        pages dropped first: memcg reclaim all along. ns per MiB read."""
        if not hasattr(self, "reclaim_cg"):
            self.reclaim_cg = self.memcg("bench-reclaim", RECLAIM_LIMIT)
            subprocess.run(["dd", "if=/dev/zero", f"of={self.work / 'big'}", "bs=1M",
                            f"count={RECLAIM_FILE_MIB}", "oflag=direct", "status=none"],
                           check=True)
        big = self.work / "big"
        subprocess.run(["dd", f"if={big}", "iflag=nocache", "count=0", "status=none"],
                       check=True)
        start = time.perf_counter_ns()
        self.in_cgroup(self.reclaim_cg, ["cat", str(big)])
        return (time.perf_counter_ns() - start) / RECLAIM_FILE_MIB

    def oom(self) -> float:
        """OOM_KILLS processes touching 64 MiB in a cgroup limited to
        8 MiB, each OOM-killed. ns per kill."""
        if not hasattr(self, "oom_cg"):
            self.oom_cg = self.memcg("bench-oom", 8 << 20)
        start = time.perf_counter_ns()
        for _ in range(OOM_KILLS):
            self.in_cgroup(self.oom_cg, [sys.executable, "-c", "b = bytearray(64 << 20)"])
        return (time.perf_counter_ns() - start) / OOM_KILLS

    def udp_noport(self) -> float:
        """UDP datagrams to a closed port on loopback: each one a NO_SOCKET
        drop. ns per datagram."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        start = time.perf_counter_ns()
        for _ in range(NET_OPS):
            s.sendto(b"x", ("127.0.0.1", port))
        ns = (time.perf_counter_ns() - start) / NET_OPS
        s.close()
        return ns

    def tcp_pingpong(self) -> float:
        """One-byte request/response round trips over loopback TCP: each a
        tcp_probe on either end. ns per round trip."""
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter_ns()
        for _ in range(NET_OPS):
            client.sendall(b"q")
            server.recv(1)
            server.sendall(b"r")
            client.recv(1)
        ns = (time.perf_counter_ns() - start) / NET_OPS
        for sock in (client, server, listener):
            sock.close()
        return ns

    def tcp_lossy(self, size: int = LOSSY_BYTES) -> float:
        """`size` bytes over TCP between two namespaces of the bench's own,
        the receiver's nftables dropping one data segment in 10: a
        retransmit each. ns per MiB."""
        if not hasattr(self, "netns"):
            tag = f"bench{os.getpid() % 100000}"
            self.netns = (f"{tag}-a", f"{tag}-b")
            a, b = self.netns
            script = f"""set -e
                ip netns add {a}; ip netns add {b}
                ip link add {tag}a netns {a} type veth peer name {tag}b netns {b}
                ip -n {a} addr add 10.234.0.1/24 dev {tag}a; ip -n {b} addr add 10.234.0.2/24 dev {tag}b
                ip -n {a} link set {tag}a up; ip -n {b} link set {tag}b up
                ip netns exec {b} nft add table inet bench
                ip netns exec {b} nft 'add chain inet bench input {{ type filter hook input priority 0 ; }}'
                ip netns exec {b} nft add rule inet bench input tcp dport 5201 meta length gt 200 numgen inc mod 10 == 0 drop"""
            subprocess.run(["sh", "-c", script], check=True)
        a, b = self.netns
        server = subprocess.Popen(
            ["ip", "netns", "exec", b, sys.executable, "-c",
             "import socket\nl = socket.create_server(('10.234.0.2', 5201))\nprint(flush=True)\n"
             "c, _ = l.accept()\nwhile c.recv(1 << 16): pass"],
            stdout=subprocess.PIPE, text=True)
        server.stdout.readline()
        start = time.perf_counter_ns()
        subprocess.run(["ip", "netns", "exec", a, sys.executable, "-c",
                        "import socket\ns = socket.create_connection(('10.234.0.2', 5201))\n"
                        f"s.sendall(bytes({size}))\ns.shutdown(socket.SHUT_WR)\ns.recv(1)"],
                       check=True)
        ns = (time.perf_counter_ns() - start) / (size >> 20)
        server.wait()
        return ns

    def tcp_lossy_long(self) -> float:
        """tcp_lossy with LONG_LOSSY_BYTES."""
        return self.tcp_lossy(LONG_LOSSY_BYTES)

    def close(self):
        for ns in getattr(self, "netns", ()):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], check=False)
        for cgroup in self.cgroups:
            for _ in range(100):
                try:
                    cgroup.rmdir()
                    break
                except OSError:
                    time.sleep(0.01)

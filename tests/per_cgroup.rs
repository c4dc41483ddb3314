//! `-G`/`--per-cgroup` against three cgroups v2, each running a workload
//! the test controls: each cgroup's row equals its own oracle (the child's
//! known calls, its schedstat), the split loses nothing the unsplit tool
//! counts. (A map overflow: per_cgroup_overflow.rs.)

use std::collections::BTreeMap;

use toolkit_tests::{
    BlockCgroup, LoopDevice, NetPair, Running, TestCgroup, ThreeCgroups, agent_switch_ins,
    assert_unloaded, biolatency_unaccounted, failing_mmaps, getppids, json_list, json_record,
    parse_log2_hists, parse_openmetrics, scratch, sleep_ns, syscount_rows,
};

/// getppid calls of the three children, and as many failing mmaps:
/// distinct primes, so that a row given another cgroup's calls shows.
const CALLS: [u64; 3] = [1009, 2003, 3001];

fn calls_a() {
    getppids(CALLS[0]);
    failing_mmaps(CALLS[0]);
}
fn calls_b() {
    getppids(CALLS[1]);
    failing_mmaps(CALLS[1]);
}
fn calls_c() {
    getppids(CALLS[2]);
    failing_mmaps(CALLS[2]);
}

/// `cgroup path -> sample count` of a histogram tool's JSON record.
fn histogram_counts(record: &serde_json::Value) -> BTreeMap<String, u64> {
    json_list(&record["histograms"])
        .map(|h| {
            let path = h["key"]["cgroup"].as_str().unwrap().to_string();
            (path, h["count"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn syscall_tools_count_each_cgroup_exactly() {
    let mut three = ThreeCgroups::new("split-syscalls", [calls_a, calls_b, calls_c]);
    let parent = three.parent.path.to_string_lossy().into_owned();
    let all = ["--max-cgroups", "1024"];
    let syscount = Running::start(
        "syscount",
        &[&["-G", "--syscall", "getppid", "--json"][..], &all].concat(),
    );
    let syslat = Running::start(
        "syslat",
        &[&["-G", "-s", "getppid", "--json"][..], &all].concat(),
    );
    let memlat = Running::start("memlat", &[&["-G", "--json"][..], &all].concat());
    // The oracle of the whole: the unsplit tool on the three's parent.
    let unsplit = Running::start(
        "syscount",
        &["-c", &parent, "--syscall", "getppid", "--json"],
    );
    let paths = three.paths();
    three.run_children();
    let counted = syscount_rows(&json_record(&syscount.stop()));
    let timed = histogram_counts(&json_record(&syslat.stop()));
    let memory = histogram_counts(&json_record(&memlat.stop()));
    let whole = json_record(&unsplit.stop());
    for (path, calls) in paths.iter().zip(CALLS) {
        assert_eq!(
            counted.get(path),
            Some(&calls),
            "syscount -G {path}: {counted:?}"
        );
        assert_eq!(timed.get(path), Some(&calls), "syslat -G {path}: {timed:?}");
        assert_eq!(
            memory.get(path),
            Some(&calls),
            "memlat -G {path}: {memory:?}"
        );
    }
    let total: u64 = json_list(&whole["rows"])
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, CALLS.iter().sum::<u64>(), "{whole}");
    drop(three);
}

/// fstat calls of the three children on a file each opens (one open
/// each besides): distinct primes, as above.
const FSTATS: [u64; 3] = [1009, 2003, 3001];

fn fstats(n: u64) {
    static mut STAT: [u8; 256] = [0; 256];
    // SAFETY: raw syscalls on the child's own descriptor and buffer.
    unsafe {
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/proc/self/stat".as_ptr(),
            libc::O_RDONLY,
        );
        for _ in 0..n {
            libc::syscall(libc::SYS_fstat, fd, &raw mut STAT);
        }
    }
}
fn fstats_a() {
    fstats(FSTATS[0]);
}
fn fstats_b() {
    fstats(FSTATS[1]);
}
fn fstats_c() {
    fstats(FSTATS[2]);
}

/// fsdist -G: each cgroup's file operations (its child's open and
/// fstats), exactly, by the calling task's cgroup.
#[test]
fn fsdist_splits_file_operations_by_the_callers_cgroup() {
    let mut three = ThreeCgroups::new("split-fs", [fstats_a, fstats_b, fstats_c]);
    let tool = Running::start("fsdist", &["-G", "--max-cgroups", "1024", "--json"]);
    let paths = three.paths();
    three.run_children();
    let counts = histogram_counts(&json_record(&tool.stop()));
    for (path, calls) in paths.iter().zip(FSTATS) {
        assert_eq!(
            counts.get(path),
            Some(&(calls + 1)),
            "fsdist -G {path}: {counts:?}"
        );
    }
    drop(three);
}

/// `--openmetrics` with -G: a series per cgroup, labelled `cgroup` (no
/// empty `container` or `pod_uid` label), read by Prometheus's own
/// parser, each cgroup's count its child's calls.
#[test]
fn openmetrics_has_a_series_per_cgroup() {
    let mut three = ThreeCgroups::new("split-openmetrics", [calls_a, calls_b, calls_c]);
    let paths = three.paths();
    let dir = scratch("split-openmetrics");
    let metrics = dir.join("syslat.prom");
    let metrics_arg = metrics.to_string_lossy().into_owned();
    let args = [
        "-G",
        "-s",
        "getppid",
        "--max-cgroups",
        "1024",
        "--openmetrics",
        &metrics_arg,
    ];
    let tool = Running::start("syslat", &args);
    three.run_children();
    tool.stop();
    let parser = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        if s.name == "syslat_latency_seconds_count":
            assert all(v != "" for v in s.labels.values()), s.labels
            out[s.labels["cgroup"]] = s.value
print(json.dumps(out))
"#;
    let exposed: BTreeMap<String, f64> =
        serde_json::from_str(&parse_openmetrics(parser, &metrics)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for (path, calls) in paths.iter().zip(CALLS) {
        assert_eq!(
            exposed.get(path).copied(),
            Some(calls as f64),
            "{exposed:?}"
        );
    }
    drop(three);
}

/// Sleeps 1 ms this many times: each wakeup is one run-queue wait.
const SLEEPS: [u32; 3] = [211, 409, 607];

fn sleeps_a() {
    (0..SLEEPS[0]).for_each(|_| sleep_ns(1_000_000));
}
fn sleeps_b() {
    (0..SLEEPS[1]).for_each(|_| sleep_ns(1_000_000));
}
fn sleeps_c() {
    (0..SLEEPS[2]).for_each(|_| sleep_ns(1_000_000));
}

/// runqlat's waits per cgroup against each child's schedstat switch-ins,
/// within runqlat's own bound (`assert_switch_ins` in tests/support:
/// never more, and fewer only by switch-ins the kernel fires no
/// `sched_switch` for: at most the agent's switch-ins over the span, or
/// 3%), in text and JSON at once.
#[test]
fn runqlat_splits_waits_by_the_cgroup_of_the_task_that_waited() {
    let mut three = ThreeCgroups::new("split-runqlat", [sleeps_a, sleeps_b, sleeps_c]);
    let paths = three.paths();
    let args = ["-G", "--max-cgroups", "1024", "--json"];
    let json = Running::start("runqlat", &args);
    let text = Running::start("runqlat", &["-G", "--max-cgroups", "1024"]);
    let mut switch_ins = Vec::new();
    let agent = agent_switch_ins();
    for child in three.children.drain(..) {
        let before = child.schedstat()[2];
        child.release();
        child.wait_exited();
        switch_ins.push(child.schedstat()[2] - before);
        child.reap();
    }
    let agent = agent_switch_ins() - agent;
    let counts = histogram_counts(&json_record(&json.stop()));
    let text = text.stop();
    let unseen = |got: u64, switched: u64| -> bool {
        let missed = switched - got;
        missed <= agent || missed * 100 <= switched * 3
    };
    let by_heading: BTreeMap<String, u64> = parse_log2_hists(&text)
        .into_iter()
        .map(|h| (h.header.clone(), h.total()))
        .collect();
    for ((path, switched), sleeps) in paths.iter().zip(&switch_ins).zip(SLEEPS) {
        assert!(
            *switched >= u64::from(sleeps),
            "{path}: {switched} switch-ins"
        );
        let got = counts.get(path).copied().unwrap_or(0);
        assert!(
            got <= *switched,
            "{path}: runqlat {got} > schedstat {switched}"
        );
        assert!(
            unseen(got, *switched),
            "{path}: runqlat {got}, schedstat {switched}, agent switch-ins {agent}"
        );
        let heading = format!("cgroup = {path}");
        let in_text = by_heading.get(&heading).copied().unwrap_or(0);
        assert!(
            in_text <= *switched && unseen(in_text, *switched),
            "{heading}: {in_text} of {switched}, agent switch-ins {agent}\n{text}"
        );
    }
    drop(three);
}

/// Joins the cgroup whose `cgroup.procs` is argv[1], then makes argv[3]
/// synchronous O_DIRECT writes of 4 KiB to the device argv[2], from block
/// argv[4] on: one block request each.
const DIRECT_WRITER: &str = r#"
import mmap, os, sys
with open(sys.argv[1], "w") as procs:
    procs.write(str(os.getpid()))
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_DIRECT)
block = mmap.mmap(-1, 4096)
first = int(sys.argv[4])
for i in range(int(sys.argv[3])):
    assert os.pwrite(fd, block, (first + i) * 4096) == 4096
os.close(fd)
"#;

/// biolatency -G: each request in the histogram of the block cgroup the
/// kernel charges it to, equal to that cgroup's own write counter
/// (`blkio.throttle.io_serviced` on this hybrid machine, `io.stat` on
/// pure v2), and to the writes its task made.
#[test]
fn biolatency_splits_io_by_the_block_cgroup() {
    let dev = LoopDevice::new(64);
    let dev_t = std::fs::read_to_string(format!("/sys/block/{}/dev", dev.name)).unwrap();
    let (major, minor) = dev_t.trim().split_once(':').unwrap();
    let (major, minor): (u32, u32) = (major.parse().unwrap(), minor.parse().unwrap());
    let cgroups: Vec<BlockCgroup> = ["io-a", "io-b", "io-c"]
        .iter()
        .map(|n| BlockCgroup::new(&format!("split-{n}")))
        .collect();
    for cgroup in &cgroups {
        cgroup.count_device(major, minor);
    }
    const WRITES: [u64; 3] = [101, 211, 307];
    let tool = Running::start(
        "biolatency",
        &["-G", "--max-cgroups", "1024", "-d", &dev.name, "--json"],
    );
    let mut first = 0;
    for (cgroup, writes) in cgroups.iter().zip(WRITES) {
        let procs = cgroup.path.join("cgroup.procs");
        let status = std::process::Command::new("python3")
            .args(["-c", DIRECT_WRITER])
            .arg(&procs)
            .args([dev.path(), writes.to_string(), first.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        first += writes;
    }
    dev.settle();
    let programs = tool.programs.clone();
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    let counts = histogram_counts(&json_record(&done.stdout));
    // Every request in its cgroup's histogram, but for completions the
    // kernel did not run the program for, which the tool reports on stderr
    // (docs/biolatency.md); the I/O has settled, so nothing is in flight.
    let mut missing = 0;
    for (cgroup, writes) in cgroups.iter().zip(WRITES) {
        let oracle = cgroup.writes(major, minor);
        assert_eq!(
            oracle, writes,
            "{}: the cgroup's own counter",
            cgroup.relative
        );
        let got = counts.get(&cgroup.relative).copied().unwrap_or(0);
        assert!(got <= oracle, "{}: {counts:?}", cgroup.relative);
        missing += oracle - got;
    }
    assert_eq!(
        missing,
        biolatency_unaccounted(&done.stderr),
        "{counts:?}\n{}",
        done.stderr
    );
}

/// Prints its pid and waits for a line on stdin (the test moves it into
/// its cgroup meanwhile: `ip netns exec` mounts its own /sys, without the
/// cgroup trees), then sends argv[3] UDP datagrams to argv[1]:argv[2],
/// which an nftables rule drops (on output, the send fails with EPERM).
const DROPPED_SENDER: &str = r#"
import os, socket, sys
print(os.getpid(), flush=True)
sys.stdin.readline()
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(n):
    try:
        s.sendto(b"x" * 64, (addr, port))
    except PermissionError:
        pass
"#;

/// Runs [`DROPPED_SENDER`] in `pair`'s namespace `a`, in `cgroup`.
fn send_dropped(pair: &NetPair, cgroup: &TestCgroup, port: &str, count: u64) {
    use std::io::{BufRead as _, Write as _};
    let count = count.to_string();
    let args = ["python3", "-c", DROPPED_SENDER, &pair.addr_b, port, &count];
    let mut sender = pair.spawn(&pair.a, &args);
    let mut pid = String::new();
    std::io::BufReader::new(sender.stdout.as_mut().unwrap())
        .read_line(&mut pid)
        .unwrap();
    cgroup.add(pid.trim().parse().unwrap());
    sender.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    assert!(sender.wait().unwrap().success());
}

/// netdrop -G: packets an nftables output rule drops, counted by the cgroup
/// of the socket that sent them, each cgroup's count its sender's
/// datagrams, and their sum the rule's own counter; packets dropped on the
/// receiver's input, before any socket, under `(no socket)`, as many as
/// that rule's counter.
#[test]
fn netdrop_splits_drops_by_the_sockets_cgroup() {
    let pair = NetPair::ipv4_only("split");
    pair.exec(&pair.a, &["nft", "add", "table", "inet", "tko"]);
    pair.exec(
        &pair.a,
        &[
            "nft",
            "add chain inet tko output { type filter hook output priority 0 ; policy accept ; }",
        ],
    );
    let port = toolkit_tests::UDP_PORT;
    pair.exec(
        &pair.a,
        &[
            "nft", "add", "rule", "inet", "tko", "output", "udp", "dport", port, "counter", "drop",
        ],
    );
    let parent = TestCgroup::new("split-netdrop");
    let cgroups: Vec<TestCgroup> = ["a", "b", "c"]
        .iter()
        .map(|n| TestCgroup::nested(&parent, n))
        .collect();
    const SENT: [u64; 3] = [101, 211, 307];
    let tool = Running::start(
        "netdrop",
        &[
            "-G",
            "-I",
            "--max-cgroups",
            "1024",
            "-r",
            "NETFILTER_DROP",
            "--json",
        ],
    );
    for (cgroup, sent) in cgroups.iter().zip(SENT) {
        send_dropped(&pair, cgroup, port, sent);
    }
    // Dropped on the receiver's input, before any socket took them.
    pair.input_rule(&["udp", "dport", "5557", "counter", "drop"]);
    send_dropped(&pair, &parent, "5557", 53);
    let record = json_record(&tool.stop());
    assert_eq!(pair.rule_packets(), 53);
    let rules = pair.exec(&pair.a, &["nft", "list", "chain", "inet", "tko", "output"]);
    let counter: u64 = rules
        .split("counter packets ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {rules}"));
    assert_eq!(counter, SENT.iter().sum::<u64>(), "{rules}");
    let count = |path: &str| -> u64 {
        json_list(&record["drops"])
            .filter(|d| d["cgroup"] == path && d["reason"] == "NETFILTER_DROP")
            .map(|d| d["count"].as_u64().unwrap())
            .sum()
    };
    for (cgroup, sent) in cgroups.iter().zip(SENT) {
        assert_eq!(
            count(&cgroup.relative()),
            sent,
            "{}: {record}",
            cgroup.relative()
        );
    }
    let no_socket: u64 = json_list(&record["drops"])
        .filter(|d| d["cgroup"] == "(no socket)" && d["interface"] == pair.dev_b.as_str())
        .map(|d| d["count"].as_u64().unwrap())
        .sum();
    assert_eq!(no_socket, 53, "{record}");
    drop(cgroups);
    drop(parent);
}

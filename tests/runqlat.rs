//! runqlat against the kernel's own run-queue accounting of a child:
//! /proc/PID/schedstat's second field (ns spent waiting on a run queue) and
//! third (times switched in).

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use toolkit_tests::{
    ForkedChild, Running, TestCgroup, agent_switch_ins, assert_switch_ins, assert_unloaded,
    json_list, monotonic_ns, parse_log2_hists, parse_openmetrics, pin_to_cpu, program_types,
    run_tool, scratch, sleep_ns, tool_path,
};

const SLEEPS: u32 = 1009;

/// saturated_cpu_waits_match_schedstat measures how long a spinner waits
/// behind CPU hogs; any other test's wakeups preempt it and cut those
/// waits short. So that test holds the CPUs alone, and the others share.
static CPUS: RwLock<()> = RwLock::new(());

fn cpus_alone() -> RwLockWriteGuard<'static, ()> {
    CPUS.write().unwrap_or_else(|e| e.into_inner())
}

fn cpus_shared() -> RwLockReadGuard<'static, ()> {
    CPUS.read().unwrap_or_else(|e| e.into_inner())
}

/// Sleeps 1 ms, SLEEPS times: each wakeup is one run-queue wait.
fn sleeper() {
    for _ in 0..SLEEPS {
        sleep_ns(1_000_000);
    }
}

/// Burns CPU for 1.5 s of wall time.
fn spinner() {
    let end = monotonic_ns() + 1_500_000_000;
    while monotonic_ns() < end {
        std::hint::spin_loop();
    }
}

/// Burns CPU until killed.
fn hog() {
    loop {
        std::hint::spin_loop();
    }
}

/// What runqlat saw of one child beside the schedstat deltas over the same
/// span: attach, release, exit (still a zombie), then stop the tool.
struct Traced {
    stdout: String,
    /// Deltas of [cpu time, run-queue wait, switch-ins].
    schedstat: [u64; 3],
    /// The agent's switch-ins over the same span (`assert_switch_ins`).
    agent: u64,
    pid: i32,
}

fn trace(workload: fn(), args: &[&str]) -> Traced {
    trace_in(workload, args, Setup::default())
}

/// Where the child runs, set before it is released.
#[derive(Default)]
struct Setup<'a> {
    /// Moved into this cgroup, which runqlat filters on (`-c`) rather
    /// than on the child's pid.
    cgroup: Option<&'a TestCgroup>,
    /// Pinned to this CPU: every wait of its run is on it.
    cpu: Option<usize>,
}

/// Like [`trace`], with the child set up as `setup` says.
fn trace_in(workload: fn(), args: &[&str], setup: Setup) -> Traced {
    let Setup { cgroup, cpu } = setup;
    let child = ForkedChild::named(c"rq-sleeper", workload);
    if let Some(cpu) = cpu {
        assert!(pin_to_cpu(child.pid, cpu), "pinning to CPU {cpu}");
    }
    let pid = child.pid.to_string();
    let cgroup_path = cgroup.map(|c| c.path.to_string_lossy().into_owned());
    let mut all = match &cgroup_path {
        Some(path) => {
            cgroup.unwrap().add(child.pid);
            vec!["-c", path.as_str()]
        }
        None => vec!["-p", &pid],
    };
    child.wait_blocked();
    all.extend_from_slice(args);
    let tool = Running::start("runqlat", &all);
    let (stdout, schedstat, agent) = release_and_stop(child, tool);
    Traced {
        stdout,
        schedstat,
        agent,
        pid: pid.parse().unwrap(),
    }
}

/// Releases the child, waits for it to exit, stops the tool with SIGINT,
/// and returns the tool's output and the child's schedstat deltas (run
/// time, run-queue wait, times scheduled in) over its run, with the agent's
/// switch-ins over the same span.
fn release_and_stop(child: ForkedChild, tool: Running) -> (String, [u64; 3], u64) {
    let programs = tool.programs.clone();
    let agent = agent_switch_ins();
    let before = child.schedstat();
    child.release();
    child.wait_exited();
    let after = child.schedstat();
    let agent = agent_switch_ins() - agent;
    let done = tool.signal(libc::SIGINT);
    child.reap();
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    (done.stdout, [0, 1, 2].map(|i| after[i] - before[i]), agent)
}

fn assert_within(what: &str, got: u64, want: u64, percent: u64) {
    let diff = got.abs_diff(want);
    eprintln!("{what}: runqlat {got}, reference {want}");
    assert!(
        diff * 100 <= want * percent,
        "{what}: runqlat {got}, reference {want} (more than {percent}% apart)"
    );
}

#[test]
fn sleeper_samples_match_schedstat_switch_ins() {
    let _cpus = cpus_shared();
    let traced = trace(sleeper, &[]);
    let hists = parse_log2_hists(&traced.stdout);
    assert_eq!(hists.len(), 1, "{}", traced.stdout);
    let samples = hists[0].total();
    let switch_ins = traced.schedstat[2];
    assert!(switch_ins >= u64::from(SLEEPS), "{switch_ins}");
    assert_switch_ins("samples", samples, switch_ins, traced.agent);
}

#[test]
fn saturated_cpu_waits_match_schedstat() {
    let _cpus = cpus_alone();
    // Three hogs beside the traced spinner: four runnable tasks, two CPUs.
    let hogs: Vec<ForkedChild> = (0..3).map(|_| ForkedChild::new(hog)).collect();
    for h in &hogs {
        h.release();
    }
    let traced = trace(spinner, &["--json"]);
    for h in hogs {
        h.kill();
    }
    let line = traced.stdout.lines().last().expect("no JSON output");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    let hist = &record["histograms"][0];
    let count = hist["count"].as_u64().unwrap();
    let sum = hist["sum"].as_u64().unwrap();
    let [_, wait_ns, switch_ins] = traced.schedstat;
    assert_switch_ins("samples", count, switch_ins, traced.agent);
    assert_within("total wait (ns)", sum, wait_ns, 10);
    // Waiting behind other CPU-bound tasks takes milliseconds: most
    // samples are at or above 1024 usecs.
    let slow: u64 = hist["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["low"].as_u64().unwrap() >= 1024)
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert!(
        slow * 2 > count,
        "{slow} of {count} samples >= 1 ms: {line}"
    );
}

#[test]
fn raw_tracepoint_fallback_counts_the_same() {
    let _cpus = cpus_shared();
    let child = ForkedChild::named(c"rq-sleeper", sleeper);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let tool = Running::start_env(
        &tool_path("runqlat").to_string_lossy(),
        &["-p", &pid],
        &[("EBPF_TOOLKIT_FORCE_RAW_TP", "1")],
    );
    let programs = tool.programs.clone();
    let types = program_types(&programs);
    assert!(
        types.len() == 2 && types.iter().all(|t| t == "raw_tracepoint"),
        "{types:?}"
    );
    let (stdout, schedstat, agent) = release_and_stop(child, tool);
    let hists = parse_log2_hists(&stdout);
    assert_eq!(hists.len(), 1, "{stdout}");
    assert_switch_ins("samples (raw_tp)", hists[0].total(), schedstat[2], agent);
}

#[test]
fn cgroup_filter_counts_only_its_tasks() {
    let _cpus = cpus_shared();
    let cgroup = TestCgroup::new("runqlat-test");
    let setup = Setup {
        cgroup: Some(&cgroup),
        ..Setup::default()
    };
    let traced = trace_in(sleeper, &["-L"], setup);
    let hists = parse_log2_hists(&traced.stdout);
    // Only the child runs in the cgroup.
    assert_eq!(hists.len(), 1, "{}", traced.stdout);
    assert_eq!(hists[0].header, format!("tid = {} rq-sleeper", traced.pid));
    assert_switch_ins(
        "samples (-c)",
        hists[0].total(),
        traced.schedstat[2],
        traced.agent,
    );
}

#[test]
fn groups_name_the_child() {
    let _cpus = cpus_shared();
    let child_ns = |pid: i32| {
        let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
        let link = link.to_string_lossy().into_owned();
        link.trim_start_matches("pid:[")
            .trim_end_matches(']')
            .to_string()
    };
    for (flag, label) in [("-P", "pid"), ("-L", "tid"), ("--pidnss", "pidns")] {
        let traced = trace(sleeper, &[flag]);
        let hists = parse_log2_hists(&traced.stdout);
        assert_eq!(hists.len(), 1, "{flag}: {}", traced.stdout);
        let key = if label == "pidns" {
            child_ns(std::process::id() as i32)
        } else {
            traced.pid.to_string()
        };
        assert_eq!(hists[0].header, format!("{label} = {key} rq-sleeper"));
        assert_switch_ins(flag, hists[0].total(), traced.schedstat[2], traced.agent);
    }
}

#[test]
fn same_text_as_libbpf_tools() {
    let _cpus = cpus_shared();
    let reference = "/usr/sbin/runqlat";
    assert!(
        std::path::Path::new(reference).exists(),
        "{reference} missing: scripts/setup.sh installs libbpf-tools"
    );
    let child = ForkedChild::named(c"rq-sleeper", sleeper);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let args = ["-P", "-p", &pid];
    let ours = Running::start("runqlat", &args);
    let theirs = Running::start_path(reference, &args);
    child.run_to_end();
    let ours = ours.signal(libc::SIGINT);
    let theirs = theirs.signal(libc::SIGINT);
    let (a, b) = (
        parse_log2_hists(&ours.stdout),
        parse_log2_hists(&theirs.stdout),
    );
    assert_eq!(a.len(), 1, "{}", ours.stdout);
    assert_eq!(b.len(), 1, "{}", theirs.stdout);
    assert_eq!(a[0].header, b[0].header);
    assert_within("samples vs libbpf-tools", a[0].total(), b[0].total(), 3);
    // Same text apart from the counts: banner, blank lines, bucket rows.
    let shape = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| match l.split_once(" : ") {
                Some((range, _)) if range.contains("->") => range.to_string(),
                _ => l.to_string(),
            })
            .collect()
    };
    let (sa, sb) = (shape(&ours.stdout), shape(&theirs.stdout));
    let common = sa.len().min(sb.len());
    assert_eq!(sa[..common], sb[..common]);
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let _cpus = cpus_shared();
    let missing = run_tool("runqlat", &["-p", "4194304"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        missing.stderr,
        "runqlat: error: process 4194304 not found\n"
    );
    let not_cgroup = run_tool("runqlat", &["-c", "/tmp"]);
    assert_eq!(not_cgroup.status.code(), Some(1));
    assert_eq!(
        not_cgroup.stderr,
        "runqlat: error: '/tmp' is not a cgroup v2 directory\n"
    );
    for args in [&["0"][..], &["1", "0"], &["-P", "-L"], &["-p", "x"]] {
        let out = run_tool("runqlat", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}");
    }
}

#[test]
fn interval_and_count_end_by_themselves() {
    let _cpus = cpus_shared();
    let tool = Running::start("runqlat", &["-T", "1", "2"]);
    let programs = tool.programs.clone();
    let done = tool.finish();
    assert!(done.status.success(), "{done:?}");
    // Two intervals, each a timestamp line and one histogram.
    assert_eq!(parse_log2_hists(&done.stdout).len(), 2, "{}", done.stdout);
    assert_unloaded(&programs);
}

/// `--percentiles` and `--openmetrics` on the sleeper: the JSON carries
/// percentiles between the exact min and max, and the OpenMetrics file
/// (parsed by the Prometheus project's parser) has the same count.
#[test]
fn percentiles_and_openmetrics_agree_with_json() {
    let _cpus = cpus_shared();
    let path = std::env::temp_dir().join(format!("runqlat-{}.prom", std::process::id()));
    let path_arg = path.to_string_lossy().into_owned();
    let traced = trace(
        sleeper,
        &["--json", "--percentiles", "--openmetrics", &path_arg],
    );
    let record: serde_json::Value =
        serde_json::from_str(traced.stdout.lines().last().unwrap()).unwrap();
    let hist = &record["histograms"][0];
    let count = hist["count"].as_u64().unwrap();
    assert_switch_ins("samples", count, traced.schedstat[2], traced.agent);
    let (min, max) = (hist["min"].as_f64().unwrap(), hist["max"].as_f64().unwrap());
    for p in ["p50", "p90", "p99", "p99.9"] {
        let v = hist["percentiles"][p].as_f64().unwrap();
        assert!(min <= v && v <= max, "{p} {v} outside [{min}, {max}]");
    }
    let parser = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        if s.name.endswith("_count"):
            print(int(s.value))
"#;
    let parsed = parse_openmetrics(parser, &path);
    assert_eq!(parsed.trim(), count.to_string());
}

/// `-P` names a process after its `exec`: 31 `sleep`s started from a shell
/// show under the name they exec'd, not as the shell they forked from.
/// Each sleeps after its exec, so each waits for a CPU at least once under
/// its new name when its timer wakes it. (`/bin/true` need not: its one
/// wait can come before the exec, and after it the process may run to its
/// exit without being queued again; one CI run saw 30 of 31.) The name is
/// the test's own (a link to `/bin/sleep`): other `sleep`s on the machine
/// wake when they will (one in a kernel-matrix guest made 32).
#[test]
fn per_process_names_follow_exec() {
    let _cpus = cpus_shared();
    let dir = scratch("rq-exec");
    let link = dir.join("rq-exec-sleep");
    std::os::unix::fs::symlink("/bin/sleep", &link).unwrap();
    let tool = Running::start("runqlat", &["-P", "--json"]);
    // argv[0] stays `sleep`, for busybox's sake; the name is the link's.
    let command = format!("(exec -a sleep {} 0.001)", link.display());
    toolkit_tests::exec_from_shell(31, &command);
    let done = tool.signal(libc::SIGINT);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(done.status.success(), "{done:?}");
    let record: serde_json::Value =
        serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
    let sleeps = json_list(&record["histograms"])
        .filter(|h| h["key"]["comm"] == "rq-exec-sleep")
        .count();
    assert_eq!(sleeps, 31, "{}", done.stdout);
}

/// Forks 200 children that exit at once, in a scratch cgroup, then prints
/// each one's pid and its schedstat (switch-ins, ns waited) as a zombie.
const FORK_CHILDREN: &str = r#"
import os, sys, time
sys.stdin.readline()
kids = []
for _ in range(200):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    kids.append(pid)
for pid in kids:
    while open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        time.sleep(0.001)
for pid in kids:
    fields = open(f"/proc/{pid}/schedstat").read().split()
    print(pid, fields[2], fields[1], flush=True)
for pid in kids:
    os.waitpid(pid, 0)
"#;

/// A task created while tracing waits for its first run from
/// `sched_wakeup_new`, where no program runs: runqlat reads that wait from
/// the kernel's own accounting at the task's first switch. So for every
/// child switched in once, the wait is schedstat's to the nanosecond; no
/// child has more waits than switch-ins, and switch-ins go unseen only as
/// `assert_switch_ins` says.
#[test]
fn new_tasks_first_waits_equal_schedstat() {
    let _cpus = cpus_shared();
    let cgroup = TestCgroup::new("rq-new");
    let mut helper = std::process::Command::new("python3")
        .args(["-c", FORK_CHILDREN])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    cgroup.add(helper.id() as i32);
    let path = cgroup.path.to_string_lossy().into_owned();
    let tool = Running::start("runqlat", &["-c", &path, "-P", "--json"]);
    use std::io::{BufRead, Write};
    let agent = agent_switch_ins();
    writeln!(helper.stdin.take().unwrap(), "go").unwrap();
    let children: Vec<[u64; 3]> = std::io::BufReader::new(helper.stdout.take().unwrap())
        .lines()
        .map(|l| {
            let f: Vec<u64> = l.unwrap().split(' ').map(|v| v.parse().unwrap()).collect();
            [f[0], f[1], f[2]]
        })
        .collect();
    assert!(helper.wait().unwrap().success());
    let agent = agent_switch_ins() - agent;
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    assert_eq!(children.len(), 200);
    let record: serde_json::Value =
        serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
    let seen = |pid: u64| -> (u64, u64) {
        json_list(&record["histograms"])
            .find(|h| h["key"]["pid"].as_u64() == Some(pid))
            .map_or((0, 0), |h| {
                (h["count"].as_u64().unwrap(), h["sum"].as_u64().unwrap())
            })
    };
    let (mut once, mut exact, mut waits, mut switch_ins) = (0, 0, 0, 0);
    for &[pid, pcount, run_delay] in &children {
        let (count, sum) = seen(pid);
        assert!(
            count <= pcount,
            "child {pid}: {count} waits, {pcount} switch-ins"
        );
        waits += count;
        switch_ins += pcount;
        if pcount == 1 && count == 1 {
            assert_eq!(sum, run_delay, "child {pid}'s one wait against schedstat");
            exact += 1;
        }
        once += u64::from(pcount == 1);
    }
    eprintln!(
        "{exact} of {once} children switched in once timed exactly; {waits} waits, {switch_ins} switch-ins"
    );
    assert_switch_ins("waits", waits, switch_ins, agent);
    assert!(exact * 100 >= once * 97, "{exact} of {once}");
}

/// `-C`: a histogram per CPU. A sleeper pinned to CPU 1 before it is
/// released waits on CPU 1 only (each of its 1009 sleeps), and all its
/// waits add up to schedstat's switch-ins (fewer only as
/// `assert_switch_ins` says).
#[test]
fn per_cpu_histograms_put_a_pinned_task_on_its_cpu() {
    let _cpus = cpus_shared();
    let setup = Setup {
        cpu: Some(1),
        ..Setup::default()
    };
    let traced = trace_in(sleeper, &["-C", "--json"], setup);
    let record: serde_json::Value =
        serde_json::from_str(traced.stdout.lines().last().unwrap()).unwrap();
    let hists: Vec<_> = json_list(&record["histograms"]).collect();
    let on = |cpu: u64| -> u64 {
        hists
            .iter()
            .filter(|h| h["key"]["cpu"] == cpu)
            .map(|h| h["count"].as_u64().unwrap())
            .sum()
    };
    // Pinned before its release, the child never waits elsewhere (pinning
    // itself once released, it could be preempted first: 3 waits on CPU 0
    // in one CI run).
    let total: u64 = hists.iter().map(|h| h["count"].as_u64().unwrap()).sum();
    assert_eq!(total, on(1), "{record}");
    assert_switch_ins("samples", total, traced.schedstat[2], traced.agent);
    // Not `on(1) >= SLEEPS`: a sleep whose timer fires before the task has
    // switched out (the VM's vCPU stolen by the host for over a
    // millisecond) leaves it on the run queue, with no wait to count and
    // no switch-in for schedstat either.
    assert!(on(1) * 100 >= u64::from(SLEEPS) * 97, "{record}");
}

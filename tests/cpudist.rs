//! cpudist against the kernel's own accounting of a child: its switch-ins
//! and time on a CPU in /proc/PID/schedstat, its switch-outs in
//! /proc/PID/status.

use toolkit_tests::{
    ForkedChild, Running, agent_switch_ins, assert_switch_ins, json_list, monotonic_ns,
    parse_log2_hists, run_tool, sleep_ns,
};

const ROUNDS: u64 = 307;

/// Runs about 200 us, then sleeps 1 ms, ROUNDS times: a stretch on a CPU
/// and one off it per round (more when the run is preempted).
fn runner() {
    for _ in 0..ROUNDS {
        let end = monotonic_ns() + 200_000;
        while monotonic_ns() < end {
            std::hint::spin_loop();
        }
        sleep_ns(1_000_000);
    }
}

/// What cpudist saw of one run of [`runner`] beside the kernel's counts
/// over the same span: attach, release, exit and last switch out, stop.
struct Traced {
    stdout: String,
    stderr: String,
    /// Deltas of schedstat's time on CPU (ns) and switch-ins.
    run_ns: u64,
    switch_ins: u64,
    /// The agent's switch-ins over the span (`assert_switch_ins`).
    agent: u64,
    /// The machine's steal time over the span, ns.
    steal_ns: u64,
    pid: i32,
}

fn trace(args: &[&str]) -> Traced {
    let child = ForkedChild::named(c"cpu-runner", runner);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let mut all = vec!["-p", pid.as_str()];
    all.extend_from_slice(args);
    let tool = Running::start("cpudist", &all);
    let programs = tool.programs.clone();
    let agent = agent_switch_ins();
    let steal = steal_ns();
    let before = child.schedstat();
    child.release();
    child.wait_exited();
    child.wait_last_switch_out();
    let after = child.schedstat();
    let agent = agent_switch_ins() - agent;
    let steal_ns = steal_ns() - steal;
    let done = tool.signal(libc::SIGINT);
    child.reap();
    assert!(done.status.success(), "{done:?}");
    toolkit_tests::assert_unloaded(&programs);
    Traced {
        stdout: done.stdout,
        stderr: done.stderr,
        run_ns: after[0] - before[0],
        switch_ins: after[2] - before[2],
        agent,
        steal_ns,
        pid: pid.parse().unwrap(),
    }
}

/// The one histogram of the last JSON record: (count, sum in ns, buckets).
fn json_hist(stdout: &str) -> (u64, u64, Vec<serde_json::Value>) {
    let line = stdout.lines().last().expect("no JSON output");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    let hists: Vec<&serde_json::Value> = json_list(&record["histograms"]).collect();
    assert_eq!(hists.len(), 1, "{stdout}");
    let hist = hists[0];
    (
        hist["count"].as_u64().unwrap(),
        hist["sum"].as_u64().unwrap(),
        json_list(&hist["buckets"]).cloned().collect(),
    )
}

/// The machine's steal time so far, in ns (/proc/stat's `cpu` line, in
/// USER_HZ ticks of 10 ms).
fn steal_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu = stat.lines().next().unwrap();
    let ticks: u64 = cpu.split_whitespace().nth(8).unwrap().parse().unwrap();
    ticks * 10_000_000
}

/// On-CPU: one stretch per switch-in of the child (its last ends at its
/// exit), and together the time schedstat says it ran, within two causes
/// that each have a bound: the scheduler's clock is read before the
/// `sched_switch` event where cpudist stamps a stretch's end, and for a
/// task woken on an idle CPU at the wakeup, before the CPU leaves idle
/// (measured here: up to 7.4 us a stretch under load; 20 us allowed); and
/// the scheduler leaves out steal time (a VM's vCPU not running), which
/// cpudist's clock counts, bounded by /proc/stat's steal over the run (to
/// a tick per CPU).
#[test]
fn on_cpu_stretches_match_schedstat() {
    let traced = trace(&["--json"]);
    let (count, sum, _) = json_hist(&traced.stdout);
    assert!(traced.switch_ins >= ROUNDS, "{}", traced.switch_ins);
    assert_switch_ins("stretches", count, traced.switch_ins, traced.agent);
    // A stretch the kernel fired no switch-in event for is reported.
    let unseen = traced.switch_ins - count;
    if unseen > 0 {
        assert!(
            traced
                .stderr
                .contains("switched in without a sched_switch event"),
            "{unseen} stretches unseen and not reported: {}",
            traced.stderr
        );
    } else {
        // Every stretch seen: the totals agree.
        let cpus = std::thread::available_parallelism().unwrap().get() as u64;
        let bound = 20_000 * count + traced.steal_ns + cpus * 10_000_000 * 2;
        eprintln!("on-CPU ns: cpudist {sum}, schedstat {}", traced.run_ns);
        assert!(
            sum.abs_diff(traced.run_ns) <= bound,
            "cpudist {sum} ns on CPU, schedstat {}: more than {bound} apart",
            traced.run_ns
        );
    }
    // Each round runs 200 us: at least that much in all.
    assert!(sum >= ROUNDS * 200_000, "{sum}");
}

/// Off-CPU (`-O`): one stretch per switch-in but the first (the child was
/// switched out before tracing began), each sleep at least 1 ms off.
#[test]
fn off_cpu_stretches_are_the_sleeps() {
    let traced = trace(&["-O", "--json"]);
    let (count, _, buckets) = json_hist(&traced.stdout);
    assert_switch_ins("stretches", count, traced.switch_ins - 1, traced.agent);
    // The sleeps (1 ms or more: the 512-1023 us bucket and up) are most of
    // them; preemptions add shorter ones.
    let long: u64 = buckets
        .iter()
        .filter(|b| b["low"].as_u64().unwrap() >= 512)
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert!(long * 2 > count, "{long} of {count}: {}", traced.stdout);
}

/// `-L`: libbpf-tools' text, the child's histogram headed with its tid and
/// name.
#[test]
fn per_thread_text_is_libbpf_tools_layout() {
    let traced = trace(&["-L"]);
    let hists = parse_log2_hists(&traced.stdout);
    assert_eq!(hists.len(), 1, "{}", traced.stdout);
    assert_eq!(
        hists[0].header,
        format!("tid = {} cpu-runner", traced.pid),
        "{}",
        traced.stdout
    );
    assert!(
        traced
            .stdout
            .contains("     usecs               : count    distribution\n"),
        "{}",
        traced.stdout
    );
}

/// The banners, on and off the CPU.
#[test]
fn banners_are_libbpf_tools() {
    for (args, banner) in [
        (
            &["0.1", "1"][..],
            "Tracing on-CPU time... Hit Ctrl-C to end.",
        ),
        (
            &["-O", "0.1", "1"],
            "Tracing off-CPU time... Hit Ctrl-C to end.",
        ),
    ] {
        let out = run_tool("cpudist", args);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout.lines().next(), Some(banner));
    }
}

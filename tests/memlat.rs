//! memlat against a child that makes known mmap, munmap and failing calls.

use toolkit_tests::{
    ForkedChild, Running, TestCgroup, counts_in, json_list, mmap_anonymous, parse_log2_hists,
    parse_openmetrics, pin_to_cpu, read_big_file, run_tool, trace_forked, write_big_file,
};

const PAIRS: u64 = 1009;
const FAILED: u64 = 7;
const LEN: usize = 64 * 1024;

/// PAIRS mmap + munmap of 64 KiB, then FAILED zero-length mmaps (EINVAL).
fn workload() {
    for _ in 0..PAIRS {
        let addr = mmap_anonymous(LEN);
        // SAFETY: unmapping the mapping just made.
        unsafe { libc::syscall(libc::SYS_munmap, addr, LEN) };
    }
    for _ in 0..FAILED {
        mmap_anonymous(0);
    }
}

fn trace_child(workload: fn(), args: &[&str]) -> String {
    trace_forked("memlat", workload, args)
}

#[test]
fn counts_calls_failures_and_sizes_exactly() {
    let out = trace_child(workload, &["--size"]);
    let hists = parse_log2_hists(&out);
    let total = |header: &str| {
        hists
            .iter()
            .find(|h| h.header == header)
            .unwrap_or_else(|| panic!("no '{header}' in {out}"))
    };
    assert_eq!(total("syscall = mmap").total(), PAIRS + FAILED, "{out}");
    assert_eq!(total("syscall = munmap").total(), PAIRS, "{out}");
    assert!(out.contains("count = 1016, mean = "), "{out}");
    let failed: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("FAILED"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(failed.len(), 1, "{out}");
    let cols: Vec<&str> = failed[0].split_whitespace().collect();
    assert_eq!(cols, ["mmap", "EINVAL", "7"], "{out}");
    // Requested lengths: 1009 of 64 KiB (slot 16: 65536 -> 131071), and
    // the 7 zero-length ones in slot 0.
    let sizes = total("size = mmap");
    assert_eq!(sizes.counts[16], PAIRS, "{out}");
    assert_eq!(sizes.counts[0], FAILED, "{out}");
    assert_eq!(sizes.total(), PAIRS + FAILED, "{out}");
}

#[test]
fn json_carries_the_same_counts() {
    let out = trace_child(workload, &["--json", "--size"]);
    let record: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let count = |field: &str, name: &str| {
        record[field]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["key"]["syscall"] == name)
            .map(|h| h["count"].as_u64().unwrap())
    };
    assert_eq!(count("histograms", "mmap"), Some(PAIRS + FAILED), "{out}");
    assert_eq!(count("histograms", "munmap"), Some(PAIRS), "{out}");
    assert_eq!(count("sizes", "mmap"), Some(PAIRS + FAILED), "{out}");
    assert_eq!(
        record["errors"],
        serde_json::json!([{ "syscall": "mmap", "errno": "EINVAL", "count": FAILED }])
    );
}

#[test]
fn other_syscalls_are_not_traced() {
    fn other() {
        for _ in 0..1000 {
            // SAFETY: no arguments.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
    }
    let child = ForkedChild::new(other);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let tool = Running::start("memlat", &["-p", &pid]);
    child.run_to_end();
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    assert!(parse_log2_hists(&done.stdout).is_empty(), "{}", done.stdout);
    assert!(
        done.stdout.contains("failed calls: none"),
        "{}",
        done.stdout
    );
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let missing = run_tool("memlat", &["-p", "4194304"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(missing.stderr, "memlat: error: process 4194304 not found\n");
    for args in [&["0"][..], &["-m", "-n"], &["-p", "-1"], &["x"]] {
        let out = run_tool("memlat", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}");
    }
}

#[test]
fn percentiles_bin_every_call() {
    let out = trace_child(workload, &["--percentiles", "--json"]);
    let record: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let mmap = json_list(&record["histograms"])
        .find(|h| h["key"]["syscall"] == "mmap")
        .unwrap();
    let binned = counts_in(mmap, "loglinear");
    // The kernel's allocator can refuse the per-CPU memory of a new
    // log-linear histogram (6.1's bpf_mem_alloc cache holds one element
    // per CPU and refills asynchronously: seen under QEMU, tens of samples
    // in a row, mmap's and munmap's alike); such samples are counted under
    // that reason, for all syscalls together. Every mmap not binned must
    // be among them.
    let refused = record["lost"]["no kernel memory for a new log-linear histogram"]
        .as_u64()
        .unwrap();
    assert!(binned <= PAIRS + FAILED, "{out}");
    assert!(
        PAIRS + FAILED - binned <= refused,
        "{binned} binned, {refused} refused: {out}"
    );
    if refused == 0 {
        assert_eq!(binned, PAIRS + FAILED, "{out}");
    }
    let (min, max) = (mmap["min"].as_f64().unwrap(), mmap["max"].as_f64().unwrap());
    let p50 = mmap["percentiles"]["p50"].as_f64().unwrap();
    assert!(min <= p50 && p50 <= max, "{out}");
}

/// `--openmetrics` with `--size` carries what the text shows: the failed
/// calls per errno as a counter and the requested sizes as a histogram,
/// read back with the Prometheus project's parser.
#[test]
fn openmetrics_carries_failures_and_sizes() {
    let path = std::env::temp_dir().join(format!("memlat-{}.prom", std::process::id()));
    let path_arg = path.to_string_lossy().into_owned();
    trace_child(workload, &["--size", "--openmetrics", &path_arg]);
    let parser = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        if s.name == "memlat_failures_total":
            out["failed " + s.labels["syscall"] + " " + s.labels["errno"]] = s.value
        if s.name == "memlat_request_size_bytes_count":
            out["sizes " + s.labels["syscall"]] = s.value
        if s.name == "memlat_request_size_bytes_bucket" and s.labels["le"] != "+Inf" and float(s.labels["le"]) == 131072:
            out["sizes le 128 KiB " + s.labels["syscall"]] = s.value
        if s.name == "memlat_latency_seconds_count":
            out["calls " + s.labels["syscall"]] = s.value
print(json.dumps(out, sort_keys=True))
"#;
    let parsed = parse_openmetrics(parser, &path);
    let got: serde_json::Value = serde_json::from_str(&parsed).unwrap();
    assert_eq!(got["failed mmap EINVAL"], FAILED as f64, "{got}");
    assert_eq!(got["calls mmap"], (PAIRS + FAILED) as f64, "{got}");
    assert_eq!(got["calls munmap"], PAIRS as f64, "{got}");
    assert_eq!(got["sizes mmap"], (PAIRS + FAILED) as f64, "{got}");
    assert_eq!(
        got["sizes le 128 KiB mmap"],
        (PAIRS + FAILED) as f64,
        "{got}"
    );
}

/// PSI's `some` total of memory stalls, in microseconds, from a cgroup's
/// `memory.pressure` file.
fn psi_memory_some_us(file: &std::path::Path) -> u64 {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("some "))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("total=")))
        .unwrap()
        .parse()
        .unwrap()
}

/// `--reclaim -P`: a process reading a file four times its memory cgroup's
/// limit stalls in memory-cgroup reclaim (no swap here: page cache is what
/// reclaim frees). Oracles: the number of times the cgroup hit its limit
/// (exactly, under v2), the stall time PSI saw in the process's own cgroup,
/// and the same read without a limit, which shows no reclaim.
#[test]
fn reclaim_stalls_of_a_process_at_its_memcg_limit() {
    let path = write_big_file("toolkit-reclaim");
    let Reclaim {
        count,
        total_ns,
        all_memcg,
        psi_us,
        hits,
        v2,
        elapsed,
        record,
    } = reclaim_run(true);
    eprintln!(
        "limited: {count} stalls, {total_ns} ns; PSI some +{psi_us} us; \
         limit hit {hits} times; {elapsed:?}"
    );
    assert!(count > 0 && all_memcg, "{record}");
    // Under v2, memory.events `max` counts each reclaim of the charge path,
    // once, just before it. Under v1, memory.failcnt counts failed charges,
    // and a failed batch charge is retried for the single page before
    // reclaim: more hits than stalls (measured 4595 for 414 stalls).
    if v2 {
        assert_eq!(count, hits, "stalls against memory.events max");
    } else {
        assert!(hits >= count, "{hits} limit hits for {count} stalls");
    }
    // PSI's memstall section in the charge path encloses the window between
    // memcg_reclaim_begin and _end. Below, the tool's total may exceed PSI's
    // only by PSI's truncation to microseconds, the monotonic clock's NTP
    // slew against PSI's sched_clock (at most 500 ppm), and, on a run
    // longer than PSI's 2 s aggregation period, one jiffy (at most 10 ms)
    // that an aggregation with under a jiffy of non-idle time drops.
    let period_loss = if elapsed.as_secs() >= 2 {
        10_000_000
    } else {
        0
    };
    assert!(
        total_ns <= psi_us * 1000 + 1000 + total_ns / 2000 + period_loss,
        "{total_ns} ns of {count} stalls above PSI's {psi_us} us"
    );
    // Above, PSI's section is wider by fixed work per stall: PSI's own
    // bookkeeping under the run-queue lock, the scan's setup, our programs.
    // Natively here that is 0.25-0.39 us per stall; 2 us are allowed. This
    // bound is what catches missed stalls under v1, whose failcnt does not
    // count them. Under v2 the count is exact, and the bound only needs to
    // catch mistimed stalls; it is looser because the v2 machine here is the
    // kernel matrix's QEMU guest, where the emulated bookkeeping took 8.5-14
    // us per stall, and up to 40 us when the host descheduled a virtual CPU
    // inside it (PSI 19% above the tool's total): PSI may be up to half as
    // much again as the tool's total.
    if v2 {
        assert!(
            psi_us * 1000 <= total_ns + total_ns / 2,
            "PSI {psi_us} us above 1.5x the {total_ns} ns of {count} reclaim stalls"
        );
    } else {
        assert!(
            psi_us * 1000 <= total_ns + count * 2_000,
            "PSI {psi_us} us above the {total_ns} ns of {count} reclaim stalls"
        );
    }
    let Reclaim {
        count,
        hits,
        record,
        ..
    } = reclaim_run(false);
    assert_eq!((count, hits), (0, 0), "reclaim without a limit: {record}");
    let _ = std::fs::remove_file(&path);
}

/// One reclaim run's figures: the tool's, PSI's and the cgroup's.
struct Reclaim {
    count: u64,
    total_ns: u64,
    all_memcg: bool,
    psi_us: u64,
    hits: u64,
    v2: bool,
    elapsed: std::time::Duration,
    record: serde_json::Value,
}

/// Runs `memlat --reclaim -P` over a child reading the big file in a
/// memory cgroup, `limited` to 16 MiB or not.
fn reclaim_run(limited: bool) -> Reclaim {
    let cgroup = toolkit_tests::MemoryCgroup::new(
        if limited {
            "toolkit-reclaim"
        } else {
            "toolkit-noreclaim"
        },
        if limited { 16 << 20 } else { 1 << 40 },
    );
    // PSI keeps its times per cgroup v2 directory: the memory cgroup itself
    // under v2, a scratch v2 cgroup beside it on a hybrid machine (v1
    // memory controller). Only the child runs in it.
    let psi_group = (!cgroup.v2).then(|| TestCgroup::new("toolkit-reclaim-psi"));
    let pressure = psi_group
        .as_ref()
        .map_or(&cgroup.path, |g| &g.path)
        .join("memory.pressure");
    let tool = Running::start("memlat", &["--reclaim", "-P", "--json"]);
    let child = ForkedChild::new(read_big_file);
    child.wait_blocked();
    // On one CPU, PSI counts the cgroup's stalls in full: it weights each
    // CPU's stall time by that CPU's share of the group's non-idle time.
    assert!(pin_to_cpu(child.pid, 0));
    cgroup.add(child.pid);
    if let Some(group) = &psi_group {
        group.add(child.pid);
    }
    let (psi, hits) = (psi_memory_some_us(&pressure), cgroup.limit_hits());
    let start = std::time::Instant::now();
    child.release();
    child.wait_exited();
    let elapsed = start.elapsed();
    let (psi_us, hits) = (
        psi_memory_some_us(&pressure) - psi,
        cgroup.limit_hits() - hits,
    );
    let done = tool.signal(libc::SIGINT);
    let pid = child.pid as u64;
    child.reap();
    assert!(done.status.success(), "{done:?}");
    let record: serde_json::Value =
        serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
    let ours: Vec<&serde_json::Value> = record["reclaim"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["key"]["pid"] == pid)
        .collect();
    Reclaim {
        count: ours.iter().map(|h| h["count"].as_u64().unwrap()).sum(),
        total_ns: ours.iter().map(|h| h["sum"].as_u64().unwrap()).sum(),
        all_memcg: ours.iter().all(|h| h["key"]["kind"] == "memcg"),
        psi_us,
        hits,
        v2: cgroup.v2,
        elapsed,
        record,
    }
}

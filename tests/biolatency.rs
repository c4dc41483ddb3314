//! biolatency against /sys/block/NAME/stat on a loop device it alone uses.

use toolkit_tests::{
    LoopDevice, Running, assert_unloaded, biolatency_unaccounted, counts_in, json_list,
    parse_log2_hists, run_tool,
};

const N: usize = 1009;

/// The tool's count of requests against the oracle's: exact, every request
/// either in the histogram or reported on stderr as not recorded.
fn assert_counted(what: &str, got: u64, oracle: u64, stderr: &str, context: &str) {
    let missing = biolatency_unaccounted(stderr);
    assert_eq!(
        got + missing,
        oracle,
        "{what}: tool {got} + {missing} reported unrecorded, oracle {oracle}\n{context}"
    );
    if missing > 0 {
        eprintln!("{what}: {missing} unrecorded requests reported by the tool");
    }
}

#[test]
fn disk_filter_counts_equal_block_stat() {
    let dev = LoopDevice::new(64);
    let before = dev.settle();
    let tool = Running::start("biolatency", &["-d", &dev.name]);
    dev.direct_io(N, N);
    let after = dev.settle();
    let programs = tool.programs.clone();
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "exit after SIGINT: {:?}", done);
    assert_unloaded(&programs);

    let (reads, writes) = (after.reads - before.reads, after.writes - before.writes);
    assert_eq!(
        (reads, writes),
        (N as u64, N as u64),
        "oracle saw other I/O"
    );
    let hists = parse_log2_hists(&done.stdout);
    assert_eq!(hists.len(), 1, "one histogram expected:\n{}", done.stdout);
    assert_counted(
        "histogram total vs /sys/block stat",
        hists[0].total(),
        reads + writes,
        &done.stderr,
        &format!("{}\nstderr: {}", done.stdout, done.stderr),
    );
}

/// Requests in flight at once, with one start-time slot for them all: all
/// but one at a time find it taken and are timed in the hash, and every
/// request is still counted once, from issue and from insert (`-Q`, through
/// a scheduler where the kernel has one), beside a run with the default
/// slots.
#[test]
fn requests_whose_slot_is_taken_are_counted_exactly() {
    let dev = LoopDevice::new(64);
    let scheduler = dev.set_scheduler(&["mq-deadline", "kyber", "bfq"]);
    eprintln!("scheduler: {scheduler}");
    let before = dev.settle();
    let runs = [
        Running::start("biolatency", &["-d", &dev.name]),
        Running::start("biolatency", &["-d", &dev.name, "--slots", "1", "-v"]),
        Running::start("biolatency", &["-d", &dev.name, "-Q", "--slots", "1", "-v"]),
    ];
    dev.parallel_direct_writes(4, 250);
    let after = dev.settle();
    let writes = after.writes - before.writes;
    assert_eq!(
        (writes, after.reads - before.reads),
        (1000, 0),
        "oracle saw other I/O"
    );
    for (i, run) in runs.into_iter().enumerate() {
        let programs = run.programs.clone();
        let done = run.signal(libc::SIGINT);
        assert!(done.status.success(), "exit after SIGINT: {:?}", done);
        assert_unloaded(&programs);
        let context = format!("run {i}: {}\nstderr: {}", done.stdout, done.stderr);
        let hists = parse_log2_hists(&done.stdout);
        assert_eq!(hists.len(), 1, "{context}");
        assert_counted("writes", hists[0].total(), writes, &done.stderr, &context);
        if i > 0 {
            let hashed: u64 = done
                .stderr
                .lines()
                .find_map(|l| {
                    l.strip_suffix(
                        " requests found their start-time slot taken and were timed in the hash",
                    )
                })
                .and_then(|l| l.strip_prefix("biolatency: "))
                .unwrap_or_else(|| panic!("no count of hashed requests: {context}"))
                .parse()
                .unwrap();
            assert!(hashed > 0, "the hash was never used: {context}");
            eprintln!("run {i}: {hashed} of {writes} requests timed in the hash");
        }
    }
}

#[test]
fn per_disk_and_flag_rows_match_reads_and_writes() {
    let dev = LoopDevice::new(64);
    let before = dev.settle();
    let tool = Running::start("biolatency", &["-d", &dev.name, "-D", "-F", "-T", "3600"]);
    dev.direct_io(N, N);
    let after = dev.settle();
    let done = tool.signal(libc::SIGTERM);
    assert!(done.status.success(), "exit after SIGTERM: {:?}", done);

    let ours = |op: &str| -> u64 {
        parse_log2_hists(&done.stdout)
            .iter()
            .filter(|h| {
                h.header.starts_with(&format!("disk = {}\t", dev.name)) && h.header.ends_with(op)
            })
            .map(|h| h.total())
            .sum()
    };
    let context = format!("{}\nstderr: {}", done.stdout, done.stderr);
    let (writes, reads) = (after.writes - before.writes, after.reads - before.reads);
    assert!(
        ours("-Write") <= writes && ours("-Read") <= reads,
        "{context}"
    );
    assert_counted(
        "writes and reads",
        ours("-Write") + ours("-Read"),
        writes + reads,
        &done.stderr,
        &context,
    );
    // -T: a HH:MM:SS line after the blank line that opens the interval
    // (the banner was consumed by Running::start).
    let ts = done.stdout.lines().nth(1).unwrap();
    assert!(
        ts.len() == 8 && ts.as_bytes()[2] == b':',
        "timestamp line: {ts:?}"
    );
}

#[test]
fn json_counts_equal_text_and_oracle() {
    let dev = LoopDevice::new(64);
    let before = dev.settle();
    let text = Running::start("biolatency", &["-d", &dev.name, "-m"]);
    let json = Running::start("biolatency", &["-d", &dev.name, "--json"]);
    dev.direct_io(N, 0);
    let after = dev.settle();
    let text = text.signal(libc::SIGINT);
    let json = json.signal(libc::SIGINT);
    let expected = after.writes - before.writes;
    assert_eq!(expected, N as u64);

    let text_total: u64 = parse_log2_hists(&text.stdout)
        .iter()
        .map(|h| h.total())
        .sum();
    assert_counted(
        "text total",
        text_total,
        expected,
        &text.stderr,
        &format!("{}\nstderr: {}", text.stdout, text.stderr),
    );
    assert!(
        text.stdout
            .contains("     msecs               : count    distribution")
    );

    let lines: Vec<&str> = json.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one JSON line per interval:\n{}",
        json.stdout
    );
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!(v["tool"], "biolatency");
    assert_eq!(v["unit"], "usecs");
    let hist = &v["histograms"][0];
    let bucket_sum = counts_in(hist, "buckets");
    let count = hist["count"].as_u64().unwrap();
    let context = format!("json: {}\nstderr: {}", lines[0], json.stderr);
    assert_counted("json count", count, expected, &json.stderr, &context);
    assert_eq!(bucket_sum, count, "{context}");
    let (sum, max) = (hist["sum"].as_u64().unwrap(), hist["max"].as_u64().unwrap());
    assert!(
        max > 0 && sum >= max && sum / count <= max,
        "sum {sum} max {max}"
    );
}

#[test]
fn interval_and_count_end_by_themselves() {
    let tool = Running::start("biolatency", &["1", "2"]);
    let programs = tool.programs.clone();
    let done = tool.finish();
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
}

#[test]
fn closed_pipe_ends_quietly_and_detaches() {
    let tool = Running::start("biolatency", &["1", "5"]);
    let programs = tool.programs.clone();
    let status = tool.close_stdout();
    assert!(status.success(), "exit after EPIPE: {status}");
    assert_unloaded(&programs);
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let out = run_tool("biolatency", &["-d", "sdz"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        "biolatency: error: disk 'sdz' not found in /sys/block\n"
    );

    for args in [&["0"][..], &["1", "0"], &["-5"], &["abc"]] {
        let out = run_tool("biolatency", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }

    let out = run_tool("biolatency", &["-c", "/tmp"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        "biolatency: error: '/tmp' is not a cgroup v2 directory\n"
    );

    let out = std::process::Command::new("env")
        .arg("EBPF_TOOLKIT_BTF=/nonexistent/vmlinux")
        .arg(toolkit_tests::tool_path("biolatency"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("biolatency: error: kernel BTF not readable at /nonexistent/vmlinux"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn not_root_names_the_capabilities() {
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(toolkit_tests::tool_path("biolatency"))
        .output()
        .expect("setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("CAP_BPF") && stderr.contains("CAP_PERFMON"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Side by side with libbpf-tools' biolatency on the same I/O: the same
/// lines in the same layout, and the same totals per flag set.
#[test]
fn same_text_as_libbpf_tools() {
    let reference = "/usr/sbin/biolatency";
    assert!(
        std::path::Path::new(reference).exists(),
        "{reference} missing: run scripts/setup.sh"
    );
    let dev = LoopDevice::new(64);
    dev.settle();
    let args = ["-d", &dev.name, "-F", "-m", "-T"];
    let ours = Running::start("biolatency", &args);
    let theirs = Running::start_path(reference, &args);
    dev.direct_io(N, N);
    dev.settle();
    let ours = ours.signal(libc::SIGINT);
    let theirs = theirs.signal(libc::SIGINT);

    let shape = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                if l.len() == 8 && l.as_bytes()[2] == b':' {
                    "HH:MM:SS".to_string()
                } else if let Some((range, _)) = l.split_once(" : ")
                    && range.contains(" -> ")
                {
                    format!("{range} : <count and bar>")
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    let (a, b) = (shape(&ours.stdout), shape(&theirs.stdout));
    let sections = |h: Vec<toolkit_tests::PrintedHist>| -> Vec<(String, u64)> {
        let mut v: Vec<_> = h.iter().map(|h| (h.header.clone(), h.total())).collect();
        v.sort();
        v
    };
    assert_eq!(
        sections(parse_log2_hists(&ours.stdout)),
        sections(parse_log2_hists(&theirs.stdout)),
        "ours:\n{}\nlibbpf-tools:\n{}",
        ours.stdout,
        theirs.stdout
    );
    // Same lines, except that a bucket row one tool has past the other's
    // last bucket (a slow outlier seen by only one) may differ.
    let common = a.len().min(b.len());
    let mut sorted_a: Vec<_> = a[..common].to_vec();
    let mut sorted_b: Vec<_> = b[..common].to_vec();
    sorted_a.sort();
    sorted_b.sort();
    assert_eq!(
        sorted_a, sorted_b,
        "ours:\n{}\nlibbpf-tools:\n{}",
        ours.stdout, theirs.stdout
    );
    for line in ours.stdout.lines().filter(|l| l.contains(" -> ")) {
        // %10lld -> %-10lld : %-8d |<40 columns>|
        assert_eq!(line.len(), 10 + 4 + 10 + 3 + 8 + 2 + 40 + 1, "{line:?}");
    }
}

/// `-D --percentiles --json`: the disk's histogram counts every I/O the
/// oracle counts, with percentiles between the exact min and max.
#[test]
fn percentiles_per_disk_count_every_io() {
    let dev = LoopDevice::new(64);
    let before = dev.settle();
    let tool = Running::start(
        "biolatency",
        &["-d", &dev.name, "-D", "--percentiles", "--json"],
    );
    dev.direct_io(N, 0);
    let after = dev.settle();
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    let record: serde_json::Value =
        serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
    let hist = &record["histograms"][0];
    assert_eq!(hist["key"]["disk"], dev.name.as_str());
    let count = hist["count"].as_u64().unwrap();
    let context = format!("{}\nstderr: {}", done.stdout, done.stderr);
    assert_counted(
        "json count",
        count,
        after.writes - before.writes,
        &done.stderr,
        &context,
    );
    let (min, max) = (hist["min"].as_f64().unwrap(), hist["max"].as_f64().unwrap());
    for p in ["p50", "p90", "p99", "p99.9"] {
        let v = hist["percentiles"][p].as_f64().unwrap();
        assert!(min <= v && v <= max, "{p} {v} outside [{min}, {max}]");
    }
    // The disk's log-linear histogram is allocated at its first I/O, and
    // the allocation can fail (6.1 more often); such an I/O is in the log2
    // histogram and counted as lost, never dropped unsaid.
    let binned = counts_in(hist, "loglinear");
    let refused = record["lost"]["no kernel memory for a new log-linear histogram"]
        .as_u64()
        .unwrap();
    assert!(binned <= count && count - binned <= refused, "{context}");
}

/// Disk errors: a loop device whose backing file sits on a 2 MiB tmpfs.
/// Of 1009 O_DIRECT 4 KiB writes, those past the tmpfs's space fail, one
/// request each; the workload counts them. biolatency reports exactly that
/// many errored requests for the disk, in text, JSON and OpenMetrics, and
/// its histogram (errored requests included, as in libbpf-tools) counts
/// every write /sys/block/NAME/stat counts.
#[test]
fn errored_requests_are_counted_by_disk_and_status() {
    let dev = LoopDevice::on_small_tmpfs(64, 2048);
    let path = std::env::temp_dir().join(format!("biolatency-err-{}.prom", std::process::id()));
    let path_arg = path.to_string_lossy().into_owned();
    let before = dev.settle();
    let text = Running::start("biolatency", &["-d", &dev.name]);
    let json = Running::start(
        "biolatency",
        &[
            "-d",
            &dev.name,
            "--json",
            "--openmetrics",
            &path_arg,
            "3600",
        ],
    );
    let failed = dev.direct_writes_counting_failures(N);
    let after = dev.settle();
    let (text, json) = (text.signal(libc::SIGINT), json.signal(libc::SIGINT));
    let writes = after.writes - before.writes;
    eprintln!("{failed} of {N} writes failed");
    assert_eq!(writes, N as u64, "oracle saw other I/O");
    assert!(
        failed > 100 && failed < N as u64 - 100,
        "the tmpfs should fill midway: {failed} of {N} failed"
    );

    // Text: the histogram, then an errors table.
    let total: u64 = parse_log2_hists(&text.stdout)
        .iter()
        .map(|h| h.total())
        .sum();
    assert_counted("text total", total, writes, &text.stderr, &text.stdout);
    let rows: Vec<Vec<&str>> = text
        .stdout
        .lines()
        .skip_while(|l| *l != "errors:")
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 1, "{}", text.stdout);
    assert_eq!(rows[0][0], dev.name, "{}", text.stdout);
    // Exact, but for a completion the kernel did not run the program for,
    // which the tool counts and reports (see `unaccounted`).
    let counted = |what: &str, reported: u64, lost: u64| {
        assert!(
            reported <= failed && failed <= reported + lost,
            "{what}: {reported} reported, {lost} lost, {failed} failed"
        );
    };
    counted(
        "text",
        rows[0][2].parse::<u64>().unwrap(),
        biolatency_unaccounted(&text.stderr),
    );
    let status = rows[0][1].to_string();
    assert!(
        ["IOERR", "NOSPC"].contains(&status.as_str()),
        "{}",
        text.stdout
    );

    // JSON, same run as OpenMetrics.
    let record: serde_json::Value =
        serde_json::from_str(json.stdout.lines().last().unwrap()).unwrap();
    let errors = json_list(&record["errors"]).collect::<Vec<_>>();
    assert_eq!(errors.len(), 1, "{record}");
    assert_eq!(
        (&errors[0]["disk"], &errors[0]["status"]),
        (&serde_json::json!(dev.name), &serde_json::json!(status)),
        "{record}"
    );
    let json_count = errors[0]["count"].as_u64().unwrap();
    let json_lost = record["lost"]["the kernel did not run the completion program"]
        .as_u64()
        .unwrap_or(0);
    counted("json", json_count, json_lost);
    let om = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let line = format!(
        "biolatency_errors_total{{disk=\"{}\",status=\"{status}\"}} {json_count}\n",
        dev.name
    );
    assert!(om.contains(&line), "{om}");

    // Without errors there is no table, as in libbpf-tools' layout.
    drop(dev); // one loop device at a time (LoopDevice's lock)
    let clean = LoopDevice::new(64);
    let tool = Running::start("biolatency", &["-d", &clean.name]);
    clean.direct_io(7, 0);
    clean.settle();
    let done = tool.signal(libc::SIGINT);
    assert!(!done.stdout.contains("errors:"), "{}", done.stdout);
}

/// bcc's `-e`: under the histograms, the interval's average, total and
/// count; the count is every I/O the oracle counts, and the average is the
/// total over the count.
#[test]
fn extension_summary_counts_every_io() {
    let dev = LoopDevice::new(64);
    let before = dev.settle();
    let tool = Running::start("biolatency", &["-d", &dev.name, "-e"]);
    dev.direct_io(N, 0);
    let after = dev.settle();
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    let line = done
        .stdout
        .lines()
        .find(|l| l.starts_with("avg = "))
        .unwrap_or_else(|| panic!("no summary:\n{}", done.stdout));
    // avg = 123 usecs, total: 456789 usecs, count: 1009
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    let [avg, total, count] = numbers[..] else {
        panic!("{line}")
    };
    assert_counted(
        "-e count",
        count,
        after.writes - before.writes,
        &done.stderr,
        &done.stdout,
    );
    assert_eq!(avg, total / count, "{line}");
    let hists = parse_log2_hists(&done.stdout);
    assert_eq!(hists[0].total(), count, "{}", done.stdout);
}

/// bcc's `-j` is --json; `--flags` is -F.
#[test]
fn bcc_spellings_are_accepted() {
    let out = run_tool("biolatency", &["-j", "--flags", "0.1", "1"]);
    assert!(out.status.success(), "{out:?}");
    let record: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(record["tool"], "biolatency");
}

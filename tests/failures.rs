//! The failure matrix, for every tool: no privileges, signals mid-interval,
//! a closed pipe, bad values, two instances at once, no kernel BTF, and a
//! soak under load. Each case ends with nothing left loaded.

use std::process::Command;

use toolkit_tests::{ForkedChild, Running, assert_unloaded, parse_table, run_tool, tool_path};

const TOOLS: [&str; 5] = ["biolatency", "runqlat", "syscount", "syslat", "memlat"];

/// Arguments for one JSON interval of `secs` seconds.
fn json_every(tool: &str, secs: &'static str) -> Vec<&'static str> {
    if tool == "syscount" {
        vec!["--json", "-i", secs]
    } else {
        vec!["--json", secs]
    }
}

#[test]
fn not_root_names_the_capabilities() {
    for tool in TOOLS {
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(tool_path(tool))
            .output()
            .expect("setpriv");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "{tool}: error: permission denied: run as root, or with the CAP_BPF and \
                 CAP_PERFMON capabilities\n"
            )
        );
    }
}

#[test]
fn signals_mid_interval_print_the_partial_interval() {
    for tool in TOOLS {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            let running = Running::start(tool, &json_every(tool, "10"));
            let programs = running.programs.clone();
            let done = running.signal(signal);
            assert!(done.status.success(), "{tool} signal {signal}: {done:?}");
            // One JSON record: the interval cut short.
            let lines: Vec<&str> = done.stdout.lines().collect();
            assert_eq!(lines.len(), 1, "{tool} signal {signal}: {}", done.stdout);
            let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
            assert_eq!(record["tool"], tool);
            assert_unloaded(&programs);
        }
    }
}

#[test]
fn closed_pipe_ends_quietly() {
    for tool in TOOLS {
        let args: &[&str] = if tool == "syscount" {
            &["-i", "1"]
        } else {
            &["0.1"]
        };
        let running = Running::start(tool, args);
        let programs = running.programs.clone();
        let status = running.close_stdout();
        assert!(status.success(), "{tool} after EPIPE: {status}");
        assert_unloaded(&programs);
    }
}

/// Bad values for every option: each a usage error (exit 2) with clap's
/// message, never a panic, never a run.
#[test]
fn bad_values_are_usage_errors() {
    let cases: &[(&str, &[&str])] = &[
        ("biolatency", &["0"]),
        ("biolatency", &["-1"]),
        ("biolatency", &["1", "0"]),
        ("biolatency", &["abc"]),
        ("biolatency", &["100000"]),
        ("biolatency", &["1", "99999999999999999999999"]),
        ("biolatency", &["-d"]),
        ("biolatency", &["--bogus"]),
        ("runqlat", &["0.0001"]),
        ("runqlat", &["NaN"]),
        ("runqlat", &["-p", "0"]),
        ("runqlat", &["-p", "-5"]),
        ("runqlat", &["-p", "abc"]),
        ("runqlat", &["-p", "99999999999"]),
        ("runqlat", &["-P", "-L"]),
        ("runqlat", &["-L", "--pidnss"]),
        ("runqlat", &["-P", "--pidnss"]),
        ("runqlat", &["1", "2", "3"]),
        ("syscount", &["-i", "-1"]),
        ("syscount", &["-i", "x"]),
        ("syscount", &["-i", "100000"]),
        ("syscount", &["-d", "0"]),
        ("syscount", &["-T", "0"]),
        ("syscount", &["-T", "-3"]),
        ("syscount", &["-e", "EBOGUS"]),
        ("syscount", &["-e", "0"]),
        ("syscount", &["-e", "5000"]),
        ("syscount", &["-p", "0"]),
        ("syscount", &["-c"]),
        ("syslat", &["-s", "nosuchcall"]),
        ("syslat", &["-s", "read,,write"]),
        ("syslat", &["-s", ""]),
        ("syslat", &["--top", "0"]),
        ("syslat", &["--top", "-1"]),
        ("syslat", &["--sort", "name"]),
        ("syslat", &["-m", "-n"]),
        ("syslat", &["-t", "0"]),
        ("syslat", &["-t", "x"]),
        ("syslat", &["inf"]),
        ("memlat", &["-m", "-n"]),
        ("memlat", &["--size=3"]),
        ("memlat", &["-p", "-1"]),
        ("memlat", &["0"]),
        ("memlat", &["1", "0"]),
        ("memlat", &["x"]),
        ("syslat", &["--percentiles=0"]),
        ("syslat", &["--percentiles=101"]),
        ("runqlat", &["--percentiles=abc"]),
        ("runqlat", &["--percentiles=50,,99"]),
        ("runqlat", &["--compact"]),
        ("biolatency", &["--compact"]),
        ("memlat", &["--openmetrics"]),
    ];
    assert!(cases.len() >= 30);
    for (tool, args) in cases {
        let out = run_tool(tool, args);
        assert_eq!(out.status.code(), Some(2), "{tool} {args:?}: {out:?}");
        assert!(
            out.stderr.starts_with("error: ") && !out.stderr.contains("panicked"),
            "{tool} {args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{tool} {args:?} ran: {}", out.stdout);
    }
}

#[test]
fn missing_kernel_btf_is_named() {
    for tool in TOOLS {
        let out = Command::new(tool_path(tool))
            .env("EBPF_TOOLKIT_BTF", "/nonexistent/vmlinux")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "{tool}: error: kernel BTF not readable at /nonexistent/vmlinux (the kernel \
                 needs CONFIG_DEBUG_INFO_BTF=y): No such file or directory (os error 2)\n"
            )
        );
    }
}

const CALLS: u64 = 100_003;

fn getppids() {
    for _ in 0..CALLS {
        // SAFETY: no arguments.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
}

/// Two instances of the same tool on the same child at once: each counts
/// every call, independently of the other.
#[test]
fn two_instances_count_independently() {
    for (tool, args) in [
        ("syscount", &["-L"][..]),
        ("syslat", &["-s", "getppid", "--json"]),
    ] {
        let child = ForkedChild::new(getppids);
        child.wait_blocked();
        let pid = child.pid.to_string();
        let mut all = vec!["-p", pid.as_str()];
        all.extend_from_slice(args);
        let first = Running::start(tool, &all);
        let second = Running::start(tool, &all);
        let programs: Vec<_> = [&first, &second]
            .iter()
            .map(|r| r.programs.clone())
            .collect();
        child.run_to_end();
        for running in [first, second] {
            let done = running.signal(libc::SIGINT);
            assert!(done.status.success(), "{tool}: {done:?}");
            let count = if tool == "syscount" {
                parse_table(&done.stdout)["getppid"][0]
                    .parse::<u64>()
                    .unwrap()
            } else {
                let record: serde_json::Value =
                    serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
                record["histograms"][0]["count"].as_u64().unwrap()
            };
            assert_eq!(count, CALLS, "{tool}: {}", done.stdout);
        }
        for p in programs {
            assert_unloaded(&p);
        }
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

fn json_time(line: &str) -> f64 {
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    let text = record["time"].as_str().unwrap();
    // 2026-11-26T07:13:39.972489Z: seconds of the day are enough here.
    let clock = &text[11..text.len() - 1];
    let mut parts = clock.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

/// 600 intervals of 100 ms under CPU and I/O load: memory does not grow and
/// intervals do not drift.
#[test]
fn soak_600_intervals_under_load() {
    let mut load = Command::new("stress-ng")
        .args(["--cpu", "1", "--hdd", "1", "--hdd-bytes", "16M"])
        .args(["--temp-path", "/tmp", "--timeout", "120s", "--quiet"])
        .spawn()
        .expect("stress-ng (installed by scripts/setup.sh)");
    let mut running = Running::start("syslat", &["--json", "0.1", "600"]);
    let programs = running.programs.clone();
    let pid = running.pid();
    let mut times = Vec::new();
    let mut rss_early = 0;
    while let Some(line) = running.read_line() {
        times.push(json_time(&line));
        if times.len() == 50 {
            rss_early = vm_rss_kib(pid);
        }
        if times.len() == 599 {
            let rss_late = vm_rss_kib(pid);
            eprintln!("VmRSS after 50 intervals {rss_early} KiB, after 599 {rss_late} KiB");
            assert!(
                rss_late < rss_early + 1024,
                "RSS grew from {rss_early} to {rss_late} KiB"
            );
        }
    }
    let done = running.finish();
    let _ = load.kill();
    let _ = load.wait();
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    assert_eq!(times.len(), 600);
    // From the first record to the last: 599 intervals of 0.1 s, within 1%
    // (the start is fixed, so delays in one interval do not accumulate).
    let span = times[599] - times[0];
    eprintln!("600 intervals: {span:.3} s from first to last (599 x 0.1 s = 59.9 s)");
    assert!((span - 59.9).abs() <= 0.599, "span {span} s");
}

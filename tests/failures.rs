//! The failure matrix, for every tool: no privileges, signals mid-interval,
//! a closed pipe, bad values, two instances at once, no kernel BTF, and a
//! soak under load. Each case ends with nothing left loaded.

use std::process::Command;

use toolkit_tests::{
    ForkedChild, Running, assert_unloaded, assert_usage_errors, every, interval_tools, parse_table,
    run_tool, tool_path, tools,
};

/// Arguments for one JSON interval of `secs` seconds.
fn json_every(tool: &str, secs: &'static str) -> Vec<&'static str> {
    let mut args = vec!["--json"];
    args.extend(every(tool, secs));
    args
}

#[test]
fn not_root_names_the_capabilities() {
    for tool in tools() {
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
    for tool in interval_tools() {
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
            // What the kernel could not record is always said, by reason.
            let lost = record["lost"].as_object();
            assert!(
                lost.is_some_and(|l| l.values().all(serde_json::Value::is_u64)),
                "{tool}: no lost counts in {record}"
            );
            assert_unloaded(&programs);
        }
    }
}

#[test]
fn closed_pipe_ends_quietly() {
    for tool in interval_tools() {
        let running = Running::start(tool, &every(tool, "0.1"));
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
    // One line per tool, cases separated by `|`; `''` is an empty argument.
    let table = "
        biolatency: 0 | -1 | 1 0 | abc | 100000 | 1 99999999999999999999999 | -d | --bogus
            | --compact | 2d | 500us
        runqlat: 0.0001 | NaN | -p 0 | -p -5 | -p abc | -p 99999999999 | -P -L | -L --pidnss
            | -P --pidnss | 1 2 3 | --percentiles=abc | --percentiles=50,,99 | --compact
            | --compact --json 1
        syscount: -i -1 | -i x | -i 100000 | -d 0 | -T 0 | -T -3 | -e EBOGUS | -e 0 | -e 5000
            | -p 0 | -c
        syslat: -s nosuchcall | -s read,,write | -s '' | --top 0 | --top -1 | --sort name
            | -m -n | -t 0 | -t x | inf | --percentiles=0 | --percentiles=101
            | --json --compact 1
        memlat: -m -n | --size=3 | -p -1 | 0 | 1 0 | x | --openmetrics | -P
        netdrop: -r bad! | -x '' | -T 0 | 0 | 1 2 3
        tcpretrans: -4 -6 | -i 1 | -d x | -l | -c -i 0
        tcprtt: -4 -6 | -b -B | -p 0 | -a 1.2.3 | -i 0 | --compact
        softirqs: -N -m | -c x | -c -1 | 0 | 1 2 3
        hardirqs: -N -m | -C -d | -s x | 0
        cpudist: -p 0 | -P -L | -G -C | 0 | x | 1 2 3
        hwerr: -d 0 | -d x | 1
        fsdist: -t | -p 0 | -a -t ext4 | 0 | 1 2 3
        fsslower: -m -1 | -m 86400001 | -d 0 | -c --json | 1";
    let mut cases: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut tool = "";
    for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let rest = match line.split_once(": ") {
            Some((name, rest)) if !name.contains(' ') => {
                tool = name;
                rest
            }
            _ => line.trim_start_matches('|'),
        };
        for case in rest.split('|') {
            let args = case.split_whitespace();
            cases.push((tool, args.map(|a| if a == "''" { "" } else { a }).collect()));
        }
    }
    assert_eq!(cases.len(), 101);
    for (tool, args) in cases {
        assert_usage_errors(tool, &[&args]);
    }
}

#[test]
fn missing_kernel_btf_is_named() {
    for tool in tools() {
        let mut cmd = Command::new(tool_path(tool));
        cmd.env("EBPF_TOOLKIT_BTF", "/nonexistent/vmlinux");
        assert_fails_with(
            &mut cmd,
            format!(
                "{tool}: error: kernel BTF not readable at /nonexistent/vmlinux (the kernel \
                 needs CONFIG_DEBUG_INFO_BTF=y): No such file or directory (os error 2)\n"
            ),
        );
    }
}

/// Runs `cmd`, which must exit 1 with exactly `stderr`.
fn assert_fails_with(cmd: &mut Command, stderr: String) {
    let out = cmd.output().unwrap();
    let got = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{got}");
    assert_eq!(got, stderr);
}

const CALLS: u64 = 100_003;

fn getppids() {
    toolkit_tests::getppids(CALLS);
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

/// `-p` with a thread ID that is not a process is refused, naming the
/// process it belongs to.
#[test]
fn pid_of_a_thread_is_refused_naming_its_process() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tx.send(unsafe { libc::gettid() }).unwrap();
        let _ = stop_rx.recv();
    });
    let tid = rx.recv().unwrap().to_string();
    let pid = std::process::id();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    for tool in ["runqlat", "cpudist", "syscount", "syslat", "memlat"] {
        let out = run_tool(tool, &["-p", &tid]);
        assert_eq!(out.status.code(), Some(1), "{tool}: {out:?}");
        assert_eq!(
            out.stderr,
            format!(
                "{tool}: error: {tid} is a thread of process {pid} ({}), not a process: pass -p {pid}\n",
                comm.trim()
            )
        );
    }
    // -t takes the thread; a missing one is named a thread.
    let out = run_tool("syslat", &["-t", "999999999"]);
    assert_eq!(out.stderr, "syslat: error: thread 999999999 not found\n");
    stop_tx.send(()).unwrap();
    thread.join().unwrap();
}

/// The traced process exiting ends the run: the interval is printed,
/// stderr says it exited, exit 0, nothing left loaded.
#[test]
fn traced_process_exit_ends_the_run() {
    for tool in ["runqlat", "cpudist", "syscount", "syslat", "memlat"] {
        let child = ForkedChild::new(getppids);
        let pid = child.pid.to_string();
        let running = Running::start(tool, &["--json", "-p", &pid]);
        let programs = running.programs.clone();
        child.run_to_end();
        let done = running.finish();
        assert!(done.status.success(), "{tool}: {done:?}");
        assert_eq!(done.stdout.lines().count(), 1, "{tool}: {}", done.stdout);
        assert!(
            done.stderr
                .ends_with(&format!("{tool}: process {pid} exited\n")),
            "{tool}: {}",
            done.stderr
        );
        assert_unloaded(&programs);
    }
}

/// Stopped (SIGSTOP) for several intervals and continued: one interval
/// covers the whole stop, and the next comes one interval later, not at
/// once.
#[test]
fn stopped_and_continued_prints_one_long_interval() {
    let mut tool = Running::start("syslat", &["--json", "-s", "getppid", "0.2", "3"]);
    let first = tool.read_line().expect("first interval");
    // SAFETY: signals to our own child.
    unsafe { libc::kill(tool.pid() as i32, libc::SIGSTOP) };
    std::thread::sleep(std::time::Duration::from_millis(1000));
    unsafe { libc::kill(tool.pid() as i32, libc::SIGCONT) };
    let done = tool.finish();
    assert!(done.status.success(), "{done:?}");
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", done.stdout);
    let (t1, t2, t3) = (json_time(&first), json_time(lines[0]), json_time(lines[1]));
    assert!(t2 - t1 >= 0.9, "the stop is in one interval: {t1} {t2}");
    assert!(t3 - t2 >= 0.1, "the next interval came at once: {t2} {t3}");
}

/// /dev/full: every write fails with ENOSPC, as a full disk behind a
/// redirection does.
fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
}

/// Arguments for two short intervals.
fn two_intervals(tool: &str) -> Vec<&'static str> {
    two_intervals_spelled(tool, "0.1", "0.2")
}

/// Two intervals of `secs`, the run lasting `twice` where the tool takes a
/// duration (`-d`) rather than a count.
fn two_intervals_spelled(tool: &str, secs: &'static str, twice: &'static str) -> Vec<&'static str> {
    let mut args = every(tool, secs);
    match tool {
        // -i and -d, as libbpf-tools' syscount and tcprtt and bcc's tcpretrans.
        "syscount" | "tcprtt" | "tcpretrans" => args.extend(["-d", twice]),
        _ => args.push("2"),
    }
    args
}

/// A failing stdout is one line saying it was standard output, exit 1.
#[test]
fn stdout_write_error_names_stdout() {
    for tool in interval_tools() {
        let mut cmd = Command::new(tool_path(tool));
        cmd.args(two_intervals(tool)).stdout(dev_full());
        assert_fails_with(
            &mut cmd,
            format!(
                "{tool}: error: writing to standard output: No space left on device (os error 28)\n"
            ),
        );
    }
}

/// A stderr that cannot be written (here /dev/full; a closed pipe alike)
/// neither crashes a tool nor stops it: with `--json` the banner goes to
/// stderr, and the intervals still reach stdout. The intervals are
/// spelled as durations (`100ms`), which every interval also accepts.
#[test]
fn unwritable_stderr_is_not_fatal() {
    for tool in interval_tools() {
        let out = Command::new(tool_path(tool))
            .arg("--json")
            .args(two_intervals_spelled(tool, "100ms", "200ms"))
            .stderr(dev_full())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{tool}: {:?}", out.status);
        assert_eq!(stdout.lines().count(), 2, "{tool}: {stdout}");
    }
}

/// libbpf-tools' `-v` on every tool: what is loaded and attached, on
/// stderr; the output and exit status as without.
#[test]
fn verbose_says_what_is_loaded_and_attached() {
    for tool in tools() {
        let mut args = vec!["-v"];
        if matches!(tool, "oomkill" | "hwerr" | "fsslower") {
            args.extend(["-d", "0.1"]);
        } else {
            args.extend(two_intervals(tool));
        }
        let out = run_tool(tool, &args);
        assert!(out.status.success(), "{tool}: {out:?}");
        assert!(
            out.stderr.contains("loaded an object of "),
            "{tool}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("attached "), "{tool}: {}", out.stderr);
    }
}

/// `-v` beside libbpf-tools' `-v`, for the tools whose peer attaches here
/// (its tcprtt and oomkill need kprobes or fentry): both exit 0 with their
/// load and attach details on stderr, and the same banner and column heads
/// on stdout (an idle disk prints no histogram: heads compared when both
/// have them).
#[test]
fn verbose_beside_libbpf_tools() {
    let banner = |stdout: &str| stdout.lines().next().unwrap_or("").to_string();
    let heads = |stdout: &str| -> std::collections::BTreeSet<String> {
        stdout
            .lines()
            .filter(|l| l.contains("distribution") || l.starts_with("SYSCALL"))
            .map(str::to_string)
            .collect()
    };
    for (tool, args) in [
        ("biolatency", &["1", "1"][..]),
        ("runqlat", &["1", "1"]),
        ("cpudist", &["1", "1"]),
        ("syscount", &["-i", "1", "-d", "1"]),
    ] {
        let spawn = |program: std::path::PathBuf| {
            Command::new("stdbuf")
                .arg("-oL")
                .arg(program)
                .arg("-v")
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let ours = spawn(tool_path(tool));
        let theirs = spawn(format!("/usr/sbin/{tool}").into());
        let (ours, theirs) = (
            ours.wait_with_output().unwrap(),
            theirs.wait_with_output().unwrap(),
        );
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (our_err, their_err) = (text(&ours.stderr), text(&theirs.stderr));
        assert!(ours.status.success(), "{tool}: {our_err}");
        assert!(theirs.status.success(), "libbpf-tools {tool}: {their_err}");
        assert!(
            their_err.contains("libbpf: "),
            "libbpf-tools {tool}: {their_err}"
        );
        assert!(
            our_err.contains("loaded an object of "),
            "{tool}: {our_err}"
        );
        assert!(our_err.contains("attached "), "{tool}: {our_err}");
        let (ours, theirs) = (text(&ours.stdout), text(&theirs.stdout));
        assert_eq!(
            banner(&ours),
            banner(&theirs),
            "{tool}:\n{ours}\nlibbpf-tools:\n{theirs}"
        );
        let (our_heads, their_heads) = (heads(&ours), heads(&theirs));
        if !our_heads.is_empty() && !their_heads.is_empty() {
            assert_eq!(
                our_heads, their_heads,
                "{tool}:\n{ours}\nlibbpf-tools:\n{theirs}"
            );
        }
    }
}

//! syscount against a child that makes a known number of syscalls.

use toolkit_tests::{
    ForkedChild, Running, assert_unloaded, assert_usage_errors, parse_table, run_tool,
};

const GETPPID: u64 = 100_003;
const FAILED_OPENS: u64 = 1009;
const GOOD_OPENS: u64 = 7;

/// The workload: exact numbers of getppid and openat calls, by raw syscall.
fn workload() {
    // SAFETY: raw syscalls with static, NUL-terminated paths.
    unsafe {
        for _ in 0..GETPPID {
            libc::syscall(libc::SYS_getppid);
        }
        for _ in 0..FAILED_OPENS {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                c"/nonexistent/toolkit-test".as_ptr(),
                libc::O_RDONLY,
            );
        }
        for _ in 0..GOOD_OPENS {
            let fd = libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                c"/".as_ptr(),
                libc::O_RDONLY,
            );
            libc::close(fd as i32);
        }
    }
}

/// Runs syscount with `args` plus `-p CHILD` while the child runs, and
/// returns its table by first column.
fn trace_child(args: &[&str]) -> (std::collections::BTreeMap<String, Vec<String>>, String, i32) {
    let (table, text, pid, _) = trace_child_comm(args);
    (table, text, pid)
}

/// Like [`trace_child`], also returning the child's comm from /proc.
fn trace_child_comm(
    args: &[&str],
) -> (
    std::collections::BTreeMap<String, Vec<String>>,
    String,
    i32,
    String,
) {
    let child = ForkedChild::new(workload);
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.pid))
        .unwrap()
        .trim()
        .to_string();
    let pid = child.pid.to_string();
    let mut all = vec!["-p", &pid];
    all.extend_from_slice(args);
    let tool = Running::start("syscount", &all);
    let programs = tool.programs.clone();
    child.run_to_end();
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    (
        parse_table(&done.stdout),
        done.stdout,
        pid.parse().unwrap(),
        comm,
    )
}

fn count(table: &std::collections::BTreeMap<String, Vec<String>>, name: &str) -> Option<u64> {
    table.get(name).map(|cols| cols[0].parse().unwrap())
}

#[test]
fn counts_exactly_per_syscall() {
    let (table, text, _) = trace_child(&[]);
    assert_eq!(count(&table, "getppid"), Some(GETPPID), "{text}");
    assert_eq!(
        count(&table, "openat"),
        Some(FAILED_OPENS + GOOD_OPENS),
        "{text}"
    );
    assert!(text.contains("SYSCALL                   COUNT\n"), "{text}");
}

#[test]
fn failures_only() {
    let (table, text, _) = trace_child(&["-x"]);
    assert_eq!(count(&table, "openat"), Some(FAILED_OPENS), "{text}");
    assert_eq!(count(&table, "getppid"), None, "{text}");
}

#[test]
fn errno_filter() {
    let (table, text, _) = trace_child(&["-e", "ENOENT"]);
    assert_eq!(count(&table, "openat"), Some(FAILED_OPENS), "{text}");
    let (table, text, _) = trace_child(&["-e", "EACCES"]);
    assert_eq!(count(&table, "openat"), None, "{text}");
}

#[test]
fn by_process_shows_pid_comm_and_total() {
    let (_, text, pid, comm) = trace_child_comm(&["-P"]);
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("{pid:<6} ")))
        .unwrap_or_else(|| panic!("no row for pid {pid}:\n{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], comm, "{row}");
    let total: u64 = cols[2].parse().unwrap();
    // Everything after release: getppid, openat, close, and the pipe read.
    let least = GETPPID + FAILED_OPENS + 2 * GOOD_OPENS;
    assert!((least..=least + 5).contains(&total), "{row}");
    assert!(text.contains("PID    COMM               COUNT\n"), "{text}");
}

#[test]
fn latency_total_is_plausible() {
    let start = std::time::Instant::now();
    let (table, text, _) = trace_child(&["-L"]);
    let wall_us = start.elapsed().as_secs_f64() * 1e6;
    assert_eq!(count(&table, "getppid"), Some(GETPPID), "{text}");
    let total_us: f64 = table["getppid"][1].parse().unwrap();
    assert!(
        total_us > 0.0 && total_us < wall_us,
        "getppid total {total_us} us, child wall time {wall_us} us"
    );
    assert!(
        text.contains("SYSCALL                   COUNT        TIME (us)\n"),
        "{text}"
    );
}

/// `-l` lists the table of the architecture the tool runs on, numbered
/// as libc numbers it (an independent table): on arm64, the generic one,
/// without x86_64's `open` and `fork`.
#[test]
fn list_is_the_architectures_table() {
    let out = run_tool("syscount", &["-l"]);
    assert!(out.status.success(), "{out:?}");
    let listed: std::collections::BTreeMap<&str, i64> = out
        .stdout
        .lines()
        .filter_map(|line| {
            let (nr, name) = line.trim().split_once(": ")?;
            Some((name, nr.parse().ok()?))
        })
        .collect();
    assert_eq!(listed.get("read"), Some(&libc::SYS_read), "{}", out.stdout);
    assert_eq!(listed.get("openat"), Some(&libc::SYS_openat));
    assert_eq!(listed.get("newfstatat"), Some(&libc::SYS_newfstatat));
    assert_eq!(listed.get("clone3"), Some(&libc::SYS_clone3));
    if cfg!(target_arch = "aarch64") {
        assert!(!listed.contains_key("open") && !listed.contains_key("fork"));
    } else {
        assert_eq!(listed.get("open"), Some(&2));
    }
}

#[test]
fn bad_input() {
    assert_usage_errors(
        "syscount",
        &[&["-e", "EBOGUS"], &["-T", "0"], &["-p", "0"], &["-i", "-1"]],
    );
    let out = run_tool("syscount", &["-p", "2147483646"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        "syscount: error: process 2147483646 not found\n"
    );
}

/// Calls made by each child of the under-load test.
const BURST: u64 = 2_000_003;

fn burst() {
    toolkit_tests::getppids(BURST);
}

#[test]
fn exact_count_at_over_a_million_calls_per_second() {
    // Two children make the same burst at once, one per CPU; only one is
    // traced. Count mode, the fastest, so that the rate stays above a
    // million calls per second even while other tests run beside it.
    let noise = ForkedChild::new(burst);
    let child = ForkedChild::new(burst);
    noise.wait_blocked();
    child.wait_blocked();
    let pid = child.pid.to_string();
    let tool = Running::start("syscount", &["-p", &pid]);
    let programs = tool.programs.clone();
    noise.release();
    let start = std::time::Instant::now();
    child.release();
    child.wait_exited();
    let elapsed = start.elapsed().as_secs_f64();
    let done = tool.signal(libc::SIGINT);
    child.reap();
    noise.reap();
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    let rate = BURST as f64 / elapsed;
    eprintln!("{BURST} traced calls at {:.2} M/s", rate / 1e6);
    assert!(
        rate >= 1e6,
        "only {rate:.0} calls/s: not the load asked for"
    );
    let table = parse_table(&done.stdout);
    assert_eq!(count(&table, "getppid"), Some(BURST), "{}", done.stdout);
}

/// `-P` names a process after its `exec`: 31 `/bin/true` started from a
/// shell show as `true`, as in ps and libbpf-tools, not as the shell they
/// forked from.
#[test]
fn per_process_names_follow_exec() {
    let tool = Running::start("syscount", &["-P", "-T", "10000", "--json"]);
    toolkit_tests::exec_from_shell(31, "/bin/true");
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    let record: serde_json::Value =
        serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
    let trues = record["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["comm"] == "true")
        .count();
    assert_eq!(trues, 31, "{}", done.stdout);
}

/// bcc's `--syscall` (a comma list here) counts only those syscalls,
/// exactly; with -P too.
#[test]
fn syscall_filter_counts_only_those() {
    let (table, text, _) = trace_child(&["--syscall", "openat"]);
    assert_eq!(
        count(&table, "openat"),
        Some(FAILED_OPENS + GOOD_OPENS),
        "{text}"
    );
    assert_eq!(table.len(), 1, "{text}");
    let (_, text, pid) = trace_child(&["--syscall", "getppid,openat", "-P"]);
    let row = text
        .lines()
        .find(|l| l.starts_with(&pid.to_string()))
        .unwrap_or_else(|| panic!("{text}"));
    let total: u64 = row.split_whitespace().last().unwrap().parse().unwrap();
    assert_eq!(total, GETPPID + FAILED_OPENS + GOOD_OPENS, "{text}");
}

/// getppid calls syscount counts with `filter` (naming the forked child's
/// pid) while the child runs `workload`.
fn getppids_counted(workload: fn(), filter: &str) -> Option<u64> {
    let child = ForkedChild::new(workload);
    let pid = child.pid.to_string();
    let tool = Running::start("syscount", &[filter, &pid, "--syscall", "getppid"]);
    child.run_to_end();
    let stdout = tool.stop();
    count(&parse_table(&stdout), "getppid")
}

/// bcc's `-t TID`: the single-threaded child's only thread, counted as -p
/// counts it.
#[test]
fn thread_filter_counts_the_thread() {
    assert_eq!(getppids_counted(workload, "-t"), Some(GETPPID));
}

/// A grandchild's getppid calls, made in a child that forks it.
fn parent_of_worker() {
    // SAFETY: fork in a single-threaded child; the grandchild only makes
    // raw syscalls and exits.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            for _ in 0..GETPPID {
                libc::syscall(libc::SYS_getppid);
            }
            libc::_exit(0);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// bcc's `-c` as `--ppid PID`: only the children of that process (here a
/// child whose own child makes the calls: the test process has others).
#[test]
fn ppid_filter_counts_the_children() {
    assert_eq!(getppids_counted(parent_of_worker, "--ppid"), Some(GETPPID));
}

/// The peers' errno aliases: EWOULDBLOCK is EAGAIN, ENOTSUP EOPNOTSUPP.
#[test]
fn errno_aliases_are_accepted() {
    let (table, text, _) = trace_child(&["-e", "EWOULDBLOCK"]);
    assert_eq!(count(&table, "openat"), None, "{text}");
    for alias in ["ENOTSUP", "EDEADLOCK"] {
        let out = run_tool("syscount", &["-e", alias, "-d", "0.1"]);
        assert!(out.status.success(), "{alias}: {out:?}");
    }
}

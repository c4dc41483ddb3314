//! The third hardening round (issue 38): a pid reused while a `-p` run
//! traces it, names that other users control, arguments that are not
//! UTF-8, `rt_sigreturn` in syscount's count mode, selections that can
//! never count, the same file named twice, and `-p` from inside a PID
//! namespace. Each test failed before its fix.

use std::process::Command;

use toolkit_tests::{
    ForkedChild, Running, assert_unloaded, getppids, run_tool, run_with_pid, scratch, sleep_ns,
    stop_process, tool_path,
};

/// The `-p` process's own calls: an odd prime, unlike anything else.
const OWN_CALLS: u64 = 211;
/// The calls of the later process that reuses its pid.
const REUSER_CALLS: u64 = 1009;

fn own_calls() {
    getppids(OWN_CALLS);
}

fn reuser_calls() {
    getppids(REUSER_CALLS);
}

/// The count of getppid calls in one JSON record of `tool`.
fn getppid_count(tool: &str, record: &serde_json::Value) -> u64 {
    match tool {
        "syslat" => record["histograms"][0]["count"].as_u64().unwrap_or(0),
        _ => record["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["syscall"] == "getppid")
            .map(|row| row["count"].as_u64().unwrap())
            .sum(),
    }
}

/// The traced process exits and a new process takes its pid while the
/// tool has not yet seen the exit (stopped here, up to 100 ms in a real
/// run): the new process's calls are never counted.
#[test]
fn a_reused_pid_is_never_counted() {
    for tool in ["syslat", "syscount"] {
        let target = ForkedChild::new(own_calls);
        target.wait_blocked();
        let pid = target.pid;
        let args: &[&str] = match tool {
            "syslat" => &["--json", "-s", "getppid", "-p"],
            _ => &["--json", "--syscall", "getppid", "-p"],
        };
        let pid_arg = pid.to_string();
        let args: Vec<&str> = args.iter().copied().chain([pid_arg.as_str()]).collect();
        let running = Running::start(tool, &args);
        let programs = running.programs.clone();
        stop_process(running.pid());
        target.run_to_end();
        run_with_pid(pid, reuser_calls);
        // SAFETY: kill on the test's own child.
        unsafe { libc::kill(running.pid() as i32, libc::SIGCONT) };
        let done = running.finish();
        assert!(done.status.success(), "{tool}: {done:?}");
        assert!(
            done.stderr.ends_with(&format!("process {pid} exited\n")),
            "{tool}: {}",
            done.stderr
        );
        assert_unloaded(&programs);
        let record: serde_json::Value =
            serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
        assert_eq!(
            getppid_count(tool, &record),
            OWN_CALLS,
            "{tool}: expected the target's {OWN_CALLS} calls, not the reuser's {REUSER_CALLS} too: {record}"
        );
    }
}

/// Sleeps that each end in a run-queue wait.
const REUSER_SLEEPS: u32 = 31;

fn reuser_sleeps() {
    for _ in 0..REUSER_SLEEPS {
        sleep_ns(1_000_000);
    }
}

/// runqlat's `-p` is matched on the task that waits (not the one running):
/// the reuser's 31 waits are not counted; the target's are, at most its
/// switch-ins (runqlat's tests say why a few can be missed, never added).
#[test]
fn a_reused_pid_is_never_counted_by_runqlat() {
    let target = ForkedChild::new(own_calls);
    target.wait_blocked();
    let pid = target.pid;
    let running = Running::start("runqlat", &["--json", "-p", &pid.to_string()]);
    let programs = running.programs.clone();
    stop_process(running.pid());
    target.release();
    target.wait_exited();
    let [_, _, switch_ins] = target.schedstat();
    target.reap();
    run_with_pid(pid, reuser_sleeps);
    // SAFETY: kill on the test's own child.
    unsafe { libc::kill(running.pid() as i32, libc::SIGCONT) };
    let done = running.finish();
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    let record: serde_json::Value =
        serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
    let count = record["histograms"][0]["count"].as_u64().unwrap_or(0);
    assert!(
        count <= switch_ins,
        "{count} waits counted, the target was switched in {switch_ins} times (the reuser {REUSER_SLEEPS} more): {record}"
    );
}

/// libbpf-tools' `-p` compares the host's pid: from inside a PID
/// namespace the pid names another process. Refused in one line.
#[test]
fn pid_from_inside_a_pid_namespace_is_refused() {
    for (tool, flag) in [
        ("syslat", "-p"),
        ("syscount", "-p"),
        ("runqlat", "-p"),
        ("syscount", "-t"),
    ] {
        let script = format!(
            "sleep 30 & exec {} {flag} $! {}",
            tool_path(tool).display(),
            if tool == "syscount" { "-d 1" } else { "1 1" }
        );
        let out = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "sh", "-c", &script])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool} {flag}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("{tool}: error: {flag} "))
                && stderr.contains("runs in a PID namespace"),
            "{stderr}"
        );
    }
}

/// A comm with a bell and a terminal escape, as any user can set for its
/// own process.
const HOSTILE: &std::ffi::CStr = c"ev\x07il\x1b[2J";
const ESCAPED: &str = r"ev\x07il\x1b[2J";

fn hostile_calls() {
    getppids(OWN_CALLS);
}

/// Names others control reach no output raw: text and the SVG picture
/// (which stays valid XML, as rsvg-convert checks) show them escaped.
#[test]
fn hostile_comms_are_escaped_in_text_and_svg() {
    let dir = scratch("hostile");
    let svg = dir.join("p.svg");
    let svg_arg = svg.to_str().unwrap();
    let child = ForkedChild::named(HOSTILE, hostile_calls);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let syscount = Running::start("syscount", &["-P", "-p", &pid]);
    let syslat = Running::start("syslat", &["-P", "-p", &pid, "--svg", svg_arg, "0.2"]);
    child.run_to_end();
    for (tool, done) in [("syscount", syscount.finish()), ("syslat", syslat.finish())] {
        assert!(done.status.success(), "{tool}: {done:?}");
        assert!(!done.stdout.contains('\x1b') && !done.stdout.contains('\x07'));
        assert!(done.stdout.contains(ESCAPED), "{tool}: {}", done.stdout);
    }
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains(ESCAPED), "the panel names the process");
    let png = dir.join("p.png");
    let render = Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(&svg)
        .output()
        .unwrap();
    assert!(render.status.success(), "{render:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A path that is not UTF-8 (any bytes are a valid file name): the SVG is
/// written, its title shows the bytes escaped; the tool did abort (SIGABRT)
/// building that title.
#[test]
fn non_utf8_svg_path_is_written_and_shown_escaped() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = scratch("nonutf8");
    let svg = dir.join(std::ffi::OsStr::from_bytes(b"\xff.svg"));
    let out = Command::new(tool_path("runqlat"))
        .arg("--svg")
        .arg(&svg)
        .args(["0.2", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(
        picture.contains(r"runqlat --svg ") && picture.contains(r"\xff.svg 0.2 1 on "),
        "title"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// At `sys_exit` the kernel has set `rt_sigreturn`'s number to -1: count
/// mode names it, counts it exactly, and `--syscall rt_sigreturn` finds it.
#[test]
fn rt_sigreturn_is_named_and_counted_in_count_mode() {
    let child = ForkedChild::new(signals_to_self);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let all = Running::start("syscount", &["--json", "-p", &pid]);
    let only = Running::start(
        "syscount",
        &["--json", "-p", &pid, "--syscall", "rt_sigreturn"],
    );
    child.run_to_end();
    for done in [all.finish(), only.finish()] {
        assert!(done.status.success(), "{done:?}");
        let record: serde_json::Value =
            serde_json::from_str(done.stdout.lines().last().unwrap()).unwrap();
        let rows = record["rows"].as_array().unwrap();
        let row = rows
            .iter()
            .find(|r| r["syscall"] == "rt_sigreturn")
            .unwrap_or_else(|| panic!("no rt_sigreturn row: {record}"));
        assert_eq!(row["count"], SIGNALS, "{record}");
        assert_eq!(row["nr"], libc::SYS_rt_sigreturn, "{record}");
        assert!(rows.iter().all(|r| r["nr"] != 1023), "{record}");
    }
}

/// Signals the child sends itself, each handled and returned from with
/// `rt_sigreturn`.
const SIGNALS: u64 = 307;

extern "C" fn on_usr1(_: libc::c_int) {}

fn signals_to_self() {
    // SAFETY: the forked child installs a handler and signals itself, with
    // raw syscalls only.
    unsafe {
        let mut action = std::mem::zeroed::<libc::sigaction>();
        action.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
        let pid = libc::getpid();
        for _ in 0..SIGNALS {
            libc::kill(pid, libc::SIGUSR1);
        }
    }
}

/// Options that cannot work together, or would write one file twice, or
/// count nothing ever, get one line and a non-zero exit.
#[test]
fn impossible_selections_and_shared_files_are_refused() {
    let dir = scratch("refused");
    let file = dir.join("m.out");
    let file = file.to_str().unwrap();
    let same = format!("{}/./m.out", dir.display());
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "netdrop",
            &["-r", "NO_SOCKET", "-x", "NO_SOCKET", "1", "1"],
            "netdrop: error: -x excludes every reason -r names: nothing would ever be counted\n",
        ),
        (
            "syslat",
            &["--svg", file, "--openmetrics", &same, "1", "1"],
            "syslat: error: --svg and --openmetrics both name",
        ),
        (
            "runqlat",
            &["--openmetrics", file, "--svg", file, "1", "1"],
            "runqlat: error: --svg and --openmetrics both name",
        ),
    ];
    for (tool, args, said) in cases {
        let out = run_tool(tool, args);
        assert_eq!(out.status.code(), Some(1), "{tool} {args:?}: {out:?}");
        assert!(
            out.stderr.starts_with(said),
            "{tool} {args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    assert!(!std::path::Path::new(file).exists(), "nothing written");
    // -x with every reason this kernel has.
    let list = run_tool("netdrop", &["-l"]);
    let every: Vec<&str> = list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let every = every.join(",");
    let out = run_tool("netdrop", &["--all", "-x", &every, "1", "1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains("-x excludes every reason there is"),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A huge bad value is not echoed back whole, and not twice.
#[test]
fn a_huge_bad_value_is_not_echoed_whole() {
    let value = "x".repeat(100_000);
    for (tool, flag) in [("syslat", "-s"), ("syscount", "-e"), ("netdrop", "-r")] {
        let out = run_tool(tool, &[flag, &value]);
        assert_ne!(out.status.code(), Some(0), "{tool}");
        assert!(
            out.stderr.len() < 1_000,
            "{tool}: {} bytes",
            out.stderr.len()
        );
        assert!(!out.stderr.contains("panicked"), "{tool}");
    }
}

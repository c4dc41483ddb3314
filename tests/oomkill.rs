//! oomkill against the kernel's own count of OOM kills in a memory cgroup
//! the test creates and limits.

use toolkit_tests::{
    ForkedChild, MemoryCgroup, Running, assert_unloaded, assert_usage_errors, memory_hog,
};

const LIMIT: u64 = 8 << 20;
#[test]
fn one_line_per_kill_naming_trigger_victim_and_memcg() {
    let cgroup = MemoryCgroup::new("toolkit-oom", LIMIT);
    let kills_before = cgroup.oom_kills();
    let mut text = Running::start("oomkill", &[]);
    let mut json = Running::start("oomkill", &["--json"]);
    let programs = json.programs.clone();
    let child = ForkedChild::named(c"memhog", memory_hog);
    child.wait_blocked();
    cgroup.add(child.pid);
    child.release();
    child.wait_exited();
    // Each tool prints the kill as soon as it reads it: wait for that.
    let line = text.read_line().expect("a line per OOM kill");
    let memcg_line = text.read_line().expect("the memcg line");
    let record = json.read_line().expect("a JSON object per OOM kill");
    let (text, json) = (text.signal(libc::SIGINT), json.signal(libc::SIGINT));
    let pid = child.pid;
    child.kill(); // reap
    let kills = cgroup.oom_kills() - kills_before;
    assert_eq!(kills, 1, "the kernel counted {kills} OOM kills");
    assert!(text.status.success() && json.status.success());
    assert_unloaded(&programs);

    // libbpf-tools' line, byte for byte up to the load average.
    let pages = LIMIT / 4096;
    let expected = format!(
        "Triggered by PID {pid} (\"memhog\"), OOM kill of PID {pid} (\"memhog\"), {pages} pages, loadavg: "
    );
    assert_eq!(&line[8..9], " ", "{line:?}");
    assert!(line[9..].starts_with(&expected), "{line:?}");
    assert_eq!(memcg_line, format!("  memcg: {}\n", cgroup.relative));
    // No other kill, and nothing else, was printed.
    assert_eq!(text.stdout, "", "{}", text.stdout);

    let v: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(v["victim"]["pid"], pid, "{v}");
    assert_eq!(v["victim"]["comm"], "memhog", "{v}");
    assert_eq!(v["trigger"]["pid"], pid, "{v}");
    assert_eq!(v["pages"], pages, "{v}");
    assert_eq!(v["memcg"], cgroup.relative.as_str(), "{v}");
    assert_eq!(json.stdout, "", "{}", json.stdout);
}

#[test]
fn duration_ends_the_run_and_bad_input_is_a_usage_error() {
    let tool = Running::start("oomkill", &["-d", "0.3"]);
    let programs = tool.programs.clone();
    let done = tool.finish();
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    assert_usage_errors(
        "oomkill",
        &[&["-d", "0"], &["-d", "soon"], &["5"], &["--bogus"]],
    );
}

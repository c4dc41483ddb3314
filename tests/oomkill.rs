//! oomkill against the kernel's own count of OOM kills in a memory cgroup
//! the test creates and limits.

use toolkit_tests::{
    ForkedChild, MemoryCgroup, OciContainer, Running, assert_unloaded, assert_usage_errors,
    memory_hog, stop_process,
};

const LIMIT: u64 = 8 << 20;

/// The OOM tests one at a time: oomkill sees every kill on the machine,
/// and each test reads the line of its own.
static ONE_KILL_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn one_line_per_kill_naming_trigger_victim_and_memcg() {
    let _alone = ONE_KILL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

/// A container runtime removes the victim's cgroup as soon as it dies: the
/// path and the limit are read in the kernel at the kill, so a line read
/// after the removal still names the cgroup and its pages. A victim whose
/// name holds a newline and a terminal escape cannot forge a line.
#[test]
fn removed_cgroup_is_still_named_and_names_are_escaped() {
    let _alone = ONE_KILL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cgroup = MemoryCgroup::new("toolkit-oom-gone", LIMIT);
    let mut text = Running::start("oomkill", &[]);
    let mut json = Running::start("oomkill", &["--json"]);
    let programs = json.programs.clone();
    // Stopped: they read the kill only once the cgroup is gone.
    for tool in [&text, &json] {
        stop_process(tool.pid());
    }
    let child = ForkedChild::named(c"x\nforged\x1b[2J", memory_hog);
    child.wait_blocked();
    cgroup.add(child.pid);
    child.release();
    child.wait_exited();
    let pid = child.pid;
    child.kill(); // reap
    assert_eq!(cgroup.oom_kills(), 1);
    let (relative, path) = (cgroup.relative.clone(), cgroup.path.clone());
    drop(cgroup);
    assert!(!path.exists(), "{} still there", path.display());
    for tool in [&text, &json] {
        // SAFETY: kill on the test's own child.
        unsafe { libc::kill(tool.pid() as i32, libc::SIGCONT) };
    }
    let line = text.read_line().expect("a line per OOM kill");
    let memcg_line = text.read_line().expect("the memcg line");
    let record = json.read_line().expect("a JSON object per OOM kill");
    let (text, json) = (text.signal(libc::SIGINT), json.signal(libc::SIGINT));
    assert!(text.status.success() && json.status.success());
    assert_unloaded(&programs);

    let name = r"x\x0aforged\x1b[2J";
    let pages = LIMIT / 4096;
    let expected = format!(
        "Triggered by PID {pid} (\"{name}\"), OOM kill of PID {pid} (\"{name}\"), {pages} pages, loadavg: "
    );
    assert!(line[9..].starts_with(&expected), "{line:?}");
    assert!(!line.contains('\x1b'), "{line:?}");
    assert_eq!(memcg_line, format!("  memcg: {relative}\n"));
    assert_eq!(text.stdout, "", "no other line: {}", text.stdout);
    let v: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(v["victim"]["comm"], name, "{v}");
    assert_eq!(v["pages"], pages, "{v}");
    assert_eq!(v["memcg"], relative.as_str(), "{v}");
}

/// A real container (runc, a busybox root file system) limited to 8 MiB
/// holds 64 MiB in a shell variable: oomkill names the container's ID
/// beside its memory cgroup, read in whichever hierarchy holds the memory
/// controller (cgroup v1 `memory` on this machine, v2 elsewhere).
#[test]
fn an_oom_kill_in_a_container_names_the_container() {
    let _alone = ONE_KILL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let container = OciContainer::new(
        "toolkit-oom-ctr",
        "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}",
        Some(LIMIT),
    );
    let dir = std::env::temp_dir().join(format!("oomkill-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = dir.join("oomkill.prom");
    let mut text = Running::start("oomkill", &[]);
    let mut json = Running::start(
        "oomkill",
        &["--json", "--openmetrics", metrics.to_str().unwrap()],
    );
    let status = container.run();
    assert!(!status.success(), "the container survived: {status}");
    let _kill = text.read_line().expect("a line per OOM kill");
    let memcg_line = text.read_line().expect("the memcg line");
    let record = json.read_line().expect("a JSON object per OOM kill");
    let (text, json) = (text.signal(libc::SIGINT), json.signal(libc::SIGINT));
    assert!(text.status.success() && json.status.success());
    let short = &container.id[..12];
    assert_eq!(
        memcg_line,
        format!("  memcg: {} (oci {short})\n", container.cgroups_path)
    );
    let v: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(v["memcg"], container.cgroups_path.as_str(), "{v}");
    assert_eq!(v["container"], container.id.as_str(), "{v}");
    assert_eq!(v["runtime"], "oci", "{v}");
    // The kill counted for Prometheus by memory cgroup and container
    // (written before the JSON line), named as the JSON names the victim.
    let om = std::fs::read_to_string(&metrics).unwrap();
    let expected = format!(
        "oomkill_kills_total{{memcg=\"{}\",container=\"{}\",comm=\"{}\"}} 1\n",
        container.cgroups_path,
        container.id,
        v["victim"]["comm"].as_str().unwrap()
    );
    assert!(om.contains(&expected), "{expected} not in {om}");
    std::fs::remove_dir_all(&dir).unwrap();
}

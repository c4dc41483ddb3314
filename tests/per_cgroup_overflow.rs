//! `-G` past the kernel maps' capacity: 3000 cgroups, each making a known
//! number of calls. The samples of the cgroups that do not fit are counted
//! lost, the cgroups that fit stay exact. Its own test binary, as it fills
//! the per-cgroup maps of every -G tool running at the same time on
//! purpose (cargo runs test binaries one at a time).

use std::collections::BTreeMap;

use toolkit_tests::{Running, TestCgroup, assert_unloaded, json_record, syscount_rows};

/// Moves itself through the argv[2] cgroups below the parent given as
/// argv[1] (`c0` .. `c2999`), twice, making `i % 5 + 1` getppid calls in
/// cgroup `ci` each time, on a different CPU the second time: of the
/// cgroups that share a slot index (their id modulo argv[3], the slots a
/// split has per CPU), the first makes its calls on the first CPU, the
/// second on the next, and so on. A cgroup that held its slot on one CPU
/// only would find it another's on the next, after the hash map filled.
const WANDERER: &str = r#"
import os, sys
parent, count, slots = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cpus = sorted(os.sched_getaffinity(0))
sharing = {}
first_cpu = []
for i in range(count):
    index = os.stat(f"{parent}/c{i}").st_ino % slots
    first_cpu.append(sharing.get(index, 0) % len(cpus))
    sharing[index] = sharing.get(index, 0) + 1
for moved in range(2):
    for i in range(count):
        with open(f"{parent}/c{i}/cgroup.procs", "w") as procs:
            procs.write(str(os.getpid()))
        os.sched_setaffinity(0, {cpus[(first_cpu[i] + moved) % len(cpus)]})
        for _ in range(i % 5 + 1):
            os.getppid()
"#;

/// Slots a split has per CPU before its hash map
/// (`toolkit_core::CGROUP_SLOTS`).
const SPLIT_SLOTS: u32 = 64;

/// 3000 cgroups, more than a split holds (1024 in its hash map, and 64
/// slots, each for one cgroup on every CPU): the samples of those past it
/// are reported lost in text and JSON, every cgroup shown has its exact
/// count, though it made its calls on two CPUs, and the cgroups that fit
/// but are not among the 1024 shown are summed in `other`.
#[test]
fn cgroups_past_the_map_are_counted_lost_and_the_rest_stay_exact() {
    const COUNT: usize = 3000;
    let parent = TestCgroup::new("split-overflow");
    let cgroups: Vec<TestCgroup> = (0..COUNT)
        .map(|i| TestCgroup::nested(&parent, &format!("c{i}")))
        .collect();
    let parent_path = parent.path.to_string_lossy().into_owned();
    let text = Running::start(
        "syscount",
        &["-G", "--syscall", "getppid", "--max-cgroups", "1024"],
    );
    let json = Running::start(
        "syscount",
        &[
            "-G",
            "--syscall",
            "getppid",
            "--max-cgroups",
            "1024",
            "--json",
        ],
    );
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            WANDERER,
            &parent_path,
            &COUNT.to_string(),
            &SPLIT_SLOTS.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let want: BTreeMap<String, u64> = cgroups
        .iter()
        .enumerate()
        .map(|(i, c)| (c.relative(), 2 * (i as u64 % 5 + 1)))
        .collect();
    let expected: u64 = want.values().sum();
    let programs = text.programs.clone();
    let done = text.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    assert_unloaded(&programs);
    assert!(
        done.stderr.contains("samples lost (per-cgroup map full)"),
        "{}",
        done.stderr
    );
    let record = json_record(&json.stop());
    let rows = syscount_rows(&record);
    let ours: Vec<(&String, &u64)> = rows.iter().filter(|(p, _)| want.contains_key(*p)).collect();
    assert!(
        ours.len() > 900 && ours.len() < COUNT,
        "{} of ours fit",
        ours.len()
    );
    for (path, count) in &ours {
        assert_eq!(Some(*count), want.get(*path), "{path}");
    }
    let fitted: u64 = ours.iter().map(|(_, c)| **c).sum();
    let other = rows.get("other").copied().unwrap_or(0);
    let lost = record["lost"]["per-cgroup map full"].as_u64().unwrap();
    // Every call of ours is shown, in `other` or lost; others' calls may
    // add to `other` and to the losses.
    assert!(
        lost + other >= expected - fitted,
        "lost {lost}, other {other}, missing {}",
        expected - fitted
    );
    drop(cgroups);
}

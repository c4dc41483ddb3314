//! `-G`/`--per-cgroup`'s names and refusals: a real container (runc, a
//! busybox root file system the test builds) named by its ID, and one
//! clear line for what the split cannot work with. (The counts per cgroup
//! against their oracles: `per_cgroup.rs`.)

use toolkit_tests::{OciContainer, Running, json_list, json_record, run_tool};

/// A real container (runc, a busybox root file system the test builds):
/// the split names its ID, in JSON and in text.
#[test]
fn a_runc_container_is_named_by_its_id() {
    let container = OciContainer::new(
        "toolkit-ctr",
        "i=0; while [ $i -lt 300 ]; do i=$((i+1)); sleep 0; done",
        None,
    );
    let all = ["-G", "--max-cgroups", "1024"];
    let json = Running::start("syscount", &[&all[..], &["--json"]].concat());
    let text = Running::start("runqlat", &all);
    assert!(container.run().success());
    let record = json_record(&json.stop());
    let row = json_list(&record["rows"])
        .find(|r| r["container"] == container.id.as_str())
        .unwrap_or_else(|| panic!("no row names {}: {record}", container.id));
    assert_eq!(row["cgroup"], container.cgroups_path.as_str(), "{row}");
    assert_eq!(row["runtime"], "oci", "{row}");
    assert!(row["count"].as_u64().unwrap() > 300, "{row}");
    let heading = format!(
        "cgroup = {} (oci {})",
        container.cgroups_path,
        &container.id[..12]
    );
    let text = text.stop();
    assert!(text.lines().any(|l| l == heading), "{heading}\n{text}");
}

/// One clear line, exit 2, for options the split cannot work with and
/// impossible `--max-cgroups`.
#[test]
fn the_split_refuses_what_it_cannot_work_with() {
    for (tool, args) in [
        ("syscount", &["-G", "-P"][..]),
        ("syslat", &["-G", "-P"]),
        ("runqlat", &["-G", "-L"]),
        ("runqlat", &["-G", "--pidnss"]),
        ("syscount", &["-G", "--max-cgroups", "0"]),
        ("syslat", &["-G", "--max-cgroups", "1025"]),
        ("runqlat", &["-G", "--max-cgroups", "99999999999"]),
        ("runqlat", &["--max-cgroups", "5"]),
    ] {
        let done = run_tool(tool, args);
        assert_eq!(done.status.code(), Some(2), "{tool} {args:?}: {done:?}");
        assert!(
            done.stderr.starts_with("error: "),
            "{tool} {args:?}: {}",
            done.stderr
        );
    }
}

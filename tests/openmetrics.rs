//! `--openmetrics FILE`, written the safe way by a root process: what is
//! not a regular file is refused and left alone, a planted symlink is never
//! followed, a file that cannot be written mid-run is a warning and tracing
//! goes on, and two instances share one file without a torn write.

use std::os::unix::fs::FileTypeExt as _;

use toolkit_tests::{Running, entries, run_tool, scratch};

/// The tools that write `--openmetrics FILE`.
const METRICS_TOOLS: [&str; 4] = ["biolatency", "runqlat", "syslat", "memlat"];

fn mknod(path: &std::path::Path, mode: libc::mode_t, dev: libc::dev_t) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; the node is made in our scratch directory.
    assert_eq!(
        unsafe { libc::mknod(c.as_ptr(), mode, dev) },
        0,
        "mknod {path:?}"
    );
}

/// A FILE that exists and is not a regular file is refused at start, in
/// one line, and left as it was: a FIFO, a character device node (made in
/// the scratch directory, never a real one), a symlink and a directory.
#[test]
fn openmetrics_refuses_what_is_not_a_regular_file() {
    let dir = scratch("om-refuse");
    let precious = dir.join("precious");
    std::fs::write(&precious, "keep").unwrap();
    mknod(&dir.join("fifo"), libc::S_IFIFO | 0o600, 0);
    mknod(
        &dir.join("null"),
        libc::S_IFCHR | 0o600,
        libc::makedev(1, 3),
    );
    std::os::unix::fs::symlink(&precious, dir.join("link")).unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();
    let before = entries(&dir);
    for tool in METRICS_TOOLS {
        for (name, what) in [
            ("fifo", "a FIFO"),
            ("null", "a character device"),
            ("link", "a symbolic link"),
            ("subdir", "a directory"),
        ] {
            let path = dir.join(name);
            let out = run_tool(tool, &["--openmetrics", path.to_str().unwrap(), "1", "1"]);
            assert_eq!(out.status.code(), Some(1), "{tool} {name}: {out:?}");
            assert_eq!(
                out.stderr,
                format!(
                    "{tool}: error: refusing to write {}: it is {what}, not a regular file\n",
                    path.display()
                ),
                "{tool} {name}"
            );
            assert!(out.stdout.is_empty(), "{tool} {name}: {}", out.stdout);
        }
    }
    assert_eq!(entries(&dir), before, "something was created or replaced");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
    assert!(
        std::fs::symlink_metadata(dir.join("null"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A symlink planted at the old, predictable temporary name is never
/// followed, and no temporary file is left behind.
#[test]
fn openmetrics_temp_file_is_not_a_planted_symlink() {
    let dir = scratch("om-plant");
    let precious = dir.join("precious");
    std::fs::write(&precious, "keep").unwrap();
    let file = dir.join("syslat.prom");
    std::os::unix::fs::symlink(&precious, dir.join("syslat.prom.tmp")).unwrap();
    let out = run_tool(
        "syslat",
        &["--openmetrics", file.to_str().unwrap(), "0.05", "5"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(
        entries(&dir),
        ["precious", "syslat.prom", "syslat.prom.tmp"],
        "a temporary file was left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// FILE's directory removed mid-run: a warning per interval naming the
/// path, while stdout keeps every interval's histograms and the run ends
/// normally; nothing is left behind when it comes back.
#[test]
fn openmetrics_unwritable_mid_run_warns_and_goes_on() {
    let dir = scratch("om-gone");
    let sub = dir.join("textfile");
    std::fs::create_dir(&sub).unwrap();
    let file = sub.join("syslat.prom");
    let tool = Running::start(
        "syslat",
        &[
            "--json",
            "-s",
            "getppid",
            "--openmetrics",
            file.to_str().unwrap(),
            "0.2",
            "5",
        ],
    );
    // The file was written once before the banner; now take the directory.
    std::fs::remove_dir_all(&sub).unwrap();
    let done = tool.finish();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(done.stdout.lines().count(), 5, "{}", done.stdout);
    let warnings: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.starts_with("syslat: warning: writing "))
        .collect();
    assert_eq!(warnings.len(), 5, "{}", done.stderr);
    assert!(
        warnings.iter().all(|w| w.contains(file.to_str().unwrap())),
        "{}",
        done.stderr
    );
    assert_eq!(entries(&dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two instances given the same FILE both run to the end; the file is
/// whole and no temporary file remains.
#[test]
fn openmetrics_two_instances_share_a_file() {
    let dir = scratch("om-two");
    let file = dir.join("shared.prom");
    let args = ["--openmetrics", file.to_str().unwrap(), "0.02", "50"];
    let a = Running::start("syslat", &args);
    let b = Running::start("memlat", &args);
    let (a, b) = (a.finish(), b.finish());
    assert!(a.status.success(), "{a:?}");
    assert!(b.status.success(), "{b:?}");
    assert!(!a.stderr.contains("warning") && !b.stderr.contains("warning"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(entries(&dir), ["shared.prom"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

//! fsdist and fsslower against a child that makes known numbers of file
//! operations on an ext4, an XFS and a tmpfs file system of the test's own,
//! and reads and writes a pipe, a socket and /dev/null beside them.

use std::{
    collections::BTreeMap,
    ffi::{CStr, CString},
    sync::OnceLock,
};

use toolkit_tests::{ForkedChild, MountedFs, Running, parse_log2_hists, run_tool, trace_forked};

/// The file systems, in the order the child uses them (`k` = 1, 2, 3).
const TYPES: [&str; 3] = ["ext4", "xfs", "tmpfs"];

/// Where the child works, set before it is forked: per file system its
/// data file and its directory.
static TARGETS: OnceLock<Vec<(CString, CString)>> = OnceLock::new();
/// A path on none of them, for path-based calls.
static ELSEWHERE: OnceLock<CString> = OnceLock::new();

/// Per file system `k`: opens (the file's, then the directory's), writes,
/// reads, fsyncs, getattrs, readdirs.
fn expected(k: u64) -> [(&'static str, u64); 6] {
    [
        ("read", 10 * k + 3),
        ("write", 10 * k + 1),
        ("open", 3 + k + 1),
        ("fsync", k + 1),
        ("getattr", 2 * k + 2),
        ("readdir", 2),
    ]
}

/// The operations of the other kinds (shown with `-a`): a pipe's and a
/// socket's reads and writes, /dev/null's open and writes, and calls
/// given a path (stat) or failing to open one.
const OTHER_KINDS: [(&str, &str, u64); 8] = [
    ("pipe", "read", 7),
    ("pipe", "write", 7),
    ("socket", "read", 5),
    ("socket", "write", 5),
    ("chardev", "open", 1),
    ("chardev", "write", 3),
    ("unresolved", "getattr", 4),
    ("unresolved", "open", 2),
];

fn sys(nr: libc::c_long, a: [libc::c_long; 4]) -> libc::c_long {
    // SAFETY: raw syscalls on the child's own descriptors and static
    // buffers; the arguments are checked by the kernel.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3]) }
}

static mut BUF: [u8; 4096] = [0; 4096];

fn buf() -> libc::c_long {
    &raw mut BUF as libc::c_long
}

/// The child's work on file system `k` (1-based) at `file` in `dir`.
fn on_file_system(k: u64, file: &CStr, dir: &CStr) {
    let k = k as libc::c_long;
    let open = |path: &CStr, flags: libc::c_int| {
        sys(
            libc::SYS_openat,
            [libc::AT_FDCWD as _, path.as_ptr() as _, flags as _, 0o644],
        )
    };
    let mut fd = -1;
    for i in 0..3 + k {
        fd = open(file, libc::O_CREAT | libc::O_RDWR);
        if i + 1 < 3 + k {
            sys(libc::SYS_close, [fd, 0, 0, 0]);
        }
    }
    for _ in 0..5 * k {
        sys(libc::SYS_write, [fd, buf(), 512, 0]);
    }
    for _ in 0..5 * k + 1 {
        sys(libc::SYS_pwrite64, [fd, buf(), 512, 4096]);
    }
    sys(libc::SYS_lseek, [fd, 0, libc::SEEK_SET as _, 0]);
    for _ in 0..5 * k + 1 {
        sys(libc::SYS_read, [fd, buf(), 512, 0]);
    }
    for _ in 0..5 * k + 2 {
        sys(libc::SYS_pread64, [fd, buf(), 512, 0]);
    }
    for _ in 0..k {
        sys(libc::SYS_fsync, [fd, 0, 0, 0]);
    }
    sys(libc::SYS_fdatasync, [fd, 0, 0, 0]);
    for _ in 0..2 * k {
        sys(libc::SYS_fstat, [fd, buf(), 0, 0]);
    }
    let empty = c"".as_ptr() as libc::c_long;
    sys(
        libc::SYS_newfstatat,
        [fd, empty, buf(), libc::AT_EMPTY_PATH as _],
    );
    // statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, buf): five arguments.
    // SAFETY: as `sys`.
    unsafe {
        libc::syscall(
            libc::SYS_statx,
            fd,
            empty,
            libc::AT_EMPTY_PATH,
            0x7ff,
            buf(),
        )
    };
    sys(libc::SYS_close, [fd, 0, 0, 0]);
    let dirfd = open(dir, libc::O_RDONLY | libc::O_DIRECTORY);
    // Two calls: the few entries, then the end.
    for _ in 0..2 {
        sys(libc::SYS_getdents64, [dirfd, buf(), 4096, 0]);
    }
    sys(libc::SYS_close, [dirfd, 0, 0, 0]);
}

/// The other kinds: a pipe, a socket pair, /dev/null, paths.
fn on_other_kinds() {
    let mut fds = [0i32; 2];
    let both = |fds: &[i32; 2], times: u64| {
        for _ in 0..times {
            sys(libc::SYS_write, [fds[1] as _, buf(), 64, 0]);
            sys(libc::SYS_read, [fds[0] as _, buf(), 64, 0]);
        }
    };
    sys(libc::SYS_pipe2, [fds.as_mut_ptr() as _, 0, 0, 0]);
    both(&fds, 7);
    sys(
        libc::SYS_socketpair,
        [
            libc::AF_UNIX as _,
            libc::SOCK_STREAM as _,
            0,
            fds.as_mut_ptr() as _,
        ],
    );
    both(&fds, 5);
    let null = sys(
        libc::SYS_openat,
        [
            libc::AT_FDCWD as _,
            c"/dev/null".as_ptr() as _,
            libc::O_WRONLY as _,
            0,
        ],
    );
    for _ in 0..3 {
        sys(libc::SYS_write, [null, buf(), 64, 0]);
    }
    let elsewhere = ELSEWHERE.get().unwrap();
    for _ in 0..4 {
        sys(
            libc::SYS_newfstatat,
            [libc::AT_FDCWD as _, elsewhere.as_ptr() as _, buf(), 0],
        );
    }
    for _ in 0..2 {
        sys(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as _,
                c"/nonexistent/fsdist".as_ptr() as _,
                0,
                0,
            ],
        );
    }
}

fn workload() {
    for (k, (file, dir)) in TARGETS.get().unwrap().iter().enumerate() {
        on_file_system(k as u64 + 1, file, dir);
    }
    on_other_kinds();
}

/// The three file systems, mounted (one test at a time: they share the
/// mount points), and the child's paths on them.
struct Mounted {
    filesystems: Vec<MountedFs>,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

fn mount_all() -> Mounted {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let filesystems: Vec<MountedFs> = TYPES
        .iter()
        .map(|t| MountedFs::new(t, &format!("fsdist-{t}")))
        .collect();
    let targets = filesystems
        .iter()
        .map(|fs| (fs.path("data"), fs.path("")))
        .collect();
    let _ = TARGETS.set(targets);
    let _ = ELSEWHERE.set(CString::new(std::env::temp_dir().to_string_lossy().as_bytes()).unwrap());
    Mounted {
        filesystems,
        _one_at_a_time: guard,
    }
}

/// Counts by (fs, operation) from fsdist's last JSON record.
fn json_counts(out: &str, label: &str) -> BTreeMap<(String, String), u64> {
    let record: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    record["histograms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let key = &h["key"];
            let by = key[label].as_str().unwrap().to_string();
            let op = key["operation"].as_str().unwrap().to_string();
            ((by, op), h["count"].as_u64().unwrap())
        })
        .collect()
}

fn files_expected() -> BTreeMap<(String, String), u64> {
    let mut want = BTreeMap::new();
    for (k, fs) in TYPES.iter().enumerate() {
        for (op, n) in expected(k as u64 + 1) {
            want.insert((fs.to_string(), op.to_string()), n);
        }
    }
    want
}

#[test]
fn counts_each_file_system_and_operation_exactly() {
    let _mounted = mount_all();
    let out = trace_forked("fsdist", workload, &["--json"]);
    // Only the file systems: the pipe, the socket, /dev/null and the
    // path-only calls are not among the files.
    assert_eq!(json_counts(&out, "fs"), files_expected(), "{out}");
}

#[test]
fn all_kinds_shows_pipes_sockets_devices_and_paths_apart() {
    let _mounted = mount_all();
    let out = trace_forked("fsdist", workload, &["--json", "-a"]);
    let mut want = files_expected();
    for (kind, op, n) in OTHER_KINDS {
        want.insert((kind.to_string(), op.to_string()), n);
    }
    assert_eq!(json_counts(&out, "fs"), want, "{out}");
}

#[test]
fn one_type_prints_libbpf_tools_layout() {
    let _mounted = mount_all();
    let out = trace_forked("fsdist", workload, &["-t", "xfs"]);
    let hists = parse_log2_hists(&out);
    let got: Vec<(String, u64)> = hists
        .iter()
        .map(|h| (h.header.clone(), h.total()))
        .collect();
    let want: Vec<(String, u64)> = expected(2)
        .iter()
        .map(|(op, n)| (format!("operation = '{op}'"), *n))
        .collect();
    assert_eq!(got, want, "{out}");
    // libbpf-tools' fsdist: after the banner (read by the harness) a
    // blank line, each histogram headed and followed by a blank line.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!((lines[0], lines[1]), ("", "operation = 'read'"), "{out}");
    assert_eq!(lines.last(), Some(&""), "{out}");
}

#[test]
fn per_mount_split_names_the_mount_points() {
    let mounted = mount_all();
    let out = trace_forked("fsdist", workload, &["--json", "-M"]);
    let counts = json_counts(&out, "mount");
    for (k, fs) in mounted.filesystems.iter().enumerate() {
        let point = fs.dir.to_string_lossy().into_owned();
        for (op, n) in expected(k as u64 + 1) {
            assert_eq!(
                counts.get(&(point.clone(), op.to_string())),
                Some(&n),
                "{out}"
            );
        }
    }
    assert_eq!(counts.len(), 3 * 6, "{out}");
}

#[test]
fn fsslower_prints_one_line_per_operation_with_its_file() {
    let _mounted = mount_all();
    let child = ForkedChild::new(workload);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let tool = Running::start("fsslower", &["-m", "0", "-p", &pid]);
    child.run_to_end();
    let out = tool.stop();
    let lines: Vec<&str> = out.lines().skip(1).collect();
    let mut by_letter: BTreeMap<&str, u64> = BTreeMap::new();
    for line in &lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[2], pid, "{line}");
        // The data file's name, or the directory's (the root of its file
        // system: `/`).
        let name = fields.last().unwrap();
        assert!(*name == "data" || *name == "/", "{line}");
        *by_letter.entry(fields[3]).or_insert(0) += 1;
    }
    let total = |op: &str| -> u64 {
        (1..=3)
            .map(|k| expected(k).iter().find(|(o, _)| *o == op).unwrap().1)
            .sum()
    };
    let want: BTreeMap<&str, u64> = [
        ("R", total("read")),
        ("W", total("write")),
        ("O", total("open")),
        ("F", total("fsync")),
        ("S", total("getattr")),
        ("D", total("readdir")),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_letter, want, "{out}");
    assert_eq!(
        out.lines().next(),
        Some("TIME     COMM             PID     T BYTES   OFF_KB   LAT(ms) FILENAME")
    );
}

const FLOOD: u64 = 100_000;

/// Opens (creating it) the data file of file system `index` of TARGETS.
fn open_data(index: usize) -> libc::c_long {
    let (file, _) = &TARGETS.get().unwrap()[index];
    let flags = libc::O_CREAT | libc::O_RDWR;
    sys(
        libc::SYS_openat,
        [libc::AT_FDCWD as _, file.as_ptr() as _, flags as _, 0o644],
    )
}

/// fstat of one tmpfs file, FLOOD times, as fast as it goes.
fn flood() {
    let fd = open_data(2);
    for _ in 0..FLOOD {
        sys(libc::SYS_fstat, [fd, buf(), 0, 0]);
    }
}

#[test]
fn fsslower_flood_loses_only_what_it_reports() {
    let _mounted = mount_all();
    let child = ForkedChild::new(flood);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let tool = Running::start("fsslower", &["-m", "0", "-p", &pid, "--json"]);
    child.run_to_end();
    let done = tool.signal(libc::SIGINT);
    assert!(done.status.success(), "{done:?}");
    let printed = done.stdout.lines().count() as u64;
    let lost: u64 = done
        .stderr
        .lines()
        .filter(|l| l.ends_with("samples lost (ring buffer full)"))
        .map(|l| l.split_whitespace().nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    eprintln!("{printed} printed, {lost} lost of {}", FLOOD + 1);
    // Every fstat and the open: printed, or counted lost.
    assert_eq!(printed + lost, FLOOD + 1, "{}", done.stderr);
}

#[test]
fn bad_input_is_one_line() {
    for (tool, args, says) in [
        (
            "fsdist",
            &["-t", "ext5"][..],
            "unknown file system type 'ext5'",
        ),
        (
            "fsslower",
            &["-t", "nosuchfs"],
            "unknown file system type 'nosuchfs'",
        ),
        ("fsdist", &["-p", "4000000"], "process 4000000 not found"),
        ("fsslower", &["-p", "4000000"], "process 4000000 not found"),
    ] {
        let out = run_tool(tool, args);
        assert_eq!(out.status.code(), Some(1), "{tool} {args:?}: {out:?}");
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "{tool} {args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(says), "{tool} {args:?}: {}", out.stderr);
    }
    let csv = run_tool("fsslower", &["-c", "-d", "0.1"]);
    assert!(csv.status.success(), "{csv:?}");
    assert_eq!(
        csv.stdout.lines().next(),
        Some("ENDTIME_ns,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE")
    );
}

const FSYNCS: u64 = 50;

/// A 4 KiB write then an fsync, FSYNCS times, on the ext4 file system.
fn fsyncs() {
    let fd = open_data(0);
    for _ in 0..FSYNCS {
        sys(libc::SYS_pwrite64, [fd, buf(), 4096, 0]);
        sys(libc::SYS_fsync, [fd, 0, 0, 0]);
    }
}

/// The kernel's own account of ext4's fsyncs: bpftrace on the
/// `ext4:ext4_sync_file_enter`/`exit` tracepoints (in a mount namespace of
/// its own, where tracefs is mounted if the machine has it unmounted),
/// against fsdist's fsync histogram of the same child. The count is
/// exact; fsdist's time adds to each call the syscall's entry and exit and
/// the VFS call into ext4 (a microsecond or two here), never less.
#[test]
fn ext4_fsync_agrees_with_the_kernels_ext4_tracepoints() {
    let _mounted = mount_all();
    let child = ForkedChild::new(fsyncs);
    child.wait_blocked();
    let pid = child.pid;
    let script = format!(
        "tracepoint:ext4:ext4_sync_file_enter /pid == {pid}/ {{ @start[tid] = nsecs; }} \
         tracepoint:ext4:ext4_sync_file_exit /pid == {pid} && @start[tid]/ {{ \
         @sum = sum(nsecs - @start[tid]); @count = count(); delete(@start[tid]); }}"
    );
    let mut oracle = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(
            "mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing \
             && exec bpftrace -e \"$0\"",
        )
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(oracle.stdout.take().unwrap());
    let mut banner = String::new();
    std::io::BufRead::read_line(&mut lines, &mut banner).unwrap();
    assert!(banner.starts_with("Attaching"), "bpftrace: {banner}");
    let pid_text = pid.to_string();
    let tool = Running::start("fsdist", &["-t", "ext4", "-p", &pid_text, "--json"]);
    child.run_to_end();
    let out = tool.stop();
    // SAFETY: SIGINT to our own child, which prints its maps and exits.
    unsafe { libc::kill(oracle.id() as i32, libc::SIGINT) };
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut lines, &mut printed).unwrap();
    oracle.wait().unwrap();
    let field = |name: &str| -> u64 {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("@{name}: ")))
            .unwrap_or_else(|| panic!("no @{name} in {printed}"))
            .trim()
            .parse()
            .unwrap()
    };
    let (kernel_count, kernel_ns) = (field("count"), field("sum"));
    let record: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let fsync = record["histograms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["key"]["operation"] == "fsync")
        .unwrap_or_else(|| panic!("no fsync in {out}"));
    let (count, ns) = (
        fsync["count"].as_u64().unwrap(),
        fsync["sum"].as_u64().unwrap(),
    );
    let extra = ns.saturating_sub(kernel_ns) / FSYNCS;
    eprintln!(
        "fsync: fsdist {count} calls, {ns} ns; ext4 tracepoints {kernel_count} calls, \
         {kernel_ns} ns; {extra} ns more per call"
    );
    assert_eq!((count, kernel_count), (FSYNCS, FSYNCS), "{out}\n{printed}");
    assert!(
        ns >= kernel_ns,
        "fsdist {ns} ns < ext4's own {kernel_ns} ns"
    );
    // The syscall's entry and exit and the VFS call around ext4's: 50 us
    // per call at most, where a microsecond or two is usual.
    assert!(extra <= 50_000, "{extra} ns per fsync beyond ext4's own");
}

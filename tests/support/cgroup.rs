//! Scratch cgroups: a v2 cgroup, and a limited memory cgroup in whichever
//! hierarchy holds the memory controller (v1 on hybrid machines, or v2).

use std::{path::PathBuf, time::Duration};

use crate::ForkedChild;

/// A scratch cgroup v2 directory, removed (its tasks moved back to the
/// root first) when dropped.
pub struct TestCgroup {
    pub path: PathBuf,
    root: PathBuf,
}

impl TestCgroup {
    /// Creates `<cgroup2 mount>/<name>-<pid>`.
    pub fn new(name: &str) -> TestCgroup {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        let root = mounts
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
            })
            .expect("no cgroup2 mount");
        let path = root.join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TestCgroup { path, root }
    }

    /// Creates `<parent>/<name>`, inside a scratch cgroup.
    pub fn nested(parent: &TestCgroup, name: &str) -> TestCgroup {
        let path = parent.path.join(name);
        std::fs::create_dir_all(&path).unwrap();
        TestCgroup {
            path,
            root: parent.root.clone(),
        }
    }

    /// The path as the tools print it: below the hierarchy's root,
    /// `/name-PID`.
    pub fn relative(&self) -> String {
        format!("/{}", self.path.strip_prefix(&self.root).unwrap().display())
    }

    /// Its id: the directory's inode number.
    pub fn id(&self) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(&self.path).unwrap().ino()
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.path.join("cgroup.procs")) {
            for pid in procs.lines() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// A scratch memory cgroup with a limit, in whichever hierarchy holds the
/// memory controller: cgroup v1 (`/sys/fs/cgroup/memory` on hybrid
/// machines) or v2. Removed on drop; the machine's mounts are never
/// touched.
pub struct MemoryCgroup {
    pub path: PathBuf,
    /// The path below the hierarchy's root, as tools print it (`/name`).
    pub relative: String,
    pub v2: bool,
}

impl MemoryCgroup {
    /// Creates `<memory hierarchy>/<name>-<pid>` limited to `limit` bytes.
    pub fn new(name: &str, limit: u64) -> MemoryCgroup {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut found = None;
        for line in mountinfo.lines() {
            let (left, right) = line.split_once(" - ").unwrap();
            let point = PathBuf::from(left.split_whitespace().nth(4).unwrap());
            let fields: Vec<&str> = right.split_whitespace().collect();
            if fields[0] == "cgroup" && fields[2].split(',').any(|o| o == "memory") {
                found = Some((point, false));
                break;
            }
            if fields[0] == "cgroup2"
                && found.is_none()
                && std::fs::read_to_string(point.join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
            {
                found = Some((point, true));
            }
        }
        let (root, v2) = found.expect("no memory cgroup controller mounted");
        let leaf = format!("{name}-{}", std::process::id());
        let path = root.join(&leaf);
        std::fs::create_dir_all(&path).unwrap();
        if v2 {
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory");
        }
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        std::fs::write(path.join(file), limit.to_string()).unwrap();
        MemoryCgroup {
            path,
            relative: format!("/{leaf}"),
            v2,
        }
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    /// How often the cgroup's limit was hit: `memory.failcnt` under v1,
    /// `memory.events` `max` under v2.
    pub fn limit_hits(&self) -> u64 {
        if self.v2 {
            let text = std::fs::read_to_string(self.path.join("memory.events")).unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("max "))
                .map_or(0, |v| v.trim().parse().unwrap())
        } else {
            std::fs::read_to_string(self.path.join("memory.failcnt"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        }
    }

    /// OOM kills in the cgroup so far, as the kernel counts them
    /// (`memory.oom_control` under v1, `memory.events` under v2).
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = std::fs::read_to_string(self.path.join(file)).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        remove_when_empty(&self.path);
    }
}

/// Removes a scratch cgroup whose tasks have exited (the tests kill and
/// reap them first); an exiting task can hold it busy for a moment.
fn remove_when_empty(path: &std::path::Path) {
    for _ in 0..100 {
        if std::fs::remove_dir(path).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The mount of whichever hierarchy holds `controller` (a cgroup v1 mount
/// with it among its options, else the v2 mount), and whether it is v2;
/// on v2 the controller is enabled for the root's children.
fn controller_hierarchy(v1: &str, v2: &str) -> (PathBuf, bool) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut unified = None;
    for line in mountinfo.lines() {
        let (left, right) = line.split_once(" - ").unwrap();
        let point = PathBuf::from(left.split_whitespace().nth(4).unwrap());
        let fields: Vec<&str> = right.split_whitespace().collect();
        if fields[0] == "cgroup" && fields[2].split(',').any(|o| o == v1) {
            return (point, false);
        }
        if fields[0] == "cgroup2" && unified.is_none() {
            unified = Some(point);
        }
    }
    let root = unified.expect("no cgroup hierarchy with the controller");
    let _ = std::fs::write(root.join("cgroup.subtree_control"), format!("+{v2}"));
    (root, true)
}

/// A scratch cgroup of the block I/O controller (`blkio` v1 on hybrid
/// machines, `io` v2), whose own counters are the oracle of the I/O its
/// tasks issue. Removed on drop.
pub struct BlockCgroup {
    pub path: PathBuf,
    /// Below the hierarchy's root, as tools print it.
    pub relative: String,
    pub v2: bool,
}

impl BlockCgroup {
    pub fn new(name: &str) -> BlockCgroup {
        let (root, v2) = controller_hierarchy("blkio", "io");
        let leaf = format!("{name}-{}", std::process::id());
        let path = root.join(&leaf);
        std::fs::create_dir_all(&path).unwrap();
        BlockCgroup {
            path,
            relative: format!("/{leaf}"),
            v2,
        }
    }

    /// Makes the cgroup count its I/O to `major:minor`: v2 always does;
    /// v1 counts only the bios that pass its throttle, so a write limit
    /// far above what any test issues (a million IOPS) turns it on
    /// without ever delaying a request.
    pub fn count_device(&self, major: u32, minor: u32) {
        if !self.v2 {
            let file = self.path.join("blkio.throttle.write_iops_device");
            std::fs::write(file, format!("{major}:{minor} 1000000")).unwrap();
        }
    }

    /// Writes the cgroup has issued to device `major:minor`, by its own
    /// counter: `io.stat`'s `wios` (v2) or `blkio.throttle.io_serviced`'s
    /// `Write` (v1).
    pub fn writes(&self, major: u32, minor: u32) -> u64 {
        let dev = format!("{major}:{minor}");
        if self.v2 {
            let text = std::fs::read_to_string(self.path.join("io.stat")).unwrap();
            text.lines()
                .filter(|l| l.starts_with(&format!("{dev} ")))
                .flat_map(|l| l.split_whitespace())
                .find_map(|f| f.strip_prefix("wios="))
                .map_or(0, |v| v.parse().unwrap())
        } else {
            let file = self.path.join("blkio.throttle.io_serviced");
            let text = std::fs::read_to_string(file).unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{dev} Write ")))
                .map_or(0, |v| v.trim().parse().unwrap())
        }
    }
}

impl Drop for BlockCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// A scratch cgroup of the CPU controller (`cpu` v1 on hybrid machines,
/// v2 otherwise) whose tasks may run `quota_us` of every `period_us`.
/// Removed on drop.
pub struct CpuCgroup {
    pub path: PathBuf,
    /// Below the hierarchy's root, as tools print it.
    pub relative: String,
}

impl CpuCgroup {
    pub fn new(name: &str, quota_us: u64, period_us: u64) -> CpuCgroup {
        let (root, v2) = controller_hierarchy("cpu", "cpu");
        let leaf = format!("{name}-{}", std::process::id());
        let path = root.join(&leaf);
        std::fs::create_dir_all(&path).unwrap();
        if v2 {
            std::fs::write(path.join("cpu.max"), format!("{quota_us} {period_us}")).unwrap();
        } else {
            std::fs::write(path.join("cpu.cfs_period_us"), period_us.to_string()).unwrap();
            std::fs::write(path.join("cpu.cfs_quota_us"), quota_us.to_string()).unwrap();
        }
        CpuCgroup {
            path,
            relative: format!("/{leaf}"),
        }
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        remove_when_empty(&self.path);
    }
}

/// Three scratch cgroups below one parent, a blocked child in each: the
/// `-G` tests' workloads, each with its own oracle. Dropped (fields in
/// order) children first, then the cgroups, then their parent.
pub struct ThreeCgroups {
    pub children: Vec<ForkedChild>,
    pub cgroups: Vec<TestCgroup>,
    pub parent: TestCgroup,
}

impl ThreeCgroups {
    /// `a`, `b` and `c` below `name`, each child running its workload once
    /// let go ([`ForkedChild::run_to_end`]).
    pub fn new(name: &str, workloads: [fn(); 3]) -> ThreeCgroups {
        let parent = TestCgroup::new(name);
        let cgroups: Vec<TestCgroup> = ["a", "b", "c"]
            .iter()
            .map(|n| TestCgroup::nested(&parent, n))
            .collect();
        let children: Vec<ForkedChild> = workloads
            .iter()
            .zip(&cgroups)
            .map(|(workload, cgroup)| {
                let child = ForkedChild::named(c"split-child", *workload);
                cgroup.add(child.pid);
                child.wait_blocked();
                child
            })
            .collect();
        ThreeCgroups {
            children,
            cgroups,
            parent,
        }
    }

    /// Their paths, as the tools print them.
    pub fn paths(&self) -> Vec<String> {
        self.cgroups.iter().map(TestCgroup::relative).collect()
    }

    /// Lets each child run its workload, and waits for it to end.
    pub fn run_children(&mut self) {
        for child in self.children.drain(..) {
            child.run_to_end();
        }
    }
}

//! Helpers for the root-only integration tests: run a tool, drive a
//! workload, read the kernel's own accounting.

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Read as _},
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// The toolkit's tools, from `tools.txt` (the one list).
pub fn tools() -> Vec<&'static str> {
    include_str!("../../tools.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The tools that print per interval (`[interval] [count]`): all but
/// oomkill, which prints each kill as it comes.
pub fn interval_tools() -> Vec<&'static str> {
    tools().into_iter().filter(|t| *t != "oomkill").collect()
}

/// Path of a tool binary built in the same profile as the tests.
pub fn tool_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the tools first (cargo build --release)",
        path.display()
    );
    path
}

/// IDs of the eBPF programs loaded in the kernel right now.
pub fn loaded_program_ids() -> BTreeSet<u32> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|p| p.id())
        .collect()
}

/// IDs of the eBPF programs process `pid` holds open (from its fdinfo).
pub fn program_ids_of(pid: u32) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let is_prog = std::fs::read_link(fd.path())
            .is_ok_and(|target| target.to_string_lossy() == "anon_inode:bpf-prog");
        if !is_prog {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        if let Some(id) = info.lines().find_map(|l| l.strip_prefix("prog_id:")) {
            ids.insert(id.trim().parse().unwrap());
        }
    }
    ids
}

/// Asserts that none of `programs` is still loaded; the kernel frees a
/// program shortly after its last reference goes (RCU), so this polls for up
/// to two seconds.
pub fn assert_unloaded(programs: &BTreeSet<u32>) {
    assert!(!programs.is_empty(), "no program was seen loading");
    for _ in 0..200 {
        if loaded_program_ids().is_disjoint(programs) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let left: Vec<_> = loaded_program_ids()
        .intersection(programs)
        .copied()
        .collect();
    panic!("programs {left:?} still loaded after exit");
}

/// A tool running in the background, already attached (its banner seen).
pub struct Running {
    child: Child,
    /// `None` once closed or read to the end.
    stdout: Option<BufReader<ChildStdout>>,
    banner_on_stderr: bool,
    /// IDs of the programs it loaded.
    pub programs: BTreeSet<u32>,
}

/// What a tool printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    /// Starts `tool args...` and waits for its banner line (`Tracing ...`),
    /// which it prints only once every program is attached. With `--json`
    /// the banner is on stderr.
    pub fn start(tool: &str, args: &[&str]) -> Running {
        Self::start_path(&tool_path(tool).to_string_lossy(), args)
    }

    /// Like [`Running::start`] for any program (libbpf-tools' twin, say);
    /// run under `stdbuf -oL` since libbpf-tools does not flush its banner
    /// into a pipe.
    pub fn start_path(tool: &str, args: &[&str]) -> Running {
        Self::start_env(tool, args, &[])
    }

    /// Like [`Running::start_path`], with extra environment variables.
    pub fn start_env(tool: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let banner_on_stderr = args.contains(&"--json");
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg(tool)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {tool}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        if banner_on_stderr {
            let mut stderr = BufReader::new(child.stderr.take().unwrap());
            stderr.read_line(&mut line).unwrap();
            child.stderr = Some(stderr.into_inner());
        } else {
            stdout.read_line(&mut line).unwrap();
        }
        if !line.starts_with("Tracing") {
            let mut rest = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut rest).ok();
            }
            let status = child.wait().unwrap();
            panic!("{tool} {args:?} did not start: {status}: {line}{rest}");
        }
        let programs = program_ids_of(child.id());
        Running {
            child,
            stdout: Some(stdout),
            banner_on_stderr,
            programs,
        }
    }

    /// The next line of the tool's stdout, `None` at its end.
    pub fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        let stdout = self.stdout.as_mut()?;
        match stdout.read_line(&mut line).unwrap() {
            0 => None,
            _ => Some(line),
        }
    }

    /// Process id of the tool.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and collects the rest of the output.
    pub fn signal(self, signal: i32) -> Finished {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.finish()
    }

    /// Stops the tool with SIGINT, as Ctrl-C does; checks that it exited 0
    /// and left nothing loaded, and returns its stdout.
    pub fn stop(self) -> String {
        let programs = self.programs.clone();
        let done = self.signal(libc::SIGINT);
        assert!(done.status.success(), "{done:?}");
        assert_unloaded(&programs);
        done.stdout
    }

    /// Closes the read end of the tool's stdout, as `| head -1` does, and
    /// waits for it to exit.
    pub fn close_stdout(mut self) -> ExitStatus {
        self.stdout.take();
        self.child.stderr.take();
        self.child.wait().unwrap()
    }

    /// Waits for the tool to exit by itself.
    pub fn finish(mut self) -> Finished {
        let mut stdout = String::new();
        if let Some(mut out) = self.stdout.take() {
            out.read_to_string(&mut stdout).unwrap();
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr).unwrap();
        }
        let _ = self.banner_on_stderr;
        let status = self.child.wait().unwrap();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

/// A test that failed before stopping its tool: kill the tool, so that
/// nothing stays attached and nothing holds the test's output open.
impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A forked child that waits for [`Child::release`] before running its
/// workload, so that a tool can attach to its pid first. The workload runs
/// in the forked copy of the test process and must only make raw syscalls
/// (no allocation, no locks), then the child `_exit`s.
pub struct ForkedChild {
    pub pid: i32,
    release_fd: i32,
}

impl ForkedChild {
    pub fn new(workload: fn()) -> ForkedChild {
        Self::named(c"", workload)
    }

    /// Like [`ForkedChild::new`], the child renamed to `comm` (when not
    /// empty) before it blocks, so that tools see that name from the start.
    pub fn named(comm: &std::ffi::CStr, workload: fn()) -> ForkedChild {
        let mut fds = [0i32; 2];
        // SAFETY: plain pipe/fork; the child only calls async-signal-safe
        // functions (read, the workload's raw syscalls, _exit).
        unsafe {
            // Close-on-exec: a tool spawned later must not hold the write
            // end, or the child would never see it close.
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                libc::close(fds[1]);
                if !comm.is_empty() {
                    libc::prctl(libc::PR_SET_NAME, comm.as_ptr());
                }
                let mut byte = 0u8;
                libc::read(fds[0], (&mut byte as *mut u8).cast(), 1);
                workload();
                libc::_exit(0);
            }
            libc::close(fds[0]);
            ForkedChild {
                pid,
                release_fd: fds[1],
            }
        }
    }

    /// Lets the workload run and waits for the child to exit.
    pub fn run_to_end(self) {
        self.release();
        self.reap();
    }

    /// Waits until the child is blocked waiting for its release (state S in
    /// /proc/PID/stat), so that everything it does from then on happens
    /// after whatever the caller attaches next.
    pub fn wait_blocked(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
            // The state follows the parenthesized comm.
            let state = stat.rsplit_once(") ").unwrap().1.chars().next();
            if state == Some('S') {
                return;
            }
            assert!(Instant::now() < deadline, "child never blocked: {stat}");
            std::thread::yield_now();
        }
    }

    /// Lets the workload run.
    pub fn release(&self) {
        // SAFETY: our own pipe end.
        unsafe {
            libc::write(self.release_fd, [1u8].as_ptr().cast(), 1);
        }
    }

    /// Waits until the child has exited but leaves it a zombie, whose
    /// /proc/PID/schedstat can still be read.
    pub fn wait_exited(&self) {
        // SAFETY: waitid on our own child, info written by the kernel.
        unsafe {
            let mut info = std::mem::zeroed::<libc::siginfo_t>();
            assert_eq!(
                libc::waitid(
                    libc::P_PID,
                    self.pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT
                ),
                0
            );
        }
    }

    /// Reaps the exited child, checking that its workload succeeded.
    pub fn reap(self) {
        let mut status = 0;
        // SAFETY: our pipe end and our child's pid.
        let reaped = unsafe {
            libc::close(self.release_fd);
            libc::waitpid(self.pid, &mut status, 0)
        };
        // Reaped: its pid may be reused, so no kill at drop.
        std::mem::forget(self);
        assert!(reaped > 0, "waitpid failed");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed: {status}"
        );
    }

    /// Kills a child that never ends by itself (a CPU hog) and reaps it.
    pub fn kill(self) {
        drop(self);
    }

    /// The three fields of /proc/PID/schedstat: time on CPU (ns), time
    /// waiting on a run queue (ns), and how many times it was switched in.
    pub fn schedstat(&self) -> [u64; 3] {
        let text = std::fs::read_to_string(format!("/proc/{}/schedstat", self.pid)).unwrap();
        let fields: Vec<u64> = text
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        [fields[0], fields[1], fields[2]]
    }
}

/// Kills and reaps a child its test did not end (a failed assertion before
/// `reap` or `kill`): a hog would spin on after the test.
impl Drop for ForkedChild {
    fn drop(&mut self) {
        // SAFETY: our pipe end and our own, not yet reaped, child's pid.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::close(self.release_fd);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Runs `workload` in a new child whose pid is `pid`, which must be free
/// (clone3 with `set_tid`: a test reusing a pid on purpose), and reaps it.
/// As with [`ForkedChild`], the workload makes raw syscalls only.
pub fn run_with_pid(pid: i32, workload: fn()) {
    /// `struct clone_args`, up to `set_tid_size` (CLONE_ARGS_SIZE_VER1).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
    }
    let tids = [pid as libc::pid_t];
    let args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tids.as_ptr() as u64,
        set_tid_size: 1,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 as fork (no CLONE_VM, no stack): the child runs raw
    // syscalls and _exits.
    let child = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if child == 0 {
        workload();
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    assert_eq!(
        child,
        i64::from(pid),
        "clone3 with pid {pid}: {}",
        std::io::Error::last_os_error()
    );
    let mut status = 0;
    // SAFETY: our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}

/// Stops process `pid` with SIGSTOP and waits until it is stopped (state
/// T), so that nothing it does afterwards can happen before the caller's
/// next step.
pub fn stop_process(pid: u32) {
    // SAFETY: kill on a pid the caller owns.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        if stat.rsplit_once(") ").unwrap().1.starts_with('T') {
            return;
        }
        assert!(Instant::now() < deadline, "{pid} never stopped: {stat}");
        std::thread::yield_now();
    }
}

/// Rows `NAME COUNT [TIME]` of a syscount-style table, by first column.
pub fn parse_table(text: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    text.lines()
        .filter(|l| {
            !l.starts_with('[')
                && !l.starts_with("SYSCALL")
                && !l.starts_with("PID ")
                && !l.starts_with("Tracing")
        })
        .filter_map(|l| {
            let mut cols = l.split_whitespace().map(str::to_string);
            Some((cols.next()?, cols.collect()))
        })
        .collect()
}

/// Runs a tool to completion with no workload (errors, --help).
pub fn run_tool(tool: &str, args: &[&str]) -> Finished {
    let out = Command::new(tool_path(tool))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A loop device over a sparse file, detached and removed on drop, even
/// when the test panics.
pub struct LoopDevice {
    pub name: String,
    backing: PathBuf,
    /// A tmpfs of the test's own under the backing file, unmounted on drop.
    mount: Option<PathBuf>,
    /// Held for the device's life: tests that drive block I/O run one at a
    /// time. Concurrent completions on one CPU can nest a tool's program
    /// inside itself, and the kernel then skips the nested run (a recursion
    /// miss, which the tools report): exact counts need one I/O stream.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl LoopDevice {
    pub fn new(size_mib: u64) -> LoopDevice {
        Self::create(size_mib, None)
    }

    /// A loop device over a sparse file of `size_mib` on a tmpfs of only
    /// `tmpfs_kib` that the test mounts: writes past the tmpfs's space fail
    /// in the backing file, and so complete with an error, one request each.
    pub fn on_small_tmpfs(size_mib: u64, tmpfs_kib: u64) -> LoopDevice {
        Self::create(size_mib, Some(tmpfs_kib))
    }

    fn create(size_mib: u64, tmpfs_kib: Option<u64>) -> LoopDevice {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mount = tmpfs_kib.map(|kib| {
            let dir =
                std::env::temp_dir().join(format!("toolkit-tmpfs-{}-{seq}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let status = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
                .arg(&dir)
                .status()
                .expect("running mount");
            assert!(status.success(), "mounting a tmpfs at {dir:?}");
            dir
        });
        let backing = mount
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("toolkit-test-{}-{seq}.img", std::process::id()));
        let file = std::fs::File::create(&backing).unwrap();
        file.set_len(size_mib << 20).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&backing)
            .output()
            .expect("running losetup");
        assert!(
            out.status.success(),
            "losetup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8(out.stdout).unwrap();
        let name = path.trim().trim_start_matches("/dev/").to_string();
        LoopDevice {
            name,
            backing,
            mount,
            _serial: serial,
        }
    }

    pub fn path(&self) -> String {
        format!("/dev/{}", self.name)
    }

    /// Completed (reads, writes) and in-flight I/Os from /sys/block/NAME/stat.
    pub fn stat(&self) -> BlockStat {
        let text = std::fs::read_to_string(format!("/sys/block/{}/stat", self.name)).unwrap();
        let f: Vec<u64> = text
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        BlockStat {
            reads: f[0],
            writes: f[4],
            in_flight: f[8],
        }
    }

    /// Waits until no I/O is in flight (udev or the kernel may probe a new
    /// device), so that before/after snapshots bracket only our I/O.
    pub fn settle(&self) -> BlockStat {
        loop {
            let a = self.stat();
            std::thread::sleep(std::time::Duration::from_millis(50));
            let b = self.stat();
            if a == b && b.in_flight == 0 {
                return b;
            }
        }
    }

    /// Opens the device for O_DIRECT I/O and hands `io` the file and a
    /// 4 KiB block aligned as O_DIRECT needs.
    fn with_direct_block<R>(&self, io: impl FnOnce(&std::fs::File, &mut [u8]) -> R) -> R {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(self.path())
            .unwrap();
        let layout = std::alloc::Layout::from_size_align(4096, 4096).unwrap();
        // SAFETY: layout has non-zero size; freed below with the same layout.
        let buf = unsafe { std::alloc::alloc_zeroed(layout) };
        // SAFETY: buf points to 4096 initialised bytes, ours until freed.
        let result = io(&file, unsafe { std::slice::from_raw_parts_mut(buf, 4096) });
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(buf, layout) };
        result
    }

    /// `count` synchronous O_DIRECT writes of 4 KiB at distinct offsets;
    /// returns how many failed (with EIO or ENOSPC: the device's error).
    pub fn direct_writes_counting_failures(&self, count: usize) -> u64 {
        use std::os::unix::fs::FileExt as _;
        self.with_direct_block(|file, block| {
            let mut failed = 0;
            for i in 0..count {
                block[0] = i as u8;
                match file.write_at(block, (i as u64) * 4096) {
                    Ok(4096) => {}
                    Ok(n) => panic!("short O_DIRECT write of {n} bytes"),
                    Err(err) => {
                        assert!(
                            matches!(err.raw_os_error(), Some(libc::EIO | libc::ENOSPC)),
                            "write {i}: {err}"
                        );
                        failed += 1;
                    }
                }
            }
            failed
        })
    }

    /// `threads` threads each making `writes` synchronous O_DIRECT writes of
    /// 4 KiB, at offsets no other thread writes: up to `threads` requests in
    /// flight at once, one block request each.
    pub fn parallel_direct_writes(&self, threads: usize, writes: usize) {
        use std::os::unix::fs::FileExt as _;
        std::thread::scope(|scope| {
            for t in 0..threads {
                scope.spawn(move || {
                    self.with_direct_block(|file, block| {
                        for i in 0..writes {
                            block[0] = i as u8;
                            let offset = ((t * writes + i) as u64) * 4096;
                            file.write_all_at(block, offset).unwrap();
                        }
                    })
                });
            }
        });
    }

    /// Gives the device the first of `names` (I/O schedulers) that this
    /// kernel has (built in or loaded), and returns it: `none` if it has
    /// none of them (Debian's cloud kernels in the kernel matrix's VMs have
    /// no modules).
    pub fn set_scheduler(&self, names: &[&str]) -> String {
        let path = format!("/sys/block/{}/queue/scheduler", self.name);
        let available = std::fs::read_to_string(&path).unwrap();
        let has = |name: &str| {
            available
                .split_whitespace()
                .any(|a| a.trim_matches(['[', ']']) == name)
        };
        let name = names.iter().find(|n| has(n)).copied().unwrap_or("none");
        std::fs::write(&path, name).unwrap_or_else(|e| panic!("{path}: {name}: {e}"));
        name.to_string()
    }

    /// `count` synchronous O_DIRECT writes of 4 KiB at distinct offsets,
    /// then `count` reads of the same blocks: one block request each.
    pub fn direct_io(&self, writes: usize, reads: usize) {
        use std::os::unix::fs::FileExt as _;
        self.with_direct_block(|file, block| {
            for i in 0..writes {
                block[0] = i as u8;
                file.write_all_at(block, (i as u64) * 4096).unwrap();
            }
            for i in 0..reads {
                file.read_exact_at(block, (i as u64) * 4096).unwrap();
            }
        });
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.path()]).status();
        let _ = std::fs::remove_file(&self.backing);
        if let Some(dir) = &self.mount {
            let _ = Command::new("umount").arg(dir).status();
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// I/O counters of one block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockStat {
    pub reads: u64,
    pub writes: u64,
    pub in_flight: u64,
}

/// One printed log2 histogram: the header line above it (`disk = vda`,
/// `flags = Sync-Write`, or empty) and its bucket counts.
#[derive(Debug)]
pub struct PrintedHist {
    pub header: String,
    pub counts: Vec<u64>,
}

impl PrintedHist {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Runs `command` `times` times from a bash loop: processes that fork
/// from the shell, then exec (their name changes from `bash` to the
/// program's, `true` for `/bin/true`).
pub fn exec_from_shell(times: u32, command: &str) {
    let status = Command::new("/bin/bash")
        .args([
            "-c",
            &format!("for i in $(seq {times}); do {command}; done"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Parses every log2 histogram in a tool's text output.
pub fn parse_log2_hists(text: &str) -> Vec<PrintedHist> {
    let mut out: Vec<PrintedHist> = Vec::new();
    let mut last_header = String::new();
    let mut in_hist = false;
    for line in text.lines() {
        if line.contains(" : count    distribution") {
            out.push(PrintedHist {
                header: last_header.clone(),
                counts: Vec::new(),
            });
            in_hist = true;
            continue;
        }
        if in_hist
            && let Some((range, rest)) = line.split_once(" : ")
            && range.contains(" -> ")
        {
            let count = rest.split_whitespace().next().unwrap().parse().unwrap();
            out.last_mut().unwrap().counts.push(count);
            continue;
        }
        in_hist = false;
        if !line.trim().is_empty() {
            last_header = line.trim().to_string();
        }
    }
    out
}

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

/// The program type (`tracing`, `raw_tracepoint`, ...) of each program id,
/// as bpftool reports it.
pub fn program_types(ids: &BTreeSet<u32>) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let out = Command::new("bpftool")
                .args(["prog", "show", "id", &id.to_string(), "--json"])
                .output()
                .expect("bpftool (installed by scripts/setup.sh)");
            let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            info["type"].as_str().unwrap_or("?").to_string()
        })
        .collect()
}

/// Runs `tool -p CHILD args...` over the whole life of a forked child
/// running `workload` (attached before it starts, stopped with SIGINT after
/// it exits), checks a clean exit with nothing left loaded, and returns
/// the tool's stdout.
pub fn trace_forked(tool: &str, workload: fn(), args: &[&str]) -> String {
    let child = ForkedChild::new(workload);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let mut all = vec!["-p", pid.as_str()];
    all.extend_from_slice(args);
    let running = Running::start(tool, &all);
    child.run_to_end();
    running.stop()
}

/// Pins process `pid` (0: this one) to CPU `cpu`; false if the kernel
/// refused. No allocation: safe in a forked child's workload.
pub fn pin_to_cpu(pid: i32, cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t with one bit set, passed with its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Sleeps `ns` nanoseconds with one raw `clock_nanosleep` syscall (no libc
/// wrapper, no allocation: safe in a forked child's workload).
pub fn sleep_ns(ns: i64) {
    let ts = libc::timespec {
        tv_sec: ns / 1_000_000_000,
        tv_nsec: ns % 1_000_000_000,
    };
    // SAFETY: raw syscall with a valid timespec and no remainder pointer.
    unsafe {
        libc::syscall(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_MONOTONIC,
            0,
            &ts,
            std::ptr::null_mut::<libc::timespec>(),
        )
    };
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
        // Its tasks have exited (the tests kill and reap them first); an
        // exiting task can hold it busy for a moment.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// CLOCK_MONOTONIC, in nanoseconds (what the kernel's timestamps use).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One raw `mmap` syscall of an anonymous private read-write mapping of
/// `len` bytes (exactly one syscall, as the memory tests count them); the
/// address, or the negated errno as the raw syscall returns it (-1 and
/// errno, through libc).
pub fn mmap_anonymous(len: usize) -> i64 {
    // SAFETY: an anonymous private mapping at a kernel-chosen address.
    unsafe {
        libc::syscall(
            libc::SYS_mmap,
            0usize,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }
}

/// Runs `script` (Python, reading the OpenMetrics file `path` as
/// `sys.argv[1]`) with the Prometheus project's own parser available,
/// removes the file, and returns what the script printed.
pub fn parse_openmetrics(script: &str, path: &Path) -> String {
    let parsed = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 with prometheus_client (scripts/setup.sh installs it)");
    let _ = std::fs::remove_file(path);
    assert!(parsed.status.success(), "{parsed:?}");
    String::from_utf8_lossy(&parsed.stdout).into_owned()
}

/// The sum of the `count` fields of a JSON histogram's `field` list
/// (`buckets` or `loglinear`).
pub fn counts_in(hist: &serde_json::Value, field: &str) -> u64 {
    json_list(&hist[field])
        .map(|b| b["count"].as_u64().unwrap())
        .sum()
}

/// The elements of a JSON array (none when it is not one).
pub fn json_list(value: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    value.as_array().into_iter().flatten()
}

/// Runs `tool` with each of `cases`: every one must be a usage error
/// (exit 2, clap's one-line `error: ...`), never a panic, never a run.
pub fn assert_usage_errors(tool: &str, cases: &[&[&str]]) {
    for args in cases {
        let out = run_tool(tool, args);
        assert_eq!(out.status.code(), Some(2), "{tool} {args:?}: {out:?}");
        assert!(
            out.stderr.starts_with("error: ") && !out.stderr.contains("panicked"),
            "{tool} {args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{tool} {args:?} ran: {}", out.stdout);
    }
}

/// Makes `n` getppid syscalls: a workload whose count is known exactly.
pub fn getppids(n: u64) {
    for _ in 0..n {
        // SAFETY: no arguments.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
}

/// Two network namespaces joined by a veth pair, made by the test and
/// removed on drop: `a` (10.231.N.1, fd00:231:N::1) and `b` (.2, ::2). All
/// traffic stays between them; no address outside this machine is used.
pub struct NetPair {
    pub a: String,
    pub b: String,
    /// The veth ends' names (in `a` and in `b`).
    pub dev_a: String,
    pub dev_b: String,
    pub addr_a: String,
    pub addr_b: String,
    pub addr6_a: String,
    pub addr6_b: String,
}

impl NetPair {
    /// Creates the pair; `tag` (a few letters) names it after the test.
    pub fn new(tag: &str) -> NetPair {
        Self::create(tag, true)
    }

    /// Like [`NetPair::new`], IPv4 only: no IPv6 on either end, so not even
    /// the kernel's own MLD report at link-up (which the peer drops once, as
    /// IP_INNOROUTES, whenever it lands).
    pub fn ipv4_only(tag: &str) -> NetPair {
        Self::create(tag, false)
    }

    fn create(tag: &str, ipv6: bool) -> NetPair {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{tag}{}{seq}", std::process::id() % 100_000);
        let subnet = (std::process::id() + seq * 7) % 250 + 1;
        let pair = NetPair {
            a: format!("tk-{id}-a"),
            b: format!("tk-{id}-b"),
            dev_a: format!("v{id}a"),
            dev_b: format!("v{id}b"),
            addr_a: format!("10.231.{subnet}.1"),
            addr_b: format!("10.231.{subnet}.2"),
            addr6_a: format!("fd00:231:{subnet:x}::1"),
            addr6_b: format!("fd00:231:{subnet:x}::2"),
        };
        assert!(
            pair.dev_a.len() <= 15,
            "interface name {} too long",
            pair.dev_a
        );
        // Each command run directly (no shell: busybox's would run its own
        // `ip` applet, which has no namespaces, in the kernel matrix).
        let (a, b) = (pair.a.as_str(), pair.b.as_str());
        let (da, db) = (pair.dev_a.as_str(), pair.dev_b.as_str());
        let mut steps: Vec<Vec<String>> = Vec::new();
        let mut step = |args: &[&str]| steps.push(args.iter().map(|s| s.to_string()).collect());
        step(&["netns", "add", a]);
        step(&["netns", "add", b]);
        if !ipv6 {
            for ns in [a, b] {
                step(&[
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ]);
            }
        }
        step(&[
            "link", "add", da, "netns", a, "type", "veth", "peer", "name", db, "netns", b,
        ]);
        for (ns, addr, dev) in [(a, &pair.addr_a, da), (b, &pair.addr_b, db)] {
            step(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
        }
        if ipv6 {
            for (ns, addr, dev) in [(a, &pair.addr6_a, da), (b, &pair.addr6_b, db)] {
                step(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{addr}/64"),
                    "dev",
                    dev,
                    "nodad",
                ]);
            }
        }
        for (ns, dev) in [(a, da), (b, db), (a, "lo"), (b, "lo")] {
            step(&["-n", ns, "link", "set", dev, "up"]);
        }
        for args in steps {
            let out = Command::new("ip").args(&args).output().expect("running ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Static neighbours: no ARP or neighbour discovery on the first
        // packet (a first IPv6 SYN otherwise waits a second for it).
        let mac = |ns: &str, dev: &str| {
            let link = pair.exec(ns, &["cat", &format!("/sys/class/net/{dev}/address")]);
            link.trim().to_string()
        };
        let (mac_a, mac_b) = (mac(&pair.a, &pair.dev_a), mac(&pair.b, &pair.dev_b));
        for (ns, dev, peer, peer6, lladdr) in [
            (&pair.a, &pair.dev_a, &pair.addr_b, &pair.addr6_b, &mac_b),
            (&pair.b, &pair.dev_b, &pair.addr_a, &pair.addr6_a, &mac_a),
        ] {
            let peers = if ipv6 { vec![peer, peer6] } else { vec![peer] };
            for addr in peers {
                pair.exec(
                    ns,
                    &[
                        "ip",
                        "neigh",
                        "replace",
                        addr,
                        "lladdr",
                        lladdr,
                        "dev",
                        dev,
                        "nud",
                        "permanent",
                    ],
                );
            }
        }
        pair
    }

    /// Runs `args` in namespace `ns`, returning its stdout; fails the test
    /// if it fails.
    pub fn exec(&self, ns: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("running ip netns exec");
        assert!(
            out.status.success(),
            "{args:?} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The inode number of namespace `ns` (the nsfs inode behind
    /// `/run/netns/NS`), as the tools name another namespace's interfaces.
    pub fn netns_inode(&self, ns: &str) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(format!("/run/netns/{ns}")).unwrap().ino()
    }

    /// Starts `args` in namespace `ns` with piped stdout.
    pub fn spawn(&self, ns: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("running ip netns exec")
    }

    /// A counter of namespace `ns` from /proc/net/snmp or /proc/net/netstat
    /// (`Udp`, `RcvbufErrors`; `TcpExt`, ...), as the namespace sees it.
    pub fn snmp(&self, ns: &str, group: &str, field: &str) -> u64 {
        let text = self.exec(ns, &["cat", "/proc/net/snmp", "/proc/net/netstat"]);
        let prefix = format!("{group}:");
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
        for pair in lines.chunks(2) {
            let names = pair[0].split_whitespace();
            let values = pair[1].split_whitespace();
            if let Some((_, v)) = names.zip(values).find(|(n, _)| *n == field) {
                return v.parse().unwrap();
            }
        }
        panic!("{group}:{field} not in {ns}'s /proc/net/snmp or netstat");
    }
}

/// In namespace `b`: a UDP socket on port argv[2] that never reads, with
/// the smallest receive buffer the kernel allows (argv[3] = 1) or one big
/// enough for every datagram sent (argv[3] = 0, SO_RCVBUFFORCE as root),
/// and a marker socket on argv[4]. Prints "ready" once bound and "marker"
/// when the marker datagram arrives: every datagram sent before it from
/// the same CPU has been through the stack by then.
const RECEIVER: &str = r#"
import socket, sys
addr, port, quiet, mport = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if quiet:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
else:
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
s.bind((addr, port))
m = socket.socket(fam, socket.SOCK_DGRAM)
m.bind((addr, mport))
print("ready", flush=True)
m.recv(16)
print("marker", flush=True)
sys.stdin.read()
"#;

/// In namespace `a`, pinned to one CPU (one backlog queue, so the marker
/// comes last): argv[3] datagrams of 512 bytes to argv[1]:argv[2], then the
/// marker to argv[1]:argv[4].
const SENDER: &str = r#"
import socket, sys
addr, port, n, mport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
for _ in range(n):
    s.sendto(b"x" * 512, (addr, port))
s.sendto(b"m", (addr, mport))
"#;

/// The port [`NetPair::send_datagrams`] sends to, and its marker's.
pub const UDP_PORT: &str = "5555";
const MARKER: &str = "5556";

impl NetPair {
    /// Sends `count` datagrams from `a` to `b`'s UDP_PORT, where a receiver
    /// (reading, or `quiet`: not reading, with the smallest buffer) is
    /// bound, and returns once the marker after them has arrived.
    pub fn send_datagrams(&self, count: u64, quiet: bool) {
        let pair = self;
        let mut receiver = pair.spawn(
            &pair.b,
            &[
                "python3",
                "-c",
                RECEIVER,
                &pair.addr_b,
                UDP_PORT,
                if quiet { "1" } else { "0" },
                MARKER,
            ],
        );
        let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        pair.exec(
            &pair.a,
            &[
                "taskset",
                "-c",
                "0",
                "python3",
                "-c",
                SENDER,
                &pair.addr_b,
                UDP_PORT,
                &count.to_string(),
                MARKER,
            ],
        );
        assert_eq!(lines.next().unwrap().unwrap(), "marker");
        drop(receiver.stdin.take());
        let _ = receiver.kill();
        let _ = receiver.wait();
    }
}

impl NetPair {
    /// In `b`'s namespace: an nftables input chain (`inet tk input`) with
    /// `rule` (`udp dport 5555 counter drop`, ...) in it.
    pub fn input_rule(&self, rule: &[&str]) {
        self.exec(&self.b, &["nft", "add", "table", "inet", "tk"]);
        self.exec(
            &self.b,
            &[
                "nft",
                "add chain inet tk input { type filter hook input priority 0 ; policy accept ; }",
            ],
        );
        let mut args = vec!["nft", "add", "rule", "inet", "tk", "input"];
        args.extend_from_slice(rule);
        self.exec(&self.b, &args);
    }

    /// The packet counter of the [`NetPair::input_rule`] rule.
    pub fn rule_packets(&self) -> u64 {
        let rules = self.exec(&self.b, &["nft", "list", "chain", "inet", "tk", "input"]);
        rules
            .split("counter packets ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no counter in {rules}"))
    }
}

/// Maps and touches 64 MiB: in a memory cgroup limited to 8 MiB, the OOM
/// killer kills it (there is no swap to push to). A forked child's
/// workload.
pub fn memory_hog() {
    const HOG: usize = 64 << 20;
    // SAFETY: a fresh anonymous private mapping, written within its length.
    unsafe {
        let p = mmap_anonymous(HOG) as *mut u8;
        if p as isize == -1 {
            return;
        }
        for offset in (0..HOG).step_by(4096) {
            p.add(offset).write_volatile(1);
        }
    }
}

/// `n` mmap calls that fail (a zero length is EINVAL), raw syscalls only.
pub fn failing_mmaps(n: u64) {
    for _ in 0..n {
        // SAFETY: fails before mapping anything.
        unsafe {
            libc::syscall(
                libc::SYS_mmap,
                0,
                0,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
        }
    }
}

/// The file [`read_big_file`] reads, set by [`write_big_file`] before the
/// fork.
static BIG_FILE: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();

/// Writes a 64 MiB file, synced, for [`read_big_file`]; returns its path
/// (the caller removes it). Once per test binary.
pub fn write_big_file(name: &str) -> PathBuf {
    use std::io::Write as _;
    let path = std::env::temp_dir().join(format!("{name}-{}.bin", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..64 {
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
    BIG_FILE
        .set(std::ffi::CString::new(path.to_str().unwrap()).unwrap())
        .unwrap();
    path
}

/// Reads the [`write_big_file`] file once through the page cache (its
/// cached pages dropped first, so that every page is charged to this
/// process's memory cgroup). A forked child's workload.
pub fn read_big_file() {
    let path = BIG_FILE.get().unwrap();
    // SAFETY: raw syscalls on a path and a buffer that outlive them.
    unsafe {
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDONLY,
        );
        libc::syscall(libc::SYS_fadvise64, fd, 0, 0, libc::POSIX_FADV_DONTNEED);
        let buf = mmap_anonymous(1 << 20);
        while libc::syscall(libc::SYS_read, fd, buf, 1usize << 20) > 0 {}
        libc::syscall(libc::SYS_close, fd);
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and so the pair.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The arguments that make `tool` print every `secs` seconds: the trailing
/// `[interval]` of most tools, libbpf-tools' `-i` for syscount and tcprtt,
/// and `-c -i` for tcpretrans (whose default prints each event).
pub fn every(tool: &str, secs: &'static str) -> Vec<&'static str> {
    match tool {
        "syscount" | "tcprtt" => vec!["-i", secs],
        "tcpretrans" => vec!["-c", "-i", secs],
        _ => vec![secs],
    }
}

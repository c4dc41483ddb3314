//! Workload processes: a forked child released on cue, a child with a
//! chosen pid, stopping a process, and the raw-syscall workloads they run.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

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

    /// How many times the child was switched out (its voluntary and
    /// involuntary context switches, /proc/PID/status).
    pub fn switch_outs(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        text.lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
            .sum()
    }

    /// After [`ForkedChild::wait_exited`]: waits for the exited child's last
    /// switch out (an exited task still runs its way to its last
    /// `schedule()`), after which its schedstat no longer changes.
    pub fn wait_last_switch_out(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.switch_outs() != self.schedstat()[2] {
            assert!(Instant::now() < deadline, "{} never switched out", self.pid);
            std::thread::yield_now();
        }
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

/// Makes `n` getppid syscalls: a workload whose count is known exactly.
pub fn getppids(n: u64) {
    for _ in 0..n {
        // SAFETY: no arguments.
        unsafe { libc::syscall(libc::SYS_getppid) };
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
/// (the caller removes it). One name per test binary; tests that use it
/// one after another each write it again.
pub fn write_big_file(name: &str) -> PathBuf {
    use std::io::Write as _;
    let path = std::env::temp_dir().join(format!("{name}-{}.bin", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..64 {
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(
        BIG_FILE.get_or_init(|| name.clone()),
        &name,
        "one big file per test binary"
    );
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

/// Switch-ins of PID 1's threads so far: on the test machine (6.18 under
/// Firecracker) PID 1 is the sandbox's agent, and a switch away from one of
/// its threads fires no `sched_switch`, so the task switched in then is
/// seen by no tracer while schedstat counts it. Over a span, the agent's
/// switch-ins bound how many switch-ins runqlat and cpudist can miss
/// ([`assert_switch_ins`]).
pub fn agent_switch_ins() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/1/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum()
}

/// Time PID 1's threads have spent on a CPU so far, ns (schedstat's first
/// field): on the test machine the agent's, in whose context the kernel
/// fires no tracepoint, so that an interrupt arriving while it runs is
/// seen by no tracer ([`agent_hides_events`]).
pub fn agent_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/1/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A tool's count of a child's switch-ins (runqlat's waits, cpudist's
/// stretches) against schedstat's over the same span: never more, and
/// fewer by at most the switch-ins no tracer is told of. The kernel does not always fire `sched_switch`: on the test
/// machine (6.18 under Firecracker) a switch away from the sandbox's own
/// agent (the threads of PID 1, nice -10) fires no event, so a task
/// switched in at that moment is seen by no tracer, while schedstat counts
/// its switch-in. Measured beside three CPU hogs: of 370-436 switch-ins,
/// 0-4 had no event, of 187 once 8 (the agent busy in CI); ftrace's and
/// bpftrace's counts of `sched_switch` naming the child equalled runqlat's
/// every time. Each such switch-in follows one of the agent's, so the
/// shortfall is bounded by `agent`, the agent's switch-ins over the span
/// (or 3% of `want`, the bound measured before, if that is larger).
pub fn assert_switch_ins(what: &str, got: u64, want: u64, agent: u64) {
    assert!(
        got <= want,
        "{what}: tool {got}, more than schedstat's {want}"
    );
    let missed = want - got;
    eprintln!("{what}: tool {got}, schedstat {want}, agent switch-ins {agent}");
    assert!(
        missed <= agent || missed * 100 <= want * 3,
        "{what}: tool {got}, schedstat {want}: {missed} unseen, more than 3% \
         and more than the agent's {agent} switch-ins"
    );
}

/// Whether PID 1 is the sandbox agent of the test machine (6.18 under
/// Firecracker), in whose context the kernel fires no tracepoint: neither
/// `sched_switch` away from its threads (see [`agent_switch_ins`]) nor the
/// softirqs that interrupts run on its way (measured: 7 of 162 softirq runs
/// over 3 idle seconds had no `softirq_entry`, while their `/proc/softirqs`
/// counts grew and no program missed a run). Elsewhere, in the kernel
/// matrix's guests for one, tracers see every event.
pub fn agent_hides_events() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|comm| comm.trim() == "process_api")
}

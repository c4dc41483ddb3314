//! Running the tools: where their binaries are, a tool in the background
//! until its banner, one run to the end, and what it left loaded.

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Read as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
};

use crate::ForkedChild;

/// The toolkit's tools, from `tools.txt` (the one list).
pub fn tools() -> Vec<&'static str> {
    include_str!("../../tools.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The tools that print per interval (`[interval] [count]`): all but
/// oomkill, hwerr and fsslower, which print each event as it comes.
pub fn interval_tools() -> Vec<&'static str> {
    tools()
        .into_iter()
        .filter(|t| !matches!(*t, "oomkill" | "hwerr" | "fsslower"))
        .collect()
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

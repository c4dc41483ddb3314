//! The `-p` process: one process, never a later one that reuses its pid.
//!
//! The kernel side sees pids as numbers, and a pid is reused once its
//! process is gone. So the target is pinned with a pidfd, then the monotonic
//! clock is read, then the pidfd is checked alive: every process that ever
//! holds this pid after ours started after that reading, and ours started
//! before it. The kernel matches a task by its pid *and* by its process's
//! start time (`task_struct.start_time` of the group leader, the same
//! clock) being earlier than that reading: [`PidFilter`].
//!
//! The kernel reports pids as the initial PID namespace numbers them; a pid
//! given from inside another PID namespace names another process there, so
//! `-p` is refused in one line when this tool does not run in the initial
//! one.

use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd};

use anyhow::{Result, bail};
use toolkit_core::PidFilter;

use crate::KernelBtf;

/// `PROC_PID_INIT_INO`: the inode number of the initial PID namespace,
/// fixed by the kernel.
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// A live process named by `-p`, pinned.
#[derive(Debug)]
pub struct TracedProcess {
    pinned: PinnedPid,
    pidfd: OwnedFd,
}

/// What tells the `-p` process from any later one with its pid: the pid,
/// and a time its process started before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedPid {
    pub pid: u32,
    /// `CLOCK_MONOTONIC` ns (the kernel's `ktime_get_ns`) read after the
    /// pidfd was opened and before it was seen alive.
    pub born_before: u64,
}

impl PinnedPid {
    /// The kernel side's `-p` filter for `pinned` (every process without
    /// one), with the offsets it reads from this kernel's BTF.
    pub fn filter(pinned: Option<Self>, btf: &KernelBtf) -> Result<PidFilter> {
        let Some(pinned) = pinned else {
            return Ok(PidFilter::ZERO);
        };
        Ok(PidFilter {
            born_before: pinned.born_before,
            pid: pinned.pid,
            off_group_leader: btf.member_offset("task_struct", "group_leader")?,
            off_start_time: btf.member_offset("task_struct", "start_time")?,
            reserved: 0,
        })
    }
}

impl TracedProcess {
    /// The `-p` process, if one was given: fails in one line when `pid` is
    /// not a live process, is a thread of another process (whose pid is
    /// then named), or cannot be matched because this tool runs in another
    /// PID namespace than the kernel's pids.
    pub fn from_arg(pid: Option<u32>) -> Result<Option<Self>> {
        pid.map(Self::open).transpose()
    }

    /// See [`from_arg`](Self::from_arg).
    pub fn open(pid: u32) -> Result<Self> {
        refuse_in_pid_namespace(&format!("-p {pid}"))?;
        let status = match std::fs::read_to_string(format!("/proc/{pid}/status")) {
            Ok(status) if pid != 0 => status,
            _ => bail!("process {pid} not found"),
        };
        let tgid = status
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        if let Some(tgid) = tgid.filter(|&t| t != pid) {
            let comm = std::fs::read(format!("/proc/{tgid}/comm")).unwrap_or_default();
            bail!(
                "{pid} is a thread of process {tgid} ({}), not a process: pass -p {tgid}",
                toolkit_core::escape::escape_bytes(comm.trim_ascii_end())
            );
        }
        // SAFETY: pidfd_open takes a pid and flags, and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
        if fd < 0 {
            bail!("process {pid} not found");
        }
        // SAFETY: fd is a new descriptor that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let born_before = kernel_monotonic_ns()?;
        let traced = Self {
            pinned: PinnedPid { pid, born_before },
            pidfd,
        };
        if traced.exited() {
            bail!("process {pid} not found (it has exited)");
        }
        Ok(traced)
    }

    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.pinned.pid
    }

    /// Its pid and what tells it from a later process with that pid.
    pub fn pinned(&self) -> PinnedPid {
        self.pinned
    }

    /// [`PinnedPid::filter`] of `traced`.
    pub fn filter(traced: Option<&Self>, btf: &KernelBtf) -> Result<PidFilter> {
        PinnedPid::filter(traced.map(Self::pinned), btf)
    }

    /// A pidfd naming the process, readable once it has exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd as _;
        self.pidfd.as_fd()
    }

    /// Whether the process has exited.
    pub fn exited(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut poll, 1, 0) > 0 }
    }
}

/// Fails with a line saying why when this process is not in the initial
/// PID namespace: the kernel side compares the pids of the initial one,
/// and `what` (a pid or tid given here) numbers another process there.
pub fn refuse_in_pid_namespace(what: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(ns) = std::fs::metadata("/proc/self/ns/pid") else {
        return Ok(()); // no namespaces in this kernel: only the one
    };
    if ns.ino() != INITIAL_PID_NAMESPACE {
        bail!(
            "{what}: this tool runs in a PID namespace (pid:[{}]) and the kernel reports \
             the host's pids, so the pid given here would match another process or none; \
             run it in the host's PID namespace (e.g. nsenter -t 1 -p) with the host's pid",
            ns.ino()
        );
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` as the kernel's `ktime_get_ns` reads it: in a time
/// namespace the clock this process reads is offset, and the offset is
/// taken back out.
fn kernel_monotonic_ns() -> Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        bail!(
            "reading the monotonic clock: {}",
            std::io::Error::last_os_error()
        );
    }
    let now = ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128;
    let offsets = std::fs::read_to_string("/proc/self/timens_offsets").unwrap_or_default();
    let offset = offsets
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next()? == "monotonic").then_some(())?;
            let secs: i128 = f.next()?.parse().ok()?;
            let nanos: i128 = f.next()?.parse().ok()?;
            Some(secs * 1_000_000_000 + nanos)
        })
        .unwrap_or(0);
    Ok(u64::try_from(now - offset).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_started_before_it_was_opened() {
        let traced = TracedProcess::open(std::process::id()).unwrap();
        assert!(!traced.exited());
        let filter = TracedProcess::filter(Some(&traced), &KernelBtf::load().unwrap()).unwrap();
        assert_eq!(filter.pid, std::process::id());
        assert_ne!(filter.off_group_leader, filter.off_start_time);
        assert_ne!(filter.born_before, 0);
        assert_eq!(
            TracedProcess::filter(None, &KernelBtf::load().unwrap()).unwrap(),
            PidFilter::ZERO
        );
    }

    #[test]
    fn missing_and_thread_pids_are_refused() {
        let err = TracedProcess::open(4_194_304).unwrap_err().to_string();
        assert_eq!(err, "process 4194304 not found");
        let err = TracedProcess::open(0).unwrap_err().to_string();
        assert_eq!(err, "process 0 not found");
    }
}

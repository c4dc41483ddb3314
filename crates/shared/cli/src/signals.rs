//! The `[interval] [count]` loop, woken early by SIGINT or SIGTERM.
//!
//! The signals are blocked at start-up and collected with `sigtimedwait`, so
//! an interval ends exactly on its deadline or on the signal, never in a
//! handler racing the printer.

use std::{
    cell::OnceCell,
    io,
    os::fd::{AsRawFd as _, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::Result;

/// SIGINT and SIGTERM, blocked for this thread and its future threads, and
/// optionally the end of the one process a `-p` run traces.
pub struct StopSignals {
    tool: String,
    set: libc::sigset_t,
    /// The traced process (`-p`): its pid and a pidfd, readable once it
    /// has exited. A pidfd names that very process, never a later one that
    /// reuses its pid.
    watched: OnceCell<(u32, OwnedFd)>,
}

/// Why a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The timeout passed.
    Timeout,
    /// SIGINT or SIGTERM.
    Signal,
    /// The watched process exited.
    Exited(u32),
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM; call first thing in `main`, before any
    /// thread exists, so that no thread takes the default action.
    pub fn block(tool: &str) -> io::Result<Self> {
        // SAFETY: sigset_t is plain data initialised by sigemptyset; the
        // calls only read and write that set and this thread's mask.
        unsafe {
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(Self {
                tool: tool.to_string(),
                set,
                watched: OnceCell::new(),
            })
        }
    }

    /// Ends the run when the `-p` process `traced` exits. Does nothing
    /// without one.
    pub fn watch(&self, traced: Option<&toolkit_load::TracedProcess>) -> Result<()> {
        let Some(traced) = traced else {
            return Ok(());
        };
        let pidfd = traced.pidfd().try_clone_to_owned()?;
        let _ = self.watched.set((traced.pid(), pidfd));
        Ok(())
    }

    /// Waits up to `timeout` (forever with `None`) for a stop signal or the
    /// watched process's exit.
    pub fn wait(&self, timeout: Option<Duration>) -> Wake {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some((pid, pidfd)) = self.watched.get() {
                let mut poll = libc::pollfd {
                    fd: pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, no wait.
                if unsafe { libc::poll(&mut poll, 1, 0) } > 0 {
                    return Wake::Exited(*pid);
                }
            }
            let left = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Wake::Timeout;
                    }
                    Some(d - now)
                }
                None => None,
            };
            // With a watched process, wake at least every 100 ms to poll
            // its pidfd (signals cannot wait on a file descriptor).
            let slice = match (left, self.watched.get()) {
                (Some(l), Some(_)) => Some(l.min(Duration::from_millis(100))),
                (None, Some(_)) => Some(Duration::from_millis(100)),
                (l, None) => l,
            };
            let ts = slice.map(|t| libc::timespec {
                tv_sec: t.as_secs() as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: set and ts outlive the call; info may be null.
            let rc = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), ts_ptr) };
            if rc > 0 {
                return Wake::Signal;
            }
            // EAGAIN (the slice passed) or EINTR (SIGSTOP/SIGCONT): loop,
            // the deadline is what counts.
        }
    }
}

/// Runs `report` at the end of every interval (or once, on a signal, when
/// there is no interval) until `count` reports or a stop signal. Intervals
/// are measured from a fixed start, so they do not drift.
pub fn run_intervals(
    signals: &StopSignals,
    interval: Option<Duration>,
    count: Option<u64>,
    mut report: impl FnMut() -> Result<()>,
) -> Result<()> {
    let mut deadline = interval.map(|every| Instant::now() + every);
    let mut done = 0u64;
    loop {
        let wake = signals.wait(deadline.map(|d| d.saturating_duration_since(Instant::now())));
        report()?;
        done += 1;
        if let Wake::Exited(pid) = wake {
            toolkit_report::say!("{}: process {pid} exited", signals.tool);
            return Ok(());
        }
        if wake == Wake::Signal || count.is_some_and(|c| done >= c) {
            return Ok(());
        }
        // The next deadline on the fixed grid (no drift). When it already
        // passed (the tool was stopped, SIGSTOP), the interval just printed
        // covered the whole time: start a new grid from now rather than
        // print empty intervals at once.
        if let (Some(d), Some(every)) = (&mut deadline, interval) {
            let now = Instant::now();
            *d += every;
            if *d <= now {
                *d = now + every;
            }
        }
    }
}

/// How long an event tool's events may wait in its ring buffer before they
/// are printed.
pub const EVENT_POLL: Duration = Duration::from_millis(100);

/// The event tools' loop (a line per event: oomkill, tcpretrans, hwerr):
/// `each` every [`EVENT_POLL`], told `true` the last time, when a stop
/// signal came or `duration` (if any) has passed.
pub fn poll_events(
    signals: &StopSignals,
    duration: Option<Duration>,
    mut each: impl FnMut(bool) -> Result<()>,
) -> Result<()> {
    let end = duration.map(|d| Instant::now() + d);
    loop {
        let left = end.map(|e| e.saturating_duration_since(Instant::now()));
        let wake = signals.wait(Some(left.map_or(EVENT_POLL, |l| l.min(EVENT_POLL))));
        let last = wake != Wake::Timeout || left.is_some_and(|l| l.is_zero());
        each(last)?;
        if last {
            return Ok(());
        }
    }
}

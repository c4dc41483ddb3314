//! The `[interval] [count]` loop, woken early by SIGINT or SIGTERM.
//!
//! The signals are blocked at start-up and collected with `sigtimedwait`, so
//! an interval ends exactly on its deadline or on the signal, never in a
//! handler racing the printer.

use std::{
    io,
    time::{Duration, Instant},
};

use anyhow::Result;

/// SIGINT and SIGTERM, blocked for this thread and its future threads.
pub struct StopSignals {
    set: libc::sigset_t,
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM; call first thing in `main`, before any
    /// thread exists, so that no thread takes the default action.
    pub fn block() -> io::Result<Self> {
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
            Ok(Self { set })
        }
    }

    /// Waits up to `timeout` (forever with `None`); true when a stop signal
    /// arrived.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        loop {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs() as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: set and ts outlive the call; info may be null.
            let rc = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), ts_ptr) };
            if rc > 0 {
                return true;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) => return false,
                // Interrupted by another signal (SIGSTOP/SIGCONT): keep waiting
                // for what is left; deadlines are recomputed by the caller.
                _ if timeout.is_some() => return false,
                _ => continue,
            }
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
    let start = Instant::now();
    let mut done = 0u64;
    loop {
        let stopped = match interval {
            None => signals.wait(None),
            Some(every) => {
                let deadline =
                    start + every.saturating_mul(u32::try_from(done + 1).unwrap_or(u32::MAX));
                let mut stopped = false;
                while !stopped {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    stopped = signals.wait(Some(deadline - now));
                }
                stopped
            }
        };
        report()?;
        done += 1;
        if stopped || count.is_some_and(|c| done >= c) {
            return Ok(());
        }
    }
}

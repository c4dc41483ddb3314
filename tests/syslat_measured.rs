//! syslat's log-linear figures against the child's own measurements of
//! each call: its percentiles, and its count of calls past a threshold
//! (`--above`).

use std::sync::atomic::{AtomicPtr, Ordering};

use toolkit_tests::{ForkedChild, Running, monotonic_ns, sleep_ns, trace_forked};

/// `n` u64s in a shared anonymous mapping, made before the fork and handed
/// to the child through `to` (a child is a plain `fn()`): the child writes
/// its own measurements there, the test reads them once it has exited.
struct Shared {
    at: *mut u64,
    n: usize,
}

impl Shared {
    fn new(n: usize, to: &AtomicPtr<u64>) -> Self {
        // SAFETY: a fresh shared anonymous mapping, unmapped on drop.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                n * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(at, libc::MAP_FAILED);
        to.store(at.cast(), Ordering::Relaxed);
        Self { at: at.cast(), n }
    }

    /// What the child wrote (after it has exited).
    fn read(&self) -> Vec<u64> {
        // SAFETY: the mapping holds n u64s, zeroed where none was written.
        unsafe { std::slice::from_raw_parts(self.at, self.n) }.to_vec()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.at.cast(), self.n * 8) };
    }
}

/// Each sleep the percentile child measured itself, in ns, in memory shared
/// with the test process (set up before the fork).
static MEASURED: AtomicPtr<u64> = AtomicPtr::new(std::ptr::null_mut());
const SHORT: usize = 900;
const LONG: usize = 109;

/// 900 sleeps of 1 ms and 109 of 20 ms, each timed by the child itself.
fn two_speed_sleeper() {
    let out = MEASURED.load(Ordering::Relaxed);
    for i in 0..SHORT + LONG {
        let start = monotonic_ns();
        sleep_ns(if i < SHORT { 1_000_000 } else { 20_000_000 });
        // SAFETY: `out` holds SHORT + LONG u64s, shared with the parent.
        unsafe { *out.add(i) = monotonic_ns() - start };
    }
}

/// p50 and p99 from the log-linear bins are within one bin (10%) of the
/// exact percentiles of the child's own measurements; a log2 bucket could
/// only place them within a factor of two.
#[test]
fn percentiles_match_the_childs_own_measurements() {
    let n = SHORT + LONG;
    let shared = Shared::new(n, &MEASURED);
    let out = trace_forked(
        "syslat",
        two_speed_sleeper,
        &["-s", "clock_nanosleep", "--percentiles=50,99", "--json"],
    );
    let mut exact = shared.read();
    exact.sort_unstable();
    let record: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let hist = &record["histograms"][0];
    assert_eq!(hist["count"], n, "{out}");
    for (p, label) in [(50.0, "p50"), (99.0, "p99")] {
        // Type 1 quantile: the ceil(p * n)-th smallest sample.
        let truth = exact[((p / 100.0 * n as f64).ceil() as usize) - 1] as f64;
        let got = hist["percentiles"][label].as_f64().unwrap();
        eprintln!("{label}: syslat {got:.0} ns, child's own {truth:.0} ns");
        assert!(
            (got - truth).abs() <= 0.1 * truth,
            "{label}: {got} vs {truth}"
        );
    }
}

/// The three-length child's own measurements (ns), shared as [`MEASURED`] is.
static TIMED: AtomicPtr<u64> = AtomicPtr::new(std::ptr::null_mut());
/// Sleeps of 1, 3 and 20 ms, and how many of each.
const LENGTHS: [(i64, usize); 3] = [(1, 600), (3, 330), (20, 70)];
const TIMED_SLEEPS: usize = 1000;

/// 600 sleeps of 1 ms, 330 of 3 ms and 70 of 20 ms, each timed by the
/// child itself.
fn three_length_sleeper() {
    let out = TIMED.load(Ordering::Relaxed);
    let mut i = 0;
    for (ms, times) in LENGTHS {
        for _ in 0..times {
            let start = monotonic_ns();
            sleep_ns(ms * 1_000_000);
            // SAFETY: `out` holds TIMED_SLEEPS u64s, shared with the parent.
            unsafe { *out.add(i) = monotonic_ns() - start };
            i += 1;
        }
    }
}

/// `--above`: the count of sleeps at or past a threshold on a bin's edge
/// (10 ms) is the child's own count, in text, JSON and the metrics; past
/// one inside a bin (10.05 ms) it is within that bin, whose bounds the
/// line shows.
#[test]
fn above_counts_the_sleeps_past_a_threshold() {
    let shared = Shared::new(TIMED_SLEEPS, &TIMED);
    let dir = std::env::temp_dir().join(format!("syslat-above-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = dir.join("syslat.prom");
    let child = ForkedChild::new(three_length_sleeper);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let sleeps = ["-p", &pid, "-s", "clock_nanosleep"];
    let on_edge = Running::start(
        "syslat",
        &[
            &sleeps[..],
            &["--above", "10ms", "--json", "--openmetrics"],
            &[metrics.to_str().unwrap()],
        ]
        .concat(),
    );
    let inside = Running::start("syslat", &[&sleeps[..], &["--above", "10.05ms"]].concat());
    let compact = Running::start(
        "syslat",
        &[&sleeps[..], &["--above", "10ms", "--compact", "0.5"]].concat(),
    );
    child.run_to_end();
    let (json, text, compact) = (on_edge.stop(), inside.stop(), compact.stop());
    let timed = shared.read();

    // The child's time around each call includes a little more than the
    // call (two clock reads, the syscall's way in and out): a sleep it
    // measured within SLACK past the threshold may have been just under
    // it inside the kernel. Outside that window the oracle is exact.
    const SLACK: u64 = 100_000;
    let oracle = |threshold: u64| {
        let surely = timed.iter().filter(|&&t| t >= threshold + SLACK).count() as u64;
        let maybe = timed.iter().filter(|&&t| t >= threshold).count() as u64;
        surely..=maybe
    };
    let record: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    let hist = &record["histograms"][0];
    assert_eq!(hist["count"], TIMED_SLEEPS, "{json}");
    let above = &hist["above"];
    let count = above["count"].as_u64().unwrap();
    let expected = oracle(10_000_000);
    eprintln!("above 10 ms: syslat {count}, the child's own {expected:?}");
    assert!(expected.contains(&count), "{above} vs {expected:?}");
    assert_eq!(above["straddling"], 0, "{above}");
    assert_eq!(above["threshold"], 10_000_000, "{above}");
    assert_eq!(
        above["share"].as_f64().unwrap(),
        count as f64 / TIMED_SLEEPS as f64
    );
    let om = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        om.contains(&format!(
            "syslat_latency_above_threshold_total{{syscall=\"clock_nanosleep\"}} {count}\n"
        )),
        "{om}"
    );
    assert!(
        om.contains("syslat_latency_threshold_seconds 0.01\n"),
        "{om}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // --compact: an ABOVE column whose intervals add up to the same count.
    let mut lines = compact.lines().skip_while(|l| l.starts_with("Tracing"));
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&header[8..10], ["ABOVE", "SHARE"], "{compact}");
    let summed: u64 = lines
        .map(|l| l.split_whitespace().nth(8).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(summed, count, "{compact}");

    // Inside [10, 11) ms: "N to M of 1000", the bin named.
    let line = text
        .lines()
        .find(|l| l.starts_with("above 10050.0 usecs: "))
        .unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let (surely, most): (u64, u64) = match words[4] {
        "to" => (words[3].parse().unwrap(), words[5].parse().unwrap()),
        _ => (words[3].parse().unwrap(), words[3].parse().unwrap()),
    };
    let expected = oracle(10_050_000);
    eprintln!("{line}; the child's own {expected:?}");
    assert!(
        surely <= *expected.end() && *expected.start() <= most,
        "{line} vs {expected:?}"
    );
    if most > surely {
        assert!(line.contains("in the bin 10000.0-11000.0 usecs"), "{line}");
    }
}

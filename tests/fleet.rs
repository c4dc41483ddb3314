//! The fleet path, against the real servers: Debian's node_exporter
//! (textfile collector) and Prometheus, started here on 127.0.0.1. syslat
//! and usecheck write `--openmetrics` files into the textfile directory;
//! Prometheus scrapes node_exporter, and its HTTP API must give back the
//! tools' own counts, and a p50 in the same log2 bucket as the tool's.

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use toolkit_tests::{ForkedChild, Running, sleep_ns};

/// How long the servers may take to start and to scrape what was written
/// (every second): a bound that only a broken setup reaches.
const PATIENCE: Duration = Duration::from_secs(60);

/// A server process, killed and reaped on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `N` different ports free on 127.0.0.1 now (all held until the last is
/// chosen): every port a test uses comes from one call, so no two of its
/// servers are handed the same one.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// One fleet at a time: each test's servers and tools take ports that are
/// free when chosen, which a fleet started beside it could take first.
static ONE_FLEET_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `GET path` from 127.0.0.1:port: the status code and body.
fn get(port: u16, path: &str) -> Option<(u32, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Node_exporter and Prometheus, scraping it every second.
struct Fleet {
    textfiles: PathBuf,
    prometheus: u16,
    _servers: Vec<Server>,
    dir: PathBuf,
}

impl Fleet {
    /// node_exporter's textfile collector, scraped by Prometheus.
    fn start() -> Fleet {
        Fleet::launch(true, &[], false, free_ports())
    }

    /// Prometheus with native histograms on, scraping the tools'
    /// `--listen` endpoints at `ports` on 127.0.0.1.
    fn scraping(ports: &[u16], own: [u16; 2]) -> Fleet {
        Fleet::launch(false, ports, true, own)
    }

    /// `own`: node_exporter's port and Prometheus'.
    fn launch(exporter: bool, ports: &[u16], native: bool, own: [u16; 2]) -> Fleet {
        let [exporter_port, prometheus_port] = own;
        // One directory per fleet: the tests run side by side.
        let dir = std::env::temp_dir().join(format!(
            "toolkit-fleet-{}-{prometheus_port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let textfiles = dir.join("textfile");
        std::fs::create_dir_all(&textfiles).unwrap();
        let mut servers = Vec::new();
        let mut targets: Vec<String> = ports.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        if exporter {
            let exporter = Command::new("prometheus-node-exporter")
                .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
                .args(["--collector.disable-defaults", "--collector.textfile"])
                .arg(format!(
                    "--collector.textfile.directory={}",
                    textfiles.display()
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus-node-exporter (scripts/setup.sh installs it)");
            servers.push(Server(exporter));
            targets.push(format!("'127.0.0.1:{exporter_port}'"));
        }
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let mut prometheus = Command::new("prometheus");
        prometheus
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"));
        if native {
            prometheus.arg("--enable-feature=native-histograms");
        }
        let prometheus = prometheus
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (scripts/setup.sh installs it)");
        servers.push(Server(prometheus));
        let fleet = Fleet {
            textfiles,
            prometheus: prometheus_port,
            _servers: servers,
            dir,
        };
        fleet.wait_for("Prometheus ready", || {
            get(prometheus_port, "/-/ready").filter(|(code, _)| *code == 200)
        });
        fleet
    }

    fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(done) = check() {
                return done;
            }
            assert!(Instant::now() < deadline, "{what}: not after {PATIENCE:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The value of the one series `query` gives now, if any.
    fn query(&self, query: &str) -> Option<f64> {
        let (code, body) = get(
            self.prometheus,
            &format!("/api/v1/query?query={}", encode(query)),
        )?;
        assert_eq!(code, 200, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let result = v["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{query}: {body}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `query` gives `expected` (the scrape after the tool's
    /// last write), and fails with the last value if it never does.
    fn expect(&self, query: &str, expected: f64) {
        let mut last = None;
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            last = self.query(query);
            if last == Some(expected) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{query}: Prometheus has {last:?}, the tool {expected}");
    }

    fn textfile(&self, name: &str) -> String {
        self.textfiles.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 101 sleeps of 1 ms and 1009 getppid calls.
fn sleeper() {
    for _ in 0..101 {
        sleep_ns(1_000_000);
    }
    toolkit_tests::getppids(1009);
}

/// 1009 mmap calls that fail.
fn failing_mmaps() {
    toolkit_tests::failing_mmaps(1009);
}

/// The log2 slot (usecs) holding value `us`: [2^k, 2^(k+1)), 0 below 2.
fn slot_of(us: f64) -> i32 {
    if us < 2.0 {
        0
    } else {
        us.log2().floor() as i32
    }
}

#[test]
fn prometheus_scrapes_what_the_tools_counted() {
    let _alone = ONE_FLEET_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let fleet = Fleet::start();

    // syslat: counts per syscall, and the p50 of the sleeps.
    let child = ForkedChild::new(sleeper);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let path = fleet.textfile("syslat.prom");
    let syslat = Running::start(
        "syslat",
        &[
            "-p",
            &pid,
            "-s",
            "clock_nanosleep,getppid",
            "--percentiles=50",
            "--json",
            "--openmetrics",
            &path,
        ],
    );
    child.run_to_end();
    let out = syslat.stop();
    let record: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let hist = |name: &str| {
        record["histograms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["key"]["syscall"] == name)
            .unwrap_or_else(|| panic!("no {name} in {record}"))
            .clone()
    };
    let (sleeps, getppid) = (hist("clock_nanosleep"), hist("getppid"));
    assert_eq!(sleeps["count"], 101, "{record}");
    assert_eq!(getppid["count"], 1009, "{record}");
    for (name, h) in [("clock_nanosleep", &sleeps), ("getppid", &getppid)] {
        fleet.expect(
            &format!("syslat_latency_seconds_count{{syscall=\"{name}\"}}"),
            h["count"].as_f64().unwrap(),
        );
    }
    let p50_ns = sleeps["percentiles"]["p50"].as_f64().unwrap();
    let quantile = fleet
        .query(
            "histogram_quantile(0.5, syslat_latency_seconds_bucket{syscall=\"clock_nanosleep\"})",
        )
        .expect("a p50 from Prometheus");
    eprintln!(
        "p50: syslat {p50_ns:.0} ns, Prometheus {:.0} ns",
        quantile * 1e9
    );
    // Prometheus interpolates inside (2^k, 2^(k+1)] us: the same log2
    // bucket as the tool's own p50.
    let prometheus_slot = ((quantile * 1e6).log2().ceil() as i32 - 1).max(0);
    assert_eq!(
        slot_of(p50_ns / 1e3),
        prometheus_slot,
        "{quantile} s vs {p50_ns} ns"
    );

    // usecheck: an error counter and the gauges of the same screen.
    let path = fleet.textfile("usecheck.prom");
    let usecheck = Running::start(
        "usecheck",
        &["--json", "-t", "cpu.busy=0", "--openmetrics", &path],
    );
    ForkedChild::new(failing_mmaps).run_to_end();
    let out = usecheck.stop();
    let record: Value = serde_json::from_str(out.trim()).unwrap();
    let row = |resource: &str, instance: &str| {
        record["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == resource && r["instance"] == instance)
            .unwrap()
            .clone()
    };
    let (memory, cpu) = (row("memory", "all"), row("cpu", "all"));
    assert_eq!(memory["errors"]["failed_calls"], 1009, "{record}");
    fleet.expect(
        "usecheck_failed_calls_total{resource=\"memory\",device=\"all\"}",
        1009.0,
    );
    fleet.expect(
        "usecheck_busy_pct{resource=\"cpu\",device=\"all\"}",
        cpu["utilization"]["busy_pct"].as_f64().unwrap(),
    );
    fleet.expect(
        "usecheck_flagged{resource=\"cpu\",device=\"all\",column=\"utilization\"}",
        1.0,
    );
    fleet.expect(
        "usecheck_flagged{resource=\"memory\",device=\"all\",column=\"errors\"}",
        1.0,
    );
    // Nothing node_exporter could not parse.
    fleet.expect("node_textfile_scrape_error", 0.0);
}

/// Sleeps of three lengths (1, 3 and 20 ms: 600, 330 and 70 of them, so
/// that p50, p90 and p99 each fall inside one length, not on a boundary),
/// then 1009 getppid calls, then waits to be killed: the tools keep their
/// endpoints up (a `-p` tool exits with its process) until Prometheus has
/// scraped the last totals.
fn three_sleeps() {
    for (ms, times) in [(1, 600), (3, 330), (20, 70)] {
        for _ in 0..times {
            sleep_ns(ms * 1_000_000);
        }
    }
    toolkit_tests::getppids(1009);
    // SAFETY: pause(2) takes no arguments.
    unsafe { libc::pause() };
}

/// Prometheus' `histogram_quantile` over classic buckets, as it computes
/// it: linear inside the bucket holding the rank (`buckets` are
/// cumulative `(le, count)` in order, `+Inf` last).
fn classic_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().unwrap().1;
    let rank = q * total;
    let i = buckets.iter().position(|(_, c)| *c >= rank).unwrap();
    let (upper, count) = buckets[i];
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { buckets[i - 1] };
    if upper.is_infinite() {
        return lower;
    }
    lower + (upper - lower) * (rank - below) / (count - below)
}

/// The classic buckets of one series in an OpenMetrics text.
fn classic_buckets(text: &str, series: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(series)?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect()
}

#[test]
fn native_histograms_keep_the_tools_percentiles() {
    // Before the fork: the child must not hold the other test's pipes.
    let _alone = ONE_FLEET_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let child = ForkedChild::new(three_sleeps);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let [syslat_port, syscount_port, exporter_port, prometheus_port] = free_ports();
    let fleet = Fleet::scraping(
        &[syslat_port, syscount_port],
        [exporter_port, prometheus_port],
    );
    let sleeps = ["-p", &pid, "-s", "clock_nanosleep"];
    let served = Running::start(
        "syslat",
        &[&sleeps[..], &["--listen", &syslat_port.to_string(), "1"]].concat(),
    );
    // The tool's own percentiles over the same calls, in one histogram.
    let own = Running::start(
        "syslat",
        &[&sleeps[..], &["--percentiles=50,90,99", "--json"]].concat(),
    );
    let syscount = Running::start(
        "syscount",
        &[
            "-p",
            &pid,
            "--listen",
            &syscount_port.to_string(),
            "-i",
            "1",
        ],
    );
    child.release();
    let count = "histogram_count(syslat_latency_seconds{syscall=\"clock_nanosleep\"})";
    fleet.expect(count, 1000.0);
    fleet.expect("syscount_calls_total{syscall=\"clock_nanosleep\"}", 1000.0);
    fleet.expect("syscount_calls_total{syscall=\"getppid\"}", 1009.0);

    let out = own.stop();
    let record: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let hist = &record["histograms"][0];
    assert_eq!(hist["count"], 1000, "{record}");
    let (_, text) = get(syslat_port, "/metrics").unwrap();
    let classic = classic_buckets(
        &text,
        "syslat_latency_seconds_bucket{syscall=\"clock_nanosleep\",le=\"",
    );
    assert_eq!(classic.last().unwrap().1, 1000.0, "{text}");
    for (q, p) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
        let tool = hist["percentiles"][p].as_f64().unwrap() / 1e9;
        let native = fleet
            .query(&format!(
                "histogram_quantile({q}, syslat_latency_seconds{{syscall=\"clock_nanosleep\"}})"
            ))
            .expect("a quantile of the native histogram");
        let classic = classic_quantile(q, &classic);
        let error = |v: f64| (v / tool - 1.0) * 100.0;
        eprintln!(
            "{p}: syslat {:.4} ms, native {:.4} ms ({:+.1}%), classic {:.4} ms ({:+.1}%)",
            tool * 1e3,
            native * 1e3,
            error(native),
            classic * 1e3,
            error(classic)
        );
        assert!(
            error(native).abs() < 10.0,
            "{p}: native {native} s, syslat {tool} s"
        );
    }
    served.stop();
    syscount.stop();
    child.kill();
}

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

/// Two different ports free on 127.0.0.1 now (both held while the
/// second is chosen).
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().unwrap().port();
    (port(&a), port(&b))
}

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
    _servers: [Server; 2],
    dir: PathBuf,
}

impl Fleet {
    fn start() -> Fleet {
        let dir = std::env::temp_dir().join(format!("toolkit-fleet-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let textfiles = dir.join("textfile");
        std::fs::create_dir_all(&textfiles).unwrap();
        let (exporter_port, prometheus_port) = free_ports();
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
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
            ),
        )
        .unwrap();
        let prometheus = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (scripts/setup.sh installs it)");
        let fleet = Fleet {
            textfiles,
            prometheus: prometheus_port,
            _servers: [Server(exporter), Server(prometheus)],
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

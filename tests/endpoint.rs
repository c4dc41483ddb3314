//! `--listen` under load and abuse: 10,000 scrapes beside 200 idle
//! connections and a half-sent request, with the tool's own count of a
//! child's calls still exact and its memory flat; every bad request an
//! error response; an address in use one clear line.

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    time::Duration,
};

use serde_json::Value;
use toolkit_tests::{ForkedChild, Running, run_tool, sleep_ns};

/// 1009 getppid calls, 1 ms apart (so that they overlap the scrapes),
/// then waits to be killed: a `-p` tool would exit with its process.
fn spaced_getppids() {
    for _ in 0..1009 {
        toolkit_tests::getppids(1);
        sleep_ns(1_000_000);
    }
    // SAFETY: pause(2) takes no arguments.
    unsafe { libc::pause() };
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `request` on a new connection and returns the whole response.
fn exchange(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

fn status(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or("none")
}

/// `VmRSS` or `VmHWM` of `pid`, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[test]
fn endpoint_survives_scrapes_idle_clients_and_bad_requests() {
    let child = ForkedChild::new(spaced_getppids);
    child.wait_blocked();
    let pid = child.pid.to_string();
    let port = free_port();
    let listen = port.to_string();
    let tool = Running::start(
        "syslat",
        &[
            "-p", &pid, "-s", "getppid", "--json", "--listen", &listen, "1",
        ],
    );

    // A second tool on the same address: one line, non-zero.
    let taken = run_tool("syslat", &["--listen", &listen, "1"]);
    assert!(!taken.status.success(), "{taken:?}");
    assert_eq!(taken.stderr.lines().count(), 1, "{taken:?}");
    assert!(
        taken.stderr.contains("address already in use") && taken.stderr.contains(&listen),
        "{taken:?}"
    );

    // Every bad request gets its error status; none stops the endpoint.
    for (request, code) in [
        (
            &b"POST /metrics HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd"[..],
            "405",
        ),
        (b"DELETE / HTTP/1.1\r\n\r\n", "405"),
        (b"GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n", "404"),
        (b"this is not http\r\n\r\n", "400"),
        (b"GET /metrics HTTP/9\r\n\r\n", "400"),
        (b"GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n", "400"),
        (b"\x00\xff\xfe\r\n\r\n", "400"),
    ] {
        let response = exchange(port, request);
        assert_eq!(status(&response), code, "{request:?}: {response}");
    }
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The endpoint answers (and closes) before the whole header is sent.
    let _ = stream.write_all(&huge);
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert_eq!(status(&response), "431", "{response}");
    let pointer = exchange(port, b"GET / HTTP/1.0\r\n\r\n");
    assert!(
        pointer.starts_with("HTTP/1.1 200") && pointer.contains("/metrics"),
        "{pointer}"
    );

    // 200 idle connections and one that sent half a request.
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(b"GET /metr").unwrap();

    let scrape = || {
        let response = exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n");
        assert_eq!(status(&response), "200", "{response}");
        assert!(response.ends_with("# EOF\n"), "{response}");
        response
    };
    // The child's calls run while the endpoint is scraped. Memory is
    // measured once the tool has published an interval with some of them
    // (its first allocations for them made) and 1,000 scrapes later
    // (malloc's arena for the endpoint's thread grown), then after the
    // rest of the 10,000.
    child.release();
    let mut scrapes = 0;
    while !scrape().contains("syslat_latency_seconds_count{syscall=\"getppid\"}") {
        scrapes += 1;
    }
    for _ in 0..1_000 {
        scrape();
    }
    scrapes += 1_000;
    let warm = memory_kib(tool.pid(), "VmRSS");
    // 10,000 in all, and at least 5,000 measured.
    let rest = 10_000usize.saturating_sub(scrapes).max(5_000);
    for _ in 0..rest {
        scrape();
    }
    let after = memory_kib(tool.pid(), "VmRSS");
    let peak = memory_kib(tool.pid(), "VmHWM");
    eprintln!(
        "RSS after {scrapes} scrapes {warm} KiB, {rest} scrapes later {after} KiB, peak {peak} KiB"
    );
    // Flat: a leak of 16 bytes a scrape would be 78 KiB over 5,000. The
    // slack is the log-linear bins the totals may still gain from the
    // child's last calls (a few entries of a BTreeMap each) and a page
    // per thread of what malloc keeps.
    assert!(after <= warm + 16, "RSS grew from {warm} to {after} KiB");
    assert!(peak <= 8 * 1024, "peak RSS {peak} KiB");
    drop(idle);
    drop(half);

    // Every call counted: the intervals' getppid counts sum to the
    // child's 1009, nothing lost. The child is done when the tool's
    // totals say so (the endpoint's text).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let line = "syslat_latency_seconds_count{syscall=\"getppid\"} 1009\n";
    while !exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n").contains(line) {
        assert!(std::time::Instant::now() < deadline, "never 1009 calls");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = tool.stop();
    child.kill();
    let mut counted = 0;
    for line in out.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let lost = record["lost"].as_object().unwrap();
        assert!(lost.values().all(|n| *n == 0), "{record}");
        for hist in record["histograms"].as_array().unwrap() {
            counted += hist["count"].as_u64().unwrap();
        }
    }
    assert_eq!(counted, 1009, "{out}");
}

#[test]
fn listen_needs_an_interval_and_an_address() {
    let no_interval = run_tool("syslat", &["--listen", "9"]);
    assert_eq!(no_interval.status.code(), Some(2), "{no_interval:?}");
    let nonsense = run_tool("syslat", &["--listen", "no:where:at:all", "1"]);
    assert_eq!(nonsense.status.code(), Some(2), "{nonsense:?}");
    assert!(nonsense.stderr.contains("PORT"), "{nonsense:?}");
    let counts_once = run_tool("tcpretrans", &["-c", "--listen", "9"]);
    assert_eq!(counts_once.status.code(), Some(2), "{counts_once:?}");
    assert!(counts_once.stderr.contains("-i"), "{counts_once:?}");
    let foreign = run_tool("syscount", &["--listen", "192.0.2.1:9", "-i", "1"]);
    assert!(!foreign.status.success(), "{foreign:?}");
    assert_eq!(foreign.stderr.lines().count(), 1, "{foreign:?}");
}

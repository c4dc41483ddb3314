//! tcprtt against the kernel's own view of the socket (`ss -ti`): one
//! sample per segment the connection received in the established state,
//! and the mean of the samples at the smoothed RTT the kernel reports. The
//! RTT is made by `tbf` shaping in the sender's namespace: each request
//! waits for its tokens (one MSS at 2 Mbit/s: about 5.8 ms). All traffic
//! stays between two namespaces the test creates.

use toolkit_tests::{Exchange, NetPair, Running, TestCgroup, json_list, run_tool};

const PORT: &str = "5201";
/// Request/response round trips: with srtt's gain of 1/8, the first ~20
/// samples climb from the handshake's RTT; over 300 they weigh about 3%.
const ROUNDS: u32 = 300;

/// `segs_in` and `rtt` (ms) of the one connection to PORT in `ns`.
fn ss(pair: &NetPair, ns: &str) -> (u64, f64) {
    let out = pair.exec(ns, &["ss", "-tin", "dport", "=", &format!(":{PORT}")]);
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_string()
    };
    let segs_in = field("segs_in:").parse().unwrap();
    let rtt = field("rtt:").split('/').next().unwrap().parse().unwrap();
    (segs_in, rtt)
}

fn shaped_pair(tag: &str) -> NetPair {
    let pair = NetPair::new(tag);
    // One skb per segment (no TSO/GSO, no GRO): segs_in counts segments,
    // tcp_probe fires per skb.
    for (ns, dev) in [(&pair.a, &pair.dev_a), (&pair.b, &pair.dev_b)] {
        pair.exec(
            ns,
            &[
                "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
            ],
        );
    }
    pair.exec(
        &pair.a,
        &[
            "tc",
            "qdisc",
            "add",
            "dev",
            &pair.dev_a,
            "root",
            "tbf",
            "rate",
            "2mbit",
            "burst",
            "3000",
            "latency",
            "50ms",
        ],
    );
    pair
}

/// Runs the round trips over `addr` (b's), calling `check` while the
/// connection is still open, after the last response.
fn round_trips(pair: &NetPair, addr: &str, check: impl FnOnce()) {
    let mut peers = pair.tcp_exchange(addr, PORT, Exchange::Rounds(ROUNDS), None);
    assert_eq!(peers.client_line(), "done");
    check();
    peers.finish();
}

/// What one traced run shows: the tool's sample count and mean (ms), and
/// the kernel's view of the client socket: segs_in less what never reaches
/// tcp_rcv_established, and its srtt (ms).
struct Measured {
    count: u64,
    expected: u64,
    mean_ms: f64,
    srtt_ms: f64,
    record: serde_json::Value,
}

fn measure(v6: bool) -> Measured {
    let pair = shaped_pair(if v6 { "t6" } else { "t4" });
    let (local, remote) = if v6 {
        (pair.addr6_a.clone(), pair.addr6_b.clone())
    } else {
        (pair.addr_a.clone(), pair.addr_b.clone())
    };
    let coalesced_before = pair.snmp(&pair.a, "TcpExt", "TCPBacklogCoalesce");
    let tool = Running::start(
        "tcprtt",
        &["-a", &local, "-P", PORT, "-b", "--percentiles", "--json"],
    );
    // The same segments into the one histogram of an unsplit run (a per-CPU
    // array slot in the kernel, not the hash by address).
    let whole = Running::start("tcprtt", &["-a", &local, "-P", PORT, "--json"]);
    let mut kernel = (0, 0.0);
    round_trips(&pair, &remote, || kernel = ss(&pair, &pair.a));
    let stdout = tool.stop();
    let whole: serde_json::Value =
        serde_json::from_str(whole.stop().lines().last().unwrap()).unwrap();
    let whole: Vec<_> = json_list(&whole["histograms"]).collect();
    assert_eq!(whole.len(), 1, "{whole:?}");
    let coalesced = pair.snmp(&pair.a, "TcpExt", "TCPBacklogCoalesce") - coalesced_before;
    let record: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let hists: Vec<_> = json_list(&record["histograms"]).collect();
    assert_eq!(hists.len(), 1, "{record}");
    assert_eq!(hists[0]["key"]["laddr"], local.as_str());
    let count = hists[0]["count"].as_u64().unwrap();
    assert_eq!(
        (whole[0]["count"].as_u64(), whole[0]["sum"].as_u64()),
        (Some(count), hists[0]["sum"].as_u64()),
        "unsplit run against the run by local address"
    );
    let mean_ms = hists[0]["sum"].as_f64().unwrap() / count as f64 / 1e6;
    let (segs_in, srtt_ms) = kernel;
    eprintln!(
        "v6={v6}: {count} samples, segs_in {segs_in}, coalesced {coalesced}, mean {mean_ms:.3} ms, ss rtt {srtt_ms} ms"
    );
    Measured {
        count,
        // segs_in counts the SYN-ACK, received in SYN_SENT (not
        // tcp_rcv_established), and each ACK that the kernel coalesced
        // into another on the socket's backlog (one tcp_probe for both).
        expected: segs_in - 1 - coalesced,
        mean_ms,
        srtt_ms,
        record,
    }
}

/// One sample per segment received in the established state, over IPv4
/// and IPv6 (the kernel matrix runs this one on every kernel).
#[test]
fn samples_equal_established_segments() {
    for v6 in [false, true] {
        let m = measure(v6);
        assert_eq!(m.count, m.expected, "v6={v6}: {}", m.record);
    }
}

/// The samples' mean is the kernel's smoothed RTT, within 10% (the first
/// samples climb from the handshake's RTT). Timing, not counting: left out
/// of the kernel matrix, whose emulated clocks make tbf's delays uneven.
#[test]
fn mean_is_the_kernels_srtt() {
    let m = measure(false);
    assert!(m.srtt_ms > 3.0, "tbf added no delay: {} ms", m.srtt_ms);
    assert!(
        (m.mean_ms - m.srtt_ms).abs() <= m.srtt_ms * 0.10,
        "mean {} ms vs the kernel's srtt {} ms",
        m.mean_ms,
        m.srtt_ms
    );
}

#[test]
fn text_is_libbpf_tools_layout() {
    let pair = shaped_pair("tx");
    let remote = pair.addr_b.clone();
    let tool = Running::start("tcprtt", &["-B", "-e", "-A", &remote]);
    round_trips(&pair, &remote, || {});
    let stdout = tool.stop();
    let heading = stdout
        .lines()
        .find(|l| l.starts_with("Remote Address = "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        heading.starts_with(&format!("Remote Address = {remote} [AVG ")),
        "{heading}"
    );
    assert!(stdout.contains("     usecs               : count    distribution"));
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    for (args, code, words) in [
        (&["-4", "-6"][..], 2, "cannot be used with"),
        (&["-a", "10.0.0"][..], 2, "invalid value"),
        (&["-p", "70000"][..], 2, "invalid value"),
        (&["-a", "10.0.0.1", "-A", "fd00::1"][..], 1, "not both"),
        (&["-6", "-a", "10.0.0.1"][..], 1, "not both"),
    ] {
        let out = run_tool("tcprtt", args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        assert!(out.stderr.contains(words), "{args:?}: {}", out.stderr);
        if code == 1 {
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        }
    }
}

/// -G: the client's samples in the histogram of its socket's cgroup, one
/// per segment it received established (as `samples_equal_established_segments`
/// counts them, from `ss`), the cgroup named by its path.
#[test]
fn per_cgroup_samples_are_the_sockets_cgroups() {
    let pair = shaped_pair("tg");
    let cgroup = TestCgroup::new("toolkit-tcprtt-client");
    let (local, remote) = (pair.addr_a.clone(), pair.addr_b.clone());
    let coalesced_before = pair.snmp(&pair.a, "TcpExt", "TCPBacklogCoalesce");
    let args = [
        "-a",
        &local,
        "-P",
        PORT,
        "-G",
        "--max-cgroups",
        "1024",
        "--json",
    ];
    let tool = Running::start("tcprtt", &args);
    let mut peers = pair.tcp_exchange(&remote, PORT, Exchange::Rounds(ROUNDS), Some(&cgroup));
    assert_eq!(peers.client_line(), "done");
    let (segs_in, _) = ss(&pair, &pair.a);
    peers.finish();
    let stdout = tool.stop();
    let coalesced = pair.snmp(&pair.a, "TcpExt", "TCPBacklogCoalesce") - coalesced_before;
    let record: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let path = cgroup.relative();
    let count: u64 = json_list(&record["histograms"])
        .filter(|h| h["key"]["cgroup"] == path.as_str())
        .map(|h| h["count"].as_u64().unwrap())
        .sum();
    assert_eq!(count, segs_in - 1 - coalesced, "{record}");
}

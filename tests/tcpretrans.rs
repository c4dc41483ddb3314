//! tcpretrans against the kernel's own counter: an nftables rule in the
//! receiver's namespace drops every Nth incoming data segment, the sender
//! retransmits, and the sender namespace's `Tcp: RetransSegs` delta equals
//! the segments tcpretrans reports, exactly. All traffic stays between two
//! namespaces the test creates.

use toolkit_tests::{Exchange, NetPair, Running, TestCgroup, json_list, run_tool};

const PORT: &str = "5201";

const BYTES: u64 = 2 << 20;

/// Sets up the pair with the dropping rule, runs one transfer from `a` to
/// `b` (over IPv6 when `v6`) and returns the pair, the sender's address and
/// its RetransSegs delta.
fn lossy_transfer(tag: &str, v6: bool, during: impl FnOnce(&NetPair, &dyn Fn())) -> NetPair {
    let pair = NetPair::new(tag);
    // Data segments only (handshake, ACKs and FINs are short), one in 17.
    pair.input_rule(&[
        "tcp", "dport", PORT, "meta", "length", "gt", "200", "numgen", "inc", "mod", "17", "==",
        "0", "counter", "drop",
    ]);
    let server_addr = if v6 {
        pair.addr6_b.clone()
    } else {
        pair.addr_b.clone()
    };
    let transfer = || {
        let mut peers = pair.tcp_exchange(&server_addr, PORT, Exchange::Bulk(BYTES), None);
        assert_eq!(peers.client_line(), BYTES.to_string());
        assert_eq!(peers.server_line(), BYTES.to_string());
        peers.finish();
    };
    during(&pair, &transfer);
    pair
}

/// Event mode and `-c` side by side on the same transfer: one line per
/// retransmitted skb, the same total per flow, and the segments they
/// carried equal the kernel's RetransSegs. `-c` runs three ways: flows in
/// their per-CPU slots (the default), every flow in the hash
/// (`--flow-slots 0`), and, across both transfers, one slot per CPU for the
/// two flows (`--flow-slots 1`: the second flow's retransmits go to the
/// hash on a CPU where the first holds the slot).
#[test]
fn retransmits_equal_the_namespaces_retranssegs() {
    let shared = Running::start("tcpretrans", &["-c", "--json", "--flow-slots", "1"]);
    let dir = std::env::temp_dir().join(format!("tcpretrans-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = dir.join("tcpretrans.prom");
    let mut expected = Vec::new();
    for v6 in [false, true] {
        let mut outputs = None;
        let mut retrans_segs = 0;
        let pair = lossy_transfer(if v6 { "r6" } else { "r4" }, v6, |pair, transfer| {
            let before = pair.snmp(&pair.a, "Tcp", "RetransSegs");
            let events = Running::start("tcpretrans", &["--json"]);
            let counts = Running::start(
                "tcpretrans",
                &["-c", "--json", "--openmetrics", metrics.to_str().unwrap()],
            );
            let hashed = Running::start("tcpretrans", &["-c", "--json", "--flow-slots", "0"]);
            transfer();
            retrans_segs = pair.snmp(&pair.a, "Tcp", "RetransSegs") - before;
            outputs = Some((events.stop(), counts.stop(), hashed.stop()));
        });
        let (events, counts, hashed) = outputs.unwrap();
        let (laddr, raddr) = if v6 {
            (pair.addr6_a.clone(), pair.addr6_b.clone())
        } else {
            (pair.addr_a.clone(), pair.addr_b.clone())
        };
        let ours = |v: &serde_json::Value| is_flow(v, &laddr, &raddr);
        let lines: Vec<serde_json::Value> = events
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(ours)
            .collect();
        assert!(retrans_segs > 0, "the rule dropped nothing");
        let segments: u64 = lines.iter().map(|e| e["segments"].as_u64().unwrap()).sum();
        assert_eq!(segments, retrans_segs, "v6={v6}: {events}");
        assert!(lines.iter().all(|e| e["ip"] == if v6 { 6 } else { 4 }));
        // The same counts for Prometheus, by address pair.
        let om = std::fs::read_to_string(&metrics).unwrap();
        for (name, n) in [
            ("retransmits", lines.len() as u64),
            ("segments", retrans_segs),
        ] {
            let line =
                format!("tcpretrans_{name}_total{{laddr=\"{laddr}\",raddr=\"{raddr}\"}} {n}\n");
            assert!(om.contains(&line), "{line} not in {om}");
        }
        for counts in [counts, hashed] {
            assert_flow_counted(&counts, &ours, lines.len() as u64, retrans_segs);
        }
        expected.push((laddr, raddr, lines.len() as u64, retrans_segs));
    }
    let shared = shared.stop();
    std::fs::remove_dir_all(&dir).unwrap();
    for (laddr, raddr, retransmits, segments) in expected {
        let ours = |v: &serde_json::Value| is_flow(v, &laddr, &raddr);
        assert_flow_counted(&shared, &ours, retransmits, segments);
    }
}

/// A JSON event or flow of the test's connection, from `laddr` to the
/// server at `raddr`.
fn is_flow(v: &serde_json::Value, laddr: &str, raddr: &str) -> bool {
    v["laddr"] == laddr && v["raddr"] == raddr && v["rport"] == 5201
}

/// In the last record of a `-c --json` run, the one flow `ours` selects
/// has these counts.
fn assert_flow_counted(
    output: &str,
    ours: &dyn Fn(&serde_json::Value) -> bool,
    retransmits: u64,
    segments: u64,
) {
    let record: serde_json::Value =
        serde_json::from_str(output.lines().last().expect("no -c output")).unwrap();
    let flow: Vec<&serde_json::Value> = json_list(&record["flows"]).filter(|f| ours(f)).collect();
    assert_eq!(flow.len(), 1, "{record}");
    assert_eq!(
        flow[0]["retransmits"].as_u64().unwrap(),
        retransmits,
        "{record}"
    );
    assert_eq!(flow[0]["segments"].as_u64().unwrap(), segments, "{record}");
}

/// -4 leaves IPv6 out, and the text is bcc's.
#[test]
fn ipv4_only_prints_bccs_lines() {
    let mut text = String::new();
    let pair = lossy_transfer("t4", true, |_, transfer| {
        let tool = Running::start("tcpretrans", &["-4"]);
        transfer();
        text = tool.stop();
    });
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "TIME     PID    IP LADDR:LPORT          T> RADDR:RPORT          STATE"
    );
    assert!(!text.contains(&pair.addr6_a), "{text}");
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    for (args, words) in [
        (&["-4", "-6"][..], "cannot be used with"),
        (&["-i", "1"][..], "required"),
        (&["-l"][..], "tail loss probes"),
        (
            &["-d", "soon"][..],
            "is not a number of seconds or a duration",
        ),
    ] {
        let out = run_tool("tcpretrans", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains(words), "{args:?}: {}", out.stderr);
    }
}

/// `-c -G`: the sender's retransmits under the cgroup of its socket, their
/// segments equal to its namespace's RetransSegs delta (the one connection
/// there), the cgroup named by its path: counted in the socket's slot (on
/// `tp_btf`; `raw_tp` has no socket cookies), and with `--flow-slots 0` by
/// its cgroup on every retransmit.
#[test]
fn per_cgroup_counts_are_the_sockets_cgroups() {
    for slots in [None, Some("0")] {
        per_cgroup_counts(slots);
    }
}

fn per_cgroup_counts(slots: Option<&str>) {
    let pair = NetPair::new("rg");
    pair.input_rule(&[
        "tcp", "dport", PORT, "meta", "length", "gt", "200", "numgen", "inc", "mod", "17", "==",
        "0", "counter", "drop",
    ]);
    let cgroup = TestCgroup::new("toolkit-tcpretrans-sender");
    let before = pair.snmp(&pair.a, "Tcp", "RetransSegs");
    let mut args = vec!["-c", "-G", "--max-cgroups", "1024", "--json"];
    if let Some(slots) = slots {
        args.extend(["--flow-slots", slots]);
    }
    let tool = Running::start("tcpretrans", &args);
    let mut peers = pair.tcp_exchange(&pair.addr_b, PORT, Exchange::Bulk(BYTES), Some(&cgroup));
    assert_eq!(peers.client_line(), BYTES.to_string());
    peers.finish();
    let retrans_segs = pair.snmp(&pair.a, "Tcp", "RetransSegs") - before;
    let record: serde_json::Value =
        serde_json::from_str(tool.stop().lines().last().unwrap()).unwrap();
    assert!(retrans_segs > 0, "the rule dropped nothing");
    let ours: Vec<&serde_json::Value> = json_list(&record["cgroups"])
        .filter(|c| c["cgroup"] == cgroup.relative().as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{slots:?}: {record}");
    assert_eq!(
        ours[0]["segments"].as_u64(),
        Some(retrans_segs),
        "{slots:?}: {record}"
    );
}

//! netdrop against the kernel's own counters: an nftables rule's packet
//! counter and a namespace's `Udp: RcvbufErrors`, exactly. All traffic
//! stays between two namespaces the test creates.

use toolkit_tests::{NetPair, Running, json_list, run_tool};

const PORT: &str = toolkit_tests::UDP_PORT;
/// Datagrams sent: a prime, so that no other count matches by chance.
const SENT: u64 = 1009;

fn send_through(pair: &NetPair, quiet: bool) {
    pair.send_datagrams(SENT, quiet);
}

/// The count netdrop's last JSON record gives `reason` on `dev`.
fn count_on(record: &serde_json::Value, reason: &str, dev: &str) -> u64 {
    json_list(&record["drops"])
        .filter(|d| d["reason"] == reason && d["interface"] == dev)
        .map(|d| d["count"].as_u64().unwrap())
        .sum()
}

/// Stops the tool and returns its last JSON record.
fn stop(tool: Running) -> serde_json::Value {
    let stdout = tool.stop();
    serde_json::from_str(stdout.lines().last().expect("no JSON output")).unwrap()
}

/// (a) An nftables `counter drop` rule on one UDP port: NETFILTER_DROP on
/// the receiving veth equals the rule's packet counter, which equals the
/// datagrams sent.
#[test]
fn netfilter_drops_equal_the_rules_counter() {
    let pair = NetPair::new("nf");
    pair.input_rule(&["udp", "dport", PORT, "counter", "drop"]);
    let tool = Running::start("netdrop", &["-I", "--json"]);
    send_through(&pair, false);
    let record = stop(tool);
    let counter = pair.rule_packets();
    assert_eq!(counter, SENT);
    assert_eq!(
        count_on(&record, "NETFILTER_DROP", &pair.dev_b),
        counter,
        "{record}"
    );
    let row = json_list(&record["drops"])
        .find(|d| d["interface"] == pair.dev_b.as_str())
        .unwrap();
    assert_eq!(row["protocol"], "IPv4/UDP", "{record}");
}

/// (b) A UDP receiver that does not read, with the smallest receive
/// buffer: SOCKET_RCVBUFF equals the namespace's `Udp: RcvbufErrors`
/// delta (the kernel counts both at the same spot).
#[test]
fn receive_buffer_drops_equal_rcvbuf_errors() {
    let pair = NetPair::new("rb");
    let before = pair.snmp(&pair.b, "Udp", "RcvbufErrors");
    let tool = Running::start("netdrop", &["-I", "-r", "SOCKET_RCVBUFF", "--json"]);
    // Without -I, drops are counted by reason and protocol alone (in the
    // kernel, a per-reason array rather than the hash by interface). No
    // other test here overflows a receive buffer.
    let all = Running::start("netdrop", &["-r", "SOCKET_RCVBUFF", "--json"]);
    send_through(&pair, true);
    let record = stop(tool);
    let all = stop(all);
    let errors = pair.snmp(&pair.b, "Udp", "RcvbufErrors") - before;
    let udp: u64 = json_list(&all["drops"])
        .filter(|d| d["reason"] == "SOCKET_RCVBUFF" && d["protocol"] == "IPv4/UDP")
        .map(|d| d["count"].as_u64().unwrap())
        .sum();
    assert_eq!(udp, errors, "without -I: {all}");
    // A few datagrams fit in the buffer; most do not.
    assert!(errors > SENT / 2 && errors < SENT, "{errors} RcvbufErrors");
    assert_eq!(
        count_on(&record, "SOCKET_RCVBUFF", &pair.dev_b),
        errors,
        "{record}"
    );
    // -r: nothing else is counted.
    assert!(
        json_list(&record["drops"]).all(|d| d["reason"] == "SOCKET_RCVBUFF"),
        "{record}"
    );
}

/// (c) The same traffic to a receiver with room for all of it: no IPv4
/// drop on either end of the pair.
#[test]
fn traffic_without_drops_shows_none() {
    let pair = NetPair::new("ok");
    let before = pair.snmp(&pair.b, "Udp", "InErrors");
    let tool = Running::start("netdrop", &["-I", "--json"]);
    send_through(&pair, false);
    let record = stop(tool);
    assert_eq!(pair.snmp(&pair.b, "Udp", "InErrors"), before);
    // IPv4 only: when a veth comes up, the kernel sends its own MLD report
    // (IPv6, hop-by-hop header), which the peer drops as IP_INNOROUTES
    // once, whenever it lands; that is not this test's traffic.
    let ours: Vec<_> = json_list(&record["drops"])
        .filter(|d| d["interface"] == pair.dev_a.as_str() || d["interface"] == pair.dev_b.as_str())
        .filter(|d| d["protocol"].as_str().unwrap().starts_with("IPv4"))
        .collect();
    assert!(ours.is_empty(), "{record}");
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    for (args, code, words) in [
        (
            &["-r", "NO_SUCH_REASON"][..],
            1,
            "unknown drop reason 'NO_SUCH_REASON'",
        ),
        (&["-x", "BOGUS", "1"][..], 1, "unknown drop reason 'BOGUS'"),
        (&["-r", "no socket"][..], 2, "is not a drop reason name"),
        (&["-T", "0"][..], 2, "invalid value"),
    ] {
        let out = run_tool("netdrop", args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        assert!(out.stderr.contains(words), "{args:?}: {}", out.stderr);
        if code == 1 {
            assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        }
    }
}

#[test]
fn lists_this_kernels_reasons() {
    let out = run_tool("netdrop", &["-l"]);
    assert!(out.status.success(), "{out:?}");
    for reason in [
        "NETFILTER_DROP",
        "SOCKET_RCVBUFF",
        "NO_SOCKET",
        "NOT_SPECIFIED",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.ends_with(&format!(": {reason}"))),
            "{reason}"
        );
    }
}

/// Containers' interfaces share names (`eth0`): in two namespaces, each
/// with its receiving veth renamed to the same name, an nftables rule drops
/// a different number of datagrams. `-I` counts them apart, each under its
/// own namespace's inode, exactly as
/// each rule's counter, and the text names them `NAME@INODE`.
#[test]
fn same_named_interfaces_in_two_namespaces_are_counted_apart() {
    const NAME: &str = "tketh0";
    let pairs = [NetPair::ipv4_only("na"), NetPair::ipv4_only("nb")];
    for pair in &pairs {
        for step in [
            vec!["ip", "link", "set", "dev", &pair.dev_b, "down"],
            vec!["ip", "link", "set", "dev", &pair.dev_b, "name", NAME],
            vec!["ip", "link", "set", "dev", NAME, "up"],
        ] {
            pair.exec(&pair.b, &step);
        }
        pair.input_rule(&["udp", "dport", PORT, "counter", "drop"]);
    }
    let json = Running::start("netdrop", &["-I", "--json"]);
    let text = Running::start("netdrop", &["-I"]);
    let sent = [SENT, 503];
    for (pair, count) in pairs.iter().zip(sent) {
        pair.send_datagrams(count, false);
    }
    let record = stop(json);
    let text = text.stop();
    for (pair, count) in pairs.iter().zip(sent) {
        let inode = pair.netns_inode(&pair.b);
        let counted: u64 = json_list(&record["drops"])
            .filter(|d| {
                d["reason"] == "NETFILTER_DROP" && d["interface"] == NAME && d["netns"] == inode
            })
            .map(|d| d["count"].as_u64().unwrap())
            .sum();
        assert_eq!((counted, pair.rule_packets()), (count, count), "{record}");
        let row = format!("{NAME}@{inode}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(2) == Some(&row)
                    && l.split_whitespace().nth(3) == Some(&count.to_string())),
            "no row for {row} with {count}: {text}"
        );
    }
}

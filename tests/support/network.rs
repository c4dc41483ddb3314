//! Two network namespaces joined by a veth pair, and the UDP traffic
//! and nftables rules the network tests drive through them.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

/// Two network namespaces joined by a veth pair, made by the test and
/// removed on drop: `a` (10.231.N.1, fd00:231:N::1) and `b` (.2, ::2). All
/// traffic stays between them; no address outside this machine is used.
pub struct NetPair {
    pub a: String,
    pub b: String,
    /// The veth ends' names (in `a` and in `b`).
    pub dev_a: String,
    pub dev_b: String,
    pub addr_a: String,
    pub addr_b: String,
    pub addr6_a: String,
    pub addr6_b: String,
}

impl NetPair {
    /// Creates the pair; `tag` (a few letters) names it after the test.
    pub fn new(tag: &str) -> NetPair {
        Self::create(tag, true)
    }

    /// Like [`NetPair::new`], IPv4 only: no IPv6 on either end, so not even
    /// the kernel's own MLD report at link-up (which the peer drops once, as
    /// IP_INNOROUTES, whenever it lands).
    pub fn ipv4_only(tag: &str) -> NetPair {
        Self::create(tag, false)
    }

    fn create(tag: &str, ipv6: bool) -> NetPair {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{tag}{}{seq}", std::process::id() % 100_000);
        let subnet = (std::process::id() + seq * 7) % 250 + 1;
        let pair = NetPair {
            a: format!("tk-{id}-a"),
            b: format!("tk-{id}-b"),
            dev_a: format!("v{id}a"),
            dev_b: format!("v{id}b"),
            addr_a: format!("10.231.{subnet}.1"),
            addr_b: format!("10.231.{subnet}.2"),
            addr6_a: format!("fd00:231:{subnet:x}::1"),
            addr6_b: format!("fd00:231:{subnet:x}::2"),
        };
        assert!(
            pair.dev_a.len() <= 15,
            "interface name {} too long",
            pair.dev_a
        );
        // Each command run directly (no shell: busybox's would run its own
        // `ip` applet, which has no namespaces, in the kernel matrix).
        let (a, b) = (pair.a.as_str(), pair.b.as_str());
        let (da, db) = (pair.dev_a.as_str(), pair.dev_b.as_str());
        let mut steps: Vec<Vec<String>> = Vec::new();
        let mut step = |args: &[&str]| steps.push(args.iter().map(|s| s.to_string()).collect());
        step(&["netns", "add", a]);
        step(&["netns", "add", b]);
        if !ipv6 {
            for ns in [a, b] {
                step(&[
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ]);
            }
        }
        step(&[
            "link", "add", da, "netns", a, "type", "veth", "peer", "name", db, "netns", b,
        ]);
        for (ns, addr, dev) in [(a, &pair.addr_a, da), (b, &pair.addr_b, db)] {
            step(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
        }
        if ipv6 {
            for (ns, addr, dev) in [(a, &pair.addr6_a, da), (b, &pair.addr6_b, db)] {
                step(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{addr}/64"),
                    "dev",
                    dev,
                    "nodad",
                ]);
            }
        }
        for (ns, dev) in [(a, da), (b, db), (a, "lo"), (b, "lo")] {
            step(&["-n", ns, "link", "set", dev, "up"]);
        }
        for args in steps {
            let out = Command::new("ip").args(&args).output().expect("running ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Static neighbours: no ARP or neighbour discovery on the first
        // packet (a first IPv6 SYN otherwise waits a second for it).
        let mac = |ns: &str, dev: &str| {
            let link = pair.exec(ns, &["cat", &format!("/sys/class/net/{dev}/address")]);
            link.trim().to_string()
        };
        let (mac_a, mac_b) = (mac(&pair.a, &pair.dev_a), mac(&pair.b, &pair.dev_b));
        for (ns, dev, peer, peer6, lladdr) in [
            (&pair.a, &pair.dev_a, &pair.addr_b, &pair.addr6_b, &mac_b),
            (&pair.b, &pair.dev_b, &pair.addr_a, &pair.addr6_a, &mac_a),
        ] {
            let peers = if ipv6 { vec![peer, peer6] } else { vec![peer] };
            for addr in peers {
                pair.exec(
                    ns,
                    &[
                        "ip",
                        "neigh",
                        "replace",
                        addr,
                        "lladdr",
                        lladdr,
                        "dev",
                        dev,
                        "nud",
                        "permanent",
                    ],
                );
            }
        }
        pair
    }

    /// Runs `args` in namespace `ns`, returning its stdout; fails the test
    /// if it fails.
    pub fn exec(&self, ns: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("running ip netns exec");
        assert!(
            out.status.success(),
            "{args:?} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The inode number of namespace `ns` (the nsfs inode behind
    /// `/run/netns/NS`), as the tools name another namespace's interfaces.
    pub fn netns_inode(&self, ns: &str) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(format!("/run/netns/{ns}")).unwrap().ino()
    }

    /// Starts `args` in namespace `ns` with piped stdout.
    pub fn spawn(&self, ns: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("running ip netns exec")
    }

    /// A counter of namespace `ns` from /proc/net/snmp or /proc/net/netstat
    /// (`Udp`, `RcvbufErrors`; `TcpExt`, ...), as the namespace sees it.
    pub fn snmp(&self, ns: &str, group: &str, field: &str) -> u64 {
        let text = self.exec(ns, &["cat", "/proc/net/snmp", "/proc/net/netstat"]);
        let prefix = format!("{group}:");
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
        for pair in lines.chunks(2) {
            let names = pair[0].split_whitespace();
            let values = pair[1].split_whitespace();
            if let Some((_, v)) = names.zip(values).find(|(n, _)| *n == field) {
                return v.parse().unwrap();
            }
        }
        panic!("{group}:{field} not in {ns}'s /proc/net/snmp or netstat");
    }
}

/// In namespace `b`: a UDP socket on port argv[2] that never reads, with
/// the smallest receive buffer the kernel allows (argv[3] = 1) or one big
/// enough for every datagram sent (argv[3] = 0, SO_RCVBUFFORCE as root),
/// and a marker socket on argv[4]. Prints "ready" once bound and "marker"
/// when the marker datagram arrives: every datagram sent before it from
/// the same CPU has been through the stack by then.
const RECEIVER: &str = r#"
import socket, sys
addr, port, quiet, mport = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if quiet:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
else:
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
s.bind((addr, port))
m = socket.socket(fam, socket.SOCK_DGRAM)
m.bind((addr, mport))
print("ready", flush=True)
m.recv(16)
print("marker", flush=True)
sys.stdin.read()
"#;

/// In namespace `a`, pinned to one CPU (one backlog queue, so the marker
/// comes last): argv[3] datagrams of 512 bytes to argv[1]:argv[2], then the
/// marker to argv[1]:argv[4].
const SENDER: &str = r#"
import socket, sys
addr, port, n, mport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
for _ in range(n):
    s.sendto(b"x" * 512, (addr, port))
s.sendto(b"m", (addr, mport))
"#;

/// The port [`NetPair::send_datagrams`] sends to, and its marker's.
pub const UDP_PORT: &str = "5555";

const MARKER: &str = "5556";

impl NetPair {
    /// Sends `count` datagrams from `a` to `b`'s UDP_PORT, where a receiver
    /// (reading, or `quiet`: not reading, with the smallest buffer) is
    /// bound, and returns once the marker after them has arrived.
    pub fn send_datagrams(&self, count: u64, quiet: bool) {
        let pair = self;
        let mut receiver = pair.spawn(
            &pair.b,
            &[
                "python3",
                "-c",
                RECEIVER,
                &pair.addr_b,
                UDP_PORT,
                if quiet { "1" } else { "0" },
                MARKER,
            ],
        );
        let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        pair.exec(
            &pair.a,
            &[
                "taskset",
                "-c",
                "0",
                "python3",
                "-c",
                SENDER,
                &pair.addr_b,
                UDP_PORT,
                &count.to_string(),
                MARKER,
            ],
        );
        assert_eq!(lines.next().unwrap().unwrap(), "marker");
        drop(receiver.stdin.take());
        let _ = receiver.kill();
        let _ = receiver.wait();
    }
}

impl NetPair {
    /// In `b`'s namespace: an nftables input chain (`inet tk input`) with
    /// `rule` (`udp dport 5555 counter drop`, ...) in it.
    pub fn input_rule(&self, rule: &[&str]) {
        self.exec(&self.b, &["nft", "add", "table", "inet", "tk"]);
        self.exec(
            &self.b,
            &[
                "nft",
                "add chain inet tk input { type filter hook input priority 0 ; policy accept ; }",
            ],
        );
        let mut args = vec!["nft", "add", "rule", "inet", "tk", "input"];
        args.extend_from_slice(rule);
        self.exec(&self.b, &args);
    }

    /// The packet counter of the [`NetPair::input_rule`] rule.
    pub fn rule_packets(&self) -> u64 {
        let rules = self.exec(&self.b, &["nft", "list", "chain", "inet", "tk", "input"]);
        rules
            .split("counter packets ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no counter in {rules}"))
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and so the pair.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

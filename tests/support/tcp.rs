//! One TCP connection between a [`NetPair`]'s namespaces, for the socket
//! tools' tests: a server in `b`, a client in `a`, both one Python script
//! ([`TCP_PEER`]) that exchanges a known amount of data.

use std::{
    io::{BufRead as _, BufReader, Lines, Write as _},
    process::{Child, ChildStdout},
};

use crate::{NetPair, TestCgroup};

/// `python3 -c TCP_PEER server|client ADDR PORT bulk|rounds [N [wait]]`.
/// - `bulk`: the client sends N bytes and half-closes; the server reads to
///   the end, answers with the count, closes and prints it; the client
///   prints the answer. Every byte, so every retransmit, is through.
/// - `rounds`: N round trips of a 1400-byte request (one segment over IPv4
///   and IPv6) and a 1-byte answer; the client prints `done` and holds the
///   connection open until its stdin closes (so that `ss` can read it).
///
/// The server prints `ready` once listening. With `wait`, the client first
/// prints its pid and waits for a line on stdin, so that the test can move
/// it into a cgroup before it makes its socket (a socket belongs to the
/// cgroup of the task that created it).
const TCP_PEER: &str = r#"
import os, socket, sys
role, host, port, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if role == "server":
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    l = socket.socket(fam, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port))
    l.listen(1)
    print("ready", flush=True)
    c, _ = l.accept()
    if mode == "bulk":
        n = 0
        while b := c.recv(65536):
            n += len(b)
        c.sendall(str(n).encode())
        c.close()
        print(n, flush=True)
        sys.exit(0)
    while True:
        n = 0
        while n < 1400:
            b = c.recv(1400 - n)
            if not b:
                sys.exit(0)
            n += len(b)
        c.sendall(b"k")
if sys.argv[6:] == ["wait"]:
    print(os.getpid(), flush=True)
    sys.stdin.readline()
s = socket.create_connection((host, port))
if mode == "bulk":
    s.sendall(b"x" * int(sys.argv[5]))
    s.shutdown(socket.SHUT_WR)
    print(s.recv(64).decode(), flush=True)
else:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(int(sys.argv[5])):
        s.sendall(b"x" * 1400)
        assert s.recv(1) == b"k"
    print("done", flush=True)
    sys.stdin.read()
"#;

/// What the client sends ([`TCP_PEER`]'s modes).
#[derive(Clone, Copy)]
pub enum Exchange {
    /// This many bytes, counted by the server.
    Bulk(u64),
    /// This many request and answer round trips.
    Rounds(u32),
}

/// A running exchange: the server and the client, and their output.
pub struct TcpPeers {
    server: Child,
    server_out: Lines<BufReader<ChildStdout>>,
    client: Child,
    client_out: Lines<BufReader<ChildStdout>>,
}

impl NetPair {
    /// Starts the server in `b` on `addr` (one of `b`'s) and `port`, waits
    /// until it listens, then starts the client in `a`; with `cgroup`, the
    /// client joins it before it makes its socket.
    pub fn tcp_exchange(
        &self,
        addr: &str,
        port: &str,
        exchange: Exchange,
        cgroup: Option<&TestCgroup>,
    ) -> TcpPeers {
        let (mode, count) = match exchange {
            Exchange::Bulk(bytes) => ("bulk", bytes.to_string()),
            Exchange::Rounds(rounds) => ("rounds", rounds.to_string()),
        };
        let peer = |ns: &str, args: &[&str]| {
            let mut child = self.spawn(ns, &[&["python3", "-c", TCP_PEER][..], args].concat());
            let out = BufReader::new(child.stdout.take().unwrap()).lines();
            (child, out)
        };
        let (server, mut server_out) = peer(&self.b, &["server", addr, port, mode]);
        assert_eq!(server_out.next().unwrap().unwrap(), "ready");
        let wait = if cgroup.is_some() { "wait" } else { "" };
        let (mut client, mut client_out) =
            peer(&self.a, &["client", addr, port, mode, &count, wait]);
        if let Some(cgroup) = cgroup {
            cgroup.add(client_out.next().unwrap().unwrap().trim().parse().unwrap());
            client.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        }
        TcpPeers {
            server,
            server_out,
            client,
            client_out,
        }
    }
}

impl TcpPeers {
    /// The client's next line: the server's count (`bulk`), or `done`
    /// once the round trips are over.
    pub fn client_line(&mut self) -> String {
        self.client_out.next().unwrap().unwrap()
    }

    /// The server's next line: the count it read (`bulk`).
    pub fn server_line(&mut self) -> String {
        self.server_out.next().unwrap().unwrap()
    }

    /// Closes the connection (the client's stdin) and waits for both ends
    /// to exit, successfully.
    pub fn finish(mut self) {
        drop(self.client.stdin.take());
        assert!(self.client.wait().unwrap().success());
        assert!(self.server.wait().unwrap().success());
    }
}

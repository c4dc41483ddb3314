//! `--listen ADDR`: the metrics over HTTP, for Prometheus to scrape.
//!
//! One thread, one `poll(2)` loop over non-blocking sockets: the tracing
//! thread only swaps in the latest exposition (a pointer, under a lock held
//! for that swap), so no client, however slow or hostile, can stall
//! tracing. Answered: `GET /metrics` (Prometheus' protobuf format to a
//! scraper that asks for it, OpenMetrics text otherwise), `GET /` (a
//! pointer), `HEAD` of both. Anything else gets its error status: 400 for
//! a malformed request, 404, 405 for another method, 431 for a header past
//! [`MAX_HEADER`]. At most [`MAX_CONNECTIONS`] connections are kept; past
//! that the one idle longest is closed, and any connection idle for
//! [`IDLE`] is closed, so idle clients cannot lock scrapers out.

use std::{
    io::{self, Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs as _},
    os::fd::AsRawFd as _,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow};

/// The largest request head read: request line and headers.
pub const MAX_HEADER: usize = 8192;

/// Connections kept open at once.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a connection may stay without a byte moving either way.
pub const IDLE: Duration = Duration::from_secs(30);

/// What Prometheus asks for when it wants protobuf (native histograms).
const PROTOBUF: &str = "application/vnd.google.protobuf";

/// The latest exposition, in both formats.
#[derive(Default)]
struct Exposition {
    text: Vec<u8>,
    protobuf: Vec<u8>,
}

impl Exposition {
    fn body(&self, protobuf: bool) -> &[u8] {
        if protobuf { &self.protobuf } else { &self.text }
    }
}

type Shared = Arc<Mutex<Arc<Exposition>>>;

/// A listening endpoint; its thread serves until the process exits.
pub struct Endpoint {
    current: Shared,
    address: SocketAddr,
}

impl Endpoint {
    /// Binds `address` and starts serving (an empty exposition until the
    /// first [`publish`](Self::publish)). An address in use, or one this
    /// machine does not have, is one clear error.
    pub fn bind(tool: &'static str, address: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(address).map_err(|e| {
            let why = match e.kind() {
                io::ErrorKind::AddrInUse => "address already in use".to_string(),
                io::ErrorKind::AddrNotAvailable => "no such address on this machine".to_string(),
                _ => e.to_string(),
            };
            anyhow!("cannot listen on {address}: {why}")
        })?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let current: Shared = Arc::default();
        let server = Server {
            listener,
            connections: Vec::new(),
            current: Arc::clone(&current),
            tool,
        };
        std::thread::Builder::new()
            .name("metrics".into())
            .stack_size(128 * 1024)
            .spawn(move || server.run())
            .context("starting the metrics endpoint")?;
        Ok(Self { current, address })
    }

    /// The address bound (the port chosen, for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves `text` and `protobuf` from now on.
    pub(super) fn publish(&self, text: Vec<u8>, protobuf: Vec<u8>) {
        let latest = Arc::new(Exposition { text, protobuf });
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = latest;
    }
}

/// `--listen`'s value: `PORT` or `:PORT` (on 127.0.0.1), `HOST:PORT`,
/// `[V6]:PORT`.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let port_only = value.strip_prefix(':').unwrap_or(value);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(address) = value.parse::<SocketAddr>() {
        return Ok(address);
    }
    match value.to_socket_addrs() {
        Ok(mut addresses) => addresses
            .next()
            .ok_or_else(|| format!("{value:?} names no address")),
        Err(_) => Err(format!(
            "{value:?} is not PORT, :PORT, HOST:PORT or [IPV6]:PORT"
        )),
    }
}

struct Server {
    listener: TcpListener,
    connections: Vec<Connection>,
    current: Shared,
    tool: &'static str,
}

struct Connection {
    stream: TcpStream,
    /// Bytes of the request read so far.
    request: Vec<u8>,
    /// The response being written (its head, and the whole of a small
    /// body), then the exposition it serves, shared with every other
    /// connection serving it rather than copied (`true`: the protobuf);
    /// and how much of both is written.
    response: Vec<u8>,
    shared: Option<(Arc<Exposition>, bool)>,
    written: usize,
    /// Close once the response is written.
    close: bool,
    last: Instant,
}

impl Server {
    fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(MAX_CONNECTIONS + 1);
        loop {
            fds.clear();
            fds.push(libc::pollfd {
                fd: self.listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            for c in &self.connections {
                let events = if c.response.is_empty() {
                    libc::POLLIN
                } else {
                    libc::POLLOUT
                };
                fds.push(libc::pollfd {
                    fd: c.stream.as_raw_fd(),
                    events,
                    revents: 0,
                });
            }
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd
            // structures, owned by this thread for the call.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
            if ready < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                crate::say!("{}: the metrics endpoint stopped: poll failed", self.tool);
                return;
            }
            let now = Instant::now();
            // Connections first (their indexes match `fds`), then accept.
            let mut keep = Vec::with_capacity(self.connections.len());
            for (mut c, fd) in self.connections.drain(..).zip(&fds[1..]) {
                let alive = if fd.revents != 0 {
                    c.last = now;
                    c.serve(&self.current)
                } else {
                    now.duration_since(c.last) < IDLE
                };
                if alive {
                    keep.push(c);
                }
            }
            self.connections = keep;
            if fds[0].revents != 0 {
                self.accept(now);
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors, or the client gave up: try later.
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.connections.len() >= MAX_CONNECTIONS
                && let Some(oldest) =
                    (0..self.connections.len()).min_by_key(|&i| self.connections[i].last)
            {
                self.connections.swap_remove(oldest);
            }
            self.connections.push(Connection {
                stream,
                request: Vec::new(),
                response: Vec::new(),
                shared: None,
                written: 0,
                close: false,
                last: now,
            });
        }
    }
}

impl Connection {
    /// Moves what can move without blocking; `false` when the connection
    /// is done with.
    fn serve(&mut self, current: &Shared) -> bool {
        if self.response.is_empty() {
            let mut buf = [0u8; 4096];
            loop {
                match self.stream.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(n) => {
                        self.request.extend_from_slice(&buf[..n]);
                        if self.request.len() > MAX_HEADER {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return false,
                }
            }
            if !self.respond(current) {
                return true;
            }
        }
        let body = self.shared.as_ref().map_or(&[][..], |(e, p)| e.body(*p));
        let total = self.response.len() + body.len();
        while self.written < total {
            let rest = match self.written.checked_sub(self.response.len()) {
                None => &self.response[self.written..],
                Some(into_body) => &body[into_body..],
            };
            match self.stream.write(rest) {
                Ok(0) => return false,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        if self.close {
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
            return false;
        }
        self.response = Vec::new();
        self.shared = None;
        self.written = 0;
        // A pipelined request may already be waiting.
        if self.respond(current) {
            return self.serve(current);
        }
        true
    }

    /// Builds the response to the request read so far, if it is complete
    /// (or can never be): `true` when there is one to write.
    fn respond(&mut self, current: &Shared) -> bool {
        let end = self.request.windows(4).position(|w| w == b"\r\n\r\n");
        let Some(end) = end else {
            if self.request.len() > MAX_HEADER {
                self.error(431, "Request Header Fields Too Large");
                return true;
            }
            return false;
        };
        if end + 4 > MAX_HEADER {
            self.error(431, "Request Header Fields Too Large");
            return true;
        }
        let head: Vec<u8> = self.request.drain(..end + 4).collect();
        let Some(request) = Request::parse(&head) else {
            self.error(400, "Bad Request");
            return true;
        };
        // A body is never read: answer, then close.
        self.close = !request.keep_alive || request.has_body;
        if request.method != "GET" && request.method != "HEAD" {
            self.error(405, "Method Not Allowed");
            return true;
        }
        let get = request.method == "GET";
        match request.path {
            "/metrics" => {
                let latest = Arc::clone(&current.lock().unwrap_or_else(|p| p.into_inner()));
                let protobuf = request.wants_protobuf;
                let content_type = if protobuf {
                    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
                } else {
                    "application/openmetrics-text; version=1.0.0; charset=utf-8"
                };
                let length = latest.body(protobuf).len();
                self.response = head_bytes(200, "OK", content_type, length, self.close, "");
                self.shared = get.then_some((latest, protobuf));
            }
            "/" => {
                let body = b"<html><body><a href=\"/metrics\">/metrics</a></body></html>\n";
                let html = "text/html; charset=utf-8";
                self.response = head_bytes(200, "OK", html, body.len(), self.close, "");
                if get {
                    self.response.extend_from_slice(body);
                }
            }
            _ => self.error(404, "Not Found"),
        }
        true
    }

    /// An error response, then close.
    fn error(&mut self, code: u16, reason: &str) {
        self.close = true;
        self.request.clear();
        let body = format!("{code} {reason}\n");
        let extra = if code == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        self.response = head_bytes(code, reason, "text/plain", body.len(), true, extra);
        self.response.extend_from_slice(body.as_bytes());
    }
}

fn head_bytes(
    code: u16,
    reason: &str,
    content_type: &str,
    length: usize,
    close: bool,
    extra: &str,
) -> Vec<u8> {
    let connection = if close { "close" } else { "keep-alive" };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: {connection}\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// What the endpoint reads of a request head.
#[derive(Debug, PartialEq)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    keep_alive: bool,
    has_body: bool,
    wants_protobuf: bool,
}

impl<'a> Request<'a> {
    /// `None` for anything that is not an HTTP/1.x request head.
    fn parse(head: &'a [u8]) -> Option<Self> {
        let head = std::str::from_utf8(head).ok()?;
        let mut lines = head.split("\r\n");
        let mut parts = lines.next()?.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || method.is_empty()
            || !method.bytes().all(|b| b.is_ascii_uppercase())
            || !target.starts_with('/')
        {
            return None;
        }
        let mut keep_alive = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return None,
        };
        let mut has_body = false;
        let mut wants_protobuf = false;
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':')?;
            if name.is_empty() || name.contains(' ') {
                return None;
            }
            let value = value.trim();
            if name.eq_ignore_ascii_case("connection") {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    keep_alive = false;
                } else if value.contains("keep-alive") {
                    keep_alive = true;
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                has_body |= value != "0";
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                has_body = true;
            } else if name.eq_ignore_ascii_case("accept") {
                wants_protobuf |= value.contains(PROTOBUF)
                    && value.contains("proto=io.prometheus.client.MetricFamily")
                    && value.contains("encoding=delimited");
            }
        }
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        Some(Self {
            method,
            path,
            keep_alive,
            has_body,
            wants_protobuf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("9101").unwrap().to_string(), "127.0.0.1:9101");
        assert_eq!(parse_listen(":9101").unwrap().to_string(), "127.0.0.1:9101");
        assert_eq!(
            parse_listen("0.0.0.0:80").unwrap().to_string(),
            "0.0.0.0:80"
        );
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert!(parse_listen("nonsense").is_err());
        assert!(parse_listen("1.2.3.4:99999").is_err());
    }

    #[test]
    fn request_heads() {
        let prometheus = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3\r\n\r\n";
        let r = Request::parse(prometheus).unwrap();
        assert_eq!(
            (r.method, r.path, r.keep_alive, r.wants_protobuf),
            ("GET", "/metrics", true, true)
        );
        let curl = b"GET /metrics?x=1 HTTP/1.0\r\nAccept: */*\r\n\r\n";
        let r = Request::parse(curl).unwrap();
        assert_eq!(
            (r.path, r.keep_alive, r.wants_protobuf),
            ("/metrics", false, false)
        );
        let post = b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
        let r = Request::parse(post).unwrap();
        assert!(r.has_body && r.method == "POST");
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(Request::parse(bad), None, "{bad:?}");
        }
    }
}

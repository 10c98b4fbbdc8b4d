//! The HTTP listener: `GET /metrics` (Prometheus text) and `GET /status` (the per-user state
//! table as JSON). Read-only by construction: it serves snapshots and nothing it receives can
//! reach the agent's state. Small enough to write by hand, which keeps an HTTP server framework
//! out of the switch binary.
//!
//! It is an observer, never a reason to stop writing: a port that is taken (eAPI's own HTTP
//! server holds 8080, other agents sit in the control-plane ACL's 50000–50100 range; eos.md §9
//! item 5) is logged, shown in `/status` once bound and by `check`, and retried with backoff.
//! Connections are capped and bounded in time, and `accept` errors (EMFILE) back off, so no
//! client can starve the tick loop that shares the runtime.
//!
//! `/status` is rendered on request, by the daemon (which owns the state table), at most once a
//! second however many clients ask: nothing O(users) runs per tick for a document nobody reads.
//! A request the daemon cannot answer within a second (it is mid-tick) gets the last rendering.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{Encoder, Registry, TextEncoder};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

/// The largest request head accepted; a scraper's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// A whole exchange, slow clients included.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 32;
/// Binding again after a failure, and accepting again after an error.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The `/status` document as rendered by the daemon, served as is.
pub type Snapshot = Arc<Vec<u8>>;

/// How long a `/status` request waits for a fresh rendering before taking the last one.
const FRESH_WAIT: Duration = Duration::from_secs(1);

/// The listener's side of `/status`: asks the daemon for a rendering, or takes the last one.
#[derive(Clone)]
pub struct StatusSource {
    requests: mpsc::Sender<oneshot::Sender<Snapshot>>,
    last: watch::Receiver<Snapshot>,
}

/// The daemon's side: requests to answer, and where each rendering is kept for the fallback.
pub struct StatusRequests {
    pub requests: mpsc::Receiver<oneshot::Sender<Snapshot>>,
    pub last: watch::Sender<Snapshot>,
}

/// A connected pair.
pub fn status_channel() -> (StatusSource, StatusRequests) {
    // A few waiting requests are plenty: past them, clients get the last rendering.
    let (requests_tx, requests) = mpsc::channel(8);
    let (last_tx, last) = watch::channel(Snapshot::default());
    (
        StatusSource {
            requests: requests_tx,
            last,
        },
        StatusRequests {
            requests,
            last: last_tx,
        },
    )
}

impl StatusSource {
    async fn get(&self) -> Snapshot {
        let (reply, fresh) = oneshot::channel();
        if self.requests.try_send(reply).is_ok() {
            if let Ok(Ok(snapshot)) = tokio::time::timeout(FRESH_WAIT, fresh).await {
                return snapshot;
            }
        }
        self.last.borrow().clone()
    }
}

/// Parses a listen address: `HOST:PORT`, or upstream's `:PORT` for every IPv4 address.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.parse()
        .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:50090 or :50090"))
}

/// Where a client on this host reaches a listener bound to `addr` (`0.0.0.0` is every address,
/// loopback among them).
pub fn local_target(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

/// What `/status` says about the listener itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListenerStatus {
    pub addr: String,
    pub listening: bool,
    /// Failed binds so far; the last one's error.
    pub bind_failures: u64,
    pub last_error: Option<String>,
}

/// Shared with the daemon, which copies it into each `/status`.
pub type SharedStatus = Arc<Mutex<ListenerStatus>>;

/// Binds `addr`, retrying with backoff while it cannot, then serves until `shutdown`. Returns
/// the status the daemon reads.
pub fn spawn(
    addr: SocketAddr,
    registry: Registry,
    snapshot: StatusSource,
    shutdown: CancellationToken,
) -> (SharedStatus, tokio::task::JoinHandle<()>) {
    let status = Arc::new(Mutex::new(ListenerStatus {
        addr: addr.to_string(),
        listening: false,
        bind_failures: 0,
        last_error: None,
    }));
    let task = tokio::spawn(bind_and_serve(
        addr,
        registry,
        snapshot,
        status.clone(),
        shutdown,
    ));
    (status, task)
}

async fn bind_and_serve(
    addr: SocketAddr,
    registry: Registry,
    snapshot: StatusSource,
    status: SharedStatus,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(error) => {
                let wait = backoff.next_delay();
                let first = {
                    let mut status = status.lock().expect("listener status");
                    status.bind_failures += 1;
                    let same = status.last_error.as_deref() == Some(&error.to_string());
                    status.last_error = Some(error.to_string());
                    !same
                };
                if first {
                    tracing::error!(%addr, %error, "cannot serve /metrics and /status; status writes go on, retrying the bind (check: is another agent on this port?)");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    };
    // The port the kernel gave, when the configured one is 0.
    let addr = listener.local_addr().unwrap_or(addr);
    {
        let mut status = status.lock().expect("listener status");
        status.listening = true;
        status.addr = addr.to_string();
    }
    tracing::info!(%addr, "serving /metrics and /status");
    serve(listener, registry, snapshot, shutdown).await;
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    snapshot: StatusSource,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = Backoff::new(Duration::from_millis(50), RETRY_MAX);
    loop {
        // Take a slot before accepting: past the cap, clients wait in the backlog, not here.
        let slot = tokio::select! {
            _ = shutdown.cancelled() => return,
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff.reset();
                stream
            }
            Err(error) => {
                // Out of descriptors (EMFILE) or memory: accepting again at once would spin.
                let wait = backoff.next_delay();
                tracing::warn!(%error, ?wait, "accept failed; pausing the listener");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
        };
        let registry = registry.clone();
        let snapshot = snapshot.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &registry, &snapshot)).await;
            drop(slot);
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    registry: &Registry,
    snapshot: &StatusSource,
) -> std::io::Result<()> {
    let mut head = Head::default();
    let mut chunk = [0u8; 1024];
    let request = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        match head.push(&chunk[..n]) {
            Parsed::Partial => {}
            Parsed::TooLarge => {
                return respond(&mut stream, 431, "text/plain", b"request too large\n").await
            }
            Parsed::Complete(request) => break request,
        }
    };
    match request {
        Request::Metrics => {
            let mut body = Vec::new();
            TextEncoder::new()
                .encode(&registry.gather(), &mut body)
                .map_err(std::io::Error::other)?;
            respond(&mut stream, 200, "text/plain; version=0.0.4", &body).await
        }
        Request::Status => {
            let body = snapshot.get().await;
            respond(&mut stream, 200, "application/json", &body).await
        }
        Request::NotFound => {
            respond(
                &mut stream,
                404,
                "text/plain",
                b"not found: try /metrics or /status\n",
            )
            .await
        }
        Request::NotGet => respond(&mut stream, 405, "text/plain", b"read-only: GET only\n").await,
    }
}

/// What a request asks for; nothing else in it matters to a read-only listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Metrics,
    Status,
    /// A `GET` of another path.
    NotFound,
    /// Any method but `GET`.
    NotGet,
}

impl Request {
    /// Reads the request line, the first line of `head`: the method and the path, its query
    /// dropped.
    pub fn parse(head: &[u8]) -> Request {
        let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        match (method, target.split('?').next().unwrap_or("")) {
            ("GET", "/metrics") => Request::Metrics,
            ("GET", "/status") => Request::Status,
            ("GET", _) => Request::NotFound,
            _ => Request::NotGet,
        }
    }
}

/// A request head as it arrives, in pieces: complete at its blank line, refused once longer
/// than [`MAX_REQUEST`] without one.
#[derive(Debug, Default)]
pub struct Head {
    bytes: Vec<u8>,
}

/// Where a [`Head`] stands after a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    Partial,
    Complete(Request),
    TooLarge,
}

impl Head {
    pub fn push(&mut self, piece: &[u8]) -> Parsed {
        // The blank line may straddle two pieces: look from 3 bytes before the new ones.
        let from = self.bytes.len().saturating_sub(3);
        self.bytes.extend_from_slice(piece);
        let end = self.bytes[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| from + at + 4);
        match end {
            Some(end) if end <= MAX_REQUEST => Parsed::Complete(Request::parse(&self.bytes)),
            _ if self.bytes.len() > MAX_REQUEST => Parsed::TooLarge,
            _ => Parsed::Partial,
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn upstream_port_only_spelling_listens_on_every_address() {
        assert_eq!(parse_addr(":50090"), Ok("0.0.0.0:50090".parse().unwrap()));
        assert_eq!(
            parse_addr("127.0.0.1:50090"),
            Ok("127.0.0.1:50090".parse().unwrap())
        );
        assert_eq!(parse_addr("[::1]:9"), Ok("[::1]:9".parse().unwrap()));
        assert!(parse_addr("50090").is_err());
        assert!(parse_addr(":port").is_err());
        assert_eq!(
            local_target("0.0.0.0:50090".parse().unwrap()),
            "127.0.0.1:50090".parse().unwrap()
        );
    }

    #[test]
    fn the_request_line_alone_decides_what_is_served() {
        let cases: [(&[u8], Request); 6] = [
            (
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                Request::Metrics,
            ),
            (b"GET /status?pretty=1 HTTP/1.0\r\n\r\n", Request::Status),
            (b"GET /\r\n\r\n", Request::NotFound),
            (b"POST /status HTTP/1.1\r\n\r\n", Request::NotGet),
            // A path on the next line is not this request's path.
            (b"GET\r\n/status HTTP/1.1\r\n\r\n", Request::NotFound),
            (b"", Request::NotGet),
        ];
        for (head, want) in cases {
            assert_eq!(
                Request::parse(head),
                want,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn a_head_without_its_blank_line_is_refused_past_the_limit() {
        let mut head = Head::default();
        assert_eq!(head.push(b"GET /status HTTP/1.1\r\n"), Parsed::Partial);
        let filler = [b'a'; 1024];
        let mut last = Parsed::Partial;
        for _ in 0..9 {
            last = head.push(&filler);
        }
        assert_eq!(last, Parsed::TooLarge);
    }

    fn request() -> impl Strategy<Value = (String, Request)> {
        let path = prop_oneof![
            Just(("/metrics".to_string(), Request::Metrics)),
            Just(("/status".to_string(), Request::Status)),
            "/[a-z/]{0,12}".prop_map(|p| {
                let want = match p.as_str() {
                    "/metrics" => Request::Metrics,
                    "/status" => Request::Status,
                    _ => Request::NotFound,
                };
                (p, want)
            }),
        ];
        let method = prop_oneof![Just("GET"), Just("POST"), Just("HEAD"), Just("get")];
        let headers = proptest::collection::vec("[A-Za-z-]{1,10}: [ -~]{0,30}", 0..6);
        (method, path, "(\\?[a-z=&0-9]{0,12})?", headers).prop_map(
            |(method, (path, want), query, headers)| {
                let want = if method == "GET" {
                    want
                } else {
                    Request::NotGet
                };
                let mut head = format!("{method} {path}{query} HTTP/1.1\r\n");
                for header in headers {
                    head.push_str(&header);
                    head.push_str("\r\n");
                }
                head.push_str("\r\n");
                (head, want)
            },
        )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_in_any_pieces_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..(3 * MAX_REQUEST)),
            step in 1usize..2048,
        ) {
            let _ = Request::parse(&bytes);
            let mut head = Head::default();
            for piece in bytes.chunks(step) {
                if head.push(piece) != Parsed::Partial {
                    break;
                }
            }
        }

        #[test]
        fn a_request_split_anywhere_is_read_as_a_whole((text, want) in request(), step in 1usize..64) {
            let mut head = Head::default();
            let mut parsed = Parsed::Partial;
            for piece in text.as_bytes().chunks(step) {
                prop_assert_eq!(parsed, Parsed::Partial, "complete before its end");
                parsed = head.push(piece);
            }
            prop_assert_eq!(parsed, Parsed::Complete(want));
        }
    }

    #[tokio::test]
    async fn a_taken_port_is_retried_and_served_once_free() {
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = squatter.local_addr().unwrap();
        let (source, requests) = status_channel();
        requests.last.send_replace(Arc::new(b"{}".to_vec()));
        let shutdown = CancellationToken::new();
        let (status, task) = spawn(addr, Registry::new(), source, shutdown.clone());
        for _ in 0..50 {
            if status.lock().unwrap().bind_failures > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        {
            let status = status.lock().unwrap();
            assert!(!status.listening);
            assert!(status.last_error.as_deref().unwrap().contains("in use"));
        }
        drop(squatter);
        for _ in 0..200 {
            if status.lock().unwrap().listening {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(status.lock().unwrap().listening);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /status HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("{}"),
            "{reply}"
        );
        shutdown.cancel();
        task.await.unwrap();
    }
}

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
use serde::Serialize;
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    {
        let mut status = status.lock().expect("listener status");
        status.listening = true;
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
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut stream, 431, "text/plain", b"request too large\n").await;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let mut body = Vec::new();
            TextEncoder::new()
                .encode(&registry.gather(), &mut body)
                .map_err(std::io::Error::other)?;
            respond(&mut stream, 200, "text/plain; version=0.0.4", &body).await
        }
        ("GET", "/status") => {
            let body = snapshot.get().await;
            respond(&mut stream, 200, "application/json", &body).await
        }
        ("GET", _) => {
            respond(
                &mut stream,
                404,
                "text/plain",
                b"not found: try /metrics or /status\n",
            )
            .await
        }
        _ => respond(&mut stream, 405, "text/plain", b"read-only: GET only\n").await,
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

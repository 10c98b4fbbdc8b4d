//! The loopback HTTP listener: `GET /metrics` (Prometheus text) and `GET /status` (the per-user
//! state table as JSON). Read-only by construction: it serves snapshots and nothing it receives
//! can reach the agent's state. Small enough to write by hand, which keeps an HTTP server
//! framework out of the switch binary.

use std::time::Duration;

use prometheus::{Encoder, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The largest request head accepted; a scraper's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves until `shutdown` is cancelled. `status` holds the latest `/status` JSON.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    status: watch::Receiver<serde_json::Value>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let registry = registry.clone();
        let status = status.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT, answer(stream, &registry, &status)).await;
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    registry: &Registry,
    status: &watch::Receiver<serde_json::Value>,
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
            let body = serde_json::to_vec_pretty(&*status.borrow())?;
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

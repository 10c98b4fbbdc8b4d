//! The eAPI client: one connection per request to the unix socket, one request in flight,
//! every request bounded in time and in reply size.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Mutex;

use super::http::{encode_request, ResponseReader};
use super::jsonrpc::{Body, Command, Reply, Request};
use super::EapiError;

/// Where EOS puts the socket (hard-coded by pyeapi, goeapi and rbeapi; spec §1.2).
pub const DEFAULT_SOCKET: &str = "/var/run/command-api.sock";
/// Within the 30–60 s the spec recommends (§1.7), leaving room before the server's own limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A 10,000-peer summary is about 3 MB; neighbour detail is about 4 KB per peer.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// A client of the eAPI unix socket.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    timeout: Duration,
    max_reply_bytes: usize,
    /// Serializes requests: EOS's CapiApp is shared with every other eAPI user on the switch.
    in_flight: Mutex<()>,
    next_id: AtomicU64,
}

impl Client {
    /// A client of the socket at `path`, with the default timeout and reply cap.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Client {
            path: path.into(),
            timeout: DEFAULT_TIMEOUT,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            in_flight: Mutex::new(()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Bounds connect + send + receive of each request (not the wait for an earlier request).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Caps the raw reply, headers included.
    pub fn with_max_reply_bytes(mut self, max_reply_bytes: usize) -> Self {
        self.max_reply_bytes = max_reply_bytes;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `commands` and returns each result as JSON, or the first kind of failure.
    pub async fn run(&self, commands: &[Command]) -> Result<Vec<serde_json::Value>, EapiError> {
        self.execute(&Request::new().commands(commands.iter().cloned()))
            .await?
            .into_values()
    }

    /// Sends one request and returns the per-command outcomes; command failures are outcomes,
    /// transport and protocol failures are errors.
    pub async fn execute(&self, request: &Request) -> Result<Reply, EapiError> {
        self.execute_body(request).await?.decode()
    }

    /// Sends one request and returns the reply's body undecoded (see [`Body`]); transport
    /// failures are errors.
    pub async fn execute_body<'r>(&self, request: &'r Request) -> Result<Body<'r>, EapiError> {
        let _turn = self.in_flight.lock().await;
        let id = format!(
            "doublezero-bgpstatus-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (buffer, start) =
            tokio::time::timeout(self.timeout, self.exchange(&request.encode(&id)))
                .await
                .map_err(|_| EapiError::Timeout {
                    after: self.timeout,
                })??;
        Ok(Body::within(request, buffer, start))
    }

    /// The reply's body, as a buffer and where the body starts in it.
    async fn exchange(&self, body: &[u8]) -> Result<(Vec<u8>, usize), EapiError> {
        let mut stream = UnixStream::connect(&self.path)
            .await
            .map_err(|source| self.connect_error(source))?;
        stream
            .write_all(&encode_request(body))
            .await
            .map_err(|source| self.io(source))?;
        let mut reader = ResponseReader::new(self.max_reply_bytes);
        let mut received = Vec::with_capacity(64 * 1024);
        loop {
            // Read at most one byte past the cap, so an oversize reply is detected, not buffered.
            let room = (self.max_reply_bytes + 1)
                .saturating_sub(received.len())
                .min(256 * 1024);
            let read = (&mut stream)
                .take(room as u64)
                .read_buf(&mut received)
                .await
                .map_err(|source| self.io(source))?;
            if received.len() > self.max_reply_bytes {
                return Err(EapiError::ReplyTooLarge {
                    limit: self.max_reply_bytes,
                });
            }
            if let Some(complete) = reader.advance(&received, read == 0)? {
                return Ok(complete.into_buffer(received));
            }
            if let Some(expected) = reader.expected_len() {
                let wanted = expected.min(self.max_reply_bytes + 1);
                received.reserve(wanted.saturating_sub(received.len()));
            }
        }
    }

    fn connect_error(&self, source: std::io::Error) -> EapiError {
        let path = self.path.clone();
        match source.kind() {
            ErrorKind::NotFound => EapiError::SocketMissing { path },
            ErrorKind::PermissionDenied => EapiError::PermissionDenied { path },
            _ => EapiError::Connect { path, source },
        }
    }

    fn io(&self, source: std::io::Error) -> EapiError {
        EapiError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

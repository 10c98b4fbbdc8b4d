//! The eAPI client: one request in flight on the unix socket, every request bounded in time
//! and in reply size, and the connection kept for the next request when the server keeps it.
//!
//! Whether EOS keeps connections on the socket is not established (spec §1.2), so every
//! reading works: a reply saying `Connection: close` (or read to the close) ends the connection;
//! a kept connection found closed when the next request comes is replaced; a request a kept
//! connection never answered (closed before a byte came back, as when the server drops an idle
//! connection just as the request goes out) is sent again on a new one, which is safe because the
//! agent only sends `show` commands (and `enable`); and a kept connection that lets a request
//! time out ends reuse for good, so a server that ignores a second request costs one reading.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// Serializes requests (EOS's CapiApp is shared with every other eAPI user on the switch),
    /// and holds the connection kept from the last one.
    in_flight: Mutex<Option<UnixStream>>,
    /// Off once a kept connection let a request time out.
    reuse: AtomicBool,
    next_id: AtomicU64,
    /// The size of the last reply: a poll's reply is the size of the one before, so its buffer
    /// is allocated once at that size rather than grown (and copied) as the reply comes.
    last_reply: AtomicUsize,
}

/// The reply's body as a buffer and where the body starts in it, and whether the connection
/// may carry another request.
struct Exchanged {
    buffer: Vec<u8>,
    start: usize,
    reusable: bool,
}

/// Why an exchange failed: `Unanswered` when not a byte of a reply came back, so the request
/// may be sent again on a new connection.
enum Failure {
    Unanswered(EapiError),
    Failed(EapiError),
}

impl Failure {
    fn into_error(self) -> EapiError {
        match self {
            Failure::Unanswered(error) | Failure::Failed(error) => error,
        }
    }
}

impl Client {
    /// A client of the socket at `path`, with the default timeout and reply cap.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Client {
            path: path.into(),
            timeout: DEFAULT_TIMEOUT,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            in_flight: Mutex::new(None),
            reuse: AtomicBool::new(true),
            next_id: AtomicU64::new(1),
            last_reply: AtomicUsize::new(0),
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
        let mut kept = self.in_flight.lock().await;
        let id = format!(
            "doublezero-bgpstatus-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let body = request.encode(&id);
        let mut on_kept = false;
        let exchanged =
            tokio::time::timeout(self.timeout, self.exchange(&mut kept, &body, &mut on_kept)).await;
        let exchanged = match exchanged {
            Ok(exchanged) => exchanged?,
            Err(_) => {
                *kept = None;
                if on_kept && self.reuse.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        path = %self.path.display(),
                        "eAPI left a request on a kept connection unanswered; one connection per request from now on"
                    );
                }
                return Err(EapiError::Timeout {
                    after: self.timeout,
                });
            }
        };
        Ok(Body::within(request, exchanged.buffer, exchanged.start))
    }

    /// The reply, on the kept connection if there is one still open, else (or when the kept one
    /// left the request unanswered) on a new one, which is kept in turn if the server keeps it.
    async fn exchange(
        &self,
        kept: &mut Option<UnixStream>,
        body: &[u8],
        on_kept: &mut bool,
    ) -> Result<Exchanged, EapiError> {
        let reuse = self.reuse.load(Ordering::Relaxed);
        if let Some(mut stream) = kept.take().filter(|stream| reuse && still_open(stream)) {
            *on_kept = true;
            match self.exchange_on(&mut stream, body, reuse).await {
                Ok(exchanged) => {
                    if exchanged.reusable {
                        *kept = Some(stream);
                    }
                    return Ok(exchanged);
                }
                Err(Failure::Unanswered(error)) => {
                    tracing::debug!(%error, "the kept eAPI connection did not answer; sending on a new one");
                }
                Err(Failure::Failed(error)) => return Err(error),
            }
        }
        *on_kept = false;
        let mut stream = UnixStream::connect(&self.path)
            .await
            .map_err(|source| self.connect_error(source))?;
        let exchanged = self
            .exchange_on(&mut stream, body, reuse)
            .await
            .map_err(Failure::into_error)?;
        if reuse && exchanged.reusable {
            *kept = Some(stream);
        }
        Ok(exchanged)
    }

    /// One request and its reply on `stream`.
    async fn exchange_on(
        &self,
        stream: &mut UnixStream,
        body: &[u8],
        keep: bool,
    ) -> Result<Exchanged, Failure> {
        stream
            .write_all(&encode_request(body, keep))
            .await
            .map_err(|source| Failure::Unanswered(self.io(source)))?;
        let mut reader = ResponseReader::new(self.max_reply_bytes);
        // Never more than the cap allows, which may be below the 64 KiB floor.
        let expected = (self.last_reply.load(Ordering::Relaxed) + 4 * 1024).max(64 * 1024);
        let mut received = Vec::with_capacity(expected.min(self.max_reply_bytes.saturating_add(1)));
        let unanswered = |received: &[u8], error| match received.is_empty() {
            true => Failure::Unanswered(error),
            false => Failure::Failed(error),
        };
        loop {
            // Read at most one byte past the cap, so an oversize reply is detected, not buffered.
            let room = (self.max_reply_bytes + 1)
                .saturating_sub(received.len())
                .min(256 * 1024);
            let read = match (&mut *stream)
                .take(room as u64)
                .read_buf(&mut received)
                .await
            {
                Ok(read) => read,
                Err(source) => return Err(unanswered(&received, self.io(source))),
            };
            if received.len() > self.max_reply_bytes {
                return Err(Failure::Failed(EapiError::ReplyTooLarge {
                    limit: self.max_reply_bytes,
                }));
            }
            match reader.advance(&received, read == 0) {
                Ok(Some(complete)) => {
                    self.last_reply.store(received.len(), Ordering::Relaxed);
                    let reusable = read > 0 && reader.reusable(received.len());
                    let (buffer, start) = complete.into_buffer(received);
                    return Ok(Exchanged {
                        buffer,
                        start,
                        reusable,
                    });
                }
                Ok(None) => {}
                Err(error) => return Err(unanswered(&received, error)),
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

/// A kept connection the server has not closed (nor written to unasked). The reactor has seen
/// a close since the last request, so an open connection costs no system call here.
fn still_open(stream: &UnixStream) -> bool {
    matches!(
        stream.try_read(&mut [0u8; 1]),
        Err(error) if error.kind() == ErrorKind::WouldBlock
    )
}

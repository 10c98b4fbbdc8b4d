//! An in-test EOS: a real unix socket in a temporary directory, speaking the HTTP/1.1 framing
//! and JSON-RPC `runCmds` semantics of EOS's CapiApp (HTTP 200 for command errors, partial
//! `error.data`, `stopOnError`), answering from the recorded samples in `tests/fixtures/eos`.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use doublezero_bgpstatus::eapi::Client;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// A recorded sample, by file name in `tests/fixtures/eos`.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eos")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

/// What the server does with one connection.
pub enum Answer {
    /// A JSON-RPC body framed with Content-Length.
    Body(Vec<u8>),
    /// A JSON-RPC body framed with `Transfer-Encoding: chunked`, in chunks of this size.
    Chunked(Vec<u8>, usize),
    /// These exact bytes, then close.
    Raw(Vec<u8>),
    /// Read the request and never answer.
    Silent,
}

type Handler = dyn Fn(&Value) -> Answer + Send + Sync;

/// The server; it stops when dropped (its temporary directory goes with it).
pub struct FakeEos {
    _dir: tempfile::TempDir,
    path: PathBuf,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    max_concurrent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeEos {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeEos {
    /// Serves `handler`'s answer to every request.
    pub async fn start(handler: impl Fn(&Value) -> Answer + Send + Sync + 'static) -> FakeEos {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("command-api.sock");
        let listener = UnixListener::bind(&path).expect("bind unix socket");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let max_concurrent = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let active = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (requests, max_concurrent) = (requests.clone(), max_concurrent.clone());
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (handler, requests, active, max_concurrent) = (
                        handler.clone(),
                        requests.clone(),
                        active.clone(),
                        max_concurrent.clone(),
                    );
                    tokio::spawn(async move {
                        serve(stream, &*handler, &requests, &active, &max_concurrent).await;
                    });
                }
            }
        });
        FakeEos {
            _dir: dir,
            path,
            requests,
            max_concurrent,
            task,
        }
    }

    /// Answers like a switch whose commands have the given outcomes.
    pub async fn switch(switch: Switch) -> FakeEos {
        FakeEos::start(move |request| Answer::Body(switch.respond(request))).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A client of this server with a short timeout, so a hung test fails fast.
    pub fn client(&self) -> Client {
        Client::new(&self.path).with_timeout(Duration::from_secs(5))
    }

    /// Every request so far: its HTTP head and its JSON body.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().unwrap().clone()
    }

    /// The most connections that were open at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent.load(Ordering::SeqCst)
    }
}

/// Serves one connection. A request counts as in flight from the moment it has been read until
/// its answer starts to be written, so the count cannot overlap with the client's next request.
async fn serve(
    mut stream: UnixStream,
    handler: &Handler,
    requests: &Mutex<Vec<(String, Value)>>,
    active: &AtomicUsize,
    max_concurrent: &AtomicUsize,
) {
    let mut buf = Vec::new();
    let (head, body) = loop {
        let mut chunk = [0u8; 4096];
        let Ok(read) = stream.read(&mut chunk).await else {
            return;
        };
        if read == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..read]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            break (head, buf[end + 4..end + 4 + length].to_vec());
        }
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    requests.lock().unwrap().push((head, request.clone()));
    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
    max_concurrent.fetch_max(now, Ordering::SeqCst);
    // Give a second request the chance to overlap, were the client to allow it.
    tokio::task::yield_now().await;
    let answer = handler(&request);
    active.fetch_sub(1, Ordering::SeqCst);
    let bytes = match answer {
        Answer::Body(body) => {
            let mut bytes = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(&body);
            bytes
        }
        Answer::Chunked(body, size) => {
            let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for chunk in body.chunks(size.max(1)) {
                bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
            bytes
        }
        Answer::Raw(bytes) => bytes,
        Answer::Silent => {
            std::future::pending::<()>().await;
            return;
        }
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// The command texts of a `runCmds` request, with or without a pinned revision.
pub fn commands(request: &Value) -> Vec<String> {
    request["params"]["cmds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|cmd| {
            cmd.get("cmd")
                .unwrap_or(cmd)
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// What a command does on the simulated switch.
#[derive(Clone)]
pub enum Outcome {
    /// Succeeds with this JSON text as its result.
    Result(String),
    /// Fails with this code and these CLI errors.
    Error(i64, Vec<String>),
}

/// A switch as a table of command → outcome; anything else is an invalid command (1002).
#[derive(Clone, Default)]
pub struct Switch {
    answers: HashMap<String, Outcome>,
}

impl Switch {
    pub fn new() -> Switch {
        Switch::default()
    }

    pub fn answer(mut self, command: &str, outcome: Outcome) -> Switch {
        self.answers.insert(command.to_owned(), outcome);
        self
    }

    /// Both BGP summaries answered from sample files.
    pub fn with_summaries(self, ipv4: &str, ipv6: &str) -> Switch {
        self.answer(
            "show ip bgp summary vrf all",
            Outcome::Result(fixture(ipv4)),
        )
        .answer(
            "show ipv6 bgp summary vrf all",
            Outcome::Result(fixture(ipv6)),
        )
    }

    /// The JSON-RPC reply EOS would give, honouring `stopOnError`.
    pub fn respond(&self, request: &Value) -> Vec<u8> {
        let stop_on_error = request["params"]["stopOnError"].as_bool().unwrap_or(true);
        let commands = commands(request);
        let mut data = Vec::new();
        let mut first_error: Option<(i64, usize)> = None;
        for (index, command) in commands.iter().enumerate() {
            let outcome = self.answers.get(command).cloned().unwrap_or_else(|| {
                Outcome::Error(
                    1002,
                    vec![format!("Invalid input (at token 0: '{command}')")],
                )
            });
            match outcome {
                Outcome::Result(text) => {
                    data.push(serde_json::from_str::<Value>(&text).expect("fixture is JSON"))
                }
                Outcome::Error(code, errors) => {
                    data.push(json!({ "errors": errors }));
                    first_error.get_or_insert((code, index));
                    if stop_on_error {
                        break;
                    }
                }
            }
        }
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let reply = match first_error {
            None => json!({"jsonrpc": "2.0", "id": id, "result": data}),
            Some((code, index)) => json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": code,
                "message": format!("CLI command {} of {} '{}' failed: could not run command", index + 1, commands.len(), commands[index]),
                "data": data,
            }}),
        };
        serde_json::to_vec(&reply).expect("serializable")
    }
}

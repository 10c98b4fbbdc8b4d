//! A scripted Solana JSON-RPC server for tests: plain HTTP/1.1 over TCP on 127.0.0.1:0.
//!
//! Each connection carries one request and gets one [`Reply`], then closes, so the client under
//! test opens a fresh connection per call. The reply is either the next one of a fixed script
//! ([`FakeRpc::start`]) or whatever a handler computes from the request
//! ([`FakeRpc::with_handler`]), which lets a test simulate a ledger that answers by method.
//! Every request body is recorded as JSON for shape assertions. Hand-written on tokio to keep
//! test dependencies at zero.

// Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with the next request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// HTTP 200 with this JSON-RPC body.
    Json(Value),
    /// Any status, extra headers and raw body, sent with a Content-Length.
    Http {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// HTTP 200 with a body delimited by closing the connection (no Content-Length).
    Streamed(Vec<u8>),
    /// Read the request and never answer.
    Hang,
}

impl Reply {
    /// A successful JSON-RPC reply carrying `result`.
    pub fn result(result: Value) -> Reply {
        Reply::Json(json!({"jsonrpc": "2.0", "id": 1, "result": result}))
    }

    /// A JSON-RPC `error` member (sent with HTTP 200, as agave does).
    pub fn error(code: i64, message: &str, data: Value) -> Reply {
        Reply::Json(json!({
            "jsonrpc": "2.0", "id": 1,
            "error": {"code": code, "message": message, "data": data}
        }))
    }

    pub fn status(status: u16, headers: Vec<(&'static str, String)>) -> Reply {
        Reply::Http {
            status,
            headers,
            body: Vec::new(),
        }
    }
}

/// Computes the reply to one request body (the parsed JSON, `Null` if it did not parse).
type Handler = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

pub struct FakeRpc {
    port: u16,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeRpc {
    /// Starts serving `script` in order; once it runs out, every call gets -32601.
    pub async fn start(script: Vec<Reply>) -> FakeRpc {
        let script = Mutex::new(VecDeque::from(script));
        FakeRpc::with_handler(move |_| {
            script.lock().unwrap().pop_front().unwrap_or_else(|| {
                Reply::error(-32601, "Method not found (script exhausted)", Value::Null)
            })
        })
        .await
    }

    /// Starts serving whatever `handler` answers to each request.
    pub async fn with_handler(
        handler: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> FakeRpc {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, recorded.clone(), handler.clone()));
            }
        });
        FakeRpc { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The JSON bodies received so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(mut stream: TcpStream, requests: Arc<Mutex<Vec<Value>>>, handler: Handler) {
    let Some(body) = read_request(&mut stream).await else {
        return;
    };
    let request = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let reply = handler(&request);
    requests.lock().unwrap().push(request);
    let (status, headers, body, length) = match reply {
        Reply::Json(v) => (200, Vec::new(), v.to_string().into_bytes(), true),
        Reply::Http {
            status,
            headers,
            body,
        } => (status, headers, body, true),
        Reply::Streamed(body) => (200, Vec::new(), body, false),
        Reply::Hang => {
            // Keep the socket open without answering until the test ends.
            std::future::pending::<()>().await;
            unreachable!()
        }
    };
    let mut head = format!("HTTP/1.1 {status} Scripted\r\nConnection: close\r\n");
    if length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Content-Type: application/json\r\n\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// Reads one request's headers and its Content-Length body.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[header_end..header_end + length].to_vec())
}

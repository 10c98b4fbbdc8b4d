//! The eAPI endpoint: HTTP/1.1 `POST /command-api` over the unix socket, connections kept or
//! not as [`Connections`] says (eos.md §1.2: not established), JSON-RPC 2.0 `runCmds` with EOS's
//! semantics (eos.md §1.2–§1.5): HTTP 200 for
//! command failures, `error.data` holding the results of the commands that ran then
//! `{"errors": [...]}` for the failed one, later commands absent unless `stopOnError` is false.
//! Reply-shaping faults (slow, garbage, truncated, JSON-RPC error, one failing command) are
//! applied here; the socket-file faults live with the listener in `mod.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::commands::{self, CommandError, Mode, Output, Replay};
use super::fault::Fault;
use super::switch::Switch;

/// A request larger than this is not an eAPI client talking.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// What the listener and the control side share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) switch: Mutex<Switch>,
    pub(crate) replay: Replay,
    pub(crate) fault: Mutex<Option<Fault>>,
    /// The command texts of every `runCmds` request, in arrival order.
    pub(crate) requests: Mutex<Vec<Vec<String>>>,
    pub(crate) connections: Mutex<Connections>,
    /// Connections accepted so far.
    pub(crate) accepted: AtomicUsize,
}

/// What the server does with a connection after a reply. Whether EOS keeps connections on the
/// unix socket is not established (eos.md §1.2), so the agent is tested under each reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Connections {
    /// One request per connection: the reply says `Connection: close`, then the server closes
    /// (what pyeapi's one-request-per-connection use sees).
    #[default]
    Close,
    /// HTTP/1.1 persistence: requests are answered on the connection until the client closes
    /// it or it is idle for [`KEEP_ALIVE_IDLE`] (a web server's idle timeout).
    KeepAlive,
    /// The server closes after each reply without saying so.
    CloseUnannounced,
    /// Kept, but a second request is read and the connection closed without a reply: a server
    /// dropping an idle connection just as a request arrives.
    DropSecond,
    /// Kept, but a second request is never answered.
    IgnoreSecond,
}

/// How long [`Connections::KeepAlive`] keeps an idle connection.
pub const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(5);

/// Accepts connections until the task is aborted.
pub(crate) async fn accept(listener: UnixListener, state: std::sync::Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        state.accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(stream, state.clone()));
    }
}

async fn serve(mut stream: UnixStream, state: std::sync::Arc<State>) {
    let mut answered = 0;
    loop {
        let mode = *state.connections.lock().expect("connections lock");
        let request = match answered {
            0 => read_request(&mut stream).await,
            _ => tokio::time::timeout(KEEP_ALIVE_IDLE, read_request(&mut stream))
                .await
                .ok()
                .flatten(),
        };
        let Some(request) = request else {
            break;
        };
        if answered > 0 {
            match mode {
                Connections::DropSecond => break,
                Connections::IgnoreSecond => {
                    // Held open, unanswered, until the client gives up.
                    let _ = stream.read(&mut [0u8; 1]).await;
                    break;
                }
                _ => {}
            }
        }
        let keep = !matches!(mode, Connections::Close | Connections::CloseUnannounced);
        let (reply, ended) = answer(&state, request, mode == Connections::Close).await;
        if stream.write_all(&reply).await.is_err() || !keep || ended {
            break;
        }
        answered += 1;
    }
    let _ = stream.shutdown().await;
}

/// The reply to one request, `close` saying `Connection: close` in it; and true when the
/// connection ends after it whatever the mode (a truncated reply, a request not understood).
async fn answer(
    state: &State,
    request: Result<Vec<u8>, (&'static str, String)>,
    close: bool,
) -> (Vec<u8>, bool) {
    let reply = match request {
        Ok(body) => {
            let fault = state.fault.lock().expect("fault lock").clone();
            if let Some(Fault::Slow { delay_ms }) = fault {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            let (body, cost) = respond(state, &body, fault.as_ref());
            if !cost.is_zero() {
                tokio::time::sleep(cost).await;
            }
            match fault {
                Some(Fault::Garbage) => http(
                    "200 OK",
                    "text/html",
                    b"<html><body>502 Bad Gateway</body></html>",
                    close,
                ),
                Some(Fault::Truncated) => {
                    let mut reply = http("200 OK", "application/json", &body, true);
                    reply.truncate(reply.len() - body.len() / 2);
                    return (reply, true);
                }
                _ => http("200 OK", "application/json", &body, close),
            }
        }
        Err((status, detail)) => {
            return (http(status, "text/plain", detail.as_bytes(), true), true)
        }
    };
    (reply, false)
}

/// Reads one request; `None` if the client went away, `Err` with an HTTP status if it is not
/// `POST /command-api` with a `Content-Length` body.
async fn read_request(stream: &mut UnixStream) -> Option<Result<Vec<u8>, (&'static str, String)>> {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 16 * 1024];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..read]);
        if buf.len() > MAX_REQUEST_BYTES {
            return Some(Err(("413 Payload Too Large", "request too large".into())));
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let (method, path) = (request_line.next(), request_line.next());
        if method != Some("POST") || path != Some("/command-api") {
            return Some(Err((
                "404 Not Found",
                format!("no such resource: {method:?} {path:?}"),
            )));
        }
        let length = lines.find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        });
        let Some(length) = length else {
            return Some(Err((
                "411 Length Required",
                "Content-Length required".into(),
            )));
        };
        if buf.len() >= end + 4 + length {
            return Some(Ok(buf[end + 4..end + 4 + length].to_vec()));
        }
    }
}

fn http(status: &str, content_type: &str, body: &[u8], close: bool) -> Vec<u8> {
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    reply.extend_from_slice(body);
    reply
}

/// The JSON-RPC reply body for a request body.
/// The reply body for a request body, and what answering it costs the switch.
pub(crate) fn respond(state: &State, body: &[u8], fault: Option<&Fault>) -> (Vec<u8>, Duration) {
    let mut cost = Duration::ZERO;
    let body = respond_costed(state, body, fault, &mut cost);
    (body, cost)
}

fn respond_costed(
    state: &State,
    body: &[u8],
    fault: Option<&Fault>,
    cost: &mut Duration,
) -> Vec<u8> {
    let request: Value = match serde_json::from_slice(body) {
        Ok(request) => request,
        // JSON-RPC 2.0's code; EOS's exact message is not recorded [I].
        Err(err) => return rpc_error(&Value::Null, -32700, &format!("Parse error: {err}")),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        // As recorded (eapy sample): the id is not echoed.
        return rpc_error(
            &Value::Null,
            -32600,
            "Expected field 'jsonrpc' not specified",
        );
    }
    if request.get("method").and_then(Value::as_str) != Some("runCmds") {
        return rpc_error(&id, -32601, "Method not found");
    }
    let params = match Params::parse(&request["params"]) {
        Ok(params) => params,
        Err(message) => return rpc_error(&id, -32602, &message),
    };
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(params.commands.clone());
    if let Some(Fault::RpcError { code, message }) = fault {
        return rpc_error(&id, *code, message);
    }

    let now = super::now();
    let switch = state.switch.lock().expect("switch lock");
    let total = params.commands.len();
    let mut mode = if switch.starts_privileged {
        Mode::Privileged
    } else {
        Mode::Unprivileged
    };
    let mut parts: Vec<String> = Vec::with_capacity(total);
    let mut first_failure: Option<(usize, CommandError)> = None;
    for (index, command) in params.commands.iter().enumerate() {
        let outcome = match fault {
            Some(Fault::CommandError {
                command: failing,
                code,
                errors,
            }) if same_command(failing, command) => Err(CommandError {
                code: *code,
                errors: errors.clone(),
            }),
            _ => commands::run(command, &switch, &state.replay, now, &mut mode),
        };
        let listed = match &outcome {
            Ok(Output::Json(value)) => peers_listed(value),
            _ => 0,
        };
        *cost += Duration::from_micros(
            switch.command_cost.per_command_us
                + switch.command_cost.per_peer_listed_us * listed as u64,
        );
        match outcome {
            Ok(Output::Json(value)) => parts.push(value.to_string()),
            Ok(Output::Raw(text)) => parts.push(text),
            Err(error) => {
                parts.push(json!({ "errors": error.errors }).to_string());
                first_failure.get_or_insert((index, error));
                if params.stop_on_error {
                    break;
                }
            }
        }
    }
    let list = format!("[{}]", parts.join(","));
    let id = id.to_string();
    match first_failure {
        None => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{list}}}"#).into_bytes(),
        Some((index, error)) => {
            let message = json!(format!(
                "CLI command {} of {total} '{}' failed: {}",
                index + 1,
                params.commands[index],
                error.reason()
            ));
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{},"message":{message},"data":{list}}}}}"#,
                error.code
            )
            .into_bytes()
        }
    }
}

/// Peers a neighbours reply lists (`vrfs.*.peerList`).
fn peers_listed(value: &Value) -> usize {
    value
        .get("vrfs")
        .and_then(Value::as_object)
        .map_or(0, |vrfs| {
            vrfs.values()
                .filter_map(|vrf| vrf.get("peerList").and_then(Value::as_array))
                .map(Vec::len)
                .sum()
        })
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        .to_string()
        .into_bytes()
}

/// Commands compare by words, as the CLI parses them.
fn same_command(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The `runCmds` parameters that change the answer.
struct Params {
    commands: Vec<String>,
    stop_on_error: bool,
}

impl Params {
    fn parse(params: &Value) -> Result<Params, String> {
        match params.get("version") {
            None => {}
            Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v >= 1) => {}
            Some(Value::String(s)) if s == "latest" => {}
            Some(other) => return Err(format!("Invalid params: version {other}")),
        }
        match params.get("format").and_then(Value::as_str) {
            None | Some("json") => {}
            // Text renderings of the models are not simulated; say so instead of inventing them.
            Some(other) => {
                return Err(format!(
                    "Invalid params: format {other:?} is not simulated (json only)"
                ))
            }
        }
        let cmds = params
            .get("cmds")
            .and_then(Value::as_array)
            .ok_or("Invalid params: cmds must be an array")?;
        let commands = cmds
            .iter()
            .map(|cmd| match cmd {
                Value::String(text) => Ok(text.clone()),
                Value::Object(fields) => fields
                    .get("cmd")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("Invalid params: command {cmd} has no \"cmd\"")),
                other => Err(format!("Invalid params: command {other}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stop_on_error = params
            .get("stopOnError")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        Ok(Params {
            commands,
            stop_on_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn state() -> State {
        State {
            switch: Mutex::new(Switch::new(
                "65000".into(),
                Ipv4Addr::new(192, 0, 2, 1),
                0.0,
            )),
            replay: Replay::default(),
            fault: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            connections: Mutex::new(Connections::default()),
            accepted: AtomicUsize::new(0),
        }
    }

    fn ask(state: &State, params: Value, fault: Option<&Fault>) -> Value {
        let request = json!({"jsonrpc": "2.0", "method": "runCmds", "params": params, "id": "t-1"});
        serde_json::from_slice(&respond(state, request.to_string().as_bytes(), fault).0).unwrap()
    }

    #[test]
    fn failed_command_gives_the_results_before_it_then_its_errors_like_the_anta_sample() {
        let reply = ask(
            &state(),
            json!({"version": 1, "cmds": ["show version", {"cmd": "bad command", "revision": 1}, "show version"], "format": "json"}),
            None,
        );
        assert_eq!(reply["id"], "t-1");
        assert_eq!(reply["error"]["code"], 1002);
        assert_eq!(
            reply["error"]["message"],
            "CLI command 2 of 3 'bad command' failed: invalid command"
        );
        let data = reply["error"]["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["modelName"], "cEOSLab");
        assert_eq!(
            data[1],
            json!({"errors": ["Invalid input (at token 0: 'bad')"]})
        );
    }

    #[test]
    fn stop_on_error_false_answers_every_command() {
        let reply = ask(
            &state(),
            json!({"version": 1, "cmds": ["bad", "show version"], "stopOnError": false}),
            None,
        );
        assert_eq!(reply["error"]["data"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn missing_jsonrpc_field_is_32600_with_null_id_like_the_eapy_sample() {
        let state = state();
        let reply: Value =
            serde_json::from_slice(&respond(&state, br#"{"method": "runCmds", "id": 3}"#, None).0)
                .unwrap();
        assert_eq!(
            reply,
            json!({"jsonrpc": "2.0", "id": null, "error": {"message": "Expected field 'jsonrpc' not specified", "code": -32600}})
        );
    }

    #[test]
    fn injected_command_error_fails_only_that_command() {
        let fault = Fault::CommandError {
            command: "show ipv6 bgp summary vrf all".into(),
            code: 1005,
            errors: vec!["unauthorized".into()],
        };
        let reply = ask(
            &state(),
            json!({"version": 1, "cmds": ["show ip bgp summary vrf all", "show ipv6  bgp summary vrf all"]}),
            Some(&fault),
        );
        assert_eq!(reply["error"]["code"], 1005);
        assert!(reply["error"]["data"][0]["vrfs"].is_object());
    }
}

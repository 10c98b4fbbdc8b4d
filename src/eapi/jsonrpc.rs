//! The JSON-RPC 2.0 `runCmds` layer: building a request from commands, and turning the reply
//! (including EOS's HTTP-200 error replies with partial `error.data`) into one outcome per
//! command. Pure functions; the socket lives in `client.rs`.
//!
//! Results stay as raw JSON text (`Box<RawValue>`) so a caller can deserialize each one straight
//! into its own model without building a `serde_json::Value` tree first; the BGP summary of a
//! busy switch is megabytes, and that tree would dominate the parse.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::scan::Cursor;
use super::{CommandFailure, EapiError};

/// One CLI command, optionally pinned to a model revision (spec §1.6: a per-command revision
/// takes precedence over the request's global `version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    text: String,
    revision: Option<u8>,
    privileged: bool,
}

/// What every Arista client sends before a privileged command (eos.md §9 item 2).
const ENABLE: &str = "enable";

impl Command {
    /// A command answered with the model revision that `version: 1` selects.
    pub fn new(text: impl Into<String>) -> Self {
        Command {
            text: text.into(),
            revision: None,
            privileged: false,
        }
    }

    /// Marks a command that only privileged mode may run (`show running-config …`): a request
    /// carrying one starts with `enable`, whatever privilege the socket starts at.
    pub fn privileged(mut self) -> Self {
        self.privileged = true;
        self
    }

    /// Pins the model revision (1–99) this command is parsed against.
    pub fn with_revision(mut self, revision: u8) -> Self {
        self.revision = Some(revision);
        self
    }

    /// The CLI text, as sent.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl Serialize for Command {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Pinned<'a> {
            cmd: &'a str,
            revision: u8,
        }
        match self.revision {
            Some(revision) => Pinned {
                cmd: &self.text,
                revision,
            }
            .serialize(serializer),
            None => serializer.serialize_str(&self.text),
        }
    }
}

/// A batch of commands sent in one `runCmds` call. Composable: an observation can bundle the
/// commands of several models (BGP summaries, interfaces) and hand each slice of the reply to
/// its parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    commands: Vec<Command>,
    keep_going: bool,
}

impl Request {
    /// An empty request that stops at the first failing command (EOS's default).
    pub fn new() -> Self {
        Request::default()
    }

    /// Appends commands; their results come back in the same order.
    pub fn commands(mut self, commands: impl IntoIterator<Item = Command>) -> Self {
        self.commands.extend(commands);
        self
    }

    /// Runs every command even after one fails (`stopOnError: false`), for batches of
    /// independent questions such as one neighbour detail per peer.
    pub fn keep_going(mut self) -> Self {
        self.keep_going = true;
        self
    }

    /// The commands, in order.
    pub fn command_list(&self) -> &[Command] {
        &self.commands
    }

    /// Whether the request starts with `enable`: it carries a privileged command. Its result
    /// (`{}`) is skipped when the reply is read, so outcomes still match [`Request::commands`].
    fn enables(&self) -> bool {
        self.commands.iter().any(|command| command.privileged)
    }

    pub(crate) fn encode(&self, id: &str) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Params<'a> {
            version: u8,
            cmds: &'a [&'a Command],
            format: &'static str,
            timestamps: bool,
            auto_complete: bool,
            expand_aliases: bool,
            stop_on_error: bool,
        }
        #[derive(Serialize)]
        struct Envelope<'a> {
            jsonrpc: &'static str,
            method: &'static str,
            params: Params<'a>,
            id: &'a str,
        }
        let enable = self.enables().then(|| Command::new(ENABLE));
        let cmds: Vec<&Command> = enable.iter().chain(&self.commands).collect();
        let envelope = Envelope {
            jsonrpc: "2.0",
            method: "runCmds",
            params: Params {
                version: 1,
                cmds: &cmds,
                format: "json",
                timestamps: false,
                // Abbreviations and aliases would make the answer depend on switch config.
                auto_complete: false,
                expand_aliases: false,
                stop_on_error: !self.keep_going,
            },
            id,
        };
        // Serializing plain strings, integers and booleans cannot fail.
        serde_json::to_vec(&envelope).unwrap_or_default()
    }
}

/// What became of one command of a request.
#[derive(Debug)]
pub enum CommandOutcome {
    /// The command's JSON result, undecoded.
    Ok(Box<RawValue>),
    /// EOS ran the command and it failed; `code` is the reply's JSON-RPC error code.
    Failed { code: i64, errors: Vec<String> },
    /// EOS stopped before this command because an earlier one failed.
    NotRun,
}

/// The per-command outcomes of one request, in request order.
#[derive(Debug)]
pub struct Reply {
    commands: Vec<Command>,
    outcomes: Vec<CommandOutcome>,
    error: Option<(i64, String)>,
}

impl Reply {
    /// The outcomes, one per command sent.
    pub fn outcomes(&self) -> &[CommandOutcome] {
        &self.outcomes
    }

    /// The commands the outcomes belong to.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// Every result as a `serde_json::Value`, or the command error if any command failed.
    pub fn into_values(self) -> Result<Vec<serde_json::Value>, EapiError> {
        let error = self.command_error();
        let mut values = Vec::with_capacity(self.outcomes.len());
        for (command, outcome) in self.commands.iter().zip(self.outcomes) {
            match outcome {
                CommandOutcome::Ok(raw) => values.push(decode_result(command.text(), &raw)?),
                CommandOutcome::Failed { .. } | CommandOutcome::NotRun => {
                    return Err(error.unwrap_or_else(|| EapiError::Http {
                        detail: "a command failed without an error object".into(),
                    }))
                }
            }
        }
        Ok(values)
    }

    /// The result of the command at `index`, or the error that kept it from producing one.
    pub fn result(&self, index: usize) -> Result<&RawValue, EapiError> {
        let command = self
            .commands
            .get(index)
            .map(Command::text)
            .unwrap_or_default();
        match self.outcomes.get(index) {
            Some(CommandOutcome::Ok(raw)) => Ok(raw),
            Some(CommandOutcome::Failed { code, errors }) => Err(EapiError::Command {
                code: *code,
                message: self
                    .error
                    .as_ref()
                    .map(|(_, message)| message.clone())
                    .unwrap_or_default(),
                failures: vec![CommandFailure {
                    command: command.to_owned(),
                    errors: errors.clone(),
                }],
            }),
            Some(CommandOutcome::NotRun) => Err(self
                .command_error()
                .unwrap_or_else(|| model(command, "EOS did not run the command"))),
            None => Err(model("?", format!("the request has no command #{index}"))),
        }
    }

    /// The typed error describing the failed commands, if any failed.
    pub fn command_error(&self) -> Option<EapiError> {
        let (code, message) = self.error.clone()?;
        let failures = self
            .commands
            .iter()
            .zip(&self.outcomes)
            .filter_map(|(command, outcome)| match outcome {
                CommandOutcome::Failed { errors, .. } => Some(CommandFailure {
                    command: command.text().to_owned(),
                    errors: errors.clone(),
                }),
                _ => None,
            })
            .collect();
        Some(EapiError::Command {
            code,
            message,
            failures,
        })
    }
}

/// Decodes one command result into an owned model, unwrapping a string-encoded result first.
fn decode_result<T: serde::de::DeserializeOwned>(
    command: &str,
    raw: &RawValue,
) -> Result<T, EapiError> {
    let text = result_text(command, raw)?;
    serde_json::from_str(&text).map_err(|err| model(command, err))
}

/// The JSON text of a result, with one level of string-encoding removed: EOS occasionally
/// sends a result as a JSON-encoded string (spec §1.4, as ANTA's client handles).
pub fn result_text<'a>(
    command: &str,
    raw: &'a RawValue,
) -> Result<std::borrow::Cow<'a, str>, EapiError> {
    let text = raw.get();
    if text.starts_with('"') {
        let inner: String = serde_json::from_str(text).map_err(|err| model(command, err))?;
        Ok(std::borrow::Cow::Owned(inner))
    } else {
        Ok(std::borrow::Cow::Borrowed(text))
    }
}

pub(crate) fn model(command: &str, detail: impl std::fmt::Display) -> EapiError {
    EapiError::Model {
        command: command.to_owned(),
        detail: detail.to_string(),
    }
}

#[derive(Deserialize)]
struct ReplyEnvelope {
    #[serde(default)]
    result: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

/// Only the `errors` key of a `data` entry matters to tell a failure from a result.
#[derive(Deserialize)]
struct DataEntry {
    #[serde(default)]
    errors: Option<Vec<String>>,
}

/// A reply's body before it is decoded into outcomes: a caller that can read a well-formed
/// reply in one pass over the body does so ([`Body::first_result_with`]) and decodes it the
/// general way ([`Body::decode`]) otherwise.
pub struct Body<'r> {
    request: &'r Request,
    /// The body is `buffer[start..]`: the bytes as received, HTTP head and all, so that a
    /// large reply is not copied out of them.
    buffer: Vec<u8>,
    start: usize,
}

impl<'r> Body<'r> {
    /// The reply `bytes` to `request`, as the client receives it (public for benchmarks).
    pub fn new(request: &'r Request, bytes: Vec<u8>) -> Self {
        Self::within(request, bytes, 0)
    }

    pub(crate) fn within(request: &'r Request, buffer: Vec<u8>, start: usize) -> Self {
        Body {
            request,
            buffer,
            start,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.get(self.start..).unwrap_or_default()
    }

    /// The buffer the body is in, and where in it the body starts.
    pub(crate) fn into_buffer(self) -> (Vec<u8>, usize) {
        (self.buffer, self.start)
    }

    /// The commands the reply answers.
    pub fn commands(&self) -> &[Command] {
        &self.request.commands
    }

    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The per-command outcomes, as [`super::Client::execute`] returns them.
    pub fn decode(&self) -> Result<Reply, EapiError> {
        decode_reply(self.request, self.bytes())
    }

    /// The first command's result read by `read` straight from the body, when the reply is
    /// plainly `{"result": [...]}` with no `error` (see [`Cursor`]) and `read` takes the result
    /// whole; `None` for anything else (an error reply, a string-encoded result, a shape or an
    /// escape `read` refuses), which [`Body::decode`] then reads and names. Decoding the
    /// envelope first would scan every result once just to cut it out, as long a scan as the
    /// read itself.
    pub(crate) fn scan_first_result<T>(
        &self,
        read: impl FnOnce(&mut Cursor<'_>) -> Option<T>,
    ) -> Option<T> {
        // Checked as UTF-8 once here, so the strings within are not checked one by one.
        let text = std::str::from_utf8(self.bytes()).ok()?;
        let mut cursor = Cursor::new(text);
        let mut skip = usize::from(self.request.enables());
        let mut read = Some(read);
        let mut found = None;
        let mut seen_result = false;
        cursor.object(|cursor, key| match key {
            "error" => None,
            "result" if !seen_result => {
                seen_result = true;
                cursor.array(|cursor| match (skip, read.take()) {
                    (0, Some(read)) => {
                        found = Some(read(cursor)?);
                        Some(())
                    }
                    (_, unused) => {
                        read = unused;
                        skip = skip.saturating_sub(1);
                        cursor.skip()
                    }
                })
            }
            "result" => None,
            _ => cursor.skip(),
        })?;
        cursor.at_end().then_some(found)?
    }
}

/// Turns an HTTP body into per-command outcomes. Protocol-level errors (no per-command data)
/// and malformed envelopes are errors; command failures are outcomes, because a caller may
/// still use the commands that ran. A failed `enable` is an error: no command ran after it.
fn decode_reply(request: &Request, body: &[u8]) -> Result<Reply, EapiError> {
    let skip = usize::from(request.enables());
    let sent = request.commands.len() + skip;
    let envelope: ReplyEnvelope = serde_json::from_slice(body).map_err(|err| EapiError::Http {
        detail: format!("reply is not a JSON-RPC object: {err}"),
    })?;
    let commands = request.commands.clone();
    if let Some(error) = envelope.error {
        let data: Option<Vec<Box<RawValue>>> = error
            .data
            .as_deref()
            .and_then(|data| serde_json::from_str(data.get()).ok());
        let Some(data) = data else {
            return Err(EapiError::Rpc {
                code: error.code,
                message: error.message,
            });
        };
        let mut outcomes = Vec::with_capacity(sent);
        for raw in data.into_iter().take(sent) {
            let failure = serde_json::from_str::<DataEntry>(raw.get())
                .ok()
                .and_then(|entry| entry.errors);
            outcomes.push(match failure {
                Some(errors) => CommandOutcome::Failed {
                    code: error.code,
                    errors,
                },
                None => CommandOutcome::Ok(raw),
            });
        }
        // With stopOnError, EOS may leave out the failing command's own entry; the message
        // still names it, so the first missing command is the one that failed.
        if !outcomes
            .iter()
            .any(|outcome| matches!(outcome, CommandOutcome::Failed { .. }))
            && outcomes.len() < sent
        {
            outcomes.push(CommandOutcome::Failed {
                code: error.code,
                errors: vec![error.message.clone()],
            });
        }
        outcomes.resize_with(sent, || CommandOutcome::NotRun);
        if skip == 1 {
            if let CommandOutcome::Failed { errors, .. } = outcomes.remove(0) {
                return Err(EapiError::Command {
                    code: error.code,
                    message: error.message,
                    failures: vec![CommandFailure {
                        command: ENABLE.into(),
                        errors,
                    }],
                });
            }
        }
        return Ok(Reply {
            commands,
            outcomes,
            error: Some((error.code, error.message)),
        });
    }
    let Some(results) = envelope.result else {
        return Err(EapiError::Http {
            detail: "JSON-RPC reply has neither `result` nor `error`".into(),
        });
    };
    if results.len() != sent {
        return Err(EapiError::Http {
            detail: format!(
                "JSON-RPC reply has {} results for {sent} commands",
                results.len()
            ),
        });
    }
    let outcomes = results
        .into_iter()
        .skip(skip)
        .map(CommandOutcome::Ok)
        .collect();
    Ok(Reply {
        commands,
        outcomes,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn request(commands: &[&str]) -> Request {
        Request::new().commands(commands.iter().map(|text| Command::new(*text)))
    }

    #[test]
    fn request_pins_revisions_and_turns_off_autocomplete_and_aliases() {
        let req = Request::new().commands([
            Command::new("show ip bgp summary vrf all").with_revision(1),
            Command::new("show version"),
        ]);
        let body: serde_json::Value = serde_json::from_slice(&req.encode("id-1")).unwrap();
        assert_eq!(
            body,
            json!({"jsonrpc": "2.0", "method": "runCmds", "id": "id-1", "params": {
                "version": 1, "format": "json", "timestamps": false, "autoComplete": false,
                "expandAliases": false, "stopOnError": true,
                "cmds": [{"cmd": "show ip bgp summary vrf all", "revision": 1}, "show version"]}})
        );
    }

    fn privileged_request() -> Request {
        Request::new().commands([
            Command::new("show running-config section daemon x").privileged(),
            Command::new("show version"),
        ])
    }

    #[test]
    fn the_first_result_is_read_past_the_enable_and_an_error_reply_is_none() {
        // The keys of the first result, which must be an object.
        let first = |request: &Request, body: &str| {
            Body::new(request, body.as_bytes().to_vec()).scan_first_result(|cursor| {
                let mut keys = String::new();
                cursor.object(|cursor, key| {
                    keys.push_str(key);
                    cursor.skip()
                })?;
                Some(keys)
            })
        };
        let reply = r#"{"jsonrpc": "2.0", "id": "e", "result": [{}, {"a": 1}, {"b": 2}]}"#;
        assert_eq!(first(&privileged_request(), reply), Some("a".into()));
        assert_eq!(first(&request(&["x", "y", "z"]), reply), Some("".into()));
        assert_eq!(
            first(&request(&["x"]), r#"{"result": [1]}"#),
            None,
            "a result the reader refuses"
        );
        assert_eq!(
            first(&request(&["x"]), r#"{"result": [{}], "result": [{}]}"#),
            None
        );
        assert_eq!(
            first(&privileged_request(), r#"{"result": [{}]}"#),
            None,
            "no result past the enable"
        );
        let failed = r#"{"jsonrpc": "2.0", "id": "e", "error": {"code": 1002, "message": "m", "data": [{}, {"errors": ["e"]}]}}"#;
        assert_eq!(first(&privileged_request(), failed), None);
        assert_eq!(first(&request(&["x"]), r#"{"result": [1]} 2"#), None);
    }

    #[test]
    fn a_privileged_command_puts_enable_first_and_only_then() {
        let body: serde_json::Value =
            serde_json::from_slice(&privileged_request().encode("e")).unwrap();
        assert_eq!(
            body["params"]["cmds"],
            json!([
                "enable",
                "show running-config section daemon x",
                "show version"
            ])
        );
        let body: serde_json::Value =
            serde_json::from_slice(&request(&["show version"]).encode("e")).unwrap();
        assert_eq!(body["params"]["cmds"], json!(["show version"]));
    }

    #[test]
    fn the_result_of_enable_is_skipped_so_outcomes_match_the_commands() {
        let body = br#"{"jsonrpc":"2.0","id":"e","result":[{},{"cmds":{}},{"version":"4.30"}]}"#;
        let reply = decode_reply(&privileged_request(), body).unwrap();
        let values = reply.into_values().unwrap();
        assert_eq!(values, [json!({"cmds": {}}), json!({"version": "4.30"})]);
        // Two results for three commands on the wire is a protocol error, not a shifted reply.
        let short = br#"{"jsonrpc":"2.0","id":"e","result":[{"cmds":{}},{"version":"4.30"}]}"#;
        assert!(matches!(
            decode_reply(&privileged_request(), short),
            Err(EapiError::Http { .. })
        ));
    }

    #[test]
    fn a_failed_command_after_enable_is_reported_at_its_own_index() {
        let body = br#"{"jsonrpc":"2.0","id":"e","error":{"code":1002,"message":"CLI command 2 of 3 'show running-config section daemon x' failed: invalid command","data":[{},{"errors":["Invalid input (at token 2: 'section')"]}]}}"#;
        let reply = decode_reply(&privileged_request(), body).unwrap();
        assert!(matches!(
            &reply.outcomes()[0],
            CommandOutcome::Failed { code: 1002, .. }
        ));
        assert!(matches!(reply.outcomes()[1], CommandOutcome::NotRun));
    }

    #[test]
    fn a_failed_enable_is_an_error_naming_enable() {
        let body = br#"{"jsonrpc":"2.0","id":"e","error":{"code":1005,"message":"CLI command 1 of 3 'enable' failed: unauthorized","data":[{"errors":["Authorization denied"]}]}}"#;
        let err = decode_reply(&privileged_request(), body).unwrap_err();
        let EapiError::Command { failures, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(failures[0].command, "enable");
    }

    #[test]
    fn keep_going_sends_stop_on_error_false() {
        let body: serde_json::Value =
            serde_json::from_slice(&request(&["a"]).keep_going().encode("x")).unwrap();
        assert_eq!(body["params"]["stopOnError"], json!(false));
    }

    #[test]
    fn missing_failure_entry_marks_the_next_command_failed() {
        let body = br#"{"jsonrpc":"2.0","id":"1","error":{"code":1000,"message":"could not run command","data":[{}]}}"#;
        let reply = decode_reply(&request(&["a", "b", "c"]), body).unwrap();
        assert!(matches!(reply.outcomes()[0], CommandOutcome::Ok(_)));
        assert!(matches!(
            &reply.outcomes()[1],
            CommandOutcome::Failed { code: 1000, .. }
        ));
        assert!(matches!(reply.outcomes()[2], CommandOutcome::NotRun));
    }

    #[test]
    fn result_count_mismatch_is_a_protocol_error() {
        let body = br#"{"jsonrpc":"2.0","id":"1","result":[{}]}"#;
        assert!(matches!(
            decode_reply(&request(&["a", "b"]), body),
            Err(EapiError::Http { .. })
        ));
    }

    #[test]
    fn string_encoded_result_is_unwrapped_once() {
        let raw = RawValue::from_string(r#""{\"vrfs\":{}}""#.into()).unwrap();
        assert_eq!(result_text("c", &raw).unwrap(), r#"{"vrfs":{}}"#);
    }

    fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[a-z0-9%:. ]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    "(errors|result|error|data|code|message|[a-z]{1,6})",
                    inner,
                    0..6
                )
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_json_as_a_reply_never_panics(value in arbitrary_json()) {
            let body = serde_json::to_vec(&value).unwrap();
            if let Ok(reply) = decode_reply(&request(&["a", "b"]), &body) {
                let _ = reply.command_error();
                let _ = reply.into_values();
            }
        }

        #[test]
        fn arbitrary_json_in_error_data_never_panics(data in arbitrary_json(), code in any::<i64>()) {
            let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "m", "data": data}})).unwrap();
            if let Ok(reply) = decode_reply(&request(&["a", "b"]), &body) {
                prop_assert_eq!(reply.outcomes().len(), 2);
                let _ = reply.into_values();
            }
        }
    }
}

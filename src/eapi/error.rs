//! The one error type of the eAPI boundary. Every variant is classified where it is made
//! (`is_transient`), and every message says what to do next, because the person reading it is
//! usually an operator looking at `show agent <daemon> logs` on a switch.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong between asking EOS a question and holding a typed answer.
#[derive(Debug, thiserror::Error)]
pub enum EapiError {
    /// The socket file is absent: the unix-socket server is not enabled (it is off by default).
    #[error(
        "eAPI socket {path} does not exist; enable it on the switch with \
         `management api http-commands` / `protocol unix-socket` / `no shutdown` \
         (check with `show management api http-commands`), or pass --eapi-socket"
    )]
    SocketMissing { path: PathBuf },

    /// The socket exists but this process may not open it.
    #[error(
        "permission denied on eAPI socket {path}; run the agent as root (EOS daemons started by \
         ProcMgr are) or as a user allowed to write to the socket"
    )]
    PermissionDenied { path: PathBuf },

    /// The socket exists but nobody accepted the connection (CapiApp restarting or stopped).
    #[error(
        "could not connect to eAPI socket {path}: {source}; check that `show management api \
         http-commands` reports `Unix Socket server: running` and that the CapiApp agent is up"
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Connecting, sending or reading took longer than the request timeout.
    #[error(
        "eAPI request timed out after {after:?}; the switch may be busy (see `show processes top \
         once`)"
    )]
    Timeout { after: Duration },

    /// The connection broke mid-request.
    #[error("I/O error on eAPI socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The HTTP framing was not what the eAPI server sends (bad status line, non-200, truncated).
    #[error("eAPI HTTP protocol error: {detail}; if it persists, restart CapiApp or report it")]
    Http { detail: String },

    /// The reply exceeded the configured cap; reading on would risk the agent's memory.
    #[error(
        "eAPI reply exceeds the {limit}-byte cap; ask for less (fewer peers per request) or \
         raise the reply cap"
    )]
    ReplyTooLarge { limit: usize },

    /// A JSON-RPC error about the request itself (no per-command data), e.g. -32600.
    #[error(
        "eAPI rejected the JSON-RPC request (code {code}: {message}); this is a bug in the \
         agent's request, please report it with the EOS version"
    )]
    Rpc { code: i64, message: String },

    /// One or more commands failed; `error.data` told which and why.
    #[error("{}", describe_command_failure(.code, .message, .failures))]
    Command {
        /// The JSON-RPC error code (1000 could not run, 1002 invalid, 1005 unauthorized, ...).
        code: i64,
        /// The JSON-RPC error message, e.g. "CLI command 2 of 3 'bad command' failed: ...".
        message: String,
        /// Per failed command: its text and the CLI errors EOS gave for it.
        failures: Vec<CommandFailure>,
    },

    /// The reply parsed as JSON but not as the model this agent expects for `command`.
    #[error(
        "eAPI reply to `{command}` does not match the expected model: {detail}; check the EOS \
         release against the revisions this agent pins"
    )]
    Model { command: String, detail: String },
}

/// One failed command inside an eAPI error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    /// The CLI text of the command, as sent.
    pub command: String,
    /// The `errors` EOS listed for it (may be empty when EOS gave only the top-level message).
    pub errors: Vec<String>,
}

impl EapiError {
    /// Whether trying the same request again later can reasonably succeed without anyone
    /// changing the switch's configuration or this agent.
    pub fn is_transient(&self) -> bool {
        match self {
            EapiError::Timeout { .. }
            | EapiError::Connect { .. }
            | EapiError::Io { .. }
            | EapiError::Http { .. } => true,
            // 1000 "could not run command" covers agents that are still starting.
            EapiError::Command { code, .. } => *code == 1000,
            EapiError::SocketMissing { .. }
            | EapiError::PermissionDenied { .. }
            | EapiError::ReplyTooLarge { .. }
            | EapiError::Rpc { .. }
            | EapiError::Model { .. } => false,
        }
    }
}

fn describe_command_failure(code: &i64, message: &str, failures: &[CommandFailure]) -> String {
    let mut text = format!("eAPI command failed (code {code}: {message})");
    for failure in failures {
        text.push_str(&format!(
            "; `{}`: {}",
            failure.command,
            failure.errors.join(" / ")
        ));
    }
    let privilege = failures
        .iter()
        .flat_map(|failure| &failure.errors)
        .any(|error| error.contains("privileged mode required"));
    let advice = match code {
        _ if privilege => {
            "EOS refused the command outside privileged mode; the agent sends `enable` first, so \
             check that `enable` needs no password for the socket's user (root)"
        }
        1002 => "the command is not valid on this EOS release",
        1003 => "the command has no JSON model on this EOS release",
        1005 => "the socket user lacks privileges; run the agent as root",
        1000 => "EOS could not run the command now",
        _ => "see the EOS error above",
    };
    text.push_str("; ");
    text.push_str(advice);
    text
}

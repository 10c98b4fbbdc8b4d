//! Failures the simulator can be told to show, one at a time, until cleared: the ways a real
//! switch's eAPI has been seen or is expected to fail (eos.md §1.5–§1.8), each of which the
//! agent must classify into its typed `EapiError`.

use serde::{Deserialize, Serialize};

/// One injected failure. JSON form (control API): `{"kind": "slow", "delay_ms": 2000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The socket file is unlinked, as when `protocol unix-socket` is off; clearing the fault
    /// binds it again.
    SocketGone,
    /// The socket is `chmod 000`. Root ignores file modes, so a client running as root (the
    /// agent on EOS, and these tests) still connects; only a non-root client sees EACCES.
    PermissionDenied,
    /// Every reply is held back this long after the request has been read.
    Slow { delay_ms: u64 },
    /// HTTP 200 with a body that is not JSON (a crashed CapiApp behind the web server).
    Garbage,
    /// The reply announces its full length, sends half of it and closes.
    Truncated,
    /// A JSON-RPC error about the request itself, without `data` (e.g. -32600).
    RpcError { code: i64, message: String },
    /// The command with this text fails with `code` and these CLI errors, wherever it appears
    /// in a request; the others behave as usual (partial `error.data`).
    CommandError {
        command: String,
        code: i64,
        errors: Vec<String>,
    },
}

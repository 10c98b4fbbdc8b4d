//! Errors of the Solana JSON-RPC boundary, classified where they are made.
//!
//! Every failure of a call becomes one [`RpcError`] that already knows whether trying again can
//! help ([`RpcError::is_retryable`]) and, for HTTP 429, how long the server asked us to wait. The
//! classes follow the table in `shared/spec/solana-rpc.md` §1.8 and the Go agent's retry set
//! (`shared/spec/onchain.md` §6). Building a client has its own [`ConfigError`]: nothing about a
//! bad URL gets better by retrying.
//!
//! A transaction error (the `err` of a -32002 preflight failure or of a signature status) is
//! decoded into [`TransactionError`] from its JSON form, never from the human message.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// Why a client could not be built. Fatal: fix the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid RPC URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "RPC URL {url:?} uses plain http:// to a non-loopback host; use https:// \
         or allow insecure HTTP explicitly"
    )]
    InsecureHttp { url: String },
    #[error("cannot use CA file {path:?}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// What went wrong below HTTP. All of these are worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Could not open the connection (refused, DNS, TLS handshake).
    Connect,
    /// The request timeout elapsed before the whole reply arrived.
    Timeout,
    /// The connection broke while sending or receiving (reset, EOF, bad framing).
    Broken,
}

/// One failed JSON-RPC call.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The server answered with a non-success HTTP status (rate limit, block, proxy error).
    #[error("{method}: HTTP {status}{}", retry_after_suffix(*.retry_after))]
    Http {
        method: &'static str,
        status: u16,
        /// From the `Retry-After` header (delay-seconds form only).
        retry_after: Option<Duration>,
    },
    #[error("{method}: transport error ({kind:?}): {message}")]
    Transport {
        method: &'static str,
        kind: TransportKind,
        message: String,
    },
    /// A JSON-RPC `error` member other than a preflight failure.
    #[error("{method}: JSON-RPC error {code}: {message}")]
    JsonRpc {
        method: &'static str,
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// -32002: the node simulated the transaction and it failed; it was not forwarded.
    #[error("{method}: transaction preflight failed: {err}")]
    PreflightFailure {
        method: &'static str,
        err: TransactionError,
        logs: Vec<String>,
        units_consumed: Option<u64>,
    },
    #[error("{method}: malformed reply: {reason}")]
    Malformed {
        method: &'static str,
        reason: String,
    },
    #[error("{method}: reply body exceeds the cap of {limit} bytes")]
    BodyTooLarge { method: &'static str, limit: usize },
    /// Rejected before sending: the server would refuse it too (too many filters or keys).
    #[error("{method}: invalid request: {reason}")]
    InvalidRequest {
        method: &'static str,
        reason: String,
    },
}

fn retry_after_suffix(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {} s)", d.as_secs()),
        None => String::new(),
    }
}

/// JSON-RPC codes that describe a passing condition of the node (§1.8, plus the Go agent's
/// -32429 that some providers use for rate limiting).
const TRANSIENT_JSON_RPC_CODES: &[i64] = &[-32603, -32004, -32005, -32014, -32016, -32019, -32429];

/// Codes a node answers `sendTransaction` with before forwarding anything: malformed request,
/// invalid parameters, signature or precompile verification failures (solana-rpc.md §1.4).
const NOT_FORWARDED_JSON_RPC_CODES: &[i64] =
    &[-32700, -32600, -32601, -32602, -32003, -32006, -32013];

/// The preflight-failure code; its `data.err` decides what to do.
pub const SEND_TRANSACTION_PREFLIGHT_FAILURE: i64 = -32002;

impl RpcError {
    /// Whether sending the same request again, later, can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RpcError::Http { status, .. } => *status == 429 || (500..=599).contains(status),
            RpcError::Transport { .. } => true,
            RpcError::JsonRpc { code, .. } => TRANSIENT_JSON_RPC_CODES.contains(code),
            RpcError::PreflightFailure { err, .. } => err.is_transient(),
            RpcError::Malformed { .. }
            | RpcError::BodyTooLarge { .. }
            | RpcError::InvalidRequest { .. } => false,
        }
    }

    /// Whether a `sendTransaction` that failed this way certainly did not reach the cluster: the
    /// node refused the request itself (bad signature, invalid parameters) or it was never sent.
    /// A timeout, a broken connection, an HTTP error or a garbled reply may all hide a forward.
    pub fn not_forwarded(&self) -> bool {
        match self {
            RpcError::PreflightFailure { .. } | RpcError::InvalidRequest { .. } => true,
            RpcError::JsonRpc { code, .. } => NOT_FORWARDED_JSON_RPC_CODES.contains(code),
            RpcError::Http { .. }
            | RpcError::Transport { .. }
            | RpcError::Malformed { .. }
            | RpcError::BodyTooLarge { .. } => false,
        }
    }

    /// The wait the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RpcError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The JSON-RPC error code, if the server answered with one.
    pub fn json_rpc_code(&self) -> Option<i64> {
        match self {
            RpcError::JsonRpc { code, .. } => Some(*code),
            RpcError::PreflightFailure { .. } => Some(SEND_TRANSACTION_PREFLIGHT_FAILURE),
            _ => None,
        }
    }

    /// Builds the error for a JSON-RPC `error` member; -32002 becomes a typed preflight failure.
    pub(crate) fn from_json_rpc(
        method: &'static str,
        code: i64,
        message: String,
        data: Option<Value>,
    ) -> RpcError {
        let preflight_err = (code == SEND_TRANSACTION_PREFLIGHT_FAILURE)
            .then_some(data.as_ref())
            .flatten()
            .and_then(|d| Some((d, d.get("err").filter(|e| !e.is_null())?)));
        if let Some((data, err)) = preflight_err {
            let logs = data
                .get("logs")
                .and_then(Value::as_array)
                .map(|lines| {
                    lines
                        .iter()
                        .filter_map(|l| l.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            return RpcError::PreflightFailure {
                method,
                err: TransactionError::from_json(err),
                logs,
                units_consumed: data.get("unitsConsumed").and_then(Value::as_u64),
            };
        }
        RpcError::JsonRpc {
            method,
            code,
            message,
            data,
        }
    }
}

/// Parses `Retry-After` in its delay-seconds form. The HTTP-date form is rare on RPC providers
/// and is ignored (the caller then falls back to its own backoff).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Why a transaction failed, decoded from agave's JSON encoding of `TransactionError`.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionError {
    /// `{"InstructionError":[index, error]}`; `index` counts every top-level instruction,
    /// compute-budget ones included.
    InstructionError {
        index: u8,
        error: InstructionErrorKind,
    },
    BlockhashNotFound,
    AlreadyProcessed,
    InsufficientFundsForFee,
    AccountNotFound,
    AccountInUse,
    /// Anything else, kept verbatim.
    Other(Value),
}

/// The inner error of an `InstructionError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionErrorKind {
    /// A program's own error code (`{"Custom":n}`).
    Custom(u32),
    /// A built-in error, by name (`"InvalidAccountData"`) or as compact JSON when it has fields.
    Other(String),
}

impl TransactionError {
    /// Decodes the JSON form; never fails, unknown shapes become [`TransactionError::Other`].
    pub fn from_json(value: &Value) -> TransactionError {
        match value {
            Value::String(name) => match name.as_str() {
                "BlockhashNotFound" => TransactionError::BlockhashNotFound,
                "AlreadyProcessed" => TransactionError::AlreadyProcessed,
                "InsufficientFundsForFee" => TransactionError::InsufficientFundsForFee,
                "AccountNotFound" => TransactionError::AccountNotFound,
                "AccountInUse" => TransactionError::AccountInUse,
                _ => TransactionError::Other(value.clone()),
            },
            Value::Object(map) => map
                .get("InstructionError")
                .and_then(decode_instruction_error)
                .unwrap_or_else(|| TransactionError::Other(value.clone())),
            _ => TransactionError::Other(value.clone()),
        }
    }

    /// Whether resending the same bytes shortly can succeed (lock contention, block full).
    pub fn is_transient(&self) -> bool {
        match self {
            TransactionError::AccountInUse => true,
            TransactionError::Other(Value::String(name)) => name.starts_with("WouldExceed"),
            _ => false,
        }
    }
}

fn decode_instruction_error(value: &Value) -> Option<TransactionError> {
    let [index, inner] = value.as_array()?.as_slice() else {
        return None;
    };
    let index = u8::try_from(index.as_u64()?).ok()?;
    let error = match inner {
        Value::String(name) => InstructionErrorKind::Other(name.clone()),
        Value::Object(map) => match map.get("Custom") {
            Some(code) => InstructionErrorKind::Custom(u32::try_from(code.as_u64()?).ok()?),
            None => InstructionErrorKind::Other(inner.to_string()),
        },
        _ => return None,
    };
    Some(TransactionError::InstructionError { index, error })
}

impl fmt::Display for TransactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransactionError::InstructionError { index, error } => {
                write!(f, "Error processing Instruction {index}: {error}")
            }
            TransactionError::BlockhashNotFound => f.write_str("Blockhash not found"),
            TransactionError::AlreadyProcessed => f.write_str("already processed"),
            TransactionError::InsufficientFundsForFee => f.write_str("insufficient funds for fee"),
            TransactionError::AccountNotFound => f.write_str("account not found"),
            TransactionError::AccountInUse => f.write_str("account in use"),
            TransactionError::Other(v) => write!(f, "{v}"),
        }
    }
}

impl fmt::Display for InstructionErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstructionErrorKind::Custom(code) => write!(f, "custom program error: {code:#x}"),
            InstructionErrorKind::Other(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unit_variants_decode_from_plain_strings() {
        for (name, want) in [
            ("BlockhashNotFound", TransactionError::BlockhashNotFound),
            ("AlreadyProcessed", TransactionError::AlreadyProcessed),
            (
                "InsufficientFundsForFee",
                TransactionError::InsufficientFundsForFee,
            ),
            ("AccountNotFound", TransactionError::AccountNotFound),
            ("AccountInUse", TransactionError::AccountInUse),
        ] {
            assert_eq!(TransactionError::from_json(&json!(name)), want);
        }
    }

    #[test]
    fn custom_instruction_error_keeps_index_and_code() {
        let err = TransactionError::from_json(&json!({"InstructionError":[2,{"Custom":42}]}));
        assert_eq!(
            err,
            TransactionError::InstructionError {
                index: 2,
                error: InstructionErrorKind::Custom(42)
            }
        );
        assert_eq!(
            err.to_string(),
            "Error processing Instruction 2: custom program error: 0x2a"
        );
    }

    #[test]
    fn builtin_instruction_errors_keep_their_name_or_json() {
        assert_eq!(
            TransactionError::from_json(&json!({"InstructionError":[0,"InvalidAccountData"]})),
            TransactionError::InstructionError {
                index: 0,
                error: InstructionErrorKind::Other("InvalidAccountData".into())
            }
        );
        assert_eq!(
            TransactionError::from_json(&json!({"InstructionError":[1,{"BorshIoError":"x"}]})),
            TransactionError::InstructionError {
                index: 1,
                error: InstructionErrorKind::Other(r#"{"BorshIoError":"x"}"#.into())
            }
        );
    }

    #[test]
    fn unknown_or_odd_shapes_are_kept_verbatim() {
        for v in [
            json!({"InsufficientFundsForRent":{"account_index":1}}),
            json!({"InstructionError":[300,{"Custom":1}]}),
            json!({"InstructionError":[0]}),
            json!({"InstructionError":[0,{"Custom":-1}]}),
            json!("SignatureFailure"),
            json!(7),
        ] {
            assert_eq!(TransactionError::from_json(&v), TransactionError::Other(v));
        }
    }

    #[test]
    fn only_contention_and_cost_limit_errors_are_transient() {
        assert!(TransactionError::AccountInUse.is_transient());
        assert!(TransactionError::from_json(&json!("WouldExceedMaxBlockCostLimit")).is_transient());
        assert!(!TransactionError::BlockhashNotFound.is_transient());
        assert!(!TransactionError::InsufficientFundsForFee.is_transient());
    }

    #[test]
    fn json_rpc_codes_follow_the_retry_table() {
        let err = |code| RpcError::from_json_rpc("m", code, String::new(), None);
        for code in [-32603, -32004, -32005, -32014, -32016, -32019, -32429] {
            assert!(err(code).is_retryable(), "{code} should be retryable");
        }
        for code in [
            -32700, -32600, -32601, -32602, -32001, -32003, -32007, -32010, -32015,
        ] {
            assert!(!err(code).is_retryable(), "{code} should be fatal");
        }
    }

    #[test]
    fn preflight_without_err_stays_a_plain_json_rpc_error() {
        let e = RpcError::from_json_rpc("sendTransaction", -32002, "x".into(), None);
        assert!(matches!(e, RpcError::JsonRpc { code: -32002, .. }));
        assert_eq!(e.json_rpc_code(), Some(-32002));
    }

    #[test]
    fn http_statuses_are_classified() {
        let http = |status| RpcError::Http {
            method: "m",
            status,
            retry_after: None,
        };
        assert!(http(429).is_retryable());
        assert!(http(500).is_retryable());
        assert!(http(503).is_retryable());
        assert!(!http(403).is_retryable());
        assert!(!http(413).is_retryable());
        assert!(!http(404).is_retryable());
    }

    #[test]
    fn retry_after_accepts_seconds_and_ignores_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}

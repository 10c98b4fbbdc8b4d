//! The JSON-RPC endpoint: agave's request and reply shapes for the methods the agent calls.
//!
//! Shapes follow `shared/spec/solana-rpc.md` §1: `{context:{slot,apiVersion}, value}` wrappers,
//! `UiAccount` with base64 data tuples, the -32002 preflight failure with `data.err` in serde's
//! JSON form of `TransactionError`, `null` for unknown signatures. Errors in the request are
//! answered with the node's codes (-32600/-32601/-32602) and HTTP 200. Injected faults apply to
//! each HTTP request before it is read, after the first half of the configured latency.
//!
//! `simulateTransaction` runs the transaction on the real program without committing it and
//! answers `{context, value:{err, logs, accounts, unitsConsumed, returnData, innerInstructions,
//! replacementBlockhash}}`; `sigVerify` (default false) and `replaceRecentBlockhash` (default
//! false, exclusive with `sigVerify`) behave as agave's. A `sendTransaction` preflight failure
//! (-32002) carries the same simulation's `logs` and `unitsConsumed`.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use solana_account::Account;
use solana_hash::Hash;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use super::chain::{Accepted, Chain, Commitment, SendError};
use super::sim::{Fault, Shared};

/// The version reported in every context (the agave line the simulator's crates come from).
const API_VERSION: &str = "4.2.2";
const MAX_FILTERS: usize = 4;
const MAX_MEMCMP_BYTES: usize = 128;
const MAX_MULTIPLE_ACCOUNTS: usize = 100;
const MAX_SIGNATURE_STATUSES: usize = 256;
const MAX_BASE58_DATA: usize = 128;

/// A JSON-RPC `error` member.
struct Failure {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl Failure {
    fn new(code: i64, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn invalid_params(message: impl Into<String>) -> Failure {
        Failure::new(-32602, message)
    }
}

type RpcResult = Result<Value, Failure>;

/// `POST /`: one request or a batch, one round trip of the configured latency.
pub(crate) async fn handle(State(shared): State<std::sync::Arc<Shared>>, body: Bytes) -> Response {
    let outbound = shared.latency / 2;
    delay(outbound).await;
    let response = respond(&shared, body).await;
    delay(shared.latency - outbound).await;
    response
}

async fn delay(duration: std::time::Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

async fn respond(shared: &Shared, body: Bytes) -> Response {
    match shared.take_fault() {
        Some(Fault::Unavailable) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Some(Fault::Hang) => {
            shared.until_shutdown().await;
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(Fault::Unhealthy) => {
            let failure = Failure {
                code: -32005,
                message: "Node is unhealthy".into(),
                data: Some(json!({"numSlotsBehind": null})),
            };
            return axum::Json(envelope(Value::Null, Err(failure))).into_response();
        }
        Some(Fault::RateLimited) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, "1")],
                "Too many requests for a specific RPC call",
            )
                .into_response()
        }
        Some(Fault::Garbage) => {
            return (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response()
        }
        Some(Fault::DropTransactions) | None => {}
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let failure = Failure::new(-32700, format!("Parse error: {e}"));
            return axum::Json(envelope(Value::Null, Err(failure))).into_response();
        }
    };
    let reply = match request {
        Value::Array(batch) => Value::Array(batch.iter().map(|r| one(shared, r)).collect()),
        single => one(shared, &single),
    };
    axum::Json(reply).into_response()
}

fn envelope(id: Value, result: RpcResult) -> Value {
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(f) => {
            let mut error = json!({"code": f.code, "message": f.message});
            if let Some(data) = f.data {
                error["data"] = data;
            }
            json!({"jsonrpc": "2.0", "id": id, "error": error})
        }
    }
}

fn one(shared: &Shared, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return envelope(id, Err(Failure::new(-32600, "Invalid request")));
    };
    shared.count_call(method);
    let empty = Vec::new();
    let params = match request.get("params") {
        Some(Value::Array(p)) => p,
        None | Some(Value::Null) => &empty,
        Some(_) => return envelope(id, Err(Failure::invalid_params("params must be an array"))),
    };
    let result = if method == "sendTransaction" {
        send_transaction(shared, params)
    } else {
        let chain = shared.chain();
        match method {
            "simulateTransaction" => simulate_transaction(&chain, params),
            "getProgramAccounts" => get_program_accounts(&chain, params),
            "getMultipleAccounts" => get_multiple_accounts(&chain, params),
            "getAccountInfo" => get_account_info(&chain, params),
            "getBalance" => get_balance(&chain, params),
            "getLatestBlockhash" => get_latest_blockhash(&chain, params),
            "isBlockhashValid" => is_blockhash_valid(&chain, params),
            "getSignatureStatuses" => get_signature_statuses(&chain, params),
            "getBlockHeight" | "getSlot" => {
                commitment(params.first()).map(|c| json!(chain.slot_at(c)))
            }
            "getMinimumBalanceForRentExemption" => {
                let len = params.first().and_then(Value::as_u64).unwrap_or(0);
                Ok(json!(chain.minimum_balance(len as usize)))
            }
            "getHealth" => Ok(json!("ok")),
            "getVersion" => Ok(json!({"solana-core": API_VERSION, "feature-set": 0})),
            _ => Err(Failure::new(-32601, "Method not found")),
        }
    };
    envelope(id, result)
}

fn with_context(chain: &Chain, commitment: Commitment, value: Value) -> Value {
    json!({
        "context": {"slot": chain.slot_at(commitment), "apiVersion": API_VERSION},
        "value": value,
    })
}

fn commitment(config: Option<&Value>) -> Result<Commitment, Failure> {
    match config.and_then(|c| c.get("commitment")) {
        None | Some(Value::Null) => Ok(Commitment::Finalized),
        Some(c) => serde_json::from_value(c.clone())
            .map_err(|_| Failure::invalid_params(format!("invalid commitment {c}"))),
    }
}

fn pubkey_param(value: Option<&Value>) -> Result<Pubkey, Failure> {
    let s = value
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::invalid_params("missing pubkey"))?;
    Pubkey::from_str(s).map_err(|_| Failure::invalid_params("Invalid param: Invalid"))
}

/// How account data is encoded in a reply.
#[derive(Clone, Copy)]
enum Encoding {
    Base64,
    Base58,
    /// The legacy default: a bare base58 string.
    Binary,
}

struct AccountOptions {
    encoding: Encoding,
    slice: Option<(usize, usize)>,
}

fn account_options(config: Option<&Value>, default: Encoding) -> Result<AccountOptions, Failure> {
    let encoding = match config
        .and_then(|c| c.get("encoding"))
        .and_then(Value::as_str)
    {
        None => default,
        // jsonParsed falls back to base64 for programs the node does not parse.
        Some("base64") | Some("jsonParsed") => Encoding::Base64,
        Some("base58") => Encoding::Base58,
        Some("binary") => Encoding::Binary,
        Some(other) => {
            return Err(Failure::invalid_params(format!(
                "the simulator does not support encoding {other:?}"
            )))
        }
    };
    let slice = config.and_then(|c| c.get("dataSlice")).map(|s| {
        let field = |name| s.get(name).and_then(Value::as_u64).unwrap_or(0) as usize;
        (field("offset"), field("length"))
    });
    Ok(AccountOptions { encoding, slice })
}

fn ui_account(account: &Account, options: &AccountOptions) -> RpcResult {
    let data = match options.slice {
        Some((offset, length)) => {
            let start = offset.min(account.data.len());
            let end = start.saturating_add(length).min(account.data.len());
            &account.data[start..end]
        }
        None => &account.data[..],
    };
    let too_long = || {
        Failure::new(
            -32600,
            "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.",
        )
    };
    let data = match options.encoding {
        Encoding::Base64 => json!([
            base64::engine::general_purpose::STANDARD.encode(data),
            "base64"
        ]),
        Encoding::Base58 if data.len() > MAX_BASE58_DATA => return Err(too_long()),
        Encoding::Base58 => json!([bs58::encode(data).into_string(), "base58"]),
        Encoding::Binary if data.len() > MAX_BASE58_DATA => return Err(too_long()),
        Encoding::Binary => json!(bs58::encode(data).into_string()),
    };
    Ok(json!({
        "lamports": account.lamports,
        "owner": account.owner.to_string(),
        "data": data,
        "executable": account.executable,
        "rentEpoch": account.rent_epoch,
        "space": account.data.len(),
    }))
}

/// A `getProgramAccounts` filter.
enum Filter {
    Memcmp { offset: usize, bytes: Vec<u8> },
    DataSize(usize),
}

impl Filter {
    fn parse(value: &Value) -> Result<Filter, Failure> {
        if let Some(size) = value.get("dataSize") {
            let size = size
                .as_u64()
                .ok_or_else(|| Failure::invalid_params("dataSize must be a number"))?;
            return Ok(Filter::DataSize(size as usize));
        }
        let memcmp = value
            .get("memcmp")
            .ok_or_else(|| Failure::invalid_params(format!("unsupported filter {value}")))?;
        let offset = memcmp
            .get("offset")
            .and_then(Value::as_u64)
            .ok_or_else(|| Failure::invalid_params("memcmp needs an offset"))?
            as usize;
        let text = memcmp
            .get("bytes")
            .and_then(Value::as_str)
            .ok_or_else(|| Failure::invalid_params("memcmp needs bytes"))?;
        let bytes = match memcmp.get("encoding").and_then(Value::as_str) {
            None | Some("base58") => bs58::decode(text).into_vec().ok(),
            Some("base64") => base64::engine::general_purpose::STANDARD.decode(text).ok(),
            Some(_) => None,
        }
        .ok_or_else(|| Failure::invalid_params("Invalid param: could not decode memcmp bytes"))?;
        if bytes.len() > MAX_MEMCMP_BYTES {
            return Err(Failure::invalid_params("memcmp bytes longer than 128"));
        }
        Ok(Filter::Memcmp { offset, bytes })
    }

    fn matches(&self, data: &[u8]) -> bool {
        match self {
            Filter::DataSize(size) => data.len() == *size,
            Filter::Memcmp { offset, bytes } => data
                .get(*offset..offset.saturating_add(bytes.len()))
                .is_some_and(|window| window == bytes.as_slice()),
        }
    }
}

fn get_program_accounts(chain: &Chain, params: &[Value]) -> RpcResult {
    let program = pubkey_param(params.first())?;
    let config = params.get(1);
    let commitment = commitment(config)?;
    let options = account_options(config, Encoding::Binary)?;
    let filters = match config.and_then(|c| c.get("filters")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(f)) if f.len() > MAX_FILTERS => {
            return Err(Failure::invalid_params(format!(
                "Too many filters provided; max {MAX_FILTERS}"
            )))
        }
        Some(Value::Array(f)) => f.iter().map(Filter::parse).collect::<Result<_, _>>()?,
        Some(_) => return Err(Failure::invalid_params("filters must be an array")),
    };
    let accounts = if program == chain.program_id() {
        chain.program_accounts()
    } else {
        Vec::new()
    };
    let value = accounts
        .iter()
        .filter(|(_, a)| filters.iter().all(|f| f.matches(&a.data)))
        .map(|(key, account)| {
            Ok(json!({"pubkey": key.to_string(), "account": ui_account(account, &options)?}))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let wrap = config
        .and_then(|c| c.get("withContext"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(match wrap {
        true => with_context(chain, commitment, Value::Array(value)),
        false => Value::Array(value),
    })
}

fn get_multiple_accounts(chain: &Chain, params: &[Value]) -> RpcResult {
    let keys = params
        .first()
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::invalid_params("expected an array of pubkeys"))?;
    if keys.len() > MAX_MULTIPLE_ACCOUNTS {
        return Err(Failure::invalid_params(format!(
            "Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}"
        )));
    }
    let config = params.get(1);
    let options = account_options(config, Encoding::Base64)?;
    let value = keys
        .iter()
        .map(|k| {
            let key = pubkey_param(Some(k))?;
            chain
                .account(&key)
                .map_or(Ok(Value::Null), |a| ui_account(&a, &options))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(with_context(
        chain,
        commitment(config)?,
        Value::Array(value),
    ))
}

fn get_account_info(chain: &Chain, params: &[Value]) -> RpcResult {
    let key = pubkey_param(params.first())?;
    let config = params.get(1);
    let options = account_options(config, Encoding::Binary)?;
    let value = chain
        .account(&key)
        .map_or(Ok(Value::Null), |a| ui_account(&a, &options))?;
    Ok(with_context(chain, commitment(config)?, value))
}

fn get_balance(chain: &Chain, params: &[Value]) -> RpcResult {
    let key = pubkey_param(params.first())?;
    let lamports = chain.account(&key).map_or(0, |a| a.lamports);
    Ok(with_context(
        chain,
        commitment(params.get(1))?,
        json!(lamports),
    ))
}

fn get_latest_blockhash(chain: &Chain, params: &[Value]) -> RpcResult {
    let commitment = commitment(params.first())?;
    let (hash, last_valid_block_height) = chain.latest_blockhash(commitment);
    let value = json!({
        "blockhash": hash.to_string(),
        "lastValidBlockHeight": last_valid_block_height,
    });
    Ok(with_context(chain, commitment, value))
}

fn is_blockhash_valid(chain: &Chain, params: &[Value]) -> RpcResult {
    let hash = params
        .first()
        .and_then(Value::as_str)
        .and_then(|s| Hash::from_str(s).ok())
        .ok_or_else(|| Failure::invalid_params("Invalid param: blockhash"))?;
    let valid = chain.is_blockhash_valid(&hash);
    Ok(with_context(
        chain,
        commitment(params.get(1))?,
        json!(valid),
    ))
}

fn get_signature_statuses(chain: &Chain, params: &[Value]) -> RpcResult {
    let signatures = params
        .first()
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::invalid_params("expected an array of signatures"))?;
    if signatures.len() > MAX_SIGNATURE_STATUSES {
        return Err(Failure::invalid_params(format!(
            "Too many inputs provided; max {MAX_SIGNATURE_STATUSES}"
        )));
    }
    let value = signatures
        .iter()
        .map(|s| {
            let signature = s
                .as_str()
                .and_then(|s| Signature::from_str(s).ok())
                .ok_or_else(|| Failure::invalid_params("Invalid param: signature"))?;
            Ok(match chain.signature_status(&signature) {
                None => Value::Null,
                Some(landed) => {
                    let err = landed.err.as_ref().map(transaction_error_json);
                    let status = match &err {
                        None => json!({"Ok": null}),
                        Some(e) => json!({"Err": e}),
                    };
                    json!({
                        "slot": landed.slot,
                        "confirmations": landed.confirmations,
                        "err": err,
                        "status": status,
                        "confirmationStatus": landed.confirmation_status,
                    })
                }
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(with_context(
        chain,
        Commitment::Processed,
        Value::Array(value),
    ))
}

/// `TransactionError` as agave writes it: serde's externally tagged form.
fn transaction_error_json(err: &solana_transaction_error::TransactionError) -> Value {
    serde_json::to_value(err).expect("a TransactionError always serializes")
}

/// The transaction in `params[0]`, encoded as `params[1].encoding` says (base58 by default),
/// checked as a node checks it before anything else: size, decoding, sanitization.
fn decode_transaction(params: &[Value]) -> Result<(Vec<u8>, VersionedTransaction), Failure> {
    let encoded = params
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::invalid_params("missing transaction"))?;
    let encoding = params
        .get(1)
        .and_then(|c| c.get("encoding"))
        .and_then(Value::as_str);
    let bytes = match encoding {
        None | Some("base58") => bs58::decode(encoded).into_vec().ok(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok(),
        Some(other) => {
            return Err(Failure::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )))
        }
    }
    .ok_or_else(|| Failure::invalid_params("invalid transaction: could not decode"))?;
    if bytes.len() > 1232 {
        return Err(Failure::invalid_params(format!(
            "base64 encoded solana_transaction::versioned::VersionedTransaction too large: {} bytes (max: encoded/raw 1644/1232)",
            bytes.len()
        )));
    }
    let tx: VersionedTransaction = wincode::deserialize(&bytes).map_err(|e| {
        Failure::invalid_params(format!("failed to deserialize VersionedTransaction: {e}"))
    })?;
    tx.sanitize()
        .map_err(|e| Failure::invalid_params(format!("invalid transaction: {e}")))?;
    Ok((bytes, tx))
}

fn simulate_transaction(chain: &Chain, params: &[Value]) -> RpcResult {
    let (_, mut tx) = decode_transaction(params)?;
    let config = params.get(1);
    let flag = |name| {
        config
            .and_then(|c| c.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let (sig_verify, replace_blockhash) = (flag("sigVerify"), flag("replaceRecentBlockhash"));
    if sig_verify && replace_blockhash {
        return Err(Failure::invalid_params(
            "sigVerify may not be used with replaceRecentBlockhash",
        ));
    }
    if config
        .and_then(|c| c.get("accounts"))
        .is_some_and(|a| !a.is_null())
    {
        return Err(Failure::invalid_params(
            "the simulator does not return post-simulation accounts",
        ));
    }
    let commitment = commitment(config)?;
    let replacement = replace_blockhash.then(|| {
        let (hash, last_valid_block_height) = chain.latest_blockhash(commitment);
        tx.message.set_recent_blockhash(hash);
        json!({"blockhash": hash.to_string(), "lastValidBlockHeight": last_valid_block_height})
    });
    let simulation = chain.simulate(&tx, sig_verify);
    let value = json!({
        "err": simulation.err.as_ref().map(transaction_error_json),
        "logs": simulation.logs,
        "accounts": null,
        "unitsConsumed": simulation.units_consumed.unwrap_or(0),
        "returnData": null,
        "innerInstructions": null,
        "replacementBlockhash": replacement,
    });
    Ok(with_context(chain, commitment, value))
}

fn send_transaction(shared: &Shared, params: &[Value]) -> RpcResult {
    let (bytes, tx) = decode_transaction(params)?;
    let signature = tx.signatures[0];
    let skip_preflight = params
        .get(1)
        .and_then(|c| c.get("skipPreflight"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut chain = shared.chain();
    let result = match shared.take_drop() {
        true => {
            chain.receive_dropped(bytes, &tx);
            Ok(Accepted::Dropped)
        }
        false => chain.send(bytes, tx, skip_preflight),
    };
    if let Some(received) = chain.received().last() {
        shared.log_transaction(received);
    }
    drop(chain);
    match result {
        Ok(Accepted::Landed | Accepted::Dropped) => Ok(json!(signature.to_string())),
        Err(SendError::SignatureVerification) => Err(Failure::new(
            -32003,
            "Transaction signature verification failure",
        )),
        Err(SendError::Preflight {
            err,
            logs,
            units_consumed,
        }) => Err(Failure {
            code: -32002,
            message: format!("Transaction simulation failed: {err}"),
            data: Some(json!({
                "accounts": null,
                "err": transaction_error_json(&err),
                "innerInstructions": null,
                "loadedAccountsDataSize": 0,
                "logs": logs,
                "replacementBlockhash": null,
                "returnData": null,
                "unitsConsumed": units_consumed,
            })),
        }),
    }
}

//! The JSON-RPC client: one HTTP POST per call, a bounded reply, typed results.
//!
//! [`Client`] wraps a `reqwest` client (rustls with the ring provider, no solana-client) behind
//! an `Arc`, so clones share one connection pool and one byte counter. Nothing is taken from the
//! switch's userland: server certificates are checked against the Mozilla roots compiled into the
//! binary (plus an optional private CA file), and host names go through hickory's pure-Rust
//! resolver rather than glibc's NSS, which a static binary cannot load. Each call is a single
//! POST with a total timeout; the reply body is read chunk by chunk and dropped as soon as it
//! passes the configured cap, so a misbehaving endpoint cannot make the switch buffer an
//! unbounded body. Read methods go through [`RetryPolicy`]; `sendTransaction` is sent exactly
//! once because the outbox owns resending.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use base64::Engine as _;
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use solana_pubkey::Pubkey;
use solana_signature::Signature;

use super::dns::{HostsFirst, ResolverFiles};
use super::error::{parse_retry_after, ConfigError, RpcError, TransportKind};
use super::retry::RetryPolicy;
use super::types::{
    decode_signature, Account, Commitment, Filter, KeyedAccount, LatestBlockhash, RawKeyedAccount,
    SendOptions, Simulation, TransactionStatus, UiAccount, UiLatestBlockhash, UiSimulation,
    UiTransactionStatus, UiWithContext, WithContext, MAX_FILTERS, MAX_MEMCMP_BYTES,
};

/// Most signatures agave accepts in one `getSignatureStatuses`.
pub const MAX_SIGNATURE_STATUSES: usize = 256;
/// Largest serialized transaction a node accepts (`PACKET_DATA_SIZE`).
pub const MAX_TRANSACTION_BYTES: usize = 1232;

/// How to reach the RPC endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub url: String,
    /// Whole-call limit: connect, send, and read the full reply.
    pub timeout: Duration,
    /// Largest reply body accepted; big enough for the program's whole account set.
    pub max_body_bytes: usize,
    /// Allow `http://` to non-loopback hosts (a lab ledger without TLS).
    pub allow_insecure_http: bool,
    /// Extra PEM root certificates, added to the bundled Mozilla roots.
    pub ca_file: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// Where host names are looked up: the hosts file and `resolv.conf` (the management
    /// namespace's own first).
    pub resolver: ResolverFiles,
}

impl ClientConfig {
    /// The defaults: 10 s timeout (as the Go agent), 64 MiB body cap, TLS required off-host.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            timeout: Duration::from_secs(10),
            max_body_bytes: 64 << 20,
            allow_insecure_http: false,
            ca_file: None,
            retry: RetryPolicy::default(),
            resolver: ResolverFiles::default(),
        }
    }
}

/// A Solana JSON-RPC client. Cheap to clone; clones share the connection pool and counters.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
    retry: RetryPolicy,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    url: Url,
    display_url: String,
    max_body_bytes: usize,
    next_id: AtomicU64,
    bytes_received: AtomicU64,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, ConfigError> {
        let url = checked_url(&config.url, config.allow_insecure_http)?;
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect could lead to plain HTTP off-host, past the check above; RPC
            // endpoints do not redirect, so a 3xx is reported as an HTTP error instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("doublezero-bgpstatus/", env!("CARGO_PKG_VERSION")));
        let mut roots = bundled_roots();
        if let Some(path) = &config.ca_file {
            roots.extend(read_ca_file(path)?);
        }
        builder = builder
            .tls_certs_only(roots)
            .dns_resolver(Arc::new(HostsFirst::new(config.resolver)));
        let http = builder
            .build()
            .map_err(|e| ConfigError::HttpClient(error_chain(&e)))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                display_url: redacted(&url),
                url,
                max_body_bytes: config.max_body_bytes,
                next_id: AtomicU64::new(1),
                bytes_received: AtomicU64::new(0),
            }),
            retry: config.retry,
        })
    }

    /// The same endpoint and connection pool with another retry policy: the outbox makes one
    /// attempt per call and decides itself what to retry and when.
    pub fn with_retry(&self, retry: RetryPolicy) -> Client {
        Client {
            inner: self.inner.clone(),
            retry,
        }
    }

    /// The endpoint with path and query hidden (they often carry an API key); safe to log.
    pub fn endpoint(&self) -> &str {
        &self.inner.display_url
    }

    /// Reply body bytes read so far by this client and its clones, for the fetch metrics.
    pub fn bytes_received(&self) -> u64 {
        self.inner.bytes_received.load(Ordering::Relaxed)
    }

    /// All accounts of `program` that pass every filter, always base64 and with the slot.
    pub async fn get_program_accounts(
        &self,
        program: &Pubkey,
        filters: &[Filter],
        commitment: Commitment,
    ) -> Result<WithContext<Vec<KeyedAccount>>, RpcError> {
        const METHOD: &str = "getProgramAccounts";
        if filters.len() > MAX_FILTERS {
            return Err(invalid(
                METHOD,
                format!("{} filters given, at most {MAX_FILTERS}", filters.len()),
            ));
        }
        for f in filters {
            if let Filter::Memcmp { bytes, .. } = f {
                if bytes.len() > MAX_MEMCMP_BYTES {
                    return Err(invalid(
                        METHOD,
                        format!(
                            "memcmp pattern of {} bytes, at most {MAX_MEMCMP_BYTES}",
                            bytes.len()
                        ),
                    ));
                }
            }
        }
        let mut config = json!({
            "encoding": "base64",
            "withContext": true,
            "commitment": commitment,
        });
        if !filters.is_empty() {
            config["filters"] = filters.iter().map(Filter::to_json).collect();
        }
        let params = json!([b58(program.as_ref()), config]);
        self.retry
            .run(|| async {
                let body = self.post(METHOD, &params).await?;
                // Read with its text borrowed from the body: no string is copied per account.
                let reply: UiWithContext<Vec<RawKeyedAccount<'_>>> = parse_reply(METHOD, &body)?;
                Ok(WithContext {
                    slot: reply.context.slot,
                    value: RawKeyedAccount::decode_all(&reply.value)
                        .map_err(|reason| malformed(METHOD, reason))?,
                })
            })
            .await
    }

    /// The account at `key`, or `None` if it does not exist.
    pub async fn get_account_info(
        &self,
        key: &Pubkey,
        commitment: Commitment,
    ) -> Result<WithContext<Option<Account>>, RpcError> {
        const METHOD: &str = "getAccountInfo";
        let params = json!([b58(key.as_ref()), {"encoding": "base64", "commitment": commitment}]);
        let reply: UiWithContext<Option<UiAccount>> = self.call_retrying(METHOD, params).await?;
        let value = reply
            .value
            .map(UiAccount::decode)
            .transpose()
            .map_err(|reason| malformed(METHOD, reason))?;
        Ok(WithContext {
            slot: reply.context.slot,
            value,
        })
    }

    /// A blockhash to sign with; fetch it at `confirmed` (solana-rpc.md §1.3).
    pub async fn get_latest_blockhash(
        &self,
        commitment: Commitment,
    ) -> Result<WithContext<LatestBlockhash>, RpcError> {
        const METHOD: &str = "getLatestBlockhash";
        let reply: UiWithContext<UiLatestBlockhash> = self
            .call_retrying(METHOD, json!([{"commitment": commitment}]))
            .await?;
        Ok(WithContext {
            slot: reply.context.slot,
            value: reply
                .value
                .decode()
                .map_err(|reason| malformed(METHOD, reason))?,
        })
    }

    /// Sends signed wire bytes once, base64-encoded, and returns the transaction's signature.
    /// Never retried here: resending the same bytes is the caller's decision.
    pub async fn send_transaction(
        &self,
        wire: &[u8],
        options: SendOptions,
    ) -> Result<Signature, RpcError> {
        const METHOD: &str = "sendTransaction";
        if wire.len() > MAX_TRANSACTION_BYTES {
            return Err(invalid(
                METHOD,
                format!(
                    "transaction is {} bytes, at most {MAX_TRANSACTION_BYTES}",
                    wire.len()
                ),
            ));
        }
        let mut config = json!({
            "encoding": "base64",
            "skipPreflight": options.skip_preflight,
            "preflightCommitment": options.preflight_commitment,
        });
        if let Some(n) = options.max_retries {
            config["maxRetries"] = json!(n);
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(wire);
        let reply: String = self.call(METHOD, &json!([encoded, config])).await?;
        let signature = decode_signature(&reply).map_err(|reason| malformed(METHOD, reason))?;
        // The node answers with the transaction's first signature, which we already hold;
        // anything else means the reply is not about these bytes.
        if let Some(own) = first_signature(wire) {
            if own != signature.as_ref() {
                return Err(malformed(
                    METHOD,
                    format!("node returned signature {reply}, not the transaction's own"),
                ));
            }
        }
        Ok(signature)
    }

    /// Runs signed wire bytes against the node's bank without sending them, for the compute
    /// units they use (and the error they would meet). The signature is not checked and the
    /// blockhash is kept, so the bytes are judged as they would be sent.
    pub async fn simulate_transaction(
        &self,
        wire: &[u8],
        commitment: Commitment,
    ) -> Result<WithContext<Simulation>, RpcError> {
        const METHOD: &str = "simulateTransaction";
        let encoded = base64::engine::general_purpose::STANDARD.encode(wire);
        let config = json!({
            "encoding": "base64",
            "sigVerify": false,
            "replaceRecentBlockhash": false,
            "commitment": commitment,
        });
        let reply: UiWithContext<UiSimulation> =
            self.call_retrying(METHOD, json!([encoded, config])).await?;
        Ok(WithContext {
            slot: reply.context.slot,
            value: reply.value.decode(),
        })
    }

    /// Where each signature stands, in order (`None`: not seen, dropped or too old). More than
    /// 256 signatures are asked in chunks; the slot is then the oldest of the chunks' slots.
    pub async fn get_signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<WithContext<Vec<Option<TransactionStatus>>>, RpcError> {
        const METHOD: &str = "getSignatureStatuses";
        let mut out = WithContext {
            slot: u64::MAX,
            value: Vec::with_capacity(signatures.len()),
        };
        for chunk in chunks_of(signatures, MAX_SIGNATURE_STATUSES) {
            let sigs: Vec<String> = chunk.iter().map(|s| b58(s.as_ref())).collect();
            let reply: UiWithContext<Vec<Option<UiTransactionStatus>>> =
                self.call_retrying(METHOD, json!([sigs])).await?;
            if reply.value.len() != chunk.len() {
                return Err(malformed(
                    METHOD,
                    format!(
                        "{} statuses for {} signatures",
                        reply.value.len(),
                        chunk.len()
                    ),
                ));
            }
            out.slot = out.slot.min(reply.context.slot);
            out.value.extend(
                reply
                    .value
                    .into_iter()
                    .map(|s| s.map(UiTransactionStatus::decode)),
            );
        }
        Ok(out)
    }

    /// The current block height; compare with `LatestBlockhash::last_valid_block_height`.
    pub async fn get_block_height(&self, commitment: Commitment) -> Result<u64, RpcError> {
        self.call_retrying("getBlockHeight", json!([{"commitment": commitment}]))
            .await
    }

    pub async fn get_slot(&self, commitment: Commitment) -> Result<u64, RpcError> {
        self.call_retrying("getSlot", json!([{"commitment": commitment}]))
            .await
    }

    /// Lamports held at `key` (the signer's balance pays every status update).
    pub async fn get_balance(
        &self,
        key: &Pubkey,
        commitment: Commitment,
    ) -> Result<WithContext<u64>, RpcError> {
        let reply: UiWithContext<u64> = self
            .call_retrying(
                "getBalance",
                json!([b58(key.as_ref()), {"commitment": commitment}]),
            )
            .await?;
        Ok(WithContext {
            slot: reply.context.slot,
            value: reply.value,
        })
    }

    /// `Ok` when the node reports itself healthy; a lagging node gives -32005.
    pub async fn get_health(&self) -> Result<(), RpcError> {
        const METHOD: &str = "getHealth";
        let reply: String = self.call_retrying(METHOD, json!([])).await?;
        if reply == "ok" {
            Ok(())
        } else {
            Err(malformed(
                METHOD,
                format!("health is {reply:?}, want \"ok\""),
            ))
        }
    }

    async fn call_retrying<T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<T, RpcError> {
        self.retry.run(|| self.call(method, &params)).await
    }

    /// One attempt: POST, check the HTTP status, read the capped body, unwrap the envelope.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: &Value,
    ) -> Result<T, RpcError> {
        parse_reply(method, &self.post(method, params).await?)
    }

    /// POSTs one request; the capped body of a successful HTTP answer.
    async fn post(&self, method: &'static str, params: &Value) -> Result<Vec<u8>, RpcError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut response = self
            .inner
            .http
            .post(self.inner.url.clone())
            .json(&request)
            .send()
            .await
            .map_err(|e| transport(method, e))?;
        let status = response.status();
        // Rate limits and blocks come at the HTTP layer; JSON-RPC errors come with 200.
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Err(RpcError::Http {
                method,
                status: status.as_u16(),
                retry_after,
            });
        }
        let limit = self.inner.max_body_bytes;
        let length = response.content_length().unwrap_or(0);
        if length > limit as u64 {
            return Err(RpcError::BodyTooLarge { method, limit });
        }
        // Sized once when the length is known: a view's reply is hundreds of kilobytes, and
        // growing into it copies it over and over.
        let mut body = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(method, e))? {
            self.inner
                .bytes_received
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if body.len() + chunk.len() > limit {
                return Err(RpcError::BodyTooLarge { method, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Unwraps a JSON-RPC reply body into its `result`, or the error it carries.
pub(crate) fn parse_reply<'a, T: Deserialize<'a>>(
    method: &'static str,
    body: &'a [u8],
) -> Result<T, RpcError> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        result: Option<T>,
        error: Option<ErrorObject>,
    }
    #[derive(Deserialize)]
    struct ErrorObject {
        code: i64,
        message: String,
        data: Option<Value>,
    }
    let envelope: Envelope<T> =
        serde_json::from_slice(body).map_err(|e| malformed(method, e.to_string()))?;
    match (envelope.error, envelope.result) {
        (Some(e), _) => Err(RpcError::from_json_rpc(method, e.code, e.message, e.data)),
        (None, Some(result)) => Ok(result),
        (None, None) => Err(malformed(method, "neither result nor error".into())),
    }
}

fn checked_url(raw: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidUrl {
        url: redact_url(raw),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&url) => {}
        "http" => {
            return Err(ConfigError::InsecureHttp {
                url: redact_url(raw),
            })
        }
        other => return Err(invalid(format!("scheme {other:?}, want http or https"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(url)
}

/// Loopback traffic never leaves the switch, so plain HTTP there exposes nothing.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL as it may appear in a log line, `/status`, `check` or an error: scheme, host and port,
/// never the user, password, path or query, where providers put API keys. Text that is not a
/// URL keeps only what precedes its first `/` after the scheme, without any `user@`.
pub fn redact_url(raw: &str) -> String {
    if let Ok(url) = Url::parse(raw) {
        if url.host_str().is_some() {
            return redacted(&url);
        }
    }
    let (scheme, rest) = raw.split_once("://").unwrap_or(("", raw));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let tail = if rest.len() > authority.len() {
        "/…"
    } else {
        ""
    };
    match scheme {
        "" => format!("{host}{tail}"),
        scheme => format!("{scheme}://{host}{tail}"),
    }
}

fn redacted(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = if url.path() == "/" && url.query().is_none() {
        ""
    } else {
        "/…"
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

/// reqwest without a bundled provider needs a process default; ring keeps the build free of C
/// toolchains. If something else installed a provider first, reqwest uses that one.
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The Mozilla root set from `webpki-root-certs`. Parsing DER cannot fail for these, but a
/// certificate reqwest refused would only narrow the set, never widen it, so it is skipped.
fn bundled_roots() -> Vec<reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let fail = |reason: String| ConfigError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(error_chain(&e)))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Splits `items` into request-sized chunks; an empty input still makes one (empty) request so
/// the caller gets the node's slot.
fn chunks_of<T>(items: &[T], size: usize) -> Vec<&[T]> {
    if items.is_empty() {
        vec![items]
    } else {
        items.chunks(size).collect()
    }
}

/// The first signature of serialized transaction bytes: a compact-u16 count (one byte below
/// 128), then 64-byte signatures. `None` when the bytes are too short to hold one.
fn first_signature(wire: &[u8]) -> Option<&[u8]> {
    match wire.first() {
        Some(1..=0x7f) => wire.get(1..65),
        _ => None,
    }
}

fn b58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

fn malformed(method: &'static str, reason: String) -> RpcError {
    RpcError::Malformed { method, reason }
}

fn invalid(method: &'static str, reason: String) -> RpcError {
    RpcError::InvalidRequest { method, reason }
}

/// The one place transport errors are made: reqwest's text ends with `for url (<full URL>)`, and
/// the URL's path and query hold providers' API keys, so the URL is dropped here.
fn transport(method: &'static str, e: reqwest::Error) -> RpcError {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Broken
    };
    RpcError::Transport {
        method,
        kind,
        message: error_chain(&e.without_url()),
    }
}

/// reqwest's top-level message is generic ("error sending request"); the cause is below it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_compiled_in_not_read_from_the_switch() {
        // Every Mozilla root parses; the switch's CA bundle plays no part.
        assert_eq!(
            bundled_roots().len(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
        assert!(bundled_roots().len() > 100);
    }

    #[test]
    fn plain_http_is_accepted_only_for_loopback_hosts() {
        for url in [
            "http://127.0.0.1:8899",
            "http://127.8.9.10/",
            "http://[::1]:8899",
            "http://localhost:8899",
            "http://LOCALHOST",
            "https://api.mainnet-beta.solana.com",
        ] {
            assert!(checked_url(url, false).is_ok(), "{url}");
        }
        let err = checked_url("http://10.0.0.1:8899", false).unwrap_err();
        assert!(matches!(err, ConfigError::InsecureHttp { .. }));
        assert!(err.to_string().contains("http://10.0.0.1:8899"), "{err}");
        assert!(checked_url("http://10.0.0.1:8899", true).is_ok());
    }

    #[test]
    fn other_schemes_and_garbage_are_invalid_urls() {
        for url in ["ftp://example.com", "not a url", "unix:/tmp/sock"] {
            assert!(
                matches!(checked_url(url, true), Err(ConfigError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn a_url_that_does_not_parse_is_redacted_too() {
        assert_eq!(
            redact_url("htps://user:pw@host.example/secret?k=v"),
            "htps://host.example/…"
        );
        assert_eq!(redact_url("host.example/secret"), "host.example/…");
        assert_eq!(
            redact_url("https://user:pw@rpc.example:8443/t0ken?api-key=k"),
            "https://rpc.example:8443/…"
        );
    }

    #[test]
    fn endpoint_for_logs_hides_path_and_query() {
        let url = Url::parse("https://x.rpcpool.com/secret-token?api-key=k").unwrap();
        assert_eq!(redacted(&url), "https://x.rpcpool.com/…");
        let url = Url::parse("http://127.0.0.1:8899").unwrap();
        assert_eq!(redacted(&url), "http://127.0.0.1:8899");
    }

    #[test]
    fn reply_with_error_member_becomes_json_rpc_error() {
        let body = br#"{"jsonrpc":"2.0","error":{"code":-32005,"message":"Node is behind by 42 slots","data":{"numSlotsBehind":42}},"id":1}"#;
        let err = parse_reply::<u64>("getSlot", body).unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(err.json_rpc_code(), Some(-32005));
    }

    #[test]
    fn reply_without_result_or_error_is_malformed() {
        let err = parse_reply::<u64>("getSlot", br#"{"jsonrpc":"2.0","id":1}"#).unwrap_err();
        assert!(matches!(err, RpcError::Malformed { .. }));
        assert!(!err.is_retryable());
    }

    #[test]
    fn first_signature_follows_the_signature_count() {
        let mut wire = vec![1u8];
        wire.extend([9u8; 64]);
        wire.extend([0u8; 10]);
        assert_eq!(first_signature(&wire), Some(&[9u8; 64][..]));
        assert_eq!(first_signature(&[0]), None);
        assert_eq!(first_signature(&[1, 2, 3]), None);
    }

    #[test]
    fn empty_input_still_makes_one_request() {
        assert_eq!(chunks_of::<u8>(&[], 100).len(), 1);
        assert_eq!(chunks_of(&[0u8; 257], 256).len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_reply_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_reply::<UiWithContext<Vec<RawKeyedAccount>>>("getProgramAccounts", &body)
                .map(|r| RawKeyedAccount::decode_all(&r.value));
            let _ = parse_reply::<UiWithContext<Vec<Option<UiTransactionStatus>>>>("getSignatureStatuses", &body)
                .map(|r| r.value.into_iter().map(|s| s.map(UiTransactionStatus::decode)).collect::<Vec<_>>());
            let _ = parse_reply::<String>("sendTransaction", &body);
        }

        #[test]
        fn json_shaped_reply_bodies_never_panic(
            code in proptest::num::i64::ANY,
            err in "[A-Za-z{}\\[\\]:,\"0-9 ]{0,40}",
            logs in proptest::collection::vec("[ -~]{0,20}", 0..3),
        ) {
            let body = json!({"jsonrpc":"2.0","id":1,"error":{"code":code,"message":"m","data":{"err":err,"logs":logs}}});
            let _ = parse_reply::<String>("sendTransaction", body.to_string().as_bytes());
        }
    }
}

//! The RPC client against an in-process scripted JSON-RPC server: the exact request shapes it
//! sends, the real reply shapes it parses (from `shared/spec/solana-rpc.md`), and how each kind
//! of failure is classified and retried.

mod fake_rpc;

use std::time::Duration;

use doublezero_bgpstatus::rpc::{
    Client, ClientConfig, Commitment, ConfigError, Filter, InstructionErrorKind, RetryPolicy,
    RpcError, SendOptions, TransactionError, TransportKind,
};
use fake_rpc::{FakeRpc, Reply};
use serde_json::{json, Value};
use solana_hash::Hash;
use solana_pubkey::Pubkey;
use solana_signature::Signature;

fn b58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

fn key(n: u8) -> Pubkey {
    Pubkey::new_from_array([n; 32])
}

/// Retries without real waiting, so socket tests stay fast.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

fn client(server: &FakeRpc) -> Client {
    let mut config = ClientConfig::new(server.url());
    config.retry = fast_retry();
    Client::new(config).unwrap()
}

fn single_attempt(server: &FakeRpc) -> Client {
    let mut config = ClientConfig::new(server.url());
    config.retry.max_attempts = 1;
    Client::new(config).unwrap()
}

fn ui_account(owner: &Pubkey, data_b64: &str) -> Value {
    json!({
        "lamports": 2_039_280u64,
        "owner": b58(owner.as_ref()),
        "data": [data_b64, "base64"],
        "executable": false,
        "rentEpoch": 18446744073709551615u64,
        "space": 3
    })
}

fn params(request: &Value) -> &Value {
    &request["params"]
}

// ---- request shapes and reply parsing ---------------------------------------------------------

#[tokio::test]
async fn program_accounts_request_asks_base64_with_context_and_base58_memcmp() {
    let program = key(9);
    let body = json!({"context": {"slot": 1234, "apiVersion": "2.2.1"}, "value": [
        {"pubkey": b58(key(1).as_ref()), "account": ui_account(&program, "BwEC")},
    ]});
    let server = FakeRpc::start(vec![Reply::result(body)]).await;
    let rpc = client(&server);
    let filters = [
        Filter::Memcmp {
            offset: 1,
            bytes: key(5).as_ref().to_vec(),
        },
        Filter::DataSize(206),
    ];

    let reply = rpc
        .get_program_accounts(&program, &filters, Commitment::Confirmed)
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["jsonrpc"], "2.0");
    assert_eq!(requests[0]["method"], "getProgramAccounts");
    assert_eq!(
        params(&requests[0]),
        &json!([b58(program.as_ref()), {
            "encoding": "base64",
            "withContext": true,
            "commitment": "confirmed",
            "filters": [
                {"memcmp": {"offset": 1, "bytes": b58(key(5).as_ref()), "encoding": "base58"}},
                {"dataSize": 206}
            ]
        }])
    );
    assert_eq!(reply.slot, 1234);
    assert_eq!(reply.value.len(), 1);
    let keyed = &reply.value[0];
    assert_eq!(keyed.pubkey, key(1));
    assert_eq!(keyed.account.owner, program);
    assert_eq!(keyed.account.data, vec![7, 1, 2]);
    assert_eq!(keyed.account.rent_epoch, u64::MAX);
    assert_eq!(keyed.account.lamports, 2_039_280);
}

#[tokio::test]
async fn bytes_received_counts_reply_bodies_across_clones() {
    let reply = json!({"jsonrpc": "2.0", "id": 1, "result": 77});
    let len = reply.to_string().len() as u64;
    let server = FakeRpc::start(vec![Reply::Json(reply.clone()), Reply::Json(reply)]).await;
    let rpc = client(&server);
    let clone = rpc.clone();

    assert_eq!(rpc.get_slot(Commitment::Confirmed).await.unwrap(), 77);
    assert_eq!(clone.get_slot(Commitment::Confirmed).await.unwrap(), 77);

    assert_eq!(rpc.bytes_received(), 2 * len);
    assert_eq!(clone.bytes_received(), 2 * len);
}

#[tokio::test]
async fn more_than_four_filters_are_refused_before_sending() {
    let server = FakeRpc::start(vec![]).await;
    let rpc = client(&server);
    let filters = vec![Filter::DataSize(1); 5];

    let err = rpc
        .get_program_accounts(&key(9), &filters, Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::InvalidRequest { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn memcmp_pattern_over_128_bytes_is_refused_before_sending() {
    let server = FakeRpc::start(vec![]).await;
    let filters = [Filter::Memcmp {
        offset: 0,
        bytes: vec![1; 129],
    }];

    let err = client(&server)
        .get_program_accounts(&key(9), &filters, Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::InvalidRequest { .. }), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn missing_account_is_none() {
    let server = FakeRpc::start(vec![Reply::result(
        json!({"context": {"slot": 5}, "value": null}),
    )])
    .await;

    let reply = client(&server)
        .get_account_info(&key(3), Commitment::Finalized)
        .await
        .unwrap();

    assert_eq!(reply.slot, 5);
    assert!(reply.value.is_none());
    assert_eq!(
        params(&server.requests()[0]),
        &json!([b58(key(3).as_ref()), {"encoding": "base64", "commitment": "finalized"}])
    );
}

#[tokio::test]
async fn latest_blockhash_keeps_hash_height_and_slot() {
    let hash = Hash::new_from_array([7; 32]);
    let server = FakeRpc::start(vec![Reply::result(json!({
        "context": {"slot": 300},
        "value": {"blockhash": b58(hash.as_ref()), "lastValidBlockHeight": 450}
    }))])
    .await;

    let reply = client(&server)
        .get_latest_blockhash(Commitment::Confirmed)
        .await
        .unwrap();

    assert_eq!(reply.slot, 300);
    assert_eq!(reply.value.blockhash, hash);
    assert_eq!(reply.value.last_valid_block_height, 450);
    assert_eq!(
        params(&server.requests()[0]),
        &json!([{"commitment": "confirmed"}])
    );
}

#[tokio::test]
async fn height_slot_balance_and_health_send_their_commitment() {
    let server = FakeRpc::start(vec![
        Reply::result(json!(1000)),
        Reply::result(json!(2000)),
        Reply::result(json!({"context": {"slot": 2001}, "value": 5_000_000})),
        Reply::result(json!("ok")),
    ])
    .await;
    let rpc = client(&server);

    assert_eq!(
        rpc.get_block_height(Commitment::Finalized).await.unwrap(),
        1000
    );
    assert_eq!(rpc.get_slot(Commitment::Processed).await.unwrap(), 2000);
    let balance = rpc
        .get_balance(&key(4), Commitment::Confirmed)
        .await
        .unwrap();
    assert_eq!((balance.slot, balance.value), (2001, 5_000_000));
    rpc.get_health().await.unwrap();

    let requests = server.requests();
    let methods: Vec<&str> = requests
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        ["getBlockHeight", "getSlot", "getBalance", "getHealth"]
    );
    assert_eq!(params(&requests[0]), &json!([{"commitment": "finalized"}]));
    assert_eq!(params(&requests[1]), &json!([{"commitment": "processed"}]));
    assert_eq!(
        params(&requests[2]),
        &json!([b58(key(4).as_ref()), {"commitment": "confirmed"}])
    );
    assert_eq!(params(&requests[3]), &json!([]));
}

#[tokio::test]
async fn send_transaction_sends_base64_with_preflight_options() {
    let signature = Signature::from([3; 64]);
    let wire = [1u8, 2, 3, 4];
    let server = FakeRpc::start(vec![Reply::result(json!(b58(signature.as_ref())))]).await;

    let got = client(&server)
        .send_transaction(&wire, SendOptions::default())
        .await
        .unwrap();

    assert_eq!(got, signature);
    assert_eq!(
        params(&server.requests()[0]),
        &json!(["AQIDBA==", {
            "encoding": "base64",
            "skipPreflight": false,
            "preflightCommitment": "confirmed",
            "maxRetries": 0
        }])
    );
}

#[tokio::test]
async fn rebroadcast_options_skip_preflight_and_leave_max_retries_unset() {
    let signature = Signature::from([3; 64]);
    let server = FakeRpc::start(vec![Reply::result(json!(b58(signature.as_ref())))]).await;
    let options = SendOptions {
        skip_preflight: true,
        preflight_commitment: Commitment::Processed,
        max_retries: None,
    };

    client(&server)
        .send_transaction(&[1], options)
        .await
        .unwrap();

    assert_eq!(
        params(&server.requests()[0])[1],
        json!({"encoding": "base64", "skipPreflight": true, "preflightCommitment": "processed"})
    );
}

#[tokio::test]
async fn signature_other_than_the_transactions_own_is_malformed() {
    let mut wire = vec![1u8];
    wire.extend([5u8; 64]);
    wire.extend([0u8; 40]);
    let server = FakeRpc::start(vec![
        Reply::result(json!(b58(&[5; 64]))),
        Reply::result(json!(b58(&[6; 64]))),
    ])
    .await;
    let rpc = client(&server);

    let own = rpc
        .send_transaction(&wire, SendOptions::default())
        .await
        .unwrap();
    let err = rpc
        .send_transaction(&wire, SendOptions::default())
        .await
        .unwrap_err();

    assert_eq!(own, Signature::from([5; 64]));
    assert!(matches!(err, RpcError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = FakeRpc::start(vec![Reply::status(
        307,
        vec![("Location", "http://192.0.2.7:8899/".into())],
    )])
    .await;

    let err = client(&server)
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::Http { status: 307, .. }), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn oversized_transaction_is_refused_before_sending() {
    let server = FakeRpc::start(vec![]).await;

    let err = client(&server)
        .send_transaction(&[0; 1233], SendOptions::default())
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::InvalidRequest { .. }), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn preflight_blockhash_not_found_is_decoded_and_not_retried() {
    // Verbatim from agave's own test (solana-rpc.md §1.4).
    let verbatim = r#"{"jsonrpc":"2.0","error":{"code":-32002,
 "message":"Transaction simulation failed: Blockhash not found",
 "data":{"accounts":null,"err":"BlockhashNotFound","innerInstructions":null,
         "loadedAccountsDataSize":0,"logs":[],"replacementBlockhash":null,
         "returnData":null,"unitsConsumed":0}},"id":1}"#;
    let server = FakeRpc::start(vec![Reply::Http {
        status: 200,
        headers: vec![],
        body: verbatim.as_bytes().to_vec(),
    }])
    .await;

    let err = client(&server)
        .send_transaction(&[1], SendOptions::default())
        .await
        .unwrap_err();

    match &err {
        RpcError::PreflightFailure {
            err,
            logs,
            units_consumed,
            ..
        } => {
            assert_eq!(err, &TransactionError::BlockhashNotFound);
            assert!(logs.is_empty());
            assert_eq!(*units_consumed, Some(0));
        }
        other => panic!("want a preflight failure, got {other:?}"),
    }
    assert_eq!(err.json_rpc_code(), Some(-32002));
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn preflight_custom_program_error_keeps_index_code_and_logs() {
    let program = b58(key(9).as_ref());
    let logs = vec![
        format!("Program {program} invoke [1]"),
        "Program log: Error: user not activated".to_string(),
        format!("Program {program} failed: custom program error: 0x8"),
    ];
    let server = FakeRpc::start(vec![Reply::error(
        -32002,
        "Transaction simulation failed: Error processing Instruction 2: custom program error: 0x8",
        json!({"accounts": null, "err": {"InstructionError": [2, {"Custom": 8}]},
               "logs": logs, "unitsConsumed": 1234, "returnData": null}),
    )])
    .await;

    let err = client(&server)
        .send_transaction(&[1], SendOptions::default())
        .await
        .unwrap_err();

    let RpcError::PreflightFailure {
        err: tx_err,
        logs: got_logs,
        units_consumed,
        ..
    } = &err
    else {
        panic!("want a preflight failure, got {err:?}");
    };
    assert_eq!(
        tx_err,
        &TransactionError::InstructionError {
            index: 2,
            error: InstructionErrorKind::Custom(8)
        }
    );
    assert_eq!(got_logs, &logs);
    assert_eq!(*units_consumed, Some(1234));
    assert!(
        err.to_string().contains("custom program error: 0x8"),
        "{err}"
    );
}

#[tokio::test]
async fn signature_statuses_keep_nulls_errors_and_confirmation_levels() {
    let sigs = [
        Signature::from([1; 64]),
        Signature::from([2; 64]),
        Signature::from([3; 64]),
    ];
    let server = FakeRpc::start(vec![Reply::result(json!({
        "context": {"slot": 82},
        "value": [
            null,
            {"slot": 72, "confirmations": null, "err": null, "status": {"Ok": null},
             "confirmationStatus": "finalized"},
            {"slot": 80, "confirmations": 2,
             "err": {"InstructionError": [1, {"Custom": 8}]},
             "status": {"Err": {"InstructionError": [1, {"Custom": 8}]}},
             "confirmationStatus": "confirmed"}
        ]
    }))])
    .await;

    let reply = client(&server).get_signature_statuses(&sigs).await.unwrap();

    assert_eq!(
        params(&server.requests()[0]),
        &json!([sigs.iter().map(|s| b58(s.as_ref())).collect::<Vec<_>>()])
    );
    assert_eq!(reply.slot, 82);
    assert!(reply.value[0].is_none());
    let landed = reply.value[1].as_ref().unwrap();
    assert_eq!(landed.slot, 72);
    assert_eq!(landed.confirmations, None);
    assert_eq!(landed.err, None);
    assert_eq!(landed.confirmation_status, Some(Commitment::Finalized));
    let failed = reply.value[2].as_ref().unwrap();
    assert_eq!(failed.confirmations, Some(2));
    assert_eq!(failed.confirmation_status, Some(Commitment::Confirmed));
    assert_eq!(
        failed.err,
        Some(TransactionError::InstructionError {
            index: 1,
            error: InstructionErrorKind::Custom(8)
        })
    );
}

// ---- failure classes ---------------------------------------------------------------------------

#[tokio::test]
async fn http_429_is_retryable_and_carries_retry_after() {
    let server = FakeRpc::start(vec![Reply::status(429, vec![("Retry-After", "7".into())])]).await;

    let err = single_attempt(&server)
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::Http { status: 429, .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn http_403_is_fatal_and_not_retried() {
    let server = FakeRpc::start(vec![Reply::status(403, vec![])]).await;

    let err = client(&server)
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::Http { status: 403, .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn http_503_and_node_behind_are_retried_until_success() {
    let server = FakeRpc::start(vec![
        Reply::status(503, vec![]),
        Reply::error(
            -32005,
            "Node is behind by 42 slots",
            json!({"numSlotsBehind": 42}),
        ),
        Reply::status(429, vec![("Retry-After", "0".into())]),
        Reply::result(json!(99)),
    ])
    .await;

    let slot = client(&server)
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap();

    assert_eq!(slot, 99);
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn reads_give_up_after_four_attempts_with_the_last_error() {
    let server = FakeRpc::start(vec![Reply::status(502, vec![]); 5]).await;

    let err = client(&server)
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::Http { status: 502, .. }), "{err}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn invalid_params_is_fatal_and_not_retried() {
    let server = FakeRpc::start(vec![Reply::error(
        -32602,
        "Too many filters provided; max 4",
        Value::Null,
    )])
    .await;

    let err = client(&server)
        .get_program_accounts(&key(9), &[], Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(
        matches!(err, RpcError::JsonRpc { code: -32602, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn unhealthy_node_is_a_retryable_health_failure() {
    let server = FakeRpc::start(vec![Reply::error(
        -32005,
        "Node is unhealthy",
        json!({"numSlotsBehind": null}),
    )])
    .await;

    let err = single_attempt(&server).get_health().await.unwrap_err();

    assert_eq!(err.json_rpc_code(), Some(-32005));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn send_transaction_is_never_retried_even_on_transient_errors() {
    let server = FakeRpc::start(vec![
        Reply::status(503, vec![]),
        Reply::result(json!(b58(&[3; 64]))),
    ])
    .await;

    let err = client(&server)
        .send_transaction(&[1], SendOptions::default())
        .await
        .unwrap_err();

    assert!(err.is_retryable(), "the caller may resend: {err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn html_from_a_proxy_is_a_malformed_reply() {
    let server = FakeRpc::start(vec![Reply::Http {
        status: 200,
        headers: vec![],
        body: b"<html>bad gateway</html>".to_vec(),
    }])
    .await;

    let err = client(&server)
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(matches!(err, RpcError::Malformed { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn reply_over_the_body_cap_is_refused() {
    let big = vec![b' '; 4096];
    let server = FakeRpc::start(vec![
        Reply::Http {
            status: 200,
            headers: vec![],
            body: big.clone(),
        },
        Reply::Streamed(big),
    ])
    .await;
    let mut config = ClientConfig::new(server.url());
    config.max_body_bytes = 1024;
    let rpc = Client::new(config).unwrap();

    // Declared by Content-Length, then discovered while streaming without one.
    for _ in 0..2 {
        let err = rpc.get_slot(Commitment::Confirmed).await.unwrap_err();
        assert!(
            matches!(err, RpcError::BodyTooLarge { limit: 1024, .. }),
            "{err}"
        );
        assert!(!err.is_retryable());
    }
    assert_eq!(server.requests().len(), 2);
    assert!(rpc.bytes_received() <= 2048 + 4096);
}

#[tokio::test(start_paused = true)]
async fn server_that_never_answers_times_out() {
    let server = FakeRpc::start(vec![Reply::Hang]).await;

    let err = single_attempt(&server)
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            RpcError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn refused_connection_is_a_retryable_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut config = ClientConfig::new(url);
    config.retry.max_attempts = 1;

    let err = Client::new(config)
        .unwrap()
        .get_slot(Commitment::Confirmed)
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            RpcError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
}

// ---- configuration -----------------------------------------------------------------------------

#[test]
fn plain_http_to_a_remote_host_is_refused_naming_the_url() {
    let err = Client::new(ClientConfig::new("http://192.0.2.7:8899")).unwrap_err();

    assert!(matches!(err, ConfigError::InsecureHttp { .. }), "{err}");
    assert!(err.to_string().contains("http://192.0.2.7:8899"), "{err}");
}

#[test]
fn plain_http_to_a_remote_host_is_allowed_when_asked() {
    let mut config = ClientConfig::new("http://192.0.2.7:8899/path?api-key=secret");
    config.allow_insecure_http = true;

    let rpc = Client::new(config).unwrap();

    assert_eq!(rpc.endpoint(), "http://192.0.2.7:8899/…");
}

#[test]
fn https_endpoint_builds_with_system_roots() {
    let rpc = Client::new(ClientConfig::new("https://api.testnet.solana.com")).unwrap();

    assert_eq!(rpc.endpoint(), "https://api.testnet.solana.com");
}

#[test]
fn unreadable_or_empty_ca_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();

    for path in [dir.path().join("missing.pem"), empty] {
        let mut config = ClientConfig::new("https://api.testnet.solana.com");
        config.ca_file = Some(path.clone());
        let err = Client::new(config).unwrap_err();
        assert!(matches!(err, ConfigError::CaFile { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
    }
}

// ---- the URL's secrets never leave the client ---------------------------------------------------

/// Providers put API keys in the URL's path, query and userinfo.
const SECRETS: [&str; 3] = ["pathS3CRET", "queryS3CRET", "userS3CRET"];

fn secret_url(base: &str) -> String {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    format!("http://userS3CRET:pw@{authority}/pathS3CRET?api-key=queryS3CRET")
}

fn assert_no_secret(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[tokio::test]
async fn transport_errors_and_the_endpoint_never_carry_the_urls_secrets() {
    // Refused: nothing listens on the port any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    // Timed out: a server that never answers.
    let hang = FakeRpc::start(vec![Reply::Hang]).await;
    for (base, timeout) in [
        (refused, Duration::from_secs(5)),
        (hang.url(), Duration::from_millis(300)),
    ] {
        let mut config = ClientConfig::new(secret_url(&base));
        config.retry.max_attempts = 1;
        config.timeout = timeout;
        let client = Client::new(config).unwrap();
        assert_no_secret(client.endpoint());
        let err = client.get_slot(Commitment::Confirmed).await.unwrap_err();
        assert!(matches!(err, RpcError::Transport { .. }), "{err}");
        assert_no_secret(&err.to_string());
        assert_no_secret(&format!("{err:?}"));
    }
}

#[tokio::test]
async fn http_statuses_and_garbage_replies_never_carry_the_urls_secrets() {
    let server = FakeRpc::start(vec![
        Reply::status(401, vec![]),
        Reply::status(429, vec![("Retry-After", "1".into())]),
        Reply::status(500, vec![]),
        Reply::Http {
            status: 200,
            headers: vec![],
            body: b"<html>502 Bad Gateway</html>".to_vec(),
        },
    ])
    .await;
    let mut config = ClientConfig::new(secret_url(&server.url()));
    config.retry.max_attempts = 1;
    let client = Client::new(config).unwrap();
    for _ in 0..4 {
        let err = client.get_slot(Commitment::Confirmed).await.unwrap_err();
        assert_no_secret(&err.to_string());
        assert_no_secret(&format!("{err:?}"));
    }
}

#[test]
fn invalid_or_insecure_urls_are_refused_without_quoting_their_secrets() {
    for url in [
        "http://userS3CRET:pw@203.0.113.9/pathS3CRET?api-key=queryS3CRET",
        "htps://userS3CRET@rpc.example/pathS3CRET?api-key=queryS3CRET",
    ] {
        let err = Client::new(ClientConfig::new(url)).unwrap_err();
        assert_no_secret(&err.to_string());
        assert_no_secret(&format!("{err:?}"));
    }
}

//! Reading one device's view and discovering the agent's device, against a scripted RPC.

mod fake_rpc;
mod vectors;

use base64::Engine;
use doublezero_bgpstatus::metrics::CacheMetrics;
use doublezero_bgpstatus::rpc::{Client, ClientConfig, Commitment};
use doublezero_bgpstatus::serviceability::{
    discover_device, BgpStatus, DeviceView, FetchError, RpcSource, User, ViewSource,
};
use fake_rpc::{FakeRpc, Reply};
use prometheus::Registry;
use serde_json::{json, Value};
use solana_pubkey::Pubkey;
use vectors::{hex, A1, A2, B, DEVICE, PAYER, PROGRAM};

fn account(data: &[u8], owner: &str) -> Value {
    json!({
        "lamports": 3_000_000u64,
        "owner": owner,
        "data": [base64::engine::general_purpose::STANDARD.encode(data), "base64"],
        "executable": false,
        "rentEpoch": u64::MAX,
        "space": data.len(),
    })
}

fn keyed(pubkey: &str, data: &[u8]) -> Value {
    json!({"pubkey": pubkey, "account": account(data, PROGRAM)})
}

fn with_context(slot: u64, value: Value) -> Reply {
    Reply::result(json!({"context": {"slot": slot}, "value": value}))
}

fn source(rpc: &FakeRpc) -> (RpcSource, CacheMetrics) {
    let metrics = CacheMetrics::register(&Registry::new()).unwrap();
    let source = RpcSource {
        client: Client::new(ClientConfig::new(rpc.url())).unwrap(),
        program_id: PROGRAM.parse().unwrap(),
        device_pk: DEVICE.parse().unwrap(),
        commitment: Commitment::Confirmed,
        metrics: metrics.clone(),
    };
    (source, metrics)
}

#[tokio::test]
async fn a_device_view_holds_the_device_its_decodable_users_and_the_slot() {
    let rpc = FakeRpc::start(vec![
        with_context(99, account(&hex(B), PROGRAM)),
        with_context(
            100,
            json!([
                keyed("9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu", &hex(A1)),
                keyed("4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", &hex(A2)),
                keyed("CorruptUser11111111111111111111111111111111", &[7, 1, 2]),
            ]),
        ),
    ])
    .await;
    let (source, metrics) = source(&rpc);
    let view = source.fetch().await.unwrap();
    assert_eq!(view.slot, 100);
    assert_eq!(view.device.code, "dz-ny7");
    assert_eq!(view.users.len(), 2);
    assert_eq!(view.users[0].1.bgp_status, BgpStatus::Up);
    assert_eq!(
        metrics.decode_failures.with_label_values(&["user"]).get(),
        1
    );
    assert_eq!(
        metrics.bytes_fetched.get(),
        (hex(B).len() + hex(A1).len() + hex(A2).len() + 3) as u64
    );

    let requests = rpc.requests();
    assert_eq!(requests[0]["method"], "getAccountInfo");
    assert_eq!(requests[0]["params"][0], DEVICE);
    assert_eq!(requests[1]["method"], "getProgramAccounts");
    assert_eq!(
        requests[1]["params"][1]["filters"][1]["memcmp"]["offset"],
        83
    );
    assert_eq!(requests[1]["params"][1]["commitment"], "confirmed");
}

#[tokio::test]
async fn a_device_with_a_tail_in_an_unknown_layout_still_gives_a_view_and_is_counted() {
    let mut device = hex(B);
    // An interface tag this build does not know, in the legacy list after the publisher.
    device[215] = 9;
    let rpc = FakeRpc::start(vec![
        with_context(99, account(&device, PROGRAM)),
        with_context(
            100,
            json!([keyed(
                "9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu",
                &hex(A1)
            )]),
        ),
    ])
    .await;
    let (source, metrics) = source(&rpc);
    let view = source.fetch().await.unwrap();
    assert_eq!(view.users.len(), 1);
    assert!(view.device.tail_error.is_some());
    assert_eq!(
        metrics
            .decode_failures
            .with_label_values(&["device_tail"])
            .get(),
        1
    );
}

#[tokio::test]
async fn a_missing_device_account_is_a_clear_error() {
    let rpc = FakeRpc::start(vec![with_context(5, Value::Null)]).await;
    let err = source(&rpc).0.fetch().await.unwrap_err();
    assert!(matches!(err, FetchError::DeviceNotFound(_)));
    assert!(err.to_string().contains(DEVICE));
}

#[tokio::test]
async fn a_device_owned_by_another_program_is_refused() {
    let rpc = FakeRpc::start(vec![with_context(
        5,
        account(&hex(B), "11111111111111111111111111111111"),
    )])
    .await;
    let err = source(&rpc).0.fetch().await.unwrap_err();
    assert!(matches!(err, FetchError::DeviceWrongOwner { .. }), "{err}");
}

#[tokio::test]
async fn discovery_finds_the_one_device_whose_metrics_publisher_is_the_signer() {
    let mut other = hex(B);
    other[139] ^= 0xff; // another metrics publisher
    let rpc = FakeRpc::start(vec![with_context(
        7,
        json!([
            keyed(&Pubkey::new_from_array([9; 32]).to_string(), &other),
            keyed(DEVICE, &hex(B)),
        ]),
    )])
    .await;
    let client = Client::new(ClientConfig::new(rpc.url())).unwrap();
    let (pubkey, device) = discover_device(
        &client,
        &PROGRAM.parse().unwrap(),
        &PAYER.parse().unwrap(),
        Commitment::Confirmed,
    )
    .await
    .unwrap();
    assert_eq!(pubkey.to_string(), DEVICE);
    assert_eq!(device.code, "dz-ny7");
    assert_eq!(
        rpc.requests()[0]["params"][1]["filters"],
        json!([{"memcmp": {"offset": 0, "bytes": "6", "encoding": "base58"}}])
    );
}

#[tokio::test]
async fn discovery_with_no_or_several_matching_devices_names_the_signer_and_candidates() {
    let signer: Pubkey = PAYER.parse().unwrap();
    let twin = Pubkey::new_from_array([8; 32]);
    let rpc = FakeRpc::start(vec![
        with_context(7, json!([])),
        with_context(
            7,
            json!([keyed(DEVICE, &hex(B)), keyed(&twin.to_string(), &hex(B)),]),
        ),
    ])
    .await;
    let client = Client::new(ClientConfig::new(rpc.url())).unwrap();
    let program = PROGRAM.parse().unwrap();
    let none = discover_device(&client, &program, &signer, Commitment::Confirmed)
        .await
        .unwrap_err();
    assert!(matches!(
        none,
        FetchError::NoDeviceForSigner { scanned: 0, .. }
    ));
    assert!(none.to_string().contains(PAYER));
    let several = discover_device(&client, &program, &signer, Commitment::Confirmed)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        several.contains(DEVICE) && several.contains(&twin.to_string()),
        "{several}"
    );
    assert!(several.contains("dz-ny7"));
}

/// Each fetch serves exactly what it read: a changed account is decoded anew, a gone one is
/// gone, and an account that does not decode is counted on every fetch.
#[tokio::test]
async fn each_fetch_serves_exactly_the_accounts_it_read_whatever_the_last_held() {
    const X: &str = "9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu";
    const Y: &str = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T";
    const Z: &str = "CorruptUser11111111111111111111111111111111";
    let device = || with_context(99, account(&hex(B), PROGRAM));
    let rpc = FakeRpc::start(vec![
        device(),
        with_context(
            100,
            json!([keyed(X, &hex(A1)), keyed(Y, &hex(A2)), keyed(Z, &[7, 1])]),
        ),
        device(),
        with_context(
            101,
            json!([keyed(X, &hex(A2)), keyed(Y, &hex(A2)), keyed(Z, &[7, 1])]),
        ),
        device(),
        with_context(102, json!([keyed(X, &hex(A1))])),
    ])
    .await;
    let (source, metrics) = source(&rpc);
    let user = |data: &str| User::decode(&hex(data)).unwrap();
    let users = |view: &DeviceView| -> Vec<(String, User)> {
        let mut users: Vec<_> = view
            .users
            .iter()
            .map(|(pk, user)| (pk.to_string(), user.clone()))
            .collect();
        users.sort_by(|a, b| a.0.cmp(&b.0));
        users
    };
    let mut expected = vec![(X.to_string(), user(A1)), (Y.to_string(), user(A2))];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(users(&source.fetch().await.unwrap()), expected);

    let second = source.fetch().await.unwrap();
    let mut expected = vec![(X.to_string(), user(A2)), (Y.to_string(), user(A2))];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(users(&second), expected);
    assert_eq!(
        metrics.decode_failures.with_label_values(&["user"]).get(),
        2
    );

    let third = source.fetch().await.unwrap();
    assert_eq!(users(&third), [(X.to_string(), user(A1))]);
    assert_eq!(
        metrics.bytes_fetched.get(),
        (3 * hex(B).len() + 2 * hex(A1).len() + 3 * hex(A2).len() + 2 * 2) as u64
    );
}

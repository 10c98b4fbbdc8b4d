//! `users` against a scripted RPC: golden files for the table and the JSON, the filters it
//! sends, and an undecodable account reported and skipped.

mod fake_rpc;
mod golden;
mod vectors;

use base64::Engine;
use clap::Parser;
use doublezero_bgpstatus::cli::users;
use fake_rpc::{FakeRpc, Reply};
use serde_json::{json, Value};
use vectors::{hex, A1, A2, DEVICE, PROGRAM};

/// The `users` subcommand's arguments, parsed as the binary parses them.
#[derive(Parser)]
struct UsersArgs {
    #[command(flatten)]
    args: users::Args,
}

const CORRUPT_USER: &str = "CorruptUser11111111111111111111111111111111";

fn keyed(pubkey: &str, data: &[u8]) -> Value {
    json!({
        "pubkey": pubkey,
        "account": {
            "lamports": 2_449_920u64,
            "owner": PROGRAM,
            "data": [base64::engine::general_purpose::STANDARD.encode(data), "base64"],
            "executable": false,
            "rentEpoch": u64::MAX,
            "space": data.len(),
        }
    })
}

async fn users_output(extra: &[&str]) -> (String, String, Vec<Value>) {
    let mut truncated_prefix = hex(A2);
    truncated_prefix.truncate(100);
    let rpc = FakeRpc::start(vec![Reply::result(json!({
        "context": {"slot": 4242, "apiVersion": "2.2.0"},
        "value": [
            keyed("9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu", &hex(A1)),
            keyed("4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", &hex(A2)),
            keyed(CORRUPT_USER, &truncated_prefix),
        ]
    }))])
    .await;
    let url = rpc.url();
    let mut argv = vec!["users", "--rpc-url", &url, "--program-id", PROGRAM];
    argv.extend_from_slice(extra);
    let args = UsersArgs::try_parse_from(argv).unwrap().args;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    users::run(args, &mut out, &mut err).await.unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        rpc.requests(),
    )
}

#[tokio::test]
async fn users_table_matches_the_golden_file_and_reports_the_corrupt_account() {
    let (out, err, _) = users_output(&["--device", DEVICE]).await;
    golden::assert_matches("users.txt", &out);
    assert_eq!(
        err,
        format!(
            "warning: skipping user account {CORRUPT_USER}: the account ends inside `device_pk`: \
             32 bytes needed at offset 83, 17 left\n"
        )
    );
}

#[tokio::test]
async fn users_json_has_exactly_the_documented_keys_and_matches_the_golden_file() {
    let (out, _, _) = users_output(&["--device", DEVICE, "--json"]).await;
    golden::assert_matches("users.json", &out);
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 2);
    let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    let mut expected = vec![
        "pubkey",
        "device_pk",
        "user_type",
        "status",
        "tunnel_id",
        "tunnel_net",
        "client_ip",
        "dz_ip",
        "bgp_status",
        "last_bgp_up_at",
        "last_bgp_reported_at",
        "bgp_rtt_ns",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert!(rows[0]["last_bgp_up_at"].is_u64() && rows[0]["bgp_rtt_ns"].is_u64());
}

#[tokio::test]
async fn users_of_one_device_are_selected_by_type_and_device_filters() {
    let (_, _, requests) = users_output(&["--device", DEVICE]).await;
    assert_eq!(requests.len(), 1);
    let params = &requests[0]["params"];
    assert_eq!(params[0], PROGRAM);
    assert_eq!(params[1]["encoding"], "base64");
    assert_eq!(
        params[1]["filters"],
        json!([
            {"memcmp": {"offset": 0, "bytes": "8", "encoding": "base58"}},
            {"memcmp": {"offset": 83, "bytes": DEVICE, "encoding": "base58"}},
        ])
    );
}

#[tokio::test]
async fn users_of_all_devices_filter_on_the_account_type_only() {
    let (_, _, requests) = users_output(&[]).await;
    assert_eq!(
        requests[0]["params"][1]["filters"],
        json!([{"memcmp": {"offset": 0, "bytes": "8", "encoding": "base58"}}])
    );
}

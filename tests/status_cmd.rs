//! `status` against a fixed `/status` served by a tiny in-test listener: golden files for the
//! table and the JSON, one user's row, an unknown user, colour only when asked, and the message
//! when no agent is running.

mod golden;
use clap::Parser;
use doublezero_bgpstatus::cli::status;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The `status` subcommand's arguments, parsed as the binary parses them.
#[derive(Parser)]
struct StatusArgs {
    #[command(flatten)]
    args: status::Args,
}

const REFUSED: &str = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T";
const IN_SYNC: &str = "9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu";
const DAMPENED: &str = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV";

/// A snapshot with one user in each kind of state the table sorts, deliberately out of order.
fn snapshot() -> Value {
    let row = |pubkey: &str, why: &str, detail: Option<&str>, until_s: Option<f64>| {
        json!({
            "pubkey": pubkey,
            "tunnel_net": "169.254.0.0/31",
            "peer": "169.254.0.1",
            "tunnel": "up",
            "tunnel_interface": "Tunnel500",
            "vrf": "vrf1",
            "session": "established",
            "drift": null,
            "chain_status": "up",
            "chain_slot": 4200,
            "rtt_ns": 1_250_000,
            "wanted": "up",
            "why": why,
            "detail": detail,
            "until_s": until_s,
            "until_unix": until_s.map(|s| 1_750_000_000 + s as u64),
            "flap_penalty": 0.0,
            "transitions": 0,
        })
    };
    let mut dampened = row(
        DAMPENED,
        "dampened",
        Some("flapping; released in 840s if quiet"),
        Some(840.0),
    );
    dampened["session"] = json!("Active");
    dampened["wanted"] = json!("down");
    dampened["flap_penalty"] = json!(2890.4);
    dampened["transitions"] = json!(4);
    let mut refused = row(
        REFUSED,
        "refused",
        Some("refused by the program: custom program error 0x2a; retried in 600s"),
        Some(600.0),
    );
    refused["chain_status"] = json!("unknown");
    refused["chain_slot"] = json!(0);
    refused["rtt_ns"] = json!(0);
    refused["drift"] = json!("the tunnel is in VRF vrf1 but the BGP session is in VRF default");
    json!({
        "version": "0.1.0",
        "at": 1_750_000_000u64,
        "device": "Dev1ce1111111111111111111111111111111111111",
        "device_code": "ams-dz01",
        "signer": "Pub1isher111111111111111111111111111111111",
        "error": null,
        "observation": {"at": 1_749_999_998u64, "ok": true, "error": null, "peers": 3, "tunnels": 3},
        "view": {"slot": 4321, "age_s": 0.4, "stale": false, "error": null},
        "stream": {"addr": "unix:///var/run/eos-sdk-rpc.sock", "connected": true, "since": 1_749_990_000u64, "last_event": 1_749_999_990u64, "error": null, "reconnects": 1, "interfaces_watched": true, "interfaces_error": null},
        "outbox": {"in_flight": 0, "last_signature": "5ig1111111111111111111111111111111111111111111111111111111111111111111111111111111111", "last_error": "custom program error 0x2a"},
        "users": [
            row(IN_SYNC, "in_sync", Some("refresh due in 21540s"), Some(21540.0)),
            dampened,
            refused,
        ],
    })
}

/// Serves `body` as `/status` to every connection; returns the address.
async fn serve(body: Value) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = serde_json::to_vec_pretty(&body).unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = [0u8; 1024];
            let n = stream.read(&mut head).await.unwrap_or(0);
            assert!(head[..n].starts_with(b"GET /status HTTP/1.1\r\n"));
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
    });
    addr
}

async fn status_output(
    addr: std::net::SocketAddr,
    extra: &[&str],
    color: bool,
) -> anyhow::Result<String> {
    let addr = addr.to_string();
    let mut argv = vec!["status", "--metrics-addr", &addr];
    argv.extend_from_slice(extra);
    let args = StatusArgs::try_parse_from(argv).unwrap().args;
    let mut out = Vec::new();
    status::run(args, &mut out, color).await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn status_table_puts_problems_first_and_matches_the_golden_file() {
    let out = status_output(serve(snapshot()).await, &[], false)
        .await
        .unwrap();
    golden::assert_matches("status.txt", &out);
    let order: Vec<usize> = [REFUSED, DAMPENED, IN_SYNC]
        .iter()
        .map(|pk| out.find(&format!("\n{pk}")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert!(!out.contains('\x1b'), "no colour unless asked");
}

#[tokio::test]
async fn status_json_passes_the_agents_snapshot_through() {
    let out = status_output(serve(snapshot()).await, &["--json"], false)
        .await
        .unwrap();
    golden::assert_matches("status.json", &out);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), snapshot());
}

#[tokio::test]
async fn status_of_one_user_keeps_only_its_row() {
    let addr = serve(snapshot()).await;
    let out = status_output(addr, &["--user", DAMPENED, "--json"], false)
        .await
        .unwrap();
    let rows = serde_json::from_str::<Value>(&out).unwrap()["users"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["pubkey"], DAMPENED);

    let table = status_output(addr, &["--user", DAMPENED], false)
        .await
        .unwrap();
    assert!(
        table.contains(DAMPENED) && !table.contains(IN_SYNC),
        "{table}"
    );
}

#[tokio::test]
async fn status_of_an_unknown_user_says_it_is_not_considered() {
    let stranger = "11111111111111111111111111111112";
    let error = status_output(serve(snapshot()).await, &["--user", stranger], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(stranger) && error.contains("not among the 3 users"),
        "{error}"
    );
}

#[tokio::test]
async fn status_colours_the_reason_only_when_asked_and_keeps_columns_aligned() {
    let addr = serve(snapshot()).await;
    let plain = status_output(addr, &[], false).await.unwrap();
    let coloured = status_output(addr, &[], true).await.unwrap();
    assert!(coloured.contains("\x1b[31mrefused"), "{coloured}");
    let stripped = coloured
        .replace("\x1b[31m", "")
        .replace("\x1b[32m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[0m", "");
    assert_eq!(stripped, plain);
}

#[tokio::test]
async fn status_without_a_running_agent_says_how_to_start_it() {
    // A port that was free a moment ago: nothing listens there now.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = status_output(addr, &[], false)
        .await
        .unwrap_err()
        .to_string();
    for needed in [
        "no agent is answering on",
        "connection refused",
        "daemon doublezero-bgpstatus",
        "no shutdown",
        "doublezero-bgpstatus run",
        "--metrics-enable",
        &addr.to_string(),
    ] {
        assert!(error.contains(needed), "missing {needed:?} in:\n{error}");
    }
}

#[test]
fn status_from_a_namespace_that_does_not_exist_says_which() {
    use clap::Parser as _;
    let cli = doublezero_bgpstatus::cli::Cli::try_parse_from([
        "doublezero-bgpstatus",
        "status",
        "--management-namespace",
        "ns-does-not-exist",
    ])
    .unwrap();
    let err = cli.run().unwrap_err().to_string();
    assert!(err.contains("ns-does-not-exist"), "{err}");
}

//! The `peers` command's output, pinned by golden files, read from the in-test EOS.
//! Regenerate the goldens with `UPDATE_GOLDEN=1 cargo test --test peers_cli`.

mod golden;
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use doublezero_bgpstatus::cli::peers::{self, Args};
use doublezero_bgpstatus::switch;
use support::{FakeEos, Outcome, Switch};

/// `show ip interface` with the device side of 10.0.0.1's /31 on Tunnel500 (up) and an unrelated
/// tunnel that is down, in the shape of the recorded goeapi sample.
const INTERFACES: &str = r#"{"interfaces": {
    "Tunnel500": {"name": "Tunnel500", "vrf": "default", "interfaceStatus": "connected",
        "lineProtocolStatus": "up", "interfaceAddress": {"primaryIp": {"address": "10.0.0.0", "maskLen": 31}}},
    "Tunnel501": {"name": "Tunnel501", "vrf": "default", "interfaceStatus": "notconnect",
        "lineProtocolStatus": "down", "interfaceAddress": {"primaryIp": {"address": "169.254.9.0", "maskLen": 31}}}
}}"#;

fn with_interfaces(switch: Switch) -> Switch {
    switch.answer("show ip interface", Outcome::Result(INTERFACES.into()))
}

fn switch() -> Switch {
    with_interfaces(Switch::new().with_summaries(
        "napalm-2024-show_ip_bgp_summary_vrf_all.json",
        "napalm-eos4.30.5M-asdot-linklocal-show_ipv6_bgp_summary_vrf_all.json",
    ))
}

#[tokio::test]
async fn peers_json_lists_every_session_sorted_by_vrf_then_peer() {
    let eos = FakeEos::switch(switch()).await;
    let args = Args {
        eapi_socket: eos.path().to_owned(),
        json: true,
        eos_sdk_rpc_addr: None,
    };
    let output = peers::render(&args).await.unwrap();
    golden::assert_matches("peers.json", &output);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&output).unwrap();
    for row in &rows {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "asn",
                "established",
                "peer",
                "state",
                "tunnel",
                "tunnel_status",
                "up_down_time",
                "vrf"
            ]
        );
    }
    let on_tunnel: Vec<_> = rows.iter().filter(|r| !r["tunnel"].is_null()).collect();
    assert_eq!(on_tunnel.len(), 1, "only 10.0.0.1 sits on a tunnel");
    assert_eq!(on_tunnel[0]["peer"], "10.0.0.1");
    assert_eq!(on_tunnel[0]["tunnel"], "Tunnel500");
    assert_eq!(on_tunnel[0]["tunnel_status"], "up");
}

#[tokio::test]
async fn peers_table_is_aligned_with_ages() {
    let eos = FakeEos::switch(switch()).await;
    let state = switch::observe(&eos.client(), switch::Summaries::Both)
        .await
        .unwrap();
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(1_721_160_000);
    golden::assert_matches("peers.txt", &peers::render_table(&state, now));
}

#[tokio::test]
async fn peers_on_a_switch_without_bgp_says_so() {
    let eos = FakeEos::switch(with_interfaces(Switch::new().with_summaries(
        "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
        "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
    )))
    .await;
    let args = Args {
        eapi_socket: eos.path().to_owned(),
        json: false,
        eos_sdk_rpc_addr: None,
    };
    assert_eq!(
        peers::render(&args).await.unwrap(),
        "no BGP sessions\nsource: eAPI (show ip bgp summary vrf all, show ipv6 bgp summary vrf all)\n"
    );
    let args = Args {
        eapi_socket: eos.path().to_owned(),
        json: true,
        eos_sdk_rpc_addr: None,
    };
    assert_eq!(peers::render(&args).await.unwrap(), "[]\n");
}

#[tokio::test]
async fn peers_without_a_socket_fails_with_the_configuration_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let args = Args {
        eapi_socket: dir.path().join("missing.sock"),
        json: false,
        eos_sdk_rpc_addr: None,
    };
    let err = peers::render(&args).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("protocol unix-socket"),
        "{err:#}"
    );
}

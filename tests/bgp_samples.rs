//! Every recorded BGP summary and neighbours sample, served by the in-test EOS over a unix
//! socket and read into the peer table or the RTT map, with its content pinned.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use doublezero_bgpstatus::bgp::{self, Asn, PeerKey, PeerState, PeerTable};
use doublezero_bgpstatus::eapi::{Client, EapiError, Request};
use doublezero_bgpstatus::switch;
use serde_json::{json, Value};
use support::{fixture, FakeEos, Outcome, Switch};

/// Sessions per (VRF, state), the shape each sample is pinned by.
fn counts(table: &PeerTable) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for peer in table.iter() {
        *counts
            .entry((peer.vrf.to_string(), peer.state.to_string()))
            .or_default() += 1;
    }
    counts
}

fn count(entries: &[(&str, &str, usize)]) -> BTreeMap<(String, String), usize> {
    entries
        .iter()
        .map(|(vrf, state, n)| ((vrf.to_string(), state.to_string()), *n))
        .collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

async fn read(ipv4: &str, ipv6: &str) -> Result<PeerTable, EapiError> {
    let eos = FakeEos::switch(Switch::new().with_summaries(ipv4, ipv6)).await;
    fetch_peers(&eos.client()).await
}

/// Both summaries in one request, read into the table as `switch::observe` reads them.
async fn fetch_peers(client: &Client) -> Result<PeerTable, EapiError> {
    let reply = client
        .execute(&Request::new().commands(bgp::summary_commands()))
        .await?;
    PeerTable::from_reply(&reply, 0..2)
}

#[tokio::test]
async fn veos_2016_numeric_asn_summaries_give_established_and_active_peers() {
    let table = read(
        "napalm-2016-vEOS-show_ip_bgp_summary_vrf_all.json",
        "napalm-2016-vEOS-show_ipv6_bgp_summary_vrf_all.json",
    )
    .await
    .unwrap();
    assert_eq!(
        counts(&table),
        count(&[("default", "Established", 2), ("default", "Active", 1)])
    );
    let up = table.lookup(ip("192.168.56.2")).next().unwrap();
    assert_eq!(
        (&*up.vrf, &up.state, up.asn.as_ref().map(Asn::as_str)),
        ("default", &PeerState::Established, Some("65002"))
    );
    assert_eq!(up.up_down_time, Some(1452680643.198489));
    let active = table.lookup(ip("192.168.56.4")).next().unwrap();
    assert!(!active.is_established());
    assert_eq!(active.asn.as_ref().map(Asn::as_str), Some("65001"));
    assert!(table
        .lookup(ip("2001:7f8::f10:0:2"))
        .next()
        .unwrap()
        .is_established());
}

#[tokio::test]
async fn eos_2024_string_asn_summaries_give_four_peers_one_active() {
    let table = read(
        "napalm-2024-show_ip_bgp_summary_vrf_all.json",
        "napalm-2024-show_ipv6_bgp_summary_vrf_all.json",
    )
    .await
    .unwrap();
    assert_eq!(
        counts(&table),
        count(&[("default", "Established", 3), ("default", "Active", 1)])
    );
    let active = table.lookup(ip("10.0.0.3")).next().unwrap();
    assert_eq!(
        (
            active.state.as_str(),
            active.asn.as_ref().map(Asn::as_str),
            active.up_down_time
        ),
        ("Active", Some("65003"), Some(1721080524.898363))
    );
    let v6 = table
        .get("default", &"2001:fb8:200::2".parse().unwrap())
        .unwrap();
    assert!(v6.is_established());
    assert!(table.lookup(ip("10.0.0.2")).next().is_none());
}

#[tokio::test]
async fn eos_4_30_link_local_peers_in_both_summaries_are_one_session_each() {
    let table = read(
        "napalm-eos4.30.5M-asdot-linklocal-show_ip_bgp_summary_vrf_all.json",
        "napalm-eos4.30.5M-asdot-linklocal-show_ipv6_bgp_summary_vrf_all.json",
    )
    .await
    .unwrap();
    assert_eq!(counts(&table), count(&[("default", "Established", 3)]));
    let peers: Vec<_> = table.lookup(ip("fe80::a8c1:abff:fe94:4171")).collect();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].addr.scope(), Some("Et3"));
    assert_eq!(peers[0].asn.as_ref().map(Asn::as_str), Some("65001.1028"));
    // The IPv6 copy changed state a microsecond later, so it is the current one.
    assert_eq!(peers[0].up_down_time, Some(1721149910.529753));
}

#[tokio::test]
async fn eos_4_22_vrfs_without_peers_are_a_successful_empty_read() {
    let table = read(
        "napalm-nopeers-show_ip_bgp_summary_vrf_all.json",
        "napalm-eos4.22-multivrf-show_ipv6_bgp_summary_vrf_all.json",
    )
    .await
    .unwrap();
    assert!(table.is_empty());
}

#[tokio::test]
async fn empty_vrfs_is_an_empty_successful_observation() {
    let table = read(
        "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
        "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
    )
    .await
    .unwrap();
    assert_eq!(table.len(), 0);
}

#[tokio::test]
async fn bgp_inactive_is_an_empty_successful_observation() {
    // Shape from spec §1.5 (error 1000, `data[].errors` = "BGP inactive"); no recording exists.
    let switch = Switch::new().answer(
        "show ip bgp summary vrf all",
        Outcome::Error(1000, vec!["BGP inactive".into()]),
    );
    let eos = FakeEos::switch(switch).await;
    let table = fetch_peers(&eos.client()).await.unwrap();
    assert!(table.is_empty());
}

#[tokio::test]
async fn bgp_inactive_after_a_read_summary_is_a_failed_observation() {
    // The IPv4 summary listed sessions, so an "inactive" IPv6 summary is not "no sessions".
    let switch = Switch::new()
        .answer(
            "show ip bgp summary vrf all",
            Outcome::Result(fixture("napalm-2024-show_ip_bgp_summary_vrf_all.json")),
        )
        .answer(
            "show ipv6 bgp summary vrf all",
            Outcome::Error(1000, vec!["BGP inactive".into()]),
        );
    let eos = FakeEos::switch(switch).await;
    let err = fetch_peers(&eos.client()).await.unwrap_err();
    assert!(
        matches!(&err, EapiError::Command { code: 1000, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn other_command_failures_are_a_failed_observation_not_zero_peers() {
    let switch = Switch::new()
        .answer(
            "show ip bgp summary vrf all",
            Outcome::Result(fixture("napalm-2024-show_ip_bgp_summary_vrf_all.json")),
        )
        .answer(
            "show ipv6 bgp summary vrf all",
            Outcome::Error(1005, vec!["Command unauthorized".into()]),
        );
    let eos = FakeEos::switch(switch).await;
    let err = fetch_peers(&eos.client()).await.unwrap_err();
    let EapiError::Command {
        code: 1005,
        failures,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(failures[0].command, "show ipv6 bgp summary vrf all");
}

#[tokio::test]
async fn summary_of_the_wrong_shape_is_a_model_error() {
    let switch = Switch::new()
        .answer(
            "show ip bgp summary vrf all",
            Outcome::Result(r#"{"vrfs": {"default": {"peers": []}}}"#.into()),
        )
        .answer(
            "show ipv6 bgp summary vrf all",
            Outcome::Result(r#"{"vrfs": {}}"#.into()),
        );
    let eos = FakeEos::switch(switch).await;
    let err = fetch_peers(&eos.client()).await.unwrap_err();
    assert!(
        matches!(&err, EapiError::Model { command, .. } if command == "show ip bgp summary vrf all"),
        "{err:?}"
    );
}

#[tokio::test]
async fn summary_request_pins_revision_1_for_both_address_families() {
    let eos = FakeEos::switch(Switch::new().with_summaries(
        "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
        "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
    ))
    .await;
    fetch_peers(&eos.client()).await.unwrap();
    let (_, body) = eos.requests().pop().unwrap();
    assert_eq!(
        body["params"]["cmds"],
        json!([{"cmd": "show ip bgp summary vrf all", "revision": 1}, {"cmd": "show ipv6 bgp summary vrf all", "revision": 1}])
    );
}

fn key(vrf: &str, addr: &str) -> PeerKey {
    PeerKey {
        vrf: vrf.into(),
        addr: addr.parse().unwrap(),
    }
}

#[test]
fn neighbour_samples_give_snd_rtt_in_microseconds() {
    let v4 = bgp::rtts_from_neighbors(&fixture("napalm-2024-show_ip_bgp_neighbors_vrf_all.json"))
        .unwrap();
    assert_eq!(v4.len(), 1, "the Active peer has no TCP info");
    assert_eq!(v4[&key("default", "10.0.0.1")], Duration::from_micros(4287));
    let v6 =
        bgp::rtts_from_neighbors(&fixture("napalm-2024-show_ipv6_bgp_peers_vrf_all.json")).unwrap();
    assert_eq!(
        v6[&key("default", "2001:fb8:100::2")],
        Duration::from_micros(19886)
    );
    assert_eq!(
        v6[&key("default", "2001:fb8:200::2")],
        Duration::from_micros(71654)
    );
    let link_local = bgp::rtts_from_neighbors(&fixture(
        "napalm-eos4.30.5M-asdot-linklocal-show_ipv6_bgp_peers_vrf_all.json",
    ))
    .unwrap();
    assert_eq!(link_local.len(), 3);
    assert_eq!(
        link_local[&key("default", "fe80::a8c1:abff:fe94:4171%Et3")],
        Duration::from_micros(5738)
    );
    for empty in [
        "napalm-eos4.30.5M-asdot-linklocal-show_ip_bgp_neighbors_vrf_all.json",
        "napalm-nopeers-show_ip_bgp_neighbors_vrf_all.json",
    ] {
        assert!(
            bgp::rtts_from_neighbors(&fixture(empty))
                .unwrap()
                .is_empty(),
            "{empty}"
        );
    }
}

/// What `show … neighbors <peer> vrf <vrf>` returns: the `vrf all` sample cut to one peer.
fn one_peer(sample: &str, addr: &str) -> Outcome {
    let all: Value = serde_json::from_str(&fixture(sample)).unwrap();
    let peer = all["vrfs"]["default"]["peerList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|peer| peer["peerAddress"] == json!(addr))
        .unwrap()
        .clone();
    Outcome::Result(json!({"vrfs": {"default": {"peerList": [peer]}}}).to_string())
}

#[tokio::test]
async fn rtts_come_in_one_request_and_missing_peers_just_have_none() {
    let switch = Switch::new()
        .answer(
            "show ip bgp neighbors 10.0.0.1 vrf default",
            one_peer("napalm-2024-show_ip_bgp_neighbors_vrf_all.json", "10.0.0.1"),
        )
        .answer(
            "show ip bgp neighbors 10.0.0.3 vrf default",
            one_peer("napalm-2024-show_ip_bgp_neighbors_vrf_all.json", "10.0.0.3"),
        )
        .answer(
            "show ipv6 bgp peers 2001:fb8:100::2 vrf default",
            one_peer(
                "napalm-2024-show_ipv6_bgp_peers_vrf_all.json",
                "2001:fb8:100::2",
            ),
        )
        .answer(
            "show ipv6 bgp peers fe80::a8c1:abff:fe94:4171%Et3 vrf default",
            one_peer(
                "napalm-eos4.30.5M-asdot-linklocal-show_ipv6_bgp_peers_vrf_all.json",
                "fe80::a8c1:abff:fe94:4171%Et3",
            ),
        )
        .answer(
            "show ip bgp neighbors 10.0.0.7 vrf default",
            Outcome::Result(r#"{"vrfs": {}}"#.into()),
        );
    let eos = FakeEos::switch(switch).await;
    let wanted = [
        key("default", "10.0.0.1"),
        key("default", "10.9.9.9"), // not configured: the switch answers with a command error
        key("default", "10.0.0.3"),
        key("default", "2001:fb8:100::2"),
        key("default", "10.0.0.7"),
        key("default", "fe80::a8c1:abff:fe94:4171%Et3"),
    ];
    // A few of many sessions: one command each.
    let sessions = HashMap::from([(bgp::Vrf::from("default"), 100)]);
    let rtts = switch::fetch_rtts(&eos.client(), &wanted, &sessions, far_deadline()).await;
    assert_eq!(rtts.len(), 3, "{rtts:?}");
    assert_eq!(rtts[&wanted[0]], Duration::from_micros(4287));
    assert_eq!(rtts[&wanted[3]], Duration::from_micros(19886));
    assert_eq!(rtts[&wanted[5]], Duration::from_micros(5738));
    let requests = eos.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].1;
    assert_eq!(body["params"]["stopOnError"], json!(false));
    assert_eq!(
        body["params"]["cmds"][0],
        json!({"cmd": "show ip bgp neighbors 10.0.0.1 vrf default", "revision": 2})
    );
}

#[tokio::test]
async fn rtts_of_no_peers_send_no_request() {
    let eos = FakeEos::switch(Switch::new()).await;
    assert!(
        switch::fetch_rtts(&eos.client(), &[], &HashMap::new(), far_deadline())
            .await
            .is_empty()
    );
    assert!(eos.requests().is_empty());
}

fn far_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(60)
}

#[test]
fn rtt_reads_are_chunked_and_a_vrf_mostly_wanted_is_read_whole() {
    let keys = |vrf: &str, n: usize| -> Vec<bgp::PeerKey> {
        (0..n)
            .map(|i| key(vrf, &format!("169.254.{}.{}", i / 128, 2 * (i % 128) + 1)))
            .collect()
    };
    // 60 of a VRF's 1,000 sessions: per session, in requests of at most 25 commands.
    let sessions = HashMap::from([(bgp::Vrf::from("vrf1"), 1000), (bgp::Vrf::from("vrf2"), 40)]);
    let requests = bgp::rtt_requests(&keys("vrf1", 60), &sessions);
    let sizes: Vec<usize> = requests.iter().map(|r| r.command_list().len()).collect();
    assert_eq!(sizes, [25, 25, 10]);
    // Half of vrf2's sessions: one whole-VRF command instead of twenty.
    let mut wanted = keys("vrf1", 3);
    wanted.extend(keys("vrf2", 20));
    let requests = bgp::rtt_requests(&wanted, &sessions);
    let texts: Vec<&str> = requests[0]
        .command_list()
        .iter()
        .map(|c| c.text())
        .collect();
    assert_eq!(texts[0], "show ip bgp neighbors vrf vrf2");
    assert_eq!(texts.len(), 4, "{texts:?}");
}

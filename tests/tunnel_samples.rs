//! Every recorded interface sample read into the tunnel table, with its content pinned, and the
//! one-request observation of BGP and interfaces served by the in-test EOS.
//!
//! The recorded samples hold one tunnel between them (cEOS `Tunnel1`), so each sample's other
//! interfaces are also read as tunnels by renaming one, which pins how that EOS model's VRF,
//! address shape and status read.

mod support;

use std::net::Ipv4Addr;

use doublezero_bgpstatus::eapi::EapiError;
use doublezero_bgpstatus::serviceability::NetworkV4;
use doublezero_bgpstatus::switch::{self, Summaries, SwitchState};
use doublezero_bgpstatus::tunnel::{Tunnel, TunnelTable};
use serde_json::Value;
use support::{fixture, FakeEos, Outcome, Switch};

/// The goeapi sample is the eAPI result list; the command's own result is its one element.
fn goeapi_show_ip_interface() -> String {
    let list: Value = serde_json::from_str(&fixture("goeapi-show_ip_interface.json")).unwrap();
    list[0].to_string()
}

/// `text` with interface `name` renamed `Tunnel<number>`, to read it through the tunnel parser.
fn renamed(text: &str, name: &str, number: u16) -> TunnelTable {
    let text = text.replace(&format!("\"{name}\""), &format!("\"Tunnel{number}\""));
    TunnelTable::from_json(&text).unwrap()
}

fn net(addr: [u8; 4], prefix: u8) -> Option<NetworkV4> {
    Some(NetworkV4 {
        addr: Ipv4Addr::from(addr),
        prefix,
    })
}

fn summary(tunnel: &Tunnel) -> (Option<&str>, Option<NetworkV4>, &str, &str, bool) {
    (
        tunnel.vrf.as_deref(),
        tunnel.address,
        &tunnel.interface_status,
        &tunnel.line_protocol,
        tunnel.is_up(),
    )
}

#[test]
fn ceos_brief_sample_gives_tunnel1_up_on_its_slash_31_without_a_vrf() {
    let table =
        TunnelTable::from_json(&fixture("doublezero-ceos-show_ip_interface_brief.json")).unwrap();
    assert_eq!(
        table.len(),
        1,
        "Ethernet1, Loopback0, Management0 are not tunnels"
    );
    let tunnel = table.by_device_addr(Ipv4Addr::new(172, 16, 0, 1)).unwrap();
    assert_eq!(&*tunnel.name, "Tunnel1");
    assert_eq!(tunnel.number(), Some(1));
    // The brief model has no VRF, which is why the agent asks `show ip interface`.
    assert_eq!(
        summary(tunnel),
        (None, net([172, 16, 0, 1], 31), "connected", "up", true)
    );
    assert!(table.by_device_addr(Ipv4Addr::new(172, 16, 0, 0)).is_none());
}

#[test]
fn two_tunnels_on_one_address_resolve_the_same_way_whatever_the_reply_order() {
    let tunnel = |name: &str, vrf: &str| {
        format!(
            r#""{name}": {{"vrf": "{vrf}", "interfaceStatus": "connected", "lineProtocolStatus": "up",
               "interfaceAddress": {{"primaryIp": {{"address": "169.254.0.2", "maskLen": 31}}}}}}"#
        )
    };
    let (a, b) = (tunnel("Tunnel501", "vrf1"), tunnel("Tunnel900", "vrf9"));
    for text in [
        format!(r#"{{"interfaces": {{{a}, {b}}}}}"#),
        format!(r#"{{"interfaces": {{{b}, {a}}}}}"#),
    ] {
        let table = TunnelTable::from_json(&text).unwrap();
        let found = table.by_device_addr(Ipv4Addr::new(169, 254, 0, 2)).unwrap();
        assert_eq!(&*found.name, "Tunnel501", "{text}");
    }
}

#[test]
fn goeapi_show_ip_interface_sample_has_no_tunnels_and_reads_vrf_and_primary_ip() {
    let text = goeapi_show_ip_interface();
    assert!(TunnelTable::from_json(&text).unwrap().is_empty());

    let loopback = renamed(&text, "Loopback0", 500);
    assert_eq!(
        summary(loopback.by_number(500).unwrap()),
        (
            Some("default"),
            net([1, 1, 1, 1], 32),
            "connected",
            "up",
            true
        )
    );
    let vlan = renamed(&text, "Vlan4094", 501);
    assert_eq!(
        summary(vlan.by_number(501).unwrap()),
        (
            Some("default"),
            net([172, 16, 10, 1], 24),
            "notconnect",
            "lowerLayerDown",
            false
        )
    );
}

#[test]
fn veos_2016_show_interfaces_sample_reads_the_address_array() {
    let text = fixture("napalm-2016-vEOS-show_interfaces.json");
    assert!(TunnelTable::from_json(&text).unwrap().is_empty());

    let management = renamed(&text, "Management1", 9);
    assert_eq!(
        summary(management.by_number(9).unwrap()),
        (None, net([10, 0, 2, 15], 24), "connected", "up", true)
    );
    // An empty address array is an interface without an address, not a failed read.
    let ethernet = renamed(&text, "Ethernet1", 10);
    assert_eq!(ethernet.by_number(10).unwrap().address, None);
}

fn switch_with_interfaces(interfaces: Outcome) -> Switch {
    Switch::new()
        .with_summaries(
            "napalm-2024-show_ip_bgp_summary_vrf_all.json",
            "napalm-2024-show_ipv6_bgp_summary_vrf_all.json",
        )
        .answer("show ip interface", interfaces)
}

async fn observe_with(
    switch: Switch,
    summaries: Summaries,
) -> (Result<SwitchState, EapiError>, Vec<Vec<String>>) {
    let eos = FakeEos::switch(switch).await;
    let state = switch::observe(&eos.client(), summaries).await;
    let requests = eos
        .requests()
        .iter()
        .map(|(_, body)| support::commands(body))
        .collect();
    (state, requests)
}

/// What the daemon reads each tick.
async fn observe(switch: Switch) -> (Result<SwitchState, EapiError>, Vec<Vec<String>>) {
    observe_with(switch, Summaries::Ipv4).await
}

#[tokio::test]
async fn one_request_reads_interfaces_and_the_summaries_asked_for() {
    let switch = || switch_with_interfaces(Outcome::Result(goeapi_show_ip_interface()));
    let (state, requests) = observe(switch()).await;
    let ipv4 = state.unwrap();
    assert_eq!(
        requests,
        vec![vec![
            "show ip interface".to_owned(),
            "show ip bgp summary vrf all".to_owned(),
        ]]
    );
    assert!(ipv4.tunnels.is_empty());

    let (state, requests) = observe_with(switch(), Summaries::Both).await;
    let both = state.unwrap();
    assert_eq!(requests[0].len(), 3);
    assert_eq!(requests[0][2], "show ipv6 bgp summary vrf all");
    assert_eq!(both.peers.len(), 4);
    assert!(ipv4.peers.len() < both.peers.len(), "{}", ipv4.peers.len());
    assert!(ipv4
        .peers
        .iter()
        .all(|p| both.peers.lookup(p.addr.ip()).any(|q| q.vrf == p.vrf)));
}

#[tokio::test]
async fn a_broken_ipv6_summary_cannot_stop_the_daemons_observation() {
    let switch = || {
        Switch::new()
            .answer(
                "show ip bgp summary vrf all",
                Outcome::Result(fixture("napalm-2024-show_ip_bgp_summary_vrf_all.json")),
            )
            .answer(
                "show ip interface",
                Outcome::Result(goeapi_show_ip_interface()),
            )
            .answer(
                "show ipv6 bgp summary vrf all",
                Outcome::Error(1002, vec!["invalid command".into()]),
            )
    };
    assert!(observe(switch()).await.0.is_ok());
    let (both, _) = observe_with(switch(), Summaries::Both).await;
    assert!(matches!(both, Err(EapiError::Command { code: 1002, .. })));
}

#[tokio::test]
async fn a_failed_interface_read_fails_the_whole_observation() {
    let (state, _) = observe(switch_with_interfaces(Outcome::Error(
        1000,
        vec!["could not run command".into()],
    )))
    .await;
    assert!(matches!(state, Err(EapiError::Command { code: 1000, .. })));
}

#[tokio::test]
async fn interfaces_of_the_wrong_shape_are_a_model_error() {
    let (state, _) = observe(switch_with_interfaces(Outcome::Result(
        r#"{"interfaces": {"Tunnel5": {"interfaceAddress": {"primaryIp": {"address": "x", "maskLen": 31}}}}}"#
            .into(),
    )))
    .await;
    assert!(matches!(state, Err(EapiError::Model { .. })));
}

#[tokio::test]
async fn bgp_inactive_still_reads_the_interfaces() {
    let inactive = Outcome::Error(1000, vec!["BGP inactive".into()]);
    let switch = Switch::new()
        .answer(
            "show ip interface",
            Outcome::Result(fixture("doublezero-ceos-show_ip_interface_brief.json")),
        )
        .answer("show ip bgp summary vrf all", inactive.clone())
        .answer("show ipv6 bgp summary vrf all", inactive);
    let state = observe(switch).await.0.unwrap();
    assert!(state.peers.is_empty());
    assert_eq!(state.tunnels.len(), 1);
}

/// An in-test EOS whose interface result and IPv4 summary the test changes between readings;
/// `None` fails the interface command.
struct Changing {
    eos: FakeEos,
    now: std::sync::Arc<std::sync::Mutex<(Option<String>, String)>>,
    /// Requests already looked at by [`Changing::read_interfaces`].
    seen: std::sync::Mutex<usize>,
}

impl Changing {
    async fn start(interfaces: &str, summary: &str) -> Changing {
        let now = std::sync::Arc::new(std::sync::Mutex::new((
            Some(interfaces.to_string()),
            summary.to_string(),
        )));
        let serving = now.clone();
        let eos = FakeEos::start(move |request| {
            let (interfaces, summary) = serving.lock().unwrap().clone();
            let interfaces = match interfaces {
                Some(text) => Outcome::Result(text),
                None => Outcome::Error(1002, vec!["interface model unavailable".into()]),
            };
            let switch = Switch::new()
                .answer("show ip interface", interfaces)
                .answer("show ip bgp summary vrf all", Outcome::Result(summary));
            support::Answer::Body(switch.respond(request))
        })
        .await;
        Changing {
            eos,
            now,
            seen: std::sync::Mutex::new(0),
        }
    }

    fn set(&self, interfaces: Option<&str>, summary: &str) {
        *self.now.lock().unwrap() = (interfaces.map(str::to_string), summary.to_string());
    }

    /// Whether each request since the last call read the interfaces.
    fn read_interfaces(&self) -> Vec<bool> {
        let requests = self.eos.requests();
        let mut seen = self.seen.lock().unwrap();
        let read = requests[*seen..]
            .iter()
            .map(|(_, body)| {
                support::commands(body)
                    .iter()
                    .any(|c| c == "show ip interface")
            })
            .collect();
        *seen = requests.len();
        read
    }
}

/// `show ip interface` with the goeapi sample's Management1 as `Tunnel7`, line protocol `line`.
fn tunnel7(line: &str) -> String {
    let up = goeapi_show_ip_interface().replace("\"Management1\"", "\"Tunnel7\"");
    let mut model: Value = serde_json::from_str(&up).unwrap();
    model["interfaces"]["Tunnel7"]["lineProtocolStatus"] = line.into();
    model.to_string()
}

/// The napalm IPv4 summary with its first Established session in `state`.
fn summary_with_first_session(state: &str) -> String {
    let text = fixture("napalm-2024-show_ip_bgp_summary_vrf_all.json");
    assert!(text.contains("\"Established\""));
    text.replacen("\"Established\"", &format!("\"{state}\""), 1)
}

/// The daemon's observer reads the sessions every time and the interfaces only when they may
/// have changed: while every session is the same in the same state it keeps the last tunnel
/// table (a tunnel's own change waits for the refresh), and a session that changes brings
/// both tables again, read together, in the same reading.
#[tokio::test]
async fn the_observer_reads_the_interfaces_again_when_a_session_changes() {
    let established = fixture("napalm-2024-show_ip_bgp_summary_vrf_all.json");
    let eos = Changing::start(&tunnel7("up"), &established).await;
    let client = eos.eos.client();
    let mut observer = switch::Observer::default();
    let line = |state: &SwitchState| state.tunnels.by_number(7).map(|t| t.is_up());

    let first = observer.observe(&client, Summaries::Ipv4).await.unwrap();
    let second = observer.observe(&client, Summaries::Ipv4).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.tunnels, &second.tunnels));
    assert_eq!(eos.read_interfaces(), [true, false]);

    // The tunnel alone changes: the sessions say nothing, so the table is kept.
    eos.set(Some(&tunnel7("down")), &established);
    let unchanged = observer.observe(&client, Summaries::Ipv4).await.unwrap();
    assert_eq!(line(&unchanged), Some(true));
    assert_eq!(eos.read_interfaces(), [false]);

    // A session changes state: both are read again before this reading is returned.
    eos.set(
        Some(&tunnel7("down")),
        &summary_with_first_session("Active"),
    );
    let changed = observer.observe(&client, Summaries::Ipv4).await.unwrap();
    assert_eq!(line(&changed), Some(false));
    assert_eq!(eos.read_interfaces(), [false, true]);
    assert_eq!(
        changed.peers.iter().filter(|p| p.is_established()).count() + 1,
        first.peers.iter().filter(|p| p.is_established()).count()
    );
    observer.observe(&client, Summaries::Ipv4).await.unwrap();
    assert_eq!(eos.read_interfaces(), [false]);
}

/// A failed reading, a change of the users' tunnels and the refresh each make the next reading
/// take the interfaces; a failed interface read fails the observation rather than serving the
/// remembered table; the same bytes share the last table.
#[tokio::test]
async fn the_observer_reads_the_interfaces_after_a_failure_a_user_change_and_the_refresh() {
    let established = fixture("napalm-2024-show_ip_bgp_summary_vrf_all.json");
    let eos = Changing::start(&tunnel7("up"), &established).await;
    let client = eos.eos.client();
    let mut observer = switch::Observer::default();

    let first = observer.observe(&client, Summaries::Ipv4).await.unwrap();
    observer.expect(1);
    let after_users = observer.observe(&client, Summaries::Ipv4).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.tunnels, &after_users.tunnels));
    observer.expect(1);
    observer.observe(&client, Summaries::Ipv4).await.unwrap();
    assert_eq!(eos.read_interfaces(), [true, true, false]);

    // A session change finds the interface command failing: the observation fails, and so
    // does the next until the interfaces answer again.
    eos.set(None, &summary_with_first_session("Idle"));
    assert!(observer.observe(&client, Summaries::Ipv4).await.is_err());
    assert!(observer.observe(&client, Summaries::Ipv4).await.is_err());
    assert_eq!(eos.read_interfaces(), [false, true, true]);
    eos.set(Some(&tunnel7("down")), &summary_with_first_session("Idle"));
    let back = observer.observe(&client, Summaries::Ipv4).await.unwrap();
    assert_eq!(back.tunnels.by_number(7).map(|t| t.is_up()), Some(false));
    assert_eq!(eos.read_interfaces(), [true]);

    // With no time to keep a table, every reading takes the interfaces, as `peers` does.
    let mut eager = switch::Observer::with_refresh(std::time::Duration::ZERO);
    eager.observe(&client, Summaries::Ipv4).await.unwrap();
    eager.observe(&client, Summaries::Ipv4).await.unwrap();
    assert_eq!(eos.read_interfaces(), [true, true]);
    // Watched tunnels keep the table for the longer refresh, until an event says otherwise.
    eager.set_refresh(switch::WATCHED_TUNNEL_REFRESH);
    eager.observe(&client, Summaries::Ipv4).await.unwrap();
    eager.read_tunnels_next();
    eager.observe(&client, Summaries::Ipv4).await.unwrap();
    eager.observe(&client, Summaries::Ipv4).await.unwrap();
    assert_eq!(eos.read_interfaces(), [false, true, false]);
}

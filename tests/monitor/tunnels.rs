//! Tunnels and VRFs: the user's tunnel decides the VRF its session is looked up in; tunnel
//! presence without a session; drift between chain and switch; EOS tables end to end.

use super::*;

#[tokio::test(start_paused = true)]
async fn the_peer_table_from_eos_decides_per_user_across_vrfs() {
    use doublezero_bgpstatus::bgp::PeerTable;
    // User 1's peer is Established in vrf2 though Idle in vrf1; user 2's is Active; user 3 absent.
    let summary = r#"{"vrfs": {
        "vrf1": {"routerId": "10.0.0.1", "asn": "65342", "peers": {
            "169.254.0.3": {"peerState": "Idle", "upDownTime": 1700000000.5, "asn": "65000"},
            "169.254.0.5": {"peerState": "Active", "upDownTime": 1700000001.0, "asn": "65000"}}},
        "vrf2": {"routerId": "10.0.0.1", "asn": "65342", "peers": {
            "169.254.0.3": {"peerState": "Established", "upDownTime": 1700000002.0, "asn": "65000"}}}
    }}"#;
    let switch = SwitchState {
        peers: PeerTable::from_summaries([summary, r#"{"vrfs": {}}"#]).unwrap(),
        tunnels: TunnelTable::from_json(r#"{"interfaces": {}}"#)
            .unwrap()
            .into(),
    };
    let v = view(vec![
        user(1, BgpStatus::Down, RECENT),
        user(2, BgpStatus::Up, RECENT),
        user(3, BgpStatus::Up, RECENT),
    ]);
    let mut state = StateTable::default();
    let updates = decide(
        Instant::now(),
        &v,
        Observation::Switch(&switch),
        &mut state,
        &Policy::default(),
    )
    .updates;
    let mut got = statuses(&updates);
    got.sort_by_key(|(pk, _, _)| *pk);
    assert_eq!(
        got,
        vec![
            (user_pk(1), BgpStatus::Up, UpdateReason::Change),
            (user_pk(2), BgpStatus::Down, UpdateReason::Change),
            (user_pk(3), BgpStatus::Down, UpdateReason::Change),
        ]
    );
    assert_eq!(
        state.get(&user_pk(2)).unwrap().session,
        Some(Session::NotEstablished("Active".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn tunnel_present_and_peer_absent_writes_down_even_with_the_chain_unknown() {
    let v = view(vec![
        user(1, BgpStatus::Unknown, 0),
        user(2, BgpStatus::Up, RECENT),
    ]);
    let switch = Switch::default()
        .with_tunnel_of(1, "vrf1", true)
        .with_tunnel_of(2, "vrf1", false);
    let mut table = StateTable::default();
    let mut got = statuses(&run(&v, &switch, &mut table, &Policy::default()));
    got.sort_by_key(|(pk, _, _)| *pk);
    assert_eq!(
        got,
        vec![
            (user_pk(1), BgpStatus::Down, UpdateReason::Change),
            (user_pk(2), BgpStatus::Down, UpdateReason::Change),
        ]
    );
    let row = table.get(&user_pk(1)).unwrap();
    assert_eq!(row.session, Some(Session::Absent));
    let Some(TunnelSeen::Present(tunnel)) = &row.tunnel_seen else {
        panic!("expected the tunnel on the row, got {:?}", row.tunnel_seen);
    };
    assert_eq!(
        (&*tunnel.name, tunnel.vrf.as_deref()),
        ("Tunnel501", Some("vrf1"))
    );
    assert_eq!(row.tunnel_seen.as_ref().unwrap().state(), "up");
    assert_eq!(
        table
            .get(&user_pk(2))
            .unwrap()
            .tunnel_seen
            .as_ref()
            .unwrap()
            .state(),
        "down"
    );
    assert_eq!(row.drift, None);
}

#[tokio::test(start_paused = true)]
async fn tunnel_absent_and_peer_absent_with_the_chain_down_writes_nothing_new_but_keeps_the_refresh(
) {
    let policy = Policy::default();
    let slots_in_refresh = policy.refresh.as_millis() as u64 / 400;
    let v = view(vec![
        user(1, BgpStatus::Down, RECENT),
        user(2, BgpStatus::Down, slots_in_refresh + 1),
        user(3, BgpStatus::Unknown, 0),
    ]);
    let mut table = StateTable::default();
    let updates = run(&v, &Switch::default(), &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(2), BgpStatus::Down, UpdateReason::Refresh)]
    );
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::InSync {
            refresh_at: Some(_)
        }
    ));
    assert_eq!(table.get(&user_pk(3)).unwrap().why, Why::NoSession);
    assert_eq!(
        table.get(&user_pk(1)).unwrap().tunnel_seen,
        Some(TunnelSeen::Absent)
    );
}

#[tokio::test(start_paused = true)]
async fn tunnel_absent_and_peer_absent_with_the_chain_up_writes_down() {
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let updates = run(&v, &Switch::default(), &mut table, &Policy::default());
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_peer_is_looked_up_in_the_tunnels_vrf_only() {
    // Same peer address in two VRFs: Established in vrf1, Idle in vrf2 where the tunnel is.
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut switch = Switch::default().with_tunnel_of(1, "vrf2", true);
    switch.set_in("vrf1", peer(1), Session::Established);
    switch.set_in("vrf2", peer(1), Session::NotEstablished("Idle".into()));
    let mut table = StateTable::default();
    let updates = run(&v, &switch, &mut table, &Policy::default());
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    let row = table.get(&user_pk(1)).unwrap();
    assert_eq!(row.session, Some(Session::NotEstablished("Idle".into())));
    assert_eq!(row.session_vrf.as_deref(), Some("vrf2"));
    assert_eq!(row.drift, None, "a session in the tunnel's VRF is no drift");
}

#[tokio::test(start_paused = true)]
async fn an_established_session_in_the_tunnels_vrf_writes_up() {
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut switch = Switch::default().with_tunnel_of(1, "vrf2", true);
    switch.set_in("vrf1", peer(1), Session::NotEstablished("Active".into()));
    switch.set_in("vrf2", peer(1), Session::Established);
    let mut table = StateTable::default();
    let updates = run(&v, &switch, &mut table, &Policy::default());
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn drift_is_reported_once_per_change_and_the_session_still_decides() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let reported = |decided: Decided| -> Vec<(Pubkey, u16, Drift)> { decided.drifts };
    // A session to the user's peer, but no tunnel holds its tunnel_net.
    let mut switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    let first = decided(&v, &switch, &mut table, &policy);
    assert_eq!(
        first.updates[0].status,
        BgpStatus::Up,
        "the session decides"
    );
    let without_tunnel = Drift::SessionWithoutTunnel { vrf: "vrf1".into() };
    assert_eq!(
        reported(first),
        vec![(user_pk(1), tunnel_id(1), without_tunnel.clone())]
    );
    table.confirmed(&user_pk(1), BgpStatus::Up, SLOT + 1, 0, Instant::now());
    assert!(reported(decided(&v, &switch, &mut table, &policy)).is_empty());
    assert!(reported(decided(&v, &switch, &mut table, &policy)).is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().drift, Some(without_tunnel));

    // The tunnel appears in another VRF than the session: a new drift, reported once.
    switch = Switch::with(peer(1), Session::Established).with_tunnel_of(1, "vrf2", true);
    let other_vrf = Drift::SessionInOtherVrf {
        tunnel_vrf: "vrf2".into(),
        session_vrf: "vrf1".into(),
    };
    assert_eq!(
        reported(decided(&v, &switch, &mut table, &policy)),
        vec![(user_pk(1), tunnel_id(1), other_vrf.clone())]
    );
    assert!(reported(decided(&v, &switch, &mut table, &policy)).is_empty());
    assert_eq!(
        table.get(&user_pk(1)).unwrap().drift,
        Some(other_vrf.clone())
    );
    let said = other_vrf.to_string();
    assert!(
        said.contains("VRF vrf2") && said.contains("VRF vrf1"),
        "{said}"
    );

    // Back in line: the drift clears without a new report.
    switch = Switch::default().with_tunnel_of(1, "vrf2", true);
    switch.set_in("vrf2", peer(1), Session::Established);
    assert!(reported(decided(&v, &switch, &mut table, &policy)).is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().drift, None);
}

#[tokio::test(start_paused = true)]
async fn a_misnamed_tunnel_or_a_moved_address_is_drift_with_both_values() {
    let v = view(vec![
        user(1, BgpStatus::Up, RECENT),
        user(2, BgpStatus::Up, RECENT),
    ]);
    let mut switch = Switch::default();
    // User 1's address sits on Tunnel900; user 2's Tunnel502 holds another address.
    switch.add_tunnel(900, "vrf1", 2, true);
    switch.add_tunnel(tunnel_id(2), "vrf1", 100, true);
    switch.set(peer(1), Session::Established);
    let mut table = StateTable::default();
    let mut got = statuses(&run(&v, &switch, &mut table, &Policy::default()));
    got.sort_by_key(|(pk, _, _)| *pk);
    assert_eq!(
        got,
        vec![(user_pk(2), BgpStatus::Down, UpdateReason::Change)],
        "user 1 stays Up on its session; user 2 has neither tunnel nor session"
    );
    assert_eq!(
        table.get(&user_pk(1)).unwrap().drift,
        Some(Drift::Misnamed {
            interface: "Tunnel900".into(),
            tunnel_id: 501
        })
    );
    let Some(Drift::TunnelElsewhere {
        interface, address, ..
    }) = table.get(&user_pk(2)).unwrap().drift.clone()
    else {
        panic!("expected the moved address");
    };
    assert_eq!(
        (&*interface, address.map(|net| net.to_string())),
        ("Tunnel502", Some("169.254.0.100/31".to_owned()))
    );
}

#[tokio::test(start_paused = true)]
async fn the_users_own_tunnel_wins_when_a_leftover_one_holds_the_same_address() {
    // Tunnel900 in vrf9 is found first by address; the user's Tunnel501 in vrf1 holds the
    // same /31 and carries the live session. The session is looked up in vrf1 every time.
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut switch = Switch::default();
    switch.add_tunnel(900, "vrf9", 2, true);
    let mut switch = switch.with_tunnel_of(1, "vrf1", true);
    switch.set(peer(1), Session::Established);
    switch.set_in("vrf9", peer(1), Session::NotEstablished("Active".into()));
    let mut table = StateTable::default();
    assert_eq!(
        statuses(&run(&v, &switch, &mut table, &Policy::default())),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Change)]
    );
    let row = table.get(&user_pk(1)).unwrap();
    assert_eq!(row.session_vrf.as_deref(), Some("vrf1"));
    assert_eq!(row.drift, None);
}

#[tokio::test(start_paused = true)]
async fn a_failed_interface_read_writes_nothing_even_when_the_chain_says_up() {
    use support::{FakeEos, Outcome};
    let eos = FakeEos::switch(
        support::Switch::new()
            .with_summaries(
                "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
                "napalm-nobgp-show_ip_bgp_summary_vrf_all.json",
            )
            .answer(
                "show ip interface",
                Outcome::Error(1000, vec!["could not run command".into()]),
            ),
    )
    .await;
    let observed = switch::observe(&eos.client(), switch::Summaries::Ipv4).await;
    let observation = match &observed {
        Ok(state) => Observation::Switch(state),
        Err(_) => Observation::Failed,
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let updates = decide(
        Instant::now(),
        &v,
        observation,
        &mut table,
        &Policy::default(),
    )
    .updates;
    assert!(observed.is_err());
    assert!(updates.is_empty());
    let row = table.get(&user_pk(1)).unwrap();
    assert_eq!(row.why, Why::NoObservation);
    assert_eq!(row.tunnel_seen, None);
}

#[tokio::test(start_paused = true)]
async fn eos_tables_scope_the_peer_to_the_tunnels_vrf() {
    use doublezero_bgpstatus::bgp::PeerTable;
    // 169.254.0.3 is Established in vrf1 and Idle in vrf2; user 1's Tunnel501 is in vrf2.
    let summary = r#"{"vrfs": {
        "vrf1": {"peers": {"169.254.0.3": {"peerState": "Established"}}},
        "vrf2": {"peers": {"169.254.0.3": {"peerState": "Idle"}}}
    }}"#;
    let interfaces = r#"{"interfaces": {
        "Tunnel501": {"vrf": "vrf2", "interfaceStatus": "connected", "lineProtocolStatus": "up",
            "interfaceAddress": {"primaryIp": {"address": "169.254.0.2", "maskLen": 31}}},
        "Ethernet1": {"vrf": "default", "interfaceAddress": {"primaryIp": {"address": "10.0.0.1", "maskLen": 24}}}
    }}"#;
    let switch = SwitchState {
        peers: PeerTable::from_summaries([summary, r#"{"vrfs": {}}"#]).unwrap(),
        tunnels: TunnelTable::from_json(interfaces).unwrap().into(),
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let updates = decide(
        Instant::now(),
        &v,
        Observation::Switch(&switch),
        &mut table,
        &Policy::default(),
    )
    .updates;
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    assert_eq!(
        table.get(&user_pk(1)).unwrap().session_vrf.as_deref(),
        Some("vrf2")
    );
}

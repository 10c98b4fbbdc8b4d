//! The decision, rule by rule, with plain values and a paused clock: no sockets.

mod support;
mod vectors;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use doublezero_bgpstatus::monitor::{
    decide, Cause, DampeningPolicy, Decided, Drift, Observation, Policy, Session, StateTable,
    SwitchLookup, TunnelSeen, Update, UpdateReason, VrfSession, Why,
};
use doublezero_bgpstatus::serviceability::{
    BgpStatus, Device, DeviceView, NetworkV4, User, UserStatus,
};
use doublezero_bgpstatus::switch::{self, SwitchState};
use doublezero_bgpstatus::tunnel::{Tunnel, TunnelTable};
use solana_pubkey::Pubkey;
use tokio::time::{advance, Instant};

const SLOT: u64 = 1_000_000;

/// A switch as plain maps: sessions by peer address (each in its VRF) and tunnel interfaces.
#[derive(Default)]
struct Switch {
    sessions: HashMap<Ipv4Addr, Vec<VrfSession>>,
    tunnels: Vec<Tunnel>,
}

impl SwitchLookup for Switch {
    fn session(&self, peer: Ipv4Addr, vrf: Option<&str>) -> Option<VrfSession> {
        let mut found = self
            .sessions
            .get(&peer)?
            .iter()
            .filter(|s| vrf.is_none_or(|vrf| &*s.vrf == vrf));
        let first = found.clone().next().cloned();
        found
            .find(|s| s.session == Session::Established)
            .cloned()
            .or(first)
    }

    fn tunnel(&self, device_addr: Ipv4Addr) -> Option<&Tunnel> {
        self.tunnels.iter().find(|t| t.holds(device_addr))
    }

    fn tunnel_numbered(&self, number: u16) -> Option<&Tunnel> {
        self.tunnels.iter().find(|t| t.number() == Some(number))
    }
}

impl Switch {
    fn with(peer: u8, session: Session) -> Self {
        let mut switch = Switch::default();
        switch.set(peer, session);
        switch
    }

    /// The session to `169.254.0.<peer>` in VRF `vrf1`; `Absent` removes it.
    fn set(&mut self, peer: u8, session: Session) {
        self.set_in("vrf1", peer, session);
    }

    fn set_in(&mut self, vrf: &str, peer: u8, session: Session) {
        let sessions = self
            .sessions
            .entry(Ipv4Addr::new(169, 254, 0, peer))
            .or_default();
        sessions.retain(|s| &*s.vrf != vrf);
        if session != Session::Absent {
            sessions.push(VrfSession {
                vrf: vrf.into(),
                session,
            });
        }
    }

    /// Interface `Tunnel<number>` in `vrf` holding `169.254.0.<addr>/31`.
    fn add_tunnel(&mut self, number: u16, vrf: &str, addr: u8, up: bool) {
        self.tunnels.push(Tunnel {
            name: format!("Tunnel{number}").into(),
            vrf: Some(vrf.into()),
            address: Some(NetworkV4 {
                addr: Ipv4Addr::new(169, 254, 0, addr),
                prefix: 31,
            }),
            interface_status: if up { "connected" } else { "notconnect" }.into(),
            line_protocol: if up { "up" } else { "lowerLayerDown" }.into(),
        });
    }

    /// User `n`'s own tunnel, as the controller deploys it: `Tunnel<500+n>` on its /31.
    fn with_tunnel_of(mut self, n: u8, vrf: &str, up: bool) -> Self {
        self.add_tunnel(tunnel_id(n), vrf, 2 * n, up);
        self
    }
}

fn device_pk() -> Pubkey {
    vectors::DEVICE.parse().unwrap()
}

fn user_pk(n: u8) -> Pubkey {
    Pubkey::new_from_array([n; 32])
}

/// A user on this device with tunnel `Tunnel<500+n>` on 169.254.0.(2n)/31, so its peer is
/// .(2n+1); the chain says
/// `status`, last reported `ago` slots before the view.
fn user(n: u8, status: BgpStatus, ago: u64) -> (Pubkey, User) {
    let mut user = User::decode(&vectors::hex(vectors::A2)).unwrap();
    user.tunnel_net = NetworkV4 {
        addr: Ipv4Addr::new(169, 254, 0, 2 * n),
        prefix: 31,
    };
    user.tunnel_id = tunnel_id(n);
    user.bgp_status = status;
    user.last_bgp_reported_at = if status == BgpStatus::Unknown {
        0
    } else {
        SLOT - ago
    };
    (user_pk(n), user)
}

fn view(users: Vec<(Pubkey, User)>) -> DeviceView {
    DeviceView {
        slot: SLOT,
        device_pk: device_pk(),
        device: Device::decode(&vectors::hex(vectors::B)).unwrap(),
        users,
    }
}

fn tunnel_id(n: u8) -> u16 {
    500 + u16::from(n)
}

fn peer(n: u8) -> u8 {
    2 * n + 1
}

fn run(view: &DeviceView, switch: &Switch, table: &mut StateTable, policy: &Policy) -> Vec<Update> {
    decided(view, switch, table, policy).updates
}

fn decided(view: &DeviceView, switch: &Switch, table: &mut StateTable, policy: &Policy) -> Decided {
    decide(
        Instant::now(),
        view,
        Observation::Switch(switch),
        table,
        policy,
    )
}

fn statuses(updates: &[Update]) -> Vec<(Pubkey, BgpStatus, UpdateReason)> {
    updates
        .iter()
        .map(|u| (u.user, u.status, u.reason))
        .collect()
}

/// 100 slots (40 s) ago: no refresh is due and the minimum interval has passed.
const RECENT: u64 = 100;

#[tokio::test(start_paused = true)]
async fn restart_with_the_chain_already_right_writes_nothing() {
    let v = view(vec![
        user(1, BgpStatus::Up, RECENT),
        user(2, BgpStatus::Down, RECENT),
    ]);
    let mut switch = Switch::with(peer(1), Session::Established);
    switch.set(peer(2), Session::NotEstablished("Active".into()));
    let mut table = StateTable::default();
    assert!(run(&v, &switch, &mut table, &Policy::default()).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::InSync {
            refresh_at: Some(_)
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn restart_with_the_chain_up_and_the_peer_gone_writes_down() {
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let updates = run(&v, &Switch::default(), &mut table, &Policy::default());
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    assert!(!updates[0].wants_rtt);
}

#[tokio::test(start_paused = true)]
async fn a_failed_observation_writes_nothing_even_when_the_chain_says_up() {
    let v = view(vec![
        user(1, BgpStatus::Up, RECENT),
        user(2, BgpStatus::Unknown, 0),
    ]);
    let mut table = StateTable::default();
    let updates = decide(
        Instant::now(),
        &v,
        Observation::Failed,
        &mut table,
        &Policy::default(),
    )
    .updates;
    assert!(updates.is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().why, Why::NoObservation);
    assert_eq!(table.get(&user_pk(1)).unwrap().chain_status, BgpStatus::Up);
}

#[tokio::test(start_paused = true)]
async fn an_established_session_writes_up_with_its_rtt_to_the_users_peer() {
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut table = StateTable::default();
    let updates = run(
        &v,
        &Switch::with(peer(1), Session::Established),
        &mut table,
        &Policy::default(),
    );
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Change)]
    );
    assert_eq!(updates[0].peer, Ipv4Addr::new(169, 254, 0, 3));
    assert!(updates[0].wants_rtt);
}

#[tokio::test(start_paused = true)]
async fn a_present_session_not_established_writes_down() {
    let v = view(vec![user(1, BgpStatus::Unknown, 0)]);
    let mut table = StateTable::default();
    let switch = Switch::with(peer(1), Session::NotEstablished("Idle".into()));
    let updates = run(&v, &switch, &mut table, &Policy::default());
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_absent_session_with_the_chain_unknown_writes_nothing() {
    let v = view(vec![user(1, BgpStatus::Unknown, 0)]);
    let mut table = StateTable::default();
    assert!(run(&v, &Switch::default(), &mut table, &Policy::default()).is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().why, Why::NoSession);
}

#[tokio::test(start_paused = true)]
async fn only_activated_users_of_this_device_are_considered_and_leavers_are_pruned() {
    let (pk_other_device, mut other_device) = user(3, BgpStatus::Up, RECENT);
    other_device.device_pk = Pubkey::new_unique();
    let mut v = view(vec![
        user(1, BgpStatus::Unknown, 0),
        user(2, BgpStatus::Unknown, 0),
        (pk_other_device, other_device),
    ]);
    let mut switch = Switch::with(peer(1), Session::Established);
    switch.set(peer(2), Session::Established);
    let mut table = StateTable::default();
    let first = run(&v, &switch, &mut table, &Policy::default());
    assert_eq!(first.len(), 2, "the other device's user is not ours");
    assert!(table.get(&pk_other_device).is_none());
    assert!(table.get(&user_pk(1)).unwrap().in_flight.is_some());

    // User 1 is deactivated while its write is in flight: it leaves with its in-flight mark,
    // and a late confirmation does not bring it back.
    v.users[0].1.status = UserStatus::Deleting;
    run(&v, &switch, &mut table, &Policy::default());
    assert!(table.get(&user_pk(1)).is_none());
    table.confirmed(&user_pk(1), BgpStatus::Up, SLOT + 5, 0, Instant::now());
    assert!(table.get(&user_pk(1)).is_none());
    assert_eq!(table.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_grace_period_holds_up_without_rtt_then_reports_down() {
    let policy = Policy {
        down_grace: Duration::from_secs(60),
        min_write_interval: Duration::ZERO,
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    assert!(run(&v, &switch, &mut table, &policy).is_empty());

    switch.set(peer(1), Session::NotEstablished("Active".into()));
    advance(Duration::from_secs(30)).await;
    assert!(
        run(&v, &switch, &mut table, &policy).is_empty(),
        "held Up by the grace"
    );
    assert!(table.get(&user_pk(1)).unwrap().held_by_grace);

    advance(Duration::from_secs(31)).await;
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_up_write_during_the_grace_carries_no_rtt() {
    let policy = Policy {
        down_grace: Duration::from_secs(60),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    let first = run(&v, &switch, &mut table, &policy);
    assert!(first[0].wants_rtt);
    // The write fails transiently; by the retry the session is gone but within the grace.
    table.failed(
        &user_pk(1),
        "timeout".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    switch.set(peer(1), Session::Absent);
    advance(policy.failure_backoff).await;
    let retry = run(&v, &switch, &mut table, &policy);
    assert_eq!(retry[0].status, BgpStatus::Up);
    assert!(!retry[0].wants_rtt);
}

#[tokio::test(start_paused = true)]
async fn a_peerless_down_user_is_refreshed_when_due() {
    let policy = Policy::default();
    let slots_in_refresh = policy.refresh.as_millis() as u64 / 400;
    let v = view(vec![
        user(1, BgpStatus::Down, slots_in_refresh + 1),
        user(2, BgpStatus::Down, RECENT),
    ]);
    let mut table = StateTable::default();
    let updates = run(&v, &Switch::default(), &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Refresh)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_in_sync_user_is_refreshed_after_the_interval_and_not_before() {
    let policy = Policy {
        refresh: Duration::from_secs(3600),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, 0)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    advance(Duration::from_secs(3599)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    advance(Duration::from_secs(1)).await;
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Refresh)]
    );
}

#[tokio::test(start_paused = true)]
async fn no_second_update_while_the_first_is_in_flight_then_in_sync_after_confirmation() {
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    assert_eq!(run(&v, &switch, &mut table, &policy).len(), 1);
    advance(Duration::from_secs(10)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::InFlight { .. }
    ));

    table.confirmed(&user_pk(1), BgpStatus::Up, SLOT + 30, 0, Instant::now());
    advance(Duration::from_secs(10)).await;
    // The cached view is older than the confirmation: it must not undo it.
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().chain_status, BgpStatus::Up);
}

#[tokio::test(start_paused = true)]
async fn a_write_by_someone_else_in_a_newer_view_is_taken_in() {
    let policy = Policy::default();
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    assert!(run(
        &view(vec![user(1, BgpStatus::Up, RECENT)]),
        &switch,
        &mut table,
        &policy
    )
    .is_empty());
    // Another writer set Down at a newer slot: the agent sees the chain is wrong and fixes it.
    let (pk, mut changed) = user(1, BgpStatus::Down, 0);
    changed.last_bgp_reported_at = SLOT + 1;
    let newer = DeviceView {
        slot: SLOT + 100,
        ..view(vec![(pk, changed)])
    };
    let updates = run(&newer, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(pk, BgpStatus::Up, UpdateReason::Change)]
    );
}

/// Sets user 1's session to each of `sessions` in turn, 15 s apart, confirming every write
/// at once; returns the statuses written.
async fn flap(
    sessions: &[Session],
    v: &DeviceView,
    switch: &mut Switch,
    table: &mut StateTable,
    policy: &Policy,
) -> Vec<BgpStatus> {
    let mut written = Vec::new();
    for (i, session) in (0u64..).zip(sessions) {
        switch.set(peer(1), session.clone());
        advance(Duration::from_secs(15)).await;
        for update in run(v, switch, table, policy) {
            table.confirmed(
                &update.user,
                update.status,
                SLOT + 100 + i,
                0,
                Instant::now(),
            );
            written.push(update.status);
        }
    }
    written
}

fn idle() -> Session {
    Session::NotEstablished("Idle".into())
}

#[tokio::test(start_paused = true)]
async fn a_flapping_user_that_settles_down_is_written_down_at_once_although_suppressed() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    assert!(run(&v, &switch, &mut table, &policy).is_empty());

    // Up → Down → Up → Down within a minute, then staying down: the third transition crosses
    // the suppress threshold, and the chain must not keep saying Up meanwhile.
    let sessions = [idle(), Session::Established, idle()];
    let written = flap(&sessions, &v, &mut switch, &mut table, &policy).await;
    assert_eq!(
        written,
        vec![BgpStatus::Down, BgpStatus::Up, BgpStatus::Down]
    );
    let state = table.get(&user_pk(1)).unwrap();
    assert_eq!(state.flaps.transitions, 3);
    assert!(
        state.flaps.penalty(&policy.dampening, Instant::now()) > policy.dampening.suppress,
        "suppressed"
    );
    assert_eq!(state.chain_status, BgpStatus::Down);
}

#[tokio::test(start_paused = true)]
async fn a_suppressed_user_has_its_up_delayed_until_the_penalty_decays() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    run(&v, &switch, &mut table, &policy);
    let sessions = [idle(), Session::Established, idle(), Session::Established];
    let written = flap(&sessions, &v, &mut switch, &mut table, &policy).await;
    // The fourth transition (to Up) comes while suppressed: it waits.
    assert_eq!(
        written,
        vec![BgpStatus::Down, BgpStatus::Up, BgpStatus::Down]
    );
    let Why::Dampened { until: Some(until) } = table.get(&user_pk(1)).unwrap().why.clone() else {
        panic!(
            "expected dampened, got {:?}",
            table.get(&user_pk(1)).unwrap().why
        );
    };

    // Quiet in Up while the chain says Down: nothing until the penalty decays below reuse,
    // then the current status is written.
    advance(until - Instant::now() - Duration::from_secs(30)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    advance(Duration::from_secs(60)).await;
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_flapping_user_is_held_up_for_the_grace_period_and_no_longer() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        down_grace: Duration::from_secs(60),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    run(&v, &switch, &mut table, &policy);
    let tick = |switch: &Switch, table: &mut StateTable| {
        let updates = run(&v, switch, table, &policy);
        for update in &updates {
            table.confirmed(&update.user, update.status, SLOT + 1, 0, Instant::now());
        }
        statuses(&updates)
    };
    // Down and Up again, each longer than the grace, so each is a transition.
    for session in [idle(), Session::Established] {
        switch.set(peer(1), session);
        for _ in 0..8 {
            advance(Duration::from_secs(10)).await;
            tick(&switch, &mut table);
        }
    }
    assert_eq!(table.get(&user_pk(1)).unwrap().chain_status, BgpStatus::Up);

    // The third transition crosses the suppress threshold: the Down goes out when the grace
    // ends, not when the penalty decays.
    switch.set(peer(1), idle());
    let dropped = Instant::now();
    let mut written = Vec::new();
    while written.is_empty() && Instant::now() - dropped < Duration::from_secs(600) {
        advance(Duration::from_secs(10)).await;
        written = tick(&switch, &mut table);
    }
    let waited = Instant::now() - dropped;
    assert_eq!(
        written,
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    assert!(
        waited >= policy.down_grace && waited <= policy.down_grace + Duration::from_secs(10),
        "{waited:?}"
    );
    let state = table.get(&user_pk(1)).unwrap();
    assert_eq!(state.flaps.transitions, 3);
    assert!(state.flaps.penalty(&policy.dampening, Instant::now()) > policy.dampening.suppress);
}

#[tokio::test(start_paused = true)]
async fn disabled_dampening_writes_every_transition() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        dampening: DampeningPolicy {
            enabled: false,
            ..DampeningPolicy::default()
        },
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    run(&v, &switch, &mut table, &policy);
    let mut writes = 0;
    for i in 0..6u64 {
        let up = i % 2 == 1;
        switch.set(
            peer(1),
            if up {
                Session::Established
            } else {
                Session::Absent
            },
        );
        advance(Duration::from_secs(1)).await;
        for u in run(&v, &switch, &mut table, &policy) {
            table.confirmed(&u.user, u.status, SLOT + 10 + i, 0, Instant::now());
            writes += 1;
        }
    }
    assert_eq!(writes, 6);
}

#[tokio::test(start_paused = true)]
async fn two_writes_of_one_user_are_spaced_by_the_minimum_interval() {
    let policy = Policy {
        min_write_interval: Duration::from_secs(5),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    let first = run(&v, &switch, &mut table, &policy);
    table.confirmed(&first[0].user, BgpStatus::Up, SLOT + 1, 0, Instant::now());
    switch.set(peer(1), Session::NotEstablished("Idle".into()));
    advance(Duration::from_secs(2)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::MinInterval { .. }
    ));
    advance(Duration::from_secs(3)).await;
    assert_eq!(
        run(&v, &switch, &mut table, &policy)[0].status,
        BgpStatus::Down
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_retried_after_a_backoff_that_grows() {
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    run(&v, &switch, &mut table, &policy);
    table.failed(
        &user_pk(1),
        "node unhealthy".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::Backoff {
            cause: Cause::Unknown,
            ..
        }
    ));
    advance(policy.failure_backoff).await;
    assert_eq!(run(&v, &switch, &mut table, &policy).len(), 1);
    table.failed(
        &user_pk(1),
        "node unhealthy".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    advance(policy.failure_backoff).await;
    assert!(
        run(&v, &switch, &mut table, &policy).is_empty(),
        "second wait is doubled"
    );
    advance(policy.failure_backoff).await;
    assert_eq!(run(&v, &switch, &mut table, &policy).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_status_does_not_wait_out_the_backoff_of_an_older_one() {
    // The chain says Up and a refresh is due; the refresh keeps failing (an RPC outage) until
    // its backoff is long; then the session drops. The Down was never tried: it goes out on
    // the next tick, and a failure of it starts its own backoff from the first step.
    let policy = Policy::default();
    let slots_in_refresh = policy.refresh.as_millis() as u64 / 400;
    let v = view(vec![user(1, BgpStatus::Up, slots_in_refresh + 1)]);
    let mut switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    for _ in 0..8 {
        let updates = run(&v, &switch, &mut table, &policy);
        assert_eq!(statuses(&updates)[0].1, BgpStatus::Up);
        table.failed(
            &user_pk(1),
            "503".into(),
            Cause::Unknown,
            Instant::now(),
            &policy,
        );
        advance(policy.failure_backoff_max).await;
    }
    table.failed(
        &user_pk(1),
        "503".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    let failure = table.get(&user_pk(1)).unwrap().failure.clone().unwrap();
    assert_eq!(
        failure.retry_at - Instant::now(),
        policy.failure_backoff_max
    );

    advance(policy.failure_backoff).await;
    assert!(
        run(&v, &switch, &mut table, &policy).is_empty(),
        "Up still waits"
    );
    switch.set(peer(1), Session::Absent);
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    table.failed(
        &user_pk(1),
        "503".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    let failure = table.get(&user_pk(1)).unwrap().failure.clone().unwrap();
    assert_eq!(failure.status, BgpStatus::Down);
    assert_eq!(failure.attempts, 1);
    assert_eq!(failure.retry_at - Instant::now(), policy.failure_backoff);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_by_the_program_waits_the_longest_backoff() {
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    run(&v, &switch, &mut table, &policy);
    table.failed(
        &user_pk(1),
        "custom program error 8 (NotAllowed)".into(),
        Cause::Refused,
        Instant::now(),
        &policy,
    );
    run(&v, &switch, &mut table, &policy);
    let Why::Backoff {
        until,
        error,
        cause,
    } = table.get(&user_pk(1)).unwrap().why.clone()
    else {
        panic!("expected backoff");
    };
    assert_eq!(until - Instant::now(), policy.failure_backoff_max);
    assert!(error.contains("NotAllowed"));
    assert_eq!(
        cause,
        Cause::Refused,
        "a refusal is told apart from a transient failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_write_the_rpc_failed_goes_again_at_the_next_tick_without_backoff() {
    // An RPC outage is the RPC's failure, not the user's: once it answers, the write goes out
    // at once (issue 20), however many times it failed before.
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    for _ in 0..5 {
        let updates = run(&v, &switch, &mut table, &policy);
        assert_eq!(statuses(&updates)[0].1, BgpStatus::Up);
        table.failed(
            &user_pk(1),
            "not confirmed within 120s".into(),
            Cause::Rpc,
            Instant::now(),
            &policy,
        );
        advance(Duration::from_secs(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_user_whose_tunnel_net_is_not_a_slash_31_is_reported_and_skipped() {
    let (pk, mut bad) = user(1, BgpStatus::Up, RECENT);
    bad.tunnel_net.prefix = 30;
    let mut table = StateTable::default();
    assert!(run(
        &view(vec![(pk, bad)]),
        &Switch::default(),
        &mut table,
        &Policy::default()
    )
    .is_empty());
    assert!(matches!(table.get(&pk).unwrap().why, Why::BadTunnel(_)));
}

#[tokio::test(start_paused = true)]
async fn a_released_update_lets_the_user_be_decided_again() {
    let policy = Policy::default();
    let slots_in_refresh = policy.refresh.as_millis() as u64 / 400;
    let v = view(vec![user(1, BgpStatus::Down, slots_in_refresh + 1)]);
    let mut table = StateTable::default();
    assert_eq!(run(&v, &Switch::default(), &mut table, &policy).len(), 1);
    table.released(&user_pk(1));
    assert_eq!(run(&v, &Switch::default(), &mut table, &policy).len(), 1);
}

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

#[tokio::test(start_paused = true)]
async fn the_table_remembers_the_rtt_the_chain_holds_from_the_view_and_from_confirmations() {
    let (pk, mut seeded) = user(1, BgpStatus::Up, RECENT);
    seeded.bgp_rtt_ns = 1_500_000;
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    run(
        &view(vec![(pk, seeded)]),
        &switch,
        &mut table,
        &Policy::default(),
    );
    assert_eq!(
        table.get(&pk).unwrap().chain_rtt_ns,
        1_500_000,
        "seeded from the chain"
    );

    table.confirmed(&pk, BgpStatus::Up, SLOT + 1, 2_000_000, Instant::now());
    assert_eq!(
        table.get(&pk).unwrap().chain_rtt_ns,
        2_000_000,
        "what was written"
    );
}

/// Slots before the view for a user whose refresh falls due `in_` from now.
fn due_in(policy: &Policy, in_: Duration) -> u64 {
    (policy.refresh - in_).as_millis() as u64 / 400
}

fn all_established(users: std::ops::RangeInclusive<u8>) -> Switch {
    let mut switch = Switch::default();
    for n in users {
        switch.set(peer(n), Session::Established);
        switch = switch.with_tunnel_of(n, "vrf1", true);
    }
    switch
}

#[tokio::test(start_paused = true)]
async fn refreshes_due_soon_ride_along_to_fill_a_transaction_that_goes_anyway() {
    let policy = Policy {
        batch: 4,
        ..Policy::default()
    };
    let minutes = |m: u64| Duration::from_secs(60 * m);
    let mut users: Vec<_> = (1..=6)
        .map(|n| {
            user(
                n,
                BgpStatus::Up,
                due_in(&policy, minutes(10 * u64::from(n))),
            )
        })
        .collect();
    // Due in 3 h: outside the window (a quarter of 6 h).
    users.push(user(7, BgpStatus::Up, due_in(&policy, minutes(180))));
    // A change: Down on chain, Established now.
    users.push(user(8, BgpStatus::Down, RECENT));
    let v = view(users);
    let switch = all_established(1..=8);
    let mut table = StateTable::default();
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![
            (user_pk(8), BgpStatus::Up, UpdateReason::Change),
            // The soonest due fill the rest of the transaction.
            (user_pk(1), BgpStatus::Up, UpdateReason::Refresh),
            (user_pk(2), BgpStatus::Up, UpdateReason::Refresh),
            (user_pk(3), BgpStatus::Up, UpdateReason::Refresh),
        ]
    );
    for n in [1, 2, 3, 8] {
        assert!(table.get(&user_pk(n)).unwrap().in_flight.is_some());
    }
    for n in [4, 5, 6, 7] {
        let state = table.get(&user_pk(n)).unwrap();
        assert!(state.in_flight.is_none());
        assert!(matches!(state.why, Why::InSync { .. }), "{:?}", state.why);
    }
}

#[tokio::test(start_paused = true)]
async fn early_refreshes_alone_go_only_as_whole_transactions_or_when_one_is_due() {
    let policy = Policy {
        batch: 4,
        ..Policy::default()
    };
    let minutes = |m: u64| Duration::from_secs(60 * m);
    let v = view(
        (1..=6)
            .map(|n| {
                user(
                    n,
                    BgpStatus::Up,
                    due_in(&policy, minutes(10 * u64::from(n))),
                )
            })
            .collect(),
    );
    let switch = all_established(1..=6);
    let mut table = StateTable::default();
    let first = run(&v, &switch, &mut table, &policy);
    assert_eq!(first.len(), 4, "one whole transaction of early refreshes");
    let now = Instant::now();
    for update in &first {
        table.confirmed(&update.user, update.status, SLOT, 0, now);
    }
    // Two left in the window: not enough to fill a transaction, none due yet.
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    // User 5's refresh falls due: it goes, and user 6 rides along.
    advance(minutes(51)).await;
    assert_eq!(
        statuses(&run(&v, &switch, &mut table, &policy)),
        vec![
            (user_pk(5), BgpStatus::Up, UpdateReason::Refresh),
            (user_pk(6), BgpStatus::Up, UpdateReason::Refresh),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_one_turns_riding_along_off() {
    let policy = Policy {
        batch: 1,
        ..Policy::default()
    };
    let v = view(vec![
        user(1, BgpStatus::Up, due_in(&policy, Duration::from_secs(600))),
        user(2, BgpStatus::Down, RECENT),
    ]);
    let switch = all_established(1..=2);
    let mut table = StateTable::default();
    assert_eq!(
        statuses(&run(&v, &switch, &mut table, &policy)),
        vec![(user_pk(2), BgpStatus::Up, UpdateReason::Change)]
    );
    // Nor does an early refresh go on its own.
    let alone = view(vec![user(
        1,
        BgpStatus::Up,
        due_in(&policy, Duration::from_secs(600)),
    )]);
    assert!(run(&alone, &switch, &mut StateTable::default(), &policy).is_empty());
}

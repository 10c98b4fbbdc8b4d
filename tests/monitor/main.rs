//! The decision, rule by rule, with plain values and a paused clock: no sockets. One file per
//! group of rules; this one holds the fake switch and the builders they share.

#[path = "../support/mod.rs"]
mod support;
#[path = "../vectors/mod.rs"]
mod vectors;

mod dampening;
mod pacing;
mod refresh;
mod ride_along;
mod sessions;
mod tunnels;

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

/// The digest that tells the observer to read the tunnels again changes with the users and
/// their tunnels, and not with what the agent itself writes.
#[test]
fn the_view_tunnels_digest_follows_users_and_tunnels_not_statuses() {
    let base = view(vec![
        user(1, BgpStatus::Up, 10),
        user(2, BgpStatus::Down, 10),
    ]);
    let digest = base.tunnels_digest();
    let written = view(vec![user(1, BgpStatus::Down, 1), user(2, BgpStatus::Up, 1)]);
    assert_eq!(written.tunnels_digest(), digest);

    let added = view(vec![
        user(1, BgpStatus::Up, 10),
        user(2, BgpStatus::Down, 10),
        user(3, BgpStatus::Unknown, 0),
    ]);
    assert_ne!(added.tunnels_digest(), digest);
    let mut moved = view(vec![
        user(1, BgpStatus::Up, 10),
        user(2, BgpStatus::Down, 10),
    ]);
    moved.users[1].1.tunnel_net.addr = Ipv4Addr::new(169, 254, 9, 0);
    assert_ne!(moved.tunnels_digest(), digest);
    let mut renumbered = view(vec![
        user(1, BgpStatus::Up, 10),
        user(2, BgpStatus::Down, 10),
    ]);
    renumbered.users[1].1.tunnel_id += 1;
    assert_ne!(renumbered.tunnels_digest(), digest);
    let mut deleting = view(vec![
        user(1, BgpStatus::Up, 10),
        user(2, BgpStatus::Down, 10),
    ]);
    deleting.users[1].1.status = UserStatus::Deleting;
    assert_ne!(deleting.tunnels_digest(), digest);
}

/// The daemon skips a pass while nothing it decides from changed, until `Decided::next_due`.
/// That must write exactly what a pass every tick writes: one table decided every 100 ms and
/// one decided only when due (told of the skipped readings, as the daemon does) write the same
/// users, the same statuses, at the same moments: the end of the grace period (user 1 drops
/// after 0.2 s), of the minimum interval (it is back at 11 s, just after its Down), the ride-along
/// window (users 2 and 3 fill a batch of two early), and a lone refresh.
#[tokio::test(start_paused = true)]
async fn passes_only_when_due_write_what_a_pass_every_tick_writes() {
    let policy = Policy {
        down_grace: Duration::from_secs(10),
        min_write_interval: Duration::from_secs(3),
        refresh: Duration::from_secs(70),
        batch: 2,
        ..Policy::default()
    };
    // Written 2 s, 40 s and 30 s ago (400 ms slots).
    let v = view(vec![
        user(1, BgpStatus::Up, 5),
        user(2, BgpStatus::Down, 100),
        user(3, BgpStatus::Up, 75),
    ]);
    let mut switch = Switch::with(peer(1), Session::Established);
    switch.set(peer(3), Session::Established);
    switch.set(peer(2), Session::NotEstablished("Active".into()));
    let mut every = StateTable::default();
    let mut when_due = StateTable::default();
    let start = Instant::now();
    let mut due: Option<Option<Instant>> = None;
    let mut written = (Vec::new(), Vec::new());
    for step in 0..1_500u32 {
        let session = match step {
            3 => Some(Session::NotEstablished("Idle".into())),
            110 => Some(Session::Established),
            _ => None,
        };
        if let Some(session) = session {
            switch.set(peer(1), session);
            due = None;
        }
        let now = Instant::now();
        let slot = SLOT + u64::from(step);
        for update in run(&v, &switch, &mut every, &policy) {
            every.confirmed(&update.user, update.status, slot, 0, now);
            written
                .0
                .push((now - start, update.user, update.status, update.reason));
        }
        if due.is_none_or(|until| until.is_some_and(|until| now >= until)) {
            let decided = decided(&v, &switch, &mut when_due, &policy);
            due = Some(decided.next_due);
            for update in decided.updates {
                when_due.confirmed(&update.user, update.status, slot, 0, now);
                written
                    .1
                    .push((now - start, update.user, update.status, update.reason));
                // An outcome makes the next tick a pass.
                due = None;
            }
        } else {
            when_due.unchanged(now);
        }
        advance(Duration::from_millis(100)).await;
    }
    let down_at_grace_end = (
        Duration::from_millis(10_200),
        user_pk(1),
        BgpStatus::Down,
        UpdateReason::Change,
    );
    assert_eq!(
        written.0.first(),
        Some(&down_at_grace_end),
        "{:?}",
        written.0
    );
    assert!(written.0.len() >= 6, "{:?}", written.0);
    assert_eq!(written.0, written.1);
}

//! Fees at rest (issue 15 item 7): a refresh is due 6 h after each user's last write, so users
//! written at different moments refresh at different moments. Written one per transaction, as
//! the upstream agent does, a quiet day costs one signature per user write. Here refreshes due
//! within a quarter of the interval ride along in transactions that go anyway, and lone ones
//! are gathered into whole transactions.
//!
//! A compressed day through the real decision (`monitor::decide`): 1,000 users, the refresh
//! interval scaled from 6 h to 60 s (so 24 h is 240 s, one tick a second), every user's session
//! dropping and coming back at random moments about twice a day, every update confirmed at
//! once; the outbox packs a tick's updates 20 to a transaction. The same schedule under the
//! upstream policy (one user a transaction, no riding along) in the same run. Goal: at most
//! 1/15 signature per user write; exits non-zero otherwise.
//!
//! Run: `cargo bench --bench fees_at_rest`.

#[path = "../tests/vectors/mod.rs"]
mod vectors;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use doublezero_bgpstatus::monitor::{
    decide, DampeningPolicy, Observation, Policy, Session, StateTable, SwitchLookup, VrfSession,
};
use doublezero_bgpstatus::serviceability::{BgpStatus, Device, DeviceView, NetworkV4, User};
use doublezero_bgpstatus::tunnel::Tunnel;
use solana_pubkey::Pubkey;
use tokio::time::Instant;

const USERS: u32 = 1_000;
const DAY: Duration = Duration::from_secs(240);
const TICK: Duration = Duration::from_secs(1);
/// Session changes per user per day, on average.
const CHANGES_PER_DAY: u32 = 2;
const PER_TX: usize = 20;

fn main() {
    let default = day(Policy {
        batch: PER_TX,
        ..scaled()
    });
    let upstream = day(Policy {
        batch: 1,
        ..scaled()
    });
    println!(
        "a compressed day: {USERS} users, refresh every 60 s (6 h scaled 360x), {CHANGES_PER_DAY} session changes a user a day at random times"
    );
    for (name, run) in [
        ("default (ride along, 20 a tx)", &default),
        ("upstream (one user a tx)", &upstream),
    ] {
        println!(
            "{name:>31}: {:>6} user writes ({:>5} changes, {:>6} refreshes) in {:>6} signatures: {:.4} signature per user write",
            run.writes,
            run.changes,
            run.writes - run.changes,
            run.signatures,
            run.signatures as f64 / run.writes as f64
        );
    }
    let per_write = default.signatures as f64 / default.writes as f64;
    let ratio = (upstream.signatures as f64 / upstream.writes as f64) / per_write;
    println!(
        "ratio: {ratio:.1}x fewer signatures per user write than upstream on the same schedule; {:.1}x fewer signatures in all (goal: at most 1/15 signature per user write: {})",
        upstream.signatures as f64 / default.signatures as f64,
        if per_write <= 1.0 / 15.0 { "met" } else { "MISSED" }
    );
    if per_write > 1.0 / 15.0 {
        std::process::exit(1);
    }
}

/// The defaults with the day compressed 360 times; no dampening (a quiet day flaps little).
fn scaled() -> Policy {
    let scale = 360;
    let defaults = Policy::default();
    Policy {
        refresh: defaults.refresh / scale,
        min_write_interval: Duration::ZERO,
        dampening: DampeningPolicy {
            enabled: false,
            ..DampeningPolicy::default()
        },
        ..defaults
    }
}

struct Day {
    writes: usize,
    changes: usize,
    signatures: usize,
}

fn day(policy: Policy) -> Day {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let start = Instant::now();
    let mut switch = BenchSwitch::default();
    let users: Vec<(Pubkey, User)> = (0..USERS).map(|n| user(n, &mut switch)).collect();
    let view = DeviceView {
        slot: 1_000_000,
        device_pk: vectors::DEVICE.parse().unwrap(),
        device: Device::decode(&vectors::hex(vectors::B)).unwrap(),
        users,
    };
    let mut table = StateTable::default();
    let mut slot = view.slot;
    let (mut writes, mut changes, mut signatures) = (0, 0, 0);
    // Flips per tick per user, so each user changes about CHANGES_PER_DAY times a day (twice
    // per flip pair: down then up).
    let ticks = (DAY.as_secs() / TICK.as_secs()) as u32;
    let flip_odds = u64::from(ticks) / u64::from(CHANGES_PER_DAY);
    for tick in 0..ticks {
        let now = start + TICK * tick;
        for n in 0..USERS {
            if rng.next().is_multiple_of(flip_odds) {
                switch.flip(n);
            }
        }
        let updates = decide(
            now,
            &view,
            Observation::Switch(&switch),
            &mut table,
            &policy,
        )
        .updates;
        slot += 3;
        for update in &updates {
            table.confirmed(&update.user, update.status, slot, 0, now);
        }
        writes += updates.len();
        changes += updates
            .iter()
            .filter(|u| u.reason == doublezero_bgpstatus::monitor::UpdateReason::Change)
            .count();
        signatures += updates.len().div_ceil(policy.batch.min(PER_TX));
    }
    Day {
        writes,
        changes,
        signatures,
    }
}

/// User `n`: on the chain as Up written long ago (its first refresh comes at a random moment),
/// its tunnel and session up on the switch.
fn user(n: u32, switch: &mut BenchSwitch) -> (Pubkey, User) {
    let mut user = User::decode(&vectors::hex(vectors::A2)).unwrap();
    let base = u32::from(Ipv4Addr::new(169, 254, 0, 0)) + 2 * n;
    user.tunnel_net = NetworkV4 {
        addr: Ipv4Addr::from(base),
        prefix: 31,
    };
    user.tunnel_id = 500 + n as u16;
    user.bgp_status = BgpStatus::Up;
    // Spread the last writes over the refresh interval (150 slots = 60 s).
    user.last_bgp_reported_at = 1_000_000 - u64::from(n * 7919 % 150);
    switch.add(n, Ipv4Addr::from(base));
    let mut key = [0u8; 32];
    key[..4].copy_from_slice(&n.to_le_bytes());
    (Pubkey::new_from_array(key), user)
}

#[derive(Default)]
struct BenchSwitch {
    sessions: HashMap<Ipv4Addr, bool>,
    tunnels: HashMap<Ipv4Addr, Tunnel>,
    by_number: HashMap<u16, Ipv4Addr>,
}

impl BenchSwitch {
    fn add(&mut self, n: u32, device_addr: Ipv4Addr) {
        let number = 500 + n as u16;
        self.tunnels.insert(
            device_addr,
            Tunnel {
                name: format!("Tunnel{number}").into(),
                vrf: Some("vrf1".into()),
                address: Some(NetworkV4 {
                    addr: device_addr,
                    prefix: 31,
                }),
                interface_status: "connected".into(),
                line_protocol: "up".into(),
            },
        );
        self.by_number.insert(number, device_addr);
        self.sessions
            .insert(Ipv4Addr::from(u32::from(device_addr) + 1), true);
    }

    fn flip(&mut self, n: u32) {
        let peer = Ipv4Addr::from(u32::from(Ipv4Addr::new(169, 254, 0, 0)) + 2 * n + 1);
        if let Some(up) = self.sessions.get_mut(&peer) {
            *up = !*up;
        }
    }
}

impl SwitchLookup for BenchSwitch {
    fn session(&self, peer: Ipv4Addr, _vrf: Option<&str>) -> Option<VrfSession> {
        let up = *self.sessions.get(&peer)?;
        Some(VrfSession {
            vrf: "vrf1".into(),
            session: if up {
                Session::Established
            } else {
                Session::NotEstablished("Active".into())
            },
        })
    }

    fn tunnel(&self, device_addr: Ipv4Addr) -> Option<&Tunnel> {
        self.tunnels.get(&device_addr)
    }

    fn tunnel_numbered(&self, number: u16) -> Option<&Tunnel> {
        self.tunnels.get(self.by_number.get(&number)?)
    }
}

/// A small deterministic generator: the same schedule for both policies.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

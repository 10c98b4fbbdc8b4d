//! The per-user state table and the decision: what the chain should say about each user, and
//! whether to write it now.
//!
//! [`decide`] is one pure function of (now, device view, observation, state table, policy): no
//! I/O, no clock of its own, so every rule is tested with plain values. The daemon feeds it, sends
//! the [`Update`]s it returns, and reports each one's fate back with [`StateTable::confirmed`],
//! [`StateTable::failed`] or [`StateTable::released`]. The table changes its idea of the chain
//! only from confirmations and from views newer than what it knows.

mod dampening;
mod decide;
mod lookup;
mod state;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use dampening::{DampeningPolicy, Flaps};
pub use decide::{decide, Decided};
pub use state::{Cause, Drift, Failure, Session, StateTable, TunnelSeen, UserState, Why};

use solana_pubkey::Pubkey;
use tokio::time::Instant;

use crate::bgp::Vrf;
use crate::serviceability::BgpStatus;
use crate::tunnel::Tunnel;

/// The decision's knobs; defaults follow the upstream agent where it has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Used to estimate how long ago a slot was (seeding after a restart).
    pub slot_duration: Duration,
    /// Keep reporting Up this long after the session was last seen Established (0: off).
    pub down_grace: Duration,
    /// Rewrite an unchanged status this often, so `last_bgp_reported_at` stays fresh.
    pub refresh: Duration,
    /// Never write one user twice within this time.
    pub min_write_interval: Duration,
    pub dampening: DampeningPolicy,
    /// First wait after a failed write; doubles per failure up to `failure_backoff_max`.
    pub failure_backoff: Duration,
    pub failure_backoff_max: Duration,
    /// Users one transaction carries: refreshes due within a quarter of `refresh` ride along
    /// to fill a transaction that goes anyway, and lone ones wait until this many are gathered
    /// (or until one is due). 1 turns riding along off.
    pub batch: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            slot_duration: Duration::from_millis(400),
            down_grace: Duration::ZERO,
            refresh: Duration::from_secs(6 * 3600),
            min_write_interval: Duration::from_secs(5),
            dampening: DampeningPolicy::default(),
            failure_backoff: Duration::from_secs(15),
            failure_backoff_max: Duration::from_secs(600),
            batch: 20,
        }
    }
}

/// What the switch shows, as the decision asks it: sessions by peer address and tunnels by
/// the device side of a user's `tunnel_net`. `crate::switch::SwitchState` answers from one eAPI
/// read; tests answer from plain maps.
pub trait SwitchLookup {
    /// The session to `peer` in `vrf`, or in any VRF when `vrf` is `None` (an Established one
    /// first); `None` when there is none.
    fn session(&self, peer: Ipv4Addr, vrf: Option<&str>) -> Option<VrfSession>;
    /// The tunnel interface whose /31 address is `device_addr`.
    fn tunnel(&self, device_addr: Ipv4Addr) -> Option<&Tunnel>;
    /// The interface `Tunnel<number>`, to tell a moved address from a removed tunnel.
    fn tunnel_numbered(&self, number: u16) -> Option<&Tunnel>;
}

/// A session found on the switch and the VRF it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrfSession {
    pub vrf: Vrf,
    /// `Established` or `NotEstablished`; an absent session is no `VrfSession` at all.
    pub session: Session,
}

/// One tick's reading of the switch. A failed reading (of the BGP summaries or of the
/// interfaces) is its own variant, so nothing downstream can take it for "no sessions" or "no
/// tunnels": it is never evidence of Down.
#[derive(Clone, Copy)]
pub enum Observation<'a> {
    Switch(&'a dyn SwitchLookup),
    Failed,
}

/// Why an update is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateReason {
    /// The chain says something else than what is observed.
    Change,
    /// The chain is right but its `last_bgp_reported_at` is due for renewal.
    Refresh,
}

/// One `SetUserBGPStatus` the decision wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub user: Pubkey,
    pub status: BgpStatus,
    pub reason: UpdateReason,
    /// The session's round-trip time in nanoseconds; 0 (no sample) until the daemon fills it
    /// for an update that `wants_rtt`.
    pub rtt_ns: u64,
    /// The user's BGP neighbor address, to fetch its RTT.
    pub peer: Ipv4Addr,
    /// Whether the update should carry the session's RTT: Up from a live session. Down, or Up
    /// held by the grace period, carries 0.
    pub wants_rtt: bool,
    /// When the state being written was observed, for change-to-confirmation latency.
    pub observed_at: Instant,
}

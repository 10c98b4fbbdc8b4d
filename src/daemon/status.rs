//! The `/status` snapshot: the device, the last observation and view, the outbox, and one row per
//! considered user saying what the agent thinks of it and why it is or is not being written.
//! Built from the state table after each tick; never holds key material.

use serde::Serialize;
use solana_pubkey::Pubkey;
use tokio::time::Instant;

use crate::monitor::{Session, StateTable, TunnelSeen, UserState, Why};

/// Seconds from `now` to `at` (negative when past), for times the JSON reader cannot see as
/// monotonic instants.
fn secs_until(at: Instant, now: Instant) -> f64 {
    if at >= now {
        (at - now).as_secs_f64()
    } else {
        -(now - at).as_secs_f64()
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Status {
    pub version: &'static str,
    pub device: Option<String>,
    pub device_code: Option<String>,
    pub signer: String,
    /// Why nothing is being written at all, when that is the case.
    pub error: Option<String>,
    pub observation: Option<ObservationStatus>,
    pub view: Option<ViewStatus>,
    pub outbox: OutboxStatus,
    pub users: Vec<UserRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservationStatus {
    /// Unix seconds of the last eAPI read.
    pub at: u64,
    pub ok: bool,
    pub error: Option<String>,
    pub peers: usize,
    pub tunnels: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewStatus {
    pub slot: Option<u64>,
    pub age_s: Option<f64>,
    pub stale: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct OutboxStatus {
    pub in_flight: usize,
    pub last_signature: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub pubkey: String,
    pub tunnel_net: Option<String>,
    pub peer: Option<String>,
    /// The tunnel interface holding the user's `tunnel_net`: up, down, absent, or unknown
    /// before the first observation.
    pub tunnel: &'static str,
    pub tunnel_interface: Option<String>,
    pub vrf: Option<String>,
    /// established, or EOS's state name, absent, or unknown before the first observation.
    pub session: String,
    /// A disagreement between the chain and the switch's configuration, if any.
    pub drift: Option<String>,
    pub chain_status: String,
    pub chain_slot: u64,
    pub wanted: Option<String>,
    /// in_sync, writing, in_flight, dampened, min_interval, backoff, no_observation,
    /// no_session, bad_tunnel.
    pub why: &'static str,
    /// The detail of `why`: when the next write can go, or the error.
    pub detail: Option<String>,
    pub flap_penalty: f64,
    pub transitions: u64,
}

impl UserRow {
    pub fn new(
        pubkey: &Pubkey,
        state: &UserState,
        now: Instant,
        dampening: &crate::monitor::DampeningPolicy,
    ) -> Self {
        let (why, detail) = match &state.why {
            Why::InSync { refresh_at } => (
                "in_sync",
                refresh_at.map(|at| format!("refresh due in {:.0}s", secs_until(at, now))),
            ),
            Why::Writing(reason) => ("writing", Some(format!("{reason:?}").to_lowercase())),
            Why::InFlight { since } => (
                "in_flight",
                Some(format!("sent {:.0}s ago", secs_until(now, *since).max(0.0))),
            ),
            Why::Dampened { until } => (
                "dampened",
                until.map(|at| format!("released in {:.0}s if quiet", secs_until(at, now))),
            ),
            Why::MinInterval { until } => (
                "min_interval",
                Some(format!("next write in {:.0}s", secs_until(*until, now))),
            ),
            Why::Backoff { until, error } => (
                "backoff",
                Some(format!(
                    "retry in {:.0}s after: {error}",
                    secs_until(*until, now)
                )),
            ),
            Why::NoObservation => ("no_observation", None),
            Why::NoSession => ("no_session", None),
            Why::BadTunnel(error) => ("bad_tunnel", Some(error.to_string())),
        };
        let tunnel = state.tunnel.as_ref().ok();
        let interface = match &state.tunnel_seen {
            Some(TunnelSeen::Present(t)) => Some(t),
            _ => None,
        };
        Self {
            pubkey: pubkey.to_string(),
            tunnel_net: tunnel.map(ToString::to_string),
            peer: tunnel.map(|t| t.peer_addr().to_string()),
            tunnel: state
                .tunnel_seen
                .as_ref()
                .map_or("unknown", TunnelSeen::state),
            tunnel_interface: interface.map(|t| t.name.to_string()),
            vrf: state
                .session_vrf
                .as_deref()
                .or(interface.and_then(|t| t.vrf.as_deref()))
                .map(String::from),
            drift: state.drift.as_ref().map(ToString::to_string),
            session: match &state.session {
                None => "unknown".into(),
                Some(Session::Established) => "established".into(),
                Some(Session::NotEstablished(name)) => name.clone(),
                Some(Session::Absent) => "absent".into(),
            },
            chain_status: state.chain_status.to_string(),
            chain_slot: state.chain_slot,
            wanted: state.wanted.map(|s| s.to_string()),
            why,
            detail,
            flap_penalty: (state.flaps.penalty(dampening, now) * 10.0).round() / 10.0,
            transitions: state.flaps.transitions,
        }
    }
}

/// One row per user, problems first (anything not in sync), then by pubkey.
pub fn rows(
    table: &StateTable,
    now: Instant,
    dampening: &crate::monitor::DampeningPolicy,
) -> Vec<UserRow> {
    let mut rows: Vec<UserRow> = table
        .iter()
        .map(|(pk, state)| UserRow::new(pk, state, now, dampening))
        .collect();
    rows.sort_by(|a, b| (a.why == "in_sync", &a.pubkey).cmp(&(b.why == "in_sync", &b.pubkey)));
    rows
}

//! The `/status` snapshot: the device, the last observation and view, the outbox, and one row per
//! considered user saying what the agent thinks of it and why it is or is not being written.
//! Built from the state table after each tick; never holds key material. The one schema of the
//! document: the `status` command reads it with these same types, tolerantly (unknown fields
//! ignored, missing counters zero), so an agent one version apart still prints.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use solana_pubkey::Pubkey;
use tokio::time::Instant;

use crate::monitor::{Cause, DampeningPolicy, Session, StateTable, TunnelSeen, UserState, Why};

/// Seconds from `now` to `at` (negative when past), for times the JSON reader cannot see as
/// monotonic instants.
fn secs_until(at: Instant, now: Instant) -> f64 {
    if at >= now {
        (at - now).as_secs_f64()
    } else {
        -(now - at).as_secs_f64()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Status {
    pub version: Cow<'static, str>,
    /// Unix seconds when this snapshot was taken; every `until_s` counts from here.
    pub at: u64,
    pub device: Option<String>,
    pub device_code: Option<String>,
    /// A later part of the Device account this build cannot decode (writes go on).
    pub device_tail_error: Option<String>,
    pub signer: String,
    /// Why nothing is being written at all, when that is the case.
    pub error: Option<String>,
    pub observation: Option<ObservationStatus>,
    pub view: Option<ViewStatus>,
    pub outbox: OutboxStatus,
    /// The EosSdkRpc stream of BGP peer events, when configured; without it the sessions are
    /// read by the eAPI poll alone.
    pub stream: Option<crate::eos_sdk::StreamHealth>,
    /// The `/metrics` and `/status` listener: bound, or how its binds failed.
    pub listener: Option<crate::listener::ListenerStatus>,
    pub users: Vec<UserRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservationStatus {
    /// Unix seconds of the last eAPI read.
    pub at: u64,
    pub ok: bool,
    pub error: Option<String>,
    #[serde(default)]
    pub peers: usize,
    #[serde(default)]
    pub tunnels: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewStatus {
    pub slot: Option<u64>,
    pub age_s: Option<f64>,
    pub stale: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OutboxStatus {
    pub in_flight: usize,
    pub last_signature: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRow {
    pub pubkey: String,
    pub tunnel_net: Option<String>,
    pub peer: Option<String>,
    /// The tunnel interface holding the user's `tunnel_net`: up, down, absent, or unknown
    /// before the first observation.
    pub tunnel: Cow<'static, str>,
    pub tunnel_interface: Option<String>,
    pub vrf: Option<String>,
    /// established, or EOS's state name, absent, or unknown before the first observation.
    pub session: String,
    /// A disagreement between the chain and the switch's configuration, if any.
    pub drift: Option<String>,
    pub chain_status: String,
    pub chain_slot: u64,
    /// The RTT the chain holds with that status, in nanoseconds (0: no sample).
    #[serde(default)]
    pub rtt_ns: u64,
    pub wanted: Option<String>,
    /// in_sync, writing, in_flight, dampened, min_interval, backoff, refused, no_observation,
    /// no_session, bad_tunnel.
    pub why: Cow<'static, str>,
    /// The detail of `why` for a person: when the next write can go, or the error.
    pub detail: Option<String>,
    /// When `why` ends (refresh due, dampening released, interval over, retry), in seconds
    /// from `Status::at`, for a person…
    pub until_s: Option<f64>,
    /// …and as unix seconds, for a program that reads the snapshot later.
    pub until_unix: Option<u64>,
    pub flap_penalty: f64,
    #[serde(default)]
    pub transitions: u64,
}

/// What a [`Why`] says on a row: its name, its detail, and when it ends.
struct Reason {
    why: &'static str,
    detail: Option<String>,
    until: Option<Instant>,
}

impl Reason {
    fn new(why: &Why, now: Instant) -> Self {
        let reason = |why, detail: Option<String>, until| Reason { why, detail, until };
        let secs = |at: Instant| secs_until(at, now);
        match why {
            Why::InSync { refresh_at } => reason(
                "in_sync",
                refresh_at.map(|at| format!("refresh due in {:.0}s", secs(at))),
                *refresh_at,
            ),
            Why::Writing(update) => {
                reason("writing", Some(format!("{update:?}").to_lowercase()), None)
            }
            Why::InFlight { since } => reason(
                "in_flight",
                Some(format!("sent {:.0}s ago", secs_until(now, *since).max(0.0))),
                None,
            ),
            Why::Dampened { until } => reason(
                "dampened",
                Some(match until {
                    Some(at) => format!("flapping; released in {:.0}s if quiet", secs(*at)),
                    None => "flapping; released once the penalty decays".into(),
                }),
                *until,
            ),
            Why::MinInterval { until } => reason(
                "min_interval",
                Some(format!(
                    "written recently; next write in {:.0}s",
                    secs(*until)
                )),
                Some(*until),
            ),
            Why::Backoff {
                until,
                error,
                cause: Cause::Refused,
            } => reason(
                "refused",
                Some(format!(
                    "refused by the program: {error}; retried in {:.0}s",
                    secs(*until)
                )),
                Some(*until),
            ),
            Why::Backoff {
                until,
                error,
                cause: Cause::Payer,
            } => reason(
                "payer",
                Some(format!(
                    "the payer cannot pay: {error}; retried in {:.0}s",
                    secs(*until)
                )),
                Some(*until),
            ),
            Why::Backoff { until, error, .. } => reason(
                "backoff",
                Some(format!("retry in {:.0}s after: {error}", secs(*until))),
                Some(*until),
            ),
            Why::NoObservation => reason(
                "no_observation",
                Some("the switch could not be read".into()),
                None,
            ),
            Why::NoSession => reason(
                "no_session",
                Some("no session and no tunnel here, and the chain has no status yet".into()),
                None,
            ),
            Why::BadTunnel(error) => reason("bad_tunnel", Some(error.to_string()), None),
        }
    }
}

impl UserRow {
    /// The row of one user as of `now`, which is `now_unix` on the wall clock.
    pub fn new(
        pubkey: &Pubkey,
        state: &UserState,
        now: Instant,
        now_unix: u64,
        dampening: &DampeningPolicy,
    ) -> Self {
        let Reason { why, detail, until } = Reason::new(&state.why, now);
        let (until_s, until_unix) = until_times(until, now, now_unix);
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
                .map_or("unknown", TunnelSeen::state)
                .into(),
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
            rtt_ns: state.chain_rtt_ns,
            wanted: state.wanted.map(|s| s.to_string()),
            why: why.into(),
            detail,
            until_s,
            until_unix,
            flap_penalty: (state.flaps.penalty(dampening, now) * 10.0).round() / 10.0,
            transitions: state.flaps.transitions,
        }
    }
}

/// `until` as tenths of seconds from `now` and as unix seconds, `now` being `now_unix`.
fn until_times(until: Option<Instant>, now: Instant, now_unix: u64) -> (Option<f64>, Option<u64>) {
    let until_s = until.map(|at| (secs_until(at, now) * 10.0).round() / 10.0);
    let until_unix = until_s.map(|s| now_unix.saturating_add_signed(s.round() as i64));
    (until_s, until_unix)
}

/// One row per user, problems first (anything not in sync), then by pubkey.
pub fn rows(
    table: &StateTable,
    now: Instant,
    now_unix: u64,
    dampening: &DampeningPolicy,
) -> Vec<UserRow> {
    let mut rows: Vec<UserRow> = table
        .iter()
        .map(|(pk, state)| UserRow::new(pk, state, now, now_unix, dampening))
        .collect();
    rows.sort_by(|a, b| (a.why == "in_sync", &a.pubkey).cmp(&(b.why == "in_sync", &b.pubkey)));
    rows
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_refusal_by_the_program_is_its_own_reason_with_its_retry_time() {
        let now = Instant::now();
        let until = now + Duration::from_secs(600);
        let refused = Reason::new(
            &Why::Backoff {
                until,
                error: "custom program error 0x2a".into(),
                cause: Cause::Refused,
            },
            now,
        );
        assert_eq!(refused.why, "refused");
        assert_eq!(
            refused.detail.as_deref(),
            Some("refused by the program: custom program error 0x2a; retried in 600s")
        );
        assert_eq!(refused.until, Some(until));
    }

    #[test]
    fn a_transient_failure_backs_off_and_says_after_what() {
        let now = Instant::now();
        let backoff = Reason::new(
            &Why::Backoff {
                until: now + Duration::from_secs(15),
                error: "node unhealthy".into(),
                cause: Cause::Unknown,
            },
            now,
        );
        assert_eq!(backoff.why, "backoff");
        assert_eq!(
            backoff.detail.as_deref(),
            Some("retry in 15s after: node unhealthy")
        );
    }

    #[test]
    fn times_until_are_relative_and_absolute_and_agree() {
        let now = Instant::now();
        let at = now + Duration::from_millis(21_540_250);
        assert_eq!(
            until_times(Some(at), now, 1_750_000_000),
            (Some(21_540.3), Some(1_750_021_540))
        );
        assert_eq!(until_times(None, now, 1_750_000_000), (None, None));
        let reason = Reason::new(
            &Why::InSync {
                refresh_at: Some(at),
            },
            now,
        );
        assert_eq!((reason.why, reason.until), ("in_sync", Some(at)));
    }

    #[test]
    fn the_document_reads_back_and_an_agent_a_version_apart_still_reads() {
        let row = UserRow {
            pubkey: "u".into(),
            tunnel_net: Some("169.254.0.0/31".into()),
            peer: Some("169.254.0.1".into()),
            tunnel: "up".into(),
            tunnel_interface: Some("Tunnel500".into()),
            vrf: Some("vrf1".into()),
            session: "established".into(),
            drift: None,
            chain_status: "up".into(),
            chain_slot: 7,
            rtt_ns: 1_500_000,
            wanted: None,
            why: "in_sync".into(),
            detail: None,
            until_s: Some(1.5),
            until_unix: Some(2),
            flap_penalty: 0.0,
            transitions: 3,
        };
        let status = Status {
            version: "1.2.3".into(),
            at: 1,
            users: vec![row],
            ..Status::default()
        };
        let text = serde_json::to_string(&status).unwrap();
        let read: Status = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), text);

        // Older: no rtt_ns, transitions, peers or tunnels; newer: fields this build lacks.
        let other = serde_json::json!({
            "version": "0.9", "at": 5, "signer": "s", "future": {"x": 1},
            "observation": {"at": 4, "ok": true, "error": null},
            "users": [{"pubkey": "u", "tunnel": "up", "session": "absent", "chain_status": "down",
                       "chain_slot": 1, "why": "refused", "flap_penalty": 0.5, "new_column": 1}],
        });
        let read: Status = serde_json::from_value(other).unwrap();
        assert_eq!(read.observation.map(|o| (o.peers, o.tunnels)), Some((0, 0)));
        assert_eq!(
            (
                &*read.users[0].why,
                read.users[0].rtt_ns,
                read.outbox.in_flight
            ),
            ("refused", 0, 0)
        );
    }
}

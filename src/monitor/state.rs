//! The per-user state table: for each considered user, what the chain says, what the switch
//! shows, what was written, and why the user is or is not being written now.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use solana_pubkey::Pubkey;
use tokio::time::Instant;

use super::{Flaps, Policy, UpdateReason};
use crate::bgp::Vrf;
use crate::fasthash::FastHash;
use crate::serviceability::{BgpStatus, NetworkV4, TunnelNet, TunnelNetError, User};
use crate::tunnel::Tunnel;

/// The BGP session to a user's peer address, as last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    Established,
    /// Present in another state (EOS's name for it).
    NotEstablished(String),
    Absent,
}

/// The user's tunnel interface, as last observed: the interface that holds the device side of
/// the user's `tunnel_net`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelSeen {
    /// No tunnel interface holds the address: the user is not (or no longer) provisioned here.
    Absent,
    /// Present, with its name, VRF and status.
    Present(Tunnel),
}

impl TunnelSeen {
    /// `absent`, `down` or `up`, the way an operator reads the row.
    pub fn state(&self) -> &'static str {
        match self {
            TunnelSeen::Absent => "absent",
            TunnelSeen::Present(tunnel) if tunnel.is_up() => "up",
            TunnelSeen::Present(_) => "down",
        }
    }
}

/// A disagreement between the chain's provisioning and the switch's configuration. Reported,
/// never guessed around: the session still decides the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// `Tunnel<tunnel_id>` exists but does not hold the user's `tunnel_net`.
    TunnelElsewhere {
        interface: Arc<str>,
        address: Option<NetworkV4>,
        tunnel_net: TunnelNet,
    },
    /// The user's `tunnel_net` sits on an interface not named `Tunnel<tunnel_id>`.
    Misnamed { interface: Arc<str>, tunnel_id: u16 },
    /// A session to the user's peer exists but no tunnel holds the user's `tunnel_net`.
    SessionWithoutTunnel { vrf: Vrf },
    /// The tunnel is in one VRF and the only session to the peer in another.
    SessionInOtherVrf { tunnel_vrf: Vrf, session_vrf: Vrf },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::TunnelElsewhere {
                interface,
                address,
                tunnel_net,
            } => {
                let address = address.map_or("no address".to_owned(), |net| net.to_string());
                write!(f, "{interface} holds {address}, the chain says {tunnel_net}")
            }
            Drift::Misnamed {
                interface,
                tunnel_id,
            } => write!(
                f,
                "the user's tunnel_net is on {interface}, the chain says Tunnel{tunnel_id}"
            ),
            Drift::SessionWithoutTunnel { vrf } => write!(
                f,
                "a BGP session to the user's peer is in VRF {vrf} but no tunnel holds its tunnel_net"
            ),
            Drift::SessionInOtherVrf {
                tunnel_vrf,
                session_vrf,
            } => write!(
                f,
                "the tunnel is in VRF {tunnel_vrf} but the BGP session is in VRF {session_vrf}"
            ),
        }
    }
}

/// Why a user is or is not being written, as of the last decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// The chain matches; the next refresh is due then (`None`: never written, due now).
    InSync {
        refresh_at: Option<Instant>,
    },
    /// An update was emitted by the last decision.
    Writing(UpdateReason),
    InFlight {
        since: Instant,
    },
    /// Flapping: an Up is not written until the penalty decays (a Down never waits for it).
    Dampened {
        until: Option<Instant>,
    },
    /// Written too recently; the next write may go then.
    MinInterval {
        until: Instant,
    },
    /// The last write failed; it is retried then, and `cause` says whose failure it was.
    Backoff {
        until: Instant,
        error: String,
        cause: Cause,
    },
    /// The switch could not be read this tick: no evidence either way.
    NoObservation,
    /// No session to the user and the chain does not say Up: nothing to report yet.
    NoSession,
    /// `tunnel_net` is not a usable /31, so the user's peer is unknown.
    BadTunnel(TunnelNetError),
}

/// Whose failure it was, which decides when the user is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The program refused this user's instruction (its own error about the user's account):
    /// sending it again fails the same way until the chain changes.
    Refused,
    /// The payer could not pay the fee or this user's account growth: a payer problem.
    Payer,
    /// The RPC or the cluster did not take or confirm it: nothing about the user, so it goes
    /// again as soon as the RPC answers.
    Rpc,
    /// An error this agent does not know; retried with backoff, never permanent.
    Unknown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Refused => "refused",
            Cause::Payer => "payer",
            Cause::Rpc => "rpc",
            Cause::Unknown => "unknown",
        }
    }
}

/// The last failed write of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The status that failed to be written; the backoff holds back only that status.
    pub status: BgpStatus,
    pub error: String,
    pub cause: Cause,
    pub attempts: u32,
    pub retry_at: Instant,
}

/// Everything the agent knows about one user.
#[derive(Debug, Clone)]
pub struct UserState {
    pub tunnel: Result<TunnelNet, TunnelNetError>,
    /// The chain's status as last confirmed or read from a newer view.
    pub chain_status: BgpStatus,
    /// `last_bgp_reported_at` of that status (slot).
    pub chain_slot: u64,
    /// `bgp_rtt_ns` written with that status (0: no sample), so `/status` shows the RTT a
    /// reader of the account sees without the daemon keeping a second table.
    pub chain_rtt_ns: u64,
    /// When the chain's status was last written (estimated from slots after a restart).
    pub last_write: Option<Instant>,
    pub last_seen_up: Option<Instant>,
    pub session: Option<Session>,
    /// The VRF the session was found in, when present.
    pub session_vrf: Option<Vrf>,
    /// `None` until the switch was first read.
    pub tunnel_seen: Option<TunnelSeen>,
    /// The drift last reported; a new warning is logged only when this changes.
    pub drift: Option<Drift>,
    /// The status the decision wants on chain (after the grace period).
    pub wanted: Option<BgpStatus>,
    /// Whether the wanted Up is held only by the grace period.
    pub held_by_grace: bool,
    pub in_flight: Option<(Instant, BgpStatus)>,
    pub flaps: Flaps,
    pub failure: Option<Failure>,
    pub why: Why,
    /// The last decision pass that found the user in the view.
    pub(super) pass: u64,
}

impl UserState {
    /// A new entry, seeded from the chain: after a restart the agent starts from what the chain
    /// says, never from Unknown, and estimates when it was last written from the slots.
    pub fn seed(user: &User, view_slot: u64, now: Instant, policy: &Policy) -> Self {
        Self {
            tunnel: user.tunnel(),
            chain_status: user.bgp_status,
            chain_slot: user.last_bgp_reported_at,
            chain_rtt_ns: user.bgp_rtt_ns,
            last_write: write_time(user.last_bgp_reported_at, view_slot, now, policy),
            last_seen_up: None,
            session: None,
            session_vrf: None,
            tunnel_seen: None,
            drift: None,
            wanted: None,
            held_by_grace: false,
            in_flight: None,
            flaps: Flaps::new(now),
            failure: None,
            why: Why::NoObservation,
            pass: 0,
        }
    }

    /// The earliest time after `now` at which time alone could change this user's decision:
    /// the end of the grace period, of a failed write's backoff, of dampening and of the
    /// minimum write interval, the start of the ride-along window and the refresh. A superset:
    /// a time that changes nothing costs one pass. The grace ends only for a session that is
    /// not Established: an Established one is seen Up again by every pass, so its grace
    /// never runs out, and counting it would make every grace period a pass over every user.
    pub(super) fn next_change(&self, now: Instant, policy: &Policy) -> Option<Instant> {
        let early = policy.refresh - policy.refresh / 4;
        [
            self.last_seen_up
                .filter(|_| self.session != Some(Session::Established))
                .map(|at| at + policy.down_grace),
            self.failure.as_ref().map(|failure| failure.retry_at),
            self.flaps.release_at(&policy.dampening, now),
            self.last_write.map(|at| at + policy.min_write_interval),
            self.last_write.map(|at| at + early),
            self.last_write.map(|at| at + policy.refresh),
        ]
        .into_iter()
        .flatten()
        .filter(|at| *at > now)
        .min()
    }

    /// Takes in a write the chain shows and this table has not seen (another writer, or a
    /// confirmation lost across a restart). Views older than a confirmation change nothing.
    pub(super) fn sync_chain(
        &mut self,
        user: &User,
        view_slot: u64,
        now: Instant,
        policy: &Policy,
    ) {
        self.tunnel = user.tunnel();
        if user.last_bgp_reported_at > self.chain_slot {
            self.chain_status = user.bgp_status;
            self.chain_slot = user.last_bgp_reported_at;
            self.chain_rtt_ns = user.bgp_rtt_ns;
            self.last_write = write_time(user.last_bgp_reported_at, view_slot, now, policy);
        }
    }
}

/// When slot `reported` happened, seen from `view_slot` read `now`; `None` when never written or
/// longer ago than this process can express (which makes the refresh due).
fn write_time(reported: u64, view_slot: u64, now: Instant, policy: &Policy) -> Option<Instant> {
    if reported == 0 {
        return None;
    }
    let slots = u32::try_from(view_slot.saturating_sub(reported)).ok()?;
    now.checked_sub(policy.slot_duration.checked_mul(slots)?)
}

/// The per-user state of every considered user, keyed by the User account's pubkey.
#[derive(Debug, Default)]
pub struct StateTable {
    /// Boxed: the map stays small enough to stay in cache while every user is looked up each
    /// pass, and the rows, allocated in the view's order, are walked in that order.
    pub(super) users: HashMap<Pubkey, Box<UserState>, FastHash>,
    /// Decision passes so far (see [`UserState::pass`]).
    pub(super) passes: u64,
    /// The last time the switch was seen unchanged without a decision pass (see
    /// [`StateTable::unchanged`]).
    pub(super) unchanged_at: Option<Instant>,
}

impl StateTable {
    /// The switch, as last read, was seen again unchanged at `at` and no pass ran: the next
    /// pass counts every session it last found Established as seen Up at `at`, so the grace
    /// period runs from the last time the session was seen, as if every pass had run.
    pub fn unchanged(&mut self, at: Instant) {
        self.unchanged_at = Some(at);
    }

    pub fn get(&self, user: &Pubkey) -> Option<&UserState> {
        self.users.get(user).map(|entry| &**entry)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Pubkey, &UserState)> {
        self.users.iter().map(|(pubkey, entry)| (pubkey, &**entry))
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The write of `status` with `rtt_ns` landed at `slot`.
    pub fn confirmed(
        &mut self,
        user: &Pubkey,
        status: BgpStatus,
        slot: u64,
        rtt_ns: u64,
        now: Instant,
    ) {
        // A user pruned while its write was in flight stays pruned.
        let Some(entry) = self.users.get_mut(user) else {
            return;
        };
        entry.in_flight = None;
        entry.failure = None;
        if slot >= entry.chain_slot {
            entry.chain_status = status;
            entry.chain_slot = slot;
            entry.chain_rtt_ns = rtt_ns;
            entry.last_write = Some(now);
        }
    }

    /// The write failed, and no bytes carrying it can land any more. A refusal by the program
    /// waits the longest backoff, since only a change can fix it; the RPC's failure waits
    /// nothing (the next tick decides again from a fresh reading); anything else waits a
    /// backoff that doubles per failure.
    pub fn failed(
        &mut self,
        user: &Pubkey,
        error: String,
        cause: Cause,
        now: Instant,
        policy: &Policy,
    ) {
        let Some(entry) = self.users.get_mut(user) else {
            return;
        };
        let status = entry
            .in_flight
            .take()
            .map(|(_, status)| status)
            .or(entry.wanted)
            .unwrap_or_default();
        let attempts = match &entry.failure {
            Some(previous) if previous.status == status => previous.attempts + 1,
            _ => 1,
        };
        let wait = match cause {
            Cause::Refused => policy.failure_backoff_max,
            Cause::Rpc => std::time::Duration::ZERO,
            Cause::Payer | Cause::Unknown => crate::backoff::doubling(
                attempts,
                policy.failure_backoff,
                policy.failure_backoff_max,
            ),
        };
        entry.failure = Some(Failure {
            status,
            error,
            cause,
            attempts,
            retry_at: now + wait,
        });
    }

    /// The update was not sent (e.g. a refresh held back by the fee guard): the user is free
    /// to be decided again next tick.
    pub fn released(&mut self, user: &Pubkey) {
        if let Some(entry) = self.users.get_mut(user) {
            entry.in_flight = None;
        }
    }
}

//! The decision: one pure function from (now, view, observation, table, policy) to updates.

use tokio::time::Instant;

use super::state::{Drift, Session, TunnelSeen, UserState, Why};
use super::{Observation, Policy, SwitchLookup, Update, UpdateReason, VrfSession};
use crate::serviceability::{BgpStatus, DeviceView, TunnelNet, User, UserStatus};
use crate::tunnel::Tunnel;

/// Decides, for every user of the device, what the chain should say and whether to write it now.
///
/// - Considered users: Activated and on this device; the others leave the table, in-flight
///   marks included.
/// - The user's tunnel is the interface holding the device side of its `tunnel_net`; its peer is
///   looked up in the tunnel's VRF when that is known, so one address in two VRFs is never
///   confused.
/// - Up when the session is Established. Down when the session is present and not Established,
///   or absent while the tunnel is present (provisioned here, not connected). With neither,
///   the user is not provisioned here: Down only when the chain says Up, and a chain Down keeps
///   its refresh; the chain Unknown says nothing.
/// - Drift between the chain and the switch (see [`Drift`]) is kept on the row, and returned in
///   [`Decided::drifts`] once per change for the caller to report; it never changes the status.
/// - A failed observation yields no update at all.
/// - Grace, refresh, dampening, minimum interval, in-flight and failure backoff as in [`Policy`].
///   Dampening only ever delays an Up: a flapping user that settles Down is written Down once
///   the grace period is over, suppressed or not.
/// - Refreshes ride along: one due within a quarter of the refresh interval joins the writes of
///   this tick to fill their last transaction, and such early refreshes alone go only as whole
///   transactions of [`Policy::batch`] users; each still goes by its own due time at the latest.
///   So a day at rest costs one signature per transaction of users, not one per user.
pub fn decide(
    now: Instant,
    view: &DeviceView,
    observation: Observation<'_>,
    table: &mut super::StateTable,
    policy: &Policy,
) -> Decided {
    let considered = view.users.iter().filter(|(_, user)| {
        user.status == UserStatus::Activated && user.device_pk == view.device_pk
    });
    // Every entry this pass touches is stamped; the others leave the table after it.
    table.passes += 1;
    let pass = table.passes;
    let unchanged_at = table.unchanged_at.take();
    let mut next_due: Option<Instant> = None;
    let mut updates = Vec::new();
    let mut drifts = Vec::new();
    let mut transitions = 0;
    let mut early: Vec<(Instant, Update)> = Vec::new();
    for (pubkey, user) in considered {
        let entry = table
            .users
            .entry(*pubkey)
            .or_insert_with(|| Box::new(UserState::seed(user, view.slot, now, policy)));
        entry.pass = pass;
        if entry.session == Some(Session::Established) {
            entry.last_seen_up = entry.last_seen_up.max(unchanged_at);
        }
        entry.sync_chain(user, view.slot, now, policy);
        let flaps = entry.flaps.transitions;
        let decision = decide_user(entry, pubkey, user, now, observation, policy, &mut drifts);
        transitions += entry.flaps.transitions.saturating_sub(flaps);
        next_due = next_due
            .into_iter()
            .chain(entry.next_change(now, policy))
            .min();
        match decision {
            Decision::Write(update) => updates.push(update),
            Decision::Early { due, update } => early.push((due, update)),
            Decision::Nothing => {}
        }
    }
    table.users.retain(|_, entry| entry.pass == pass);
    let batch = policy.batch.max(1);
    let room = match updates.len() % batch {
        // One user a transaction: nothing to ride along with.
        _ if batch == 1 => 0,
        // A transaction goes anyway: fill its room.
        partial if partial > 0 => batch - partial,
        // Nothing goes: only whole transactions of early refreshes.
        _ if updates.is_empty() => early.len() / batch * batch,
        _ => 0,
    };
    early.sort_by_key(|(due, _)| *due);
    for (_, update) in early.into_iter().take(room) {
        if let Some(entry) = table.users.get_mut(&update.user) {
            entry.in_flight = Some((now, update.status));
            entry.why = Why::Writing(UpdateReason::Refresh);
        }
        updates.push(update);
    }
    Decided {
        updates,
        drifts,
        transitions,
        next_due,
    }
}

/// What one pass of [`decide`] yields.
#[derive(Debug, Default)]
pub struct Decided {
    /// The writes to send now.
    pub updates: Vec<Update>,
    /// Drifts that appeared or changed in this pass (not those that persist), each with its
    /// user and the tunnel id the chain holds.
    pub drifts: Vec<(solana_pubkey::Pubkey, u16, Drift)>,
    /// Changes of mind (wanted status flipping) in this pass, counted as flaps.
    pub transitions: u64,
    /// The earliest time after this pass at which time alone could change a decision; `None`:
    /// never. Until then, a pass over the same view, switch reading and table decides the same.
    pub next_due: Option<Instant>,
}

/// What the decision makes of one user.
enum Decision {
    Write(Update),
    /// A refresh due at `due`, within the ride-along window: written only if it can ride along.
    Early {
        due: Instant,
        update: Update,
    },
    Nothing,
}

/// One user's decision, step by step: what the switch shows ([`observe`]), what the chain
/// should say ([`want`]), whether something holds the write back ([`held_back`]), and whether a
/// write is due ([`due`]).
fn decide_user(
    entry: &mut UserState,
    pubkey: &solana_pubkey::Pubkey,
    user: &User,
    now: Instant,
    observation: Observation<'_>,
    policy: &Policy,
    drifts: &mut Vec<(solana_pubkey::Pubkey, u16, Drift)>,
) -> Decision {
    let tunnel = match &entry.tunnel {
        Ok(tunnel) => *tunnel,
        Err(error) => {
            entry.why = Why::BadTunnel(error.clone());
            return Decision::Nothing;
        }
    };
    let Observation::Switch(switch) = observation else {
        entry.why = Why::NoObservation;
        return Decision::Nothing;
    };
    let drift = observe(entry, user.tunnel_id, tunnel, switch, now);
    if drift != entry.drift {
        if let Some(drift) = &drift {
            // Once per change, not per tick: the row keeps it for operators in between.
            drifts.push((*pubkey, user.tunnel_id, drift.clone()));
        }
        entry.drift = drift;
    }
    let Some(observed) = observed(entry) else {
        entry.wanted = None;
        entry.why = Why::NoSession;
        return Decision::Nothing;
    };
    let (wanted, held_by_grace) = want(entry, observed, now, policy);
    if let Some(why) = held_back(entry, wanted, now, policy) {
        entry.why = why;
        return Decision::Nothing;
    }
    let (reason, early) = match due(entry, wanted, now, policy) {
        Ok(due) => due,
        Err(why) => {
            entry.why = why;
            return Decision::Nothing;
        }
    };
    let update = Update {
        user: *pubkey,
        status: wanted,
        reason,
        rtt_ns: 0,
        peer: tunnel.peer_addr(),
        wants_rtt: wanted == BgpStatus::Up && !held_by_grace,
        observed_at: now,
    };
    if let Some(due) = early {
        // Stays in sync unless it rides along (see `decide`).
        entry.why = Why::InSync {
            refresh_at: Some(due),
        };
        return Decision::Early { due, update };
    }
    entry.in_flight = Some((now, wanted));
    entry.why = Why::Writing(reason);
    Decision::Write(update)
}

/// Records what the switch shows of the user: its tunnel interface, its session and the VRF it
/// was found in, and when it was last seen Up. Returns the drift between chain and switch.
fn observe(
    entry: &mut UserState,
    tunnel_id: u16,
    tunnel: TunnelNet,
    switch: &dyn SwitchLookup,
    now: Instant,
) -> Option<Drift> {
    // The same /31 may sit on two tunnels in different VRFs (a leftover one): the user's own
    // `Tunnel<tunnel_id>` wins, so the session is looked up in the same VRF on every tick.
    let interface = switch
        .tunnel_numbered(tunnel_id)
        .filter(|own| own.holds(tunnel.device_addr()))
        .or_else(|| switch.tunnel(tunnel.device_addr()));
    let tunnel_vrf = interface.and_then(|found| found.vrf.as_deref());
    let found = switch.session(tunnel.peer_addr(), tunnel_vrf);
    let drift = drift(switch, tunnel_id, tunnel, interface, found.as_ref());
    let session = found
        .as_ref()
        .map_or(Session::Absent, |found| found.session.clone());
    if session == Session::Established {
        entry.last_seen_up = Some(now);
    }
    entry.session = Some(session);
    entry.session_vrf = found.map(|found| found.vrf);
    // Kept when the same: a tick at rest then clones nothing per user.
    let same_tunnel = match (&entry.tunnel_seen, interface) {
        (Some(TunnelSeen::Present(kept)), Some(found)) => kept == found,
        (Some(TunnelSeen::Absent), None) => true,
        _ => false,
    };
    if !same_tunnel {
        entry.tunnel_seen = Some(interface.map_or(TunnelSeen::Absent, |found| {
            TunnelSeen::Present(found.clone())
        }));
    }
    drift
}

/// The status the switch shows: Up when Established; Down when the session is there and not
/// Established, or absent while the tunnel is there. With neither the user is not provisioned
/// here: Down only when the chain holds a status, nothing when it holds Unknown.
fn observed(entry: &UserState) -> Option<BgpStatus> {
    let tunnel_present = matches!(entry.tunnel_seen, Some(TunnelSeen::Present(_)));
    match entry.session.as_ref()? {
        Session::Established => Some(BgpStatus::Up),
        Session::NotEstablished(_) => Some(BgpStatus::Down),
        Session::Absent if tunnel_present => Some(BgpStatus::Down),
        Session::Absent => match entry.chain_status {
            BgpStatus::Up | BgpStatus::Down => Some(BgpStatus::Down),
            BgpStatus::Unknown => None,
        },
    }
}

/// What the chain should say: the observed status, except that a Down within the grace period
/// after the session was last seen Up is held as Up. Counts a change of mind as a flap.
/// Returns the wanted status and whether grace is holding it.
fn want(
    entry: &mut UserState,
    observed: BgpStatus,
    now: Instant,
    policy: &Policy,
) -> (BgpStatus, bool) {
    let within_grace = entry
        .last_seen_up
        .is_some_and(|seen| now.saturating_duration_since(seen) < policy.down_grace);
    let held_by_grace = observed == BgpStatus::Down && within_grace;
    let wanted = if held_by_grace {
        BgpStatus::Up
    } else {
        observed
    };
    if entry.wanted.is_some_and(|previous| previous != wanted) {
        entry.flaps.transition(&policy.dampening, now);
    }
    entry.wanted = Some(wanted);
    entry.held_by_grace = held_by_grace;
    (wanted, held_by_grace)
}

/// Why `wanted` may not be written now whatever is due: a write in flight, the backoff of a
/// failed write of the same status, or dampening of an Up.
fn held_back(
    entry: &mut UserState,
    wanted: BgpStatus,
    now: Instant,
    policy: &Policy,
) -> Option<Why> {
    if let Some((since, _)) = entry.in_flight {
        return Some(Why::InFlight { since });
    }
    // The backoff is for retrying the same write. A new status was never tried: it goes out
    // now, or a Down would wait out minutes of backoff earned by refreshes during an outage.
    if let Some(failure) = entry
        .failure
        .as_ref()
        .filter(|f| now < f.retry_at && f.status == wanted)
    {
        return Some(Why::Backoff {
            until: failure.retry_at,
            error: failure.error.clone(),
            cause: failure.cause,
        });
    }
    // RFC 2439 withholds a suppressed route, and withholding a session is reporting it Down:
    // dampening may delay an Up, never a Down (the grace already held it as long as asked).
    if wanted == BgpStatus::Up && entry.flaps.is_suppressed(&policy.dampening, now) {
        return Some(Why::Dampened {
            until: entry.flaps.release_at(&policy.dampening, now),
        });
    }
    None
}

/// Whether a write of `wanted` is due, and why: a change, or a refresh (due, or due within a
/// quarter of the refresh interval: then `early` is its due time, and it goes only riding
/// along). Else why not: in sync, or written too recently.
fn due(
    entry: &UserState,
    wanted: BgpStatus,
    now: Instant,
    policy: &Policy,
) -> Result<(UpdateReason, Option<Instant>), Why> {
    let refresh_at = entry.last_write.map(|at| at + policy.refresh);
    let early = refresh_at.filter(|at| now < *at && now + policy.refresh / 4 >= *at);
    let reason = if wanted != entry.chain_status {
        UpdateReason::Change
    } else if refresh_at.is_none_or(|at| now >= at) || early.is_some() {
        UpdateReason::Refresh
    } else {
        return Err(Why::InSync { refresh_at });
    };
    if let Some(until) = entry
        .last_write
        .map(|at| at + policy.min_write_interval)
        .filter(|until| now < *until)
    {
        return Err(Why::MinInterval { until });
    }
    Ok((reason, early.filter(|_| reason == UpdateReason::Refresh)))
}

/// What disagrees between the chain and the switch for one user, the most telling first.
fn drift(
    switch: &dyn SwitchLookup,
    tunnel_id: u16,
    tunnel_net: TunnelNet,
    interface: Option<&Tunnel>,
    session: Option<&VrfSession>,
) -> Option<Drift> {
    match interface {
        Some(found) if found.number() != Some(tunnel_id) => Some(Drift::Misnamed {
            interface: found.name.clone(),
            tunnel_id,
        }),
        Some(found) => {
            let tunnel_vrf = found.vrf.as_ref()?;
            if session.is_some() {
                return None;
            }
            // Only now look in every VRF: this costs a second lookup on the rare absent path.
            let elsewhere = switch.session(tunnel_net.peer_addr(), None)?;
            Some(Drift::SessionInOtherVrf {
                tunnel_vrf: tunnel_vrf.clone(),
                session_vrf: elsewhere.vrf,
            })
        }
        None => match switch.tunnel_numbered(tunnel_id) {
            Some(named) => Some(Drift::TunnelElsewhere {
                interface: named.name.clone(),
                address: named.address,
                tunnel_net,
            }),
            None => session.map(|found| Drift::SessionWithoutTunnel {
                vrf: found.vrf.clone(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use solana_pubkey::Pubkey;

    use super::*;
    use crate::monitor::{Cause, Failure};
    use crate::serviceability::{NetworkV4, UserType};

    /// A user on a /31 whose chain holds `chain`, as the table first sees it.
    fn entry(chain: BgpStatus, now: Instant) -> UserState {
        let user = User {
            owner: Pubkey::new_unique(),
            user_type: UserType::Ibrl,
            tenant_pk: Pubkey::default(),
            device_pk: Pubkey::new_unique(),
            client_ip: Ipv4Addr::new(1, 2, 3, 4),
            dz_ip: Ipv4Addr::new(1, 2, 3, 4),
            tunnel_id: 500,
            tunnel_net: NetworkV4 {
                addr: Ipv4Addr::new(169, 254, 0, 0),
                prefix: 31,
            },
            status: UserStatus::Activated,
            publishers: Vec::new(),
            subscribers: Vec::new(),
            validator_pubkey: Pubkey::default(),
            tunnel_endpoint: Ipv4Addr::UNSPECIFIED,
            tunnel_flags: 0,
            bgp_status: chain,
            last_bgp_up_at: 0,
            last_bgp_reported_at: 0,
            bgp_rtt_ns: 0,
            feed_pks: Vec::new(),
        };
        UserState::seed(&user, 100, now, &Policy::default())
    }

    #[test]
    fn observed_needs_a_session_or_a_tunnel_or_a_status_on_chain() {
        let now = Instant::now();
        let mut e = entry(BgpStatus::Unknown, now);
        assert_eq!(observed(&e), None, "not observed yet");
        e.session = Some(Session::Established);
        assert_eq!(observed(&e), Some(BgpStatus::Up));
        e.session = Some(Session::NotEstablished("Active".into()));
        assert_eq!(observed(&e), Some(BgpStatus::Down));
        e.session = Some(Session::Absent);
        e.tunnel_seen = Some(TunnelSeen::Absent);
        assert_eq!(observed(&e), None, "not provisioned here, chain Unknown");
        e.chain_status = BgpStatus::Up;
        assert_eq!(observed(&e), Some(BgpStatus::Down), "the chain says Up");
    }

    /// The default policy with a 30 s down grace.
    fn with_grace() -> Policy {
        Policy {
            down_grace: Duration::from_secs(30),
            ..Policy::default()
        }
    }

    #[test]
    fn want_holds_a_down_as_up_within_grace_and_counts_changes_of_mind() {
        let now = Instant::now();
        let policy = with_grace();
        let mut e = entry(BgpStatus::Up, now);
        e.last_seen_up = Some(now);
        assert_eq!(
            want(&mut e, BgpStatus::Up, now, &policy),
            (BgpStatus::Up, false)
        );
        assert_eq!(
            want(
                &mut e,
                BgpStatus::Down,
                now + Duration::from_millis(1),
                &policy
            ),
            (BgpStatus::Up, true)
        );
        assert_eq!(e.flaps.transitions, 0, "held by grace: no change of mind");
        let later = now + policy.down_grace;
        assert_eq!(
            want(&mut e, BgpStatus::Down, later, &policy),
            (BgpStatus::Down, false)
        );
        assert_eq!(e.flaps.transitions, 1);
    }

    #[test]
    fn the_grace_end_is_a_due_time_only_for_a_session_not_established() {
        let now = Instant::now();
        let policy = with_grace();
        let mut e = entry(BgpStatus::Up, now);
        e.last_write = Some(now - policy.min_write_interval);
        e.last_seen_up = Some(now);
        let grace_end = now + policy.down_grace;
        e.session = Some(Session::Established);
        assert!(
            e.next_change(now, &policy) > Some(grace_end),
            "at rest, an Established session's grace end decides nothing"
        );
        for down in [Session::NotEstablished("Active".into()), Session::Absent] {
            e.session = Some(down);
            assert_eq!(e.next_change(now, &policy), Some(grace_end));
        }
    }

    #[test]
    fn held_back_by_in_flight_then_a_same_status_backoff_never_a_new_status() {
        let now = Instant::now();
        let policy = Policy::default();
        let mut e = entry(BgpStatus::Down, now);
        assert_eq!(held_back(&mut e, BgpStatus::Up, now, &policy), None);
        e.failure = Some(Failure {
            status: BgpStatus::Up,
            error: "node unhealthy".into(),
            cause: Cause::Rpc,
            attempts: 1,
            retry_at: now + Duration::from_secs(30),
        });
        assert!(matches!(
            held_back(&mut e, BgpStatus::Up, now, &policy),
            Some(Why::Backoff { .. })
        ));
        assert_eq!(held_back(&mut e, BgpStatus::Down, now, &policy), None);
        e.in_flight = Some((now, BgpStatus::Up));
        assert_eq!(
            held_back(&mut e, BgpStatus::Down, now, &policy),
            Some(Why::InFlight { since: now })
        );
    }

    #[test]
    fn due_is_a_change_a_refresh_or_an_early_refresh_unless_written_recently() {
        let now = Instant::now();
        let policy = Policy::default();
        let mut e = entry(BgpStatus::Up, now);
        e.last_write = None;
        assert_eq!(
            due(&e, BgpStatus::Down, now, &policy),
            Ok((UpdateReason::Change, None))
        );
        assert_eq!(
            due(&e, BgpStatus::Up, now, &policy),
            Ok((UpdateReason::Refresh, None))
        );
        e.last_write = Some(now);
        let refresh_at = now + policy.refresh;
        assert_eq!(
            due(&e, BgpStatus::Up, now, &policy),
            Err(Why::InSync {
                refresh_at: Some(refresh_at)
            })
        );
        let soon = refresh_at - policy.refresh / 8;
        assert_eq!(
            due(&e, BgpStatus::Up, soon, &policy),
            Ok((UpdateReason::Refresh, Some(refresh_at)))
        );
        let just_after = now + policy.min_write_interval / 2;
        assert_eq!(
            due(&e, BgpStatus::Down, just_after, &policy),
            Err(Why::MinInterval {
                until: now + policy.min_write_interval
            })
        );
    }
}

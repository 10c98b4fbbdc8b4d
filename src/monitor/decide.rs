//! The decision: one pure function from (now, view, observation, table, policy) to updates.

use tokio::time::Instant;

use super::state::{Session, UserState, Why};
use super::{Observation, Policy, Update, UpdateReason};
use crate::serviceability::{BgpStatus, DeviceView, User, UserStatus};

/// Decides, for every user of the device, what the chain should say and whether to write it now.
///
/// - Considered users: Activated and on this device; the others leave the table, in-flight
///   marks included.
/// - Up when the user's peer has an Established session. Down when the session is present and
///   not Established, or absent while the chain says Up. Absent with the chain Down keeps
///   Down (and its refresh); absent with the chain Unknown says nothing.
/// - A failed observation yields no update at all.
/// - Grace, refresh, dampening, minimum interval, in-flight and failure backoff as in [`Policy`].
pub fn decide(
    now: Instant,
    view: &DeviceView,
    observation: Observation<'_>,
    table: &mut super::StateTable,
    policy: &Policy,
) -> Vec<Update> {
    let considered: Vec<&(solana_pubkey::Pubkey, User)> = view
        .users
        .iter()
        .filter(|(_, user)| {
            user.status == UserStatus::Activated && user.device_pk == view.device_pk
        })
        .collect();
    table
        .users
        .retain(|pubkey, _| considered.iter().any(|(pk, _)| pk == pubkey));

    let mut updates = Vec::new();
    for (pubkey, user) in considered {
        let entry = table
            .users
            .entry(*pubkey)
            .or_insert_with(|| UserState::seed(user, view.slot, now, policy));
        entry.sync_chain(user, view.slot, now, policy);
        if let Some(update) = decide_user(entry, pubkey, now, observation, policy) {
            updates.push(update);
        }
    }
    updates
}

fn decide_user(
    entry: &mut UserState,
    pubkey: &solana_pubkey::Pubkey,
    now: Instant,
    observation: Observation<'_>,
    policy: &Policy,
) -> Option<Update> {
    let tunnel = match &entry.tunnel {
        Ok(tunnel) => *tunnel,
        Err(error) => {
            entry.why = Why::BadTunnel(error.clone());
            return None;
        }
    };
    let Observation::Sessions(sessions) = observation else {
        entry.why = Why::NoObservation;
        return None;
    };

    let session = sessions.session(tunnel.peer_addr());
    let observed = match &session {
        Session::Established => {
            entry.last_seen_up = Some(now);
            Some(BgpStatus::Up)
        }
        Session::NotEstablished(_) => Some(BgpStatus::Down),
        Session::Absent => match entry.chain_status {
            BgpStatus::Up | BgpStatus::Down => Some(BgpStatus::Down),
            BgpStatus::Unknown => None,
        },
    };
    entry.session = Some(session);
    let Some(observed) = observed else {
        entry.wanted = None;
        entry.why = Why::NoSession;
        return None;
    };

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

    if let Some((since, _)) = entry.in_flight {
        entry.why = Why::InFlight { since };
        return None;
    }
    if let Some(failure) = entry.failure.as_ref().filter(|f| now < f.retry_at) {
        entry.why = Why::Backoff {
            until: failure.retry_at,
            error: failure.error.clone(),
        };
        return None;
    }
    if entry.flaps.is_suppressed(&policy.dampening, now) {
        entry.why = Why::Dampened {
            until: entry.flaps.release_at(&policy.dampening, now),
        };
        return None;
    }
    let refresh_at = entry.last_write.map(|at| at + policy.refresh);
    let reason = if wanted != entry.chain_status {
        UpdateReason::Change
    } else if refresh_at.is_none_or(|at| now >= at) {
        UpdateReason::Refresh
    } else {
        entry.why = Why::InSync { refresh_at };
        return None;
    };
    if let Some(until) = entry
        .last_write
        .map(|at| at + policy.min_write_interval)
        .filter(|until| now < *until)
    {
        entry.why = Why::MinInterval { until };
        return None;
    }

    entry.in_flight = Some((now, wanted));
    entry.why = Why::Writing(reason);
    Some(Update {
        user: *pubkey,
        status: wanted,
        reason,
        rtt_ns: 0,
        peer: tunnel.peer_addr(),
        wants_rtt: wanted == BgpStatus::Up && !held_by_grace,
        observed_at: now,
    })
}

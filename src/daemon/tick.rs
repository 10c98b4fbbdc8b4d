//! One tick: the device view, the switch reading, the decision, the RTTs of the sessions being
//! written Up, and the updates handed to the outbox; and the outcomes the outbox reports back.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::{status, stream, unix_now, Daemon, RTT_BUDGET};
use crate::bgp::{self, PeerTable};
use crate::eapi::EapiError;
use crate::logging::{self, Say, Severity};
use crate::monitor::{decide, Decided, Observation, Update, UpdateReason};
use crate::serviceability::{BgpStatus, DeviceView, Served};
use crate::submit::{Cause, Outcome, Resolution};
use crate::switch;

/// What a pass that wrote nothing decided from: until `until`, a pass over the same view
/// (held here, so it cannot be another at the same address; a refetched view with the same
/// device and users counts as the same), the same switch reading and an untouched table would
/// decide the same nothing, so it is skipped. A changed or failed switch reading, an outcome,
/// a stream event and new options clear it.
pub(super) struct Quiet {
    view: Arc<DeviceView>,
    until: Option<Instant>,
}

impl Daemon {
    /// A poll: the device view, then the switch read over eAPI and reconciled with what the
    /// event stream said since the last poll, then a decision.
    pub(super) async fn tick(&mut self) {
        let began_at_rest = self.at_rest(Instant::now());
        let Some(mut served) = self.view().await else {
            return;
        };
        self.expect_tunnels(&served);
        let started = Instant::now();
        let observed = self
            .observer
            .observe(&self.eapi, switch::Summaries::Ipv4)
            .await;
        self.metrics
            .observation_duration
            .observe(started.elapsed().as_secs_f64());
        self.status.observation = Some(status::ObservationStatus {
            at: unix_now(),
            ok: observed.is_ok(),
            error: observed.as_ref().err().map(ToString::to_string),
            peers: observed.as_ref().map_or(0, |s| s.peers.len()),
            tunnels: observed.as_ref().map_or(0, |s| s.tunnels.len()),
        });
        self.switch = match observed {
            Ok(fresh) => {
                // Reconciled with the reading it replaces, which stays until then.
                let fresh = self.reconcile(fresh, started);
                // The same sessions in the same states, and the very same tunnel table.
                let same = self.switch.as_ref().is_some_and(|previous| {
                    Arc::ptr_eq(&previous.tunnels, &fresh.tunnels)
                        && previous.peers.sessions_digest() == fresh.peers.sessions_digest()
                });
                if !same {
                    self.quiet = None;
                }
                Some(fresh)
            }
            Err(error) => {
                self.metrics
                    .observation_failures
                    .with_label_values(&[error_kind(&error)])
                    .inc();
                tracing::warn!(%error, "cannot read the switch; nothing is written this tick, the read is retried next tick");
                // Stream events wait for the next good reading rather than amend an old one.
                self.quiet = None;
                None
            }
        };
        self.last_poll = Some(started);
        self.poll_now = false;
        // A change found at rest is decided on a view no older than the TTL, as any other is.
        // Not when the view is stale: the RPC just failed, and asking again within the tick
        // would only double the calls (and the wait, if it hangs) of an outage.
        if began_at_rest
            && self.quiet.is_none()
            && served.stale.is_none()
            && served.age >= self.config.cache.ttl
        {
            served = match self.view().await {
                Some(fresh) => fresh,
                None => return,
            };
            self.expect_tunnels(&served);
        }
        self.decide_and_send(&served).await;
    }

    /// A view not seen before may expect other tunnels: the next reading takes them too.
    fn expect_tunnels(&mut self, served: &Served) {
        if !self
            .view_seen
            .as_ref()
            .is_some_and(|seen| Arc::ptr_eq(seen, &served.view))
        {
            self.observer.expect(served.view.tunnels_digest());
            self.view_seen = Some(Arc::clone(&served.view));
        }
    }

    /// At rest: the last decision wrote nothing, no timer of it has come, and nothing (an
    /// outcome, a stream event, new options, a changed reading) has cleared it since.
    fn at_rest(&self, now: Instant) -> bool {
        self.quiet
            .as_ref()
            .is_some_and(|quiet| quiet.until.is_none_or(|until| now < until))
    }

    /// A decision between polls, after the event stream changed a session.
    pub(super) async fn stream_decision(&mut self) {
        if self.switch.is_none() {
            return;
        }
        if let Some(served) = self.view().await {
            self.decide_and_send(&served).await;
        }
    }

    /// The device view, with what it says about the device and the signer; `None` when nothing
    /// may be decided (no view, or the keypair is not the device's metrics publisher).
    async fn view(&mut self) -> Option<Served> {
        let now = Instant::now();
        // At rest only what changes on chain alone can be missed (a user's status or tunnel
        // changed while the switch shows nothing new), and the view's reads are most of a quiet
        // tick's CPU and of the RPC's load from a fleet: the longer TTL holds.
        let cached = match self.at_rest(now) {
            true => self.cache.get_at_rest().await,
            false => self.cache.get().await,
        };
        let served = match cached {
            Ok(served) => served,
            Err(error) => {
                self.metrics.view_failures.inc();
                tracing::warn!(%error, "no device view; nothing decided this tick");
                self.status.view = Some(status::ViewStatus {
                    slot: None,
                    age_s: None,
                    stale: true,
                    error: Some(error.to_string()),
                });
                self.publish();
                return None;
            }
        };
        let tail_error = served
            .view
            .device
            .tail_error
            .as_ref()
            .map(ToString::to_string);
        if tail_error != self.status.device_tail_error {
            match &tail_error {
                Some(error) => {
                    tracing::warn!(%error, "part of the Device account is in a layout this agent does not know; the fields it needs decode, so writes go on")
                }
                None => tracing::info!("the Device account decodes whole again"),
            }
            self.status.device_tail_error = tail_error;
        }
        if self.status.device_code.as_deref() != Some(served.view.device.code.as_str()) {
            self.metrics
                .identify(&served.view.device_pk.to_string(), &served.view.device.code);
            self.status.device_code = Some(served.view.device.code.clone());
        }
        // The program refuses every write signed by anyone but the device's metrics publisher:
        // sending would only burn fees, one refused user at a time.
        let publisher = served.view.device.metrics_publisher_pk;
        let mismatch = (publisher != self.signer).then(|| {
            format!(
                "the keypair {} is not device {}'s metrics publisher {publisher}; nothing is written \
                 until the keypair or the device changes",
                self.signer, served.view.device_pk
            )
        });
        match self.signer_mismatch.observe(now, mismatch.clone()) {
            Some(Say::Started(error)) => {
                tracing::error!("{error}");
                logging::syslog(Severity::Warning, "SIGNER_MISMATCH", &error);
            }
            Some(Say::Ongoing { what, since }) => {
                tracing::error!(since = ?since, "still: {what}")
            }
            Some(Say::Ended { lasted }) => tracing::info!(
                lasted = ?lasted,
                "the keypair is the device's metrics publisher again"
            ),
            None => {}
        }
        self.status.error = mismatch;
        if self.status.error.is_some() {
            self.publish();
            return None;
        }
        self.status.view = Some(status::ViewStatus {
            slot: Some(served.view.slot),
            age_s: Some(served.age.as_secs_f64()),
            stale: served.stale.is_some(),
            error: served.stale.as_ref().map(ToString::to_string),
        });
        Some(served)
    }

    /// Decides from the switch as last read (and amended by the stream), reads the RTTs of the
    /// sessions being written Up, and hands the updates to the outbox.
    async fn decide_and_send(&mut self, served: &Served) {
        let now = Instant::now();
        if let Some(quiet) = &mut self.quiet {
            // A refetched view at rest holds the same accounts: compared once, then held.
            if !Arc::ptr_eq(&quiet.view, &served.view)
                && quiet.view.device_pk == served.view.device_pk
                && quiet.view.device == served.view.device
                && quiet.view.users == served.view.users
            {
                quiet.view = Arc::clone(&served.view);
            }
            if Arc::ptr_eq(&quiet.view, &served.view) && quiet.until.is_none_or(|until| now < until)
            {
                self.table.unchanged(now);
                self.publish_quiet();
                return;
            }
        }
        let observation = match &self.switch {
            Some(state) => Observation::Switch(state),
            None => Observation::Failed,
        };
        let Decided {
            mut updates,
            drifts,
            transitions,
            next_due,
        } = decide(
            now,
            &served.view,
            observation,
            &mut self.table,
            &self.config.policy,
        );
        for (user, tunnel_id, drift) in drifts {
            tracing::warn!(%user, tunnel_id, %drift, "tunnel drift");
        }
        self.metrics.transitions.inc_by(transitions);
        if let Some(state) = &self.switch {
            self.fill_rtts(&state.peers, &mut updates).await;
        }
        for update in &updates {
            announce(update);
        }
        self.quiet = updates.is_empty().then(|| Quiet {
            view: Arc::clone(&served.view),
            until: next_due,
        });
        // With the stream healthy the next tick may be a minute away: what time alone will
        // change (a minimum interval or grace ending, a backoff or dampening release) is
        // decided when due, from the reading the events keep current.
        if let Some(due) = next_due.filter(|_| self.stream_healthy()) {
            self.decide_by(due.max(now + stream::SETTLE));
        }
        if let Some(outbox) = &self.outbox {
            outbox.device_size(served.view.device.data_len);
            if let Err(closed) = outbox.submit(updates) {
                tracing::error!(
                    users = closed.0.len(),
                    "the outbox has stopped; updates not sent"
                );
                for update in closed.0 {
                    self.table.released(&update.user);
                }
            }
        }
        self.publish();
    }

    /// The RTT of every session being written Up, read within half an interval (at most
    /// [`RTT_BUDGET`]); a failure or a read out of time costs only the RTT (written as 0, "no
    /// sample"), never the write, and never the next status read.
    async fn fill_rtts(&self, peers: &PeerTable, updates: &mut [Update]) {
        // The session the decision saw Established, in the VRF it was found in (the tunnel's),
        // so the same address in another VRF never lends its RTT.
        let wanted: Vec<(usize, bgp::PeerKey)> = updates
            .iter()
            .enumerate()
            .filter(|(_, u)| u.wants_rtt)
            .filter_map(|(i, u)| {
                let vrf = self.table.get(&u.user).and_then(|s| s.session_vrf.clone());
                peers
                    .lookup(std::net::IpAddr::V4(u.peer))
                    .find(|p| p.is_established() && vrf.as_ref().is_none_or(|v| p.vrf == *v))
                    .map(|p| (i, p.key()))
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        let keys: Vec<bgp::PeerKey> = wanted.iter().map(|(_, key)| key.clone()).collect();
        let mut sessions_in: HashMap<bgp::Vrf, usize> = HashMap::new();
        for peer in peers.iter() {
            *sessions_in.entry(peer.vrf.clone()).or_default() += 1;
        }
        let deadline = Instant::now() + (self.config.bgp_interval / 2).min(RTT_BUDGET);
        let rtts = switch::fetch_rtts(&self.eapi, &keys, &sessions_in, deadline).await;
        if rtts.len() < keys.len() {
            tracing::debug!(
                wanted = keys.len(),
                read = rtts.len(),
                "some session RTTs could not be read; those writes carry none"
            );
        }
        for (i, key) in wanted {
            if let Some(rtt) = rtts.get(&key) {
                updates[i].rtt_ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
            }
        }
    }

    pub(super) fn apply(&mut self, outcome: Outcome) {
        let now = Instant::now();
        self.quiet = None;
        let user = outcome.user;
        match outcome.result {
            Resolution::Confirmed { signature, slot } => {
                self.table
                    .confirmed(&user, outcome.status, slot, outcome.rtt_ns, now);
                tracing::info!(%user, status = %outcome.status, %signature, slot, "status confirmed on chain");
                self.status.outbox.last_signature = Some(signature.to_string());
            }
            Resolution::Failed { error, cause } => {
                tracing::warn!(%user, status = %outcome.status, %error, cause = cause.as_str(), "status write failed");
                let mnemonic = match cause {
                    Cause::Refused => Some("WRITE_REFUSED"),
                    Cause::Payer => Some("PAYER_SHORT"),
                    Cause::Rpc | Cause::Unknown => None,
                };
                if let Some(mnemonic) = mnemonic {
                    logging::syslog(
                        Severity::Warning,
                        mnemonic,
                        &format!("user {user}: {error}"),
                    );
                }
                self.table
                    .failed(&user, error.clone(), cause, now, &self.config.policy);
                self.status.outbox.last_error = Some(error);
            }
            Resolution::Dropped { why } => {
                tracing::debug!(%user, %why, "status write not sent");
                self.table.released(&user);
            }
        }
        // A change seen while this write was in flight waited for it; with the stream, the
        // next tick may be seconds away, so decide again soon.
        let waiting = self
            .table
            .get(&user)
            .is_some_and(|state| state.wanted.is_some_and(|w| w != state.chain_status));
        if waiting && self.stream.is_some() {
            self.decide_by(now + stream::SETTLE);
        }
    }
}

fn error_kind(error: &EapiError) -> &'static str {
    match error {
        EapiError::SocketMissing { .. } => "socket_missing",
        EapiError::PermissionDenied { .. } => "permission_denied",
        EapiError::Timeout { .. } => "timeout",
        EapiError::Command { .. } => "command",
        EapiError::Model { .. } => "model",
        _ => "protocol",
    }
}

/// Logs what is about to be written; a change also goes to syslog for `show logging`.
fn announce(update: &Update) {
    tracing::info!(
        user = %update.user,
        peer = %update.peer,
        status = %update.status,
        reason = ?update.reason,
        rtt_ns = update.rtt_ns,
        "writing status"
    );
    if update.reason == UpdateReason::Change {
        let mnemonic = match update.status {
            BgpStatus::Up => "USER_BGP_UP",
            _ => "USER_BGP_DOWN",
        };
        logging::syslog(
            Severity::Notice,
            mnemonic,
            &format!(
                "user {} (peer {}) BGP session {}",
                update.user, update.peer, update.status
            ),
        );
    }
}

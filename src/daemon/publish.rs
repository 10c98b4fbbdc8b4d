//! What the daemon shows: the gauges derived from the state table, and the `/status` document,
//! rendered only when someone reads it (at most once per loop turn, never per outcome).

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::{status, unix_now, Daemon, STATUS_REUSE};
use crate::eos_sdk::StreamHealth;
use crate::listener;
use crate::logging;
use crate::monitor::Session;
use crate::serviceability::BgpStatus;

impl Daemon {
    /// Sets the gauges from the table (one pass, no allocation per user) and renders `/status`
    /// only if someone reads it.
    pub(super) fn publish(&mut self) {
        let mut by_chain = [0i64; 3];
        let mut observed: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        let mut dampened = 0;
        for (_, state) in self.table.iter() {
            by_chain[state.chain_status as usize] += 1;
            let session = match &state.session {
                None => "unknown",
                Some(Session::Established) => "established",
                Some(Session::NotEstablished(_)) => "not_established",
                Some(Session::Absent) => "absent",
            };
            let tunnel = state.tunnel_seen.as_ref().map_or("unknown", |t| t.state());
            *observed.entry((tunnel, session)).or_default() += 1;
            dampened += i64::from(matches!(state.why, crate::monitor::Why::Dampened { .. }));
        }
        for status in [BgpStatus::Unknown, BgpStatus::Up, BgpStatus::Down] {
            self.metrics
                .users_by_chain_status
                .with_label_values(&[status.as_str()])
                .set(by_chain[status as usize]);
        }
        // Every combination is set, zeros included, so a pair that empties drops to 0 rather
        // than keeping its last count.
        for tunnel in ["up", "down", "absent", "unknown"] {
            for session in ["established", "not_established", "absent", "unknown"] {
                self.metrics
                    .users_observed
                    .with_label_values(&[tunnel, session])
                    .set(observed.get(&(tunnel, session)).copied().unwrap_or(0));
            }
        }
        self.metrics.dampened_users.set(dampened);
        self.metrics
            .drifted_users
            .set(self.table.iter().filter(|(_, s)| s.drift.is_some()).count() as i64);
        self.status.outbox.in_flight = self
            .table
            .iter()
            .filter(|(_, s)| s.in_flight.is_some())
            .count();
        self.publish_quiet();
    }

    /// What a pass that changed no user still refreshes: the syslog drop count and the
    /// `/status` rendering (its ages and times move on).
    pub(super) fn publish_quiet(&mut self) {
        let now = Instant::now();
        let syslog_dropped = logging::syslog_dropped();
        self.metrics
            .syslog_dropped
            .inc_by(syslog_dropped.saturating_sub(self.metrics.syslog_dropped.get()));
        self.rendered = None;
        if self.watched_until.is_some_and(|until| now < until) {
            self.render(now);
        }
    }

    /// The `/status` document, rendered now unless a rendering within [`STATUS_REUSE`] is
    /// still current; kept as the fallback for requests the daemon is too busy to answer.
    pub(super) fn render(&mut self, now: Instant) -> listener::Snapshot {
        if let Some((at, snapshot)) = &self.rendered {
            if now.duration_since(*at) < STATUS_REUSE {
                return snapshot.clone();
            }
        }
        self.status.at = unix_now();
        self.status.users = status::rows(
            &self.table,
            now,
            self.status.at,
            &self.config.policy.dampening,
        );
        self.status.stream = self.stream.as_ref().map(|stream| StreamHealth {
            connected: stream.open_since.is_some(),
            ..stream.health.clone()
        });
        self.status.listener = self
            .listener
            .as_ref()
            .map(|(status, _)| status.lock().expect("listener status").clone());
        let snapshot =
            std::sync::Arc::new(serde_json::to_vec_pretty(&self.status).unwrap_or_default());
        // The rows are the bulk of the document and are rebuilt on every rendering.
        self.status.users = Vec::new();
        self.status_requests.last.send_replace(snapshot.clone());
        self.rendered = Some((now, snapshot.clone()));
        snapshot
    }
}

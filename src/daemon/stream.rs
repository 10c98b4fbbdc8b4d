//! The EosSdkRpc event stream in the daemon: each event amends the peer table of the last poll
//! and asks for a decision (a burst within [`SETTLE`] is one decision). While the stream is
//! healthy the ticks keep their interval but only decide (so grace, backoff, minimum interval
//! and dampening end on time), and the switch is read every `bgp-status-stream-interval`, the
//! poll reconciling and counting every session the stream and the poll disagree on. A lost
//! stream brings a poll at once and polls on every tick again; it changes no status by itself.
//!
//! Interface events amend the tunnel table (a tunnel's line protocol, which is shown and never
//! decides) or, for a tunnel created or deleted, bring a poll at once; while they flow, the poll
//! re-reads the interfaces only as a backstop ([`switch::WATCHED_TUNNEL_REFRESH`]).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{unix_now, Daemon};
use crate::bgp::PeerKey;
use crate::eos_sdk::{StreamEvent, StreamHealth};
use crate::switch::{self, SwitchState};

/// Events within this long of the first are decided together.
pub const SETTLE: Duration = Duration::from_millis(100);

/// What the daemon keeps of the stream.
pub(super) struct Stream {
    /// What `/status` shows; its `connected` is derived from `open_since` when published.
    pub health: StreamHealth,
    /// Since when the watch has been open without a break.
    pub open_since: Option<Instant>,
    /// When each session was last changed by an event, to tell a poll that raced an event
    /// from one that contradicts it.
    pub touched: HashMap<PeerKey, Instant>,
}

impl Stream {
    pub fn new(addr: String) -> Self {
        Stream {
            health: StreamHealth {
                addr,
                ..StreamHealth::default()
            },
            open_since: None,
            touched: HashMap::new(),
        }
    }
}

impl Daemon {
    /// Asks for a decision at `at`, or at the earlier one already asked for (so a burst of
    /// events is one decision, and a far-off timer never delays an event's).
    pub(super) fn decide_by(&mut self, at: Instant) {
        self.decide_at = Some(self.decide_at.map_or(at, |asked| asked.min(at)));
    }

    /// Whether the EosSdkRpc watch is open.
    pub(super) fn stream_healthy(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|stream| stream.open_since.is_some())
    }

    /// Whether this tick reads the switch: always without a healthy stream, else once per
    /// stream interval or when asked.
    pub(super) fn poll_due(&self, now: Instant) -> bool {
        self.poll_now
            || !self.stream_healthy()
            || self.switch.is_none()
            || self
                .last_poll
                .is_none_or(|last| now >= last + self.config.stream_interval)
    }

    /// Applies one stream event.
    pub(super) fn on_stream(&mut self, event: StreamEvent) {
        let now = Instant::now();
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let kind = match &event {
            StreamEvent::Connected => {
                tracing::info!(addr = %stream.health.addr, "watching BGP peers over EosSdkRpc; polling every {:?} while it lasts", self.config.stream_interval);
                stream.health.since = Some(unix_now());
                stream.health.error = None;
                stream.open_since = Some(now);
                self.metrics.stream_up.set(1);
                self.publish();
                return;
            }
            StreamEvent::Lost { error } => {
                let was_open = stream.open_since.is_some();
                if was_open || stream.health.error.as_deref() != Some(error) {
                    tracing::warn!(addr = %stream.health.addr, %error, "the EosSdkRpc stream is lost; polling every {:?} until it is back", self.config.bgp_interval);
                }
                if was_open {
                    stream.health.reconnects += 1;
                    stream.health.since = Some(unix_now());
                }
                stream.health.error = Some(error.clone());
                stream.health.interfaces_watched = false;
                self.observer.set_refresh(switch::TUNNEL_REFRESH);
                stream.open_since = None;
                self.metrics.stream_up.set(0);
                self.metrics.stream_losses.inc();
                // Events may have been missed: read the switch now, then at the usual pace.
                self.poll_now = true;
                self.publish();
                return;
            }
            StreamEvent::Interfaces(result) => {
                let error = result.as_ref().err();
                if stream.health.interfaces_error.as_ref() != error {
                    match error {
                        None => {
                            tracing::info!(addr = %stream.health.addr, "watching tunnels' oper status over EosSdkRpc")
                        }
                        Some(error) => {
                            tracing::warn!(addr = %stream.health.addr, %error, "no interface watch over EosSdkRpc; tunnels are read by the eAPI poll")
                        }
                    }
                }
                stream.health.interfaces_watched = result.is_ok();
                stream.health.interfaces_error = error.cloned();
                self.observer.set_refresh(if result.is_ok() {
                    switch::WATCHED_TUNNEL_REFRESH
                } else {
                    switch::TUNNEL_REFRESH
                });
                self.publish();
                return;
            }
            StreamEvent::Added(_) => "set",
            StreamEvent::Removed(_) => "del",
            StreamEvent::State(..) => "state",
            StreamEvent::TunnelOper { .. } => "intf_status",
            StreamEvent::TunnelConfig(_) => "intf_config",
        };
        self.metrics.stream_events.with_label_values(&[kind]).inc();
        stream.health.last_event = Some(unix_now());
        let Some(switch) = self.switch.as_mut() else {
            // No good reading to amend: the next poll reads it all.
            return;
        };
        tracing::debug!(?event, "EosSdkRpc event");
        self.quiet = None;
        let changed = match event {
            // A new session has no tunnel in the last reading yet: read both now. Its state
            // comes in its own event.
            StreamEvent::Added(_) => {
                self.poll_now = true;
                false
            }
            StreamEvent::Removed(key) => {
                stream.touched.insert(key.clone(), now);
                switch.peers.remove(&key)
            }
            StreamEvent::State(key, state) => {
                stream.touched.insert(key.clone(), now);
                switch.peers.set_state(&key, state, SystemTime::now())
            }
            StreamEvent::TunnelOper { name, up } => {
                match switch.tunnels.with_line_protocol(&name, up) {
                    Some(table) => {
                        switch.tunnels = std::sync::Arc::new(table);
                        // The observer's table still has the old status: it reads the
                        // interfaces next.
                        self.observer.read_tunnels_next();
                        true
                    }
                    None => false,
                }
            }
            // A tunnel that came or went may be a user's: its address is in the interface
            // model only, so the switch is read now.
            StreamEvent::TunnelConfig(_) => {
                self.observer.read_tunnels_next();
                self.poll_now = true;
                false
            }
            StreamEvent::Connected | StreamEvent::Lost { .. } | StreamEvent::Interfaces(_) => false,
        };
        tracing::debug!(changed, "EosSdkRpc event applied");
        if changed {
            self.decide_by(now + SETTLE);
        }
    }

    /// The poll's reading, amended by events newer than the poll's start (they are newer than
    /// what it read), with the sessions the stream and the poll disagree on counted when the
    /// stream was open throughout since the previous poll.
    pub(super) fn reconcile(&mut self, mut fresh: SwitchState, started: Instant) -> SwitchState {
        let Some(stream) = self.stream.as_mut() else {
            return fresh;
        };
        let raced: HashMap<PeerKey, Instant> = stream
            .touched
            .drain()
            .filter(|(_, at)| *at >= started)
            .collect();
        let trusted = matches!(
            (stream.open_since, self.last_poll),
            (Some(open), Some(last)) if open <= last
        );
        if let (true, Some(current)) = (trusted, &self.switch) {
            let mut disagreements = 0u64;
            for peer in fresh.peers.iter() {
                let key = peer.key();
                let seen = current
                    .peers
                    .get(&peer.vrf, &peer.addr)
                    .map(|p| p.is_established());
                if !raced.contains_key(&key) && seen != Some(peer.is_established()) {
                    disagreements += 1;
                }
            }
            for peer in current.peers.iter() {
                if !raced.contains_key(&peer.key())
                    && fresh.peers.get(&peer.vrf, &peer.addr).is_none()
                {
                    disagreements += 1;
                }
            }
            if disagreements > 0 {
                tracing::info!(
                    sessions = disagreements,
                    "the poll corrected sessions the EosSdkRpc stream had not reported"
                );
                self.metrics.stream_disagreements.inc_by(disagreements);
            }
        }
        if let Some(current) = &self.switch {
            for key in raced.keys() {
                match current.peers.get(&key.vrf, &key.addr) {
                    Some(peer) => {
                        fresh
                            .peers
                            .set_state(key, peer.state.clone(), SystemTime::now());
                    }
                    None => {
                        fresh.peers.remove(key);
                    }
                }
            }
        }
        if let Some(stream) = self.stream.as_mut() {
            stream.touched = raced;
        }
        fresh
    }
}

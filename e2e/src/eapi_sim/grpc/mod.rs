//! The switch's EosSdkRpc side: `eos.remote.BgpMgrService` (`watch`, `exists`, `peer_state`)
//! over gRPC on a unix socket and/or TCP, as DoubleZero switches serve it (eos.md §9 item 8).
//! It reads the same [`super::switch::Switch`] as eAPI, and every change made through
//! [`super::EapiSim`] or the control API reaches the open watches here, so a poll and a stream
//! see one switch.
//!
//! The rooms: `proto` holds the messages, `service` the hand-written gRPC glue, `transport` the
//! listeners and the connections a reset can cut. This file is the BGP side itself: who watches
//! what, what each change sends, and the injected faults.
//!
//! Readings of facts the spec leaves open ([U] there) are settings, so the agent can be run
//! under each: whether a watch starts with a snapshot of the existing peers, and where the ack
//! goes. Inferred behaviour is marked [I].

pub mod proto;
mod service;
mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Sleep};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::server::State;
use super::switch::Peer;
use proto::{
    BgpPeerExistsRequest, BgpPeerExistsResponse, BgpPeerKey, BgpPeerState, BgpPeerStateRequest,
    BgpPeerStateResponse, BgpPeerWatchRequest, BgpPeerWatchResponse, WatchOverload,
};

pub(crate) use transport::Listeners;

/// One injected failure of the gRPC side, until cleared. JSON form (control API):
/// `{"kind": "delay_events", "ms": 500}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrpcFault {
    /// Every open connection is cut, as a transport reset looks: open watches end with an
    /// error status from the client's HTTP/2 layer. A one-off: it leaves no fault in place, and
    /// new connections are served as usual.
    Reset,
    /// The BGP side is stuck: open watches stay open and get nothing (changes meanwhile are
    /// lost to them), a new watch gets no ack and no snapshot, and `exists`/`peer_state` hang
    /// until the fault is cleared.
    Silence,
    /// Every new call fails with `UNAVAILABLE`; open watches end with it.
    Unavailable,
    /// Events reach watchers this late, so a poll sees a change before the stream says it.
    DelayEvents { ms: u64 },
    /// The transport does not serve `BgpMgrService` (an EOS release without it): every call
    /// fails with `UNIMPLEMENTED`, and open watches end with it.
    Unimplemented,
}

/// Where a watch requested with `ack = true` gets its ack-only response [U]. Both orders are
/// plausible readings of "ack", and a switch might not ack at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum WatchAck {
    /// No ack, whatever the request says.
    Never,
    /// The ack is the first response, before any snapshot.
    #[default]
    BeforeSnapshot,
    /// The ack follows the snapshot: "you are in sync".
    AfterSnapshot,
}

/// The readings of the unestablished watch behaviour in force; a field left out of the JSON
/// form keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcBehaviour {
    /// A new watch first gets `on_peer_set` + `on_peer_state` for every matching peer [U].
    pub initial_snapshot: bool,
    pub ack: WatchAck,
}

impl Default for GrpcBehaviour {
    fn default() -> Self {
        GrpcBehaviour {
            initial_snapshot: true,
            ack: WatchAck::default(),
        }
    }
}

/// What the gRPC side has done, for tests and `GET /grpc/state`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcCounters {
    /// Watches whose response stream is still open.
    pub open_watches: u64,
    /// Peer events (`on_peer_set`, `on_peer_del`, `on_peer_state`) handed to the transport,
    /// snapshots included, acks not.
    pub events_sent: u64,
    /// Transport resets injected.
    pub resets: u64,
    /// Calls received per method, refused ones included.
    pub calls: GrpcCalls,
}

/// Calls received per `BgpMgrService` method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcCalls {
    pub watch: u64,
    pub exists: u64,
    pub peer_state: u64,
}

/// A `BgpMgrService` method, for counting.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Watch,
    Exists,
    PeerState,
}

#[derive(Debug, Default)]
struct Counters {
    open_watches: AtomicU64,
    events_sent: AtomicU64,
    resets: AtomicU64,
    watch: AtomicU64,
    exists: AtomicU64,
    peer_state: AtomicU64,
}

/// What a watch asked to see.
#[derive(Debug, Clone)]
enum Filter {
    All,
    Peer(BgpPeerKey),
}

impl Filter {
    fn matches(&self, key: &BgpPeerKey) -> bool {
        match self {
            Filter::All => true,
            Filter::Peer(wanted) => wanted == key,
        }
    }
}

/// One response on its way to a watcher, held until `due` when events are delayed.
#[derive(Debug)]
struct Queued {
    due: Option<Instant>,
    message: Result<BgpPeerWatchResponse, Status>,
}

#[derive(Debug)]
struct Watcher {
    filter: Filter,
    queue: mpsc::UnboundedSender<Queued>,
}

/// The BGP side of EosSdkRpc, shared by the listeners, the simulator and the control API.
#[derive(Debug)]
pub(crate) struct EosSdkRpc {
    state: Arc<State>,
    behaviour: Mutex<GrpcBehaviour>,
    fault: watch::Sender<Option<GrpcFault>>,
    /// Open watches. Lock order: the switch, then this (changes are published under the
    /// switch's lock, so every watcher sees them in the switch's order).
    watchers: Mutex<Vec<Watcher>>,
    counters: Arc<Counters>,
    /// The current generation of connections; a reset cancels it and starts the next.
    connections: Mutex<CancellationToken>,
}

impl EosSdkRpc {
    pub(crate) fn new(state: Arc<State>, behaviour: GrpcBehaviour) -> Self {
        EosSdkRpc {
            state,
            behaviour: Mutex::new(behaviour),
            fault: watch::Sender::new(None),
            watchers: Mutex::new(Vec::new()),
            counters: Arc::default(),
            connections: Mutex::new(CancellationToken::new()),
        }
    }

    pub(crate) fn set_behaviour(&self, behaviour: GrpcBehaviour) {
        *self.behaviour.lock().expect("behaviour lock") = behaviour;
    }

    pub(crate) fn behaviour(&self) -> GrpcBehaviour {
        *self.behaviour.lock().expect("behaviour lock")
    }

    pub(crate) fn fault(&self) -> Option<GrpcFault> {
        self.fault.borrow().clone()
    }

    /// Injects `fault` (or clears with `None`), replacing any earlier one.
    pub(crate) fn set_fault(&self, fault: Option<GrpcFault>) {
        // Under the watchers' lock, so a watch being opened sees either the old fault or the
        // new one together with its effect on the open watches.
        let mut watchers = self.watchers.lock().expect("watchers lock");
        let stored = match fault {
            Some(GrpcFault::Reset) => {
                self.counters.resets.fetch_add(1, Ordering::Relaxed);
                self.reset_connections();
                // The watchers stay registered: ending their queues would close the streams
                // cleanly before the cut. They go when their streams are dropped.
                None
            }
            Some(GrpcFault::Unavailable) => {
                end_all(&mut watchers, unavailable);
                fault
            }
            Some(GrpcFault::Unimplemented) => {
                end_all(&mut watchers, unimplemented);
                fault
            }
            other => other,
        };
        self.fault.send_replace(stored);
    }

    /// A token that cancels when the current connections are reset (or the switch stops).
    pub(crate) fn connection_token(&self) -> CancellationToken {
        self.connections
            .lock()
            .expect("connections lock")
            .child_token()
    }

    /// Cuts every open connection; later ones belong to a fresh generation.
    fn reset_connections(&self) {
        let mut current = self.connections.lock().expect("connections lock");
        std::mem::replace(&mut *current, CancellationToken::new()).cancel();
    }

    /// Cuts every connection for good, when the simulator stops.
    pub(crate) fn close(&self) {
        self.connections.lock().expect("connections lock").cancel();
    }

    pub(crate) fn count_call(&self, method: Method) {
        let counter = match method {
            Method::Watch => &self.counters.watch,
            Method::Exists => &self.counters.exists,
            Method::PeerState => &self.counters.peer_state,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counters(&self) -> GrpcCounters {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        GrpcCounters {
            open_watches: load(&counters.open_watches),
            events_sent: load(&counters.events_sent),
            resets: load(&counters.resets),
            calls: GrpcCalls {
                watch: load(&counters.watch),
                exists: load(&counters.exists),
                peer_state: load(&counters.peer_state),
            },
        }
    }

    /// Sends what a change of one session means to every watch that asked for its peer: a new
    /// peer is `on_peer_set` then `on_peer_state`, a new state `on_peer_state`, a removal
    /// `on_peer_del`. The caller holds the switch's lock, which keeps events in change order.
    pub(crate) fn peer_changed(&self, before: Option<&Peer>, after: Option<&Peer>) {
        let Some(peer) = after.or(before) else { return };
        let key = BgpPeerKey::new(&peer.vrf, &peer.address);
        let state_of = |peer: &Peer| BgpPeerState::from_summary(&peer.state);
        let events = match (before, after) {
            (None, Some(now)) => vec![
                BgpPeerWatchResponse::peer_set(key.clone()),
                BgpPeerWatchResponse::peer_state(key.clone(), state_of(now)),
            ],
            (Some(was), Some(now)) if state_of(was) != state_of(now) => {
                vec![BgpPeerWatchResponse::peer_state(key.clone(), state_of(now))]
            }
            (Some(_), None) => vec![BgpPeerWatchResponse::peer_del(key.clone())],
            _ => return,
        };
        let mut watchers = self.watchers.lock().expect("watchers lock");
        let due = match self.fault() {
            Some(GrpcFault::Silence) => return,
            Some(GrpcFault::DelayEvents { ms }) => Some(Instant::now() + Duration::from_millis(ms)),
            _ => None,
        };
        watchers.retain(|watcher| {
            if !watcher.filter.matches(&key) {
                return !watcher.queue.is_closed();
            }
            events.iter().all(|event| {
                let queued = Queued {
                    due,
                    message: Ok(event.clone()),
                };
                watcher.queue.send(queued).is_ok()
            })
        });
    }

    /// Opens a watch: the ack and the snapshot as the readings say, then every later change.
    pub(crate) fn watch(&self, request: BgpPeerWatchRequest) -> Result<WatchStream, Status> {
        // [I] A request that names neither all peers nor one has nothing to watch.
        let filter = match request.overload {
            Some(WatchOverload::All(true)) => Filter::All,
            Some(WatchOverload::PeerKey(key)) => Filter::Peer(key),
            _ => {
                return Err(Status::invalid_argument(
                    "watch needs all = true or a peer_key",
                ))
            }
        };
        let (queue, received) = mpsc::unbounded_channel();
        let switch = self.state.switch.lock().expect("switch lock");
        let mut watchers = self.watchers.lock().expect("watchers lock");
        match self.fault() {
            Some(GrpcFault::Unavailable) => return Err(unavailable()),
            Some(GrpcFault::Unimplemented) => return Err(unimplemented()),
            Some(GrpcFault::Silence) => {}
            _ => {
                let behaviour = self.behaviour();
                let mut first = Vec::new();
                if request.ack && behaviour.ack == WatchAck::BeforeSnapshot {
                    first.push(BgpPeerWatchResponse::ack());
                }
                if behaviour.initial_snapshot {
                    for peer in switch.peers() {
                        let key = BgpPeerKey::new(&peer.vrf, &peer.address);
                        if filter.matches(&key) {
                            let state = BgpPeerState::from_summary(&peer.state);
                            first.push(BgpPeerWatchResponse::peer_set(key.clone()));
                            first.push(BgpPeerWatchResponse::peer_state(key, state));
                        }
                    }
                }
                if request.ack && behaviour.ack == WatchAck::AfterSnapshot {
                    first.push(BgpPeerWatchResponse::ack());
                }
                for message in first {
                    let _ = queue.send(Queued {
                        due: None,
                        message: Ok(message),
                    });
                }
            }
        }
        watchers.push(Watcher { filter, queue });
        Ok(WatchStream::new(received, self.counters.clone()))
    }

    pub(crate) async fn exists(
        &self,
        request: BgpPeerExistsRequest,
    ) -> Result<BgpPeerExistsResponse, Status> {
        self.admit().await?;
        let key = request.peer_key.unwrap_or_default();
        let switch = self.state.switch.lock().expect("switch lock");
        Ok(BgpPeerExistsResponse {
            exists: switch.peer(&key.vrf_name, &key.peer_addr).is_some(),
        })
    }

    pub(crate) async fn peer_state(
        &self,
        request: BgpPeerStateRequest,
    ) -> Result<BgpPeerStateResponse, Status> {
        self.admit().await?;
        let key = request.peer_key.unwrap_or_default();
        let switch = self.state.switch.lock().expect("switch lock");
        match switch.peer(&key.vrf_name, &key.peer_addr) {
            Some(peer) => Ok(BgpPeerStateResponse {
                peer_state: BgpPeerState::from_summary(&peer.state).into(),
            }),
            None => Err(Status::not_found(format!(
                "no BGP peer {} in VRF {}",
                key.peer_addr, key.vrf_name
            ))),
        }
    }

    /// Holds a unary call while the side is silent, then refuses it if the side is down.
    async fn admit(&self) -> Result<(), Status> {
        let mut fault = self.fault.subscribe();
        let fault = fault
            .wait_for(|fault| !matches!(fault, Some(GrpcFault::Silence)))
            .await
            .map_err(|_| unavailable())?;
        match *fault {
            Some(GrpcFault::Unavailable) => Err(unavailable()),
            Some(GrpcFault::Unimplemented) => Err(unimplemented()),
            _ => Ok(()),
        }
    }
}

fn unavailable() -> Status {
    Status::unavailable("BgpMgrService is unavailable")
}

pub(crate) fn unimplemented() -> Status {
    Status::unimplemented("unknown service eos.remote.BgpMgrService")
}

/// Ends every watch with `status` and forgets it.
fn end_all(watchers: &mut Vec<Watcher>, status: fn() -> Status) {
    for watcher in watchers.drain(..) {
        let _ = watcher.queue.send(Queued {
            due: None,
            message: Err(status()),
        });
    }
}

/// The response stream of one watch: its queue, each response held until it is due, counted
/// as open until tonic drops it (the client went away, the stream ended, or the connection was
/// cut).
pub(crate) struct WatchStream {
    queue: mpsc::UnboundedReceiver<Queued>,
    held: Option<(Queued, Pin<Box<Sleep>>)>,
    counters: Arc<Counters>,
}

impl WatchStream {
    fn new(queue: mpsc::UnboundedReceiver<Queued>, counters: Arc<Counters>) -> Self {
        counters.open_watches.fetch_add(1, Ordering::Relaxed);
        WatchStream {
            queue,
            held: None,
            counters,
        }
    }

    fn deliver(&self, queued: Queued) -> Result<BgpPeerWatchResponse, Status> {
        if queued
            .message
            .as_ref()
            .is_ok_and(|message| message.is_event())
        {
            self.counters.events_sent.fetch_add(1, Ordering::Relaxed);
        }
        queued.message
    }
}

impl Stream for WatchStream {
    type Item = Result<BgpPeerWatchResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some((queued, mut sleep)) = this.held.take() {
                if sleep.as_mut().poll(cx).is_pending() {
                    this.held = Some((queued, sleep));
                    return Poll::Pending;
                }
                return Poll::Ready(Some(this.deliver(queued)));
            }
            let Some(queued) = std::task::ready!(this.queue.poll_recv(cx)) else {
                return Poll::Ready(None);
            };
            match queued.due {
                Some(due) if due > Instant::now() => {
                    this.held = Some((queued, Box::pin(tokio::time::sleep_until(due))));
                }
                _ => return Poll::Ready(Some(this.deliver(queued))),
            }
        }
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.counters.open_watches.fetch_sub(1, Ordering::Relaxed);
    }
}

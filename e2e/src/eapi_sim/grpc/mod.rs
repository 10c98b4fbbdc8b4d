//! The switch's EosSdkRpc side: `eos.remote.BgpMgrService` (`watch`, `exists`, `peer_state`)
//! and `eos.remote.IntfMgrService` (`watch`) over gRPC on a unix socket and/or TCP, as
//! DoubleZero switches serve it (eos.md §9 item 8; the interface service from Arista's public
//! `intf.proto`).
//! It reads the same [`super::switch::Switch`] as eAPI, and every change made through
//! [`super::EapiSim`] or the control API reaches the open watches here, so a poll and a stream
//! see one switch.
//!
//! The rooms: `proto` holds the messages, `service` the hand-written gRPC glue, `transport` the
//! listeners and the connections a reset can cut. This file is the BGP side itself: who watches
//! what, what each change sends, and the injected faults.
//!
//! Readings of facts the spec leaves open ([U] there) are settings, so the agent can be run
//! under each: whether a watch starts with a snapshot of the existing peers, where the ack
//! goes, and which shape of the interface service the switch serves, if any. Inferred
//! behaviour is marked [I].

pub mod proto;
mod service;
mod transport;

use std::collections::BTreeMap;
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
    BgpPeerStateResponse, BgpPeerWatchRequest, BgpPeerWatchResponse, IntfOverloads,
    LegacyInterfaceEvent, WatchIntfRequest, WatchIntfResponse, WatchOverload,
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

/// Which `IntfMgrService` the transport serves [U]: `intf.proto` has changed shape over
/// EosSdkRpc's history, and a release may serve none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum IntfServing {
    /// `WatchIntfResponse` with the interface by name and the status as an enum.
    #[default]
    Current,
    /// The older `InterfaceEvent`: the interface by type and number, the status as a message.
    Legacy,
    /// Every interface call fails with `UNIMPLEMENTED`.
    Unimplemented,
}

/// The readings of the unestablished watch behaviour in force; a field left out of the JSON
/// form keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcBehaviour {
    /// A new watch first gets `on_peer_set` + `on_peer_state` for every matching peer, and a
    /// new interface watch the status of every tunnel [U].
    pub initial_snapshot: bool,
    pub ack: WatchAck,
    pub interfaces: IntfServing,
}

impl Default for GrpcBehaviour {
    fn default() -> Self {
        GrpcBehaviour {
            initial_snapshot: true,
            ack: WatchAck::default(),
            interfaces: IntfServing::default(),
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
    /// Interface watches whose response stream is still open.
    #[serde(default)]
    pub open_intf_watches: u64,
    /// Interface events handed to the transport, snapshots included.
    #[serde(default)]
    pub intf_events_sent: u64,
    /// Transport resets injected.
    pub resets: u64,
    /// Calls received per method, refused ones included.
    pub calls: GrpcCalls,
}

/// Calls received per method: `BgpMgrService`'s, and `IntfMgrService.watch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcCalls {
    pub watch: u64,
    pub exists: u64,
    pub peer_state: u64,
    #[serde(default)]
    pub intf_watch: u64,
}

/// A `BgpMgrService` method, for counting.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Watch,
    Exists,
    PeerState,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    open_watches: AtomicU64,
    events_sent: AtomicU64,
    open_intf_watches: AtomicU64,
    intf_events_sent: AtomicU64,
    resets: AtomicU64,
    watch: AtomicU64,
    exists: AtomicU64,
    peer_state: AtomicU64,
    intf_watch: AtomicU64,
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
struct Queued<M> {
    due: Option<Instant>,
    message: Result<M, Status>,
}

#[derive(Debug)]
struct Watcher {
    filter: Filter,
    queue: mpsc::UnboundedSender<Queued<BgpPeerWatchResponse>>,
}

/// An interface watch: every interface or one by name, in the shape it was opened under.
#[derive(Debug)]
struct IntfWatcher {
    only: Option<String>,
    legacy: bool,
    queue: mpsc::UnboundedSender<Queued<IntfWire>>,
}

impl IntfWatcher {
    fn send(&self, event: &WatchIntfResponse, due: Option<Instant>) -> bool {
        let name = event.intf_id.as_ref().map(|id| id.name.as_str());
        if self.only.is_some() && self.only.as_deref() != name {
            return !self.queue.is_closed();
        }
        let message = if self.legacy {
            IntfWire::Legacy(event.legacy())
        } else {
            IntfWire::Current(event.clone())
        };
        self.queue
            .send(Queued {
                due,
                message: Ok(message),
            })
            .is_ok()
    }
}

/// An interface watch's response in the shape its watch serves. Encoding only: no client
/// decodes this type (each reads the one shape it expects).
#[derive(Debug, Clone)]
pub(crate) enum IntfWire {
    Current(WatchIntfResponse),
    Legacy(LegacyInterfaceEvent),
}

impl Default for IntfWire {
    fn default() -> Self {
        IntfWire::Current(WatchIntfResponse::default())
    }
}

impl prost::Message for IntfWire {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        match self {
            IntfWire::Current(message) => message.encode_raw(buf),
            IntfWire::Legacy(message) => message.encode_raw(buf),
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match self {
            IntfWire::Current(message) => message.merge_field(tag, wire_type, buf, ctx),
            IntfWire::Legacy(message) => message.merge_field(tag, wire_type, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            IntfWire::Current(message) => message.encoded_len(),
            IntfWire::Legacy(message) => message.encoded_len(),
        }
    }

    fn clear(&mut self) {
        *self = IntfWire::default();
    }
}

/// A response a watch stream counts: BGP peer events apart from acks, interface events.
pub(crate) trait Counted: Send + 'static {
    fn count(&self, counters: &Counters);
}

impl Counted for BgpPeerWatchResponse {
    fn count(&self, counters: &Counters) {
        if self.is_event() {
            counters.events_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Counted for IntfWire {
    fn count(&self, counters: &Counters) {
        counters.intf_events_sent.fetch_add(1, Ordering::Relaxed);
    }
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
    /// Open interface watches; locked after `watchers` when both are.
    intf_watchers: Mutex<Vec<IntfWatcher>>,
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
            intf_watchers: Mutex::new(Vec::new()),
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
                end_all_intfs(&self.intf_watchers, unavailable);
                fault
            }
            Some(GrpcFault::Unimplemented) => {
                end_all(&mut watchers, unimplemented);
                end_all_intfs(&self.intf_watchers, intf_unimplemented);
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

    pub(crate) fn count_intf_watch(&self) {
        self.counters.intf_watch.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counters(&self) -> GrpcCounters {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        GrpcCounters {
            open_watches: load(&counters.open_watches),
            events_sent: load(&counters.events_sent),
            open_intf_watches: load(&counters.open_intf_watches),
            intf_events_sent: load(&counters.intf_events_sent),
            resets: load(&counters.resets),
            calls: GrpcCalls {
                watch: load(&counters.watch),
                exists: load(&counters.exists),
                peer_state: load(&counters.peer_state),
                intf_watch: load(&counters.intf_watch),
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
        let Some(due) = self.due() else { return };
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

    /// When an event sent now reaches its watchers: `None` while silent (it never does),
    /// `Some(None)` at once.
    fn due(&self) -> Option<Option<Instant>> {
        match self.fault() {
            Some(GrpcFault::Silence) => None,
            Some(GrpcFault::DelayEvents { ms }) => {
                Some(Some(Instant::now() + Duration::from_millis(ms)))
            }
            _ => Some(None),
        }
    }

    /// Sends what a change of the tunnel interfaces (name → oper status up) means to every
    /// interface watch: a new tunnel is `EVENT_INTF_CREATED` then its status, a removed one
    /// `EVENT_INTF_DELETED`, a changed status the status. The caller holds the switch's lock.
    pub(crate) fn tunnels_changed(
        &self,
        before: &BTreeMap<String, bool>,
        after: &BTreeMap<String, bool>,
    ) {
        let mut events = Vec::new();
        for (name, up) in after {
            match before.get(name) {
                None => {
                    events.push(WatchIntfResponse::created(name));
                    events.push(WatchIntfResponse::status(name, *up));
                }
                Some(was) if was != up => events.push(WatchIntfResponse::status(name, *up)),
                Some(_) => {}
            }
        }
        for name in before.keys().filter(|name| !after.contains_key(*name)) {
            events.push(WatchIntfResponse::deleted(name));
        }
        if events.is_empty() {
            return;
        }
        let mut watchers = self.intf_watchers.lock().expect("intf watchers lock");
        let Some(due) = self.due() else { return };
        watchers.retain(|watcher| events.iter().all(|event| watcher.send(event, due)));
    }

    /// Opens an interface watch in the shape the transport serves: each tunnel's status first
    /// when the snapshot reading is on, then every later change.
    pub(crate) fn watch_intfs(
        &self,
        request: WatchIntfRequest,
    ) -> Result<WatchStream<IntfWire>, Status> {
        let only = match request.overloads {
            Some(IntfOverloads::AllIntfs(true)) => None,
            Some(IntfOverloads::IntfId(id)) => Some(id.name),
            // [I] As for BGP: a request naming nothing has nothing to watch.
            _ => {
                return Err(Status::invalid_argument(
                    "watch needs all_intfs = true or an intf_id",
                ))
            }
        };
        let (queue, received) = mpsc::unbounded_channel();
        let switch = self.state.switch.lock().expect("switch lock");
        let mut watchers = self.intf_watchers.lock().expect("intf watchers lock");
        let behaviour = self.behaviour();
        let watcher = IntfWatcher {
            only,
            legacy: behaviour.interfaces == IntfServing::Legacy,
            queue,
        };
        match self.fault() {
            Some(GrpcFault::Unavailable) => return Err(unavailable()),
            Some(GrpcFault::Unimplemented) => return Err(intf_unimplemented()),
            Some(GrpcFault::Silence) => {}
            _ if behaviour.initial_snapshot => {
                for (name, up) in switch.tunnel_states() {
                    watcher.send(&WatchIntfResponse::status(&name, up), None);
                }
            }
            _ => {}
        }
        watchers.push(watcher);
        Ok(WatchStream::new(
            received,
            self.counters.clone(),
            |counters| &counters.open_intf_watches,
        ))
    }

    /// Opens a watch: the ack and the snapshot as the readings say, then every later change.
    pub(crate) fn watch(
        &self,
        request: BgpPeerWatchRequest,
    ) -> Result<WatchStream<BgpPeerWatchResponse>, Status> {
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
        Ok(WatchStream::new(
            received,
            self.counters.clone(),
            |counters| &counters.open_watches,
        ))
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

pub(crate) fn intf_unimplemented() -> Status {
    Status::unimplemented("unknown service eos.remote.IntfMgrService")
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

/// Ends every interface watch with `status` and forgets it.
fn end_all_intfs(watchers: &Mutex<Vec<IntfWatcher>>, status: fn() -> Status) {
    for watcher in watchers.lock().expect("intf watchers lock").drain(..) {
        let _ = watcher.queue.send(Queued {
            due: None,
            message: Err(status()),
        });
    }
}

/// The response stream of one watch: its queue, each response held until it is due, counted
/// as open until tonic drops it (the client went away, the stream ended, or the connection was
/// cut).
pub(crate) struct WatchStream<M> {
    queue: mpsc::UnboundedReceiver<Queued<M>>,
    held: Option<(Queued<M>, Pin<Box<Sleep>>)>,
    counters: Arc<Counters>,
    /// Which of `counters`' open-watch gauges this stream is in.
    open: fn(&Counters) -> &AtomicU64,
}

impl<M: Counted> WatchStream<M> {
    fn new(
        queue: mpsc::UnboundedReceiver<Queued<M>>,
        counters: Arc<Counters>,
        open: fn(&Counters) -> &AtomicU64,
    ) -> Self {
        open(&counters).fetch_add(1, Ordering::Relaxed);
        WatchStream {
            queue,
            held: None,
            counters,
            open,
        }
    }

    fn deliver(&self, queued: Queued<M>) -> Result<M, Status> {
        if let Ok(message) = &queued.message {
            message.count(&self.counters);
        }
        queued.message
    }
}

impl<M: Counted + Unpin> Stream for WatchStream<M> {
    type Item = Result<M, Status>;

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

impl<M> Drop for WatchStream<M> {
    fn drop(&mut self) {
        (self.open)(&self.counters).fetch_sub(1, Ordering::Relaxed);
    }
}

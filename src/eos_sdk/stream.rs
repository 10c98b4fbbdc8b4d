//! The watch kept open: connect, `watch(all)`, turn each response into peer-table changes for
//! the daemon, and when the stream ends, fails or goes silent without answering a probe, say
//! so and reconnect with backoff. Nothing here decides a status: a lost stream only sends the
//! daemon back to polling at its normal interval.
//!
//! Beside it, on the same connection, the interfaces are watched (`IntfMgrService.watch`) when
//! the transport serves them: a tunnel's oper status amends the tunnel table, and a tunnel
//! created or deleted brings a poll. An interface watch that is refused, breaks or sends what
//! this build cannot decode is retried with its own backoff and leaves the BGP watch alone; the
//! tunnels stay on the poll meanwhile.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Streaming};

use tokio::time::Instant;

use super::client::Connection;
use super::proto::{self, BgpPeerWatchResponse, PeerEvent, WatchIntfResponse};
use super::Connector;
use crate::backoff::Backoff;
use crate::bgp::{PeerKey, PeerState};

/// What the stream tells the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The watch is open: events flow from here on.
    Connected,
    /// A peer appeared; its state follows in its own event.
    Added(PeerKey),
    /// A peer was deleted from the configuration.
    Removed(PeerKey),
    /// A peer's session changed state.
    State(PeerKey, PeerState),
    /// The watch ended or failed; the next attempt follows after a backoff.
    Lost { error: String },
    /// The interface watch opened (`Ok`), or is off for the reason given, the tunnels staying
    /// on the poll until it is back.
    Interfaces(Result<(), String>),
    /// A tunnel's oper status changed: its line protocol is up or down.
    TunnelOper { name: String, up: bool },
    /// A tunnel was created or deleted.
    TunnelConfig(String),
}

/// The stream as `/status` and `check` show it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StreamHealth {
    pub addr: String,
    pub connected: bool,
    /// Unix seconds of the last connect or loss.
    pub since: Option<u64>,
    /// Unix seconds of the last peer event.
    pub last_event: Option<u64>,
    pub error: Option<String>,
    pub reconnects: u64,
    /// Whether tunnels' changes come from the interface watch.
    pub interfaces_watched: bool,
    /// Why they do not, when the transport said.
    pub interfaces_error: Option<String>,
}

/// Keeps a watch open until `shutdown`, sending what it sees to `events`.
/// `silence` is how long the watch may go without a message before a probe checks the transport.
pub fn spawn(
    connector: Connector,
    silence: Duration,
    events: mpsc::UnboundedSender<StreamEvent>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            let error = tokio::select! {
                _ = shutdown.cancelled() => return,
                error = watch(&connector, silence, &events, &mut backoff) => error,
            };
            if events.send(StreamEvent::Lost { error }).is_err() {
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    })
}

/// A connection and a watch of every peer on it; the error says why there is none.
async fn open(
    connector: &Connector,
) -> Result<(Connection, Streaming<BgpPeerWatchResponse>), String> {
    let mut client = connector
        .connect()
        .await
        .map_err(|status| status.message().to_owned())?;
    let stream = client
        .watch_all()
        .await
        .map_err(|status| describe(&status))?;
    Ok((client, stream))
}

/// One watch, from connecting to its end; returns why it ended.
async fn watch(
    connector: &Connector,
    silence: Duration,
    events: &mpsc::UnboundedSender<StreamEvent>,
    backoff: &mut Backoff,
) -> String {
    const STOPPED: &str = "the daemon has stopped";
    let (mut client, mut stream) = match open(connector).await {
        Ok(opened) => opened,
        Err(error) => return error,
    };
    if events.send(StreamEvent::Connected).is_err() {
        return STOPPED.into();
    }
    let mut intfs = Intfs::new();
    intfs.open(&mut client, events).await;
    let mut probe_key = proto::BgpPeerKey {
        vrf_name: "default".into(),
        peer_addr: "0.0.0.0".into(),
    };
    // Only the BGP watch's own messages (or an answered probe) prove it alive: interface
    // events flowing say nothing of a stuck BGP side.
    let mut quiet_until = Instant::now() + silence;
    loop {
        tokio::select! {
            message = tokio::time::timeout_at(quiet_until, stream.message()) => match message {
                Ok(Ok(Some(response))) => {
                    // A message proves the watch works: the next loss starts the backoff afresh.
                    backoff.reset();
                    quiet_until = Instant::now() + silence;
                    for event in read(response, &mut probe_key) {
                        if events.send(event).is_err() {
                            return STOPPED.into();
                        }
                    }
                }
                Ok(Ok(None)) => return "EosSdkRpc ended the watch".into(),
                Ok(Err(status)) => return describe(&status),
                // A quiet network sends nothing for hours: only a transport that does not
                // answer a probe either counts as gone.
                Err(_) => {
                    if let Err(status) = client.peer_state(probe_key.clone()).await {
                        if !answered(&status) {
                            return format!(
                                "the watch was silent for {silence:?} and a peer_state probe failed: {}",
                                describe(&status)
                            );
                        }
                    }
                    quiet_until = Instant::now() + silence;
                }
            },
            step = intfs.next() => match step {
                IntfStep::Message(response) => {
                    intfs.backoff.reset();
                    if let Some(event) = read_intf(response) {
                        if events.send(event).is_err() {
                            return STOPPED.into();
                        }
                    }
                }
                IntfStep::Failed(why) => intfs.failed(why, events),
                IntfStep::Retry => intfs.open(&mut client, events).await,
            },
        }
    }
}

/// The interface watch beside the BGP one, on the same connection.
struct Intfs {
    state: IntfState,
    backoff: Backoff,
}

enum IntfState {
    Open(Box<Streaming<WatchIntfResponse>>),
    /// Refused or broken: opened again at this moment.
    Retry(Instant),
}

enum IntfStep {
    Message(WatchIntfResponse),
    Failed(String),
    Retry,
}

impl Intfs {
    fn new() -> Self {
        Intfs {
            state: IntfState::Retry(Instant::now()),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
        }
    }

    async fn open(&mut self, client: &mut Connection, events: &mpsc::UnboundedSender<StreamEvent>) {
        match client.watch_intfs().await {
            Ok(stream) => {
                self.state = IntfState::Open(Box::new(stream));
                let _ = events.send(StreamEvent::Interfaces(Ok(())));
            }
            Err(status) => self.failed(describe_intfs(&status), events),
        }
    }

    fn failed(&mut self, why: String, events: &mpsc::UnboundedSender<StreamEvent>) {
        self.state = IntfState::Retry(Instant::now() + self.backoff.next_delay());
        let _ = events.send(StreamEvent::Interfaces(Err(why)));
    }

    /// The next message, failure or retry moment; pending while the watch is quiet.
    async fn next(&mut self) -> IntfStep {
        match &mut self.state {
            IntfState::Open(stream) => match stream.message().await {
                Ok(Some(response)) => IntfStep::Message(response),
                Ok(None) => IntfStep::Failed("EosSdkRpc ended the interface watch".into()),
                Err(status) => IntfStep::Failed(describe_intfs(&status)),
            },
            IntfState::Retry(at) => {
                tokio::time::sleep_until(*at).await;
                IntfStep::Retry
            }
        }
    }
}

/// What a short look at the transport found: the watch opened, the peer states it sent within
/// the look (EOS may or may not send every peer's current state first), and whether the
/// interfaces can be watched too (why not, if not).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub states: Vec<(PeerKey, PeerState)>,
    pub interfaces: Result<(), String>,
}

/// Opens a watch of the peers and one of the interfaces and reads them for `window`, for
/// `check` and `peers`; the error says why the peer watch could not be opened or broke.
pub async fn probe(connector: &Connector, window: Duration) -> Result<Probe, String> {
    let (mut client, mut stream) = open(connector).await?;
    let mut intfs = client
        .watch_intfs()
        .await
        .map_err(|status| describe_intfs(&status));
    let mut probe = Probe {
        states: Vec::new(),
        interfaces: intfs.as_ref().map(|_| ()).map_err(Clone::clone),
    };
    let mut probe_key = proto::BgpPeerKey::default();
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let intf_message = async {
            match &mut intfs {
                Ok(stream) => stream.message().await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(probe),
            message = stream.message() => match message {
                Ok(Some(response)) => {
                    for event in read(response, &mut probe_key) {
                        if let StreamEvent::State(key, state) = event {
                            probe.states.push((key, state));
                        }
                    }
                }
                Ok(None) => return Err("EosSdkRpc ended the watch at once".into()),
                Err(status) => return Err(describe(&status)),
            },
            message = intf_message => {
                let error = match message {
                    Ok(Some(_)) => continue,
                    Ok(None) => "EosSdkRpc ended the interface watch at once".to_owned(),
                    Err(status) => describe_intfs(&status),
                };
                probe.interfaces = Err(error.clone());
                intfs = Err(error);
            }
        }
    }
}

/// Whether a failed call still proves the transport alive: the server answered it.
fn answered(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::NotFound
            | Code::InvalidArgument
            | Code::Unimplemented
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::PermissionDenied
    )
}

/// Why the interface watch is off, for `/status` and the journal.
fn describe_intfs(status: &tonic::Status) -> String {
    match status.code() {
        Code::Unimplemented => format!(
            "this EOS release does not serve IntfMgrService ({}); tunnels are polled",
            status.message()
        ),
        // tonic reports a response prost cannot decode as INTERNAL.
        Code::Internal => format!(
            "interface events not in the shape this build reads ({}); tunnels are polled",
            status.message()
        ),
        code => format!("{code:?}: {}; tunnels are polled", status.message()),
    }
}

fn describe(status: &tonic::Status) -> String {
    match status.code() {
        Code::Unimplemented => format!(
            "this EOS release does not serve BgpMgrService ({}); polling only",
            status.message()
        ),
        code => format!("{code:?}: {}", status.message()),
    }
}

/// The daemon's events in one response; a key or state this build cannot read is skipped
/// (the poll still covers that peer).
fn read(response: BgpPeerWatchResponse, probe_key: &mut proto::BgpPeerKey) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    match response.peer_event {
        Some(PeerEvent::OnPeerSet(set)) => {
            if let Some(key) = set.peer_key.as_ref().and_then(key) {
                out.push(StreamEvent::Added(key));
            }
        }
        Some(PeerEvent::OnPeerDel(del)) => {
            if let Some(key) = del.peer_key.as_ref().and_then(key) {
                out.push(StreamEvent::Removed(key));
            }
        }
        None => {}
    }
    if let Some(event) = response.on_peer_state {
        let state = state(event.peer_state());
        if let (Some(raw), Some(state)) = (event.peer_key, state) {
            if let Some(key) = key(&raw) {
                *probe_key = raw;
                out.push(StreamEvent::State(key, state));
            }
        }
    }
    out
}

/// The daemon's event in one interface response: only tunnels matter (a user's session runs
/// over one), and a status that is neither up nor down says nothing.
fn read_intf(response: WatchIntfResponse) -> Option<StreamEvent> {
    let name = response.intf_id?.name;
    if !name.starts_with("Tunnel") {
        return None;
    }
    use proto::{IntfEvent, OperStatus};
    match (
        response.event.and_then(|e| IntfEvent::try_from(e).ok()),
        response.status.and_then(|s| OperStatus::try_from(s).ok()),
    ) {
        (Some(IntfEvent::Created | IntfEvent::Deleted), _) => Some(StreamEvent::TunnelConfig(name)),
        (_, Some(OperStatus::Up)) => Some(StreamEvent::TunnelOper { name, up: true }),
        (_, Some(OperStatus::Down)) => Some(StreamEvent::TunnelOper { name, up: false }),
        _ => None,
    }
}

fn key(raw: &proto::BgpPeerKey) -> Option<PeerKey> {
    let addr = raw.peer_addr.parse().ok()?;
    let vrf = if raw.vrf_name.is_empty() {
        "default"
    } else {
        &raw.vrf_name
    };
    Some(PeerKey {
        vrf: vrf.into(),
        addr,
    })
}

/// `UNKNOWN` says nothing about the session: it is left to the poll rather than read as down.
fn state(state: proto::BgpPeerState) -> Option<PeerState> {
    use proto::BgpPeerState as S;
    Some(match state {
        S::Unknown => return None,
        S::Idle => PeerState::Idle,
        S::Connect => PeerState::Connect,
        S::Active => PeerState::Active,
        S::Opensent => PeerState::OpenSent,
        S::Openconfirm => PeerState::OpenConfirm,
        S::Established => PeerState::Established,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{BgpPeerKey, OnBgpPeerDel, OnBgpPeerSet, OnBgpPeerState};

    fn raw(addr: &str) -> BgpPeerKey {
        BgpPeerKey {
            vrf_name: "vrf1".into(),
            peer_addr: addr.into(),
        }
    }

    fn peer(addr: &str) -> PeerKey {
        PeerKey {
            vrf: "vrf1".into(),
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn set_state_and_delete_become_peer_table_changes() {
        let mut probe = raw("0.0.0.0");
        let response = BgpPeerWatchResponse {
            ack: false,
            peer_event: Some(PeerEvent::OnPeerSet(OnBgpPeerSet {
                peer_key: Some(raw("169.254.0.1")),
            })),
            on_peer_state: Some(OnBgpPeerState {
                peer_key: Some(raw("169.254.0.1")),
                peer_state: proto::BgpPeerState::Established as i32,
            }),
        };
        assert_eq!(
            read(response, &mut probe),
            vec![
                StreamEvent::Added(peer("169.254.0.1")),
                StreamEvent::State(peer("169.254.0.1"), PeerState::Established)
            ]
        );
        assert_eq!(probe, raw("169.254.0.1"), "the last peer seen is probed");
        let del = BgpPeerWatchResponse {
            ack: false,
            peer_event: Some(PeerEvent::OnPeerDel(OnBgpPeerDel {
                peer_key: Some(raw("169.254.0.1")),
            })),
            on_peer_state: None,
        };
        assert_eq!(
            read(del, &mut probe),
            vec![StreamEvent::Removed(peer("169.254.0.1"))]
        );
    }

    #[test]
    fn an_ack_an_unknown_state_or_an_unreadable_key_change_nothing() {
        let mut probe = raw("0.0.0.0");
        let ack = BgpPeerWatchResponse {
            ack: true,
            peer_event: None,
            on_peer_state: None,
        };
        assert!(read(ack, &mut probe).is_empty());
        for (addr, state) in [
            ("169.254.0.1", 0),
            ("not-an-address", 6),
            ("169.254.0.1", 99),
        ] {
            let response = BgpPeerWatchResponse {
                ack: false,
                peer_event: None,
                on_peer_state: Some(OnBgpPeerState {
                    peer_key: Some(raw(addr)),
                    peer_state: state,
                }),
            };
            assert!(read(response, &mut probe).is_empty(), "{addr} {state}");
        }
    }

    fn intf(
        name: &str,
        event: Option<proto::IntfEvent>,
        status: Option<proto::OperStatus>,
    ) -> WatchIntfResponse {
        WatchIntfResponse {
            intf_id: Some(proto::IntfId { name: name.into() }),
            event: event.map(|e| e as i32),
            status: status.map(|s| s as i32),
        }
    }

    #[test]
    fn tunnel_status_and_config_events_are_read_and_the_rest_skipped() {
        use proto::{IntfEvent as E, OperStatus as S};
        let oper = |up| StreamEvent::TunnelOper {
            name: "Tunnel500".into(),
            up,
        };
        assert_eq!(
            read_intf(intf("Tunnel500", None, Some(S::Up))),
            Some(oper(true))
        );
        assert_eq!(
            read_intf(intf("Tunnel500", None, Some(S::Down))),
            Some(oper(false))
        );
        for event in [E::Created, E::Deleted] {
            assert_eq!(
                read_intf(intf("Tunnel500", Some(event), None)),
                Some(StreamEvent::TunnelConfig("Tunnel500".into()))
            );
        }
        // Not a tunnel, no news, a status this build does not know, or no name at all.
        assert_eq!(read_intf(intf("Ethernet1", None, Some(S::Down))), None);
        assert_eq!(read_intf(intf("Tunnel500", Some(E::NoChanges), None)), None);
        assert_eq!(read_intf(intf("Tunnel500", None, Some(S::Null))), None);
        let mut unknown = intf("Tunnel500", None, None);
        unknown.status = Some(7);
        assert_eq!(read_intf(unknown), None);
        let mut nameless = intf("Tunnel500", None, Some(S::Down));
        nameless.intf_id = None;
        assert_eq!(read_intf(nameless), None);
    }

    #[test]
    fn only_a_call_the_server_answered_proves_the_transport_alive() {
        assert!(answered(&tonic::Status::not_found("no such peer")));
        assert!(answered(&tonic::Status::unimplemented("")));
        assert!(!answered(&tonic::Status::unavailable("connection reset")));
        assert!(!answered(&tonic::Status::deadline_exceeded("")));
    }
}

//! The watch kept open: connect, `watch(all)`, turn each response into peer-table changes for
//! the daemon, and when the stream ends, fails or goes silent without answering a probe, say
//! so and reconnect with backoff. Nothing here decides a status: a lost stream only sends the
//! daemon back to polling at its normal interval.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Streaming};

use super::client::BgpMgr;
use super::proto::{self, BgpPeerWatchResponse, PeerEvent};
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
}

/// The stream as `/status` and `check` show it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamHealth {
    pub addr: String,
    pub connected: bool,
    /// Unix seconds of the last connect or loss.
    pub since: Option<u64>,
    /// Unix seconds of the last peer event.
    pub last_event: Option<u64>,
    pub error: Option<String>,
    pub reconnects: u64,
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
async fn open(connector: &Connector) -> Result<(BgpMgr, Streaming<BgpPeerWatchResponse>), String> {
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
    let (mut client, mut stream) = match open(connector).await {
        Ok(opened) => opened,
        Err(error) => return error,
    };
    if events.send(StreamEvent::Connected).is_err() {
        return "the daemon has stopped".into();
    }
    let mut probe_key = proto::BgpPeerKey {
        vrf_name: "default".into(),
        peer_addr: "0.0.0.0".into(),
    };
    loop {
        match tokio::time::timeout(silence, stream.message()).await {
            Ok(Ok(Some(response))) => {
                // A message proves the watch works: the next loss starts the backoff afresh.
                backoff.reset();
                for event in read(response, &mut probe_key) {
                    if events.send(event).is_err() {
                        return "the daemon has stopped".into();
                    }
                }
            }
            Ok(Ok(None)) => return "EosSdkRpc ended the watch".into(),
            Ok(Err(status)) => return describe(&status),
            // A quiet network sends nothing for hours: only a transport that does not answer
            // a probe either counts as gone.
            Err(_) => {
                if let Err(status) = client.peer_state(probe_key.clone()).await {
                    if !answered(&status) {
                        return format!(
                            "the watch was silent for {silence:?} and a peer_state probe failed: {}",
                            describe(&status)
                        );
                    }
                }
            }
        }
    }
}

/// What a short look at the transport found: the watch opened, and the peer states it sent
/// within the look (EOS may or may not send every peer's current state first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    pub states: Vec<(PeerKey, PeerState)>,
}

/// Opens a watch and reads it for `window`, for `check` and `peers`; the error says why the
/// watch could not be opened or broke.
pub async fn probe(connector: &Connector, window: Duration) -> Result<Probe, String> {
    let mut client = connector
        .connect()
        .await
        .map_err(|status| status.message().to_owned())?;
    let mut stream = client
        .watch_all()
        .await
        .map_err(|status| describe(&status))?;
    let mut probe = Probe::default();
    let mut probe_key = proto::BgpPeerKey::default();
    let deadline = tokio::time::Instant::now() + window;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Err(_) => return Ok(probe),
            Ok(Ok(Some(response))) => {
                for event in read(response, &mut probe_key) {
                    if let StreamEvent::State(key, state) = event {
                        probe.states.push((key, state));
                    }
                }
            }
            Ok(Ok(None)) => return Err("EosSdkRpc ended the watch at once".into()),
            Ok(Err(status)) => return Err(describe(&status)),
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

    #[test]
    fn only_a_call_the_server_answered_proves_the_transport_alive() {
        assert!(answered(&tonic::Status::not_found("no such peer")));
        assert!(answered(&tonic::Status::unimplemented("")));
        assert!(!answered(&tonic::Status::unavailable("connection reset")));
        assert!(!answered(&tonic::Status::deadline_exceeded("")));
    }
}

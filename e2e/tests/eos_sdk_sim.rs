//! The simulator's EosSdkRpc side (`eos.remote.BgpMgrService` over gRPC) against a plain tonic
//! client: every change made to the simulated switch reaches the open watches that asked for
//! it, in order, over TCP and a unix socket, while eAPI shows the same state; the readings of
//! unestablished behaviour (snapshot, ack) and each injected fault do what they say.
//!
//! The client here reuses the simulator's message types (`eapi_sim::proto`): those are pinned
//! byte for byte against the spec's field numbers by their own unit tests, so this file tests
//! behaviour, not encoding. The agent has its own copies.

use std::time::Duration;

use doublezero_bgpstatus::eapi::{Client, Command};
use doublezero_bgpstatus_e2e::eapi_sim::proto::{
    BgpPeerExistsRequest, BgpPeerExistsResponse, BgpPeerKey, BgpPeerState, BgpPeerStateRequest,
    BgpPeerStateResponse, BgpPeerWatchRequest, BgpPeerWatchResponse, IntfEvent, IntfEvents,
    IntfOverloads, LegacyInterfaceEvent, LegacyIntfEvent, OperStatuses, WatchIntfRequest,
    WatchIntfResponse, WatchOverload,
};
use doublezero_bgpstatus_e2e::eapi_sim::{
    EapiSim, GrpcBehaviour, GrpcCounters, GrpcFault, IntfServing, Peer, SimConfig, Tunnel, WatchAck,
};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::{timeout, Instant};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};
use tonic_prost::ProstCodec;

/// How long any awaited message or call may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);
const VRF: &str = "vrf1";

/// A `BgpMgrService` client: what tonic's generated client would be, by hand.
struct BgpClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl BgpClient {
    /// Connects to `unix:///path` or `HOST:PORT`, as the agent's option takes them.
    async fn connect(addr: &str) -> BgpClient {
        let channel = match addr.strip_prefix("unix://") {
            Some(path) => {
                let path = path.to_owned();
                Endpoint::from_static("http://localhost")
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let path = path.clone();
                        async move {
                            let stream = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, std::io::Error>(TokioIo::new(stream))
                        }
                    }))
                    .await
            }
            None => {
                Endpoint::from_shared(format!("http://{addr}"))
                    .expect("a valid URI")
                    .connect()
                    .await
            }
        };
        BgpClient {
            grpc: tonic::client::Grpc::new(channel.expect("the transport accepts a connection")),
        }
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|err| Status::unavailable(err.to_string()))
    }

    async fn watch(
        &mut self,
        request: BgpPeerWatchRequest,
    ) -> Result<Streaming<BgpPeerWatchResponse>, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static("/eos.remote.BgpMgrService/watch");
        let response = self
            .grpc
            .server_streaming(tonic::Request::new(request), path, ProstCodec::default())
            .await?;
        Ok(response.into_inner())
    }

    /// `IntfMgrService.watch(all_intfs)`, its responses read as `M` (the current shape or the
    /// older one).
    async fn watch_intfs<M: prost::Message + Default + 'static>(
        &mut self,
    ) -> Result<Streaming<M>, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static("/eos.remote.IntfMgrService/watch");
        let request = WatchIntfRequest {
            overloads: Some(IntfOverloads::AllIntfs(true)),
        };
        let response = self
            .grpc
            .server_streaming(tonic::Request::new(request), path, ProstCodec::default())
            .await?;
        Ok(response.into_inner())
    }

    async fn peer_state(&mut self, key: BgpPeerKey) -> Result<BgpPeerState, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static("/eos.remote.BgpMgrService/peer_state");
        let request = BgpPeerStateRequest {
            peer_key: Some(key),
        };
        let response: tonic::Response<BgpPeerStateResponse> = self
            .grpc
            .unary(tonic::Request::new(request), path, ProstCodec::default())
            .await?;
        Ok(BgpPeerState::try_from(response.into_inner().peer_state).expect("a BgpPeerState value"))
    }

    async fn exists(&mut self, key: BgpPeerKey) -> Result<bool, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static("/eos.remote.BgpMgrService/exists");
        let request = BgpPeerExistsRequest {
            peer_key: Some(key),
        };
        let response: tonic::Response<BgpPeerExistsResponse> = self
            .grpc
            .unary(tonic::Request::new(request), path, ProstCodec::default())
            .await?;
        Ok(response.into_inner().exists)
    }
}

fn all(ack: bool) -> BgpPeerWatchRequest {
    BgpPeerWatchRequest {
        ack,
        overload: Some(WatchOverload::All(true)),
    }
}

fn one(key: BgpPeerKey) -> BgpPeerWatchRequest {
    BgpPeerWatchRequest {
        ack: false,
        overload: Some(WatchOverload::PeerKey(key)),
    }
}

fn key(address: &str) -> BgpPeerKey {
    BgpPeerKey::new(VRF, address)
}

/// A response written as the tests compare them: `ack`, `set ADDR`, `del ADDR`,
/// `state ADDR Established`.
fn describe(response: &BgpPeerWatchResponse) -> String {
    use doublezero_bgpstatus_e2e::eapi_sim::proto::PeerEvent;
    let addr = |key: &Option<BgpPeerKey>| {
        let key = key.as_ref().expect("events carry a peer key");
        format!("{}/{}", key.vrf_name, key.peer_addr)
    };
    let mut parts = Vec::new();
    if response.ack {
        parts.push("ack".to_owned());
    }
    match &response.peer_event {
        Some(PeerEvent::OnPeerSet(set)) => parts.push(format!("set {}", addr(&set.peer_key))),
        Some(PeerEvent::OnPeerDel(del)) => parts.push(format!("del {}", addr(&del.peer_key))),
        None => {}
    }
    if let Some(state) = &response.on_peer_state {
        let value = BgpPeerState::try_from(state.peer_state).expect("a BgpPeerState value");
        parts.push(format!("state {} {value:?}", addr(&state.peer_key)));
    }
    parts.join(" + ")
}

/// The next `count` responses of a watch, described.
async fn next(stream: &mut Streaming<BgpPeerWatchResponse>, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let message = timeout(BOUND, stream.message())
            .await
            .unwrap_or_else(|_| panic!("no response within {BOUND:?}; had {seen:?}"))
            .unwrap_or_else(|status| panic!("the watch failed: {status:?}; had {seen:?}"))
            .unwrap_or_else(|| panic!("the watch ended; had {seen:?}"));
        seen.push(describe(&message));
    }
    seen
}

/// How the watch ends: with an error status (the stream must not yield another message).
async fn ending(stream: &mut Streaming<BgpPeerWatchResponse>) -> Status {
    match timeout(BOUND, stream.message()).await {
        Ok(Err(status)) => status,
        Ok(Ok(message)) => panic!("expected the watch to fail, got {message:?}"),
        Err(_) => panic!("the watch was still open after {BOUND:?}"),
    }
}

/// Polls `condition` on the simulator's counters until it holds, or fails after [`BOUND`].
async fn until(sim: &EapiSim, what: &str, condition: impl Fn(&GrpcCounters) -> bool) {
    let deadline = Instant::now() + BOUND;
    loop {
        let counters = sim.grpc_counters();
        if condition(&counters) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {BOUND:?}: {counters:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

enum Listen {
    Tcp,
    Unix,
}

struct Lab {
    sim: EapiSim,
    _dir: tempfile::TempDir,
}

impl Lab {
    /// A switch with one Established user session, 169.254.0.1 in vrf1.
    async fn start(listen: Listen, configure: impl FnOnce(&mut SimConfig)) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = SimConfig::new(dir.path().join("command-api.sock"));
        match listen {
            Listen::Tcp => config.grpc_tcp = Some("127.0.0.1:0".parse().unwrap()),
            Listen::Unix => config.grpc_unix = Some(dir.path().join("eossdkrpc.sock")),
        }
        config.peers = vec![Peer::new(VRF, "169.254.0.1", "Established")];
        configure(&mut config);
        let sim = EapiSim::start(config).await.expect("simulator starts");
        Lab { sim, _dir: dir }
    }

    async fn client(&self) -> BgpClient {
        BgpClient::connect(&self.sim.grpc_addr().expect("a gRPC address")).await
    }

    fn set(&self, address: &str, state: &str) {
        self.sim
            .set_peer(Peer::new(VRF, address, state))
            .expect("a valid peer");
    }

    /// The state eAPI's summary shows for a vrf1 peer, `None` if it lists none.
    async fn polled_state(&self, address: &str) -> Option<String> {
        let client = Client::new(self.sim.socket_path()).with_timeout(BOUND);
        let summary = client
            .run(&[Command::new("show ip bgp summary vrf all")])
            .await
            .expect("a summary");
        summary[0]["vrfs"][VRF]["peers"][address]["peerState"]
            .as_str()
            .map(str::to_owned)
    }
}

/// A watch of all peers sees a session added, changed and removed, in order, and eAPI's poll
/// shows each change as well.
async fn add_change_remove_reach_the_watch(listen: Listen) {
    let lab = Lab::start(listen, |_| {}).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(true)).await.expect("a watch");
    assert_eq!(
        next(&mut watch, 3).await,
        [
            "ack",
            "set vrf1/169.254.0.1",
            "state vrf1/169.254.0.1 Established"
        ]
    );

    lab.set("169.254.0.3", "Active");
    assert_eq!(
        next(&mut watch, 2).await,
        ["set vrf1/169.254.0.3", "state vrf1/169.254.0.3 Active"]
    );
    assert_eq!(
        lab.polled_state("169.254.0.3").await.as_deref(),
        Some("Active")
    );

    lab.set("169.254.0.3", "Established");
    lab.set("169.254.0.1", "Idle");
    assert_eq!(
        next(&mut watch, 2).await,
        [
            "state vrf1/169.254.0.3 Established",
            "state vrf1/169.254.0.1 Idle"
        ]
    );
    assert_eq!(
        lab.polled_state("169.254.0.1").await.as_deref(),
        Some("Idle")
    );

    assert!(lab.sim.remove_peer(VRF, "169.254.0.3"));
    assert_eq!(next(&mut watch, 1).await, ["del vrf1/169.254.0.3"]);
    assert_eq!(lab.polled_state("169.254.0.3").await, None);

    let counters = lab.sim.grpc_counters();
    assert_eq!(counters.open_watches, 1);
    assert_eq!(counters.events_sent, 7);
    assert_eq!(counters.calls.watch, 1);
}

#[tokio::test]
async fn add_change_remove_reach_a_watch_over_tcp() {
    add_change_remove_reach_the_watch(Listen::Tcp).await;
}

#[tokio::test]
async fn add_change_remove_reach_a_watch_over_a_unix_socket() {
    add_change_remove_reach_the_watch(Listen::Unix).await;
}

#[tokio::test]
async fn setting_a_peer_to_its_own_state_sends_nothing() {
    let lab = Lab::start(Listen::Tcp, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(false)).await.expect("a watch");
    lab.set("169.254.0.1", "Established");
    lab.set("169.254.0.1", "Connect");
    // Had the repeated state sent anything, it would come first.
    assert_eq!(
        next(&mut watch, 1).await,
        ["state vrf1/169.254.0.1 Connect"]
    );
}

#[tokio::test]
async fn without_the_snapshot_a_watch_starts_with_the_next_change() {
    let lab = Lab::start(Listen::Tcp, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(true)).await.expect("a watch");
    lab.set("169.254.0.1", "Active");
    assert_eq!(
        next(&mut watch, 2).await,
        ["ack", "state vrf1/169.254.0.1 Active"]
    );
}

#[tokio::test]
async fn the_ack_comes_where_the_reading_puts_it_and_only_when_asked() {
    let lab = Lab::start(Listen::Unix, |_| {}).await;
    let mut client = lab.client().await;

    let mut unasked = client.watch(all(false)).await.expect("a watch");
    assert_eq!(
        next(&mut unasked, 2).await,
        ["set vrf1/169.254.0.1", "state vrf1/169.254.0.1 Established"]
    );

    lab.sim.set_grpc_behaviour(GrpcBehaviour {
        initial_snapshot: true,
        ack: WatchAck::AfterSnapshot,
        ..GrpcBehaviour::default()
    });
    let mut after = client.watch(all(true)).await.expect("a watch");
    assert_eq!(
        next(&mut after, 3).await,
        [
            "set vrf1/169.254.0.1",
            "state vrf1/169.254.0.1 Established",
            "ack"
        ]
    );

    lab.sim.set_grpc_behaviour(GrpcBehaviour {
        initial_snapshot: false,
        ack: WatchAck::Never,
        ..GrpcBehaviour::default()
    });
    let mut never = client.watch(all(true)).await.expect("a watch");
    lab.set("169.254.0.1", "Idle");
    assert_eq!(next(&mut never, 1).await, ["state vrf1/169.254.0.1 Idle"]);
}

#[tokio::test]
async fn a_watch_for_one_peer_gets_only_that_peers_events() {
    let lab = Lab::start(Listen::Tcp, |_| {}).await;
    lab.set("169.254.0.3", "Established");
    let mut client = lab.client().await;
    let mut watch = client
        .watch(one(key("169.254.0.3")))
        .await
        .expect("a watch");
    assert_eq!(
        next(&mut watch, 2).await,
        ["set vrf1/169.254.0.3", "state vrf1/169.254.0.3 Established"]
    );
    lab.set("169.254.0.1", "Idle");
    lab.set("169.254.0.5", "Active");
    lab.set("169.254.0.3", "Idle");
    assert!(lab.sim.remove_peer(VRF, "169.254.0.1"));
    assert!(lab.sim.remove_peer(VRF, "169.254.0.3"));
    assert_eq!(
        next(&mut watch, 2).await,
        ["state vrf1/169.254.0.3 Idle", "del vrf1/169.254.0.3"]
    );
}

#[tokio::test]
async fn two_watchers_both_get_every_event() {
    let lab = Lab::start(Listen::Unix, |config| config.grpc_initial_snapshot = false).await;
    let mut first = lab.client().await;
    let mut second = lab.client().await;
    let mut one = first.watch(all(false)).await.expect("a watch");
    let mut two = second.watch(all(false)).await.expect("a watch");
    until(&lab.sim, "two open watches", |c| c.open_watches == 2).await;
    lab.set("169.254.0.1", "OpenSent");
    lab.set("169.254.0.1", "OpenConfirm");
    let expected = [
        "state vrf1/169.254.0.1 Opensent",
        "state vrf1/169.254.0.1 Openconfirm",
    ];
    assert_eq!(next(&mut one, 2).await, expected);
    assert_eq!(next(&mut two, 2).await, expected);
}

#[tokio::test]
async fn peer_state_and_exists_answer_from_the_switch() {
    let lab = Lab::start(Listen::Tcp, |_| {}).await;
    let mut client = lab.client().await;
    assert_eq!(
        client.peer_state(key("169.254.0.1")).await.unwrap(),
        BgpPeerState::Established
    );
    assert!(client.exists(key("169.254.0.1")).await.unwrap());
    lab.set("169.254.0.1", "Active");
    assert_eq!(
        client.peer_state(key("169.254.0.1")).await.unwrap(),
        BgpPeerState::Active
    );

    assert!(!client.exists(key("169.254.0.9")).await.unwrap());
    let unknown = client.peer_state(key("169.254.0.9")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    // The key is (VRF, address): the same address in another VRF is another peer.
    let elsewhere = BgpPeerKey::new("default", "169.254.0.1");
    assert!(!client.exists(elsewhere).await.unwrap());

    let calls = lab.sim.grpc_counters().calls;
    assert_eq!((calls.peer_state, calls.exists, calls.watch), (3, 3, 0));
}

#[tokio::test]
async fn a_watch_naming_no_peer_is_refused() {
    let lab = Lab::start(Listen::Tcp, |_| {}).await;
    let mut client = lab.client().await;
    let request = BgpPeerWatchRequest {
        ack: true,
        overload: None,
    };
    let refused = client.watch(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn reset_cuts_open_watches_and_later_connections_are_served() {
    let lab = Lab::start(Listen::Tcp, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(true)).await.expect("a watch");
    assert_eq!(next(&mut watch, 1).await, ["ack"]);

    lab.sim.set_grpc_fault(GrpcFault::Reset);
    let status = ending(&mut watch).await;
    assert_ne!(status.code(), Code::Ok, "{status:?}");
    until(&lab.sim, "the cut watch is closed", |c| c.open_watches == 0).await;
    assert_eq!(lab.sim.grpc_counters().resets, 1);
    assert_eq!(lab.sim.grpc_fault(), None);

    let mut again = lab.client().await;
    let mut watch = again.watch(all(false)).await.expect("a new watch");
    lab.set("169.254.0.1", "Idle");
    assert_eq!(next(&mut watch, 1).await, ["state vrf1/169.254.0.1 Idle"]);
}

#[tokio::test]
async fn silence_holds_events_back_and_hangs_calls_until_cleared() {
    let lab = Lab::start(Listen::Unix, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(false)).await.expect("a watch");
    until(&lab.sim, "one open watch", |c| c.open_watches == 1).await;

    lab.sim.set_grpc_fault(GrpcFault::Silence);
    lab.set("169.254.0.1", "Idle");
    assert_eq!(
        lab.polled_state("169.254.0.1").await.as_deref(),
        Some("Idle")
    );
    let mut probe = lab.client().await;
    let mut held = tokio::spawn(async move { probe.peer_state(key("169.254.0.1")).await });
    until(&lab.sim, "the probe arrives", |c| c.calls.peer_state == 1).await;
    assert!(
        timeout(Duration::from_millis(300), &mut held)
            .await
            .is_err(),
        "peer_state answered while the side was silent"
    );

    lab.sim.clear_grpc_fault();
    let answer = timeout(BOUND, held).await.expect("answered once cleared");
    assert_eq!(answer.unwrap().unwrap(), BgpPeerState::Idle);
    lab.set("169.254.0.1", "Established");
    // The change made while silent never reaches the watch: the next event is the later one.
    assert_eq!(
        next(&mut watch, 1).await,
        ["state vrf1/169.254.0.1 Established"]
    );
}

#[tokio::test]
async fn unavailable_ends_open_watches_and_refuses_calls_until_cleared() {
    let lab = Lab::start(Listen::Tcp, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(true)).await.expect("a watch");
    assert_eq!(next(&mut watch, 1).await, ["ack"]);

    lab.sim.set_grpc_fault(GrpcFault::Unavailable);
    assert_eq!(ending(&mut watch).await.code(), Code::Unavailable);
    let refused = client.watch(all(true)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);
    let refused = client.peer_state(key("169.254.0.1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);
    let refused = client.exists(key("169.254.0.1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);

    lab.sim.clear_grpc_fault();
    assert!(client.exists(key("169.254.0.1")).await.unwrap());
    let mut watch = client.watch(all(true)).await.expect("a watch once cleared");
    assert_eq!(next(&mut watch, 1).await, ["ack"]);
}

#[tokio::test]
async fn unimplemented_is_every_call_as_on_a_release_without_the_service() {
    let lab = Lab::start(Listen::Unix, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(true)).await.expect("a watch");
    assert_eq!(next(&mut watch, 1).await, ["ack"]);

    lab.sim.set_grpc_fault(GrpcFault::Unimplemented);
    assert_eq!(ending(&mut watch).await.code(), Code::Unimplemented);
    let refused = client.watch(all(true)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);
    let refused = client.peer_state(key("169.254.0.1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);
    let refused = client.exists(key("169.254.0.1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);

    lab.sim.clear_grpc_fault();
    assert_eq!(
        client.peer_state(key("169.254.0.1")).await.unwrap(),
        BgpPeerState::Established
    );
}

#[tokio::test]
async fn delayed_events_come_after_the_poll_has_seen_the_change() {
    let delay = Duration::from_millis(400);
    let lab = Lab::start(Listen::Tcp, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client.watch(all(false)).await.expect("a watch");
    until(&lab.sim, "one open watch", |c| c.open_watches == 1).await;

    lab.sim.set_grpc_fault(GrpcFault::DelayEvents {
        ms: delay.as_millis() as u64,
    });
    let changed = Instant::now();
    lab.set("169.254.0.1", "Idle");
    lab.set("169.254.0.1", "Active");
    assert_eq!(
        lab.polled_state("169.254.0.1").await.as_deref(),
        Some("Active")
    );
    assert_eq!(
        next(&mut watch, 2).await,
        [
            "state vrf1/169.254.0.1 Idle",
            "state vrf1/169.254.0.1 Active"
        ]
    );
    assert!(
        changed.elapsed() >= delay,
        "the stream said it {:?} after the change, sooner than the {delay:?} delay",
        changed.elapsed()
    );
}

/// A minimal HTTP/1.1 client for the control API: status code and JSON body (`null` if none).
async fn control(addr: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .filter(|body| !body.is_empty())
        .map_or(Value::Null, |body| serde_json::from_str(body).unwrap());
    (status, body)
}

#[tokio::test]
async fn binary_serves_grpc_on_both_transports_driven_by_its_control_api() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("command-api.sock");
    let grpc_socket = dir.path().join("eossdkrpc.sock");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eapi-sim"))
        .arg("--socket")
        .arg(&socket)
        .arg("--grpc-unix")
        .arg(&grpc_socket)
        .args(["--grpc-tcp", "127.0.0.1:0", "--demo-users", "2"])
        .args(["--grpc-no-initial-snapshot", "--grpc-ack", "never"])
        .args(["--grpc-interfaces", "legacy"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("eapi-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let ready: Value = serde_json::from_str(&line).expect("a JSON line on stdout");
    let control_addr = ready["control"].as_str().unwrap().to_owned();
    let unix = ready["grpc"]["unix"].as_str().unwrap().to_owned();
    assert_eq!(unix, format!("unix://{}", grpc_socket.display()));
    let tcp = ready["grpc"]["tcp"].as_str().unwrap().to_owned();

    let mut over_unix = BgpClient::connect(&unix).await;
    let mut over_tcp = BgpClient::connect(&tcp).await;
    let mut unix_watch = over_unix.watch(all(true)).await.expect("a watch");
    let mut tcp_watch = over_tcp
        .watch(one(key("169.254.0.3")))
        .await
        .expect("a watch");
    let (_, state) = control(&control_addr, "GET", "/grpc/state", Value::Null).await;
    assert_eq!(state["counters"]["calls"]["watch"], 2);
    assert_eq!(
        state["behaviour"],
        json!({"initial_snapshot": false, "ack": "never", "interfaces": "legacy"})
    );
    let mut intf_watch = over_unix
        .watch_intfs::<LegacyInterfaceEvent>()
        .await
        .expect("an interface watch");
    let tunnel = json!({"name": "Tunnel9", "vrf": "vrf1", "address": "169.254.0.8/31"});
    assert_eq!(
        control(&control_addr, "POST", "/tunnels", tunnel).await.0,
        204
    );
    let created = timeout(BOUND, intf_watch.message()).await.unwrap().unwrap();
    let created = created.expect("an interface event");
    assert_eq!(
        (created.intf_id.map(|id| id.id), created.intf_event),
        (Some(9), Some(LegacyIntfEvent::Event(0)))
    );

    let down = json!({"vrf": "vrf1", "address": "169.254.0.3", "state": "Idle"});
    assert_eq!(control(&control_addr, "POST", "/peers", down).await.0, 204);
    assert_eq!(
        next(&mut unix_watch, 1).await,
        ["state vrf1/169.254.0.3 Idle"]
    );
    assert_eq!(
        next(&mut tcp_watch, 1).await,
        ["state vrf1/169.254.0.3 Idle"]
    );
    let removed = json!({"vrf": "vrf1", "address": "169.254.0.1"});
    let (status, _) = control(&control_addr, "POST", "/peers/remove", removed).await;
    assert_eq!(status, 204);
    assert_eq!(next(&mut unix_watch, 1).await, ["del vrf1/169.254.0.1"]);

    let fault = json!({"kind": "unavailable"});
    assert_eq!(
        control(&control_addr, "POST", "/grpc/fault", fault).await.0,
        204
    );
    assert_eq!(ending(&mut unix_watch).await.code(), Code::Unavailable);
    assert_eq!(ending(&mut tcp_watch).await.code(), Code::Unavailable);
    let (_, state) = control(&control_addr, "GET", "/grpc/state", Value::Null).await;
    assert_eq!(state["fault"], json!({"kind": "unavailable"}));
    assert_eq!(state["counters"]["events_sent"], 3);
    let (status, _) = control(&control_addr, "DELETE", "/grpc/fault", Value::Null).await;
    assert_eq!(status, 204);

    let behaviour = json!({"ack": "before_snapshot"});
    let (status, _) = control(&control_addr, "POST", "/grpc/behaviour", behaviour).await;
    assert_eq!(status, 204);
    let mut watch = over_tcp
        .watch(all(true))
        .await
        .expect("a watch once cleared");
    assert_eq!(
        next(&mut watch, 3).await,
        ["ack", "set vrf1/169.254.0.3", "state vrf1/169.254.0.3 Idle"]
    );

    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// An interface event as the tests compare them: `created Tunnel500`, `deleted …`, `up …`,
/// `down …`.
fn describe_intf(response: &WatchIntfResponse) -> String {
    let name = &response
        .intf_id
        .as_ref()
        .expect("events name the interface")
        .name;
    match response.intf_event {
        Some(IntfEvent::Event(event)) => match IntfEvents::try_from(event) {
            Ok(IntfEvents::Created) => format!("created {name}"),
            Ok(IntfEvents::Deleted) => format!("deleted {name}"),
            other => format!("event {other:?} {name}"),
        },
        Some(IntfEvent::Status(status)) => match OperStatuses::try_from(status) {
            Ok(OperStatuses::Up) => format!("up {name}"),
            Ok(OperStatuses::Down) => format!("down {name}"),
            other => format!("status {other:?} {name}"),
        },
        ref other => format!("{other:?} {name}"),
    }
}

async fn next_intf(stream: &mut Streaming<WatchIntfResponse>, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let message = timeout(BOUND, stream.message())
            .await
            .unwrap_or_else(|_| panic!("no interface event within {BOUND:?}; had {seen:?}"))
            .unwrap_or_else(|status| panic!("the watch failed: {status:?}; had {seen:?}"))
            .unwrap_or_else(|| panic!("the watch ended; had {seen:?}"));
        seen.push(describe_intf(&message));
    }
    seen
}

fn tunnel(name: &str, address: &str, up: bool) -> Tunnel {
    Tunnel {
        name: name.into(),
        vrf: VRF.into(),
        address: address.into(),
        up,
    }
}

impl Lab {
    /// A tunnel's line protocol as eAPI's `show ip interface` shows it.
    async fn polled_line_protocol(&self, name: &str) -> Option<String> {
        let client = Client::new(self.sim.socket_path()).with_timeout(BOUND);
        let reply = client
            .run(&[Command::new("show ip interface")])
            .await
            .expect("the interfaces");
        reply[0]["interfaces"][name]["lineProtocolStatus"]
            .as_str()
            .map(str::to_owned)
    }
}

/// An interface watch sees tunnels created, going down and up, and deleted, in order, whether
/// set on their own or carried by a session, while eAPI shows the same.
#[tokio::test]
async fn an_interface_watch_sees_tunnels_come_change_and_go_as_eapi_shows_them() {
    let lab = Lab::start(Listen::Unix, |config| config.grpc_initial_snapshot = false).await;
    let mut client = lab.client().await;
    let mut watch = client
        .watch_intfs::<WatchIntfResponse>()
        .await
        .expect("a watch");
    until(&lab.sim, "one open interface watch", |c| {
        c.open_intf_watches == 1
    })
    .await;

    lab.sim
        .set_tunnel(tunnel("Tunnel500", "169.254.0.0/31", true))
        .unwrap();
    assert_eq!(
        next_intf(&mut watch, 2).await,
        ["created Tunnel500", "up Tunnel500"]
    );
    lab.sim
        .set_tunnel(tunnel("Tunnel500", "169.254.0.0/31", false))
        .unwrap();
    assert_eq!(next_intf(&mut watch, 1).await, ["down Tunnel500"]);
    assert_eq!(
        lab.polled_line_protocol("Tunnel500").await.as_deref(),
        Some("down")
    );
    // The same status again is no event; the next one is the session's tunnel.
    lab.sim
        .set_tunnel(tunnel("Tunnel500", "169.254.0.0/31", false))
        .unwrap();
    let mut carried = Peer::new(VRF, "169.254.0.3", "Established");
    carried.tunnel = Some("Tunnel501".into());
    lab.sim.set_peer(carried).unwrap();
    assert_eq!(
        next_intf(&mut watch, 2).await,
        ["created Tunnel501", "up Tunnel501"]
    );
    assert!(lab.sim.remove_tunnel("Tunnel500"));
    assert!(lab.sim.remove_peer(VRF, "169.254.0.3"));
    assert_eq!(
        next_intf(&mut watch, 2).await,
        ["deleted Tunnel500", "deleted Tunnel501"]
    );
    assert_eq!(lab.polled_line_protocol("Tunnel500").await, None);
    let counters = lab.sim.grpc_counters();
    assert_eq!(
        (counters.intf_events_sent, counters.calls.intf_watch),
        (7, 1)
    );
}

/// With the snapshot reading on, a new interface watch first gets every tunnel's status.
#[tokio::test]
async fn an_interface_watch_starts_with_each_tunnels_status_under_the_snapshot_reading() {
    let lab = Lab::start(Listen::Tcp, |config| {
        config.tunnels = vec![
            tunnel("Tunnel500", "169.254.0.0/31", true),
            tunnel("Tunnel502", "169.254.0.4/31", false),
        ]
    })
    .await;
    let mut watch = lab
        .client()
        .await
        .watch_intfs::<WatchIntfResponse>()
        .await
        .expect("a watch");
    assert_eq!(
        next_intf(&mut watch, 2).await,
        ["up Tunnel500", "down Tunnel502"]
    );
}

/// A switch serving the older `InterfaceEvent` sends what the current shape cannot decode: a
/// client expecting the current shape fails the stream; one expecting the old reads the tunnel
/// by number.
#[tokio::test]
async fn the_older_interface_shape_is_served_when_asked_and_numbers_the_tunnel() {
    let lab = Lab::start(Listen::Unix, |config| {
        config.grpc_initial_snapshot = false;
        config.grpc_interfaces = IntfServing::Legacy;
    })
    .await;
    let mut client = lab.client().await;
    let mut current = client
        .watch_intfs::<WatchIntfResponse>()
        .await
        .expect("a watch");
    let mut legacy = client
        .watch_intfs::<LegacyInterfaceEvent>()
        .await
        .expect("a watch");
    until(&lab.sim, "two open interface watches", |c| {
        c.open_intf_watches == 2
    })
    .await;
    lab.sim
        .set_tunnel(tunnel("Tunnel7", "169.254.0.6/31", false))
        .unwrap();
    let failed = timeout(BOUND, current.message())
        .await
        .expect("an answer")
        .unwrap_err();
    assert_eq!(failed.code(), Code::Internal, "{failed:?}");
    let created = timeout(BOUND, legacy.message()).await.unwrap().unwrap();
    let created = created.expect("an event");
    assert_eq!(created.intf_id.map(|id| id.id), Some(7));
    assert_eq!(created.intf_event, Some(LegacyIntfEvent::Event(0)));
    let status = timeout(BOUND, legacy.message()).await.unwrap().unwrap();
    match status.expect("an event").intf_event {
        Some(LegacyIntfEvent::Status(status)) => {
            assert_eq!(status.status, OperStatuses::Down as i32)
        }
        other => panic!("expected a status, got {other:?}"),
    }
}

/// A release without the interface service refuses its watch and still serves BGP; the
/// transport-wide faults end interface watches too.
#[tokio::test]
async fn interface_watches_are_refused_or_ended_as_the_readings_and_faults_say() {
    let lab = Lab::start(Listen::Tcp, |config| {
        config.grpc_initial_snapshot = false;
        config.grpc_interfaces = IntfServing::Unimplemented;
    })
    .await;
    let mut client = lab.client().await;
    let refused = client.watch_intfs::<WatchIntfResponse>().await.unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);
    assert!(refused.message().contains("IntfMgrService"), "{refused:?}");
    let mut bgp = client.watch(all(true)).await.expect("BGP is still served");
    assert_eq!(next(&mut bgp, 1).await, ["ack"]);

    lab.sim.set_grpc_behaviour(GrpcBehaviour {
        initial_snapshot: false,
        ..GrpcBehaviour::default()
    });
    for (fault, code) in [
        (GrpcFault::Unavailable, Code::Unavailable),
        (GrpcFault::Unimplemented, Code::Unimplemented),
    ] {
        let mut watch = client
            .watch_intfs::<WatchIntfResponse>()
            .await
            .expect("a watch");
        until(&lab.sim, "one open interface watch", |c| {
            c.open_intf_watches == 1
        })
        .await;
        lab.sim.set_grpc_fault(fault);
        let ended = timeout(BOUND, watch.message()).await.unwrap().unwrap_err();
        assert_eq!(ended.code(), code, "{ended:?}");
        lab.sim.clear_grpc_fault();
        drop(watch);
        until(&lab.sim, "the ended watch is closed", |c| {
            c.open_intf_watches == 0
        })
        .await;
    }
}

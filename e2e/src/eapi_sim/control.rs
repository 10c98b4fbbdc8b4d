//! The control API: HTTP/JSON on loopback TCP, for driving a simulator that runs as its own
//! process (the README demo, end-to-end scenarios). Each route maps to one [`super::EapiSim`]
//! method; bodies are the same serde types.
//!
//! | route | body | effect |
//! |---|---|---|
//! | `GET /state` | | peers, tunnels, daemons, BGP, fault |
//! | `GET /requests` | | command texts of every `runCmds` so far |
//! | `POST /peers` | `Peer` | add or replace a session |
//! | `POST /peers/remove` | `{"vrf", "address"}` | remove a session (404 if absent) |
//! | `POST /tunnels` | `Tunnel` | add or replace an explicit tunnel |
//! | `POST /tunnels/remove` | `{"name"}` | remove an explicit tunnel (404 if absent) |
//! | `POST /daemons` | `Daemon` | add or replace a `daemon` block |
//! | `POST /bgp` | `{"enabled"}` | configure or remove `router bgp` |
//! | `POST /eos` | `{"starts_privileged", "section_json"}` | choose the reading of unestablished EOS facts |
//! | `POST /fault` | `Fault` | inject a failure |
//! | `DELETE /fault` | | clear it |
//! | `GET /grpc/state` | | EosSdkRpc addresses, fault, behaviour, counters |
//! | `POST /grpc/fault` | `GrpcFault` | inject a gRPC-side failure |
//! | `DELETE /grpc/fault` | | clear it |
//! | `POST /grpc/behaviour` | `{"initial_snapshot", "ack"}` | choose the reading of the unestablished watch behaviour |
//!
//! Success is `204 No Content`; a refused change is `400` with `{"error": "..."}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::{Daemon, Fault, GrpcBehaviour, GrpcFault, Peer, SectionJson, Sim, SimError, Tunnel};

type Shared = State<Arc<Sim>>;

/// Binds `addr` (port 0 picks one) and serves until the returned task is aborted.
pub(crate) async fn serve(
    addr: SocketAddr,
    sim: Arc<Sim>,
) -> Result<(SocketAddr, JoinHandle<()>), SimError> {
    let control_error = |source| SimError::Control { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(control_error)?;
    let bound = listener.local_addr().map_err(control_error)?;
    let app = Router::new()
        .route("/state", get(state))
        .route("/requests", get(requests))
        .route("/peers", post(set_peer))
        .route("/peers/remove", post(remove_peer))
        .route("/tunnels", post(set_tunnel))
        .route("/tunnels/remove", post(remove_tunnel))
        .route("/daemons", post(set_daemon))
        .route("/bgp", post(set_bgp))
        .route("/eos", post(set_eos))
        .route("/fault", post(set_fault).delete(clear_fault))
        .route("/grpc/state", get(grpc_state))
        .route("/grpc/fault", post(set_grpc_fault).delete(clear_grpc_fault))
        .route("/grpc/behaviour", post(set_grpc_behaviour))
        .with_state(sim);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, task))
}

#[derive(Deserialize)]
struct PeerRef {
    #[serde(default = "default_vrf")]
    vrf: String,
    address: String,
}

fn default_vrf() -> String {
    "default".into()
}

#[derive(Deserialize)]
struct TunnelRef {
    name: String,
}

#[derive(Deserialize)]
struct Bgp {
    enabled: bool,
}

async fn state(State(sim): Shared) -> Json<Value> {
    Json(sim.snapshot())
}

async fn requests(State(sim): Shared) -> Json<Vec<Vec<String>>> {
    Json(sim.state.requests.lock().expect("requests lock").clone())
}

async fn set_peer(State(sim): Shared, Json(peer): Json<Peer>) -> Response {
    done(sim.set_peer(peer))
}

async fn remove_peer(State(sim): Shared, Json(peer): Json<PeerRef>) -> Response {
    found(sim.remove_peer(&peer.vrf, &peer.address))
}

async fn set_tunnel(State(sim): Shared, Json(tunnel): Json<Tunnel>) -> Response {
    done(sim.set_tunnel(tunnel))
}

async fn remove_tunnel(State(sim): Shared, Json(tunnel): Json<TunnelRef>) -> Response {
    found(sim.remove_tunnel(&tunnel.name))
}

async fn set_daemon(State(sim): Shared, Json(daemon): Json<Daemon>) -> Response {
    sim.switch().set_daemon(daemon);
    StatusCode::NO_CONTENT.into_response()
}

async fn set_bgp(State(sim): Shared, Json(bgp): Json<Bgp>) -> Response {
    sim.switch().bgp = bgp.enabled;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Eos {
    #[serde(default)]
    starts_privileged: bool,
    #[serde(default)]
    section_json: SectionJson,
}

async fn set_eos(State(sim): Shared, Json(eos): Json<Eos>) -> Response {
    let mut switch = sim.switch();
    switch.starts_privileged = eos.starts_privileged;
    switch.section_json = eos.section_json;
    StatusCode::NO_CONTENT.into_response()
}

async fn set_fault(State(sim): Shared, Json(fault): Json<Fault>) -> Response {
    done(sim.set_fault(fault))
}

async fn clear_fault(State(sim): Shared) -> Response {
    done(sim.clear_fault())
}

async fn grpc_state(State(sim): Shared) -> Json<Value> {
    Json(sim.grpc_snapshot())
}

async fn set_grpc_fault(State(sim): Shared, Json(fault): Json<GrpcFault>) -> Response {
    sim.grpc.set_fault(Some(fault));
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_grpc_fault(State(sim): Shared) -> Response {
    sim.grpc.set_fault(None);
    StatusCode::NO_CONTENT.into_response()
}

async fn set_grpc_behaviour(State(sim): Shared, Json(behaviour): Json<GrpcBehaviour>) -> Response {
    sim.grpc.set_behaviour(behaviour);
    StatusCode::NO_CONTENT.into_response()
}

fn done(result: Result<(), SimError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": err.to_string() })),
        )
            .into_response(),
    }
}

fn found(removed: bool) -> Response {
    if removed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such entry" })),
        )
            .into_response()
    }
}

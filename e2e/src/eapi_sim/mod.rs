//! `eapi-sim`: an Arista switch as the agent sees it — the eAPI unix socket (eos.md §1) answering
//! the BGP, interface, running-config and version commands from a state that tests change at
//! run time, plus injected failures.
//!
//! The rooms: `switch` holds the state and renders the JSON models; `commands` parses CLI text;
//! `server` speaks HTTP and JSON-RPC on the socket; `fault` lists the failures; `grpc` is the
//! EosSdkRpc side (`BgpMgrService` over gRPC), reading the same state; `control` is the
//! HTTP/JSON API that drives a simulator running as a separate process. In-process tests call
//! the methods of [`EapiSim`] directly.
//!
//! Fidelity rule: every reply is shaped like the recorded samples in `tests/fixtures/eos`; the
//! agent must never need to know it is talking to this.

mod commands;
mod control;
mod fault;
mod grpc;
mod server;
mod switch;

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

pub use commands::Replay;
pub use fault::Fault;
pub use grpc::proto;
pub use grpc::{GrpcBehaviour, GrpcCalls, GrpcCounters, GrpcFault, IntfServing, WatchAck};
pub use server::{Connections, KEEP_ALIVE_IDLE};
pub use switch::{CommandCost, Daemon, Peer, SectionJson, Tunnel};

use grpc::{EosSdkRpc, Listeners};
use server::State;
use switch::Switch;

/// Everything that can go wrong starting or driving the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on eAPI socket {path}: {source}; is another simulator using it?")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen for EosSdkRpc on {addr}: {source}; is another simulator using it?")]
    GrpcBind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the control API on {addr}: {source}")]
    Control {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("cannot change the socket file {path} for the fault: {source}")]
    Fault {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A peer, tunnel or fault description that no switch could have.
    #[error("{0}")]
    Invalid(String),
}

/// How to start a simulator. [`SimConfig::new`] gives a BGP switch with no peers.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to bind the eAPI socket; an existing file there is replaced.
    pub socket_path: PathBuf,
    /// Where the control API listens; `None` for none (in-process tests call methods instead).
    pub control: Option<SocketAddr>,
    /// `router bgp` configured; without it BGP commands fail with 1000 "BGP inactive".
    pub bgp: bool,
    /// The local AS, as text.
    pub asn: String,
    pub router_id: Ipv4Addr,
    pub peers: Vec<Peer>,
    pub tunnels: Vec<Tunnel>,
    pub daemons: Vec<Daemon>,
    /// Recorded summaries served instead of the simulated ones.
    pub replay: Replay,
    /// Requests start in privileged mode (no `enable` needed); off by default, as the unkind
    /// reading of an unestablished fact.
    pub starts_privileged: bool,
    /// How `show running-config section …` answers.
    pub section_json: SectionJson,
    /// What the server does with a connection after a reply [U].
    pub connections: Connections,
    /// Where EosSdkRpc listens on a unix socket (`localhost unix file:…`); an existing file
    /// there is replaced.
    pub grpc_unix: Option<PathBuf>,
    /// Where EosSdkRpc listens on TCP (`127.0.0.1:9543` on a switch; port 0 picks one).
    pub grpc_tcp: Option<SocketAddr>,
    /// A new watch starts with `on_peer_set` + `on_peer_state` for each existing peer [U].
    pub grpc_initial_snapshot: bool,
    /// Where a watch asked with `ack = true` gets its ack [U].
    pub grpc_ack: WatchAck,
    /// Which interface service the transport serves, if any [U].
    pub grpc_interfaces: IntfServing,
}

impl SimConfig {
    pub fn new(socket_path: impl Into<PathBuf>) -> Self {
        SimConfig {
            socket_path: socket_path.into(),
            control: None,
            bgp: true,
            asn: "65000".into(),
            router_id: Ipv4Addr::new(192, 0, 2, 1),
            peers: Vec::new(),
            tunnels: Vec::new(),
            daemons: Vec::new(),
            replay: Replay::default(),
            starts_privileged: false,
            section_json: SectionJson::default(),
            connections: Connections::default(),
            grpc_unix: None,
            grpc_tcp: None,
            grpc_initial_snapshot: true,
            grpc_ack: WatchAck::default(),
            grpc_interfaces: IntfServing::default(),
        }
    }
}

/// A running simulator. Dropping it stops serving and removes the socket file.
#[derive(Debug)]
pub struct EapiSim {
    sim: Arc<Sim>,
    control: Option<(SocketAddr, JoinHandle<()>)>,
}

impl EapiSim {
    /// Binds the socket (and the control API, if asked) and starts serving on the current
    /// tokio runtime.
    pub async fn start(config: SimConfig) -> Result<EapiSim, SimError> {
        let mut switch = Switch::new(config.asn, config.router_id, now());
        switch.bgp = config.bgp;
        switch.starts_privileged = config.starts_privileged;
        switch.section_json = config.section_json;
        for peer in config.peers {
            switch.set_peer(peer, now())?;
        }
        for tunnel in config.tunnels {
            switch.set_tunnel(tunnel)?;
        }
        for daemon in config.daemons {
            switch.set_daemon(daemon);
        }
        let state = Arc::new(State {
            switch: Mutex::new(switch),
            replay: config.replay,
            fault: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            connections: Mutex::new(config.connections),
            accepted: Default::default(),
        });
        let grpc = Arc::new(EosSdkRpc::new(
            state.clone(),
            GrpcBehaviour {
                initial_snapshot: config.grpc_initial_snapshot,
                ack: config.grpc_ack,
                interfaces: config.grpc_interfaces,
            },
        ));
        let grpc_listeners =
            Listeners::bind(config.grpc_unix.as_deref(), config.grpc_tcp, &grpc).await?;
        let sim = Arc::new(Sim {
            path: config.socket_path,
            state,
            listener: Mutex::new(None),
            saved_mode: Mutex::new(None),
            grpc,
            grpc_listeners,
        });
        sim.listen()?;
        let control = match config.control {
            Some(addr) => Some(control::serve(addr, sim.clone()).await?),
            None => None,
        };
        Ok(EapiSim { sim, control })
    }

    /// The eAPI socket's path.
    pub fn socket_path(&self) -> &Path {
        &self.sim.path
    }

    /// The control API's bound address, when one was asked for.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control.as_ref().map(|(addr, _)| *addr)
    }

    /// Adds or replaces the session keyed by `(peer.vrf, peer.address)`.
    pub fn set_peer(&self, peer: Peer) -> Result<(), SimError> {
        self.sim.set_peer(peer)
    }

    /// Removes a session (and the tunnel it carried); false if there was none.
    pub fn remove_peer(&self, vrf: &str, address: &str) -> bool {
        self.sim.remove_peer(vrf, address)
    }

    /// The sessions, in (vrf, address) order.
    pub fn peers(&self) -> Vec<Peer> {
        self.sim.switch().peers().cloned().collect()
    }

    /// Adds or replaces a tunnel that stays until [`EapiSim::remove_tunnel`], overriding a
    /// peer's tunnel of the same name.
    pub fn set_tunnel(&self, tunnel: Tunnel) -> Result<(), SimError> {
        self.sim.set_tunnel(tunnel)
    }

    /// Removes an explicit tunnel; false if there was none.
    pub fn remove_tunnel(&self, name: &str) -> bool {
        self.sim.remove_tunnel(name)
    }

    /// Adds or replaces a `daemon NAME` block of the running-config.
    pub fn set_daemon(&self, daemon: Daemon) {
        self.sim.switch().set_daemon(daemon);
    }

    /// Configures or removes `router bgp`.
    pub fn set_bgp(&self, enabled: bool) {
        self.sim.switch().bgp = enabled;
    }

    /// Sets what answering costs the switch (replies are held back that long).
    pub fn set_command_cost(&self, cost: CommandCost) {
        self.sim.switch().command_cost = cost;
    }

    /// Chooses the reading of the unestablished EOS facts: whether requests start privileged,
    /// and how `section` answers in JSON.
    pub fn set_eos_behaviour(&self, starts_privileged: bool, section_json: SectionJson) {
        let mut switch = self.sim.switch();
        switch.starts_privileged = starts_privileged;
        switch.section_json = section_json;
    }

    /// What the server does with connections from now on (those open keep theirs until their
    /// next request).
    pub fn set_connections(&self, connections: Connections) {
        *self.sim.state.connections.lock().expect("connections lock") = connections;
    }

    /// How many connections the socket has accepted.
    pub fn connections_accepted(&self) -> usize {
        self.sim
            .state
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Injects `fault` until cleared, replacing (and undoing) any earlier one.
    pub fn set_fault(&self, fault: Fault) -> Result<(), SimError> {
        self.sim.set_fault(fault)
    }

    /// Undoes the current fault: a removed socket is bound again, a mode restored.
    pub fn clear_fault(&self) -> Result<(), SimError> {
        self.sim.clear_fault()
    }

    /// Where EosSdkRpc listens, as the agent's `--eos-sdk-rpc-addr` takes it: `unix:///path`
    /// when a unix socket is bound (even if TCP is too), else `127.0.0.1:PORT`.
    pub fn grpc_addr(&self) -> Option<String> {
        self.sim.grpc_listeners.addr()
    }

    /// The bound unix socket of EosSdkRpc.
    pub fn grpc_unix_path(&self) -> Option<&Path> {
        self.sim.grpc_listeners.unix.as_deref()
    }

    /// The bound TCP address of EosSdkRpc.
    pub fn grpc_tcp_addr(&self) -> Option<SocketAddr> {
        self.sim.grpc_listeners.tcp
    }

    /// Injects a gRPC-side fault until cleared, replacing any earlier one.
    pub fn set_grpc_fault(&self, fault: GrpcFault) {
        self.sim.grpc.set_fault(Some(fault));
    }

    /// Clears the gRPC-side fault: held calls proceed, new calls are served.
    pub fn clear_grpc_fault(&self) {
        self.sim.grpc.set_fault(None);
    }

    /// The gRPC-side fault in force.
    pub fn grpc_fault(&self) -> Option<GrpcFault> {
        self.sim.grpc.fault()
    }

    /// Chooses the reading of the unestablished watch behaviour, for watches opened from now.
    pub fn set_grpc_behaviour(&self, behaviour: GrpcBehaviour) {
        self.sim.grpc.set_behaviour(behaviour);
    }

    /// What the gRPC side has done so far.
    pub fn grpc_counters(&self) -> GrpcCounters {
        self.sim.grpc.counters()
    }

    /// The command texts of every `runCmds` request so far, one list per request.
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.sim
            .state
            .requests
            .lock()
            .expect("requests lock")
            .clone()
    }
}

impl Drop for EapiSim {
    fn drop(&mut self) {
        if let Some((_, task)) = &self.control {
            task.abort();
        }
        self.sim.stop_listening();
        let _ = std::fs::remove_file(&self.sim.path);
        self.sim.grpc_listeners.close();
        self.sim.grpc.close();
    }
}

/// The part shared with the control API's handlers.
#[derive(Debug)]
pub(crate) struct Sim {
    path: PathBuf,
    state: Arc<State>,
    listener: Mutex<Option<JoinHandle<()>>>,
    /// The socket's mode before `PermissionDenied`, to put back.
    saved_mode: Mutex<Option<u32>>,
    grpc: Arc<EosSdkRpc>,
    grpc_listeners: Listeners,
}

impl Sim {
    fn switch(&self) -> std::sync::MutexGuard<'_, Switch> {
        self.state.switch.lock().expect("switch lock")
    }

    /// Changes a session and tells the watches, under one lock so both sides agree.
    fn set_peer(&self, peer: Peer) -> Result<(), SimError> {
        self.change(|switch| {
            let replaced = switch.set_peer(peer.clone(), now())?;
            self.grpc.peer_changed(replaced.as_ref(), Some(&peer));
            Ok(())
        })
    }

    fn remove_peer(&self, vrf: &str, address: &str) -> bool {
        self.change(|switch| {
            let removed = switch.remove_peer(vrf, address);
            self.grpc.peer_changed(removed.as_ref(), None);
            removed.is_some()
        })
    }

    fn set_tunnel(&self, tunnel: Tunnel) -> Result<(), SimError> {
        self.change(|switch| switch.set_tunnel(tunnel))
    }

    fn remove_tunnel(&self, name: &str) -> bool {
        self.change(|switch| switch.remove_tunnel(name))
    }

    /// Runs `change` on the switch and tells the interface watches what it did to the tunnels,
    /// under one lock.
    fn change<T>(&self, change: impl FnOnce(&mut Switch) -> T) -> T {
        let mut switch = self.switch();
        let before = switch.tunnel_states();
        let result = change(&mut switch);
        self.grpc.tunnels_changed(&before, &switch.tunnel_states());
        result
    }

    /// Binds the socket, replacing a stale file, and starts accepting.
    fn listen(&self) -> Result<(), SimError> {
        let bind_error = |source| SimError::Bind {
            path: self.path.clone(),
            source,
        };
        match std::fs::remove_file(&self.path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(bind_error(err)),
            _ => {}
        }
        let listener = UnixListener::bind(&self.path).map_err(bind_error)?;
        let task = tokio::spawn(server::accept(listener, self.state.clone()));
        if let Some(old) = self.listener.lock().expect("listener lock").replace(task) {
            old.abort();
        }
        Ok(())
    }

    fn stop_listening(&self) {
        if let Some(task) = self.listener.lock().expect("listener lock").take() {
            task.abort();
        }
    }

    fn set_fault(&self, fault: Fault) -> Result<(), SimError> {
        self.clear_fault()?;
        let fs_error = |source| SimError::Fault {
            path: self.path.clone(),
            source,
        };
        match &fault {
            Fault::SocketGone => {
                self.stop_listening();
                std::fs::remove_file(&self.path).map_err(fs_error)?;
            }
            Fault::PermissionDenied => {
                let mode = std::fs::metadata(&self.path)
                    .map_err(fs_error)?
                    .permissions()
                    .mode();
                std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o000))
                    .map_err(fs_error)?;
                *self.saved_mode.lock().expect("mode lock") = Some(mode);
            }
            _ => {}
        }
        *self.state.fault.lock().expect("fault lock") = Some(fault);
        Ok(())
    }

    fn clear_fault(&self) -> Result<(), SimError> {
        let previous = self.state.fault.lock().expect("fault lock").take();
        match previous {
            Some(Fault::SocketGone) => self.listen()?,
            Some(Fault::PermissionDenied) => {
                if let Some(mode) = self.saved_mode.lock().expect("mode lock").take() {
                    std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(mode))
                        .map_err(|source| SimError::Fault {
                            path: self.path.clone(),
                            source,
                        })?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Everything the control API's `GET /state` shows.
    fn snapshot(&self) -> Value {
        let switch = self.switch();
        serde_json::json!({
            "socket": self.path,
            "bgp": switch.bgp,
            "starts_privileged": switch.starts_privileged,
            "section_json": switch.section_json,
            "asn": switch.asn,
            "router_id": switch.router_id,
            "peers": switch.peers().collect::<Vec<_>>(),
            "tunnels": switch.tunnels().collect::<Vec<_>>(),
            "daemons": switch.daemons().collect::<Vec<_>>(),
            "fault": *self.state.fault.lock().expect("fault lock"),
        })
    }

    /// Everything the control API's `GET /grpc/state` shows.
    fn grpc_snapshot(&self) -> Value {
        let listeners = &self.grpc_listeners;
        serde_json::json!({
            "unix": listeners.unix.as_ref().map(|path| format!("unix://{}", path.display())),
            "tcp": listeners.tcp,
            "fault": self.grpc.fault(),
            "behaviour": self.grpc.behaviour(),
            "counters": self.grpc.counters(),
        })
    }
}

/// Reads a recorded summary for `--replay`: a JSON-RPC reply (its first result is the IPv4
/// summary, a second one the IPv6 summary, re-serialized) or a bare result (served byte for
/// byte as the IPv4 summary).
pub fn load_replay(path: &Path) -> Result<Replay, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|err| SimError::Parse {
        path: path.to_owned(),
        detail: err.to_string(),
    })?;
    Ok(match value.get("result").and_then(Value::as_array) {
        Some(results) if value.get("jsonrpc").is_some() => Replay {
            ipv4: results.first().map(Value::to_string),
            ipv6: results.get(1).map(Value::to_string),
        },
        _ => Replay {
            ipv4: Some(text),
            ipv6: None,
        },
    })
}

/// Wall-clock epoch seconds: EOS reports `upDownTime` and `bootupTimestamp` that way.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

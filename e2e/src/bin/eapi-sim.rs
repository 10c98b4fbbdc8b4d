//! `eapi-sim`: runs the EOS eAPI simulator as a process, for the README demo and end-to-end
//! scenarios that start the shipped agent against it. It prints
//! `{"socket": "...", "control": "127.0.0.1:PORT", "grpc": {"unix": "unix:///...", "tcp":
//! "127.0.0.1:PORT"}}` on stdout once everything is listening (a gRPC transport not asked for
//! is `null`), then serves until SIGINT or SIGTERM. See `doublezero_bgpstatus_e2e::eapi_sim`
//! for the control API.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use doublezero_bgpstatus_e2e::eapi_sim::{
    self, Connections, Daemon, EapiSim, IntfServing, Peer, SectionJson, SimConfig, SimError,
    WatchAck,
};
use tokio::signal::unix::{signal, SignalKind};

/// A simulated Arista switch's eAPI unix socket, driven over an HTTP/JSON control API.
#[derive(Debug, Parser)]
#[command(name = "eapi-sim", version)]
struct Args {
    /// Where to bind the eAPI socket (the real one is /var/run/command-api.sock).
    #[arg(long)]
    socket: PathBuf,
    /// Where the control API listens; port 0 picks a free one (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Serve this recorded summary (a JSON-RPC reply or a bare result) for the summary commands.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// No `router bgp`: BGP commands fail with 1000 "BGP inactive".
    #[arg(long)]
    no_bgp: bool,
    /// Initial peers: a JSON list of {vrf, address, state, asn, rtt_us, tunnel, ...}.
    #[arg(long, value_name = "FILE", conflicts_with = "demo_users")]
    peers: Option<PathBuf>,
    /// N Established users: peer 169.254.0.(2k+1) in vrf1 over Tunnel(500+k) at
    /// 169.254.0.(2k)/31, for k in 0..N.
    #[arg(long, value_name = "N")]
    demo_users: Option<u32>,
    /// The `daemon` block that `--option` lines go into.
    #[arg(long, default_value = "doublezero-bgpstatus")]
    daemon: String,
    /// An `option KEY value VALUE` line of the daemon block (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Requests start in privileged mode (by default `show running-config` needs `enable`).
    #[arg(long)]
    starts_privileged: bool,
    /// How `show running-config section …` answers in JSON.
    #[arg(long, value_enum, default_value_t = SectionJson::Filtered)]
    section_json: SectionJson,
    /// What the eAPI socket does with a connection after a reply (keep-alive is not
    /// established on a real switch).
    #[arg(long, value_enum, default_value_t = Connections::Close)]
    connections: Connections,
    /// Serve EosSdkRpc (BgpMgrService over gRPC) on this unix socket.
    #[arg(long, value_name = "PATH")]
    grpc_unix: Option<PathBuf>,
    /// Serve EosSdkRpc on this TCP address; port 0 picks a free one (printed on stdout).
    #[arg(long, value_name = "ADDR")]
    grpc_tcp: Option<SocketAddr>,
    /// A new watch gets no snapshot of the existing peers, only later changes.
    #[arg(long)]
    grpc_no_initial_snapshot: bool,
    /// Where a watch asked with `ack = true` gets its ack.
    #[arg(long, value_enum, default_value_t = WatchAck::BeforeSnapshot)]
    grpc_ack: WatchAck,
    /// Which IntfMgrService the transport serves: the current shape, the older numeric one, or
    /// none.
    #[arg(long, value_enum, default_value_t = IntfServing::Current)]
    grpc_interfaces: IntfServing,
}

fn parse_option(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("eapi-sim: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = SimConfig::new(&args.socket);
    config.control = Some(args.control);
    config.bgp = !args.no_bgp;
    config.starts_privileged = args.starts_privileged;
    config.section_json = args.section_json;
    config.connections = args.connections;
    config.grpc_unix = args.grpc_unix;
    config.grpc_tcp = args.grpc_tcp;
    config.grpc_initial_snapshot = !args.grpc_no_initial_snapshot;
    config.grpc_ack = args.grpc_ack;
    config.grpc_interfaces = args.grpc_interfaces;
    if let Some(path) = &args.replay {
        config.replay = eapi_sim::load_replay(path)?;
    }
    if let Some(path) = &args.peers {
        config.peers = read_peers(path)?;
    }
    if let Some(users) = args.demo_users {
        config.peers = demo_users(users);
    }
    if !args.options.is_empty() {
        config.daemons.push(Daemon {
            name: args.daemon.clone(),
            exec: "/usr/bin/doublezero-bgpstatus".into(),
            options: args.options.into_iter().collect::<BTreeMap<_, _>>(),
            shutdown: false,
        });
    }
    let sim = EapiSim::start(config).await?;
    let ready = serde_json::json!({
        "socket": sim.socket_path(),
        "control": sim.control_addr().map(|addr| addr.to_string()),
        "grpc": {
            "unix": sim.grpc_unix_path().map(|path| format!("unix://{}", path.display())),
            "tcp": sim.grpc_tcp_addr().map(|addr| addr.to_string()),
        },
    });
    // The parent reads this line to learn the port; flush so it does not wait on a pipe buffer.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{ready}");
    let _ = stdout.flush();

    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    // Dropping the simulator removes the socket file.
    drop(sim);
    Ok(())
}

fn read_peers(path: &std::path::Path) -> Result<Vec<Peer>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|err| SimError::Parse {
        path: path.to_owned(),
        detail: err.to_string(),
    })
}

/// The demo's users, numbered as the ledger simulator numbers their tunnel nets.
fn demo_users(count: u32) -> Vec<Peer> {
    let base = u32::from(Ipv4Addr::new(169, 254, 0, 0));
    (0..count)
        .map(|k| Peer {
            tunnel: Some(format!("Tunnel{}", 500 + k)),
            ..Peer::new(
                "vrf1",
                &Ipv4Addr::from(base + 2 * k + 1).to_string(),
                "Established",
            )
        })
        .collect()
}

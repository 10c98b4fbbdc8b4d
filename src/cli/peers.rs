//! `doublezero-bgpstatus peers`: prints the switch's BGP sessions as the agent sees them, so an
//! operator can check the eAPI socket and the peer table before running the daemon. A session
//! whose peer is the far side of a tunnel's /31 shows that tunnel and its status, read in the
//! same eAPI request as the sessions.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::table::Columns;
use crate::bgp::{Asn, Peer};
use crate::eapi::{self, Client};
use crate::eos_sdk;
use crate::switch::{self, Summaries, SwitchState};
use crate::tunnel::Tunnel;

/// Arguments of `peers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The eAPI unix socket.
    #[arg(long, value_name = "PATH", default_value = eapi::DEFAULT_SOCKET)]
    pub eapi_socket: PathBuf,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also open a watch on this EosSdkRpc transport (as `run --eos-sdk-rpc-addr`) and say
    /// whether it answers and whether the states it sends agree with eAPI's.
    #[arg(long, value_name = "ADDR")]
    pub eos_sdk_rpc_addr: Option<eos_sdk::Addr>,
}

/// Reads the peer table and prints it to stdout.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let output = render(&args).await?;
    std::io::stdout().lock().write_all(output.as_bytes())?;
    Ok(())
}

/// Reads the peer table and renders it, table or JSON, as `run` prints it.
pub async fn render(args: &Args) -> anyhow::Result<String> {
    let client = Client::new(&args.eapi_socket);
    let state = switch::observe(&client, Summaries::Both).await?;
    if args.json {
        return Ok(render_json(&state));
    }
    let mut text = render_table(&state, SystemTime::now());
    text.push_str("source: eAPI (show ip bgp summary vrf all, show ipv6 bgp summary vrf all)\n");
    if let Some(addr) = &args.eos_sdk_rpc_addr {
        let connector = eos_sdk::Connector::direct(addr.clone());
        let probe = eos_sdk::probe(&connector, Duration::from_secs(1)).await;
        text.push_str(&stream_line(addr, &state, probe));
    }
    Ok(text)
}

/// What the stream said in its first second, against the eAPI table.
fn stream_line(
    addr: &eos_sdk::Addr,
    state: &SwitchState,
    probe: Result<eos_sdk::Probe, String>,
) -> String {
    let probe = match probe {
        Ok(probe) => probe,
        Err(error) => return format!("stream: {addr} UNAVAILABLE: {error}\n"),
    };
    let tunnels = match &probe.interfaces {
        Ok(()) => "tunnels watched".to_owned(),
        Err(why) => format!("tunnels not watched: {why}"),
    };
    if probe.states.is_empty() {
        return format!(
            "stream: {addr} answers (no current states sent on watch; events will follow changes); {tunnels}\n"
        );
    }
    let disagree = probe
        .states
        .iter()
        .filter(|(key, stream_state)| {
            state
                .peers
                .get(&key.vrf, &key.addr)
                .is_none_or(|peer| peer.is_established() != stream_state.is_established())
        })
        .count();
    format!(
        "stream: {addr} answers: {} sessions, {disagree} disagreeing with eAPI; {tunnels}\n",
        probe.states.len()
    )
}

/// The sessions sorted by VRF then peer address, as both outputs list them.
fn sorted(state: &SwitchState) -> Vec<&Peer> {
    let mut peers: Vec<&Peer> = state.peers.iter().collect();
    peers.sort_by(|a, b| (&a.vrf, &a.addr).cmp(&(&b.vrf, &b.addr)));
    peers
}

/// The tunnel a session runs over: the peer is the other address of a tunnel's /31, in the
/// tunnel's VRF when the interface model gives one.
fn tunnel_of<'a>(state: &'a SwitchState, peer: &Peer) -> Option<&'a Tunnel> {
    let std::net::IpAddr::V4(ip) = peer.addr.ip() else {
        return None;
    };
    let tunnel = state
        .tunnels
        .by_device_addr(std::net::Ipv4Addr::from(u32::from(ip) ^ 1))?;
    tunnel
        .vrf
        .as_deref()
        .is_none_or(|vrf| vrf == &*peer.vrf)
        .then_some(tunnel)
}

fn tunnel_status(tunnel: &Tunnel) -> &'static str {
    if tunnel.is_up() {
        "up"
    } else {
        "down"
    }
}

/// One JSON object per session, with a fixed set of keys for scripts.
pub fn render_json(state: &SwitchState) -> String {
    #[derive(Serialize)]
    struct Row<'a> {
        vrf: &'a str,
        peer: String,
        state: &'a str,
        established: bool,
        up_down_time: Option<f64>,
        asn: Option<&'a str>,
        tunnel: Option<&'a str>,
        tunnel_status: Option<&'static str>,
    }
    let rows: Vec<Row> = sorted(state)
        .into_iter()
        .map(|peer| (peer, tunnel_of(state, peer)))
        .map(|(peer, tunnel)| Row {
            vrf: &peer.vrf,
            peer: peer.addr.to_string(),
            state: peer.state.as_str(),
            established: peer.is_established(),
            up_down_time: peer.up_down_time.filter(|time| time.is_finite()),
            asn: peer.asn.as_ref().map(Asn::as_str),
            tunnel: tunnel.map(|t| &*t.name),
            tunnel_status: tunnel.map(tunnel_status),
        })
        .collect();
    // Strings, booleans and finite floats always serialize.
    let mut text = serde_json::to_string_pretty(&rows).unwrap_or_default();
    text.push('\n');
    text
}

/// An aligned table; `now` turns each last-change timestamp into an age.
pub fn render_table(state: &SwitchState, now: SystemTime) -> String {
    if state.peers.is_empty() {
        return "no BGP sessions\n".to_owned();
    }
    const HEADER: [&str; 6] = ["VRF", "PEER", "STATE", "ASN", "SINCE", "TUNNEL"];
    let rows: Vec<[String; 6]> = sorted(state)
        .into_iter()
        .map(|peer| {
            let tunnel = tunnel_of(state, peer).map_or_else(
                || "-".to_owned(),
                |t| format!("{} ({})", t.name, tunnel_status(t)),
            );
            let since = peer
                .last_change()
                .map(|at| format_age(now.duration_since(at).unwrap_or_default()))
                .unwrap_or_else(|| "-".to_owned());
            [
                peer.vrf.to_string(),
                peer.addr.to_string(),
                peer.state.to_string(),
                peer.asn
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), Asn::to_string),
                since,
                tunnel,
            ]
        })
        .collect();
    let columns = Columns::fit(&HEADER, &rows);
    let mut text = String::new();
    for line in
        std::iter::once(columns.line(&HEADER)).chain(rows.iter().map(|row| columns.line(row)))
    {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// `3d04h`, `5h07m`, `12m30s`, `42s`: the compact form EOS's own summary uses.
fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    let (days, hours, mins) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{mins:02}m")
    } else if mins > 0 {
        format!("{mins}m{:02}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_two_largest_units() {
        assert_eq!(format_age(Duration::from_secs(42)), "42s");
        assert_eq!(format_age(Duration::from_secs(750)), "12m30s");
        assert_eq!(format_age(Duration::from_secs(5 * 3600 + 7 * 60)), "5h07m");
        assert_eq!(
            format_age(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d04h"
        );
    }
}

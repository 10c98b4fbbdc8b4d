//! Reading RTTs at EOS scale (issue 15 item 5): the RTT of each session written Up comes from
//! `show ip bgp neighbors`, and a switch answers each command in milliseconds of CapiApp CPU.
//! Asked one command per session, 1,000 sessions is a second or more of CapiApp; asked as one
//! `show ip bgp neighbors vrf NAME`, the listing costs with every peer of the VRF, wanted or not.
//!
//! Against the EOS simulator with a per-command and a per-listed-peer cost (EOS's real figures
//! are not established: the model is 2 ms per command and 0.25 ms per peer rendered), 1,000
//! sessions in one VRF, this times both ways for 10 to 1,000 sessions wanted, and the way the
//! agent chooses (`bgp::rtt_requests`), side by side. Goal: the agent's choice within 1.2x of
//! the cheaper way for every count; it exits non-zero otherwise.
//!
//! Run: `cargo bench -p doublezero-bgpstatus-e2e --bench rtt_reads`.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::bail;
use doublezero_bgpstatus::bgp::{self, PeerKey, Vrf};
use doublezero_bgpstatus::eapi::Client;
use doublezero_bgpstatus::switch::{self, Summaries};
use doublezero_bgpstatus_e2e::eapi_sim::{CommandCost, EapiSim, Peer, SimConfig};
use tokio::time::Instant;

const SESSIONS: u32 = 1_000;
const COST: CommandCost = CommandCost {
    per_command_us: 2_000,
    per_peer_listed_us: 250,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = SimConfig::new(dir.path().join("command-api.sock"));
    config.peers = (0..SESSIONS)
        .map(|k| {
            let addr = std::net::Ipv4Addr::from(
                u32::from(std::net::Ipv4Addr::new(169, 254, 0, 0)) + 2 * k + 1,
            );
            Peer::new("vrf1", &addr.to_string(), "Established")
        })
        .collect();
    let sim = EapiSim::start(config).await?;
    sim.set_command_cost(COST);
    let client = Client::new(sim.socket_path()).with_timeout(Duration::from_secs(60));
    let keys: Vec<PeerKey> = switch::observe(&client, Summaries::Both)
        .await?
        .peers
        .iter()
        .map(|peer| peer.key())
        .collect();
    let vrf: Vrf = Vrf::from("vrf1");
    let real = HashMap::from([(vrf.clone(), keys.len())]);
    // Counts that force one way or the other.
    let per_session = HashMap::from([(vrf.clone(), usize::MAX)]);
    let whole = HashMap::from([(vrf, 1)]);
    println!(
        "RTT reads from {SESSIONS} sessions in one VRF; simulated CapiApp cost {} ms per command, {} ms per peer listed",
        COST.per_command_us as f64 / 1e3,
        COST.per_peer_listed_us as f64 / 1e3
    );
    println!(
        "{:>7} | {:>12} | {:>12} | {:>20} | {:>8}",
        "wanted", "per session", "whole VRF", "agent's choice", "vs best"
    );
    let mut missed = false;
    for wanted in [10, 50, 100, 150, 200, 250, 500, 1_000] {
        let subset = &keys[..wanted];
        let a = time(&client, subset, &per_session).await;
        let b = time(&client, subset, &whole).await;
        let chosen = time(&client, subset, &real).await;
        let way = if bgp::rtt_requests(subset, &real).iter().any(|r| {
            r.command_list()
                .iter()
                .any(|c| c.text().ends_with("neighbors vrf vrf1"))
        }) {
            "whole VRF"
        } else {
            "per session"
        };
        let ratio = chosen.as_secs_f64() / a.min(b).as_secs_f64();
        println!(
            "{wanted:>7} | {:>10.0}ms | {:>10.0}ms | {way:>11} {:>6.0}ms | {ratio:>7.2}x",
            ms(a),
            ms(b),
            ms(chosen),
        );
        missed |= ratio > 1.2;
    }
    if missed {
        bail!("the agent's choice was more than 1.2x the cheaper way for some count");
    }
    println!("goal met: the agent's choice within 1.2x of the cheaper way for every count");
    Ok(())
}

async fn time(client: &Client, keys: &[PeerKey], sessions: &HashMap<Vrf, usize>) -> Duration {
    let start = Instant::now();
    let rtts = switch::fetch_rtts(client, keys, sessions, start + Duration::from_secs(120)).await;
    assert_eq!(rtts.len(), keys.len(), "every RTT read");
    start.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

//! Round-trip times: the neighbour-detail commands that carry them, batched so a read costs the
//! switch little, and the parser that reads `peerTcpInfo.sndRtt` out of the replies.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::fields::{Number, Text};
use super::{PeerAddr, PeerKey, Vrf};
use crate::eapi::{Command, Request};

/// The revision ANTA pins for the neighbour model on current EOS (spec §1.6).
const NEIGHBORS_REVISION: u8 = 2;

/// The neighbour-detail command for one session. IPv6-transport peers are only shown by
/// `show ipv6 bgp peers` (spec §2.2: `show ip bgp neighbors` omits them).
pub fn neighbor_command(key: &PeerKey) -> Command {
    let verb = match key.addr.ip {
        IpAddr::V4(_) => "show ip bgp neighbors",
        IpAddr::V6(_) => "show ipv6 bgp peers",
    };
    Command::new(format!("{verb} {} vrf {}", key.addr, key.vrf)).with_revision(NEIGHBORS_REVISION)
}

/// At most this many neighbour commands per request: CapiApp answers each in milliseconds of
/// CPU, and the request must end well before it could hold up the next status read.
pub const RTT_CHUNK: usize = 25;
/// A VRF of which at least this share of the sessions is wanted is read whole with one
/// `show ip bgp neighbors vrf NAME`: cheaper for the switch than one command per session when a
/// command costs about 8 peers' rendering (the simulator's model; `--bench rtt_reads` measures
/// both ways side by side; EOS's own ratio is not established).
const WHOLE_VRF_SHARE: f64 = 0.125;

/// The requests that read the RTTs of `peers`: per VRF, one whole-VRF command when many of its
/// `sessions_in` sessions are wanted (IPv4 transport only: `show ip bgp neighbors` omits IPv6
/// peers), else one command per session; in requests of at most [`RTT_CHUNK`] commands.
pub fn rtt_requests(peers: &[PeerKey], sessions_in: &HashMap<Vrf, usize>) -> Vec<Request> {
    let mut wanted: HashMap<&Vrf, usize> = HashMap::new();
    for key in peers {
        *wanted.entry(&key.vrf).or_default() += 1;
    }
    let whole: HashSet<&Vrf> = wanted
        .iter()
        .filter(|(vrf, count)| {
            let total = sessions_in.get(**vrf).copied().unwrap_or(0).max(1);
            **count as f64 / total as f64 >= WHOLE_VRF_SHARE && **count > 1
        })
        .map(|(vrf, _)| *vrf)
        .collect();
    let mut commands: Vec<Command> = whole
        .iter()
        .map(|vrf| {
            Command::new(format!("show ip bgp neighbors vrf {vrf}"))
                .with_revision(NEIGHBORS_REVISION)
        })
        .collect();
    commands.sort_by(|a, b| a.text().cmp(b.text()));
    commands.extend(
        peers
            .iter()
            .filter(|key| !(whole.contains(&key.vrf) && key.addr.ip.is_ipv4()))
            .map(neighbor_command),
    );
    commands
        .chunks(RTT_CHUNK)
        // Independent questions: one unknown peer must not stop the others.
        .map(|chunk| Request::new().commands(chunk.iter().cloned()).keep_going())
        .collect()
}

/// The smoothed RTT of every peer in a neighbours reply (`show ip bgp neighbors …` or
/// `show ipv6 bgp peers …`, one peer or `vrf all`). `peerTcpInfo.sndRtt` is Linux `tcp_info`'s
/// `tcpi_rtt` in microseconds; zero means no sample yet and is left out.
pub fn rtts_from_neighbors(text: &str) -> Result<HashMap<PeerKey, Duration>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Neighbors<'a> {
        #[serde(borrow)]
        vrfs: HashMap<Cow<'a, str>, NeighborVrf<'a>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct NeighborVrf<'a> {
        #[serde(default, borrow)]
        peer_list: Vec<NeighborDetail<'a>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct NeighborDetail<'a> {
        #[serde(borrow)]
        peer_address: Text<'a>,
        #[serde(default)]
        peer_tcp_info: Option<TcpInfo>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct TcpInfo {
        #[serde(default)]
        snd_rtt: Option<Number>,
    }

    let neighbors: Neighbors = serde_json::from_str(text)?;
    let mut rtts = HashMap::new();
    for (vrf, detail) in neighbors.vrfs {
        let vrf: Vrf = Arc::from(&*vrf);
        for peer in detail.peer_list {
            let Ok(addr) = peer.peer_address.0.parse::<PeerAddr>() else {
                continue;
            };
            let micros = peer
                .peer_tcp_info
                .and_then(|info| info.snd_rtt)
                .and_then(|rtt| rtt.0);
            if let Some(micros) = micros.filter(|us| us.is_finite() && *us > 0.0 && *us < 1e12) {
                rtts.insert(
                    PeerKey {
                        vrf: vrf.clone(),
                        addr,
                    },
                    Duration::from_micros(micros as u64),
                );
            }
        }
    }
    Ok(rtts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn neighbor_command_uses_ipv6_peers_for_ipv6_transport() {
        let key = |addr: &str| PeerKey {
            vrf: "blue".into(),
            addr: addr.parse().unwrap(),
        };
        assert_eq!(
            neighbor_command(&key("10.0.0.1")).text(),
            "show ip bgp neighbors 10.0.0.1 vrf blue"
        );
        assert_eq!(
            neighbor_command(&key("fe80::1%Et3")).text(),
            "show ipv6 bgp peers fe80::1%Et3 vrf blue"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_as_neighbours_never_panics(text in ".{0,200}") {
            let _ = rtts_from_neighbors(&text);
        }
    }
}

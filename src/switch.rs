//! One tick's reading of the switch: the BGP peer table and the tunnel table from ONE eAPI
//! request, so the two always describe the same moment and a tick costs one round trip however
//! many users the device has.
//!
//! Either both tables are read or the observation failed: a failed interface read is exactly as
//! much a failed observation as a failed BGP read, since either half missing could make a live
//! user look removed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::bgp::{self, PeerKey, PeerTable, Vrf};
use crate::eapi::{Client, EapiError, Reply, Request};
use crate::tunnel::{self, TunnelTable};

/// Both halves of the switch's state, read together.
#[derive(Debug, Clone)]
pub struct SwitchState {
    pub peers: PeerTable,
    /// Shared with the [`Observer`] that may hand the same table to the next tick.
    pub tunnels: Arc<TunnelTable>,
}

/// Which BGP summaries a reading takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summaries {
    /// The IPv4 summary: every session a user can have, since users' tunnels are IPv4 /31s
    /// and the lookups are by IPv4 address. What the daemon decides from, so that the IPv6
    /// model failing or changing shape can never stop status writes.
    Ipv4,
    /// Both summaries, for an operator's complete listing (`peers`).
    Both,
}

/// The interface command comes first: EOS stops at the first failed command, and a switch with
/// BGP inactive fails the summaries (read as "no peers"), which must not cost the interfaces.
fn request(summaries: Summaries) -> Request {
    let request = Request::new().commands([tunnel::interface_command()]);
    match summaries {
        Summaries::Ipv4 => request.commands([bgp::ipv4_summary_command()]),
        Summaries::Both => request.commands(bgp::summary_commands()),
    }
}

/// Reads both tables in one request, once.
pub async fn observe(client: &Client, summaries: Summaries) -> Result<SwitchState, EapiError> {
    Observer::default().observe(client, summaries).await
}

/// Reads the switch tick after tick. The interface model is the larger half of every reply
/// (about 480 bytes a tunnel against 230 a BGP peer) and, having no counters or timestamps, is
/// byte for byte the same until a tunnel is configured or changes state: a result equal to the
/// last one reuses the last table rather than being parsed again. The summaries carry message
/// counters and are always parsed.
#[derive(Debug, Default)]
pub struct Observer {
    /// The last interface result, as EOS sent it, and the table it made.
    interfaces: Option<(Box<str>, Arc<TunnelTable>)>,
}

impl Observer {
    /// Reads both tables in one request.
    pub async fn observe(
        &mut self,
        client: &Client,
        summaries: Summaries,
    ) -> Result<SwitchState, EapiError> {
        let reply = client.execute(&request(summaries)).await?;
        Ok(SwitchState {
            tunnels: self.tunnels(&reply)?,
            // Every command after the interfaces is a summary.
            peers: PeerTable::from_reply(&reply, 1..reply.commands().len())?,
        })
    }

    fn tunnels(&mut self, reply: &Reply) -> Result<Arc<TunnelTable>, EapiError> {
        let text = reply.result(0)?.get();
        if let Some((last, table)) = &self.interfaces {
            if **last == *text {
                return Ok(Arc::clone(table));
            }
        }
        let table = Arc::new(TunnelTable::from_reply(reply, 0)?);
        self.interfaces = Some((text.into(), Arc::clone(&table)));
        Ok(table)
    }
}

/// Reads the TCP round-trip time of each session, request by request, until `deadline`: what
/// is not read by then is left out (written as "no sample"), so an RTT read never holds up the
/// next status read for long. A peer whose detail is missing, failed or lacks
/// `peerTcpInfo.sndRtt` has no entry; a failed request costs only its own peers' RTTs.
pub async fn fetch_rtts(
    client: &Client,
    peers: &[PeerKey],
    sessions_in: &HashMap<Vrf, usize>,
    deadline: tokio::time::Instant,
) -> HashMap<PeerKey, Duration> {
    let mut found: HashMap<PeerKey, Duration> = HashMap::new();
    for request in bgp::rtt_requests(peers, sessions_in) {
        let reply = match tokio::time::timeout_at(deadline, client.execute(&request)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                tracing::debug!(%error, "an RTT request failed; those sessions go without");
                continue;
            }
            Err(_) => {
                tracing::debug!("RTT reads ran out of time; the rest go without");
                break;
            }
        };
        for (index, command) in request.command_list().iter().enumerate() {
            let Ok(raw) = reply.result(index) else {
                continue;
            };
            let Ok(text) = crate::eapi::result_text(command.text(), raw) else {
                continue;
            };
            match bgp::rtts_from_neighbors(&text) {
                Ok(rtts) => found.extend(rtts),
                Err(err) => {
                    tracing::debug!(command = command.text(), %err, "neighbour detail not understood; no RTT")
                }
            }
        }
    }
    peers
        .iter()
        .filter_map(|key| {
            let rtt = found.get(key).copied().or_else(|| {
                // The detail may scope a link-local peer differently from the summary.
                found
                    .iter()
                    .find(|(other, _)| other.vrf == key.vrf && other.addr.ip() == key.addr.ip())
                    .map(|(_, rtt)| *rtt)
            })?;
            Some((key.clone(), rtt))
        })
        .collect()
}

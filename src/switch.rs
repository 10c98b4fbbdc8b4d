//! One tick's reading of the switch: the BGP peer table and the tunnel table from ONE eAPI
//! request, so the two always describe the same moment and a tick costs one round trip however
//! many users the device has.
//!
//! Either both tables are read or the observation failed: a failed interface read is exactly as
//! much a failed observation as a failed BGP read, since either half missing could make a live
//! user look removed.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::bgp::{self, PeerTable};
use crate::eapi::{Client, EapiError, Reply, Request};
use crate::monitor::{Session, SwitchLookup, VrfSession};
use crate::tunnel::{self, Tunnel, TunnelTable};

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

impl SwitchLookup for SwitchState {
    /// Established wins when several sessions qualify (the same peer in several VRFs, when no
    /// VRF is given); otherwise the first one seen.
    fn session(&self, peer: Ipv4Addr, vrf: Option<&str>) -> Option<VrfSession> {
        let mut first = None;
        for candidate in self
            .peers
            .lookup(IpAddr::V4(peer))
            .filter(|candidate| vrf.is_none_or(|vrf| &*candidate.vrf == vrf))
        {
            if candidate.is_established() {
                return Some(VrfSession {
                    vrf: candidate.vrf.clone(),
                    session: Session::Established,
                });
            }
            first.get_or_insert(candidate);
        }
        first.map(|candidate| VrfSession {
            vrf: candidate.vrf.clone(),
            session: Session::NotEstablished(candidate.state.to_string()),
        })
    }

    fn tunnel(&self, device_addr: Ipv4Addr) -> Option<&Tunnel> {
        self.tunnels.by_device_addr(device_addr)
    }

    fn tunnel_numbered(&self, number: u16) -> Option<&Tunnel> {
        self.tunnels.by_number(number)
    }
}

//! One tick's reading of the switch: the BGP peer table and the tunnel table from ONE eAPI
//! request, so the two always describe the same moment and a tick costs one round trip however
//! many users the device has.
//!
//! Either both tables are read or the observation failed: a failed interface read is exactly as
//! much a failed observation as a failed BGP read, since either half missing could make a live
//! user look removed.

use std::net::{IpAddr, Ipv4Addr};

use crate::bgp::{self, PeerTable};
use crate::eapi::{Client, EapiError, Request};
use crate::monitor::{Session, SwitchLookup, VrfSession};
use crate::tunnel::{self, Tunnel, TunnelTable};

/// Both halves of the switch's state, read together.
#[derive(Debug, Clone)]
pub struct SwitchState {
    pub peers: PeerTable,
    pub tunnels: TunnelTable,
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

/// Reads both tables in one request.
pub async fn observe(client: &Client, summaries: Summaries) -> Result<SwitchState, EapiError> {
    let reply = client.execute(&request(summaries)).await?;
    Ok(SwitchState {
        tunnels: TunnelTable::from_reply(&reply, 0)?,
        // Every command after the interfaces is a summary.
        peers: PeerTable::from_reply(&reply, 1..reply.commands().len())?,
    })
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

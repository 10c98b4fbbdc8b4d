//! The decision's view of one switch reading: [`SwitchLookup`] over the tables the eAPI adapter
//! (`crate::switch`) read, implemented here so the tables never depend on the decision.

use std::net::{IpAddr, Ipv4Addr};

use super::{Session, SwitchLookup, VrfSession};
use crate::switch::SwitchState;
use crate::tunnel::Tunnel;

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

//! IPv4 networks as the program stores them, and the /31 tunnel network of a user.

use std::fmt;
use std::net::Ipv4Addr;

/// A borsh `NetworkV4`: an address and a prefix length, stored as given (not masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkV4 {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl fmt::Display for NetworkV4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A user's tunnel network: a /31 whose even base the device holds and whose odd address is the
/// user's side, i.e. the BGP neighbor the device sees (onchain.md §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelNet {
    device: Ipv4Addr,
}

/// Why a `tunnel_net` cannot be a user tunnel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelNetError {
    #[error("tunnel_net {0} is not a /31")]
    NotSlash31(NetworkV4),
    #[error("tunnel_net {0} has an odd base address; the device must hold the even one")]
    OddBase(NetworkV4),
}

impl TryFrom<NetworkV4> for TunnelNet {
    type Error = TunnelNetError;

    fn try_from(net: NetworkV4) -> Result<Self, Self::Error> {
        if net.prefix != 31 {
            return Err(TunnelNetError::NotSlash31(net));
        }
        if !net.addr.octets()[3].is_multiple_of(2) {
            return Err(TunnelNetError::OddBase(net));
        }
        Ok(Self { device: net.addr })
    }
}

impl TunnelNet {
    /// The device's side of the tunnel: the even base address.
    pub fn device_addr(&self) -> Ipv4Addr {
        self.device
    }

    /// The user's side: the BGP neighbor address the device peers with.
    pub fn peer_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.device) | 1)
    }
}

impl fmt::Display for TunnelNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/31", self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(addr: [u8; 4], prefix: u8) -> NetworkV4 {
        NetworkV4 {
            addr: Ipv4Addr::from(addr),
            prefix,
        }
    }

    #[test]
    fn device_holds_the_even_base_and_the_user_the_next_address() {
        let tunnel = TunnelNet::try_from(net([169, 254, 0, 10], 31)).unwrap();
        assert_eq!(tunnel.device_addr(), Ipv4Addr::new(169, 254, 0, 10));
        assert_eq!(tunnel.peer_addr(), Ipv4Addr::new(169, 254, 0, 11));
        assert_eq!(tunnel.to_string(), "169.254.0.10/31");
    }

    #[test]
    fn a_prefix_other_than_31_is_rejected_with_the_network() {
        let err = TunnelNet::try_from(net([169, 254, 0, 10], 30)).unwrap_err();
        assert_eq!(err.to_string(), "tunnel_net 169.254.0.10/30 is not a /31");
        // A malformed /0 must not match every tunnel, as it would in the Go agent.
        assert!(TunnelNet::try_from(net([0, 0, 0, 0], 0)).is_err());
    }

    #[test]
    fn an_odd_base_is_rejected() {
        let err = TunnelNet::try_from(net([169, 254, 0, 11], 31)).unwrap_err();
        assert!(matches!(err, TunnelNetError::OddBase(_)));
    }

    #[test]
    fn the_peer_of_the_last_even_address_does_not_carry() {
        let tunnel = TunnelNet::try_from(net([10, 0, 0, 254], 31)).unwrap();
        assert_eq!(tunnel.peer_addr(), Ipv4Addr::new(10, 0, 0, 255));
    }
}

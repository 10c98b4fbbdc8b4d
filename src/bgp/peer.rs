//! One BGP session as the summary shows it, and its identity: the VRF and the peer's address
//! as EOS keys it (link-local peers keep their `%Interface` scope).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Asn;

/// A VRF name, shared by every peer of the VRF.
pub type Vrf = Arc<str>;

/// A peer's address as EOS keys it: an IP plus, for link-local peers, the interface scope
/// (`fe80::1%Et3`), kept because two interfaces can carry the same link-local address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    pub(super) ip: IpAddr,
    scope: Option<Box<str>>,
}

impl PeerAddr {
    /// An unscoped address.
    pub fn new(ip: IpAddr) -> Self {
        PeerAddr { ip, scope: None }
    }

    /// The IP without its scope.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The interface scope of a link-local peer, as EOS wrote it.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

impl FromStr for PeerAddr {
    type Err = String;

    /// Standard IP parsers reject the `%scope` form (napalm #1759), so split it off first.
    fn from_str(text: &str) -> Result<Self, String> {
        // A byte search rather than `split_once('%')`, whose searcher set-up was most of the
        // cost on keys this short (every peer of every poll).
        let (ip, scope) = match text.bytes().position(|byte| byte == b'%') {
            Some(at) if at + 1 == text.len() => {
                return Err(format!("empty scope in peer address {text:?}"))
            }
            Some(at) => (&text[..at], Some(text[at + 1..].into())),
            None => (text, None),
        };
        let ip = match dotted_quad(ip.as_bytes()) {
            Some(v4) => IpAddr::V4(v4),
            None => ip
                .parse()
                .map_err(|_| format!("not a peer address: {text:?}"))?,
        };
        Ok(PeerAddr { ip, scope })
    }
}

/// `a.b.c.d` read as the standard parser reads it (decimal octets, no leading zeros), without
/// that parser's generality, which was a share of every poll's CPU: nearly every peer key is one.
/// `None` for anything else, which the standard parser then reads or refuses.
fn dotted_quad(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&byte| byte == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        let mut value = 0u16;
        for &digit in part {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(digit - b'0');
        }
        *octet = u8::try_from(value).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Some(scope) => write!(f, "{}%{scope}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// One BGP session: the VRF it lives in and the peer's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerKey {
    pub vrf: Vrf,
    pub addr: PeerAddr,
}

/// The BGP finite-state-machine state. Open: a state this agent does not know is kept as text
/// and counts as not Established.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
    Other(String),
}

impl PeerState {
    /// Reads EOS's `peerState` text.
    pub fn parse(text: &str) -> Self {
        // By length first, so that each peer's state costs at most two string compares.
        match text.len() {
            4 if text == "Idle" => PeerState::Idle,
            6 if text == "Active" => PeerState::Active,
            7 if text == "Connect" => PeerState::Connect,
            8 if text == "OpenSent" => PeerState::OpenSent,
            11 if text == "Established" => PeerState::Established,
            11 if text == "OpenConfirm" => PeerState::OpenConfirm,
            _ => PeerState::Other(text.to_owned()),
        }
    }

    /// Whether the session is up; only `Established` is.
    pub fn is_established(&self) -> bool {
        matches!(self, PeerState::Established)
    }

    /// The state as EOS names it.
    pub fn as_str(&self) -> &str {
        match self {
            PeerState::Idle => "Idle",
            PeerState::Connect => "Connect",
            PeerState::Active => "Active",
            PeerState::OpenSent => "OpenSent",
            PeerState::OpenConfirm => "OpenConfirm",
            PeerState::Established => "Established",
            PeerState::Other(text) => text,
        }
    }
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One session as the summary shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub vrf: Vrf,
    pub addr: PeerAddr,
    pub state: PeerState,
    /// Epoch seconds of the last state change (`upDownTime`; a timestamp, not a duration).
    pub up_down_time: Option<f64>,
    /// Remote AS as text, because EOS may write it in asdot (`65001.1028`).
    pub asn: Option<Asn>,
    /// `peerStateIdleReason`, present only when Idle.
    pub idle_reason: Option<String>,
}

impl Peer {
    /// Whether the session is up.
    pub fn is_established(&self) -> bool {
        self.state.is_established()
    }

    /// The time of the last state change, if EOS gave a usable one.
    pub fn last_change(&self) -> Option<SystemTime> {
        let secs = self
            .up_down_time
            .filter(|secs| secs.is_finite() && *secs >= 0.0)?;
        UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
    }

    /// The session's identity.
    pub fn key(&self) -> PeerKey {
        PeerKey {
            vrf: self.vrf.clone(),
            addr: self.addr.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_key_keeps_its_scope() {
        let addr: PeerAddr = "fe80::1%Ethernet1".parse().unwrap();
        assert_eq!(addr.ip(), "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(addr.scope(), Some("Ethernet1"));
        assert_eq!(addr.to_string(), "fe80::1%Ethernet1");
        assert!("fe80::1%".parse::<PeerAddr>().is_err());
        assert!("peer-group".parse::<PeerAddr>().is_err());
        let twice: PeerAddr = "fe80::1%Et1%x".parse().unwrap();
        assert_eq!(
            twice.scope(),
            Some("Et1%x"),
            "the scope is all after the first %"
        );
        assert!("%Et1".parse::<PeerAddr>().is_err());
    }

    proptest::proptest! {
        /// The key splits at its first `%`, as `split_once` would.
        #[test]
        fn a_key_splits_at_its_first_percent(ip in proptest::prelude::any::<IpAddr>(), scope in "[%a-zA-Z0-9/]{0,6}", scoped in proptest::prelude::any::<bool>()) {
            let text = if scoped { format!("{ip}%{scope}") } else { ip.to_string() };
            let parsed = text.parse::<PeerAddr>();
            match text.split_once('%') {
                Some((_, "")) => proptest::prop_assert!(parsed.is_err()),
                Some((_, rest)) => proptest::prop_assert_eq!(parsed, Ok(PeerAddr { ip, scope: Some(rest.into()) })),
                None => proptest::prop_assert_eq!(parsed, Ok(PeerAddr::new(ip))),
            }
        }
    }

    proptest::proptest! {
        /// The IPv4 fast path reads what the standard parser reads, and nothing else.
        #[test]
        fn the_dotted_quad_reader_agrees_with_the_standard_parser(text in "[0-9.]{0,18}", ip in proptest::prelude::any::<Ipv4Addr>()) {
            proptest::prop_assert_eq!(dotted_quad(text.as_bytes()), text.parse::<Ipv4Addr>().ok());
            proptest::prop_assert_eq!(dotted_quad(ip.to_string().as_bytes()), Some(ip));
        }
    }

    #[test]
    fn dotted_quads_at_the_edges() {
        for refused in [
            "",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3",
            "1..2.3",
            "01.2.3.4",
            "1.2.3.256",
            "1.2.3.1000",
            "1.2.3.4 ",
            "+1.2.3.4",
        ] {
            assert_eq!(dotted_quad(refused.as_bytes()), None, "{refused:?}");
        }
        assert_eq!(dotted_quad(b"0.0.0.0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(dotted_quad(b"255.255.255.255"), Some(Ipv4Addr::BROADCAST));
    }

    #[test]
    fn unknown_state_is_kept_as_text_and_is_not_established() {
        let state = PeerState::parse("Stalled");
        assert_eq!(state, PeerState::Other("Stalled".into()));
        assert!(!state.is_established());
        assert_eq!(state.as_str(), "Stalled");
    }
}

//! The BGP peer table: every session on the switch, by VRF and peer address, built from
//! `show ip bgp summary vrf all` + `show ipv6 bgp summary vrf all` in one eAPI request, and the
//! on-demand round-trip times read from the neighbour detail.
//!
//! A `PeerTable` exists only as the product of a successful read: there is no `Default` and no
//! public constructor, and a failed read is an `Err(EapiError)`. So "no peers" can never be
//! confused with "could not look", which matters because an absent peer is evidence of `Down`.
//!
//! Parsing is tolerant as spec §2.3 asks (number-or-string `asn` and `upDownTime`, link-local
//! keys with a `%Interface` scope, unknown fields ignored, open `peerState`) and goes straight
//! from the reply text into the table with borrowed keys, without a `serde_json::Value` tree.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::eapi::{self, Client, Command, CommandOutcome, EapiError, Reply, Request};
use crate::fasthash::FastHash;

/// The IPv4-unicast summary; it also lists RFC 5549 link-local peers (spec §2.1).
pub const IPV4_SUMMARY: &str = "show ip bgp summary vrf all";
/// The IPv6-unicast summary.
pub const IPV6_SUMMARY: &str = "show ipv6 bgp summary vrf all";
/// The revision of the spec's reference request (§1.2); the samples are this shape.
const SUMMARY_REVISION: u8 = 1;
/// The revision ANTA pins for the neighbour model on current EOS (spec §1.6).
const NEIGHBORS_REVISION: u8 = 2;

/// The two summary commands, for a request that may bundle other models after them
/// (see [`PeerTable::from_reply`]).
pub fn summary_commands() -> [Command; 2] {
    [
        ipv4_summary_command(),
        Command::new(IPV6_SUMMARY).with_revision(SUMMARY_REVISION),
    ]
}

/// The IPv4 summary alone: every session a user can have (users' tunnels are IPv4 /31s).
pub fn ipv4_summary_command() -> Command {
    Command::new(IPV4_SUMMARY).with_revision(SUMMARY_REVISION)
}

/// Reads the peer table in one request.
pub async fn fetch_peers(client: &Client) -> Result<PeerTable, EapiError> {
    let reply = client
        .execute(&Request::new().commands(summary_commands()))
        .await?;
    PeerTable::from_reply(&reply, 0..2)
}

/// A VRF name, shared by every peer of the VRF.
pub type Vrf = Arc<str>;

/// A peer's address as EOS keys it: an IP plus, for link-local peers, the interface scope
/// (`fe80::1%Et3`), kept because two interfaces can carry the same link-local address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    ip: IpAddr,
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
        let (ip, scope) = match text.split_once('%') {
            Some((_, "")) => return Err(format!("empty scope in peer address {text:?}")),
            Some((ip, scope)) => (ip, Some(scope.into())),
            None => (text, None),
        };
        let ip = ip
            .parse()
            .map_err(|_| format!("not a peer address: {text:?}"))?;
        Ok(PeerAddr { ip, scope })
    }
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

/// Every BGP session on the switch, looked up by peer IP in O(1).
#[derive(Debug, Clone)]
pub struct PeerTable {
    /// In the order read.
    peers: Vec<Peer>,
    /// IP → position of its first session in `peers`.
    first: HashMap<IpAddr, usize, FastHash>,
    /// Per session, the position of the next session to the same IP (other VRF or scope).
    /// A chain instead of sorting keeps building linear; chains are almost always length 1.
    next: Vec<Option<usize>>,
}

impl PeerTable {
    fn with_capacity(capacity: usize) -> Self {
        PeerTable {
            peers: Vec::with_capacity(capacity),
            first: HashMap::with_capacity_and_hasher(capacity, FastHash::default()),
            next: Vec::with_capacity(capacity),
        }
    }

    /// Builds the table from the summary results at `summaries` in `reply` (the IPv4 one
    /// first).
    /// `{"vrfs": {}}` and error 1000 "BGP inactive" are a successful read with no peers; any
    /// other failure of these commands is an error. "BGP inactive" counts only from the first
    /// summary: BGP not running fails that one (and EOS runs nothing after it), whereas the
    /// IPv4 summary read and then the IPv6 one saying "inactive" contradict each other, and
    /// reading that as "no sessions" would write Down for every user with a tunnel.
    pub fn from_reply(reply: &Reply, summaries: Range<usize>) -> Result<Self, EapiError> {
        let bgp_inactive = reply
            .outcomes()
            .get(summaries.start)
            .is_some_and(|outcome| {
                matches!(outcome, CommandOutcome::Failed { code: 1000, errors }
                if errors.iter().any(|error| error.to_ascii_lowercase().contains("bgp inactive")))
            });
        if bgp_inactive {
            return Ok(PeerTable::with_capacity(0));
        }
        let mut table = PeerTable::with_capacity(0);
        for index in summaries {
            let raw = reply.result(index)?;
            let command = reply
                .commands()
                .get(index)
                .map(Command::text)
                .unwrap_or_default();
            let text = eapi::result_text(command, raw)?;
            parse_summary_into(&text, &mut table).map_err(|err| eapi::model_error(command, err))?;
        }
        Ok(table)
    }

    /// Builds the table from summary result texts (one per command), as EOS sent them.
    pub fn from_summaries<'a>(
        summaries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, EapiError> {
        let mut table = PeerTable::with_capacity(0);
        for text in summaries {
            parse_summary_into(text, &mut table)
                .map_err(|err| eapi::model_error("BGP summary", err))?;
        }
        Ok(table)
    }

    fn insert(&mut self, peer: Peer) {
        let position = self.peers.len();
        let mut cursor = match self.first.entry(peer.addr.ip) {
            Entry::Vacant(slot) => {
                slot.insert(position);
                self.peers.push(peer);
                self.next.push(None);
                return;
            }
            Entry::Occupied(slot) => *slot.get(),
        };
        loop {
            let kept = &mut self.peers[cursor];
            if kept.addr == peer.addr && kept.vrf == peer.vrf {
                // A link-local or dual-stack session shows in both summaries; it is one
                // session, and the copy with the later state change is the current one.
                if peer.up_down_time.unwrap_or(f64::MIN) > kept.up_down_time.unwrap_or(f64::MIN) {
                    *kept = peer;
                }
                return;
            }
            match self.next[cursor] {
                Some(next) => cursor = next,
                None => break,
            }
        }
        self.next[cursor] = Some(position);
        self.peers.push(peer);
        self.next.push(None);
    }

    /// Every session to `ip`, across VRFs and link-local scopes; none when there is none.
    pub fn lookup(&self, ip: IpAddr) -> impl Iterator<Item = &Peer> {
        let mut cursor = self.first.get(&ip).copied();
        std::iter::from_fn(move || {
            let position = cursor?;
            cursor = self.next.get(position).copied().flatten();
            self.peers.get(position)
        })
    }

    /// The session to `addr` in `vrf`.
    pub fn get(&self, vrf: &str, addr: &PeerAddr) -> Option<&Peer> {
        self.lookup(addr.ip)
            .find(|peer| &*peer.vrf == vrf && peer.addr == *addr)
    }

    /// All sessions, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter()
    }

    /// The number of sessions.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when the switch has no BGP sessions (a successful read that found none).
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// Parses one summary result into `out`.
fn parse_summary_into(text: &str, out: &mut PeerTable) -> Result<(), serde_json::Error> {
    // A summary peer is 227–300 bytes of JSON; sizing up front (erring high, since untouched
    // capacity costs nothing) avoids regrowing the table and rehashing the index.
    let expected = text.len() / 192;
    out.peers.reserve(expected);
    out.next.reserve(expected);
    out.first.reserve(expected);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    SummarySeed { out }.deserialize(&mut deserializer)?;
    deserializer.end()
}

/// A map key or string that borrows from the input when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

/// `{"vrfs": {...}, ...}`: `vrfs` is required, anything else is ignored.
struct SummarySeed<'o> {
    out: &'o mut PeerTable,
}

impl<'de> DeserializeSeed<'de> for SummarySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SummarySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a BGP summary object with `vrfs`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_vrfs = false;
        while let Some(Text(key)) = map.next_key()? {
            if key == "vrfs" && !seen_vrfs {
                seen_vrfs = true;
                map.next_value_seed(VrfsSeed {
                    out: &mut *self.out,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if seen_vrfs {
            Ok(())
        } else {
            Err(de::Error::missing_field("vrfs"))
        }
    }
}

/// `{<vrf name>: <vrf>}`.
struct VrfsSeed<'o> {
    out: &'o mut PeerTable,
}

impl<'de> DeserializeSeed<'de> for VrfsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VrfsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of VRF name to VRF summary")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(name)) = map.next_key()? {
            map.next_value_seed(VrfSeed {
                vrf: Arc::from(&*name),
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
}

/// One VRF: only `peers` matters; the map key names the VRF.
struct VrfSeed<'o> {
    vrf: Vrf,
    out: &'o mut PeerTable,
}

impl<'de> DeserializeSeed<'de> for VrfSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for VrfSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a VRF summary object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key()? {
            if key == "peers" {
                map.next_value_seed(PeersSeed {
                    vrf: &self.vrf,
                    out: &mut *self.out,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `{<peer key>: <peer>}`. A key that is not an address fails the whole read rather than
/// dropping the peer, because a silently dropped peer would look like a session gone Down.
struct PeersSeed<'v, 'o> {
    vrf: &'v Vrf,
    out: &'o mut PeerTable,
}

impl<'de> DeserializeSeed<'de> for PeersSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PeersSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of peer address to peer summary")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key()? {
            let addr: PeerAddr = key.parse().map_err(de::Error::custom)?;
            let peer: PeerSummary = map.next_value()?;
            self.out.insert(Peer {
                vrf: self.vrf.clone(),
                addr,
                state: peer.state,
                up_down_time: peer.up_down_time,
                asn: peer.asn,
                idle_reason: peer.idle_reason,
            });
        }
        Ok(())
    }
}

/// The fields of a summary peer this agent reads; `peerState` is the only required one.
/// Hand-written rather than derived: the derive tries each field name in turn with a string
/// compare, and those compares' mispredicted branches were a good part of the parse.
struct PeerSummary {
    state: PeerState,
    up_down_time: Option<f64>,
    asn: Option<Asn>,
    idle_reason: Option<String>,
}

/// A summary peer's key, told apart by length first: of the dozen keys EOS sends, the length
/// alone rules out all but at most one candidate, so each key costs one compare.
enum PeerField {
    State,
    UpDownTime,
    Asn,
    IdleReason,
    Other,
}

impl PeerField {
    fn of(key: &str) -> Self {
        match key.len() {
            3 if key == "asn" => PeerField::Asn,
            9 if key == "peerState" => PeerField::State,
            10 if key == "upDownTime" => PeerField::UpDownTime,
            19 if key == "peerStateIdleReason" => PeerField::IdleReason,
            _ => PeerField::Other,
        }
    }
}

impl<'de> Deserialize<'de> for PeerField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = PeerField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<PeerField, E> {
                Ok(PeerField::of(key))
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for PeerSummary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SummaryVisitor;
        impl<'de> Visitor<'de> for SummaryVisitor {
            type Value = PeerSummary;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a peer summary object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PeerSummary, A::Error> {
                fn once<T, E: de::Error>(slot: &Option<T>, name: &'static str) -> Result<(), E> {
                    match slot {
                        Some(_) => Err(E::duplicate_field(name)),
                        None => Ok(()),
                    }
                }
                let mut state = None;
                let mut up_down_time = None;
                let mut asn = None;
                let mut idle_reason = None;
                while let Some(field) = map.next_key()? {
                    match field {
                        PeerField::State => {
                            once(&state, "peerState")?;
                            state = Some(map.next_value::<State>()?.0);
                        }
                        PeerField::UpDownTime => {
                            once(&up_down_time, "upDownTime")?;
                            up_down_time =
                                Some(map.next_value::<Option<Number>>()?.and_then(|n| n.0));
                        }
                        PeerField::Asn => {
                            once(&asn, "asn")?;
                            asn = Some(map.next_value::<Option<Asn>>()?);
                        }
                        PeerField::IdleReason => {
                            once(&idle_reason, "peerStateIdleReason")?;
                            idle_reason = Some(map.next_value::<Option<String>>()?);
                        }
                        PeerField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(PeerSummary {
                    state: state.ok_or_else(|| de::Error::missing_field("peerState"))?,
                    up_down_time: up_down_time.flatten(),
                    asn: asn.flatten(),
                    idle_reason: idle_reason.flatten(),
                })
            }
        }
        deserializer.deserialize_map(SummaryVisitor)
    }
}

/// `peerState`, read straight into the enum without keeping the text.
struct State(PeerState);

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StateVisitor;
        impl Visitor<'_> for StateVisitor {
            type Value = State;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a BGP state name")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<State, E> {
                Ok(State(PeerState::parse(text)))
            }
        }
        deserializer.deserialize_str(StateVisitor)
    }
}

/// A number that EOS may send as a JSON number or as numeric text (napalm #1168); text that is
/// not a number reads as absent, since these fields are informative, not identifying.
struct Number(Option<f64>);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or numeric string")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Number, E> {
                Ok(Number(Some(value)))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Number, E> {
                Ok(Number(Some(value as f64)))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Number, E> {
                Ok(Number(Some(value as f64)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Number, E> {
                Ok(Number(value.trim().parse().ok()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Number, E> {
                Ok(Number(None))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

/// An AS number as EOS wrote it: a JSON number on old EOS, text (maybe asdot, `65001.1028`) on
/// newer. Kept as text so asdot survives; stored inline because every peer has one and a heap
/// string each was a measurable share of the parse.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Asn(AsnText);

#[derive(Clone, PartialEq, Eq, Hash)]
enum AsnText {
    /// asplain is at most 10 characters and asdot 11; this leaves room to spare.
    Inline {
        len: u8,
        bytes: [u8; 22],
    },
    Heap(Box<str>),
}

impl Asn {
    /// Keeps `text` as the AS number's spelling.
    pub fn new(text: &str) -> Self {
        let mut bytes = [0u8; 22];
        match bytes.get_mut(..text.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(text.as_bytes());
                Asn(AsnText::Inline {
                    len: text.len() as u8,
                    bytes,
                })
            }
            None => Asn(AsnText::Heap(text.into())),
        }
    }

    /// The AS number as EOS wrote it.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The bytes were copied from a `&str` whole, so they are valid UTF-8.
            AsnText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            AsnText::Heap(text) => text,
        }
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<'de> Deserialize<'de> for Asn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AsnVisitor;
        impl Visitor<'_> for AsnVisitor {
            type Value = Asn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an AS number or string")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Asn, E> {
                Ok(Asn::new(&value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Asn, E> {
                Ok(Asn::new(&value.to_string()))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Asn, E> {
                Ok(Asn::new(value))
            }
        }
        deserializer.deserialize_any(AsnVisitor)
    }
}

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
    for request in rtt_requests(peers, sessions_in) {
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
            let Ok(text) = eapi::result_text(command.text(), raw) else {
                continue;
            };
            match rtts_from_neighbors(&text) {
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
                    .find(|(other, _)| other.vrf == key.vrf && other.addr.ip == key.addr.ip)
                    .map(|(_, rtt)| *rtt)
            })?;
            Some((key.clone(), rtt))
        })
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
    fn link_local_key_keeps_its_scope() {
        let addr: PeerAddr = "fe80::1%Ethernet1".parse().unwrap();
        assert_eq!(addr.ip(), "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(addr.scope(), Some("Ethernet1"));
        assert_eq!(addr.to_string(), "fe80::1%Ethernet1");
        assert!("fe80::1%".parse::<PeerAddr>().is_err());
        assert!("peer-group".parse::<PeerAddr>().is_err());
    }

    #[test]
    fn asn_keeps_its_spelling_short_or_long() {
        assert_eq!(Asn::new("65001.1028").as_str(), "65001.1028");
        let long = "x".repeat(40);
        assert_eq!(Asn::new(&long).as_str(), long);
    }

    #[test]
    fn unknown_state_is_kept_as_text_and_is_not_established() {
        let state = PeerState::parse("Stalled");
        assert_eq!(state, PeerState::Other("Stalled".into()));
        assert!(!state.is_established());
        assert_eq!(state.as_str(), "Stalled");
    }

    #[test]
    fn number_or_text_fields_and_escaped_keys_are_read() {
        let text = r#"{"vrfs":{"R\u0045D":{"peers":{"10.0.0.1":{"peerState":"Established","upDownTime":"1721080527.5","asn":65002,"x":[1]}}}}}"#;
        let table = PeerTable::from_summaries([text]).unwrap();
        let peer = table.lookup("10.0.0.1".parse().unwrap()).next().unwrap();
        assert_eq!(&*peer.vrf, "RED");
        assert_eq!(peer.up_down_time, Some(1721080527.5));
        assert_eq!(peer.asn.as_ref().map(Asn::as_str), Some("65002"));
    }

    #[test]
    fn same_ip_in_two_vrfs_is_two_sessions_and_one_lookup() {
        let text = r#"{"vrfs":{"a":{"peers":{"10.0.0.1":{"peerState":"Idle"}}},"b":{"peers":{"10.0.0.1":{"peerState":"Established"}}}}}"#;
        let table = PeerTable::from_summaries([text, text]).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table.lookup("10.0.0.1".parse().unwrap()).count(), 2);
        assert!(table
            .get("b", &"10.0.0.1".parse().unwrap())
            .unwrap()
            .is_established());
    }

    #[test]
    fn a_session_in_both_summaries_keeps_the_later_state_change() {
        let v4 = r#"{"vrfs":{"default":{"peers":{"fe80::1%Et1":{"peerState":"Established","upDownTime":10}}}}}"#;
        let v6 = r#"{"vrfs":{"default":{"peers":{"fe80::1%Et1":{"peerState":"Idle","upDownTime":20}}}}}"#;
        let table = PeerTable::from_summaries([v4, v6]).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.iter().next().unwrap().state, PeerState::Idle);
    }

    #[test]
    fn a_peer_without_state_or_an_unparseable_key_fails_the_read() {
        assert!(
            PeerTable::from_summaries([r#"{"vrfs":{"d":{"peers":{"10.0.0.1":{}}}}}"#]).is_err()
        );
        assert!(PeerTable::from_summaries([
            r#"{"vrfs":{"d":{"peers":{"bogus":{"peerState":"Idle"}}}}}"#
        ])
        .is_err());
        assert!(PeerTable::from_summaries([r#"{"notvrfs":{}}"#]).is_err());
        assert!(PeerTable::from_summaries([
            r#"{"vrfs":{"d":{"peers":{"10.0.0.1":{"peerState":"Idle","peerState":"Active"}}}}}"#
        ])
        .is_err());
    }

    #[test]
    fn null_optional_fields_read_as_absent() {
        let text = r#"{"vrfs":{"d":{"peers":{"10.0.0.1":{"asn":null,"upDownTime":null,"peerStateIdleReason":null,"peerState":"OpenConfirm"}}}}}"#;
        let table = PeerTable::from_summaries([text]).unwrap();
        let peer = table.iter().next().unwrap();
        assert_eq!(peer.state, PeerState::OpenConfirm);
        assert_eq!(
            (
                peer.asn.as_ref(),
                peer.up_down_time,
                peer.idle_reason.as_ref()
            ),
            (None, None, None)
        );
    }

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
        fn arbitrary_text_as_a_summary_never_panics(text in ".{0,200}") {
            let _ = PeerTable::from_summaries([text.as_str()]);
            let _ = rtts_from_neighbors(&text);
        }

        #[test]
        fn arbitrary_peer_fields_never_panic(state in ".{0,8}", time in any::<f64>(), key in "[0-9a-f:.%A-Za-z]{0,20}") {
            let text = serde_json::json!({"vrfs": {"v": {"peers": {key: {"peerState": state, "upDownTime": time}}}}}).to_string();
            if let Ok(table) = PeerTable::from_summaries([text.as_str()]) {
                for peer in table.iter() {
                    let _ = peer.last_change();
                }
            }
        }
    }
}

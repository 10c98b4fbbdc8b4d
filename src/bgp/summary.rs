//! The BGP summary commands and their parser. Tolerant as spec §2.3 asks (number-or-string
//! `asn` and `upDownTime`, link-local keys with a `%Interface` scope, unknown fields ignored,
//! open `peerState`), it goes straight from the reply text into the table with borrowed keys,
//! without a `serde_json::Value` tree. A poll's reply is read by a cursor over its text
//! ([`crate::eapi::Cursor`]) where it is plainly written, and against the poll's reply before
//! ([`SummaryMemo`]), so that a peer whose text changed only in counters is not read again;
//! anything else falls to the serde reader, which takes all that EOS may send and names what
//! is wrong.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::fields::{Number, Text};
use super::table::Sessions;
use super::{Asn, Peer, PeerAddr, PeerState, PeerTable, Vrf};
use crate::eapi::{Body, Command, Cursor};

/// The IPv4-unicast summary; it also lists RFC 5549 link-local peers (spec §2.1).
pub const IPV4_SUMMARY: &str = "show ip bgp summary vrf all";
/// The IPv6-unicast summary.
pub const IPV6_SUMMARY: &str = "show ipv6 bgp summary vrf all";
/// The revision of the spec's reference request (§1.2); the samples are this shape.
const SUMMARY_REVISION: u8 = 1;

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

/// Parses one summary result into `out`.
pub(super) fn parse_summary_into(text: &str, out: &mut Sessions) -> Result<(), serde_json::Error> {
    // A summary peer is 227–300 bytes of JSON; sizing up front (erring high, since untouched
    // capacity costs nothing) avoids regrowing the table and rehashing the index.
    let expected = text.len() / 192;
    out.reserve(expected);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    SummarySeed { out }.deserialize(&mut deserializer)?;
    deserializer.end()
}

/// The last summary reply the cursor read and what it found in it, so that the next poll's
/// is read against it. On a switch at rest the two differ only in counters: DoubleZero's
/// `timers bgp 1 3` move every session's message counts every second. A peer whose text is the
/// one before but for numbers this agent does not read is then taken as it was (see
/// [`Cursor::same_as`]), without reading its fields again; and when every peer is, in the same
/// places and VRFs, the table is the one before too, shared rather than built again.
#[derive(Default)]
pub struct SummaryMemo {
    last: Reading,
    /// The storage of the reading before, reused for the next one.
    spare: Reading,
}

#[derive(Default)]
struct Reading {
    /// The reply as received; its body starts at `start`.
    buffer: Vec<u8>,
    start: usize,
    /// Every member of every VRF's `peers`, in the order read: where its text (key and
    /// value) is in the body, and its numbers this agent does not read in `numbers`.
    places: Vec<(Range<usize>, Range<usize>)>,
    /// The places of numbers not read, relative to their member's text.
    numbers: Vec<(u32, u32)>,
    /// The table the reading made: its sessions are the members in the order read, unless a
    /// session was listed twice (then nothing is taken from this reading).
    table: Option<PeerTable>,
}

impl fmt::Debug for SummaryMemo {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("SummaryMemo")
            .field("peers", &self.last.places.len())
            .field("bytes", &self.last.body().len())
            .finish()
    }
}

impl Reading {
    fn body(&self) -> &[u8] {
        self.buffer.get(self.start..).unwrap_or_default()
    }

    /// What the member in `place` read as.
    fn peer(&self, place: usize) -> Option<&Peer> {
        let table = self.table.as_ref()?;
        (table.len() == self.places.len())
            .then(|| table.in_order(place))
            .flatten()
    }
}

/// Reads a reply whose first result is a summary, in one pass over the body and against the
/// reading before in `memo`, which this one then replaces: the table, and how many peers were
/// taken as they were. The body comes back when the reply is not plainly that (see
/// [`Body::scan_first_result`]).
pub(super) fn summary_from_body<'r>(
    body: Body<'r>,
    memo: &mut SummaryMemo,
) -> Result<(PeerTable, usize), Body<'r>> {
    let SummaryMemo { last, spare } = memo;
    spare.places.clear();
    spare.numbers.clear();
    let mut peers = Peers {
        last,
        next: spare,
        taken: 0,
        table: None,
        expected: body.len() / 192,
        keys: None,
    };
    if body
        .scan_first_result(|cursor| scan_summary(cursor, &mut peers))
        .is_none()
    {
        return Err(body);
    }
    let taken = peers.taken;
    let table = match peers.table {
        Some(table) => table.into(),
        // Every peer as before: the table before, unless a peer went from the end.
        None => match (&last.table, spare.places.len() == last.places.len()) {
            (Some(table), true) => table.clone(),
            _ => match as_before(last, spare.places.len()) {
                Some(table) => table.into(),
                None => return Err(body),
            },
        },
    };
    spare.table = Some(table.clone());
    (spare.buffer, spare.start) = body.into_buffer();
    std::mem::swap(last, spare);
    spare.buffer = Vec::new();
    spare.table = None;
    Ok((table, taken))
}

/// A table of the first `places` members of `last` (each taken as it was).
fn as_before(last: &Reading, places: usize) -> Option<Sessions> {
    let mut table = Sessions::with_capacity(places);
    for place in 0..places {
        table.insert(last.peer(place)?.clone());
    }
    Some(table)
}

/// The peers of a reply being read, against those of the reading before.
struct Peers<'m> {
    last: &'m Reading,
    next: &'m mut Reading,
    taken: usize,
    /// The table, once a peer differs from the one in its place before (until then every
    /// peer read is `last`'s, and the table may be too).
    table: Option<Sessions>,
    /// How many peers the reply may hold, for the table's room.
    expected: usize,
    /// The places of `last`'s members by VRF and key, once a member is not in its place.
    keys: Option<HashMap<(&'m str, &'m [u8]), usize>>,
}

impl<'m> Peers<'m> {
    /// The next member of a VRF's `peers`: taken as the member in the same place last time
    /// was (or, failing that, the member with its VRF and key), when its text is that one's
    /// but for the numbers not read; read field by field otherwise.
    fn read(&mut self, cursor: &mut Cursor, vrf: &Vrf) -> Option<()> {
        // A member's text starts at its key, so that where it stands in its object (first, or
        // after a comma) does not change it.
        cursor.peek()?;
        let place = self.next.places.len();
        let start = cursor.position();
        let numbers = self.next.numbers.len();
        let mut taken = self.take(cursor, place).map(|peer| (peer, true));
        if taken.is_none() {
            if let Some(before) = self.by_key(cursor, vrf).filter(|&before| before != place) {
                taken = self.take(cursor, before).map(|peer| (peer, false));
            }
        }
        match taken {
            Some((before, in_place)) => {
                self.taken += 1;
                if !in_place || self.table.is_some() || *before.vrf != **vrf {
                    let peer = Peer {
                        vrf: vrf.clone(),
                        ..before.clone()
                    };
                    self.add(place, peer)?;
                }
            }
            None => {
                let addr: PeerAddr = cursor.str()?.parse().ok()?;
                cursor.eat(b':')?;
                let peer = scan_peer(cursor, start, &mut self.next.numbers)?.into_peer(vrf, addr);
                self.add(place, peer)?;
            }
        }
        self.next
            .places
            .push((start..cursor.position(), numbers..self.next.numbers.len()));
        Some(())
    }

    /// The member at the cursor taken as `last`'s member in `place` (see [`Cursor::same_as`]).
    fn take(&mut self, cursor: &mut Cursor, place: usize) -> Option<&'m Peer> {
        let last = self.last;
        let (text, unread) = last.places.get(place)?;
        let peer = last.peer(place)?;
        cursor.same_as(
            last.body().get(text.clone())?,
            last.numbers.get(unread.clone())?,
            &mut self.next.numbers,
        )?;
        Some(peer)
    }

    /// Where `last` had the member at the cursor, by its VRF and key: for a switch that lists
    /// its peers in another order (whether EOS keeps its order is not established).
    fn by_key(&mut self, cursor: &Cursor, vrf: &Vrf) -> Option<usize> {
        let key = cursor.clone().str()?;
        let last = self.last;
        let keys = self.keys.get_or_insert_with(|| {
            (0..last.places.len())
                .filter_map(|place| {
                    let peer = last.peer(place)?;
                    // The text starts at the key's opening quote; a key taken has no escapes.
                    let text = last.body().get(last.places.get(place)?.0.clone())?;
                    let key = text.get(1..)?.split(|&byte| byte == b'"').next()?;
                    Some(((&*peer.vrf, key), place))
                })
                .collect()
        });
        keys.get(&(&**vrf, key.as_bytes())).copied()
    }

    /// A peer unlike the one in `place` last time: the table is built from here on, with
    /// the peers before it (all as last time) first.
    fn add(&mut self, place: usize, peer: Peer) -> Option<()> {
        let table = match &mut self.table {
            Some(table) => table,
            None => {
                let mut table = as_before(self.last, place)?;
                table.reserve(self.expected);
                self.table.insert(table)
            }
        };
        table.insert(peer);
        Some(())
    }
}

/// The summary as [`SummarySeed`] reads it, refusing (`None`) where that one fails and
/// wherever the cursor refuses; a key it reads twice is refused too.
fn scan_summary(cursor: &mut Cursor, peers: &mut Peers) -> Option<()> {
    let mut seen_vrfs = false;
    cursor.object(|cursor, key| match key {
        "vrfs" if !seen_vrfs => {
            seen_vrfs = true;
            cursor.object(|cursor, name| scan_vrf(cursor, Arc::from(name), peers))
        }
        "vrfs" => None,
        _ => cursor.skip(),
    })?;
    seen_vrfs.then_some(())
}

fn scan_vrf(cursor: &mut Cursor, vrf: Vrf, peers: &mut Peers) -> Option<()> {
    let mut seen_peers = false;
    cursor.object(|cursor, key| match key {
        "peers" if !seen_peers => {
            seen_peers = true;
            cursor.members(|cursor| peers.read(cursor, &vrf))
        }
        "peers" => None,
        _ => cursor.skip(),
    })
}

/// One peer as [`PeerSummary`]'s `Deserialize` reads it; where the numbers it does not read
/// are, relative to `start`, go to `unread`.
fn scan_peer(
    cursor: &mut Cursor,
    start: usize,
    unread: &mut Vec<(u32, u32)>,
) -> Option<PeerSummary> {
    fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
        match slot {
            Some(_) => None,
            None => {
                *slot = Some(value?);
                Some(())
            }
        }
    }
    let mut state = None;
    let mut up_down_time = None;
    let mut asn = None;
    let mut idle_reason = None;
    let offset = |cursor: &Cursor| u32::try_from(cursor.position() - start).ok();
    cursor.object(|cursor, key| match PeerField::of(key) {
        PeerField::State => once(&mut state, cursor.str().map(PeerState::parse)),
        PeerField::UpDownTime => once(&mut up_down_time, scan_time(cursor)),
        PeerField::Asn => once(&mut asn, scan_asn(cursor)),
        PeerField::IdleReason => once(
            &mut idle_reason,
            match cursor.null() {
                true => Some(None),
                false => cursor.str().map(|text| Some(text.to_owned())),
            },
        ),
        PeerField::Other => match cursor.peek()? {
            b'-' | b'0'..=b'9' => {
                let from = offset(cursor)?;
                cursor.number()?;
                unread.push((from, offset(cursor)?));
                Some(())
            }
            _ => cursor.skip(),
        },
    })?;
    Some(PeerSummary {
        state: state?,
        up_down_time: up_down_time.flatten(),
        asn: asn.flatten(),
        idle_reason: idle_reason.flatten(),
    })
}

/// `upDownTime` as [`Number`] reads it: a number, numeric text, or `null`.
fn scan_time(cursor: &mut Cursor) -> Option<Option<f64>> {
    match cursor.peek()? {
        b'n' => cursor.null().then_some(None),
        b'"' => Some(Number::from_text(cursor.str()?).0),
        _ => Some(Some(exact_f64(cursor.number()?)?)),
    }
}

/// A JSON number that `serde_json` converts exactly (its significand below 2^53 and its power
/// of ten within ±22, both exact in an `f64`, so one rounding), and so to the value the standard
/// parser gives; `None` for any other, which the general path then reads as `serde_json` does.
/// EOS's times (`1721080527.052693`) are all of the first kind.
fn exact_f64(number: &str) -> Option<f64> {
    let (mantissa, exponent) = number.split_once(['e', 'E']).unwrap_or((number, "0"));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut significand = 0u64;
    for digit in whole.bytes().chain(fraction.bytes()) {
        if digit.is_ascii_digit() {
            significand = significand
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
    }
    let exponent = exponent
        .parse::<i32>()
        .ok()?
        .checked_sub(i32::try_from(fraction.len()).ok()?)?;
    if significand >= 1 << 53 || exponent.abs() > 22 {
        return None;
    }
    number.parse().ok()
}

/// `asn` as [`Asn`] reads it, but only in the forms EOS writes (text, or a non-negative
/// integer, whose JSON spelling is the one `Asn` keeps) and `null`.
fn scan_asn(cursor: &mut Cursor) -> Option<Option<Asn>> {
    match cursor.peek()? {
        b'n' => cursor.null().then_some(None),
        b'"' => Some(Some(Asn::new(cursor.str()?))),
        _ => {
            let text = cursor.number()?;
            text.parse::<u64>().ok()?;
            Some(Some(Asn::new(text)))
        }
    }
}

/// `{"vrfs": {...}, ...}`: `vrfs` is required, anything else is ignored.
struct SummarySeed<'o> {
    out: &'o mut Sessions,
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
    out: &'o mut Sessions,
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
    out: &'o mut Sessions,
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
    out: &'o mut Sessions,
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
            self.out.insert(peer.into_peer(self.vrf, addr));
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

impl PeerSummary {
    fn into_peer(self, vrf: &Vrf, addr: PeerAddr) -> Peer {
        Peer {
            vrf: vrf.clone(),
            addr,
            state: self.state,
            up_down_time: self.up_down_time,
            asn: self.asn,
            idle_reason: self.idle_reason,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        #[test]
        fn arbitrary_text_as_a_summary_never_panics(text in ".{0,200}") {
            let _ = PeerTable::from_summaries([text.as_str()]);
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

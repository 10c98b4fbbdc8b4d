//! The BGP summary commands and their parser. Tolerant as spec §2.3 asks (number-or-string
//! `asn` and `upDownTime`, link-local keys with a `%Interface` scope, unknown fields ignored,
//! open `peerState`), it goes straight from the reply text into the table with borrowed keys,
//! without a `serde_json::Value` tree.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::fields::{Number, Text};
use super::{Asn, Peer, PeerAddr, PeerState, PeerTable, Vrf};
use crate::eapi::Command;

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
pub(super) fn parse_summary_into(text: &str, out: &mut PeerTable) -> Result<(), serde_json::Error> {
    // A summary peer is 227–300 bytes of JSON; sizing up front (erring high, since untouched
    // capacity costs nothing) avoids regrowing the table and rehashing the index.
    let expected = text.len() / 192;
    out.reserve(expected);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    SummarySeed { out }.deserialize(&mut deserializer)?;
    deserializer.end()
}

/// Reads a reply whose first result is a summary into `out`, in one pass over the body;
/// `None` when the reply is not plainly that (see [`crate::eapi::Body::first_result_with`]).
pub(super) fn summary_from_body(body: &crate::eapi::Body, out: &mut PeerTable) -> Option<()> {
    out.reserve(body.len() / 192);
    body.first_result_with(SummarySeed { out })
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

//! The [`PeerTable`]: every session on the switch, looked up by peer IP in O(1).
//!
//! A `PeerTable` exists only as the product of a successful read: there is no `Default` and no
//! public constructor, and a failed read is an `Err(EapiError)`. So "no peers" can never be
//! confused with "could not look", which matters because an absent peer is evidence of `Down`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::summary::{parse_summary_into, summary_from_body, SummaryMemo};
use super::{Peer, PeerAddr, PeerKey, PeerState};
use crate::eapi::{self, Command, CommandOutcome, EapiError, Reply};
use crate::fasthash::FastHash;

/// Every BGP session on the switch, looked up by peer IP in O(1). A clone shares the sessions
/// until either is changed: a poll at rest hands out the table of the poll before.
#[derive(Debug, Clone)]
pub struct PeerTable {
    sessions: Arc<Sessions>,
}

/// The sessions of a [`PeerTable`], and the table while a read builds it.
#[derive(Debug, Clone)]
pub(super) struct Sessions {
    /// In the order read.
    peers: Vec<Peer>,
    /// IP → position of its first session in `peers`.
    first: HashMap<IpAddr, usize, FastHash>,
    /// Per session, the position of the next session to the same IP (other VRF or scope).
    /// A chain instead of sorting keeps building linear; chains are almost always length 1.
    next: Vec<Option<usize>>,
    /// [`PeerTable::sessions_digest`], once asked (a reading's is asked more than once, and a
    /// table handed out again at rest keeps it); emptied by every change.
    digest: OnceLock<u64>,
}

impl From<Sessions> for PeerTable {
    fn from(sessions: Sessions) -> Self {
        PeerTable {
            sessions: Arc::new(sessions),
        }
    }
}

impl PeerTable {
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
            return Ok(Sessions::with_capacity(0).into());
        }
        let mut sessions = Sessions::with_capacity(0);
        for index in summaries {
            let raw = reply.result(index)?;
            let command = reply
                .commands()
                .get(index)
                .map(Command::text)
                .unwrap_or_default();
            let text = eapi::result_text(command, raw)?;
            parse_summary_into(&text, &mut sessions)
                .map_err(|err| eapi::model_error(command, err))?;
        }
        Ok(sessions.into())
    }

    /// Builds the table from the reply to a request of summary commands only: in one pass over
    /// the body when it is one command answered with a plain result (read against the last
    /// such reply in `memo`, which it then replaces), else as
    /// [`PeerTable::from_reply`] does (several summaries, an error reply, "BGP inactive" and
    /// every malformed shape are read, and named, there).
    pub fn from_summary_body(body: eapi::Body, memo: &mut SummaryMemo) -> Result<Self, EapiError> {
        let body = match body.commands().len() {
            1 => match summary_from_body(body, memo) {
                Ok((table, _)) => return Ok(table),
                Err(body) => body,
            },
            _ => body,
        };
        let reply = body.decode()?;
        Self::from_reply(&reply, 0..reply.commands().len())
    }

    /// Builds the table from summary result texts (one per command), as EOS sent them.
    pub fn from_summaries<'a>(
        summaries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, EapiError> {
        let mut sessions = Sessions::with_capacity(0);
        for text in summaries {
            parse_summary_into(text, &mut sessions)
                .map_err(|err| eapi::model_error("BGP summary", err))?;
        }
        Ok(sessions.into())
    }

    /// Applies a state the event stream reported, changed at `at`; a session the table does not
    /// hold is added (its AS and idle reason are the next poll's). Returns whether the session
    /// went from or to Established.
    pub fn set_state(&mut self, key: &PeerKey, state: PeerState, at: SystemTime) -> bool {
        let up_down_time = at
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|since| since.as_secs_f64());
        let position = self.chain(key.addr.ip).find(|&position| {
            let peer = &self.sessions.peers[position];
            peer.vrf == key.vrf && peer.addr == key.addr
        });
        let Some(position) = position else {
            let established = state.is_established();
            self.sessions_mut().insert(Peer {
                vrf: key.vrf.clone(),
                addr: key.addr.clone(),
                state,
                up_down_time,
                asn: None,
                idle_reason: None,
            });
            return established;
        };
        let peer = &self.sessions.peers[position];
        let changed = peer.state.is_established() != state.is_established();
        if peer.state != state {
            let peer = &mut self.sessions_mut().peers[position];
            peer.state = state;
            peer.up_down_time = up_down_time;
            peer.idle_reason = None;
        }
        changed
    }

    /// Removes a session the event stream reported deleted; whether the table held it.
    pub fn remove(&mut self, key: &PeerKey) -> bool {
        let gone = |peer: &Peer| peer.vrf == key.vrf && peer.addr == key.addr;
        if !self.sessions.peers.iter().any(gone) {
            return false;
        }
        let sessions = self.sessions_mut();
        let mut kept = std::mem::take(&mut sessions.peers);
        kept.retain(|peer| !gone(peer));
        // Rare (a peer unconfigured): rebuilding the index is simpler than unlinking a chain.
        sessions.first.clear();
        sessions.next.clear();
        for peer in kept {
            sessions.insert(peer);
        }
        true
    }

    /// The sessions to change: this table's own (a copy, while they are shared), with their
    /// digest emptied.
    fn sessions_mut(&mut self) -> &mut Sessions {
        let sessions = Arc::make_mut(&mut self.sessions);
        sessions.digest.take();
        sessions
    }

    /// Positions of the sessions to `ip`, in chain order.
    fn chain(&self, ip: IpAddr) -> impl Iterator<Item = usize> + '_ {
        let mut cursor = self.sessions.first.get(&ip).copied();
        std::iter::from_fn(move || {
            let position = cursor?;
            cursor = self.sessions.next.get(position).copied().flatten();
            Some(position)
        })
    }

    /// Every session to `ip`, across VRFs and link-local scopes; none when there is none.
    pub fn lookup(&self, ip: IpAddr) -> impl Iterator<Item = &Peer> {
        self.chain(ip)
            .filter_map(|position| self.sessions.peers.get(position))
    }

    /// The session to `addr` in `vrf`.
    pub fn get(&self, vrf: &str, addr: &PeerAddr) -> Option<&Peer> {
        self.lookup(addr.ip)
            .find(|peer| &*peer.vrf == vrf && peer.addr == *addr)
    }

    /// The session `position`th in the order read.
    pub(super) fn in_order(&self, position: usize) -> Option<&Peer> {
        self.sessions.peers.get(position)
    }

    /// All sessions, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.sessions.peers.iter()
    }

    /// The number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.peers.len()
    }

    /// Which sessions there are and their states, as one number: equal digests mean (but for
    /// a 2^-64 chance) that no session appeared, went or changed state. Counters and timers
    /// are left out: they change on every reading. FastHash rather than SipHash, which was a
    /// share of every poll's CPU: each of its steps is a bijection of the input word, so one
    /// session going from one known state to another always changes the digest.
    pub fn sessions_digest(&self) -> u64 {
        *self.sessions.digest.get_or_init(|| {
            use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
            let mut hasher = FastHash::default().build_hasher();
            self.sessions.peers.len().hash(&mut hasher);
            for peer in &self.sessions.peers {
                peer.vrf.hash(&mut hasher);
                peer.addr.hash(&mut hasher);
                peer.state.hash(&mut hasher);
            }
            hasher.finish()
        })
    }

    /// True when the switch has no BGP sessions (a successful read that found none).
    pub fn is_empty(&self) -> bool {
        self.sessions.peers.is_empty()
    }
}

impl Sessions {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Sessions {
            peers: Vec::with_capacity(capacity),
            first: HashMap::with_capacity_and_hasher(capacity, FastHash::default()),
            next: Vec::with_capacity(capacity),
            digest: OnceLock::new(),
        }
    }

    /// Room for `additional` more sessions, so a parse does not regrow the table and rehash.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.peers.reserve(additional);
        self.next.reserve(additional);
        self.first.reserve(additional);
    }

    pub(super) fn insert(&mut self, peer: Peer) {
        self.digest.take();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A table as a sorted listing, or the error's text.
    fn listed(table: Result<PeerTable, EapiError>) -> Result<Vec<String>, String> {
        table
            .map(|table| {
                let mut peers: Vec<String> = table.iter().map(|peer| format!("{peer:?}")).collect();
                peers.sort();
                peers
            })
            .map_err(|error| error.to_string())
    }

    /// `text` as the reply to a poll's request.
    fn poll_reply<'r>(request: &'r eapi::Request, text: &str) -> eapi::Body<'r> {
        eapi::Body::new(request, text.as_bytes().to_vec())
    }

    fn poll_request() -> eapi::Request {
        eapi::Request::new().commands([super::super::ipv4_summary_command()])
    }

    /// What a reply body reads as: by the one-pass path when it applies, and by the general
    /// path (outcomes, then results), which must agree with it on every body.
    fn read_both_ways(text: &str) -> (bool, Result<Vec<String>, String>) {
        let request = poll_request();
        let one_pass =
            summary_from_body(poll_reply(&request, text), &mut SummaryMemo::default()).is_ok();
        let read = listed(PeerTable::from_summary_body(
            poll_reply(&request, text),
            &mut SummaryMemo::default(),
        ));
        let general = listed(
            poll_reply(&request, text)
                .decode()
                .and_then(|reply| PeerTable::from_reply(&reply, 0..1)),
        );
        assert_eq!(read, general, "{text}");
        (one_pass, read)
    }

    fn envelope(result: &str) -> String {
        format!(r#"{{"jsonrpc": "2.0", "id": "x", "result": [{result}]}}"#)
    }

    #[test]
    fn a_plain_summary_reply_is_read_in_one_pass_as_the_general_path_reads_it() {
        for sample in [
            include_str!("../../tests/fixtures/eos/napalm-2024-show_ip_bgp_summary_vrf_all.json"),
            include_str!(
                "../../tests/fixtures/eos/napalm-eos4.30.5M-asdot-linklocal-show_ip_bgp_summary_vrf_all.json"
            ),
            include_str!("../../tests/fixtures/eos/napalm-nobgp-show_ip_bgp_summary_vrf_all.json"),
        ] {
            let (one_pass, read) = read_both_ways(&envelope(sample));
            assert!(one_pass);
            let expected = PeerTable::from_summaries([sample]).unwrap().len();
            assert_eq!(read.unwrap().len(), expected);
        }
    }

    /// `text` `seconds` later under `timers bgp 1 3`: every message counter moved on.
    fn counters_moved(text: &str, seconds: u64) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = ["\"msgSent\": ", "\"msgReceived\": "]
            .iter()
            .filter_map(|field| rest.find(field).map(|at| at + field.len()))
            .min()
        {
            let digits = rest[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
            let count: u64 = rest[at..at + digits].parse().unwrap();
            out.push_str(&rest[..at]);
            out.push_str(&(count + seconds).to_string());
            rest = &rest[at + digits..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn a_recorded_reply_a_few_seconds_on_is_taken_as_it_was() {
        let request = poll_request();
        for sample in [
            include_str!("../../tests/fixtures/eos/napalm-2024-show_ip_bgp_summary_vrf_all.json"),
            include_str!(
                "../../tests/fixtures/eos/napalm-eos4.30.5M-asdot-linklocal-show_ip_bgp_summary_vrf_all.json"
            ),
        ] {
            let mut memo = SummaryMemo::default();
            let first = envelope(sample);
            let (table, _) = summary_from_body(poll_reply(&request, &first), &mut memo).ok().unwrap();
            // 4 to 13, 23 to 32, ...: counters grow, some by a digit.
            let later = envelope(&counters_moved(sample, 9));
            assert_ne!(later, first);
            let (again, taken) = summary_from_body(poll_reply(&request, &later), &mut memo).ok().unwrap();
            assert_eq!(taken, table.len());
            assert!(Arc::ptr_eq(&table.sessions, &again.sessions));
        }
    }

    #[test]
    fn numbers_the_fast_reader_cannot_round_as_serde_json_does_read_the_same() {
        let peer = |time: &str| {
            envelope(&format!(
                r#"{{"vrfs": {{"d": {{"peers": {{"10.0.0.1": {{"peerState": "Idle", "upDownTime": {time}}}}}}}}}}}"#
            ))
        };
        for (time, fast) in [
            ("1721080527.052693", true),
            ("-0", true),
            ("1.5e-7", true),
            ("123456789012345678901234", false),
            ("1e-30", false),
            ("1e400", false),
        ] {
            let (one_pass, read) = read_both_ways(&peer(time));
            assert_eq!(one_pass, fast, "{time}");
            assert_eq!(read.is_ok(), time != "1e400", "{time}");
        }
    }

    #[test]
    fn a_reply_to_both_summaries_reads_both() {
        let request = eapi::Request::new().commands(super::super::summary_commands());
        let v4 = r#"{"vrfs": {"default": {"peers": {"10.0.0.1": {"peerState": "Idle"}}}}}"#;
        let v6 = r#"{"vrfs": {"default": {"peers": {"2001:db8::1": {"peerState": "Idle"}}}}}"#;
        let text = format!(r#"{{"jsonrpc": "2.0", "id": "x", "result": [{v4}, {v6}]}}"#);
        let body = eapi::Body::new(&request, text.into_bytes());
        let read = PeerTable::from_summary_body(body, &mut SummaryMemo::default());
        assert_eq!(read.unwrap().len(), 2);
    }

    #[test]
    fn any_other_reply_falls_back_to_the_general_path_and_reads_the_same() {
        let inactive = r#"{"jsonrpc": "2.0", "id": "x", "error": {"code": 1000, "message": "CLI command 1 of 1 'show ip bgp summary vrf all' failed: could not run command", "data": [{"errors": ["BGP inactive"]}]}}"#;
        let (one_pass, read) = read_both_ways(inactive);
        assert!(!one_pass);
        assert_eq!(read, Ok(vec![]), "BGP inactive is no sessions");
        for body in [
            // A string-encoded result (spec §1.4).
            envelope(r#""{\"vrfs\": {\"default\": {\"peers\": {\"10.0.0.1\": {\"peerState\": \"Idle\"}}}}}""#),
            envelope("{}"),
            envelope(r#"{"vrfs": {"default": {"peers": {"not-an-address": {"peerState": "Idle"}}}}}"#),
            envelope(r#"{"vrfs": {}}, 7"#).replace("]}", "]} trailing"),
            r#"{"jsonrpc": "2.0", "id": "x", "result": [{"vrfs": {}}], "error": {"code": 1002, "message": "m", "data": [{"errors": ["e"]}]}}"#.to_owned(),
            r#"{"jsonrpc": "2.0", "id": "x", "error": {"code": -32600, "message": "Invalid request"}}"#.to_owned(),
            r#"{"jsonrpc": "2.0", "id": "x", "result": []}"#.to_owned(),
            "not json".to_owned(),
        ] {
            let (one_pass, _) = read_both_ways(&body);
            assert!(!one_pass, "{body}");
        }
        let (_, read) = read_both_ways(&envelope(
            r#""{\"vrfs\": {\"default\": {\"peers\": {\"10.0.0.1\": {\"peerState\": \"Idle\"}}}}}""#,
        ));
        assert_eq!(
            read.unwrap().len(),
            1,
            "the string-encoded result still reads"
        );
    }

    #[test]
    fn a_clone_shares_the_sessions_until_either_changes() {
        let text = r#"{"vrfs":{"a":{"peers":{"10.0.0.1":{"peerState":"Idle"},"10.0.0.3":{"peerState":"Established"}}}}}"#;
        let table = PeerTable::from_summaries([text]).unwrap();
        let mut clone = table.clone();
        assert!(Arc::ptr_eq(&table.sessions, &clone.sessions));
        let key = PeerKey {
            vrf: "a".into(),
            addr: "10.0.0.1".parse().unwrap(),
        };
        assert!(clone.set_state(&key, PeerState::Established, UNIX_EPOCH));
        assert!(!Arc::ptr_eq(&table.sessions, &clone.sessions));
        assert_ne!(table.sessions_digest(), clone.sessions_digest());
        let state = |table: &PeerTable| table.get("a", &key.addr).unwrap().state.clone();
        assert_eq!(
            (state(&table), state(&clone)),
            (PeerState::Idle, PeerState::Established)
        );
        let mut clone = table.clone();
        assert!(clone.remove(&key));
        assert_eq!((table.len(), clone.len()), (2, 1));
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
    fn stream_changes_update_add_and_remove_sessions_keeping_lookups_right() {
        let text = r#"{"vrfs":{"a":{"peers":{"10.0.0.1":{"peerState":"Idle"},"10.0.0.3":{"peerState":"Established"}}},"b":{"peers":{"10.0.0.1":{"peerState":"Established"}}}}}"#;
        let mut table = PeerTable::from_summaries([text]).unwrap();
        let key = |vrf: &str, addr: &str| PeerKey {
            vrf: vrf.into(),
            addr: addr.parse().unwrap(),
        };
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let idle = table.sessions_digest();
        assert!(table.set_state(&key("a", "10.0.0.1"), PeerState::Established, at));
        let established = table.sessions_digest();
        assert_ne!(
            idle, established,
            "a change is a new digest, not the one kept"
        );
        assert!(!table.set_state(&key("a", "10.0.0.1"), PeerState::Established, at));
        assert_eq!(table.sessions_digest(), established);
        let peer = table.get("a", &"10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            (&peer.state, peer.up_down_time),
            (&PeerState::Established, Some(1_700_000_000.0))
        );
        assert!(
            !table.set_state(&key("b", "10.0.0.5"), PeerState::Active, at),
            "a new session, not established"
        );
        assert_eq!(table.len(), 4);

        let four = table.sessions_digest();
        assert!(table.remove(&key("a", "10.0.0.1")));
        assert_ne!(table.sessions_digest(), four);
        assert!(!table.remove(&key("a", "10.0.0.1")));
        assert_eq!(table.len(), 3);
        let left: Vec<&str> = table
            .lookup("10.0.0.1".parse().unwrap())
            .map(|peer| &*peer.vrf)
            .collect();
        assert_eq!(left, ["b"]);
        assert!(table.get("a", &"10.0.0.3".parse().unwrap()).is_some());
        assert!(table.get("b", &"10.0.0.5".parse().unwrap()).is_some());
    }

    /// A field's value as EOS might write it (or as it must not), and whether the fast reader
    /// is meant to take it; mostly the former, so that whole replies are often plain.
    fn field_value(name: &'static str) -> impl Strategy<Value = (String, bool)> {
        let (plain, other): (&[&str], &[&str]) = match name {
            "peerState" => (
                &[r#""Established""#, r#""Idle""#, r#""Bizarre""#],
                &[r#""Est\u0061blished""#, "null", "1"],
            ),
            "upDownTime" => (
                &[
                    r#""1721080527.5""#,
                    r#"" 12 ""#,
                    r#""x""#,
                    "null",
                    "-0",
                    "1.5e-7",
                ],
                // The last two read, but not on the fast path: no exact `f64` in one rounding.
                &["1e400", "true", "01", "123456789012345678901234", "1e-30"],
            ),
            "asn" => (
                &[r#""65001""#, r#""65001.1028""#, "65002", "null"],
                &["-5", "1.5", "18446744073709551616", "true"],
            ),
            "peerStateIdleReason" => (&[r#""Admin""#, "null"], &[r#""a\nb""#, "3"]),
            _ => (
                &[
                    "123",
                    r#""a \"q\" \u00e9 \/""#,
                    r#"{"a": [1, {"b": null}, -2.5e-3], "c": true}"#,
                    "[]",
                ],
                &["01", r#""\ud800""#],
            ),
        };
        let pick = |texts: &[&str], plain: bool| {
            let texts: Vec<(String, bool)> = texts.iter().map(|t| (t.to_string(), plain)).collect();
            proptest::sample::select(texts)
        };
        let numbers = match name {
            "upDownTime" => prop_oneof![
                // Taken on the fast path or not, as the number allows; read the same either way.
                any::<f64>().prop_map(|f| (serde_json::Value::from(f).to_string(), false)),
                any::<i64>().prop_map(|i| (i.to_string(), i.unsigned_abs() < 1 << 53)),
                // EOS's own form: epoch seconds to the microsecond.
                (0u64..1 << 33).prop_map(|n| (format!("{}.{:06}", n, n % 999_999), true)),
            ]
            .boxed(),
            _ => pick(plain, true).boxed(),
        };
        prop_oneof![12 => pick(plain, true), 6 => numbers, 1 => pick(other, false)]
    }

    /// A summary reply of a few peers in a few VRFs, each peer's fields in any order, a field
    /// sometimes missing or written twice; with whether every part is one the fast reader takes.
    fn summary_reply() -> impl Strategy<Value = (String, bool)> {
        const FIELDS: [&str; 6] = [
            "peerState",
            "upDownTime",
            "asn",
            "peerStateIdleReason",
            "msgSent",
            "description",
        ];
        let names = (
            proptest::sample::subsequence(FIELDS[1..].to_vec(), 0..=5),
            proptest::bool::weighted(0.95),
            proptest::bool::weighted(0.05),
        )
            .prop_flat_map(|(mut names, state, twice)| {
                if state {
                    names.push("peerState");
                }
                if twice && !names.is_empty() {
                    names.push(names[0]);
                }
                Just(names).prop_shuffle()
            });
        let fields = names.prop_flat_map(|names| {
            names
                .into_iter()
                .map(|name| field_value(name).prop_map(move |(v, plain)| (name, v, plain)))
                .collect::<Vec<_>>()
        });
        let peer = (
            prop_oneof![
                16 => proptest::sample::select(vec!["10.0.0.1", "10.0.0.2", "169.254.0.1", "fe80::1%Et1", "2001:db8::1"]).prop_map(|k| (k, true)),
                1 => proptest::sample::select(vec!["bogus", r#"10.0.0.\u0033"#]).prop_map(|k| (k, false)),
            ],
            fields,
        )
            .prop_map(|((key, key_plain), fields)| {
                let mut names: Vec<&str> = fields.iter().map(|(name, _, _)| *name).collect();
                names.sort();
                let unique = names.windows(2).all(|pair| pair[0] != pair[1]);
                let plain = key_plain
                    && unique
                    && names.contains(&"peerState")
                    && fields.iter().all(|(_, _, plain)| *plain);
                let body: Vec<String> = fields
                    .iter()
                    .map(|(name, value, _)| format!(r#""{name}": {value}"#))
                    .collect();
                (format!(r#""{key}": {{{}}}"#, body.join(",\n  ")), plain)
            });
        let vrf = (
            prop_oneof![
                16 => proptest::sample::select(vec!["default", "vrf1"]).prop_map(|n| (n, true)),
                1 => Just((r#"v\u0032"#, false)),
            ],
            proptest::collection::vec(peer, 0..4),
            any::<bool>(),
        )
            .prop_map(|((name, name_plain), peers, extra)| {
                let plain = name_plain && peers.iter().all(|(_, plain)| *plain);
                let listed: Vec<&str> = peers.iter().map(|(text, _)| text.as_str()).collect();
                let extra = if extra {
                    r#""routerId": "192.0.2.1", "#
                } else {
                    ""
                };
                (
                    format!(r#""{name}": {{{extra}"peers": {{{}}}}}"#, listed.join(",")),
                    plain,
                )
            });
        proptest::collection::vec(vrf, 0..3).prop_map(|vrfs| {
            let plain = vrfs.iter().all(|(_, plain)| *plain);
            let listed: Vec<&str> = vrfs.iter().map(|(text, _)| text.as_str()).collect();
            let summary = format!(r#"{{"vrfs": {{{}}}}}"#, listed.join(", "));
            (
                format!(r#"{{"jsonrpc": "2.0", "id": "x", "result": [{summary}]}}"#),
                plain,
            )
        })
    }

    /// A reply of `peers` sessions written as EOS writes them, at `now` (seconds of
    /// keepalives every session has exchanged), with the sessions in `down` Active.
    fn eos_reply(peers: usize, now: u64, down: &[usize]) -> String {
        eos_reply_listing(0..peers, now, down)
    }

    /// The same, listing the sessions in the order of `listing`.
    fn eos_reply_listing(listing: impl Iterator<Item = usize>, now: u64, down: &[usize]) -> String {
        let peers: Vec<String> = listing
            .map(|i| {
                let up = !down.contains(&i);
                let (state, sent) = if up { ("Established", now + 4) } else { ("Active", 0) };
                format!(
                    r#""169.254.{}.{}": {{"version": 4, "msgReceived": {}, "msgSent": {sent}, "inMsgQueue": 0, "outMsgQueue": 0, "asn": "65000", "prefixAccepted": 1, "prefixReceived": 1, "upDownTime": 1764595123.{:06}, "underMaintenance": false, "peerState": "{state}"}}"#,
                    i / 128,
                    i % 128 * 2 + 1,
                    sent + 1,
                    i * 7919 % 1_000_000,
                )
            })
            .collect();
        format!(
            r#"{{"jsonrpc": "2.0", "id": "x", "result": [{{"vrfs": {{"vrf1": {{"routerId": "192.0.2.1", "peers": {{{}}}, "vrf": "vrf1", "asn": "65342"}}}}}}]}}"#,
            peers.join(", ")
        )
    }

    #[test]
    fn a_poll_at_rest_takes_every_peer_as_it_was_and_reads_a_change() {
        let request = poll_request();
        let mut memo = SummaryMemo::default();
        let mut before: Option<PeerTable> = None;
        let mut read = |text: &str| {
            let (table, taken) =
                summary_from_body(poll_reply(&request, text), &mut memo).map_err(|_| "refused")?;
            let alone = listed(PeerTable::from_summary_body(
                poll_reply(&request, text),
                &mut SummaryMemo::default(),
            ));
            assert!(listed(Ok(table.clone())) == alone, "read as alone");
            // The table before is handed out again exactly when every peer is as before and in
            // the same order, with its digest.
            let in_order = |table: &PeerTable| {
                let peers = table.iter().map(|peer| format!("{peer:?}"));
                peers.collect::<Vec<_>>()
            };
            if let Some(before) = before.replace(table.clone()) {
                let same = taken == table.len() && in_order(&before) == in_order(&table);
                assert_eq!(Arc::ptr_eq(&before.sessions, &table.sessions), same);
                assert_eq!(table.sessions.digest.get().is_some(), same);
            }
            table.sessions_digest();
            // The daemon changes its copy (the event stream): the memo's must not change.
            let mut changed = table;
            let first = changed.iter().next().map(Peer::key);
            if let Some(key) = first {
                changed.set_state(&key, PeerState::Idle, UNIX_EPOCH);
            }
            Ok(taken)
        };
        assert_eq!(
            read(&eos_reply(300, 5, &[])),
            Ok(0),
            "nothing to read against"
        );
        // Every session's counters moved, 99 to 100 among them.
        assert_eq!(read(&eos_reply(300, 96, &[])), Ok(300));
        assert_eq!(read(&eos_reply(300, 97, &[])), Ok(300));
        assert_eq!(read(&eos_reply(300, 98, &[7, 250])), Ok(298));
        assert_eq!(read(&eos_reply(300, 99, &[7, 250])), Ok(300));
        // The last session gone, and back: the others are still taken.
        assert_eq!(read(&eos_reply(299, 100, &[7, 250])), Ok(299));
        assert_eq!(read(&eos_reply(300, 101, &[7, 250])), Ok(299));
        // The same sessions in another VRF: taken, and in that VRF.
        let moved = eos_reply(300, 101, &[7, 250]).replace(r#""vrf1": {"#, r#""vrf2": {"#);
        assert_eq!(read(&moved), Ok(300));
        assert_eq!(read(&eos_reply(300, 101, &[7, 250])), Ok(300));
        assert_eq!(read("not json"), Err("refused"));
        assert_eq!(
            read(&eos_reply(300, 102, &[7, 250])),
            Ok(300),
            "a refused reply leaves the last reading"
        );
        // Listed in another order (whether EOS keeps its order is not established): every
        // session is taken by its VRF and key, and the table built in the new order.
        let reversed = eos_reply_listing((0..300).rev(), 103, &[7, 250]);
        assert_eq!(read(&reversed), Ok(300));
        assert_eq!(read(&eos_reply(300, 104, &[7, 250])), Ok(300));
        // A session added at the front: the others are taken by key.
        let added = eos_reply_listing((0..301).map(|i| (i + 300) % 301), 105, &[7, 250]);
        assert_eq!(read(&added), Ok(300));
        // Session 7 comes up: it alone is read.
        assert_eq!(read(&eos_reply(300, 106, &[250])), Ok(299));
    }

    /// `text` with each edit applied: one character replaced, inserted or removed, mostly at a
    /// digit (where a poll's reply changes at rest), else anywhere.
    fn edited(text: &str, edits: &[(u8, proptest::sample::Index, char)]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for (kind, place, with) in edits {
            let digits: Vec<usize> = (0..chars.len())
                .filter(|&i| chars[i].is_ascii_digit())
                .collect();
            let digit = (!digits.is_empty()).then(|| digits[place.index(digits.len())]);
            let anywhere = place.index(chars.len() + 1);
            let some_digit = char::from(b'0' + (anywhere % 10) as u8);
            match (kind, digit) {
                (0, Some(at)) => chars[at] = some_digit,
                (1, Some(at)) => chars.insert(at, some_digit),
                (2, Some(at)) => {
                    chars.remove(at);
                }
                (3, _) if anywhere < chars.len() => chars[anywhere] = *with,
                _ => chars.insert(anywhere, *with),
            }
        }
        chars.into_iter().collect()
    }

    proptest::proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The fast reader takes every plainly written reply, and whatever it takes reads as
        /// the general path reads it ([`read_both_ways`] checks that on every reply).
        #[test]
        fn any_summary_reads_the_same_by_either_path((text, plain) in summary_reply()) {
            let (one_pass, _) = read_both_ways(&text);
            prop_assert!(one_pass || !plain, "{text}");
        }

        /// A reply read against the one before reads as it does alone, however the two differ.
        #[test]
        fn a_reply_read_against_the_one_before_reads_as_it_does_alone(
            (first, _) in summary_reply(),
            edits in proptest::collection::vec(
                (0u8..5, any::<proptest::sample::Index>(), proptest::sample::select(
                    vec!['0', '7', '.', '-', 'e', ' ', '"', ',', ':', '}', '{', ']', 'x', '\\'],
                )),
                0..6,
            ),
        ) {
            let second = edited(&first, &edits);
            let request = poll_request();
            let alone = |text: &str| {
                listed(PeerTable::from_summary_body(poll_reply(&request, text), &mut SummaryMemo::default()))
            };
            let mut memo = SummaryMemo::default();
            let mut against = |text: &str| {
                listed(PeerTable::from_summary_body(poll_reply(&request, text), &mut memo))
            };
            prop_assert_eq!(against(&first), alone(&first));
            prop_assert_eq!(against(&second), alone(&second), "{}\n{}", first, second);
            prop_assert_eq!(against(&first), alone(&first), "{}\n{}", second, first);
        }

        /// What lets a poll skip its decision on an equal digest: one session changing from one
        /// known state to another is never missed, whatever the other sessions are.
        #[test]
        fn one_session_changing_state_always_changes_the_digest(
            states in proptest::collection::vec(0usize..6, 1..300),
            which in proptest::prelude::any::<proptest::sample::Index>(),
            shift in 1usize..6,
        ) {
            const NAMES: [&str; 6] = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"];
            let summary = |states: &[usize]| {
                let peers: Vec<String> = states
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!(r#""10.{}.{}.1":{{"peerState":"{}"}}"#, i / 256, i % 256, NAMES[*s]))
                    .collect();
                format!(r#"{{"vrfs":{{"default":{{"peers":{{{}}}}}}}}}"#, peers.join(","))
            };
            let before = PeerTable::from_summaries([summary(&states).as_str()]).unwrap();
            let mut changed = states.clone();
            let i = which.index(states.len());
            changed[i] = (changed[i] + shift) % NAMES.len();
            let after = PeerTable::from_summaries([summary(&changed).as_str()]).unwrap();
            proptest::prop_assert_ne!(before.sessions_digest(), after.sessions_digest());
        }
    }
}

//! EosSdkRpc's BGP messages (package `eos.remote`), written by hand from the interface facts of
//! eos.md §9 item 8 so that no `protoc` and no build script is needed, and its interface
//! messages from `intf.proto` of Arista's public repository (aristanetworks/eossdkrpc), in the
//! current shape and in the older one a switch may still serve. Field numbers and enum
//! values are the spec's; the unit tests pin the wire bytes computed from those numbers by hand,
//! so a wrong tag shows as a byte, not as an agreement between two copies of the same mistake.
//!
//! These are the simulator's own copies: the agent has its own, written separately from the same
//! facts.

/// `BgpPeerKey { string vrf_name = 1; string peer_addr = 2; }`: the VRF and the peer address as
/// `show ip bgp summary` keys them (`169.254.0.1`, `fe80::1%Et3`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct BgpPeerKey {
    #[prost(string, tag = "1")]
    pub vrf_name: String,
    #[prost(string, tag = "2")]
    pub peer_addr: String,
}

/// `enum BgpPeerState`, each name prefixed `BGP_PEER_STATE_` on the wire's text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum BgpPeerState {
    Unknown = 0,
    Idle = 1,
    Connect = 2,
    Active = 3,
    Opensent = 4,
    Openconfirm = 5,
    Established = 6,
}

/// `BgpPeerWatchRequest { bool ack = 1; oneof overload { bool all = 2; BgpPeerKey peer_key = 3; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerWatchRequest {
    #[prost(bool, tag = "1")]
    pub ack: bool,
    #[prost(oneof = "WatchOverload", tags = "2, 3")]
    pub overload: Option<WatchOverload>,
}

/// The `overload` oneof of [`BgpPeerWatchRequest`]: every peer, or one.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum WatchOverload {
    #[prost(bool, tag = "2")]
    All(bool),
    #[prost(message, tag = "3")]
    PeerKey(BgpPeerKey),
}

/// `BgpPeerWatchResponse { bool ack = 1; oneof peer_event { OnBgpPeerSet on_peer_set = 2;
/// OnBgpPeerDel on_peer_del = 3; } OnBgpPeerState on_peer_state = 4; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerWatchResponse {
    #[prost(bool, tag = "1")]
    pub ack: bool,
    #[prost(oneof = "PeerEvent", tags = "2, 3")]
    pub peer_event: Option<PeerEvent>,
    #[prost(message, optional, tag = "4")]
    pub on_peer_state: Option<OnBgpPeerState>,
}

/// The `peer_event` oneof of [`BgpPeerWatchResponse`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PeerEvent {
    #[prost(message, tag = "2")]
    OnPeerSet(OnBgpPeerSet),
    #[prost(message, tag = "3")]
    OnPeerDel(OnBgpPeerDel),
}

/// `OnBgpPeerSet { BgpPeerKey peer_key = 1; }`: a peer was configured.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OnBgpPeerSet {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
}

/// `OnBgpPeerDel { BgpPeerKey peer_key = 1; }`: a peer was removed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OnBgpPeerDel {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
}

/// `OnBgpPeerState { BgpPeerKey peer_key = 1; BgpPeerState peer_state = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OnBgpPeerState {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
    #[prost(enumeration = "BgpPeerState", tag = "2")]
    pub peer_state: i32,
}

/// `BgpPeerStateRequest { BgpPeerKey peer_key = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerStateRequest {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
}

/// `BgpPeerStateResponse { BgpPeerState peer_state = 1; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerStateResponse {
    #[prost(enumeration = "BgpPeerState", tag = "1")]
    pub peer_state: i32,
}

/// `BgpPeerExistsRequest { BgpPeerKey peer_key = 1; }`. Our reading: the spec names the rpc and
/// its message types but not their fields; these mirror the `peer_state` pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerExistsRequest {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
}

/// `BgpPeerExistsResponse { bool exists = 1; }` (our reading, as the request).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerExistsResponse {
    #[prost(bool, tag = "1")]
    pub exists: bool,
}

/// `IntfId { string name = 1; }`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct IntfId {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `WatchIntfRequest { oneof overloads { bool all_intfs = 1; IntfId intf_id = 2; } }`. The
/// older `WatchIntfParams` puts the same fields under the same numbers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchIntfRequest {
    #[prost(oneof = "IntfOverloads", tags = "1, 2")]
    pub overloads: Option<IntfOverloads>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum IntfOverloads {
    #[prost(bool, tag = "1")]
    AllIntfs(bool),
    #[prost(message, tag = "2")]
    IntfId(IntfId),
}

/// `IntfEvents { EVENT_INTF_NO_CHANGES = 0; EVENT_INTF_CREATED = 1; EVENT_INTF_DELETED = 2; }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum IntfEvents {
    NoChanges = 0,
    Created = 1,
    Deleted = 2,
}

/// `OperStatuses { INTF_OPER_STATUS_NULL = 0; …_UP = 1; …_DOWN = 2; }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum OperStatuses {
    Null = 0,
    Up = 1,
    Down = 2,
}

/// `WatchIntfResponse { IntfId intf_id = 1; oneof intf_event { IntfEvents event = 2;
/// OperStatuses status = 3; bool admin_enabled = 4; string description = 5; } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchIntfResponse {
    #[prost(message, optional, tag = "1")]
    pub intf_id: Option<IntfId>,
    #[prost(oneof = "IntfEvent", tags = "2, 3, 4, 5")]
    pub intf_event: Option<IntfEvent>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum IntfEvent {
    #[prost(enumeration = "IntfEvents", tag = "2")]
    Event(i32),
    #[prost(enumeration = "OperStatuses", tag = "3")]
    Status(i32),
    #[prost(bool, tag = "4")]
    AdminEnabled(bool),
    #[prost(string, tag = "5")]
    Description(String),
}

/// The older `IntfId { InterfaceTypes type = 1; uint64 id = 2; }`, numeric and not
/// wire-compatible with the current one.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LegacyIntfId {
    /// `INTF_TYPE_OTHER` (1) for a tunnel: the older enum has no tunnel type [I].
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(uint64, tag = "2")]
    pub id: u64,
}

/// The older `OperStatus { OperStatuses status = 1; }`, a message where the current shape has
/// an enum.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LegacyOperStatus {
    #[prost(enumeration = "OperStatuses", tag = "1")]
    pub status: i32,
}

/// The older `InterfaceEvent { IntfId intf_id = 1; oneof intf_event { IntfEvents event = 2
/// (INTF_CREATE = 0, INTF_DEL = 1); OperStatus status = 3; … } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LegacyInterfaceEvent {
    #[prost(message, optional, tag = "1")]
    pub intf_id: Option<LegacyIntfId>,
    #[prost(oneof = "LegacyIntfEvent", tags = "2, 3")]
    pub intf_event: Option<LegacyIntfEvent>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum LegacyIntfEvent {
    /// 0 created, 1 deleted.
    #[prost(int32, tag = "2")]
    Event(i32),
    #[prost(message, tag = "3")]
    Status(LegacyOperStatus),
}

impl BgpPeerKey {
    pub fn new(vrf_name: &str, peer_addr: &str) -> Self {
        BgpPeerKey {
            vrf_name: vrf_name.into(),
            peer_addr: peer_addr.into(),
        }
    }
}

impl BgpPeerState {
    /// The state EOS's summary prints as `peerState` (`Established`, `OpenSent`, …); anything
    /// else is `Unknown`.
    pub fn from_summary(state: &str) -> Self {
        match state.to_ascii_lowercase().as_str() {
            "idle" => BgpPeerState::Idle,
            "connect" => BgpPeerState::Connect,
            "active" => BgpPeerState::Active,
            "opensent" => BgpPeerState::Opensent,
            "openconfirm" => BgpPeerState::Openconfirm,
            "established" => BgpPeerState::Established,
            _ => BgpPeerState::Unknown,
        }
    }
}

impl BgpPeerWatchResponse {
    /// A response with only `ack = true`.
    pub fn ack() -> Self {
        BgpPeerWatchResponse {
            ack: true,
            ..Default::default()
        }
    }

    pub fn peer_set(key: BgpPeerKey) -> Self {
        BgpPeerWatchResponse {
            peer_event: Some(PeerEvent::OnPeerSet(OnBgpPeerSet {
                peer_key: Some(key),
            })),
            ..Default::default()
        }
    }

    pub fn peer_del(key: BgpPeerKey) -> Self {
        BgpPeerWatchResponse {
            peer_event: Some(PeerEvent::OnPeerDel(OnBgpPeerDel {
                peer_key: Some(key),
            })),
            ..Default::default()
        }
    }

    pub fn peer_state(key: BgpPeerKey, state: BgpPeerState) -> Self {
        BgpPeerWatchResponse {
            on_peer_state: Some(OnBgpPeerState {
                peer_key: Some(key),
                peer_state: state.into(),
            }),
            ..Default::default()
        }
    }

    /// Whether the response carries a peer event (not only an ack).
    pub fn is_event(&self) -> bool {
        self.peer_event.is_some() || self.on_peer_state.is_some()
    }
}

impl WatchIntfResponse {
    fn of(name: &str, event: IntfEvent) -> Self {
        WatchIntfResponse {
            intf_id: Some(IntfId { name: name.into() }),
            intf_event: Some(event),
        }
    }

    pub fn created(name: &str) -> Self {
        Self::of(name, IntfEvent::Event(IntfEvents::Created.into()))
    }

    pub fn deleted(name: &str) -> Self {
        Self::of(name, IntfEvent::Event(IntfEvents::Deleted.into()))
    }

    pub fn status(name: &str, up: bool) -> Self {
        let status = if up {
            OperStatuses::Up
        } else {
            OperStatuses::Down
        };
        Self::of(name, IntfEvent::Status(status.into()))
    }

    /// The same event in the older shape: the tunnel by its number, the status as a message.
    pub fn legacy(&self) -> LegacyInterfaceEvent {
        let id = self
            .intf_id
            .as_ref()
            .and_then(|id| id.name.strip_prefix("Tunnel")?.parse().ok())
            .unwrap_or_default();
        LegacyInterfaceEvent {
            intf_id: Some(LegacyIntfId { r#type: 1, id }),
            intf_event: match &self.intf_event {
                Some(IntfEvent::Event(event)) => Some(LegacyIntfEvent::Event(i32::from(
                    *event == IntfEvents::Deleted as i32,
                ))),
                Some(IntfEvent::Status(status)) => {
                    Some(LegacyIntfEvent::Status(LegacyOperStatus {
                        status: *status,
                    }))
                }
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// `0a 04 "vrf1" 12 0b "169.254.0.1"`: vrf_name (1, length-delimited), peer_addr (2, …).
    fn key_bytes() -> Vec<u8> {
        let mut bytes = vec![0x0a, 4];
        bytes.extend_from_slice(b"vrf1");
        bytes.extend_from_slice(&[0x12, 11]);
        bytes.extend_from_slice(b"169.254.0.1");
        bytes
    }

    #[test]
    fn watch_request_for_all_peers_with_ack_is_fields_one_and_two() {
        let request = BgpPeerWatchRequest {
            ack: true,
            overload: Some(WatchOverload::All(true)),
        };
        assert_eq!(request.encode_to_vec(), [0x08, 1, 0x10, 1]);
    }

    #[test]
    fn watch_request_for_one_peer_carries_the_key_as_field_three() {
        let mut expected = vec![0x1a, 19];
        expected.extend(key_bytes());
        let decoded = BgpPeerWatchRequest::decode(expected.as_slice()).unwrap();
        assert_eq!(
            decoded.overload,
            Some(WatchOverload::PeerKey(BgpPeerKey::new(
                "vrf1",
                "169.254.0.1"
            )))
        );
        assert!(!decoded.ack);
    }

    #[test]
    fn state_event_is_field_four_and_set_and_del_are_two_and_three() {
        let key = BgpPeerKey::new("vrf1", "169.254.0.1");
        let mut state = vec![0x22, 23, 0x0a, 19];
        state.extend(key_bytes());
        state.extend_from_slice(&[0x10, 6]);
        assert_eq!(
            BgpPeerWatchResponse::peer_state(key.clone(), BgpPeerState::Established)
                .encode_to_vec(),
            state
        );
        let mut set = vec![0x12, 21, 0x0a, 19];
        set.extend(key_bytes());
        assert_eq!(
            BgpPeerWatchResponse::peer_set(key.clone()).encode_to_vec(),
            set
        );
        let mut del = vec![0x1a, 21, 0x0a, 19];
        del.extend(key_bytes());
        assert_eq!(BgpPeerWatchResponse::peer_del(key).encode_to_vec(), del);
        assert_eq!(BgpPeerWatchResponse::ack().encode_to_vec(), [0x08, 1]);
    }

    #[test]
    fn unary_replies_put_their_value_in_field_one() {
        let state = BgpPeerStateResponse {
            peer_state: BgpPeerState::Active.into(),
        };
        assert_eq!(state.encode_to_vec(), [0x08, 3]);
        assert_eq!(
            BgpPeerExistsResponse { exists: true }.encode_to_vec(),
            [0x08, 1]
        );
    }

    #[test]
    fn interface_events_put_the_name_in_field_one_and_the_change_in_two_or_three() {
        // 0a 09 { 0a 07 "Tunnel1" }, then event (0x10) or status (0x18).
        let mut name = vec![0x0a, 9, 0x0a, 7];
        name.extend_from_slice(b"Tunnel1");
        let with = |tail: [u8; 2]| [name.clone(), tail.to_vec()].concat();
        assert_eq!(
            WatchIntfResponse::created("Tunnel1").encode_to_vec(),
            with([0x10, 1])
        );
        assert_eq!(
            WatchIntfResponse::deleted("Tunnel1").encode_to_vec(),
            with([0x10, 2])
        );
        assert_eq!(
            WatchIntfResponse::status("Tunnel1", false).encode_to_vec(),
            with([0x18, 2])
        );
        let request = WatchIntfRequest::decode([0x08, 1].as_slice()).unwrap();
        assert_eq!(request.overloads, Some(IntfOverloads::AllIntfs(true)));
    }

    #[test]
    fn the_older_shape_numbers_the_tunnel_and_wraps_the_status() {
        // 0a 04 { type 08 01, id 10 07 }, status 1a 02 { 08 01 }.
        assert_eq!(
            WatchIntfResponse::status("Tunnel7", true)
                .legacy()
                .encode_to_vec(),
            [0x0a, 4, 0x08, 1, 0x10, 7, 0x1a, 2, 0x08, 1]
        );
        // INTF_DEL = 1.
        assert_eq!(
            WatchIntfResponse::deleted("Tunnel7")
                .legacy()
                .encode_to_vec(),
            [0x0a, 4, 0x08, 1, 0x10, 7, 0x10, 1]
        );
    }

    #[test]
    fn summary_state_names_map_to_the_enum_whatever_their_case() {
        assert_eq!(
            BgpPeerState::from_summary("OpenSent"),
            BgpPeerState::Opensent
        );
        assert_eq!(
            BgpPeerState::from_summary("Established"),
            BgpPeerState::Established
        );
        assert_eq!(BgpPeerState::from_summary("Dormant"), BgpPeerState::Unknown);
    }
}

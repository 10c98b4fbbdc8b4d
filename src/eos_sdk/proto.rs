//! The EosSdkRpc messages this agent exchanges, mirrored by hand from `bgp.proto` and
//! `intf.proto` with prost's derive (no protoc, no build script). The tests pin the bytes each field puts on the wire,
//! worked out by hand from the field numbers, so a wrong tag cannot hide behind a simulator that
//! shares it.

/// A BGP session as EosSdk names it.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct BgpPeerKey {
    #[prost(string, tag = "1")]
    pub vrf_name: String,
    #[prost(string, tag = "2")]
    pub peer_addr: String,
}

/// The BGP FSM state. Open: a number this build does not know reads as `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
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

#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerWatchRequest {
    #[prost(bool, tag = "1")]
    pub ack: bool,
    #[prost(oneof = "Overload", tags = "2, 3")]
    pub overload: Option<Overload>,
}

/// What a watch covers: every peer, or one.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Overload {
    #[prost(bool, tag = "2")]
    All(bool),
    #[prost(message, tag = "3")]
    PeerKey(BgpPeerKey),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OnBgpPeerSet {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OnBgpPeerDel {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OnBgpPeerState {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
    #[prost(enumeration = "BgpPeerState", tag = "2")]
    pub peer_state: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerWatchResponse {
    #[prost(bool, tag = "1")]
    pub ack: bool,
    #[prost(oneof = "PeerEvent", tags = "2, 3")]
    pub peer_event: Option<PeerEvent>,
    #[prost(message, optional, tag = "4")]
    pub on_peer_state: Option<OnBgpPeerState>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PeerEvent {
    #[prost(message, tag = "2")]
    OnPeerSet(OnBgpPeerSet),
    #[prost(message, tag = "3")]
    OnPeerDel(OnBgpPeerDel),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerStateRequest {
    #[prost(message, optional, tag = "1")]
    pub peer_key: Option<BgpPeerKey>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BgpPeerStateResponse {
    #[prost(enumeration = "BgpPeerState", tag = "1")]
    pub peer_state: i32,
}

/// An interface as EOS names it (`Tunnel500`): `IntfId { string name = 1; }`.
///
/// The interface messages are from `intf.proto` of Arista's public EosSdkRpc repository
/// (aristanetworks/eossdkrpc), which the spec does not carry. Earlier releases of that file had
/// other, wire-incompatible shapes (a numeric `IntfId { type = 1; id = 2; }`, the oper status as
/// a message): which one a switch serves is [U], so a response this build cannot decode only
/// leaves the tunnels on the poll.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct IntfId {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `WatchIntfRequest { oneof overloads { bool all_intfs = 1; IntfId intf_id = 2; } }`. Later
/// releases add fields (an ack, a dump of current values) that a server reads as absent when
/// left out: the poll gives the baseline, so they are not asked for.
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

/// `IntfEvents`: an interface came or went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum IntfEvent {
    NoChanges = 0,
    Created = 1,
    Deleted = 2,
}

/// `OperStatuses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum OperStatus {
    Null = 0,
    Up = 1,
    Down = 2,
}

/// `WatchIntfResponse { IntfId intf_id = 1; oneof intf_event { IntfEvents event = 2;
/// OperStatuses status = 3; bool admin_enabled = 4; string description = 5; } }`. A oneof member
/// is on the wire even at 0, so each is read as present or absent; the admin and description
/// changes are left unread (prost skips them).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchIntfResponse {
    #[prost(message, optional, tag = "1")]
    pub intf_id: Option<IntfId>,
    #[prost(enumeration = "IntfEvent", optional, tag = "2")]
    pub event: Option<i32>,
    #[prost(enumeration = "OperStatus", optional, tag = "3")]
    pub status: Option<i32>,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn key() -> BgpPeerKey {
        BgpPeerKey {
            vrf_name: "v".into(),
            peer_addr: "1.2.3.4".into(),
        }
    }

    /// field 1 (0x0a = 1<<3|2) "v", field 2 (0x12 = 2<<3|2) "1.2.3.4".
    const KEY: [u8; 12] = [
        0x0a, 1, b'v', 0x12, 7, b'1', b'.', b'2', b'.', b'3', b'.', b'4',
    ];

    #[test]
    fn a_watch_of_every_peer_with_ack_is_fields_1_and_2() {
        let request = BgpPeerWatchRequest {
            ack: true,
            overload: Some(Overload::All(true)),
        };
        assert_eq!(request.encode_to_vec(), [0x08, 1, 0x10, 1]);
        let one = BgpPeerWatchRequest {
            ack: false,
            overload: Some(Overload::PeerKey(key())),
        };
        let mut expected = vec![0x1a, 12];
        expected.extend(KEY);
        assert_eq!(one.encode_to_vec(), expected);
    }

    #[test]
    fn a_state_event_is_field_4_and_a_set_or_del_fields_2_and_3() {
        // field 4 (0x22): { key (0x0a, 12 bytes), state (0x10) 6 }.
        let mut state = vec![0x22, 16, 0x0a, 12];
        state.extend(KEY);
        state.extend([0x10, 6]);
        let read = BgpPeerWatchResponse::decode(state.as_slice()).unwrap();
        let event = read.on_peer_state.unwrap();
        assert_eq!(event.peer_key, Some(key()));
        assert_eq!(event.peer_state(), BgpPeerState::Established);
        assert!(!read.ack && read.peer_event.is_none());

        let mut set = vec![0x12, 14, 0x0a, 12];
        set.extend(KEY);
        let read = BgpPeerWatchResponse::decode(set.as_slice()).unwrap();
        assert_eq!(
            read.peer_event,
            Some(PeerEvent::OnPeerSet(OnBgpPeerSet {
                peer_key: Some(key())
            }))
        );
        let mut del = vec![0x1a, 14, 0x0a, 12];
        del.extend(KEY);
        assert!(matches!(
            BgpPeerWatchResponse::decode(del.as_slice())
                .unwrap()
                .peer_event,
            Some(PeerEvent::OnPeerDel(_))
        ));
        assert!(
            BgpPeerWatchResponse::decode([0x08, 1].as_slice())
                .unwrap()
                .ack
        );
    }

    #[test]
    fn an_interface_watch_of_every_interface_is_field_1() {
        let request = WatchIntfRequest {
            overloads: Some(IntfOverloads::AllIntfs(true)),
        };
        assert_eq!(request.encode_to_vec(), [0x08, 1]);
        let one = WatchIntfRequest {
            overloads: Some(IntfOverloads::IntfId(IntfId {
                name: "Tunnel1".into(),
            })),
        };
        // field 2 (0x12) { field 1 (0x0a) "Tunnel1" }.
        let mut expected = vec![0x12, 9, 0x0a, 7];
        expected.extend(b"Tunnel1");
        assert_eq!(one.encode_to_vec(), expected);
    }

    #[test]
    fn interface_events_read_their_name_and_a_zero_value_is_present() {
        // field 1 (0x0a) { name "Tunnel1" }, then field 3 (0x18) 2 (DOWN).
        let mut down = vec![0x0a, 9, 0x0a, 7];
        down.extend(b"Tunnel1");
        down.extend([0x18, 2]);
        let read = WatchIntfResponse::decode(down.as_slice()).unwrap();
        assert_eq!(read.intf_id.unwrap().name, "Tunnel1");
        assert_eq!(read.status, Some(OperStatus::Down as i32));
        assert_eq!(read.event, None);
        // field 2 (0x10) 0: NO_CHANGES, present although 0.
        let read = WatchIntfResponse::decode([0x10, 0].as_slice()).unwrap();
        assert_eq!(read.event, Some(0));
        assert_eq!(read.status, None);
        // admin_enabled (0x20) and description (0x2a) are skipped, not errors.
        let read = WatchIntfResponse::decode([0x20, 1, 0x2a, 1, b'x'].as_slice()).unwrap();
        assert_eq!((read.event, read.status), (None, None));
    }

    #[test]
    fn the_older_numeric_interface_shape_does_not_decode() {
        // IntfId { type (0x08) OTHER = 1, id (0x10) 5 }, then status as a message
        // OperStatus { status (0x08) UP }: both tags carry other wire types here.
        let old = [0x0a, 4, 0x08, 1, 0x10, 5, 0x1a, 2, 0x08, 1];
        assert!(WatchIntfResponse::decode(old.as_slice()).is_err());
        // Without the id, the old status message alone is still refused.
        assert!(WatchIntfResponse::decode([0x1a, 2, 0x08, 1].as_slice()).is_err());
    }

    #[test]
    fn a_state_this_build_does_not_know_reads_as_unknown() {
        let read = BgpPeerStateResponse::decode([0x08, 42].as_slice()).unwrap();
        assert_eq!(read.peer_state(), BgpPeerState::Unknown);
        let read = BgpPeerStateResponse::decode([0x08, 3].as_slice()).unwrap();
        assert_eq!(read.peer_state(), BgpPeerState::Active);
    }
}

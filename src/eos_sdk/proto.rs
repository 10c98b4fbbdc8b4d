//! The EosSdkRpc messages this agent exchanges, mirrored by hand from `bgp.proto` with prost's
//! derive (no protoc, no build script). The tests pin the bytes each field puts on the wire,
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
    fn a_state_this_build_does_not_know_reads_as_unknown() {
        let read = BgpPeerStateResponse::decode([0x08, 42].as_slice()).unwrap();
        assert_eq!(read.peer_state(), BgpPeerState::Unknown);
        let read = BgpPeerStateResponse::decode([0x08, 3].as_slice()).unwrap();
        assert_eq!(read.peer_state(), BgpPeerState::Active);
    }
}

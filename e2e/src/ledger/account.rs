//! The User and Device account bytes as the program reads and writes them (onchain.md §4, §5).
//!
//! User decoding follows the program's own rule (§4.3), not the agent's stricter one: every
//! field is read in order and a field that does not fit, or holds an invalid value, takes its
//! default and decoding goes on. Encoding always writes the HEAD layout, which is what the
//! program leaves behind after any write; [`UserLayout`] builds the older shapes still found on
//! chain. Devices are written in full, interfaces in both lists (§5.2), since the program
//! decodes the whole Device on every call and refuses one whose lists disagree.

use std::net::Ipv4Addr;

use doublezero_bgpstatus::serviceability::BgpStatus;
use solana_pubkey::Pubkey;

/// Byte 0 of a Device account.
pub const DEVICE_TYPE: u8 = 5;
/// Byte 0 of a User account.
pub const USER_TYPE: u8 = 7;

/// Every field of a User account at HEAD, as raw values (the program keeps enums as bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccount {
    pub owner: Pubkey,
    pub index: u128,
    pub bump_seed: u8,
    pub user_type: u8,
    pub tenant_pk: Pubkey,
    pub device_pk: Pubkey,
    pub cyoa_type: u8,
    pub client_ip: Ipv4Addr,
    pub dz_ip: Ipv4Addr,
    pub tunnel_id: u16,
    pub tunnel_net: (Ipv4Addr, u8),
    pub status: u8,
    pub publishers: Vec<Pubkey>,
    pub subscribers: Vec<Pubkey>,
    pub validator_pubkey: Pubkey,
    pub tunnel_endpoint: Ipv4Addr,
    pub tunnel_flags: u8,
    pub bgp_status: u8,
    pub last_bgp_up_at: u64,
    pub last_bgp_reported_at: u64,
    pub bgp_rtt_ns: u64,
    pub feed_pks: Vec<Pubkey>,
}

/// The shapes a User account has had on chain (onchain.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserLayout {
    /// HEAD: `feed_pks` is a Vec (206 bytes for a plain unicast user).
    #[default]
    Head,
    /// The 32-byte scalar `feed_pk` slot, zeroed (234 bytes for a plain unicast user).
    OldFeedPk,
    /// Before `tunnel_flags` and the BGP fields (176 bytes for a plain unicast user).
    PreBgp,
}

impl UserAccount {
    /// An Activated unicast user of `device` the program accepts: the `k`-th /31 of
    /// 169.254/16, tunnel 500 + k, and the same public `client_ip` and `dz_ip` (1.2.3.4, as
    /// golden (a2)); every other field as (a2) with no BGP status yet.
    pub fn activated(device: Pubkey, k: u16) -> UserAccount {
        let [hi, lo] = (2 * k).to_be_bytes();
        UserAccount {
            owner: Pubkey::new_from_array([0x11; 32]),
            index: u128::from(k),
            bump_seed: 255,
            user_type: 0,
            tenant_pk: Pubkey::default(),
            device_pk: device,
            cyoa_type: 1,
            client_ip: Ipv4Addr::new(1, 2, 3, 4),
            dz_ip: Ipv4Addr::new(1, 2, 3, 4),
            tunnel_id: 500 + k,
            tunnel_net: (Ipv4Addr::new(169, 254, hi, lo), 31),
            status: 1,
            publishers: Vec::new(),
            subscribers: Vec::new(),
            validator_pubkey: Pubkey::default(),
            tunnel_endpoint: Ipv4Addr::UNSPECIFIED,
            tunnel_flags: 0,
            bgp_status: 0,
            last_bgp_up_at: 0,
            last_bgp_reported_at: 0,
            bgp_rtt_ns: 0,
            feed_pks: Vec::new(),
        }
    }

    /// Decodes with the program's field-by-field default rule; `None` if byte 0 is not 7.
    pub fn decode(data: &[u8]) -> Option<UserAccount> {
        if data.first() != Some(&USER_TYPE) {
            return None;
        }
        let mut r = Lenient::new(&data[1..]);
        Some(UserAccount {
            owner: r.pubkey(),
            index: r.u128(),
            bump_seed: r.u8(),
            user_type: r.enum_u8(3, 0),
            tenant_pk: r.pubkey(),
            device_pk: r.pubkey(),
            cyoa_type: r.enum_u8(5, 0),
            client_ip: r.ipv4(),
            dz_ip: r.ipv4(),
            tunnel_id: r.u16(),
            tunnel_net: r.network_v4(),
            // UserStatus::default() is Activated in the program (§14 trap 3).
            status: r.enum_u8(8, 1),
            publishers: r.pubkey_vec(),
            subscribers: r.pubkey_vec(),
            validator_pubkey: r.pubkey(),
            tunnel_endpoint: r.ipv4(),
            tunnel_flags: r.u8(),
            bgp_status: r.enum_u8(2, 0),
            last_bgp_up_at: r.u64(),
            last_bgp_reported_at: r.u64(),
            bgp_rtt_ns: r.u64(),
            feed_pks: r.pubkey_vec(),
        })
    }

    /// The `bgp_status` byte by its onchain.md §4.4 name (Unknown=0, Up=1, Down=2), mapped
    /// here rather than by the agent's decoder, so that checks on chain state do not share a
    /// bug with the agent. The agent's enum only names the result.
    pub fn bgp(&self) -> BgpStatus {
        match self.bgp_status {
            1 => BgpStatus::Up,
            2 => BgpStatus::Down,
            _ => BgpStatus::Unknown,
        }
    }

    /// The HEAD serialization: what the program writes back.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.encode_through_endpoint();
        w.push(self.tunnel_flags);
        w.push(self.bgp_status);
        w.extend_from_slice(&self.last_bgp_up_at.to_le_bytes());
        w.extend_from_slice(&self.last_bgp_reported_at.to_le_bytes());
        w.extend_from_slice(&self.bgp_rtt_ns.to_le_bytes());
        put_pubkey_vec(&mut w, &self.feed_pks);
        w
    }

    /// The serialization in an older `layout`; the fields that layout lacks are dropped.
    pub fn encode_as(&self, layout: UserLayout) -> Vec<u8> {
        match layout {
            UserLayout::Head => self.encode(),
            UserLayout::OldFeedPk => {
                let mut w = self.encode();
                let feed_at = w.len() - 4 - 32 * self.feed_pks.len();
                w.truncate(feed_at);
                w.extend_from_slice(&[0; 32]);
                w
            }
            UserLayout::PreBgp => self.encode_through_endpoint(),
        }
    }

    fn encode_through_endpoint(&self) -> Vec<u8> {
        let mut w = vec![USER_TYPE];
        w.extend_from_slice(self.owner.as_ref());
        w.extend_from_slice(&self.index.to_le_bytes());
        w.push(self.bump_seed);
        w.push(self.user_type);
        w.extend_from_slice(self.tenant_pk.as_ref());
        w.extend_from_slice(self.device_pk.as_ref());
        w.push(self.cyoa_type);
        w.extend_from_slice(&self.client_ip.octets());
        w.extend_from_slice(&self.dz_ip.octets());
        w.extend_from_slice(&self.tunnel_id.to_le_bytes());
        w.extend_from_slice(&self.tunnel_net.0.octets());
        w.push(self.tunnel_net.1);
        w.push(self.status);
        put_pubkey_vec(&mut w, &self.publishers);
        put_pubkey_vec(&mut w, &self.subscribers);
        w.extend_from_slice(self.validator_pubkey.as_ref());
        w.extend_from_slice(&self.tunnel_endpoint.octets());
        w
    }
}

/// A Device account with every field of the HEAD layout (onchain.md §5.1), enums as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAccount {
    pub owner: Pubkey,
    pub index: u128,
    pub bump_seed: u8,
    pub location_pk: Pubkey,
    pub exchange_pk: Pubkey,
    /// DeviceType byte; 2 = Edge.
    pub device_type: u8,
    pub public_ip: Ipv4Addr,
    /// DeviceStatus byte; 1 = Activated.
    pub status: u8,
    pub code: String,
    pub dz_prefixes: Vec<(Ipv4Addr, u8)>,
    pub metrics_publisher_pk: Pubkey,
    pub contributor_pk: Pubkey,
    pub mgmt_vrf: String,
    /// Written twice, as the program writes them: tagged in the legacy slot and size-prefixed
    /// in the trailing list, same count (the program panics when the counts differ).
    pub interfaces: Vec<DeviceInterface>,
    pub reference_count: u32,
    pub users_count: u16,
    pub max_users: u16,
    /// DeviceHealth byte; 3 = ReadyForUsers.
    pub device_health: u8,
    /// DeviceDesiredStatus byte; 1 = Activated.
    pub desired_status: u8,
    pub unicast_users_count: u16,
    pub multicast_subscribers_count: u16,
    pub max_unicast_users: u16,
    pub max_multicast_subscribers: u16,
    pub reserved_seats: u16,
    pub multicast_publishers_count: u16,
    pub max_multicast_publishers: u16,
}

/// One interface of a Device: the V2 body both interface lists carry (onchain.md §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInterface {
    /// InterfaceStatus byte; 3 = Activated.
    pub status: u8,
    pub name: String,
    /// InterfaceType byte; 1 = Loopback, 2 = Physical.
    pub interface_type: u8,
    pub interface_cyoa: u8,
    pub interface_dia: u8,
    /// LoopbackType byte; 1 = Vpnv4, 2 = Ipv4.
    pub loopback_type: u8,
    pub bandwidth: u64,
    pub cir: u64,
    pub mtu: u16,
    /// RoutingMode byte; 0 = Static.
    pub routing_mode: u8,
    pub vlan_id: u16,
    pub ip_net: (Ipv4Addr, u8),
    pub node_segment_idx: u16,
    pub user_tunnel_endpoint: bool,
}

/// The tag the program writes before every interface of the legacy slot (V2).
const LEGACY_INTERFACE_V2: u8 = 1;
/// The schema version of the trailing interface list.
const INTERFACE_VERSION: u8 = 4;

impl DeviceInterface {
    /// The `k`-th interface of a simulated device: golden (b)'s `Loopback255` first, then an
    /// Ipv4 loopback, then physical links on /31s, all Activated.
    pub fn nth(k: usize) -> DeviceInterface {
        let loopback = DeviceInterface {
            status: 3,
            name: "Loopback255".into(),
            interface_type: 1,
            interface_cyoa: 0,
            interface_dia: 0,
            loopback_type: 1,
            bandwidth: 0,
            cir: 0,
            mtu: 9000,
            routing_mode: 0,
            vlan_id: 0,
            ip_net: (Ipv4Addr::new(172, 16, 0, 1), 32),
            node_segment_idx: 101,
            user_tunnel_endpoint: false,
        };
        match k {
            0 => loopback,
            1 => DeviceInterface {
                name: "Loopback256".into(),
                loopback_type: 2,
                ip_net: (Ipv4Addr::new(172, 16, 0, 2), 32),
                node_segment_idx: 0,
                ..loopback
            },
            k => {
                let [_, _, hi, lo] = ((k as u32) * 2).to_be_bytes();
                DeviceInterface {
                    name: format!("Ethernet{}/1", k - 1),
                    interface_type: 2,
                    loopback_type: 0,
                    bandwidth: 10_000_000_000,
                    cir: 10_000_000_000,
                    ip_net: (Ipv4Addr::new(172, 17, hi, lo), 31),
                    node_segment_idx: 0,
                    ..loopback
                }
            }
        }
    }

    fn encode_body(&self, w: &mut Vec<u8>) {
        w.push(self.status);
        put_string(w, &self.name);
        w.extend_from_slice(&[
            self.interface_type,
            self.interface_cyoa,
            self.interface_dia,
            self.loopback_type,
        ]);
        w.extend_from_slice(&self.bandwidth.to_le_bytes());
        w.extend_from_slice(&self.cir.to_le_bytes());
        w.extend_from_slice(&self.mtu.to_le_bytes());
        w.push(self.routing_mode);
        w.extend_from_slice(&self.vlan_id.to_le_bytes());
        w.extend_from_slice(&self.ip_net.0.octets());
        w.push(self.ip_net.1);
        w.extend_from_slice(&self.node_segment_idx.to_le_bytes());
        w.push(u8::from(self.user_tunnel_endpoint));
    }
}

impl DeviceAccount {
    /// An Activated Edge device with `interfaces` interfaces ([`DeviceInterface::nth`]) and
    /// room for 128 users; the remaining keys are zero.
    pub fn new(
        index: u128,
        code: String,
        public_ip: Ipv4Addr,
        metrics_publisher_pk: Pubkey,
        interfaces: usize,
    ) -> DeviceAccount {
        DeviceAccount {
            owner: metrics_publisher_pk,
            index,
            bump_seed: 255,
            location_pk: Pubkey::default(),
            exchange_pk: Pubkey::default(),
            device_type: 2,
            public_ip,
            status: 1,
            code,
            dz_prefixes: Vec::new(),
            metrics_publisher_pk,
            contributor_pk: Pubkey::default(),
            mgmt_vrf: "mgmt".into(),
            interfaces: (0..interfaces).map(DeviceInterface::nth).collect(),
            reference_count: 0,
            users_count: 0,
            max_users: 128,
            device_health: 3,
            desired_status: 1,
            unicast_users_count: 0,
            multicast_subscribers_count: 0,
            max_unicast_users: 128,
            max_multicast_subscribers: 0,
            reserved_seats: 0,
            multicast_publishers_count: 0,
            max_multicast_publishers: 0,
        }
    }

    /// The HEAD serialization, as the program writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = vec![DEVICE_TYPE];
        w.extend_from_slice(self.owner.as_ref());
        w.extend_from_slice(&self.index.to_le_bytes());
        w.push(self.bump_seed);
        w.extend_from_slice(self.location_pk.as_ref());
        w.extend_from_slice(self.exchange_pk.as_ref());
        w.push(self.device_type);
        w.extend_from_slice(&self.public_ip.octets());
        w.push(self.status);
        put_string(&mut w, &self.code);
        w.extend_from_slice(&(self.dz_prefixes.len() as u32).to_le_bytes());
        for (ip, prefix) in &self.dz_prefixes {
            w.extend_from_slice(&ip.octets());
            w.push(*prefix);
        }
        w.extend_from_slice(self.metrics_publisher_pk.as_ref());
        w.extend_from_slice(self.contributor_pk.as_ref());
        put_string(&mut w, &self.mgmt_vrf);
        w.extend_from_slice(&(self.interfaces.len() as u32).to_le_bytes());
        for interface in &self.interfaces {
            w.push(LEGACY_INTERFACE_V2);
            interface.encode_body(&mut w);
        }
        w.extend_from_slice(&self.reference_count.to_le_bytes());
        w.extend_from_slice(&self.users_count.to_le_bytes());
        w.extend_from_slice(&self.max_users.to_le_bytes());
        w.push(self.device_health);
        w.push(self.desired_status);
        for value in [
            self.unicast_users_count,
            self.multicast_subscribers_count,
            self.max_unicast_users,
            self.max_multicast_subscribers,
            self.reserved_seats,
            self.multicast_publishers_count,
            self.max_multicast_publishers,
        ] {
            w.extend_from_slice(&value.to_le_bytes());
        }
        w.extend_from_slice(&(self.interfaces.len() as u32).to_le_bytes());
        for interface in &self.interfaces {
            // u16 size of the whole element (these 3 bytes included), so readers can skip
            // fields a later version appends; then the version and the body.
            let at = w.len();
            w.extend_from_slice(&[0, 0, INTERFACE_VERSION]);
            interface.encode_body(&mut w);
            w.extend_from_slice(&0u32.to_le_bytes()); // no flex-algo node segments
            let size = (w.len() - at) as u16;
            w[at..at + 2].copy_from_slice(&size.to_le_bytes());
        }
        w
    }
}

fn put_pubkey_vec(w: &mut Vec<u8>, keys: &[Pubkey]) {
    w.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for k in keys {
        w.extend_from_slice(k.as_ref());
    }
}

fn put_string(w: &mut Vec<u8>, s: &str) {
    w.extend_from_slice(&(s.len() as u32).to_le_bytes());
    w.extend_from_slice(s.as_bytes());
}

/// A cursor with the program's rule: a fixed-size read that does not fit consumes nothing and
/// yields the default; a Vec whose elements run out yields empty after its count was consumed.
struct Lenient<'a> {
    data: &'a [u8],
}

impl<'a> Lenient<'a> {
    fn new(data: &'a [u8]) -> Self {
        Lenient { data }
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.data.split_first_chunk::<N>()?;
        self.data = rest;
        Some(*head)
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>().map(|b| b[0]).unwrap_or_default()
    }

    /// An enum byte: values above `max` are a decode error, so the field takes `default`.
    fn enum_u8(&mut self, max: u8, default: u8) -> u8 {
        match self.data.first() {
            Some(&b) if b <= max => {
                self.data = &self.data[1..];
                b
            }
            _ => default,
        }
    }

    fn u16(&mut self) -> u16 {
        self.take().map(u16::from_le_bytes).unwrap_or_default()
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> u64 {
        self.take().map(u64::from_le_bytes).unwrap_or_default()
    }

    fn u128(&mut self) -> u128 {
        self.take().map(u128::from_le_bytes).unwrap_or_default()
    }

    fn pubkey(&mut self) -> Pubkey {
        self.take::<32>()
            .map(Pubkey::new_from_array)
            .unwrap_or_default()
    }

    fn ipv4(&mut self) -> Ipv4Addr {
        self.take::<4>()
            .map(Ipv4Addr::from)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    fn network_v4(&mut self) -> (Ipv4Addr, u8) {
        match self.data.split_first_chunk::<5>() {
            Some((b, rest)) if b[4] <= 32 => {
                self.data = rest;
                (Ipv4Addr::new(b[0], b[1], b[2], b[3]), b[4])
            }
            _ => (Ipv4Addr::UNSPECIFIED, 0),
        }
    }

    fn pubkey_vec(&mut self) -> Vec<Pubkey> {
        let Some(count) = self.u32() else {
            return Vec::new();
        };
        let mut keys = Vec::new();
        for _ in 0..count {
            match self.take::<32>() {
                Some(k) => keys.push(Pubkey::new_from_array(k)),
                None => return Vec::new(),
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden (a2) of onchain.md §12: a typical unicast user, 206 bytes.
    pub(crate) const A2_HEX: &str = "07111111111111111111111111111111111111111111111111111111111111111107000000000000000000000000000000ff000000000000000000000000000000000000000000000000000000000000000000ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1010102030401020304f401a9fe00001f0100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002e803000000000000d007000000000000000000000000000000000000";
    /// Golden (a1): publishers, subscribers and a feed key, 334 bytes.
    const A1_HEX: &str = "071111111111111111111111111111111111111111111111111111111111111111100f0e0d0c0b0a090807060504030201fe012222222222222222222222222222222222222222222222222222222222222222ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1010102030405060708f501a9fe000a1f0101000000444444444444444444444444444444444444444444444444444444444444444402000000555555555555555555555555555555555555555555555555555555555555555566666666666666666666666666666666666666666666666666666666666666667777777777777777777777777777777777777777777777777777777777777777090a0b0c0101887766554433221115cd5b07000000004e61bc0000000000010000008888888888888888888888888888888888888888888888888888888888888888";
    /// Golden (b): a device with one interface, 349 bytes.
    const B_HEX: &str = "0510101010101010101010101010101010101010101010101010101010101010102a000000000000000000000000000000fd20202020202020202020202020202020202020202020202020202020202020203030303030303030303030303030303030303030303030303030303030303030022d0102030106000000647a2d6e7937010000002d0102001d8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c4040404040404040404040404040404040404040404040404040404040404040040000006d676d740100000001030b0000004c6f6f706261636b32353501000001000000000000000000000000000000002823000000ac1000012065000003000000020080000301010001006000200004000000080001000000380004030b0000004c6f6f706261636b32353501000001000000000000000000000000000000002823000000ac1000012065000000000000";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn golden_users_round_trip_byte_for_byte() {
        for golden in [A1_HEX, A2_HEX] {
            let bytes = hex(golden);
            let user = UserAccount::decode(&bytes).unwrap();
            assert_eq!(user.encode(), bytes);
        }
    }

    #[test]
    fn golden_users_decode_to_the_inputs_onchain_md_lists() {
        let pk = |b| Pubkey::new_from_array([b; 32]);
        let device: Pubkey = "GyGKxMyg1p9SsHfm15MkNUu1u9TN2JtTspcdmrtGUdse"
            .parse()
            .unwrap();
        let a1 = UserAccount::decode(&hex(A1_HEX)).unwrap();
        assert_eq!(
            a1,
            UserAccount {
                owner: pk(0x11),
                index: 0x0102030405060708090a0b0c0d0e0f10,
                bump_seed: 0xfe,
                user_type: 1,
                tenant_pk: pk(0x22),
                device_pk: device,
                cyoa_type: 1,
                client_ip: Ipv4Addr::new(1, 2, 3, 4),
                dz_ip: Ipv4Addr::new(5, 6, 7, 8),
                tunnel_id: 501,
                tunnel_net: (Ipv4Addr::new(169, 254, 0, 10), 31),
                status: 1,
                publishers: vec![pk(0x44)],
                subscribers: vec![pk(0x55), pk(0x66)],
                validator_pubkey: pk(0x77),
                tunnel_endpoint: Ipv4Addr::new(9, 10, 11, 12),
                tunnel_flags: 1,
                bgp_status: 1,
                last_bgp_up_at: 0x1122334455667788,
                last_bgp_reported_at: 123_456_789,
                bgp_rtt_ns: 12_345_678,
                feed_pks: vec![pk(0x88)],
            }
        );
        assert_eq!(a1.bgp(), BgpStatus::Up);
        let a2 = UserAccount::decode(&hex(A2_HEX)).unwrap();
        assert_eq!(
            (
                a2.bgp(),
                a2.last_bgp_up_at,
                a2.last_bgp_reported_at,
                a2.bgp_rtt_ns
            ),
            (BgpStatus::Down, 1000, 2000, 0)
        );
        assert_eq!((a2.index, a2.tunnel_id, a2.device_pk), (7, 500, device));
        let pre_bgp = UserAccount::decode(&hex(A2_HEX)[..176]).unwrap();
        assert_eq!(pre_bgp.bgp(), BgpStatus::Unknown);
    }

    #[test]
    fn old_layouts_have_the_documented_lengths_and_decode_to_defaults() {
        let user = UserAccount::decode(&hex(A2_HEX)).unwrap();
        assert_eq!(user.encode_as(UserLayout::OldFeedPk).len(), 234);
        let pre_bgp = user.encode_as(UserLayout::PreBgp);
        assert_eq!(pre_bgp, hex(A2_HEX)[..176]);
        let old = UserAccount::decode(&pre_bgp).unwrap();
        assert_eq!(
            (old.bgp_status, old.last_bgp_up_at, old.tunnel_flags),
            (0, 0, 0)
        );
        let old = UserAccount::decode(&user.encode_as(UserLayout::OldFeedPk)).unwrap();
        assert_eq!(old, user);
    }

    #[test]
    fn a_one_byte_user_decodes_to_defaults_with_status_activated() {
        let user = UserAccount::decode(&[USER_TYPE]).unwrap();
        assert_eq!(user.status, 1);
        assert_eq!(user.device_pk, Pubkey::default());
        assert!(UserAccount::decode(&[DEVICE_TYPE]).is_none());
    }

    #[test]
    fn golden_device_b_is_written_byte_for_byte_with_both_interface_lists() {
        let payer: Pubkey = "AKnL4NNf3DGWZJS6cPknBuEGnVsV4A4m5tgebLHaRSZ9"
            .parse()
            .unwrap();
        let pk = |b| Pubkey::new_from_array([b; 32]);
        let device = DeviceAccount {
            owner: pk(0x10),
            index: 42,
            bump_seed: 253,
            location_pk: pk(0x20),
            exchange_pk: pk(0x30),
            device_type: 2,
            public_ip: Ipv4Addr::new(45, 1, 2, 3),
            status: 1,
            code: "dz-ny7".into(),
            dz_prefixes: vec![(Ipv4Addr::new(45, 1, 2, 0), 29)],
            metrics_publisher_pk: payer,
            contributor_pk: pk(0x40),
            mgmt_vrf: "mgmt".into(),
            interfaces: vec![DeviceInterface::nth(0)],
            reference_count: 3,
            users_count: 2,
            max_users: 128,
            device_health: 3,
            desired_status: 1,
            unicast_users_count: 1,
            multicast_subscribers_count: 1,
            max_unicast_users: 96,
            max_multicast_subscribers: 32,
            reserved_seats: 4,
            multicast_publishers_count: 0,
            max_multicast_publishers: 8,
        };
        assert_eq!(device.encode(), hex(B_HEX));
    }

    #[test]
    fn every_interface_is_in_both_lists_and_the_agent_reads_them() {
        let payer = Pubkey::new_unique();
        let bytes =
            DeviceAccount::new(1, "dz-x".into(), Ipv4Addr::new(45, 1, 2, 3), payer, 60).encode();
        let decoded = doublezero_bgpstatus::serviceability::Device::decode(&bytes).unwrap();
        assert_eq!(decoded.metrics_publisher_pk, payer);
        assert_eq!(decoded.code, "dz-x");
        let names: Vec<&str> = decoded.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names.len(), 60);
        assert_eq!(names[..3], ["Loopback255", "Loopback256", "Ethernet1/1"]);
        assert_eq!(names[59], "Ethernet58/1");
    }
}

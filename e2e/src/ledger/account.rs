//! The User and Device account bytes as the program reads and writes them (onchain.md §4, §5).
//!
//! Decoding follows the program's own rule (§4.3), not the agent's stricter one: every field is
//! read in order and a field that does not fit, or holds an invalid value, takes its default and
//! decoding goes on. Encoding always writes the HEAD layout, which is what the program leaves
//! behind after any write; [`UserLayout`] builds the older shapes still found on chain.

use std::net::Ipv4Addr;

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

/// The Device fields the simulator sets; everything else is written as zero or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAccount {
    pub owner: Pubkey,
    pub index: u128,
    pub public_ip: Ipv4Addr,
    /// DeviceStatus byte; 1 = Activated.
    pub status: u8,
    pub code: String,
    pub dz_prefixes: Vec<(Ipv4Addr, u8)>,
    pub metrics_publisher_pk: Pubkey,
    pub contributor_pk: Pubkey,
    pub mgmt_vrf: String,
    pub max_users: u16,
}

impl DeviceAccount {
    /// The HEAD serialization with no interfaces.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = vec![DEVICE_TYPE];
        w.extend_from_slice(self.owner.as_ref());
        w.extend_from_slice(&self.index.to_le_bytes());
        w.push(255); // bump_seed
        w.extend_from_slice(&[0; 64]); // location_pk, exchange_pk
        w.push(2); // device_type Edge
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
        w.extend_from_slice(&0u32.to_le_bytes()); // deprecated_interfaces
        w.extend_from_slice(&0u32.to_le_bytes()); // reference_count
        w.extend_from_slice(&0u16.to_le_bytes()); // users_count
        w.extend_from_slice(&self.max_users.to_le_bytes());
        w.push(3); // device_health ReadyForUsers
        w.push(1); // desired_status Activated
                   // unicast_users_count, multicast_subscribers_count, max_unicast_users,
                   // max_multicast_subscribers, reserved_seats, multicast_publishers_count,
                   // max_multicast_publishers
        for value in [0, 0, self.max_users, 0, 0, 0, 0u16] {
            w.extend_from_slice(&value.to_le_bytes());
        }
        w.extend_from_slice(&0u32.to_le_bytes()); // interfaces
        w
    }

    /// The `metrics_publisher_pk` the program checks the payer against, read with the
    /// program's rule (a field that does not fit reads as its default, here the zero key);
    /// `None` if byte 0 is not 5.
    pub fn decode_metrics_publisher(data: &[u8]) -> Option<Pubkey> {
        if data.first() != Some(&DEVICE_TYPE) {
            return None;
        }
        let mut r = Lenient::new(&data[1..]);
        r.pubkey(); // owner
        r.u128(); // index
        r.u8(); // bump_seed
        r.pubkey(); // location_pk
        r.pubkey(); // exchange_pk
        r.u8(); // device_type
        r.ipv4(); // public_ip
        r.u8(); // status
        r.string(); // code
        r.network_v4_list(); // dz_prefixes
        Some(r.pubkey())
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

    fn string(&mut self) {
        if let Some(len) = self.u32() {
            let len = (len as usize).min(self.data.len());
            self.data = &self.data[len..];
        }
    }

    fn network_v4_list(&mut self) {
        if let Some(count) = self.u32() {
            let len = (count as usize).saturating_mul(5).min(self.data.len());
            self.data = &self.data[len..];
        }
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
    fn metrics_publisher_is_found_in_the_golden_device_and_in_our_encoding() {
        let payer: Pubkey = "AKnL4NNf3DGWZJS6cPknBuEGnVsV4A4m5tgebLHaRSZ9"
            .parse()
            .unwrap();
        assert_eq!(
            DeviceAccount::decode_metrics_publisher(&hex(B_HEX)),
            Some(payer)
        );
        let device = DeviceAccount {
            owner: Pubkey::default(),
            index: 1,
            public_ip: Ipv4Addr::new(45, 1, 2, 3),
            status: 1,
            code: "dz-ny7".into(),
            dz_prefixes: vec![(Ipv4Addr::new(45, 1, 2, 0), 29)],
            metrics_publisher_pk: payer,
            contributor_pk: Pubkey::default(),
            mgmt_vrf: "mgmt".into(),
            max_users: 128,
        };
        let bytes = device.encode();
        assert_eq!(DeviceAccount::decode_metrics_publisher(&bytes), Some(payer));
        // The agent's decoder reads what we write.
        let decoded = doublezero_bgpstatus::serviceability::Device::decode(&bytes).unwrap();
        assert_eq!(decoded.metrics_publisher_pk, payer);
        assert_eq!(decoded.code, "dz-ny7");
    }
}

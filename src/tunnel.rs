//! The tunnel table: every `Tunnel*` interface on the switch with its VRF, address, interface
//! status and line protocol, read from `show ip interface` and looked up in O(1) by the device
//! side of a user's `tunnel_net` or by tunnel number.
//!
//! `show ip interface` is the command because it is the only interface model that carries the
//! VRF (spec §3.2; `show ip interface brief` and `show interfaces` have none), and the VRF is what
//! keeps the same peer address in two VRFs apart. Its `interfaceAddress` shape has varied (object
//! with `primaryIp`, object with `ipAddr` in the brief model, array in `show interfaces`), so all
//! three are read, and every key but the interface map is optional.
//!
//! Like the peer table, a `TunnelTable` exists only as the product of a successful read: an
//! interface read that fails is an `Err`, never an empty table, because an absent tunnel is
//! evidence that a user was removed.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Deserialize;

use crate::bgp::Vrf;
use crate::eapi::{self, Command, EapiError, Reply};
use crate::fasthash::FastHash;
use crate::serviceability::NetworkV4;

/// The layer-3 interface model that names each interface's VRF.
pub const IP_INTERFACES: &str = "show ip interface";

/// The interface command, for a request that bundles it with others (see
/// [`TunnelTable::from_reply`]). Its revision is left at EOS's default (1): that is the shape of
/// the one recorded sample, and the fields read here are the same in ANTA's revision 2.
pub fn interface_command() -> Command {
    Command::new(IP_INTERFACES)
}

/// One tunnel interface as the switch shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// `Tunnel<N>`, as EOS names it.
    pub name: Arc<str>,
    /// `None` when the model did not say (older or brief models); never guessed as `default`.
    pub vrf: Option<Vrf>,
    /// The primary address; `None` for an unnumbered or unaddressed interface.
    pub address: Option<NetworkV4>,
    /// `interfaceStatus`, e.g. `connected`, `notconnect`, `disabled`.
    pub interface_status: Arc<str>,
    /// `lineProtocolStatus`, e.g. `up`, `down`, `lowerLayerDown`.
    pub line_protocol: Arc<str>,
}

impl Tunnel {
    /// Whether the tunnel carries traffic: its line protocol is up. (An admin-down or
    /// unresolved tunnel reports its line protocol down, so that one field decides.)
    pub fn is_up(&self) -> bool {
        &*self.line_protocol == "up"
    }

    /// Whether the tunnel's address is the /31 whose first address is `device_addr`; the Go
    /// agent only matches /31s (spec §8.2).
    pub fn holds(&self, device_addr: Ipv4Addr) -> bool {
        self.address
            .is_some_and(|net| net.prefix == 31 && net.addr == device_addr)
    }

    /// The `N` of `TunnelN`, as the controller numbers user tunnels by `tunnel_id`.
    pub fn number(&self) -> Option<u16> {
        self.name.strip_prefix("Tunnel")?.parse().ok()
    }
}

/// Every tunnel interface on the switch.
#[derive(Debug, Clone)]
pub struct TunnelTable {
    tunnels: Vec<Tunnel>,
    /// Address of a /31 tunnel → its position; the Go agent only matches /31s (spec §8.2).
    by_address: HashMap<Ipv4Addr, usize, FastHash>,
    by_number: HashMap<u16, usize, FastHash>,
}

impl TunnelTable {
    /// Builds the table from the interface result at `index` of `reply`; a failed command is an
    /// error, exactly like a failed BGP summary.
    pub fn from_reply(reply: &Reply, index: usize) -> Result<Self, EapiError> {
        let raw = reply.result(index)?;
        let command = reply
            .commands()
            .get(index)
            .map(Command::text)
            .unwrap_or(IP_INTERFACES);
        let text = eapi::result_text(command, raw)?;
        Self::from_json(&text).map_err(|detail| eapi::model_error(command, detail))
    }

    /// Builds the table from one interface result text, as EOS sent it.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let model: Interfaces = serde_json::from_str(text).map_err(|err| err.to_string())?;
        let mut table = TunnelTable {
            tunnels: Vec::with_capacity(model.interfaces.0.len()),
            by_address: HashMap::with_capacity_and_hasher(
                model.interfaces.0.len(),
                FastHash::default(),
            ),
            by_number: HashMap::with_capacity_and_hasher(
                model.interfaces.0.len(),
                FastHash::default(),
            ),
        };
        // A few VRF and status names repeat across every tunnel: one allocation each.
        let mut names = Interner::default();
        for (key, interface) in model.interfaces.0 {
            // A tunnel whose address cannot be read fails the read rather than reading as
            // absent, because an absent tunnel can turn a user Down.
            let address = interface
                .interface_address
                .map(|field| field.primary(&key))
                .transpose()?
                .flatten();
            let tunnel = Tunnel {
                name: Arc::from(&*key),
                vrf: interface.vrf.map(|vrf| names.get(&vrf)),
                address,
                interface_status: names.get(&interface.interface_status.unwrap_or_default()),
                line_protocol: names.get(&interface.line_protocol_status.unwrap_or_default()),
            };
            let position = table.tunnels.len();
            if let Some(net) = tunnel.address.filter(|net| net.prefix == 31) {
                table.by_address.entry(net.addr).or_insert(position);
            }
            if let Some(number) = tunnel.number() {
                table.by_number.insert(number, position);
            }
            table.tunnels.push(tunnel);
        }
        Ok(table)
    }

    /// The tunnel whose /31 address is `device_addr` (a user's `tunnel_net` base); the first
    /// by name if several hold it (see the monitor's lookup, which prefers the user's own).
    pub fn by_device_addr(&self, device_addr: Ipv4Addr) -> Option<&Tunnel> {
        self.tunnels.get(*self.by_address.get(&device_addr)?)
    }

    /// The interface `Tunnel<number>`.
    pub fn by_number(&self, number: u16) -> Option<&Tunnel> {
        self.tunnels.get(*self.by_number.get(&number)?)
    }

    /// This table with the line protocol of tunnel `name` up or down, as an interface event
    /// says; `None` when the table has no such tunnel or already says so.
    pub fn with_line_protocol(&self, name: &str, up: bool) -> Option<TunnelTable> {
        let number = name.strip_prefix("Tunnel")?.parse().ok()?;
        let position = *self.by_number.get(&number)?;
        let tunnel = &self.tunnels[position];
        if &*tunnel.name != name || tunnel.is_up() == up {
            return None;
        }
        let mut table = self.clone();
        table.tunnels[position].line_protocol = Arc::from(if up { "up" } else { "down" });
        Some(table)
    }

    /// All tunnel interfaces, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Tunnel> {
        self.tunnels.iter()
    }

    pub fn len(&self) -> usize {
        self.tunnels.len()
    }

    /// True when the switch has no tunnel interfaces (a successful read that found none).
    pub fn is_empty(&self) -> bool {
        self.tunnels.is_empty()
    }
}

#[derive(Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.0.get(name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(name);
        self.0.insert(Arc::clone(&name));
        name
    }
}

/// `{"interfaces": {<name>: {...}}}`; the map is the one required key.
#[derive(Deserialize)]
struct Interfaces<'a> {
    #[serde(borrow)]
    interfaces: TunnelInterfaces<'a>,
}

/// The `Tunnel*` entries of the interface map, sorted by name so that the table (and which of
/// two tunnels holding the same address is found) is the same on every read. Other interfaces
/// are skipped unparsed, in the same pass, so an odd Ethernet or Vlan cannot fail the read and
/// costs no allocation.
struct TunnelInterfaces<'a>(Vec<(Cow<'a, str>, Interface<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for TunnelInterfaces<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TunnelInterfaces<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of interfaces by name")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TunnelInterfaces<'de>, A::Error> {
                let mut tunnels = Vec::new();
                while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                    if !name.starts_with("Tunnel") {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        continue;
                    }
                    let interface = map
                        .next_value::<Interface>()
                        .map_err(|err| serde::de::Error::custom(format!("{name}: {err}")))?;
                    tunnels.push((name, interface));
                }
                tunnels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Ok(TunnelInterfaces(tunnels))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Interface<'a> {
    #[serde(default, borrow)]
    vrf: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    interface_status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    line_protocol_status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    interface_address: Option<AddressField<'a>>,
}

/// An object in `show ip interface` and its brief form, an array in `show interfaces`. Read by
/// shape rather than `#[serde(untagged)]`, which buffers every field (secondary and virtual
/// addresses included) of every tunnel before trying each variant.
enum AddressField<'a> {
    One(AddressBlock<'a>),
    List(Option<AddressBlock<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for AddressField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AddressField<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an address object or a list of them")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<AddressField<'de>, A::Error> {
                AddressBlock::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(AddressField::One)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AddressField<'de>, A::Error> {
                let first = seq.next_element::<AddressBlock>()?;
                while seq.next_element::<AddressBlock>()?.is_some() {}
                Ok(AddressField::List(first))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl AddressField<'_> {
    /// The primary address; `None` for unnumbered (`0.0.0.0/0` or an `unnumberedIntf`).
    fn primary(self, interface: &str) -> Result<Option<NetworkV4>, String> {
        let block = match self {
            AddressField::One(block) => Some(block),
            AddressField::List(first) => first,
        };
        let Some(block) = block else {
            return Ok(None);
        };
        if block.unnumbered_intf.is_some() {
            return Ok(None);
        }
        let Some(ip) = block.primary_ip.or(block.ip_addr) else {
            return Ok(None);
        };
        let addr: Ipv4Addr = ip
            .address
            .parse()
            .map_err(|_| format!("{interface}: not an IPv4 address: {:?}", ip.address))?;
        if addr.is_unspecified() {
            return Ok(None);
        }
        Ok(Some(NetworkV4 {
            addr,
            prefix: ip.mask_len,
        }))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressBlock<'a> {
    /// `show ip interface` and `show interfaces`.
    #[serde(default, borrow)]
    primary_ip: Option<IpAndMask<'a>>,
    /// `show ip interface brief`.
    #[serde(default, borrow)]
    ip_addr: Option<IpAndMask<'a>>,
    #[serde(default)]
    unnumbered_intf: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpAndMask<'a> {
    #[serde(borrow)]
    address: Cow<'a, str>,
    #[serde(default)]
    mask_len: u8,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(interfaces: serde_json::Value) -> Result<TunnelTable, String> {
        TunnelTable::from_json(&serde_json::json!({ "interfaces": interfaces }).to_string())
    }

    #[test]
    fn the_three_address_shapes_give_the_same_tunnel() {
        let shapes = [
            serde_json::json!({"primaryIp": {"address": "169.254.0.2", "maskLen": 31}}),
            serde_json::json!({"ipAddr": {"address": "169.254.0.2", "maskLen": 31}}),
            serde_json::json!([{"primaryIp": {"address": "169.254.0.2", "maskLen": 31}}]),
        ];
        for shape in shapes {
            let tunnels =
                table(serde_json::json!({"Tunnel501": {"interfaceAddress": shape}})).unwrap();
            let tunnel = tunnels
                .by_device_addr(Ipv4Addr::new(169, 254, 0, 2))
                .unwrap();
            assert_eq!(&*tunnel.name, "Tunnel501");
            assert_eq!(tunnels.by_number(501), Some(tunnel));
        }
    }

    #[test]
    fn missing_keys_and_unnumbered_tunnels_are_present_without_an_address() {
        let tunnels = table(serde_json::json!({
            "Tunnel1": {},
            "Tunnel2": {"interfaceAddress": {"ipAddr": {"address": "0.0.0.0", "maskLen": 0},
                                             "unnumberedIntf": "Loopback0"}},
            "Tunnel3": {"interfaceAddress": []},
            "Ethernet1": {"interfaceAddress": "not an address model"}
        }))
        .unwrap();
        assert_eq!(tunnels.len(), 3);
        assert!(tunnels
            .iter()
            .all(|t| t.address.is_none() && t.vrf.is_none()));
        assert!(!tunnels.by_number(1).unwrap().is_up());
    }

    #[test]
    fn only_a_slash_31_is_found_by_device_address() {
        let tunnels = table(serde_json::json!({
            "Tunnel7": {"interfaceAddress": {"primaryIp": {"address": "10.0.0.2", "maskLen": 30}}}
        }))
        .unwrap();
        assert!(tunnels.by_device_addr(Ipv4Addr::new(10, 0, 0, 2)).is_none());
        assert!(tunnels.by_number(7).is_some());
    }

    #[test]
    fn an_unreadable_tunnel_address_or_a_missing_map_fails_the_read() {
        assert!(table(serde_json::json!({
            "Tunnel1": {"interfaceAddress": {"primaryIp": {"address": "bogus", "maskLen": 31}}}
        }))
        .is_err());
        assert!(TunnelTable::from_json(r#"{"intf": {}}"#).is_err());
        let err = table(serde_json::json!({
            "Ethernet1": {"vrf": 5},
            "Tunnel9": {"interfaceAddress": [{"primaryIp": {"address": "169.254.0.2", "maskLen": 31}}, 7]}
        }))
        .unwrap_err();
        assert!(err.starts_with("Tunnel9: "), "{err}");
    }

    #[test]
    fn an_interface_event_sets_one_tunnels_line_protocol() {
        let tunnels = table(serde_json::json!({
            "Tunnel7": {"lineProtocolStatus": "up", "interfaceStatus": "connected"},
            "Tunnel8": {"lineProtocolStatus": "lowerLayerDown"}
        }))
        .unwrap();
        let down = tunnels.with_line_protocol("Tunnel7", false).unwrap();
        assert!(!down.by_number(7).unwrap().is_up());
        assert_eq!(&*down.by_number(7).unwrap().interface_status, "connected");
        assert_eq!(down.by_number(8), tunnels.by_number(8));
        let up = down.with_line_protocol("Tunnel7", true).unwrap();
        assert!(up.by_number(7).unwrap().is_up());
        // Already so, no such tunnel, or not a tunnel name.
        assert!(tunnels.with_line_protocol("Tunnel7", true).is_none());
        assert!(tunnels.with_line_protocol("Tunnel8", false).is_none());
        assert!(tunnels.with_line_protocol("Tunnel9", true).is_none());
        assert!(tunnels.with_line_protocol("Tunnel07", false).is_none());
        assert!(tunnels.with_line_protocol("Ethernet7", false).is_none());
    }

    /// Any JSON value, a few levels deep, for the fields a switch could send in any shape.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[0-9./a-zA-Z]{0,18}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("primaryIp".to_string()),
                        Just("ipAddr".to_string()),
                        Just("address".to_string()),
                        Just("maskLen".to_string()),
                        Just("unnumberedIntf".to_string()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// `(number, address, prefix, vrf)` of tunnel interfaces.
    fn tunnels() -> impl Strategy<Value = Vec<(u16, Ipv4Addr, u8, String)>> {
        proptest::collection::vec(
            (
                0u16..64,
                (0u8..4, 0u8..8).prop_map(|(a, b)| Ipv4Addr::new(169, 254, a, 2 * b)),
                prop_oneof![3 => Just(31u8), 1 => 0u8..=32],
                "vrf[0-9]",
            ),
            0..24,
        )
    }

    proptest! {
        #[test]
        fn arbitrary_text_as_the_interface_reply_never_panics(text in ".{0,300}") {
            let _ = TunnelTable::from_json(&text);
        }

        #[test]
        fn arbitrary_interface_fields_never_panic(
            fields in proptest::collection::btree_map(
                prop_oneof![
                    Just("vrf".to_string()),
                    Just("interfaceStatus".to_string()),
                    Just("lineProtocolStatus".to_string()),
                    Just("interfaceAddress".to_string()),
                ],
                json(),
                0..4,
            ),
            name in prop_oneof![Just("Tunnel7".to_string()), "Tunnel[0-9a-z]{0,6}", "[A-Za-z]{1,8}[0-9]{0,3}"],
        ) {
            let interface = serde_json::Value::Object(fields.into_iter().collect());
            if let Ok(tunnels) = table(serde_json::json!({ name: interface })) {
                for tunnel in tunnels.iter() {
                    let _ = (tunnel.is_up(), tunnel.number());
                }
            }
        }

        #[test]
        fn every_tunnel_is_found_by_number_and_every_slash_31_by_its_address(tunnels in tunnels()) {
            let interfaces: std::collections::BTreeMap<String, serde_json::Value> = tunnels
                .iter()
                .map(|(number, addr, prefix, vrf)| {
                    (
                        format!("Tunnel{number}"),
                        serde_json::json!({
                            "vrf": vrf,
                            "lineProtocolStatus": "up",
                            "interfaceAddress": {"primaryIp": {"address": addr.to_string(), "maskLen": prefix}},
                        }),
                    )
                })
                .collect();
            let table = table(serde_json::json!(interfaces)).unwrap();
            prop_assert_eq!(table.len(), interfaces.len());
            // By name, as the reply's object holds them: one interface a name, sorted.
            for (name, interface) in &interfaces {
                let number: u16 = name["Tunnel".len()..].parse().unwrap();
                let found = table.by_number(number).unwrap();
                prop_assert_eq!(&*found.name, name.as_str());
                prop_assert_eq!(found.vrf.as_deref(), interface["vrf"].as_str());
            }
            for addr in (0u8..4).flat_map(|a| (0u8..8).map(move |b| Ipv4Addr::new(169, 254, a, 2 * b))) {
                // The first by name of the /31s holding it, or none.
                let first = interfaces
                    .iter()
                    .find(|(_, i)| {
                        i["interfaceAddress"]["primaryIp"]["maskLen"] == 31
                            && i["interfaceAddress"]["primaryIp"]["address"] == addr.to_string()
                    })
                    .map(|(name, _)| name.as_str());
                prop_assert_eq!(table.by_device_addr(addr).map(|t| &*t.name), first);
            }
        }
    }
}

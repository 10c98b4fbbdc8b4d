//! The `Device` account (type 5), decoded per onchain.md §5.
//!
//! The agent needs a device's `metrics_publisher_pk` (to find its own device and to check it may
//! sign), `code` (for logs and metrics) and `status`, all before the interface lists. Those are
//! required; everything after them is read best effort. Reaching the fields after the interfaces
//! requires walking the legacy interface list, whose encoding changed over time, so each
//! interface form is decoded exactly and an unknown one stops the tail's decode instead of
//! misaligning it. A tail this build does not know is reported (`tail_error`), never a reason to
//! stop writing for the whole device: the program, not the agent, is the judge of the account.

use std::net::Ipv4Addr;

use solana_pubkey::Pubkey;

use super::reader::Reader;
use super::user::open_enum;
use super::{account_type, check_account_type, DecodeError, NetworkV4};
use serde::{Serialize, Serializer};

open_enum! {
    /// onchain.md §5.3.
    DeviceStatus {
        PendingDeprecated = 0 => "pending",
        Activated = 1 => "activated",
        Deleting = 3 => "deleting",
        RejectedDeprecated = 4 => "rejected",
        Drained = 5 => "drained",
        DeviceProvisioning = 6 => "device_provisioning",
        LinkProvisioning = 7 => "link_provisioning",
    }
}

/// One device interface, reduced to what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub status: u8,
    pub ip_net: NetworkV4,
}

/// The fields of a `Device` account the agent needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub owner: Pubkey,
    pub public_ip: Ipv4Addr,
    pub status: DeviceStatus,
    pub code: String,
    pub dz_prefixes: Vec<NetworkV4>,
    /// The only key the program accepts as signer of this device's `SetUserBGPStatus`.
    pub metrics_publisher_pk: Pubkey,
    pub contributor_pk: Pubkey,
    pub mgmt_vrf: String,
    pub interfaces: Vec<Interface>,
    pub users_count: u16,
    pub max_users: u16,
    /// Why the part after `metrics_publisher_pk` did not decode, if it did not; the fields it
    /// holds are then at their defaults.
    pub tail_error: Option<DecodeError>,
    /// The account's size in bytes: the program decodes the whole device on every write, so its
    /// compute cost per user follows this.
    pub data_len: usize,
}

impl Device {
    /// Decodes a `Device` from its account bytes.
    ///
    /// Fields through `metrics_publisher_pk` are required. Each later field takes its default
    /// when the account ends just before it (older layouts), trailing bytes are ignored, and a
    /// later part that does not decode leaves the rest at defaults with `tail_error` set.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        check_account_type(data, account_type::DEVICE, "Device")?;
        let mut r = Reader::new(data);
        r.skip("account_type", 1)?;
        let owner = r.pubkey("owner")?;
        r.u128("index")?;
        r.u8("bump_seed")?;
        r.pubkey("location_pk")?;
        r.pubkey("exchange_pk")?;
        r.u8("device_type")?;
        let public_ip = r.ipv4("public_ip")?;
        let status = DeviceStatus::from_byte(r.u8("status")?);
        let code = r.string("code")?;
        let dz_prefixes = r.network_v4_vec("dz_prefixes")?;
        let metrics_publisher_pk = r.pubkey("metrics_publisher_pk")?;
        let mut device = Self {
            owner,
            public_ip,
            status,
            code,
            dz_prefixes,
            metrics_publisher_pk,
            contributor_pk: Pubkey::default(),
            mgmt_vrf: String::new(),
            interfaces: Vec::new(),
            users_count: 0,
            max_users: 0,
            tail_error: None,
            data_len: data.len(),
        };
        if let Err(error) = device.decode_tail(&mut r) {
            device.tail_error = Some(error);
        }
        Ok(device)
    }

    /// Everything after `metrics_publisher_pk`; fields are set as they decode.
    fn decode_tail(&mut self, r: &mut Reader) -> Result<(), DecodeError> {
        let contributor_pk = r.trailing(|r| r.pubkey("contributor_pk"))?;
        let mgmt_vrf = r.trailing(|r| r.string("mgmt_vrf"))?;
        self.contributor_pk = contributor_pk.unwrap_or_default();
        self.mgmt_vrf = mgmt_vrf.clone().unwrap_or_default();
        let legacy = r.trailing(legacy_interfaces)?.unwrap_or_default();
        r.trailing(|r| r.u32("reference_count"))?;
        let users_count = r.trailing(|r| r.u16("users_count"))?;
        let max_users = r.trailing(|r| r.u16("max_users"))?;
        for field in ["device_health", "desired_status"] {
            r.trailing(|r| r.u8(field))?;
        }
        for field in [
            "unicast_users_count",
            "multicast_subscribers_count",
            "max_unicast_users",
            "max_multicast_subscribers",
            "reserved_seats",
            "multicast_publishers_count",
            "max_multicast_publishers",
        ] {
            r.trailing(|r| r.u16(field))?;
        }
        let current = r.trailing(current_interfaces)?.unwrap_or_default();

        self.contributor_pk = contributor_pk.unwrap_or_default();
        self.mgmt_vrf = mgmt_vrf.unwrap_or_default();
        self.users_count = users_count.unwrap_or_default();
        self.max_users = max_users.unwrap_or_default();
        // The trailing list supersedes the legacy one when present; the program refuses an
        // account where they disagree in length, which is worth saying but not acting on.
        if !current.is_empty() && current.len() != legacy.len() {
            self.interfaces = legacy;
            return Err(DecodeError::InterfaceCountMismatch {
                legacy: self.interfaces.len(),
                current: current.len(),
            });
        }
        self.interfaces = if current.is_empty() { legacy } else { current };
        Ok(())
    }
}

/// Smallest encoded legacy interface (a V1 with an empty name, tag included): bounds the count.
const MIN_LEGACY_INTERFACE: usize = 18;

fn legacy_interfaces(r: &mut Reader) -> Result<Vec<Interface>, DecodeError> {
    let count = r.counted("interfaces", MIN_LEGACY_INTERFACE)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let offset = r.pos();
        let interface = match r.u8("interface tag")? {
            0 => v1_body(r)?,
            1 | 2 => v2_body(r)?,
            3 => {
                let interface = v2_body(r)?;
                let segments = r.counted("interface segments", 34)?;
                r.skip("interface segments", segments * 34)?;
                interface
            }
            tag => return Err(DecodeError::UnknownInterfaceTag { offset, tag }),
        };
        out.push(interface);
    }
    Ok(out)
}

fn v1_body(r: &mut Reader) -> Result<Interface, DecodeError> {
    let status = r.u8("interface status")?;
    let name = r.string("interface name")?;
    r.skip("interface type, loopback type, vlan", 4)?;
    let ip_net = r.network_v4("interface ip_net")?;
    r.skip("interface segment index, tunnel endpoint", 3)?;
    Ok(Interface {
        name,
        status,
        ip_net,
    })
}

fn v2_body(r: &mut Reader) -> Result<Interface, DecodeError> {
    let status = r.u8("interface status")?;
    let name = r.string("interface name")?;
    // type, cyoa, dia, loopback type, bandwidth, cir, mtu, routing mode, vlan
    r.skip("interface attributes", 4 + 8 + 8 + 2 + 1 + 2)?;
    let ip_net = r.network_v4("interface ip_net")?;
    r.skip("interface segment index, tunnel endpoint", 3)?;
    Ok(Interface {
        name,
        status,
        ip_net,
    })
}

/// The size-prefixed list (schema version 4): each entry says its own size, so fields a newer
/// program appends to an entry are skipped rather than misread.
fn current_interfaces(r: &mut Reader) -> Result<Vec<Interface>, DecodeError> {
    let count = r.counted("interfaces (current)", 3)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let offset = r.pos();
        let size = usize::from(r.u16("interface size")?);
        if size < 3 || size - 2 > r.remaining() {
            return Err(DecodeError::BadInterfaceSize { offset, size });
        }
        let entry = r.take("interface entry", size - 2)?;
        let mut body = Reader::new(&entry[1..]);
        let interface = v2_body(&mut body).map_err(|err| match err {
            DecodeError::Truncated { .. } | DecodeError::Overrun { .. } => {
                DecodeError::BadInterfaceSize { offset, size }
            }
            other => other,
        })?;
        out.push(interface);
    }
    Ok(out)
}

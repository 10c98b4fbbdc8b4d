//! The `User` account (type 7), decoded per onchain.md §4.

use std::net::Ipv4Addr;

use serde::{Serialize, Serializer};
use solana_pubkey::Pubkey;

use super::reader::Reader;
use super::{account_type, check_account_type, DecodeError, NetworkV4, TunnelNet, TunnelNetError};

/// A user's BGP session status as the program stores it.
///
/// The byte is read raw: a value the agent does not know reads as `Unknown` rather than failing
/// the account, because a newer program may add states and the agent must keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BgpStatus {
    #[default]
    Unknown = 0,
    Up = 1,
    Down = 2,
}

impl BgpStatus {
    pub fn from_byte(byte: u8) -> Self {
        match byte {
            1 => Self::Up,
            2 => Self::Down,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

impl std::fmt::Display for BgpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares an open `u8` enum: the known values by name, anything else kept as its number so a
/// newer program's value never makes an account unreadable.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:literal => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
            Other(u8),
        }

        impl $name {
            pub fn from_byte(byte: u8) -> Self {
                match byte {
                    $($value => Self::$variant,)*
                    other => Self::Other(other),
                }
            }

            pub fn to_byte(self) -> u8 {
                match self {
                    $(Self::$variant => $value,)*
                    Self::Other(other) => other,
                }
            }

            /// Lowercase name for tables and JSON; `other_N` for a value the agent does not know.
            pub fn name(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $(Self::$variant => std::borrow::Cow::Borrowed($text),)*
                    Self::Other(other) => std::borrow::Cow::Owned(format!("other_{other}")),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.name())
            }
        }
    };
}
pub(super) use open_enum;

open_enum! {
    /// onchain.md §4.4.
    UserType {
        Ibrl = 0 => "ibrl",
        IbrlWithAllocatedIp = 1 => "ibrl_with_allocated_ip",
        EdgeFiltering = 2 => "edge_filtering",
        Multicast = 3 => "multicast",
    }
}

open_enum! {
    /// onchain.md §4.4. Only `Activated` users are monitored.
    UserStatus {
        PendingDeprecated = 0 => "pending",
        Activated = 1 => "activated",
        SuspendedDeprecated = 2 => "suspended",
        Deleting = 3 => "deleting",
        RejectedDeprecated = 4 => "rejected",
        PendingBanDeprecated = 5 => "pending_ban",
        Banned = 6 => "banned",
        UpdatingDeprecated = 7 => "updating",
        OutOfCredits = 8 => "out_of_credits",
    }
}

/// The fields of a `User` account the agent and the `users` command need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub owner: Pubkey,
    pub user_type: UserType,
    pub tenant_pk: Pubkey,
    pub device_pk: Pubkey,
    pub client_ip: Ipv4Addr,
    pub dz_ip: Ipv4Addr,
    pub tunnel_id: u16,
    pub tunnel_net: NetworkV4,
    pub status: UserStatus,
    pub publishers: Vec<Pubkey>,
    pub subscribers: Vec<Pubkey>,
    pub validator_pubkey: Pubkey,
    pub tunnel_endpoint: Ipv4Addr,
    pub tunnel_flags: u8,
    pub bgp_status: BgpStatus,
    /// Slot of the last write that reported Up; 0 when never.
    pub last_bgp_up_at: u64,
    /// Slot of the last `SetUserBGPStatus` write; 0 when never.
    pub last_bgp_reported_at: u64,
    /// Last reported round-trip time in nanoseconds; 0 means no sample.
    pub bgp_rtt_ns: u64,
    pub feed_pks: Vec<Pubkey>,
}

impl User {
    /// Decodes a `User` from its account bytes.
    ///
    /// Fields through `status` (offset 131) have been fixed since mid-2025 and are required.
    /// Each later field takes its default when the account ends just before it; bytes after
    /// the last known field are ignored (old accounts carry a 32-byte `feed_pk` slot there).
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        check_account_type(data, account_type::USER, "User")?;
        let mut r = Reader::new(data);
        r.skip("account_type", 1)?;
        let owner = r.pubkey("owner")?;
        r.u128("index")?;
        r.u8("bump_seed")?;
        let user_type = UserType::from_byte(r.u8("user_type")?);
        let tenant_pk = r.pubkey("tenant_pk")?;
        let device_pk = r.pubkey("device_pk")?;
        r.u8("cyoa_type")?;
        let client_ip = r.ipv4("client_ip")?;
        let dz_ip = r.ipv4("dz_ip")?;
        let tunnel_id = r.u16("tunnel_id")?;
        let tunnel_net = r.network_v4("tunnel_net")?;
        let status = UserStatus::from_byte(r.u8("status")?);

        let publishers = r.trailing(|r| r.pubkey_vec("publishers"))?;
        let subscribers = r.trailing(|r| r.pubkey_vec("subscribers"))?;
        let validator_pubkey = r.trailing(|r| r.pubkey("validator_pubkey"))?;
        let tunnel_endpoint = r.trailing(|r| r.ipv4("tunnel_endpoint"))?;
        let tunnel_flags = r.trailing(|r| r.u8("tunnel_flags"))?;
        let bgp_status = r.trailing(|r| r.u8("bgp_status"))?;
        let last_bgp_up_at = r.trailing(|r| r.u64("last_bgp_up_at"))?;
        let last_bgp_reported_at = r.trailing(|r| r.u64("last_bgp_reported_at"))?;
        let bgp_rtt_ns = r.trailing(|r| r.u64("bgp_rtt_ns"))?;
        // The old scalar `feed_pk` slot is 32 zero bytes: read as a Vec it has length 0, and
        // the 28 bytes after the count are ignored like any trailing data.
        let feed_pks = r.trailing(|r| r.pubkey_vec("feed_pks"))?;

        Ok(Self {
            owner,
            user_type,
            tenant_pk,
            device_pk,
            client_ip,
            dz_ip,
            tunnel_id,
            tunnel_net,
            status,
            publishers: publishers.unwrap_or_default(),
            subscribers: subscribers.unwrap_or_default(),
            validator_pubkey: validator_pubkey.unwrap_or_default(),
            tunnel_endpoint: tunnel_endpoint.unwrap_or(Ipv4Addr::UNSPECIFIED),
            tunnel_flags: tunnel_flags.unwrap_or_default(),
            bgp_status: bgp_status.map(BgpStatus::from_byte).unwrap_or_default(),
            last_bgp_up_at: last_bgp_up_at.unwrap_or_default(),
            last_bgp_reported_at: last_bgp_reported_at.unwrap_or_default(),
            bgp_rtt_ns: bgp_rtt_ns.unwrap_or_default(),
            feed_pks: feed_pks.unwrap_or_default(),
        })
    }

    /// The user's tunnel, if `tunnel_net` is a valid /31.
    pub fn tunnel(&self) -> Result<TunnelNet, TunnelNetError> {
        TunnelNet::try_from(self.tunnel_net)
    }
}

//! The serviceability program as the agent sees it: account layouts decoded from raw bytes, the
//! `SetUserBGPStatus` instruction, and the network addresses a `User` carries.
//!
//! Layouts follow `shared/spec/onchain.md` §3–§5: fields are only ever appended, so an account
//! that ends at a field boundary is an older layout and the missing fields take their defaults,
//! while an account cut inside a field, or a length prefix that overruns the account, is corrupt
//! and is reported as such rather than decoded into shifted fields.

mod cache;
mod device;
mod fetch;
mod instruction;
mod network;
mod program_error;
mod reader;
mod user;

pub use cache::{CacheError, CachePolicy, CachedFetcher, Served, ViewSource};
pub use device::{Device, DeviceStatus, Interface};
pub use fetch::{discover_device, user_filters, DecodedUsers, FetchError, RpcSource};
pub use instruction::{
    set_user_bgp_status, signed_transaction, wire_bytes, ComputeBudget, SET_USER_BGP_STATUS,
    SYSTEM_PROGRAM_ID,
};
pub use network::{NetworkV4, TunnelNet, TunnelNetError};
pub use program_error::{
    logs_say_out_of_compute, logs_say_rent_unpaid, ProgramError, RENT_PANIC,
    TRANSFER_INSUFFICIENT_LAMPORTS,
};
pub use user::{BgpStatus, User, UserStatus, UserType};

use solana_pubkey::Pubkey;

/// Byte 0 of every program account (onchain.md §3), for the values the agent reads.
pub mod account_type {
    pub const DEVICE: u8 = 5;
    pub const USER: u8 = 7;
}

/// Offset of `User::device_pk`: everything before it is fixed-size, so a `memcmp` filter on it
/// selects one device's users without downloading the program (onchain.md §4.5).
pub const USER_DEVICE_PK_OFFSET: usize = 83;

/// One device as the agent needs it: its account, its users, and the slot the RPC read them at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub slot: u64,
    pub device_pk: Pubkey,
    pub device: Device,
    pub users: Vec<(Pubkey, User)>,
}

impl DeviceView {
    /// Which users are Activated on this device and their tunnels, as one number: it changes
    /// when a user is added, removed or given another tunnel, whatever else is written.
    pub fn tunnels_digest(&self) -> u64 {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::hash::DefaultHasher::new();
        for (pubkey, user) in &self.users {
            if user.status == UserStatus::Activated && user.device_pk == self.device_pk {
                pubkey.hash(&mut hasher);
                user.tunnel_net.hash(&mut hasher);
                user.tunnel_id.hash(&mut hasher);
            }
        }
        hasher.finish()
    }
}

/// Why an account's bytes are not a usable `User` or `Device`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the account is empty")]
    Empty,
    #[error("account type {found} is not a {expected_name} (type {expected})")]
    WrongAccountType {
        expected: u8,
        expected_name: &'static str,
        found: u8,
    },
    #[error(
        "the account ends inside `{field}`: {needed} bytes needed at offset {offset}, \
         {available} left"
    )]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error(
        "`{field}` at offset {offset} declares {count} elements, more than the {available} bytes \
         left in the account"
    )]
    Overrun {
        field: &'static str,
        offset: usize,
        count: usize,
        available: usize,
    },
    #[error("`{field}` at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str, offset: usize },
    #[error("interface entry at offset {offset} has unknown tag {tag}; the rest would be misread")]
    UnknownInterfaceTag { offset: usize, tag: u8 },
    #[error("interface entry at offset {offset} declares size {size}, which does not fit")]
    BadInterfaceSize { offset: usize, size: usize },
    #[error(
        "the device lists {legacy} legacy interfaces but {current} current ones; the program \
         itself refuses such an account"
    )]
    InterfaceCountMismatch { legacy: usize, current: usize },
}

fn check_account_type(
    data: &[u8],
    expected: u8,
    expected_name: &'static str,
) -> Result<(), DecodeError> {
    match data.first() {
        None => Err(DecodeError::Empty),
        Some(&found) if found != expected => Err(DecodeError::WrongAccountType {
            expected,
            expected_name,
            found,
        }),
        Some(_) => Ok(()),
    }
}

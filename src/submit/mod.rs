//! The outbox: turns the monitor's status updates into `SetUserBGPStatus` transactions, gets
//! them confirmed, and reports one [`Outcome`] per update.
//!
//! The daemon hands a tick's [`Update`]s to [`Outbox::submit`], which never waits, and reads
//! outcomes from the channel [`Outbox::start`] returns; the state table changes only on
//! [`Resolution::Confirmed`]. Inside, one task packs updates into as few legacy transactions
//! as fit (`batch`), signs them with the metrics publisher, sends and rebroadcasts the same
//! bytes, polls their status, re-signs only after the blockhash has provably expired, and takes
//! out the one user an instruction error names so the rest can go (`outbox`). A fee guard
//! (`fee`) drops refreshes when the payer runs low.

mod batch;
mod config;
mod fee;
mod outbox;

use solana_pubkey::Pubkey;
use solana_signature::Signature;

use crate::serviceability::BgpStatus;

pub use config::{OutboxConfig, OutboxConfigError};
pub use outbox::{Outbox, OutboxClosed};

/// The outbox takes the decision's updates as they are, with the RTT filled in by the daemon.
pub use crate::monitor::{Update, UpdateReason};

/// What became of one submitted update. Every update gets exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub user: Pubkey,
    pub status: BgpStatus,
    /// The RTT the update carried, so a confirmation tells what the account now holds.
    pub rtt_ns: u64,
    pub result: Resolution,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The status is on chain at the configured commitment.
    Confirmed { signature: Signature, slot: u64 },
    /// The update did not make it. `permanent` means the program rejected this user's
    /// instruction (for example NotAllowed), so sending it again fails the same way until the
    /// chain changes; otherwise the next tick may simply try again.
    Failed { error: String, permanent: bool },
    /// The update was never sent: superseded by a newer one, cut by the fee guard, or taken
    /// while the outbox was shutting down.
    Dropped { why: String },
}

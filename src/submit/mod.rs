//! The outbox: turns the monitor's status updates into `SetUserBGPStatus` transactions, gets
//! them confirmed, and reports one [`Outcome`] per update.
//!
//! The daemon hands a tick's [`Update`]s to [`Outbox::submit`], which never waits, and reads
//! outcomes from the channel [`Outbox::start`] returns; the state table changes only on
//! [`Resolution::Confirmed`]. Inside, the write policy is a pure value, [`pipeline`]: it takes
//! the time, new updates and the results of RPC calls, and hands back the calls to make and the
//! outcomes to report. The [`driver`] is the short async loop that makes those calls, each
//! bounded in time, and feeds their results back. How a failure is read is [`classify`]'s;
//! how batches are cut and signed, [`batch`]'s; the fee guard, [`fee`]'s.

mod batch;
mod classify;
mod config;
mod driver;
mod fee;
pub mod pipeline;

use solana_pubkey::Pubkey;
use solana_signature::Signature;

use crate::serviceability::BgpStatus;

pub use classify::{classify, describe, Verdict};
pub use config::{OutboxConfig, OutboxConfigError};
pub use driver::{Outbox, OutboxClosed};

/// The outbox takes the decision's updates as they are, with the RTT filled in by the daemon,
/// and hands back failures with their cause, which the decision's backoff follows.
pub use crate::monitor::{Cause, Update, UpdateReason};

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
    /// The update did not make it, and no bytes carrying it can land any more.
    Failed { error: String, cause: Cause },
    /// The update was never sent: superseded by a newer one, cut by the fee guard, or taken
    /// while the outbox was shutting down.
    Dropped { why: String },
}

//! How the outbox batches, confirms and pays: [`OutboxConfig`], validated once at start.
//!
//! The defaults are the batched policy (as many users per transaction as fit, several
//! transactions in flight, confirmed). [`OutboxConfig::upstream`] reproduces the Go agent: one
//! user per transaction, one transaction at a time, waiting for finalized.

use std::time::Duration;

use solana_pubkey::Pubkey;

use super::batch;
use crate::rpc::Commitment;

/// Settings of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// The serviceability program the instructions go to.
    pub program_id: Pubkey,
    /// The local device every user belongs to.
    pub device_pk: Pubkey,
    /// Most `SetUserBGPStatus` instructions per transaction; `None` packs as many as fit in
    /// 1232 bytes and in the compute a transaction may use (both measured).
    pub batch_size: Option<usize>,
    /// Most transactions sent and not yet confirmed or failed at once; `None` chooses it from
    /// the RPC's latency and the slot time (see the pipeline's `depth`).
    pub max_inflight: Option<usize>,
    /// The ledger's slot time, for the depth chosen when `max_inflight` is `None`.
    pub slot_time: Duration,
    /// How settled a transaction must be before its users count as written.
    pub commitment: Commitment,
    /// How long a batch may take from first signing to confirmation: after it, its bytes are
    /// no longer signed again (the last ones may still land, and the users wait for that).
    /// Updates that wait this long for a blockhash are handed back to be decided anew.
    pub confirm_timeout: Duration,
    /// How often the same bytes are sent again while the transaction is unseen.
    pub rebroadcast_interval: Duration,
    /// How often `getSignatureStatuses` is asked about every transaction in flight.
    pub poll_interval: Duration,
    /// Priority fee in micro-lamports per compute unit; `None` sends no price instruction.
    pub cu_price: Option<u64>,
    /// Below this payer balance (lamports) only status changes are sent; refreshes and seeds
    /// are dropped so the remaining funds go to news. 0 disables the guard.
    pub fee_floor_lamports: u64,
    /// How long a payer balance read is trusted before it is read again.
    pub balance_refresh: Duration,
}

/// A configuration the outbox refuses to run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxConfigError {
    #[error("outbox {field} must be at least 1")]
    Zero { field: &'static str },
    #[error("outbox {field} must be longer than zero")]
    ZeroDuration { field: &'static str },
    #[error(
        "outbox batch_size {asked} does not fit one transaction: at most {fits} \
         SetUserBGPStatus instructions fit 1232 bytes"
    )]
    BatchTooLarge { asked: usize, fits: usize },
    #[error("outbox program_id is not set")]
    NoProgram,
}

impl OutboxConfig {
    /// The batched defaults.
    pub fn new(program_id: Pubkey, device_pk: Pubkey) -> Self {
        OutboxConfig {
            program_id,
            device_pk,
            batch_size: None,
            max_inflight: None,
            slot_time: Duration::from_millis(400),
            commitment: Commitment::Confirmed,
            // A blockhash lives 60–90 s and expiry is judged at finalized (~13 s later), so
            // this leaves room for one re-sign before the user is handed back as failed.
            confirm_timeout: Duration::from_secs(120),
            // The node's own send service rebroadcasts every 2 s (solana-rpc.md §1.4).
            rebroadcast_interval: Duration::from_secs(2),
            poll_interval: Duration::from_secs(1),
            cu_price: None,
            // 0.01 SOL: about 2,000 transactions at the base fee.
            fee_floor_lamports: 10_000_000,
            balance_refresh: Duration::from_secs(60),
        }
    }

    /// The Go agent's policy: one user per transaction, serial, finalized.
    pub fn upstream(program_id: Pubkey, device_pk: Pubkey) -> Self {
        OutboxConfig {
            batch_size: Some(1),
            max_inflight: Some(1),
            commitment: Commitment::Finalized,
            ..OutboxConfig::new(program_id, device_pk)
        }
    }

    /// Most instructions that fit 1232 bytes with a compute-budget instruction before them (the
    /// compute the program needs may allow fewer; the outbox measures it).
    pub fn transaction_capacity(&self) -> usize {
        batch::Sizes::measure(self).with_budget_ixs(1)
    }

    /// Rejects settings that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), OutboxConfigError> {
        if self.program_id == Pubkey::default() {
            return Err(OutboxConfigError::NoProgram);
        }
        if self.max_inflight == Some(0) {
            return Err(OutboxConfigError::Zero {
                field: "max_inflight",
            });
        }
        for (field, d) in [
            ("confirm_timeout", self.confirm_timeout),
            ("rebroadcast_interval", self.rebroadcast_interval),
            ("poll_interval", self.poll_interval),
            ("balance_refresh", self.balance_refresh),
        ] {
            if d.is_zero() {
                return Err(OutboxConfigError::ZeroDuration { field });
            }
        }
        let fits = self.transaction_capacity();
        match self.batch_size {
            Some(0) => Err(OutboxConfigError::Zero {
                field: "batch_size",
            }),
            Some(asked) if asked > fits => Err(OutboxConfigError::BatchTooLarge { asked, fits }),
            _ => Ok(()),
        }
    }
}

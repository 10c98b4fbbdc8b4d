//! The ledger state behind the RPC: LiteSVM running the real program, plus what a node adds
//! around a bank.
//!
//! LiteSVM executes transactions (the serviceability program as SBF, with the runtime's compute
//! metering and compute-budget rules) but has no slots passing, no blockhash queue, no
//! commitment levels and no status cache, so [`Chain`] keeps those:
//! - one slot per tick; block height equals the slot (the simulator never skips a slot);
//! - a new blockhash every slot, valid for 150 blocks (`MAX_PROCESSING_AGE`) after its slot;
//!   simulation, and so preflight, already refuses it 6 blocks earlier, as agave leaves room
//!   for forwarding; LiteSVM's own check accepts only the newest hash, so it is off;
//! - signatures are verified here, where a node verifies them (every send, and a simulation
//!   that asks), so a simulation can also run unverified as agave's does by default;
//! - `processed` is the newest slot, `confirmed` one behind, `finalized` `finality_depth`
//!   behind, both for context slots and for a transaction's `confirmationStatus`;
//! - the statuses of landed transactions (Ok, or failed after it executed and paid its fee),
//!   which also make a resend `AlreadyProcessed`.
//!
//! Account reads always see the newest state; only the context slot follows the commitment.

use std::collections::{HashMap, VecDeque};

use litesvm::LiteSVM;
use solana_account::Account;
use solana_hash::Hash;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;

use super::compute;
use super::program::ProgramElf;

/// Blocks a blockhash stays usable after the block that made it.
pub const MAX_PROCESSING_AGE: u64 = 150;
/// Blocks before expiry from which a node's simulation refuses a blockhash, leaving time to
/// forward the transaction (agave's `MAX_TRANSACTION_FORWARDING_DELAY`).
const MAX_TRANSACTION_FORWARDING_DELAY: u64 = 6;
/// Slots a status stays in the status cache (a node's is about 300).
const STATUS_CACHE_SLOTS: u64 = 300;

/// Why the program could not be deployed.
#[derive(Debug, thiserror::Error)]
#[error("cannot deploy the program at {program_id}: {reason}")]
pub struct DeployError {
    pub program_id: Pubkey,
    pub reason: String,
}

/// How settled the state behind an answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Commitment {
    Processed,
    Confirmed,
    Finalized,
}

/// Where a landed transaction stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Landed {
    pub slot: u64,
    pub err: Option<TransactionError>,
    /// Slots since it landed, while not finalized.
    pub confirmations: Option<u64>,
    pub confirmation_status: Commitment,
}

/// Why `sendTransaction` refused a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// -32003: a signature does not verify.
    SignatureVerification,
    /// -32002: the simulation failed; nothing was forwarded.
    Preflight {
        err: TransactionError,
        logs: Vec<String>,
        units_consumed: u64,
    },
}

/// What happened to an accepted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Executed in the current slot (successfully or not).
    Landed,
    /// Accepted but will never land (expired blockhash, bad signature, or already landed).
    Dropped,
}

/// What running a transaction without committing it showed (`simulateTransaction`, preflight).
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    pub err: Option<TransactionError>,
    pub logs: Vec<String>,
    /// Compute units consumed; `None` when it was refused before it ran (blockhash, status
    /// cache, signature).
    pub units_consumed: Option<u64>,
}

impl Simulation {
    fn refused(err: TransactionError) -> Simulation {
        Simulation {
            err: Some(err),
            logs: Vec::new(),
            units_consumed: None,
        }
    }
}

/// One `sendTransaction` the node received, for scenarios that count what the agent sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub signature: Signature,
    /// The slot it arrived in.
    pub slot: u64,
    /// Top-level instructions, compute-budget ones included.
    pub instructions: usize,
    /// The limit its `SetComputeUnitLimit` asked for, if it had one.
    pub requested_unit_limit: Option<u32>,
    /// Compute units it consumed when it executed, or at the preflight that refused it;
    /// `None` if it never ran.
    pub units_consumed: Option<u64>,
    /// `landed`, `dropped` (duplicate, expired, or an injected drop) or `refused` (preflight or
    /// signature failure).
    pub outcome: &'static str,
    /// The transaction as it came over the wire, for the transaction log and for readers that
    /// want to know which accounts it wrote.
    pub wire: Vec<u8>,
}

/// LiteSVM with slots, blockhashes, commitments and a status cache.
pub struct Chain {
    svm: LiteSVM,
    program_id: Pubkey,
    slot: u64,
    finality_depth: u64,
    /// (slot, blockhash made by that slot), oldest first, `MAX_PROCESSING_AGE + 1` kept.
    blockhashes: VecDeque<(u64, Hash)>,
    statuses: HashMap<Signature, (u64, Option<TransactionError>)>,
    received: Vec<Received>,
}

impl Chain {
    /// A chain at slot 0 with `program` deployed at `program_id`.
    pub fn new(
        program_id: Pubkey,
        program: &ProgramElf,
        finality_depth: u64,
    ) -> Result<Chain, DeployError> {
        // LiteSVM's own transaction history stays on (its default 32 entries): it is how the
        // chain learns whether a failed transaction executed. Its duplicate check runs only with
        // its signature checks, which are off.
        let mut svm = LiteSVM::new()
            .with_sigverify(false)
            .with_blockhash_check(false);
        svm.add_program(program_id, program.bytes())
            .map_err(|e| DeployError {
                program_id,
                reason: e.to_string(),
            })?;
        let mut chain = Chain {
            svm,
            program_id,
            slot: 0,
            finality_depth: finality_depth.max(1),
            blockhashes: VecDeque::new(),
            statuses: HashMap::new(),
            received: Vec::new(),
        };
        chain.record_blockhash();
        // Start from a Clock the chain set itself, as every later slot does; slot 0 would leave
        // the first transactions reading LiteSVM's initial Clock.
        chain.advance();
        Ok(chain)
    }

    pub fn program_id(&self) -> Pubkey {
        self.program_id
    }

    pub fn slot(&self) -> u64 {
        self.slot
    }

    /// The newest slot visible at `commitment`.
    pub fn slot_at(&self, commitment: Commitment) -> u64 {
        let lag = match commitment {
            Commitment::Processed => 0,
            Commitment::Confirmed => 1,
            Commitment::Finalized => self.finality_depth,
        };
        self.slot.saturating_sub(lag)
    }

    /// Moves to the next slot: a new Clock and a new blockhash; old statuses age out.
    pub fn advance(&mut self) {
        self.slot += 1;
        self.svm.warp_to_slot(self.slot);
        self.svm.expire_blockhash();
        self.record_blockhash();
        let horizon = self.slot.saturating_sub(STATUS_CACHE_SLOTS);
        self.statuses.retain(|_, (slot, _)| *slot >= horizon);
    }

    fn record_blockhash(&mut self) {
        self.blockhashes
            .push_back((self.slot, self.svm.latest_blockhash()));
        while self.blockhashes.len() as u64 > MAX_PROCESSING_AGE + 1 {
            self.blockhashes.pop_front();
        }
    }

    /// The blockhash of the bank at `commitment` and the last block height it can land at.
    pub fn latest_blockhash(&self, commitment: Commitment) -> (Hash, u64) {
        let slot = self.slot_at(commitment);
        let (slot, hash) = self
            .blockhashes
            .iter()
            .rev()
            .find(|(s, _)| *s <= slot)
            .or(self.blockhashes.front())
            .copied()
            .expect("the queue always holds the newest hash");
        (hash, slot + MAX_PROCESSING_AGE)
    }

    /// Whether a transaction signed with `hash` can still land.
    pub fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        self.blockhash_younger_than(hash, MAX_PROCESSING_AGE)
    }

    fn blockhash_younger_than(&self, hash: &Hash, age: u64) -> bool {
        self.blockhashes
            .iter()
            .any(|(slot, h)| h == hash && slot + age >= self.slot)
    }

    /// Every transaction received so far, rebroadcasts included, in arrival order.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// Runs the node's send path on `tx` (decoded from `wire`) and records what became of it.
    pub fn send(
        &mut self,
        wire: Vec<u8>,
        tx: VersionedTransaction,
        skip_preflight: bool,
    ) -> Result<Accepted, SendError> {
        let requested_unit_limit = compute::requested_unit_limit(&tx.message);
        let (signature, instructions) = (first_signature(&tx), tx.message.instructions().len());
        let (result, units_consumed) = self.execute(tx, skip_preflight);
        let outcome = match &result {
            Ok(Accepted::Landed) => "landed",
            Ok(Accepted::Dropped) => "dropped",
            Err(_) => "refused",
        };
        self.received.push(Received {
            signature,
            slot: self.slot,
            instructions,
            requested_unit_limit,
            units_consumed,
            outcome,
            wire,
        });
        result
    }

    /// Records a transaction that an injected fault dropped before it reached the send path.
    pub fn receive_dropped(&mut self, wire: Vec<u8>, tx: &VersionedTransaction) {
        self.received.push(Received {
            signature: first_signature(tx),
            slot: self.slot,
            instructions: tx.message.instructions().len(),
            requested_unit_limit: compute::requested_unit_limit(&tx.message),
            units_consumed: None,
            outcome: "dropped",
            wire,
        });
    }

    /// Runs `tx` against the current state without committing it, as `simulateTransaction`
    /// does; `sig_verify` checks its signatures first.
    pub fn simulate(&self, tx: &VersionedTransaction, sig_verify: bool) -> Simulation {
        if sig_verify && !signatures_verify(tx) {
            return Simulation::refused(TransactionError::SignatureFailure);
        }
        let max_age = MAX_PROCESSING_AGE - MAX_TRANSACTION_FORWARDING_DELAY;
        if !self.blockhash_younger_than(tx.message.recent_blockhash(), max_age) {
            return Simulation::refused(TransactionError::BlockhashNotFound);
        }
        if self.statuses.contains_key(&first_signature(tx)) {
            return Simulation::refused(TransactionError::AlreadyProcessed);
        }
        let (err, meta) = match self.svm.simulate_transaction(tx.clone()) {
            Ok(info) => (None, info.meta),
            Err(failed) => (Some(failed.err), failed.meta),
        };
        Simulation {
            err,
            logs: meta.logs,
            units_consumed: Some(meta.compute_units_consumed),
        }
    }

    /// The node's send path: preflight (signatures, then a simulation) unless skipped, then
    /// duplicate and age checks and execution. Also returns the units it consumed, if it ran.
    fn execute(
        &mut self,
        tx: VersionedTransaction,
        skip_preflight: bool,
    ) -> (Result<Accepted, SendError>, Option<u64>) {
        let signature = first_signature(&tx);
        let signed = signatures_verify(&tx);
        if !skip_preflight {
            if !signed {
                return (Err(SendError::SignatureVerification), None);
            }
            let preflight = self.simulate(&tx, false);
            if let Some(err) = preflight.err {
                let failure = SendError::Preflight {
                    err,
                    logs: preflight.logs,
                    units_consumed: preflight.units_consumed.unwrap_or(0),
                };
                return (Err(failure), preflight.units_consumed);
            }
        }
        // Without preflight nothing is refused to the sender, but a transaction whose
        // signatures fail, that already landed or whose blockhash expired never lands.
        if !signed
            || self.statuses.contains_key(&signature)
            || !self.is_blockhash_valid(tx.message.recent_blockhash())
        {
            return (Ok(Accepted::Dropped), None);
        }
        let (err, units) = match self.svm.send_transaction(tx) {
            Ok(meta) => (None, meta.compute_units_consumed),
            Err(failed) => (Some(failed.err), failed.meta.compute_units_consumed),
        };
        // A transaction lands (and pays its fee) when it executed, even if it failed; one
        // refused before execution (fee payer, accounts) never makes a block.
        if err.is_some() && self.svm.get_transaction(&signature).is_none() {
            return (Ok(Accepted::Dropped), None);
        }
        self.statuses.insert(signature, (self.slot, err));
        (Ok(Accepted::Landed), Some(units))
    }

    /// Where `signature` stands, or `None` if it is unknown or aged out.
    pub fn signature_status(&self, signature: &Signature) -> Option<Landed> {
        let (slot, err) = self.statuses.get(signature)?;
        let age = self.slot - slot;
        let confirmation_status = match age {
            0 => Commitment::Processed,
            age if age < self.finality_depth => Commitment::Confirmed,
            _ => Commitment::Finalized,
        };
        Some(Landed {
            slot: *slot,
            err: err.clone(),
            confirmations: (confirmation_status != Commitment::Finalized).then_some(age),
            confirmation_status,
        })
    }

    pub fn account(&self, key: &Pubkey) -> Option<Account> {
        self.svm.get_account(key).filter(|a| a.lamports > 0)
    }

    /// Every account the program owns, sorted by address like agave's default.
    pub fn program_accounts(&self) -> Vec<(Pubkey, Account)> {
        let mut accounts = self.svm.get_program_accounts(&self.program_id);
        accounts.sort_by_key(|(key, _)| *key);
        accounts
    }

    /// Stores a program-owned account holding `data`, rent-exempt for its length.
    pub fn put_program_account(&mut self, key: Pubkey, data: Vec<u8>) {
        let lamports = self.minimum_balance(data.len());
        let account = Account {
            lamports,
            data,
            owner: self.program_id,
            executable: false,
            rent_epoch: u64::MAX,
        };
        self.svm
            .set_account(key, account)
            .expect("a plain data account is always accepted");
    }

    /// Stores an account owned by `owner`; `lamports` defaults to the rent-exempt minimum.
    pub fn put_account(
        &mut self,
        key: Pubkey,
        owner: Pubkey,
        lamports: Option<u64>,
        data: Vec<u8>,
    ) {
        let account = Account {
            lamports: lamports.unwrap_or_else(|| self.minimum_balance(data.len())),
            data,
            owner,
            executable: false,
            rent_epoch: u64::MAX,
        };
        self.svm
            .set_account(key, account)
            .expect("a plain data account is always accepted");
    }

    pub fn minimum_balance(&self, len: usize) -> u64 {
        self.svm.minimum_balance_for_rent_exemption(len)
    }

    /// Adds `lamports` to `key` outside any transaction.
    pub fn airdrop(&mut self, key: &Pubkey, lamports: u64) {
        let mut account = self.svm.get_account(key).unwrap_or(Account {
            lamports: 0,
            data: Vec::new(),
            owner: Pubkey::default(),
            executable: false,
            rent_epoch: u64::MAX,
        });
        account.lamports = account.lamports.saturating_add(lamports);
        self.svm
            .set_account(*key, account)
            .expect("a system account is always accepted");
    }
}

fn first_signature(tx: &VersionedTransaction) -> Signature {
    tx.signatures.first().copied().unwrap_or_default()
}

/// Whether every signature verifies against the message.
fn signatures_verify(tx: &VersionedTransaction) -> bool {
    tx.verify_with_results().into_iter().all(|ok| ok)
}

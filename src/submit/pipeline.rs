//! The write policy as a plain value (issue 20): updates and the results of RPC calls go in,
//! the calls to make and what happened come out. No I/O, no clock reads, no tokio runtime: the
//! caller passes `now`, performs each [`Effect`] however it likes, and hands the result back.
//! Every rule is a test on values below; [`super::driver`] is the short loop around it.
//!
//! # One transaction's life
//!
//! Updates wait in a queue (one per user; a newer one replaces an older) until a blockhash is
//! fresh and there is room in flight. They are then cut into batches ([`super::batch`]), each
//! signed once and tracked in one explicit [`TxState`]:
//!
//! `Unsigned` → `Due` → `Sending` → `Accepted` → (`Landed`) → confirmed, with `Quiet` for bytes
//! that may be out but must not be sent again, and back to `Unsigned` only when the bytes signed
//! last provably cannot land any more.
//!
//! # Ordering
//!
//! A user's writes land in order: a user is handed back (any outcome) only when none of its
//! signed bytes can land any more. Bytes are *out* once any node may have them: a send that
//! was accepted, or one whose answer never came (timeout, reset, 5xx, a garbled reply). Only a
//! definite refusal (preflight, signature check) leaves them in. Bytes that are out are dead
//! only when their signature has a status (landed, well or not), or when the finalized block
//! height has passed their blockhash's `lastValidBlockHeight` while the status is still null.
//! A transaction is signed again only then, so at most one of its signings is ever alive, and
//! its deadline stops re-signing, never releases live bytes. The one exception is the process
//! stopping at the end of its shutdown grace: the chain is read again at start.
//!
//! # Failures
//!
//! Every call is one attempt; what to retry, and when, is decided here. An RPC that does not
//! answer is the RPC's failure, not a user's: the queue waits (and is handed back to be decided
//! anew from a fresh reading after `confirm_timeout`), and everything goes out as soon as it
//! answers again. How the program's and the runtime's errors are read is
//! [`super::classify`]'s: out of compute blames nobody and measures the compute again, a user is
//! refused only for the program's own error about it, a payer short of lamports is a payer
//! problem.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use tokio::time::Instant;

use super::batch::{self, Plan, Sizes, FALLBACK_UNITS_PER_USER};
use super::classify::{classify, describe, Verdict};
use super::fee::FeeGuard;
use super::{Cause, OutboxConfig, OutboxConfigError, Outcome, Resolution, Update, UpdateReason};
use crate::backoff;
use crate::rpc::{Commitment, LatestBlockhash, Simulation, TransactionError, TransactionStatus};
use crate::serviceability::ComputeBudget;

/// A blockhash fetched at `confirmed` lives ~150 blocks; reusing one for a few seconds lets one
/// fetch serve every batch signed meanwhile.
const BLOCKHASH_REUSE: Duration = Duration::from_secs(5);
/// Retrying a read that failed: short, so writes resume soon after the RPC answers again.
const READ_RETRY_FIRST: Duration = Duration::from_millis(250);
const READ_RETRY_MAX: Duration = Duration::from_secs(5);
/// Retrying a send that got no answer.
const SEND_RETRY_FIRST: Duration = Duration::from_millis(500);
const SEND_RETRY_MAX: Duration = Duration::from_secs(10);
/// The most of a server's `Retry-After` that is honoured: a quota reset hours away must not
/// park status writes for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// After a failed measurement the fallback cost is used this long before measuring again.
const MEASURE_RETRY: Duration = Duration::from_secs(60);
/// The automatic depth aims at one transaction leaving this often.
const SEND_SPACING: Duration = Duration::from_millis(20);
/// Bounds of the automatic depth: enough for a mass event, few enough for a provider's limits.
const MIN_DEPTH: usize = 4;
const MAX_DEPTH: usize = 64;

/// Transactions to keep in flight so one leaves every [`SEND_SPACING`] while each stays in
/// flight for two RPC round trips (send, status) and three slots (land, confirm, the poll's
/// lag): Little's law, within [`MIN_DEPTH`, `MAX_DEPTH`].
pub fn auto_depth(rpc_latency: Duration, slot_time: Duration) -> usize {
    let in_flight = rpc_latency * 2 + slot_time * 3;
    let depth = in_flight.as_nanos().div_ceil(SEND_SPACING.as_nanos());
    usize::try_from(depth)
        .unwrap_or(MAX_DEPTH)
        .clamp(MIN_DEPTH, MAX_DEPTH)
}

/// Identifies a transaction across its signings.
pub type TxId = u64;

/// A call for the driver to make. Each is one attempt, bounded in time by the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// `getLatestBlockhash` at `confirmed`.
    FetchBlockhash,
    /// `getBalance` of the payer.
    FetchBalance,
    /// `getBlockHeight` at `finalized`, to tell expired bytes.
    FetchBlockHeight,
    /// One `getSignatureStatuses` for every signature whose fate is open.
    PollStatuses(Vec<Signature>),
    /// `sendTransaction` of these bytes, with preflight or not.
    Send {
        tx: TxId,
        signature: Signature,
        wire: Arc<Vec<u8>>,
        preflight: bool,
    },
    /// `simulateTransaction` of a batch, for the compute it uses.
    Simulate { wire: Arc<Vec<u8>> },
}

/// A call that got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    pub error: String,
    /// How long the server asked to be left alone, if it did.
    pub retry_after: Option<Duration>,
}

/// What a `sendTransaction` came back with.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    /// A node took the bytes.
    Accepted,
    /// Preflight ran and failed: these bytes were not forwarded by this send.
    Rejected {
        err: TransactionError,
        logs: Vec<String>,
    },
    /// Refused before simulation (signature check, invalid request): not forwarded.
    Refused { error: String },
    /// No answer that tells whether the bytes went out.
    Unknown(CallFailure),
}

/// What happened, for the driver to log, count and pass on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// One update's outcome, for the daemon.
    Outcome(Outcome),
    /// A node took a transaction's bytes for the first time.
    Sent { signature: Signature, users: usize },
    Confirmed {
        signature: Signature,
        slot: u64,
        users: usize,
        since_signed: Duration,
    },
    /// A status change confirmed this long after the switch showed it.
    ChangeConfirmed { since_observed: Duration },
    /// These bytes provably cannot land (blockhash expired unseen).
    Expired { signature: Signature },
    /// A transaction failed as a whole or in part (the outcomes say for whom).
    TransactionFailed {
        signature: Option<Signature>,
        error: String,
    },
    /// The program's cost per user, measured by simulation, and the batch plan it gives.
    ComputeMeasured {
        units_per_user: u32,
        per_tx: usize,
        limit_per_user: Option<u64>,
    },
    /// The compute could not be measured; batches are planned from the fallback cost.
    ComputeUnmeasured { error: String },
    /// A transaction ran out of compute: nobody is blamed, the cost is measured again.
    OutOfCompute { error: String },
    /// A read failed; `failures` in a row so far.
    ReadFailed {
        call: &'static str,
        error: String,
        failures: u32,
    },
    /// The blockhash could be read again after failures.
    ReadRecovered { call: &'static str, failures: u32 },
    /// The payer's balance; `crossed` when it crossed the fee floor (true: now below).
    Balance {
        lamports: u64,
        crossed: Option<bool>,
    },
}

/// The pipeline: every update not yet resolved and every transaction in flight.
pub struct Pipeline {
    config: OutboxConfig,
    payer: Keypair,
    sizes: Sizes,
    queue: VecDeque<Update>,
    txs: Vec<Tx>,
    next_id: TxId,
    blockhash: Read<LatestBlockhash>,
    height: Read<u64>,
    balance: Read<u64>,
    fee: FeeGuard,
    polling: bool,
    /// Status polls failed in a row.
    poll_failures: u32,
    next_poll: Instant,
    compute: Compute,
    device_size: Option<usize>,
    /// The RPC's round trip, smoothed, from the reads the pipeline times itself.
    latency: Option<Duration>,
    blockhash_asked: Option<Instant>,
    poll_asked: Option<Instant>,
    stop_at: Option<Instant>,
    events: Vec<Event>,
}

/// One value read from the RPC now and then.
struct Read<T> {
    value: Option<(T, Instant)>,
    in_flight: bool,
    retry_at: Option<Instant>,
    failures: u32,
    last_error: Option<String>,
}

impl<T> Read<T> {
    fn new() -> Self {
        Read {
            value: None,
            in_flight: false,
            retry_at: None,
            failures: 0,
            last_error: None,
        }
    }

    fn can_ask(&self, now: Instant) -> bool {
        !self.in_flight && self.retry_at.is_none_or(|at| now >= at)
    }

    /// Records an answer; returns the event to report.
    fn answered(
        &mut self,
        call: &'static str,
        now: Instant,
        result: Result<T, CallFailure>,
    ) -> Option<Event> {
        self.in_flight = false;
        match result {
            Ok(value) => {
                self.value = Some((value, now));
                self.retry_at = None;
                self.last_error = None;
                let failures = std::mem::take(&mut self.failures);
                (failures > 0).then_some(Event::ReadRecovered { call, failures })
            }
            Err(failure) => {
                self.failures += 1;
                let wait = failure.retry_after.map_or_else(
                    || {
                        backoff::jitter(backoff::doubling(
                            self.failures,
                            READ_RETRY_FIRST,
                            READ_RETRY_MAX,
                        ))
                    },
                    |asked| asked.min(MAX_RETRY_AFTER),
                );
                self.retry_at = Some(now + wait);
                self.last_error = Some(failure.error.clone());
                Some(Event::ReadFailed {
                    call,
                    error: failure.error,
                    failures: self.failures,
                })
            }
        }
    }
}

/// What the pipeline knows of the program's compute cost per user.
#[derive(Debug, Clone, PartialEq)]
enum Compute {
    /// Measure before the next batch, simulating at most this many users.
    Unknown { at_most: usize },
    /// A simulation of these users (in order) is out.
    Measuring {
        users: Vec<Pubkey>,
        budget: ComputeBudget,
    },
    /// Measured on a device of this account size.
    Known {
        units_per_user: u32,
        device_size: Option<usize>,
    },
    /// Could not be measured; the fallback cost is used until then.
    Fallback { retry_at: Instant },
}

/// One transaction between its first signing and its resolution.
struct Tx {
    id: TxId,
    /// In instruction order.
    updates: Vec<Update>,
    /// The compute-budget instructions before them, in the current bytes.
    budget: ComputeBudget,
    /// The cost per user the current bytes were planned with.
    units_per_user: u32,
    signing: Option<Signing>,
    state: TxState,
    signed_at: Instant,
    /// No signing after this.
    deadline: Instant,
}

/// One signing of a transaction's updates.
struct Signing {
    signature: Signature,
    wire: Arc<Vec<u8>>,
    last_valid_block_height: u64,
    /// A node may have these bytes.
    out: bool,
    /// A node said it has them.
    accepted: bool,
}

/// Where a transaction stands; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Waiting for a fresh blockhash to be signed (again).
    Unsigned,
    /// Signed; the next send goes at `at`; `failures` unanswered sends in a row.
    Due { at: Instant, failures: u32 },
    /// A send is out; `rebroadcast` when the bytes were already accepted.
    Sending { failures: u32, rebroadcast: bool },
    /// A node has the bytes and the cluster has not shown them yet: the same bytes go again at
    /// `next`.
    Accepted { next: Instant },
    /// The bytes may be out but must not be sent again (a later send was refused): only their
    /// status or their expiry is awaited.
    Quiet,
    /// The cluster has them at `slot`, below the wanted commitment.
    Landed { slot: u64 },
}

impl Pipeline {
    pub fn new(config: OutboxConfig, payer: Keypair) -> Result<Pipeline, OutboxConfigError> {
        config.validate()?;
        let sizes = Sizes::measure(&config);
        let now = Instant::now();
        Ok(Pipeline {
            fee: FeeGuard::new(config.fee_floor_lamports, config.balance_refresh),
            compute: Compute::Unknown {
                at_most: sizes.with_budget_ixs(2),
            },
            config,
            payer,
            sizes,
            queue: VecDeque::new(),
            txs: Vec::new(),
            next_id: 1,
            blockhash: Read::new(),
            height: Read::new(),
            balance: Read::new(),
            polling: false,
            poll_failures: 0,
            next_poll: now,
            device_size: None,
            latency: None,
            blockhash_asked: None,
            poll_asked: None,
            stop_at: None,
            events: Vec::new(),
        })
    }

    // ---- what comes in --------------------------------------------------------------------

    /// Queues updates. A newer update for a user still queued replaces the older one.
    pub fn submit(&mut self, updates: Vec<Update>) {
        for update in updates {
            if self.stop_at.is_some() {
                self.drop_update(&update, "the outbox is shutting down");
                continue;
            }
            match self.queue.iter_mut().find(|u| u.user == update.user) {
                Some(queued) => {
                    let old = std::mem::replace(queued, update);
                    self.drop_update(&old, "superseded by a newer update for the same user");
                }
                None => self.queue.push_back(update),
            }
        }
    }

    /// The device account's size, which the program's cost per user follows (it decodes the
    /// whole device each call): a different size measures the cost again.
    pub fn set_device_size(&mut self, size: usize) {
        self.device_size = Some(size);
        if let Compute::Known { device_size, .. } = &self.compute {
            if *device_size != Some(size) {
                self.compute = self.measure_again();
            }
        }
    }

    /// Stops taking updates: queued ones and transactions no node can have are dropped, the
    /// rest are followed until `now + grace`.
    pub fn shutdown(&mut self, now: Instant, grace: Duration) {
        if self.stop_at.is_some() {
            return;
        }
        self.stop_at = Some(now + grace);
        for update in std::mem::take(&mut self.queue) {
            self.drop_update(&update, "the outbox is shutting down");
        }
        let (unsent, out): (Vec<Tx>, Vec<Tx>) = std::mem::take(&mut self.txs)
            .into_iter()
            .partition(|tx| !tx.may_be_out());
        self.txs = out;
        for tx in unsent {
            for update in &tx.updates {
                self.drop_update(update, "the outbox is shutting down; never sent");
            }
        }
    }

    pub fn on_blockhash(&mut self, now: Instant, result: Result<LatestBlockhash, CallFailure>) {
        if result.is_ok() {
            self.timed(self.blockhash_asked, now);
        }
        let event = self.blockhash.answered("getLatestBlockhash", now, result);
        self.events.extend(event);
    }

    pub fn on_block_height(&mut self, now: Instant, result: Result<u64, CallFailure>) {
        let event = self.height.answered("getBlockHeight", now, result);
        self.events.extend(event);
    }

    pub fn on_balance(&mut self, now: Instant, result: Result<u64, CallFailure>) {
        let lamports = result.as_ref().ok().copied();
        let event = self.balance.answered("getBalance", now, result);
        self.events.extend(event);
        if let Some(lamports) = lamports {
            let crossed = self.fee.record(lamports, now);
            self.events.push(Event::Balance { lamports, crossed });
        }
    }

    /// The statuses of `asked`, in order.
    pub fn on_statuses(
        &mut self,
        now: Instant,
        asked: &[Signature],
        result: Result<Vec<Option<TransactionStatus>>, CallFailure>,
    ) {
        self.polling = false;
        const CALL: &str = "getSignatureStatuses";
        let statuses = match result {
            Ok(statuses) => statuses,
            Err(failure) => {
                self.poll_failures += 1;
                self.events.push(Event::ReadFailed {
                    call: CALL,
                    error: failure.error,
                    failures: self.poll_failures,
                });
                return;
            }
        };
        self.timed(self.poll_asked, now);
        let failures = std::mem::take(&mut self.poll_failures);
        if failures > 0 {
            self.events.push(Event::ReadRecovered {
                call: CALL,
                failures,
            });
        }
        for (signature, status) in asked.iter().zip(statuses) {
            let Some(i) = self
                .txs
                .iter()
                .position(|tx| tx.signature() == Some(*signature))
            else {
                continue;
            };
            match status {
                Some(TransactionStatus { err: Some(err), .. }) => {
                    let tx = self.txs.remove(i);
                    self.landed_failed(tx, &err);
                }
                Some(status) if reached(&status, self.config.commitment) => {
                    let tx = self.txs.remove(i);
                    self.confirmed(now, tx, status.slot);
                }
                Some(status) => self.txs[i].state = TxState::Landed { slot: status.slot },
                None => self.unseen(now, i),
            }
        }
    }

    pub fn on_sent(&mut self, now: Instant, tx: TxId, signature: Signature, result: SendResult) {
        let Some(i) = self
            .txs
            .iter()
            .position(|t| t.id == tx && t.signature() == Some(signature))
        else {
            return;
        };
        let TxState::Sending {
            failures,
            rebroadcast,
        } = self.txs[i].state
        else {
            return;
        };
        let interval = self.config.rebroadcast_interval;
        if rebroadcast {
            // The bytes are out already; a rebroadcast's answer changes nothing but the clock.
            self.txs[i].state = TxState::Accepted {
                next: now + interval,
            };
            return;
        }
        match result {
            SendResult::Accepted => self.accepted(now, i),
            SendResult::Unknown(failure) => {
                let tx = &mut self.txs[i];
                if let Some(signing) = &mut tx.signing {
                    signing.out = true;
                }
                let failures = failures + 1;
                tx.state = TxState::Due {
                    at: now + send_retry(failures, failure.retry_after),
                    failures,
                };
            }
            SendResult::Refused { error } => self.refused_send(i, error),
            SendResult::Rejected { err, logs } => {
                let tx = &self.txs[i];
                match classify(
                    &err,
                    Some(&logs),
                    tx.budget.instruction_count(),
                    tx.updates.len(),
                ) {
                    Verdict::AlreadyProcessed => self.accepted(now, i),
                    Verdict::Transient { .. } => {
                        let failures = failures + 1;
                        self.txs[i].state = TxState::Due {
                            at: now + send_retry(failures, None),
                            failures,
                        };
                    }
                    // An earlier send may have been forwarded: those bytes decide, not this one.
                    _ if self.txs[i].may_be_out() => self.txs[i].state = TxState::Quiet,
                    Verdict::BlockhashNotFound => {
                        // The node lags or the hash expired; nobody has the bytes: sign again.
                        let tx = &mut self.txs[i];
                        tx.signing = None;
                        tx.state = TxState::Unsigned;
                        self.blockhash.value = None;
                    }
                    verdict => {
                        let tx = self.txs.remove(i);
                        self.failed(tx, verdict);
                    }
                }
            }
        }
    }

    pub fn on_simulated(&mut self, now: Instant, result: Result<Simulation, CallFailure>) {
        let Compute::Measuring { users, budget } = std::mem::replace(
            &mut self.compute,
            Compute::Fallback {
                retry_at: now + MEASURE_RETRY,
            },
        ) else {
            return;
        };
        let simulation = match result {
            Ok(simulation) => simulation,
            Err(failure) => {
                self.events.push(Event::ComputeUnmeasured {
                    error: failure.error,
                });
                return;
            }
        };
        if let Some(err) = &simulation.err {
            let verdict = classify(
                err,
                Some(&simulation.logs),
                budget.instruction_count(),
                users.len(),
            );
            self.compute = self.measure_again();
            match verdict {
                Verdict::Refused { position, error } => {
                    self.fail_queued(&users[position], error, Cause::Refused)
                }
                Verdict::Payer {
                    position: Some(position),
                    error,
                } => self.fail_queued(&users[position], error, Cause::Payer),
                Verdict::Payer {
                    position: None,
                    error,
                } => {
                    for user in &users {
                        self.fail_queued(user, error.clone(), Cause::Payer);
                    }
                }
                Verdict::OutOfCompute if users.len() > 1 => {
                    self.compute = Compute::Unknown {
                        at_most: users.len() / 2,
                    };
                }
                Verdict::OutOfCompute => self.fail_queued(
                    &users[0],
                    "needs more compute than one transaction may use".into(),
                    Cause::Unknown,
                ),
                Verdict::BlockhashNotFound => self.blockhash.value = None,
                other => {
                    self.compute = Compute::Fallback {
                        retry_at: now + MEASURE_RETRY,
                    };
                    self.events.push(Event::ComputeUnmeasured {
                        error: verdict_error(&other),
                    });
                }
            }
            return;
        }
        let Some(units) = simulation.units_consumed else {
            self.events.push(Event::ComputeUnmeasured {
                error: "the simulation reported no units consumed".into(),
            });
            return;
        };
        let units_per_user = batch::units_per_user(units, budget, users.len());
        self.compute = Compute::Known {
            units_per_user,
            device_size: self.device_size,
        };
        let plan = self.plan();
        self.events.push(Event::ComputeMeasured {
            units_per_user,
            per_tx: plan.per_tx,
            limit_per_user: plan.limit_per_user,
        });
    }

    // ---- what goes out --------------------------------------------------------------------

    /// Advances the clock to `now` and returns the calls due.
    pub fn poll(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(stop_at) = self.stop_at {
            if now >= stop_at {
                for tx in std::mem::take(&mut self.txs) {
                    self.fail_all(
                        &tx,
                        format!(
                            "the outbox shut down before {} was confirmed",
                            tx.signature()
                                .map_or_else(|| "the transaction".into(), |s| s.to_string())
                        ),
                        Cause::Rpc,
                    );
                }
                return effects;
            }
        }
        self.expire(now);
        self.admit(now, &mut effects);
        self.sign_again(now, &mut effects);
        self.send_due(now, &mut effects);
        self.poll_statuses(now, &mut effects);
        effects
    }

    /// Everything that happened since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// When the next call may be due, with no result coming in before it.
    pub fn next_wake(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = self.stop_at;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        for update in &self.queue {
            at(update.observed_at + self.config.confirm_timeout);
        }
        if self.wants_blockhash() {
            if let Some(retry_at) = self.blockhash.retry_at {
                at(retry_at);
            }
            if let Some((_, fetched)) = &self.blockhash.value {
                at(*fetched + BLOCKHASH_REUSE);
            }
        }
        if let Compute::Fallback { retry_at } = self.compute {
            if !self.queue.is_empty() {
                at(retry_at);
            }
        }
        if self.txs.iter().any(|tx| tx.may_be_out()) {
            at(self.next_poll);
        }
        for tx in &self.txs {
            match tx.state {
                TxState::Due { at: due, .. } => at(due),
                TxState::Accepted { next } => at(next),
                _ => {}
            }
            if !tx.may_be_out() {
                at(tx.deadline);
            }
        }
        wake
    }

    /// Shut down and nothing left to follow.
    pub fn is_done(&self) -> bool {
        self.stop_at.is_some() && self.txs.is_empty() && self.queue.is_empty()
    }

    /// Most transactions in flight: as configured, or from the RPC's latency and the slot time.
    pub fn depth(&self) -> usize {
        self.config
            .max_inflight
            .unwrap_or_else(|| auto_depth(self.latency.unwrap_or_default(), self.config.slot_time))
    }

    /// Transactions in flight.
    pub fn in_flight(&self) -> usize {
        self.txs.len()
    }

    /// Updates waiting for a transaction.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The state of each transaction in flight, for tests and `/status`.
    pub fn states(&self) -> Vec<TxState> {
        self.txs.iter().map(|tx| tx.state).collect()
    }

    // ---- the rules ------------------------------------------------------------------------

    /// Queued updates that waited `confirm_timeout` are handed back (the RPC's failure, not the
    /// user's), and transactions no node can have are failed at their deadline.
    fn expire(&mut self, now: Instant) {
        let timeout = self.config.confirm_timeout;
        if self.queue.iter().any(|u| now >= u.observed_at + timeout) {
            let why = self.blockhash.last_error.clone().map_or_else(
                || "waiting for room in flight".to_string(),
                |e| format!("cannot get a blockhash: {e}"),
            );
            let (expired, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.queue)
                .into_iter()
                .partition(|u| now >= u.observed_at + timeout);
            self.queue = keep;
            let error = format!("not sent within {timeout:?}: {why}");
            for update in &expired {
                self.emit(
                    update,
                    Resolution::Failed {
                        error: error.clone(),
                        cause: Cause::Rpc,
                    },
                );
            }
        }
        let (overdue, keep): (Vec<Tx>, Vec<Tx>) =
            std::mem::take(&mut self.txs).into_iter().partition(|tx| {
                now >= tx.deadline
                    && !tx.may_be_out()
                    && !matches!(tx.state, TxState::Sending { .. })
            });
        self.txs = keep;
        for tx in overdue {
            let error = format!(
                "not sent within {timeout:?}: {}",
                self.blockhash
                    .last_error
                    .as_deref()
                    .unwrap_or("no node took it")
            );
            self.events.push(Event::TransactionFailed {
                signature: tx.signature(),
                error: error.clone(),
            });
            self.fail_all(&tx, error, Cause::Rpc);
        }
    }

    fn admit(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.stop_at.is_some() || self.queue.is_empty() {
            return;
        }
        if self.fee.is_stale(now) && self.balance.can_ask(now) {
            self.balance.in_flight = true;
            effects.push(Effect::FetchBalance);
        }
        self.apply_fee_guard();
        if self.txs.len() >= self.depth() || !self.has_admissible() {
            return;
        }
        let Some(hash) = self.fresh_blockhash(now, effects) else {
            return;
        };
        match self.compute.clone() {
            Compute::Measuring { .. } => {}
            Compute::Unknown { at_most } => self.measure(hash, at_most, effects),
            Compute::Fallback { retry_at } if now >= retry_at => {
                self.compute = self.measure_again();
                if let Compute::Unknown { at_most } = self.compute {
                    self.measure(hash, at_most, effects);
                }
            }
            Compute::Known { .. } | Compute::Fallback { .. } => self.form_batches(now, hash),
        }
    }

    fn form_batches(&mut self, now: Instant, hash: LatestBlockhash) {
        let plan = self.plan();
        if plan.per_tx == 0 {
            let error = format!(
                "one user's instruction needs more than the {} compute units a transaction may use",
                batch::MAX_COMPUTE_UNIT_LIMIT
            );
            for update in std::mem::take(&mut self.queue) {
                self.emit(
                    &update,
                    Resolution::Failed {
                        error: error.clone(),
                        cause: Cause::Unknown,
                    },
                );
            }
            return;
        }
        while self.txs.len() < self.depth() {
            let batch = self.take_admissible(plan.per_tx);
            if batch.is_empty() {
                return;
            }
            let id = self.next_id;
            self.next_id += 1;
            let mut tx = Tx {
                id,
                updates: batch,
                budget: ComputeBudget::default(),
                units_per_user: self.units_per_user(),
                signing: None,
                state: TxState::Unsigned,
                signed_at: now,
                deadline: now + self.config.confirm_timeout,
            };
            self.sign(&mut tx, &plan, hash.clone(), now);
            self.txs.push(tx);
        }
    }

    /// Signs transactions whose last bytes died, while their deadline allows.
    fn sign_again(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.stop_at.is_some() || !self.txs.iter().any(|tx| tx.state == TxState::Unsigned) {
            return;
        }
        let Some(hash) = self.fresh_blockhash(now, effects) else {
            return;
        };
        let plan = self.plan();
        let mut requeue = Vec::new();
        for tx in self
            .txs
            .iter_mut()
            .filter(|tx| tx.state == TxState::Unsigned)
        {
            // The compute may have been measured again since: keep what still fits.
            if plan.per_tx > 0 && tx.updates.len() > plan.per_tx {
                requeue.extend(tx.updates.split_off(plan.per_tx));
            }
            tx.units_per_user = match self.compute {
                Compute::Known { units_per_user, .. } => units_per_user,
                _ => FALLBACK_UNITS_PER_USER,
            };
            Self::sign_with(&self.config, &self.payer, tx, &plan, hash.clone(), now);
        }
        self.requeue(requeue);
    }

    fn send_due(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        for tx in &mut self.txs {
            let (failures, rebroadcast) = match tx.state {
                TxState::Due { at, failures } if now >= at => (failures, false),
                TxState::Accepted { next } if now >= next => (0, true),
                _ => continue,
            };
            let Some(signing) = &tx.signing else {
                continue;
            };
            effects.push(Effect::Send {
                tx: tx.id,
                signature: signing.signature,
                wire: signing.wire.clone(),
                // Preflight catches a refused instruction before a fee is paid; once a node
                // has the bytes, resends only need to reach the leader.
                preflight: !signing.accepted,
            });
            tx.state = TxState::Sending {
                failures,
                rebroadcast,
            };
        }
    }

    fn poll_statuses(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.polling || now < self.next_poll {
            return;
        }
        let open: Vec<Signature> = self
            .txs
            .iter()
            .filter(|tx| tx.may_be_out())
            .filter_map(Tx::signature)
            .collect();
        if open.is_empty() {
            return;
        }
        // Expiry is judged at finalized: past it, no fork can include the bytes any more.
        let unseen = self
            .txs
            .iter()
            .any(|tx| tx.may_be_out() && !matches!(tx.state, TxState::Landed { .. }));
        if unseen && self.height.can_ask(now) {
            self.height.in_flight = true;
            effects.push(Effect::FetchBlockHeight);
        }
        self.polling = true;
        self.poll_asked = Some(now);
        self.next_poll = now + self.config.poll_interval;
        effects.push(Effect::PollStatuses(open));
    }

    fn accepted(&mut self, now: Instant, i: usize) {
        let next = now + self.config.rebroadcast_interval;
        let tx = &mut self.txs[i];
        let Some(signing) = &mut tx.signing else {
            return;
        };
        let first = !signing.accepted;
        signing.out = true;
        signing.accepted = true;
        tx.state = TxState::Accepted { next };
        if first {
            self.events.push(Event::Sent {
                signature: signing.signature,
                users: tx.updates.len(),
            });
        }
    }

    /// No status: bytes that may be out and whose blockhash is past the finalized height can
    /// never land; only then is the transaction signed again (or given up after its deadline).
    fn unseen(&mut self, now: Instant, i: usize) {
        let tx = &mut self.txs[i];
        if let TxState::Landed { .. } = tx.state {
            // Seen before and gone now: the fork it landed on was dropped.
            tx.state = TxState::Accepted { next: now };
        }
        let (Some(signing), Some((height, _))) = (&tx.signing, &self.height.value) else {
            return;
        };
        if !signing.out || *height <= signing.last_valid_block_height {
            return;
        }
        let signature = signing.signature;
        self.events.push(Event::Expired { signature });
        if now < tx.deadline && self.stop_at.is_none() {
            tx.signing = None;
            tx.state = TxState::Unsigned;
            return;
        }
        let tx = self.txs.remove(i);
        let error = format!(
            "not confirmed within {:?}: its last bytes ({signature}) expired unseen",
            self.config.confirm_timeout
        );
        self.events.push(Event::TransactionFailed {
            signature: Some(signature),
            error: error.clone(),
        });
        self.fail_all(&tx, error, Cause::Rpc);
    }

    fn confirmed(&mut self, now: Instant, tx: Tx, slot: u64) {
        let signature = tx.signature().unwrap_or_default();
        self.events.push(Event::Confirmed {
            signature,
            slot,
            users: tx.updates.len(),
            since_signed: now.saturating_duration_since(tx.signed_at),
        });
        for update in &tx.updates {
            if update.reason == UpdateReason::Change {
                self.events.push(Event::ChangeConfirmed {
                    since_observed: now.saturating_duration_since(update.observed_at),
                });
            }
            self.emit(update, Resolution::Confirmed { signature, slot });
        }
    }

    /// The bytes landed and failed (their fee was paid): no logs come with a status.
    fn landed_failed(&mut self, tx: Tx, err: &TransactionError) {
        let verdict = classify(err, None, tx.budget.instruction_count(), tx.updates.len());
        self.failed(tx, verdict);
    }

    /// Applies a verdict on a transaction none of whose bytes can land any more.
    fn failed(&mut self, tx: Tx, verdict: Verdict) {
        let signature = tx.signature();
        self.events.push(Event::TransactionFailed {
            signature,
            error: verdict_error(&verdict),
        });
        let Tx {
            updates,
            units_per_user,
            ..
        } = tx;
        let blame = |updates: Vec<Update>, position: usize| {
            let mut rest = updates;
            let blamed = rest.remove(position);
            (blamed, rest)
        };
        match verdict {
            Verdict::Refused { position, error } => {
                let (blamed, rest) = blame(updates, position);
                self.emit(
                    &blamed,
                    Resolution::Failed {
                        error,
                        cause: Cause::Refused,
                    },
                );
                self.requeue(rest);
            }
            Verdict::Payer {
                position: Some(position),
                error,
            } => {
                let (blamed, rest) = blame(updates, position);
                self.emit(
                    &blamed,
                    Resolution::Failed {
                        error,
                        cause: Cause::Payer,
                    },
                );
                self.requeue(rest);
            }
            Verdict::Payer {
                position: None,
                error,
            } => self.fail_updates(&updates, error, Cause::Payer),
            Verdict::OutOfCompute | Verdict::Unexplained { .. } => {
                self.events.push(Event::OutOfCompute {
                    error: verdict_error(&verdict),
                });
                // Batches signed before a newer measurement fail too; they only need it.
                if self.units_per_user() == units_per_user {
                    self.compute = self.measure_again();
                }
                self.requeue(updates);
            }
            Verdict::BlockhashNotFound | Verdict::AlreadyProcessed | Verdict::Transient { .. } => {
                self.requeue(updates)
            }
            Verdict::Unknown { error } => self.fail_updates(&updates, error, Cause::Unknown),
        }
    }

    fn refused_send(&mut self, i: usize, error: String) {
        if self.txs[i].may_be_out() {
            self.txs[i].state = TxState::Quiet;
            return;
        }
        let tx = self.txs.remove(i);
        self.failed(tx, Verdict::Unknown { error });
    }

    // ---- helpers --------------------------------------------------------------------------

    fn plan(&self) -> Plan {
        batch::plan(&self.config, &self.sizes, self.units_per_user())
    }

    fn units_per_user(&self) -> u32 {
        match self.compute {
            Compute::Known { units_per_user, .. } => units_per_user,
            _ => FALLBACK_UNITS_PER_USER,
        }
    }

    fn measure_again(&self) -> Compute {
        Compute::Unknown {
            at_most: self.sizes.with_budget_ixs(2),
        }
    }

    /// Simulates up to `at_most` queued users under the whole transaction allowance.
    fn measure(&mut self, hash: LatestBlockhash, at_most: usize, effects: &mut Vec<Effect>) {
        let candidates: Vec<Update> = self
            .queue
            .iter()
            .filter(|u| !self.in_a_tx(&u.user))
            .take(at_most.max(1))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return;
        }
        let budget = batch::measuring_budget(&self.config);
        let signed = batch::sign(
            &self.config,
            &self.payer,
            &candidates,
            budget,
            hash.blockhash,
        );
        self.compute = Compute::Measuring {
            users: candidates.iter().map(|u| u.user).collect(),
            budget,
        };
        effects.push(Effect::Simulate { wire: signed.wire });
    }

    /// A blockhash fetched within [`BLOCKHASH_REUSE`], or the fetch asked for.
    fn fresh_blockhash(
        &mut self,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) -> Option<LatestBlockhash> {
        if let Some((hash, fetched)) = &self.blockhash.value {
            if now < *fetched + BLOCKHASH_REUSE {
                return Some(hash.clone());
            }
        }
        if self.blockhash.can_ask(now) {
            self.blockhash.in_flight = true;
            self.blockhash_asked = Some(now);
            effects.push(Effect::FetchBlockhash);
        }
        None
    }

    /// Takes in one round trip's time (weight 1/5, so one slow answer moves it little).
    fn timed(&mut self, asked: Option<Instant>, now: Instant) {
        let Some(asked) = asked else {
            return;
        };
        let sample = now.saturating_duration_since(asked);
        self.latency = Some(match self.latency {
            Some(old) => (old * 4 + sample) / 5,
            None => sample,
        });
    }

    fn wants_blockhash(&self) -> bool {
        let admissible =
            self.stop_at.is_none() && self.txs.len() < self.depth() && self.has_admissible();
        admissible || self.txs.iter().any(|tx| tx.state == TxState::Unsigned)
    }

    fn sign(&self, tx: &mut Tx, plan: &Plan, hash: LatestBlockhash, now: Instant) {
        Self::sign_with(&self.config, &self.payer, tx, plan, hash, now);
    }

    fn sign_with(
        config: &OutboxConfig,
        payer: &Keypair,
        tx: &mut Tx,
        plan: &Plan,
        hash: LatestBlockhash,
        now: Instant,
    ) {
        let budget = plan.budget(tx.updates.len());
        let signed = batch::sign(config, payer, &tx.updates, budget, hash.blockhash);
        tx.budget = budget;
        tx.signing = Some(Signing {
            signature: signed.signature,
            wire: signed.wire,
            last_valid_block_height: hash.last_valid_block_height,
            out: false,
            accepted: false,
        });
        tx.state = TxState::Due {
            at: now,
            failures: 0,
        };
    }

    fn apply_fee_guard(&mut self) {
        if self.queue.iter().all(|u| self.fee.admits(u.reason)) {
            return;
        }
        let (keep, drop): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|u| self.fee.admits(u.reason));
        self.queue = keep;
        let why = self.fee.why_dropped();
        for update in drop {
            self.drop_update(&update, &why);
        }
    }

    fn has_admissible(&self) -> bool {
        self.queue.iter().any(|u| !self.in_a_tx(&u.user))
    }

    fn in_a_tx(&self, user: &Pubkey) -> bool {
        self.txs
            .iter()
            .any(|tx| tx.updates.iter().any(|u| u.user == *user))
    }

    /// Up to `n` queued updates whose users have no transaction in flight (a user's writes
    /// land in order), in queue order.
    fn take_admissible(&mut self, n: usize) -> Vec<Update> {
        let mut batch = Vec::new();
        let mut rest = VecDeque::with_capacity(self.queue.len());
        while let Some(update) = self.queue.pop_front() {
            if batch.len() < n && !self.in_a_tx(&update.user) {
                batch.push(update);
            } else {
                rest.push_back(update);
            }
        }
        self.queue = rest;
        batch
    }

    /// Puts updates back at the head of the queue in their order: they were first in line.
    fn requeue(&mut self, updates: Vec<Update>) {
        for update in updates.into_iter().rev() {
            if self.stop_at.is_some() {
                self.drop_update(&update, "the outbox is shutting down");
            } else {
                self.queue.push_front(update);
            }
        }
    }

    fn fail_queued(&mut self, user: &Pubkey, error: String, cause: Cause) {
        if let Some(i) = self.queue.iter().position(|u| u.user == *user) {
            let update = self.queue.remove(i).expect("found");
            self.emit(&update, Resolution::Failed { error, cause });
        }
    }

    fn fail_all(&mut self, tx: &Tx, error: String, cause: Cause) {
        self.fail_updates(&tx.updates, error, cause);
    }

    fn fail_updates(&mut self, updates: &[Update], error: String, cause: Cause) {
        for update in updates {
            self.emit(
                update,
                Resolution::Failed {
                    error: error.clone(),
                    cause,
                },
            );
        }
    }

    fn drop_update(&mut self, update: &Update, why: &str) {
        self.emit(update, Resolution::Dropped { why: why.into() });
    }

    fn emit(&mut self, update: &Update, result: Resolution) {
        self.events.push(Event::Outcome(Outcome {
            user: update.user,
            status: update.status,
            rtt_ns: update.rtt_ns,
            result,
        }));
    }
}

impl Tx {
    fn signature(&self) -> Option<Signature> {
        self.signing.as_ref().map(|s| s.signature)
    }

    /// Whether any node may have the current bytes.
    fn may_be_out(&self) -> bool {
        self.signing.as_ref().is_some_and(|s| s.out)
    }
}

fn send_retry(failures: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(asked) => asked.min(MAX_RETRY_AFTER),
        None => backoff::jitter(backoff::doubling(
            failures,
            SEND_RETRY_FIRST,
            SEND_RETRY_MAX,
        )),
    }
}

fn verdict_error(verdict: &Verdict) -> String {
    match verdict {
        Verdict::OutOfCompute => "ran out of compute".into(),
        Verdict::BlockhashNotFound => describe(&TransactionError::BlockhashNotFound),
        Verdict::AlreadyProcessed => describe(&TransactionError::AlreadyProcessed),
        Verdict::Refused { error, .. }
        | Verdict::Payer { error, .. }
        | Verdict::Transient { error }
        | Verdict::Unexplained { error }
        | Verdict::Unknown { error } => error.clone(),
    }
}

/// Whether a status has reached the wanted commitment. A status without
/// `confirmationStatus` comes from an old node: null confirmations there mean rooted.
fn reached(status: &TransactionStatus, target: Commitment) -> bool {
    let level = match status.confirmation_status {
        Some(c) => c,
        None if status.confirmations.is_none() => Commitment::Finalized,
        None => Commitment::Processed,
    };
    level >= target
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;

//! The outbox task: queue, sign, send, rebroadcast, confirm, split, re-sign, give up.
//!
//! [`Outbox`] is the handle: `submit` drops a tick's updates into an unbounded channel (the
//! monitor never has more than one update per user in flight, so the queue is bounded by the
//! device's users) and returns at once. One task owns all state and runs a loop: take
//! commands, then do whatever is due — pack pending updates into new transactions while there
//! is room in flight, (re)send transactions whose time has come, poll statuses, fail what passed
//! its deadline. Every RPC call is bounded by the client's timeout; a failed send is retried by
//! scheduling, not by sleeping, so one slow endpoint cannot stall the others' confirmation.
//!
//! Safety of resending (solana-rpc.md §2.2): the same signed bytes may be sent any number of
//! times, since a signature lands at most once. A new signature is made only when the old one
//! provably cannot land: its preflight failed (the node did not forward it), or the finalized
//! block height has passed its blockhash's `lastValidBlockHeight` while its status is null.

use std::collections::VecDeque;
use std::time::Duration;

use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use super::batch::{self, blamed_update, describe};
use super::fee::FeeGuard;
use super::{OutboxConfig, OutboxConfigError, Outcome, Resolution, Update, UpdateReason};
use crate::metrics::OutboxMetrics;
use crate::rpc::{
    Client, Commitment, LatestBlockhash, RpcError, SendOptions, TransactionError, TransactionStatus,
};

/// First wait after a failed send or blockhash fetch; doubles per failure up to the cap.
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The most of a server's `Retry-After` that is honoured. A quota reset hours away must not
/// park status writes for hours (or overflow the clock): ask again after this and be told anew.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The handle the daemon holds. Dropping it shuts the outbox down with `confirm_timeout` as the
/// grace period; [`Outbox::shutdown`] chooses the grace and waits for the end.
pub struct Outbox {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

/// `submit` after the outbox stopped; the updates are handed back untouched.
#[derive(Debug, thiserror::Error)]
#[error("the outbox has stopped; {} update(s) not taken", .0.len())]
pub struct OutboxClosed(pub Vec<Update>);

enum Command {
    Submit(Vec<Update>),
    Shutdown { grace: Duration },
}

impl Outbox {
    /// Validates `config`, measures the batch size and starts the task on the current tokio
    /// runtime. Outcomes arrive on the returned receiver; it closes once the outbox has stopped
    /// and every update has its outcome.
    pub fn start(
        rpc: Client,
        payer: Keypair,
        config: OutboxConfig,
        metrics: OutboxMetrics,
    ) -> Result<(Outbox, mpsc::UnboundedReceiver<Outcome>), OutboxConfigError> {
        config.validate()?;
        let (commands, inbox) = mpsc::unbounded_channel();
        let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
        tracing::info!(
            per_transaction = config.per_transaction(),
            max_inflight = config.max_inflight,
            commitment = ?config.commitment,
            payer = %payer.pubkey(),
            "outbox started"
        );
        let driver = Driver {
            per_tx: config.per_transaction(),
            fee: FeeGuard::new(config.fee_floor_lamports, config.balance_refresh),
            rpc,
            payer,
            config,
            metrics,
            outcomes,
            pending: VecDeque::new(),
            inflight: Vec::new(),
            next_poll: Instant::now(),
            admit_after: Instant::now(),
            admit_failures: 0,
            last_admit_error: None,
            stop_at: None,
        };
        let task = tokio::spawn(driver.run(inbox));
        Ok((Outbox { commands, task }, outcomes_rx))
    }

    /// Queues updates for sending and returns without waiting. A newer update for a user
    /// still queued replaces the older one, which is reported as dropped.
    pub fn submit(&self, updates: Vec<Update>) -> Result<(), OutboxClosed> {
        if updates.is_empty() {
            return Ok(());
        }
        self.commands
            .send(Command::Submit(updates))
            .map_err(|e| match e.0 {
                Command::Submit(updates) => OutboxClosed(updates),
                Command::Shutdown { .. } => unreachable!("only updates were sent"),
            })
    }

    /// Stops taking updates (queued, unsent ones are dropped), keeps confirming what is in
    /// flight for up to `grace`, fails whatever is still unconfirmed, and returns once the task
    /// has ended.
    pub async fn shutdown(self, grace: Duration) {
        // The task may already be gone (it panicked); there is nothing left to wait for then.
        let _ = self.commands.send(Command::Shutdown { grace });
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "outbox task ended abnormally");
        }
    }
}

struct Driver {
    rpc: Client,
    payer: Keypair,
    config: OutboxConfig,
    per_tx: usize,
    metrics: OutboxMetrics,
    outcomes: mpsc::UnboundedSender<Outcome>,
    /// Updates not yet in a transaction, oldest first, at most one per user. Each expires
    /// `confirm_timeout` after its observation (see `expire_pending`).
    pending: VecDeque<Update>,
    inflight: Vec<InFlight>,
    fee: FeeGuard,
    next_poll: Instant,
    /// After a failed blockhash fetch, new batches wait until then.
    admit_after: Instant,
    admit_failures: u32,
    /// Why the last batch could not be signed, for updates that expire waiting.
    last_admit_error: Option<String>,
    /// Set once shutting down: in-flight transactions are abandoned at this instant.
    stop_at: Option<Instant>,
}

/// One signed transaction between its first send and its outcome.
struct InFlight {
    /// In instruction order, after the compute-budget instructions.
    updates: Vec<Update>,
    signature: Signature,
    wire: Vec<u8>,
    budget_instructions: usize,
    /// The per-user compute estimate the current bytes were signed with.
    cu_per_user: u32,
    last_valid_block_height: u64,
    /// The current bytes cannot land (preflight said the blockhash is unknown, or it
    /// expired): sign again with a fresh blockhash before the next send.
    needs_resign: bool,
    /// A node accepted these bytes at least once; later sends skip preflight.
    accepted: bool,
    /// The last poll found a status: the cluster has it, so rebroadcasting stops.
    seen: bool,
    next_send: Instant,
    send_failures: u32,
    /// The first signing of this batch, for the submission duration.
    signed_at: Instant,
    deadline: Instant,
}

impl Driver {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Command>) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                command = inbox.recv(), if self.stop_at.is_none() => self.take(command),
                () = sleep_until(wake) => {}
            }
            // Take everything already queued, so one tick's updates share transactions.
            while self.stop_at.is_none() {
                match inbox.try_recv() {
                    Ok(command) => self.take(Some(command)),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => self.take(None),
                }
            }
            self.step().await;
            if let Some(stop_at) = self.stop_at {
                if self.inflight.is_empty() {
                    break;
                }
                if Instant::now() >= stop_at {
                    for tx in std::mem::take(&mut self.inflight) {
                        let error = format!(
                            "outbox shut down before transaction {} was confirmed",
                            tx.signature
                        );
                        self.fail_all(tx, error);
                    }
                    break;
                }
            }
        }
        self.metrics.inflight_transactions.set(0);
        tracing::info!("outbox stopped");
    }

    fn take(&mut self, command: Option<Command>) {
        match command {
            Some(Command::Submit(updates)) => updates.into_iter().for_each(|u| self.enqueue(u)),
            Some(Command::Shutdown { grace }) => self.begin_shutdown(grace),
            // The handle was dropped without a shutdown: give in-flight work the usual time.
            None => self.begin_shutdown(self.config.confirm_timeout),
        }
    }

    fn enqueue(&mut self, update: Update) {
        if let Some(old) = self.pending.iter_mut().find(|u| u.user == update.user) {
            let old = std::mem::replace(old, update);
            self.emit(
                &old,
                Resolution::Dropped {
                    why: "superseded by a newer update for the same user".into(),
                },
            );
        } else {
            self.pending.push_back(update);
        }
    }

    fn begin_shutdown(&mut self, grace: Duration) {
        tracing::info!(
            inflight = self.inflight.len(),
            pending = self.pending.len(),
            ?grace,
            "outbox shutting down"
        );
        self.stop_at = Some(Instant::now() + grace);
        for update in std::mem::take(&mut self.pending) {
            self.emit(
                &update,
                Resolution::Dropped {
                    why: "the outbox is shutting down".into(),
                },
            );
        }
    }

    /// The earliest instant something is due. Far in the future when only a command can wake
    /// the task.
    fn next_wake(&self) -> Instant {
        let mut wake = Instant::now() + Duration::from_secs(3600);
        if self.can_admit() {
            wake = wake.min(self.admit_after);
        }
        if !self.inflight.is_empty() {
            wake = wake.min(self.next_poll);
        }
        for update in &self.pending {
            wake = wake.min(update.observed_at + self.config.confirm_timeout);
        }
        for tx in &self.inflight {
            wake = wake.min(tx.deadline);
            if !tx.seen {
                wake = wake.min(tx.next_send);
            }
        }
        if let Some(stop_at) = self.stop_at {
            wake = wake.min(stop_at);
        }
        wake
    }

    /// Whether a new transaction could be formed now: room in flight and a pending update
    /// whose user has no transaction in flight (a user's writes must land in order).
    fn can_admit(&self) -> bool {
        self.stop_at.is_none()
            && self.inflight.len() < self.config.max_inflight
            && self.pending.iter().any(|u| !self.is_inflight(u))
    }

    fn is_inflight(&self, update: &Update) -> bool {
        self.inflight
            .iter()
            .any(|tx| tx.updates.iter().any(|u| u.user == update.user))
    }

    async fn step(&mut self) {
        // One blockhash serves every transaction signed in this step.
        let mut blockhash = None;
        let now = Instant::now();
        if self.can_admit() && now >= self.admit_after {
            self.admit(now, &mut blockhash).await;
        }
        self.send_due(&mut blockhash).await;
        if !self.inflight.is_empty() && Instant::now() >= self.next_poll {
            self.poll().await;
            self.next_poll = Instant::now() + self.config.poll_interval;
        }
        self.fail_overdue(Instant::now());
        self.expire_pending(Instant::now());
        self.metrics
            .inflight_transactions
            .set(self.inflight.len() as i64);
    }

    /// Packs pending updates into new transactions while there is room in flight.
    async fn admit(&mut self, now: Instant, blockhash: &mut Option<LatestBlockhash>) {
        self.apply_fee_guard(now).await;
        while self.inflight.len() < self.config.max_inflight {
            let batch = self.next_batch();
            if batch.is_empty() {
                return;
            }
            let hash = match self.blockhash(blockhash).await {
                Ok(hash) => hash,
                Err(e) => {
                    self.admit_failures += 1;
                    let wait = backoff(self.admit_failures, e.retry_after());
                    tracing::warn!(error = %e, ?wait, "cannot get a blockhash; will try again");
                    self.last_admit_error = Some(format!("cannot get a blockhash: {e}"));
                    self.admit_after = Instant::now() + wait;
                    self.requeue(batch);
                    return;
                }
            };
            self.admit_failures = 0;
            self.last_admit_error = None;
            let signed = batch::sign(&self.config, &self.payer, &batch, hash.blockhash);
            let now = Instant::now();
            self.inflight.push(InFlight {
                updates: batch,
                signature: signed.signature,
                wire: signed.wire,
                budget_instructions: signed.budget_instructions,
                cu_per_user: self.config.cu_per_instruction,
                last_valid_block_height: hash.last_valid_block_height,
                needs_resign: false,
                accepted: false,
                seen: false,
                next_send: now,
                send_failures: 0,
                signed_at: now,
                deadline: now + self.config.confirm_timeout,
            });
        }
    }

    /// Reads the balance when the last read is old, and drops what the guard refuses.
    async fn apply_fee_guard(&mut self, now: Instant) {
        if self.fee.is_stale(now) {
            match self
                .rpc
                .get_balance(&self.payer.pubkey(), Commitment::Confirmed)
                .await
            {
                Ok(balance) => {
                    self.metrics
                        .payer_balance
                        .set(i64::try_from(balance.value).unwrap_or(i64::MAX));
                    self.fee.record(balance.value, Instant::now());
                }
                // The last known balance (or none) stands; the next admission tries again.
                Err(e) => tracing::warn!(error = %e, "cannot read the payer balance"),
            }
        }
        let (keep, drop): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|u| self.fee.admits(u.reason));
        self.pending = keep;
        for update in drop {
            let why = self.fee.why_dropped();
            tracing::debug!(user = %update.user, %why, "update dropped");
            self.emit(&update, Resolution::Dropped { why });
        }
    }

    /// Up to `per_tx` pending updates whose users have nothing in flight, in queue order.
    fn next_batch(&mut self) -> Vec<Update> {
        let mut batch = Vec::new();
        let mut rest = VecDeque::new();
        while let Some(update) = self.pending.pop_front() {
            if batch.len() < self.per_tx && !self.is_inflight(&update) {
                batch.push(update);
            } else {
                rest.push_back(update);
            }
        }
        self.pending = rest;
        batch
    }

    async fn blockhash(
        &self,
        cached: &mut Option<LatestBlockhash>,
    ) -> Result<LatestBlockhash, RpcError> {
        if let Some(hash) = cached {
            return Ok(hash.clone());
        }
        // Confirmed: a processed hash may be on a dropped fork, a finalized one is ~32 blocks
        // into its 150-block life (solana-rpc.md §1.3).
        let hash = self
            .rpc
            .get_latest_blockhash(Commitment::Confirmed)
            .await?
            .value;
        *cached = Some(hash.clone());
        Ok(hash)
    }

    /// Sends every transaction whose send is due: first sends, retries after a failed send,
    /// and rebroadcasts of unseen ones.
    async fn send_due(&mut self, blockhash: &mut Option<LatestBlockhash>) {
        let mut i = 0;
        while i < self.inflight.len() {
            let now = Instant::now();
            let tx = &self.inflight[i];
            if tx.seen || now < tx.next_send {
                i += 1;
                continue;
            }
            if tx.needs_resign {
                match self.blockhash(blockhash).await {
                    Ok(hash) => self.resign(i, hash),
                    Err(e) => {
                        self.retry_later(i, &e);
                        i += 1;
                        continue;
                    }
                }
            }
            let tx = &self.inflight[i];
            let options = SendOptions {
                // Preflight catches a rejected instruction before a fee is paid; once a node has
                // the bytes, resends only need to reach the leader.
                skip_preflight: tx.accepted,
                ..SendOptions::default()
            };
            let result = self.rpc.send_transaction(&tx.wire, options).await;
            if self.on_send_result(i, result) {
                i += 1;
            }
        }
    }

    /// Applies a send's result; false when the transaction left the in-flight list.
    fn on_send_result(&mut self, i: usize, result: Result<Signature, RpcError>) -> bool {
        let err = match result {
            // AlreadyProcessed: these bytes already landed; the status poll will tell how.
            Ok(_)
            | Err(RpcError::PreflightFailure {
                err: TransactionError::AlreadyProcessed,
                ..
            }) => {
                self.accepted(i);
                return true;
            }
            Err(err) => err,
        };
        if self.inflight[i].accepted {
            // A rebroadcast failed; the copy the cluster already has may still land, and the
            // next rebroadcast or the deadline settles it.
            let tx = &mut self.inflight[i];
            tracing::debug!(signature = %tx.signature, error = %err, "rebroadcast failed");
            tx.next_send = Instant::now() + self.config.rebroadcast_interval;
            return true;
        }
        match err {
            RpcError::PreflightFailure {
                err: TransactionError::BlockhashNotFound,
                ..
            } => {
                // The node does not know our hash yet (it lags) or any more: the bytes were not
                // forwarded, so signing again is safe.
                self.inflight[i].needs_resign = true;
                self.retry_later(i, &err);
                true
            }
            RpcError::PreflightFailure {
                err: tx_err, logs, ..
            } if !tx_err.is_transient() => {
                let tx = self.inflight.remove(i);
                tracing::debug!(signature = %tx.signature, ?logs, "preflight logs");
                self.split(tx, &tx_err);
                false
            }
            err if err.is_retryable() => {
                self.retry_later(i, &err);
                true
            }
            err => {
                let tx = self.inflight.remove(i);
                tracing::error!(
                    signature = %tx.signature,
                    users = tx.updates.len(),
                    error = %err,
                    "status transaction refused"
                );
                self.metrics.transactions_failed.inc();
                self.fail_all(tx, err.to_string());
                false
            }
        }
    }

    fn accepted(&mut self, i: usize) {
        let tx = &mut self.inflight[i];
        if !tx.accepted {
            tx.accepted = true;
            self.metrics.transactions_sent.inc();
            self.metrics
                .instructions_per_transaction
                .observe(tx.updates.len() as f64);
            tracing::debug!(signature = %tx.signature, users = tx.updates.len(), "status transaction sent");
        }
        tx.send_failures = 0;
        tx.next_send = Instant::now() + self.config.rebroadcast_interval;
    }

    fn retry_later(&mut self, i: usize, err: &RpcError) {
        let tx = &mut self.inflight[i];
        tx.send_failures += 1;
        let wait = backoff(tx.send_failures, err.retry_after());
        tracing::warn!(signature = %tx.signature, error = %err, ?wait, "send failed; will retry");
        tx.next_send = Instant::now() + wait;
    }

    fn resign(&mut self, i: usize, hash: LatestBlockhash) {
        let tx = &mut self.inflight[i];
        let signed = batch::sign(&self.config, &self.payer, &tx.updates, hash.blockhash);
        tracing::info!(old = %tx.signature, new = %signed.signature, "re-signed with a fresh blockhash");
        tx.signature = signed.signature;
        tx.wire = signed.wire;
        tx.cu_per_user = self.config.cu_per_instruction;
        tx.last_valid_block_height = hash.last_valid_block_height;
        tx.needs_resign = false;
        tx.accepted = false;
    }

    /// Asks for every in-flight signature at once and settles what has an answer.
    async fn poll(&mut self) {
        // Judge expiry at finalized: once the finalized height is past the hash's last valid
        // height, no fork can include the old bytes, so a new signature cannot double-land.
        let height = if self.inflight.iter().any(|tx| tx.accepted && !tx.seen) {
            match self.rpc.get_block_height(Commitment::Finalized).await {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the block height");
                    None
                }
            }
        } else {
            None
        };
        let signatures: Vec<Signature> = self.inflight.iter().map(|tx| tx.signature).collect();
        let statuses = match self.rpc.get_signature_statuses(&signatures).await {
            Ok(reply) => reply.value,
            Err(e) => {
                tracing::warn!(error = %e, "cannot poll transaction statuses");
                return;
            }
        };
        let target = self.config.commitment;
        for (mut tx, status) in std::mem::take(&mut self.inflight).into_iter().zip(statuses) {
            match status {
                Some(TransactionStatus { err: Some(err), .. }) => {
                    tracing::debug!(signature = %tx.signature, "landed with an error; its fee was paid");
                    self.split(tx, &err);
                }
                Some(status) if reached(&status, target) => self.confirmed(tx, status.slot),
                Some(_) => {
                    tx.seen = true;
                    self.inflight.push(tx);
                }
                None => {
                    tx.seen = false;
                    if tx.accepted && height.is_some_and(|h| h > tx.last_valid_block_height) {
                        tracing::info!(signature = %tx.signature, "blockhash expired unseen");
                        self.metrics.transactions_expired.inc();
                        tx.needs_resign = true;
                        tx.next_send = Instant::now();
                    }
                    self.inflight.push(tx);
                }
            }
        }
    }

    fn confirmed(&mut self, tx: InFlight, slot: u64) {
        let now = Instant::now();
        self.metrics.transactions_confirmed.inc();
        self.metrics
            .submission_duration
            .observe(now.duration_since(tx.signed_at).as_secs_f64());
        tracing::info!(signature = %tx.signature, slot, users = tx.updates.len(), "status transaction confirmed");
        for update in &tx.updates {
            self.count(update, "success");
            if update.reason == UpdateReason::Change {
                self.metrics
                    .change_to_confirmation
                    .observe(now.duration_since(update.observed_at).as_secs_f64());
            }
            self.emit(
                update,
                Resolution::Confirmed {
                    signature: tx.signature,
                    slot,
                },
            );
        }
    }

    /// A transaction failed for a reason the chain gave. If the error names one of our
    /// instructions, that user alone fails and the others go back to the front of the queue;
    /// otherwise everyone in it fails.
    fn split(&mut self, tx: InFlight, err: &TransactionError) {
        self.metrics.transactions_failed.inc();
        let error = describe(err);
        if batch::ran_out_of_compute(err) {
            return self.raise_compute_limit(tx, error);
        }
        let Some(blamed) = blamed_update(err, tx.budget_instructions, tx.updates.len()) else {
            tracing::error!(signature = %tx.signature, users = tx.updates.len(), %error, "status transaction failed");
            return self.fail_all(tx, error);
        };
        let mut rest = tx.updates;
        let bad = rest.remove(blamed);
        tracing::error!(
            user = %bad.user,
            status = %bad.status,
            signature = %tx.signature,
            %error,
            resent = rest.len(),
            "the program rejected a user's status update; sending the others without it"
        );
        self.count(&bad, "error");
        self.emit(
            &bad,
            Resolution::Failed {
                error,
                permanent: true,
            },
        );
        self.requeue(rest);
    }

    /// Puts updates back at the head of the queue in their order: they were first in line.
    fn requeue(&mut self, updates: Vec<Update>) {
        for update in updates.into_iter().rev() {
            self.pending.push_front(update);
        }
    }

    /// The program needs more compute per user than estimated: ask for twice as much (fewer
    /// users then fit a transaction) and send the whole batch again. Nobody is blamed: whichever
    /// instruction happened to run when the shared meter ran out is not the culprit.
    fn raise_compute_limit(&mut self, tx: InFlight, error: String) {
        // Batches signed before an earlier raise fail too; they only need the new limit.
        if tx.cu_per_user < self.config.cu_per_instruction {
            tracing::debug!(signature = %tx.signature, "ran out of compute at an old limit; resending");
            return self.requeue(tx.updates);
        }
        let Some(raised) = batch::raised_cu_estimate(self.config.cu_per_instruction) else {
            tracing::error!(signature = %tx.signature, %error, "status transaction ran out of compute at the largest limit");
            return self.fail_all(tx, error);
        };
        self.config.cu_per_instruction = raised;
        self.per_tx = self
            .config
            .per_transaction()
            .min(self.config.transaction_capacity());
        tracing::warn!(
            signature = %tx.signature,
            %error,
            cu_per_user = raised,
            per_transaction = self.per_tx,
            "status transaction ran out of compute; raising the limit and resending"
        );
        self.requeue(tx.updates);
    }

    fn fail_overdue(&mut self, now: Instant) {
        let (overdue, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.inflight)
            .into_iter()
            .partition(|tx| now >= tx.deadline);
        self.inflight = keep;
        for tx in overdue {
            let error = format!(
                "not confirmed within {:?} (last signature {})",
                self.config.confirm_timeout, tx.signature
            );
            tracing::warn!(users = tx.updates.len(), %error, "giving up on a status transaction");
            self.metrics.transactions_failed.inc();
            self.fail_all(tx, error);
        }
    }

    /// Fails updates that waited `confirm_timeout` without being sent (the blockhash could not
    /// be fetched all that time). The state they carry may be stale by now, and while queued
    /// the user counts as in flight, so no newer decision is made: failing them hands the user
    /// back to the next tick, which decides from a fresh observation.
    fn expire_pending(&mut self, now: Instant) {
        let timeout = self.config.confirm_timeout;
        let (expired, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|u| now >= u.observed_at + timeout);
        self.pending = keep;
        if expired.is_empty() {
            return;
        }
        let error = format!(
            "not sent within {timeout:?}: {}",
            self.last_admit_error
                .as_deref()
                .unwrap_or("waiting for room in flight")
        );
        tracing::warn!(users = expired.len(), %error, "giving up on queued status updates");
        for update in &expired {
            self.count(update, "error");
            self.emit(
                update,
                Resolution::Failed {
                    error: error.clone(),
                    permanent: false,
                },
            );
        }
    }

    fn fail_all(&mut self, tx: InFlight, error: String) {
        for update in &tx.updates {
            self.count(update, "error");
            self.emit(
                update,
                Resolution::Failed {
                    error: error.clone(),
                    permanent: false,
                },
            );
        }
    }

    fn count(&self, update: &Update, result: &str) {
        self.metrics
            .submissions
            .with_label_values(&[update.status.as_str(), result])
            .inc();
    }

    fn emit(&self, update: &Update, result: Resolution) {
        // The daemon stopped reading outcomes; nothing is left to tell.
        let _ = self.outcomes.send(Outcome {
            user: update.user,
            status: update.status,
            rtt_ns: update.rtt_ns,
            result,
        });
    }
}

/// Whether a status has reached the wanted commitment. A status without
/// `confirmationStatus` comes from an old node: null confirmations there mean rooted.
fn reached(status: &TransactionStatus, target: Commitment) -> bool {
    let rank = |c: Commitment| match c {
        Commitment::Processed => 0,
        Commitment::Confirmed => 1,
        Commitment::Finalized => 2,
    };
    let level = match status.confirmation_status {
        Some(c) => c,
        None if status.confirmations.is_none() => Commitment::Finalized,
        None => Commitment::Processed,
    };
    rank(level) >= rank(target)
}

/// The wait before the next attempt after `failures` failures in a row: the server's
/// `Retry-After` if it gave one (capped), else the crate's doubling backoff from 500 ms to 10 s.
fn backoff(failures: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(asked) => asked.min(MAX_RETRY_AFTER),
        None => crate::backoff::jitter(crate::backoff::doubling(
            failures,
            BASE_BACKOFF,
            MAX_BACKOFF,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(
        confirmation_status: Option<Commitment>,
        confirmations: Option<u64>,
    ) -> TransactionStatus {
        TransactionStatus {
            slot: 1,
            confirmations,
            err: None,
            confirmation_status,
        }
    }

    #[test]
    fn confirmation_levels_are_ordered() {
        let confirmed = status(Some(Commitment::Confirmed), Some(3));
        assert!(reached(&confirmed, Commitment::Processed));
        assert!(reached(&confirmed, Commitment::Confirmed));
        assert!(!reached(&confirmed, Commitment::Finalized));
        assert!(
            reached(&status(None, None), Commitment::Finalized),
            "rooted"
        );
        assert!(!reached(&status(None, Some(1)), Commitment::Confirmed));
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        for failures in 1..=10 {
            let d = BASE_BACKOFF
                .saturating_mul(1 << (failures - 1))
                .min(MAX_BACKOFF);
            let got = backoff(failures, None);
            assert!(got >= d / 2 && got <= d, "{failures}: {got:?}");
        }
        assert_eq!(
            backoff(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        // A huge Retry-After (a day, or u64::MAX seconds) is capped, not added to the clock.
        assert_eq!(backoff(1, Some(Duration::MAX)), MAX_RETRY_AFTER);
        assert_eq!(
            backoff(3, Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
    }
}

//! The outbox's driver: the short loop around [`Pipeline`]. It makes each call the pipeline
//! asks for as one attempt, concurrently and bounded by the RPC client's timeout, feeds every
//! answer back, and turns what the pipeline reports into log lines, metrics and outcomes. No
//! policy lives here: what to retry, when, and what a failure means are the pipeline's.
//!
//! [`Outbox`] is the daemon's handle: `submit` never waits, outcomes arrive on the channel
//! [`Outbox::start`] returns, and [`Outbox::shutdown`] returns within its grace however the RPC
//! behaves, since leaving the loop aborts every call still out.

use std::time::Duration;

use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep_until, Instant};

use super::pipeline::{CallFailure, Effect, Event, Pipeline, SendResult, TxId};
use super::{Cause, OutboxConfig, OutboxConfigError, Outcome, Resolution, Update};
use crate::logging::{Condition, Say};
use crate::metrics::OutboxMetrics;
use crate::rpc::{
    Client, Commitment, LatestBlockhash, RetryPolicy, RpcError, SendOptions, Simulation,
    TransactionStatus,
};

/// The daemon's handle. Dropping it shuts the outbox down with `confirm_timeout` as the grace
/// period; [`Outbox::shutdown`] chooses the grace and waits for the end.
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
    DeviceSize(usize),
    Shutdown { grace: Duration },
}

impl Outbox {
    /// Validates `config` and starts the driver on the current tokio runtime. Outcomes arrive on
    /// the returned receiver; it closes once the outbox has stopped and every update has one.
    pub fn start(
        rpc: Client,
        payer: Keypair,
        config: OutboxConfig,
        metrics: OutboxMetrics,
    ) -> Result<(Outbox, mpsc::UnboundedReceiver<Outcome>), OutboxConfigError> {
        let confirm_timeout = config.confirm_timeout;
        tracing::info!(
            max_inflight = config.max_inflight,
            commitment = ?config.commitment,
            payer = %payer.pubkey(),
            "outbox started"
        );
        let payer_key = payer.pubkey();
        let pipeline = Pipeline::new(config, payer)?;
        let (commands, inbox) = mpsc::unbounded_channel();
        let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            pipeline,
            // One attempt per call: the pipeline decides what to retry and when.
            rpc: rpc.with_retry(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            }),
            payer: payer_key,
            confirm_timeout,
            metrics,
            outcomes,
            calls: JoinSet::new(),
            below_floor: Condition::default(),
        };
        let task = tokio::spawn(driver.run(inbox));
        Ok((Outbox { commands, task }, outcomes_rx))
    }

    /// Queues updates for sending and returns without waiting.
    pub fn submit(&self, updates: Vec<Update>) -> Result<(), OutboxClosed> {
        if updates.is_empty() {
            return Ok(());
        }
        self.commands
            .send(Command::Submit(updates))
            .map_err(|e| match e.0 {
                Command::Submit(updates) => OutboxClosed(updates),
                _ => unreachable!("only updates were sent"),
            })
    }

    /// The device account's size in bytes, which the program's compute cost follows.
    pub fn device_size(&self, size: usize) {
        let _ = self.commands.send(Command::DeviceSize(size));
    }

    /// Stops taking updates (queued, unsent ones are dropped), keeps following what nodes may
    /// have for up to `grace`, fails whatever is still open, and returns once the task ended.
    pub async fn shutdown(self, grace: Duration) {
        // The task may already be gone (it panicked); there is nothing left to wait for then.
        let _ = self.commands.send(Command::Shutdown { grace });
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "outbox task ended abnormally");
        }
    }
}

/// A call's answer, for the pipeline.
enum Answer {
    Blockhash(Result<LatestBlockhash, CallFailure>),
    Balance(Result<u64, CallFailure>),
    Height(Result<u64, CallFailure>),
    Statuses(
        Vec<Signature>,
        Result<Vec<Option<TransactionStatus>>, CallFailure>,
    ),
    Sent(TxId, Signature, SendResult),
    Simulated(Result<Simulation, CallFailure>),
}

struct Driver {
    pipeline: Pipeline,
    rpc: Client,
    payer: solana_pubkey::Pubkey,
    confirm_timeout: Duration,
    metrics: OutboxMetrics,
    outcomes: mpsc::UnboundedSender<Outcome>,
    calls: JoinSet<Answer>,
    /// The payer below the fee floor: said when it starts, ends, and hourly between.
    below_floor: Condition<()>,
}

impl Driver {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Command>) {
        let mut taking = true;
        loop {
            for effect in self.pipeline.poll(Instant::now()) {
                self.calls
                    .spawn(perform(self.rpc.clone(), self.payer, effect));
            }
            self.report();
            if self.pipeline.is_done() {
                break;
            }
            let wake = self
                .pipeline
                .next_wake()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                Some(answer) = self.calls.join_next(), if !self.calls.is_empty() => {
                    if let Ok(answer) = answer {
                        self.answer(answer);
                    }
                }
                command = inbox.recv(), if taking => {
                    let now = Instant::now();
                    match command {
                        Some(Command::Submit(updates)) => self.pipeline.submit(updates),
                        Some(Command::DeviceSize(size)) => self.pipeline.set_device_size(size),
                        Some(Command::Shutdown { grace }) => {
                            taking = false;
                            self.begin_shutdown(now, grace);
                        }
                        // The handle was dropped without a shutdown: the usual time, then stop.
                        None => {
                            taking = false;
                            self.begin_shutdown(now, self.confirm_timeout);
                        }
                    }
                }
                () = sleep_until(wake) => {}
            }
        }
        // Calls still out are abandoned with the loop (JoinSet aborts them on drop).
        self.calls.abort_all();
        self.metrics.inflight_transactions.set(0);
        tracing::info!("outbox stopped");
    }

    fn begin_shutdown(&mut self, now: Instant, grace: Duration) {
        tracing::info!(
            inflight = self.pipeline.in_flight(),
            queued = self.pipeline.queued(),
            ?grace,
            "outbox shutting down"
        );
        self.pipeline.shutdown(now, grace);
    }

    fn answer(&mut self, answer: Answer) {
        let now = Instant::now();
        match answer {
            Answer::Blockhash(result) => self.pipeline.on_blockhash(now, result),
            Answer::Balance(result) => self.pipeline.on_balance(now, result),
            Answer::Height(result) => self.pipeline.on_block_height(now, result),
            Answer::Statuses(asked, result) => self.pipeline.on_statuses(now, &asked, result),
            Answer::Sent(tx, signature, result) => {
                self.pipeline.on_sent(now, tx, signature, result)
            }
            Answer::Simulated(result) => self.pipeline.on_simulated(now, result),
        }
    }

    /// Logs, counts and passes on what the pipeline reported.
    fn report(&mut self) {
        for event in self.pipeline.take_events() {
            self.event(event);
        }
        self.metrics
            .inflight_transactions
            .set(self.pipeline.in_flight() as i64);
    }

    fn event(&mut self, event: Event) {
        let m = &self.metrics;
        match event {
            Event::Outcome(outcome) => {
                let result = match &outcome.result {
                    Resolution::Confirmed { .. } => Some("success"),
                    Resolution::Failed { cause, .. } => {
                        m.failures.with_label_values(&[cause.as_str()]).inc();
                        Some("error")
                    }
                    Resolution::Dropped { .. } => None,
                };
                if let Some(result) = result {
                    m.submissions
                        .with_label_values(&[outcome.status.as_str(), result])
                        .inc();
                }
                if let Resolution::Failed {
                    error,
                    cause: Cause::Refused,
                } = &outcome.result
                {
                    tracing::error!(user = %outcome.user, status = %outcome.status, %error, "the program refused the user's status update");
                }
                // The daemon stopped reading outcomes; nothing is left to tell.
                let _ = self.outcomes.send(outcome);
            }
            Event::Sent { signature, users } => {
                m.transactions_sent.inc();
                m.instructions_per_transaction.observe(users as f64);
                tracing::debug!(%signature, users, "status transaction sent");
            }
            Event::Confirmed {
                signature,
                slot,
                users,
                since_signed,
            } => {
                m.transactions_confirmed.inc();
                m.submission_duration.observe(since_signed.as_secs_f64());
                tracing::info!(%signature, slot, users, "status transaction confirmed");
            }
            Event::ChangeConfirmed { since_observed } => {
                m.change_to_confirmation
                    .observe(since_observed.as_secs_f64());
            }
            Event::Expired { signature } => {
                m.transactions_expired.inc();
                tracing::info!(%signature, "blockhash expired with the transaction unseen; it cannot land any more");
            }
            Event::TransactionFailed { signature, error } => {
                m.transactions_failed.inc();
                match signature {
                    Some(signature) => {
                        tracing::warn!(%signature, %error, "status transaction failed")
                    }
                    None => tracing::warn!(%error, "status transaction failed"),
                }
            }
            Event::ComputeMeasured {
                units_per_user,
                per_tx,
                limit_per_user,
            } => {
                m.compute_units_per_user.set(i64::from(units_per_user));
                tracing::info!(
                    units_per_user,
                    per_transaction = per_tx,
                    limit_per_user,
                    "measured the program's compute per user"
                );
            }
            Event::ComputeUnmeasured { error } => {
                tracing::warn!(%error, "cannot measure the program's compute; planning batches from a conservative estimate")
            }
            Event::OutOfCompute { error } => {
                tracing::warn!(%error, "a status transaction ran out of compute; measuring again and resending, no user blamed")
            }
            Event::ReadFailed {
                call,
                error,
                failures,
            } => {
                if failures == 1 {
                    tracing::warn!(call, %error, "RPC call failed; retrying");
                } else {
                    tracing::debug!(call, %error, failures, "RPC call failed again");
                }
            }
            Event::ReadRecovered { call, failures } => {
                tracing::info!(call, failures, "RPC call answered again")
            }
            Event::Balance { lamports, crossed } => {
                m.payer_balance
                    .set(i64::try_from(lamports).unwrap_or(i64::MAX));
                let below = crossed.unwrap_or(self.below_floor.holding().is_some());
                match self.below_floor.observe(Instant::now(), below.then_some(())) {
                    Some(Say::Started(())) => tracing::warn!(
                        balance = lamports,
                        "payer balance is below the fee floor: dropping refreshes, sending changes only"
                    ),
                    Some(Say::Ongoing { since, .. }) => tracing::warn!(
                        balance = lamports,
                        since = ?since,
                        "payer balance is still below the fee floor: dropping refreshes, sending changes only"
                    ),
                    Some(Say::Ended { .. }) => tracing::info!(
                        balance = lamports,
                        "payer balance is back above the fee floor: sending refreshes again"
                    ),
                    None => {}
                }
            }
        }
    }
}

/// Makes one call.
async fn perform(rpc: Client, payer: solana_pubkey::Pubkey, effect: Effect) -> Answer {
    let failure = |e: RpcError| CallFailure {
        error: e.to_string(),
        retry_after: e.retry_after(),
    };
    match effect {
        Effect::FetchBlockhash => Answer::Blockhash(
            // Confirmed: a processed hash may be on a dropped fork, a finalized one is ~32
            // blocks into its 150-block life (solana-rpc.md §1.3).
            rpc.get_latest_blockhash(Commitment::Confirmed)
                .await
                .map(|reply| reply.value)
                .map_err(failure),
        ),
        Effect::FetchBalance => Answer::Balance(
            rpc.get_balance(&payer, Commitment::Confirmed)
                .await
                .map(|reply| reply.value)
                .map_err(failure),
        ),
        Effect::FetchBlockHeight => Answer::Height(
            rpc.get_block_height(Commitment::Finalized)
                .await
                .map_err(failure),
        ),
        Effect::PollStatuses(signatures) => {
            let result = rpc
                .get_signature_statuses(&signatures)
                .await
                .map(|reply| reply.value)
                .map_err(failure);
            Answer::Statuses(signatures, result)
        }
        Effect::Send {
            tx,
            signature,
            wire,
            preflight,
        } => {
            let options = SendOptions {
                skip_preflight: !preflight,
                ..SendOptions::default()
            };
            let result = match rpc.send_transaction(&wire, options).await {
                Ok(_) => SendResult::Accepted,
                Err(RpcError::PreflightFailure { err, logs, .. }) => {
                    SendResult::Rejected { err, logs }
                }
                Err(e) if e.not_forwarded() => SendResult::Refused {
                    error: e.to_string(),
                },
                Err(e) => SendResult::Unknown(failure(e)),
            };
            Answer::Sent(tx, signature, result)
        }
        Effect::Simulate { wire } => Answer::Simulated(
            rpc.simulate_transaction(&wire, Commitment::Confirmed)
                .await
                .map(|reply| reply.value)
                .map_err(failure),
        ),
    }
}

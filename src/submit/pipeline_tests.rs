//! The pipeline's rules as plain-value tests: a small model of a cluster answers its effects
//! (landing bytes, metering compute, refusing users, losing replies), and time is a value.
//! The property test at the end throws random interleavings at it and checks the ordering
//! invariant of the module documentation.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use solana_hash::Hash;
use solana_transaction::Transaction;

use super::*;
use crate::rpc::InstructionErrorKind;
use crate::serviceability::BgpStatus;

const PROGRAM: Pubkey = Pubkey::new_from_array([0xd2; 32]);
const DEVICE: Pubkey = Pubkey::new_from_array([0xde; 32]);
const COMPUTE_BUDGET: Pubkey =
    Pubkey::from_str_const("ComputeBudget111111111111111111111111111111");
/// Blocks a blockhash stays valid for (`MAX_PROCESSING_AGE`).
const BLOCKHASH_LIFE: u64 = 150;
const SLOT: Duration = Duration::from_millis(400);
/// What the real program costs per user on a 1-interface device (shared/programs/README.md).
const UNITS: u64 = 8_200;

fn config() -> OutboxConfig {
    OutboxConfig::new(PROGRAM, DEVICE)
}

fn user(n: usize) -> Pubkey {
    let mut bytes = [0x55; 32];
    bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
    Pubkey::new_from_array(bytes)
}

fn update(n: usize, status: BgpStatus, reason: UpdateReason, at: Instant) -> Update {
    Update {
        user: user(n),
        status,
        rtt_ns: 0,
        reason,
        peer: std::net::Ipv4Addr::new(169, 254, 0, 1),
        wants_rtt: false,
        observed_at: at,
    }
}

fn ups(users: std::ops::Range<usize>, at: Instant) -> Vec<Update> {
    users
        .map(|n| update(n, BgpStatus::Up, UpdateReason::Change, at))
        .collect()
}

/// What one transaction's bytes carry, decoded as a node would.
struct Decoded {
    signature: Signature,
    blockhash: Hash,
    budget_ixs: usize,
    limit: Option<u32>,
    writes: Vec<Write>,
}

/// (user, status, rtt): the tests give every update its own rtt, so it names the update.
type Write = (Pubkey, BgpStatus, u64);

fn decode(wire: &[u8]) -> Decoded {
    let tx: Transaction = wincode::deserialize(wire).unwrap();
    let keys = &tx.message.account_keys;
    let mut budget_ixs = 0;
    let mut limit = None;
    let mut writes = Vec::new();
    for ix in &tx.message.instructions {
        let program = keys[usize::from(ix.program_id_index)];
        if program == COMPUTE_BUDGET {
            budget_ixs += 1;
            if ix.data[0] == 2 {
                limit = Some(u32::from_le_bytes(ix.data[1..5].try_into().unwrap()));
            }
        } else {
            assert_eq!(program, PROGRAM);
            let user = keys[usize::from(ix.accounts[0])];
            let rtt = u64::from_le_bytes(ix.data[2..10].try_into().unwrap());
            writes.push((user, BgpStatus::from_byte(ix.data[1]), rtt));
        }
    }
    Decoded {
        signature: tx.signatures[0],
        blockhash: tx.message.recent_blockhash,
        budget_ixs,
        limit,
        writes,
    }
}

/// A cluster as the pipeline sees it: one block per slot, blockhashes that expire after 150
/// blocks, a status for every landed signature, compute metered per user.
struct Cluster {
    height: u64,
    hashes: HashMap<Hash, u64>,
    landed: HashMap<Signature, (u64, Option<TransactionError>)>,
    /// Each user's status on chain and the landing order of every successful write.
    chain: HashMap<Pubkey, BgpStatus>,
    history: Vec<(Signature, Vec<Write>)>,
    units_per_user: u64,
    /// Users the program refuses (a non-global client_ip: InvalidClientIp).
    refused: HashSet<Pubkey>,
    next_hash: u32,
    balance: u64,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            height: 1_000,
            hashes: HashMap::new(),
            landed: HashMap::new(),
            chain: HashMap::new(),
            history: Vec::new(),
            units_per_user: UNITS,
            refused: HashSet::new(),
            next_hash: 0,
            balance: 1_000_000_000,
        }
    }

    fn blockhash(&mut self) -> LatestBlockhash {
        self.next_hash += 1;
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&self.next_hash.to_le_bytes());
        let last_valid_block_height = self.height + BLOCKHASH_LIFE;
        // Built twice rather than cloned: whether Hash is Copy depends on workspace features.
        self.hashes
            .insert(Hash::new_from_array(bytes), last_valid_block_height);
        let blockhash = Hash::new_from_array(bytes);
        LatestBlockhash {
            blockhash,
            last_valid_block_height,
        }
    }

    /// What running the bytes would do: the program's refusal or the compute meter.
    fn run(&self, tx: &Decoded) -> (Option<TransactionError>, Vec<String>, u64) {
        let n = tx.writes.len() as u64;
        let overhead = 150 * tx.budget_ixs as u64;
        let limit = tx.limit.map_or((200_000 * n).min(1_400_000), u64::from);
        for (i, (user, _, _)) in tx.writes.iter().enumerate() {
            let used = overhead + self.units_per_user * (i as u64 + 1);
            if used > limit {
                let index = (tx.budget_ixs + i) as u8;
                let logs = vec![
                    format!("Program {PROGRAM} consumed {limit} of {limit} compute units"),
                    format!("Program {PROGRAM} failed: exceeded CUs meter at BPF instruction"),
                ];
                let err = TransactionError::InstructionError {
                    index,
                    error: InstructionErrorKind::Other("ProgramFailedToComplete".into()),
                };
                return (Some(err), logs, limit);
            }
            if self.refused.contains(user) {
                let err = TransactionError::InstructionError {
                    index: (tx.budget_ixs + i) as u8,
                    error: InstructionErrorKind::Custom(26),
                };
                return (Some(err), Vec::new(), used);
            }
        }
        (None, Vec::new(), overhead + self.units_per_user * n)
    }

    fn expired(&self, tx: &Decoded) -> bool {
        self.hashes
            .get(&tx.blockhash)
            .is_none_or(|lvbh| self.height > *lvbh)
    }

    /// The node's send path: duplicates, expiry, preflight, execution.
    fn send(&mut self, wire: &[u8], preflight: bool) -> SendResult {
        let tx = decode(wire);
        if self.landed.contains_key(&tx.signature) {
            return match preflight {
                true => SendResult::Rejected {
                    err: TransactionError::AlreadyProcessed,
                    logs: Vec::new(),
                },
                false => SendResult::Accepted,
            };
        }
        if self.expired(&tx) {
            return match preflight {
                true => SendResult::Rejected {
                    err: TransactionError::BlockhashNotFound,
                    logs: Vec::new(),
                },
                false => SendResult::Accepted,
            };
        }
        let (err, logs, _) = self.run(&tx);
        if let (Some(err), true) = (&err, preflight) {
            return SendResult::Rejected {
                err: err.clone(),
                logs,
            };
        }
        self.land(tx, err);
        SendResult::Accepted
    }

    fn land(&mut self, tx: Decoded, err: Option<TransactionError>) {
        if err.is_none() {
            for (user, status, _) in &tx.writes {
                self.chain.insert(*user, *status);
            }
            self.history.push((tx.signature, tx.writes));
        }
        self.landed.insert(tx.signature, (self.height, err));
    }

    fn statuses(&self, signatures: &[Signature]) -> Vec<Option<TransactionStatus>> {
        signatures
            .iter()
            .map(|s| {
                self.landed.get(s).map(|(slot, err)| {
                    let age = self.height - slot;
                    TransactionStatus {
                        slot: *slot,
                        confirmations: Some(age),
                        err: err.clone(),
                        confirmation_status: Some(match age {
                            0 => Commitment::Processed,
                            1..32 => Commitment::Confirmed,
                            _ => Commitment::Finalized,
                        }),
                    }
                })
            })
            .collect()
    }

    fn simulate(&self, wire: &[u8]) -> Simulation {
        let tx = decode(wire);
        let (err, logs, units) = self.run(&tx);
        Simulation {
            err,
            logs,
            units_consumed: Some(units),
        }
    }

    /// The cluster's answer to an effect.
    fn answer(&mut self, p: &mut Pipeline, now: Instant, effect: Effect) {
        match effect {
            Effect::FetchBlockhash => {
                let hash = self.blockhash();
                p.on_blockhash(now, Ok(hash))
            }
            Effect::FetchBalance => p.on_balance(now, Ok(self.balance)),
            // Finalized lags the tip by a few blocks.
            Effect::FetchBlockHeight => p.on_block_height(now, Ok(self.height - 2)),
            Effect::PollStatuses(signatures) => {
                let statuses = self.statuses(&signatures);
                p.on_statuses(now, &signatures, Ok(statuses))
            }
            Effect::Send {
                tx,
                signature,
                wire,
                preflight,
            } => {
                let result = self.send(&wire, preflight);
                p.on_sent(now, tx, signature, result)
            }
            Effect::Simulate { wire } => {
                let simulation = self.simulate(&wire);
                p.on_simulated(now, Ok(simulation))
            }
        }
    }
}

/// A pipeline, a cluster and a clock.
struct Lab {
    p: Pipeline,
    cluster: Cluster,
    origin: Instant,
    now: Instant,
    outcomes: Vec<Outcome>,
    events: Vec<Event>,
}

impl Lab {
    fn new(config: OutboxConfig) -> Lab {
        let origin = Instant::now();
        Lab {
            p: Pipeline::new(config, Keypair::new_from_array([7; 32])).unwrap(),
            cluster: Cluster::new(),
            origin,
            now: origin,
            outcomes: Vec::new(),
            events: Vec::new(),
        }
    }

    fn collect(&mut self) {
        for event in self.p.take_events() {
            match event {
                Event::Outcome(outcome) => self.outcomes.push(outcome),
                other => self.events.push(other),
            }
        }
    }

    fn poll(&mut self) -> Vec<Effect> {
        let effects = self.p.poll(self.now);
        self.collect();
        effects
    }

    /// Lets the cluster answer everything, `steps` times `step` of time.
    fn run(&mut self, steps: usize, step: Duration) {
        for _ in 0..steps {
            self.run_once();
            self.advance(step);
        }
        self.run_once();
    }

    fn run_once(&mut self) {
        loop {
            let effects = self.poll();
            if effects.is_empty() {
                return;
            }
            for effect in effects {
                self.cluster.answer(&mut self.p, self.now, effect);
            }
            self.collect();
        }
    }

    fn advance(&mut self, by: Duration) {
        let slots_before = self.elapsed_slots();
        self.now += by;
        self.cluster.height += self.elapsed_slots() - slots_before;
    }

    /// Slots since the lab's start, so advancing by less than a slot adds up.
    fn elapsed_slots(&self) -> u64 {
        ((self.now - self.origin).as_millis() / SLOT.as_millis()) as u64
    }

    fn confirmed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, Resolution::Confirmed { .. }))
            .count()
    }

    fn failed(&self, cause: Cause) -> Vec<Pubkey> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, Resolution::Failed { cause: c, .. } if c == cause))
            .map(|o| o.user)
            .collect()
    }

    /// Drives until the compute is measured (the first batch's simulation), sending nothing.
    fn measured(&mut self) {
        let measured = |events: &[Event]| {
            events
                .iter()
                .any(|e| matches!(e, Event::ComputeMeasured { .. }))
        };
        while !measured(&self.events) {
            let effects = self.poll();
            assert!(!effects.is_empty(), "stuck: {:?}", self.events);
            for effect in effects {
                assert!(
                    !matches!(effect, Effect::Send { .. }),
                    "sent before measuring"
                );
                self.cluster.answer(&mut self.p, self.now, effect);
            }
            self.collect();
        }
    }
}

fn sends(effects: &[Effect]) -> Vec<(TxId, Signature, Arc<Vec<u8>>, bool)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                tx,
                signature,
                wire,
                preflight,
            } => Some((*tx, *signature, wire.clone(), *preflight)),
            _ => None,
        })
        .collect()
}

fn unknown() -> SendResult {
    SendResult::Unknown(CallFailure {
        error: "getSlot: transport error (Timeout)".into(),
        retry_after: None,
    })
}

// ---- batching and compute ---------------------------------------------------------------------

#[test]
fn the_first_batch_is_simulated_and_the_cost_plans_forty_users_into_two_transactions() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..40, lab.now));
    let first = lab.poll();
    assert!(first.contains(&Effect::FetchBlockhash), "{first:?}");
    for effect in first {
        lab.cluster.answer(&mut lab.p, lab.now, effect);
    }
    let simulate = lab.poll();
    assert!(
        matches!(simulate[..], [Effect::Simulate { .. }]),
        "{simulate:?}"
    );
    lab.cluster.answer(&mut lab.p, lab.now, simulate[0].clone());
    lab.collect();
    assert!(lab.events.contains(&Event::ComputeMeasured {
        units_per_user: UNITS as u32,
        per_tx: 20,
        limit_per_user: None,
    }));
    // No fee: no compute-budget instruction at all, 20 users each, sent concurrently.
    let effects = lab.poll();
    let sent = sends(&effects);
    assert_eq!(sent.len(), 2);
    for (_, _, wire, preflight) in &sent {
        assert!(wire.len() <= crate::rpc::MAX_TRANSACTION_BYTES);
        assert!(preflight, "the first send has preflight");
        let tx = decode(wire);
        assert_eq!((tx.budget_ixs, tx.writes.len()), (0, 20));
    }
    for effect in effects {
        lab.cluster.answer(&mut lab.p, lab.now, effect);
    }
    lab.run(5, SLOT);
    assert_eq!(lab.confirmed(), 40);
    assert_eq!(lab.cluster.history.len(), 2);
}

#[test]
fn a_device_with_many_interfaces_gets_smaller_batches_not_failures() {
    // About 60 interfaces: 110k CU per user; 19 would need 2.1M, over the 1.4M a transaction
    // may use.
    let mut lab = Lab::new(config());
    lab.cluster.units_per_user = 110_000;
    lab.p.submit(ups(0..40, lab.now));
    lab.measured();
    lab.run(10, SLOT);
    assert_eq!(lab.confirmed(), 40);
    assert!(lab.failed(Cause::Refused).is_empty());
    assert!(lab.cluster.history.iter().all(|(_, w)| w.len() <= 11));
}

#[test]
fn with_a_fee_the_limit_sent_is_the_measured_cost_plus_its_margin() {
    let mut c = config();
    c.cu_price = Some(5_000);
    let mut lab = Lab::new(c);
    lab.p.submit(ups(0..19, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (_, _, wire, _) = &sends(&effects)[0];
    let tx = decode(wire);
    assert_eq!(tx.budget_ixs, 2);
    let limit = u64::from(tx.limit.unwrap());
    let consumed = UNITS * 19 + 300;
    assert!(
        limit >= consumed && limit * 100 <= consumed * 125,
        "{limit}"
    );
}

#[test]
fn out_of_compute_at_preflight_blames_nobody_and_measures_again() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..20, lab.now));
    lab.measured();
    // The device grew between the measurement and the send: 3 interfaces, 12.3k per user.
    lab.cluster.units_per_user = 12_300 * 6;
    lab.run(20, SLOT);
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e, Event::OutOfCompute { .. })));
    let measured: Vec<_> = lab
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ComputeMeasured { units_per_user, .. } => Some(*units_per_user),
            _ => None,
        })
        .collect();
    assert_eq!(measured, [UNITS as u32, 12_300 * 6]);
    assert!(lab.failed(Cause::Refused).is_empty(), "nobody blamed");
    assert_eq!(lab.confirmed(), 20);
}

#[test]
fn a_batch_that_landed_failing_without_logs_is_simulated_again_to_learn_why() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..5, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, _, _) = sends(&effects)[0].clone();
    lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted);
    // It landed and failed: a status carries no logs.
    let err = TransactionError::InstructionError {
        index: 2,
        error: InstructionErrorKind::Other("ProgramFailedToComplete".into()),
    };
    lab.advance(Duration::from_secs(1));
    let effects = lab.poll();
    assert!(effects.contains(&Effect::PollStatuses(vec![signature])));
    lab.p.on_statuses(
        lab.now,
        &[signature],
        Ok(vec![Some(TransactionStatus {
            slot: 5,
            confirmations: Some(1),
            err: Some(err),
            confirmation_status: Some(Commitment::Confirmed),
        })]),
    );
    lab.collect();
    assert!(lab.outcomes.is_empty(), "nobody is blamed or released");
    lab.advance(Duration::from_secs(6));
    for effect in lab.poll() {
        if effect == Effect::FetchBlockhash {
            lab.cluster.answer(&mut lab.p, lab.now, effect);
        }
    }
    let effects = lab.poll();
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Simulate { .. })),
        "simulated again: {effects:?}"
    );
}

#[test]
fn a_user_the_program_refuses_in_the_simulation_is_failed_before_anything_is_sent() {
    let mut lab = Lab::new(config());
    lab.cluster.refused.insert(user(3));
    lab.p.submit(ups(0..6, lab.now));
    lab.run(10, SLOT);
    assert_eq!(lab.failed(Cause::Refused), [user(3)]);
    assert_eq!(lab.confirmed(), 5);
    assert_eq!(
        lab.cluster.landed.len(),
        1,
        "no fee was paid for the refusal"
    );
}

#[test]
fn a_user_refused_at_preflight_fails_alone_and_the_others_are_resent() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..6, lab.now));
    lab.measured();
    // The account changed after the measurement.
    lab.cluster.refused.insert(user(4));
    lab.run(10, SLOT);
    assert_eq!(lab.failed(Cause::Refused), [user(4)]);
    let Some(Outcome {
        result: Resolution::Failed { error, .. },
        ..
    }) = lab.outcomes.iter().find(|o| o.user == user(4))
    else {
        panic!()
    };
    assert!(error.contains("InvalidClientIp"), "{error}");
    assert_eq!(lab.confirmed(), 5);
}

#[test]
fn a_user_failing_on_chain_is_taken_out_and_the_others_are_resent() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..4, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, wire, _) = sends(&effects)[0].clone();
    // Rebroadcast without preflight reached a node after user 2's account changed.
    lab.cluster.refused.insert(user(2));
    let decoded = decode(&wire);
    let (err, _, _) = lab.cluster.run(&decoded);
    lab.cluster.land(decoded, err);
    lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted);
    lab.cluster.refused.clear();
    lab.run(10, SLOT);
    assert_eq!(lab.failed(Cause::Refused), [user(2)]);
    assert_eq!(lab.confirmed(), 3);
}

#[test]
fn a_payer_that_cannot_fund_rent_growth_is_a_payer_problem_not_a_refusal() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..3, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, _, _) = sends(&effects)[0].clone();
    lab.p.on_sent(
        lab.now,
        tx,
        signature,
        SendResult::Rejected {
            err: TransactionError::InstructionError {
                index: 1,
                error: InstructionErrorKind::Other("ProgramFailedToComplete".into()),
            },
            logs: vec!["Program log: panicked at 'Unable to pay rent'".into()],
        },
    );
    lab.collect();
    assert_eq!(lab.failed(Cause::Payer), [user(1)]);
    assert!(lab.failed(Cause::Refused).is_empty());
    lab.run(5, SLOT);
    assert_eq!(lab.confirmed(), 2, "the others still go");
}

// ---- sends, rebroadcasts, expiry -----------------------------------------------------------

#[test]
fn an_unanswered_send_is_retried_with_the_same_bytes() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..3, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, wire, _) = sends(&effects)[0].clone();
    lab.p.on_sent(lab.now, tx, signature, unknown());
    assert!(matches!(
        lab.p.states()[..],
        [TxState::Due { failures: 1, .. }]
    ));
    assert!(sends(&lab.poll()).is_empty(), "not at once");
    lab.advance(Duration::from_secs(1));
    let again = sends(&lab.poll());
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].1, &again[0].2),
        (signature, &wire),
        "identical bytes"
    );
}

#[test]
fn a_send_the_node_refuses_outright_fails_the_batch_without_retry() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..2, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, _, _) = sends(&effects)[0].clone();
    lab.p.on_sent(
        lab.now,
        tx,
        signature,
        SendResult::Refused {
            error: "sendTransaction: JSON-RPC error -32602: invalid transaction".into(),
        },
    );
    lab.collect();
    assert_eq!(lab.failed(Cause::Unknown), [user(0), user(1)]);
    assert_eq!(lab.p.in_flight(), 0);
}

#[test]
fn unseen_bytes_are_rebroadcast_identically_without_preflight() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..2, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, wire, _) = sends(&effects)[0].clone();
    // The node took them but they never reached a leader.
    lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted);
    lab.advance(config().rebroadcast_interval);
    let effects = lab.poll();
    let again = sends(&effects);
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].1, &again[0].2, again[0].3),
        (signature, &wire, false)
    );
}

#[test]
fn bytes_are_signed_again_only_after_their_blockhash_expired_at_finalized() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..2, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, wire, _) = sends(&effects)[0].clone();
    let lvbh = lab.cluster.hashes[&decode(&wire).blockhash];
    lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted);
    // Dropped by the cluster, rebroadcasts too: never lands.
    let mut steps = 0;
    let mut finalized = 0;
    while !lab.p.states().contains(&TxState::Unsigned) {
        lab.advance(Duration::from_secs(1));
        for effect in lab.poll() {
            match effect {
                Effect::Send { tx, signature, .. } => {
                    lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted)
                }
                Effect::FetchBlockHeight => {
                    finalized = lab.cluster.height - 2;
                    lab.p.on_block_height(lab.now, Ok(finalized));
                }
                other => lab.cluster.answer(&mut lab.p, lab.now, other),
            }
        }
        steps += 1;
        assert!(steps < 200);
    }
    assert!(
        finalized > lvbh,
        "signed again only past {lvbh}: {finalized}"
    );
    assert!(steps > 55, "{steps}");
    lab.advance(Duration::from_secs(1));
    lab.run(5, SLOT);
    assert!(lab.events.contains(&Event::Expired { signature }));
    assert_eq!(lab.confirmed(), 2);
    let landed = &lab.cluster.history[0].0;
    assert_ne!(*landed, signature, "a new signature");
}

// ---- the three defects of issue 20 ----------------------------------------------------------

#[test]
fn at_the_deadline_a_user_whose_bytes_may_still_land_is_not_handed_back() {
    // Defect 1: the old outbox handed the user back at the deadline while its bytes could
    // still land, so a newer opposite status could be overtaken by them.
    let mut c = config();
    c.confirm_timeout = Duration::from_secs(20);
    let mut lab = Lab::new(c);
    lab.p.submit(ups(0..1, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, wire, _) = sends(&effects)[0].clone();
    lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted);
    // Far past the deadline, the blockhash still valid: nothing is handed back.
    for _ in 0..40 {
        lab.advance(Duration::from_secs(1));
        for effect in lab.poll() {
            if let Effect::Send { tx, signature, .. } = effect {
                lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted);
            } else {
                lab.cluster.answer(&mut lab.p, lab.now, effect);
            }
        }
        lab.collect();
        assert!(
            lab.outcomes.is_empty(),
            "handed back while its bytes may land"
        );
    }
    // The old bytes land late: they are what the user's outcome reports.
    let decoded = decode(&wire);
    lab.cluster.land(decoded, None);
    lab.run(5, SLOT);
    assert!(matches!(
        lab.outcomes[0].result,
        Resolution::Confirmed { signature: s, .. } if s == signature
    ));
}

#[test]
fn a_lost_reply_then_a_preflight_blockhash_not_found_does_not_sign_again() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..1, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, _, _) = sends(&effects)[0].clone();
    // The reply is lost: the bytes may have been forwarded.
    lab.p.on_sent(lab.now, tx, signature, unknown());
    lab.advance(Duration::from_secs(2));
    let effects = lab.poll();
    let (tx, signature, _, _) = sends(&effects)[0].clone();
    lab.p.on_sent(
        lab.now,
        tx,
        signature,
        SendResult::Rejected {
            err: TransactionError::BlockhashNotFound,
            logs: Vec::new(),
        },
    );
    assert_eq!(lab.p.states(), [TxState::Quiet]);
}

#[test]
fn a_garbled_send_reply_counts_as_maybe_sent() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..1, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, _, _) = sends(&effects)[0].clone();
    lab.p.on_sent(
        lab.now,
        tx,
        signature,
        SendResult::Unknown(CallFailure {
            error: "sendTransaction: malformed reply".into(),
            retry_after: None,
        }),
    );
    // Past the deadline with the bytes possibly out: the user waits for their expiry.
    lab.advance(config().confirm_timeout + Duration::from_secs(1));
    lab.poll();
    assert!(lab.outcomes.is_empty());
}

#[test]
fn no_call_is_made_twice_at_once_and_independent_sends_go_together() {
    // Defect 2: a slow RPC stalled everything behind nested retries. Here every call is one
    // effect, made once, and nothing waits on another.
    let mut c = config();
    c.max_inflight = Some(8);
    let mut lab = Lab::new(c);
    lab.p.submit(ups(0..160, lab.now));
    let first = lab.poll();
    assert!(first.contains(&Effect::FetchBlockhash));
    // The read hangs: asked again no matter how long it takes.
    lab.advance(Duration::from_secs(30));
    assert!(!lab.poll().contains(&Effect::FetchBlockhash));
    for effect in first {
        lab.cluster.answer(&mut lab.p, lab.now, effect);
    }
    lab.measured();
    let effects = lab.poll();
    assert_eq!(sends(&effects).len(), 8, "eight transactions at once");
}

#[test]
fn after_an_rpc_outage_the_queue_goes_out_as_soon_as_it_answers() {
    // Defect 3: failures of the RPC backed each user off for up to 600 s.
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..5, lab.now));
    lab.measured();
    lab.run(3, SLOT);
    assert_eq!(lab.confirmed(), 5);
    // Long enough for the last blockhash to be too old to reuse.
    lab.advance(Duration::from_secs(10));
    lab.run_once();
    let outage = CallFailure {
        error: "getLatestBlockhash: HTTP 503".into(),
        retry_after: None,
    };
    lab.p.submit(
        (0..5)
            .map(|n| update(n, BgpStatus::Down, UpdateReason::Change, lab.now))
            .collect(),
    );
    // Five minutes of a dead RPC: every read fails.
    let end = lab.now + Duration::from_secs(300);
    let mut reads = 0;
    while lab.now < end {
        for effect in lab.poll() {
            match effect {
                Effect::FetchBlockhash => {
                    reads += 1;
                    lab.p.on_blockhash(lab.now, Err(outage.clone()))
                }
                Effect::FetchBalance => lab.p.on_balance(lab.now, Err(outage.clone())),
                other => panic!("nothing else is due while no blockhash can be read: {other:?}"),
            }
        }
        lab.advance(Duration::from_millis(500));
    }
    lab.collect();
    // Asked every few seconds until the queue was handed back, and not after.
    assert!(reads > 20, "kept asking: {reads}");
    // The queued updates were handed back with cause rpc after confirm_timeout (the monitor
    // decides them again at once, no backoff).
    assert_eq!(lab.failed(Cause::Rpc).len(), 5);
    let before = lab.outcomes.len();
    lab.p.submit(
        (0..5)
            .map(|n| update(n, BgpStatus::Down, UpdateReason::Change, lab.now))
            .collect(),
    );
    // The RPC answers again: within the read retry's cap everything is sent.
    lab.advance(READ_RETRY_MAX);
    lab.run(5, SLOT);
    assert_eq!(lab.outcomes.len() - before, 5);
    assert!(lab.outcomes[before..]
        .iter()
        .all(|o| matches!(o.result, Resolution::Confirmed { .. })));
    assert!((0..5).all(|n| lab.cluster.chain[&user(n)] == BgpStatus::Down));
}

#[test]
fn the_automatic_depth_follows_the_rpcs_latency_and_the_slot_time() {
    let ms = Duration::from_millis;
    // A cluster's 400 ms slots: a mass event's 50 transactions go out at once.
    assert_eq!(auto_depth(ms(0), ms(400)), 60);
    assert_eq!(auto_depth(ms(100), ms(400)), 64);
    // A fast local ledger needs few.
    assert_eq!(auto_depth(ms(1), ms(50)), 8);
    assert_eq!(auto_depth(ms(0), ms(1)), 4);
    // The pipeline measures the latency from its own reads.
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..1, lab.now));
    let effects = lab.poll();
    lab.advance(ms(300));
    for effect in effects {
        lab.cluster.answer(&mut lab.p, lab.now, effect);
    }
    assert_eq!(lab.p.depth(), auto_depth(ms(300), ms(400)));
    let mut c = config();
    c.max_inflight = Some(3);
    assert_eq!(Lab::new(c).p.depth(), 3);
}

// ---- queue, fee guard, shutdown ---------------------------------------------------------------

#[test]
fn a_newer_queued_update_supersedes_the_older_one() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..1, lab.now));
    lab.p.submit(vec![update(
        0,
        BgpStatus::Down,
        UpdateReason::Change,
        lab.now,
    )]);
    lab.collect();
    assert!(matches!(
        &lab.outcomes[0].result,
        Resolution::Dropped { why } if why.contains("superseded")
    ));
    assert_eq!(lab.outcomes[0].status, BgpStatus::Up);
    lab.run(5, SLOT);
    assert_eq!(lab.cluster.chain[&user(0)], BgpStatus::Down);
}

#[test]
fn below_the_fee_floor_refreshes_are_dropped_and_changes_still_go() {
    let mut lab = Lab::new(config());
    lab.cluster.balance = 1_000;
    lab.p.submit(vec![
        update(0, BgpStatus::Up, UpdateReason::Refresh, lab.now),
        update(1, BgpStatus::Up, UpdateReason::Change, lab.now),
    ]);
    lab.run(5, SLOT);
    assert!(matches!(
        &lab.outcomes.iter().find(|o| o.user == user(0)).unwrap().result,
        Resolution::Dropped { why } if why.contains("fee floor")
    ));
    assert!(lab.cluster.chain.contains_key(&user(1)));
    assert!(lab.events.contains(&Event::Balance {
        lamports: 1_000,
        crossed: Some(true)
    }));
}

#[test]
fn shutdown_drops_the_unsent_and_follows_what_nodes_have_until_its_grace() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..2, lab.now));
    lab.measured();
    let effects = lab.poll();
    let (tx, signature, _, _) = sends(&effects)[0].clone();
    lab.p.on_sent(lab.now, tx, signature, SendResult::Accepted);
    lab.p.submit(ups(5..7, lab.now));
    lab.p.shutdown(lab.now, Duration::from_secs(10));
    lab.collect();
    let dropped = lab
        .outcomes
        .iter()
        .filter(|o| matches!(o.result, Resolution::Dropped { .. }))
        .count();
    assert_eq!(dropped, 2, "the queued ones");
    assert!(!lab.p.is_done(), "the sent one is followed");
    lab.advance(Duration::from_secs(11));
    lab.poll();
    assert!(lab.p.is_done());
    assert_eq!(lab.failed(Cause::Rpc), [user(0), user(1)]);
}

#[test]
fn shutdown_with_a_thousand_queued_resolves_every_update_at_once() {
    let mut lab = Lab::new(config());
    lab.p.submit(ups(0..1000, lab.now));
    lab.p.shutdown(lab.now, Duration::from_secs(10));
    lab.collect();
    assert_eq!(lab.outcomes.len(), 1000);
    assert!(lab.p.is_done());
}

// ---- the ordering invariant under random interleavings ---------------------------------------

/// One step of the world around the pipeline.
#[derive(Debug, Clone)]
enum Step {
    /// The monitor decides a new status for a user with nothing in flight.
    Decide { user: usize, up: bool },
    /// Time passes.
    Wait { ms: u64 },
    /// The pipeline's calls are made; each answer depends on its fault.
    Calls { faults: Vec<Fault> },
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Answered as the cluster answers.
    None,
    /// The call fails with no answer (the request never reached a node).
    Unanswered,
    /// A send reaches the node, which forwards it, but the reply is lost.
    LostReply,
    /// A send is taken and then dropped by the cluster.
    Dropped,
}

fn step() -> impl Strategy<Value = Step> {
    let fault = prop_oneof![
        4 => Just(Fault::None),
        1 => Just(Fault::Unanswered),
        1 => Just(Fault::LostReply),
        1 => Just(Fault::Dropped),
    ];
    prop_oneof![
        (0..3usize, any::<bool>()).prop_map(|(user, up)| Step::Decide { user, up }),
        (1..20_000u64).prop_map(|ms| Step::Wait { ms }),
        proptest::collection::vec(fault, 1..12).prop_map(|faults| Step::Calls { faults }),
    ]
}

fn perform(lab: &mut Lab, effect: Effect, fault: Fault) {
    let now = lab.now;
    let failure = || CallFailure {
        error: "unanswered".into(),
        retry_after: None,
    };
    match (effect, fault) {
        (
            Effect::Send {
                tx,
                signature,
                wire,
                preflight,
            },
            Fault::LostReply,
        ) => {
            let _ = lab.cluster.send(&wire, preflight);
            lab.p.on_sent(now, tx, signature, unknown());
        }
        (Effect::Send { tx, signature, .. }, Fault::Dropped) => {
            lab.p.on_sent(now, tx, signature, SendResult::Accepted)
        }
        (Effect::Send { tx, signature, .. }, Fault::Unanswered) => {
            lab.p
                .on_sent(now, tx, signature, SendResult::Unknown(failure()))
        }
        (Effect::FetchBlockhash, Fault::Unanswered) => lab.p.on_blockhash(now, Err(failure())),
        (Effect::FetchBalance, Fault::Unanswered) => lab.p.on_balance(now, Err(failure())),
        (Effect::FetchBlockHeight, Fault::Unanswered) => lab.p.on_block_height(now, Err(failure())),
        (Effect::PollStatuses(signatures), Fault::Unanswered) => {
            lab.p.on_statuses(now, &signatures, Err(failure()))
        }
        (Effect::Simulate { .. }, Fault::Unanswered) => lab.p.on_simulated(now, Err(failure())),
        (effect, _) => lab.cluster.answer(&mut lab.p, now, effect),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the interleaving of decisions, sends, lost replies, drops, expiries and
    /// deadlines: no bytes of an update land once its user was handed back, and each user's
    /// chain status ends as the newest status confirmed.
    #[test]
    fn a_users_writes_land_in_order(steps in proptest::collection::vec(step(), 1..120)) {
        let mut c = config();
        c.confirm_timeout = Duration::from_secs(30);
        let mut lab = Lab::new(c);
        // Users with an update not yet resolved (the monitor's in-flight mark), each update
        // named by the rtt it carries.
        let mut open: HashMap<Pubkey, u64> = HashMap::new();
        let mut next_id = 1u64;
        // Landings of each resolved update when it was resolved: none may follow.
        let mut at_release: HashMap<u64, usize> = HashMap::new();
        let mut confirmed_last: HashMap<Pubkey, BgpStatus> = HashMap::new();
        let landings = |lab: &Lab, id: u64| {
            lab.cluster
                .history
                .iter()
                .filter(|(_, writes)| writes.iter().any(|(_, _, rtt)| *rtt == id))
                .count()
        };
        for step in steps {
            match step {
                Step::Decide { user: n, up } => {
                    if let std::collections::hash_map::Entry::Vacant(slot) = open.entry(user(n)) {
                        slot.insert(next_id);
                        let status = if up { BgpStatus::Up } else { BgpStatus::Down };
                        let mut u = update(n, status, UpdateReason::Change, lab.now);
                        u.rtt_ns = next_id;
                        next_id += 1;
                        lab.p.submit(vec![u]);
                    }
                }
                Step::Wait { ms } => lab.advance(Duration::from_millis(ms)),
                Step::Calls { faults } => {
                    let effects = lab.poll();
                    for (effect, fault) in effects.into_iter().zip(faults.iter().cycle()) {
                        perform(&mut lab, effect, *fault);
                    }
                }
            }
            lab.collect();
            for outcome in std::mem::take(&mut lab.outcomes) {
                open.remove(&outcome.user);
                at_release.insert(outcome.rtt_ns, landings(&lab, outcome.rtt_ns));
                if let Resolution::Confirmed { .. } = outcome.result {
                    confirmed_last.insert(outcome.user, outcome.status);
                }
            }
            for (id, count) in &at_release {
                prop_assert_eq!(landings(&lab, *id), *count, "update {} landed after it was handed back", id);
            }
        }
        // Quiesce: no more faults or decisions; let every open update resolve.
        for _ in 0..400 {
            lab.run_once();
            for outcome in std::mem::take(&mut lab.outcomes) {
                open.remove(&outcome.user);
                at_release.insert(outcome.rtt_ns, landings(&lab, outcome.rtt_ns));
                if let Resolution::Confirmed { .. } = outcome.result {
                    confirmed_last.insert(outcome.user, outcome.status);
                }
            }
            if open.is_empty() {
                break;
            }
            lab.advance(Duration::from_secs(1));
        }
        for (id, count) in &at_release {
            prop_assert_eq!(landings(&lab, *id), *count, "update {} landed after it was handed back", id);
        }
        prop_assert!(open.is_empty(), "unresolved: {open:?}");
        for (u, status) in &confirmed_last {
            prop_assert_eq!(lab.cluster.chain.get(u), Some(status));
        }
    }
}

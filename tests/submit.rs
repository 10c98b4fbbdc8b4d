//! The outbox against a simulated ledger behind the fake JSON-RPC server, on a paused clock.
//!
//! The ledger answers by method with the reply shapes of `shared/spec/solana-rpc.md` and keeps
//! what it was sent: every transaction is decoded from the base64 the server received, so the
//! tests check the bytes a real node would see (size, instructions, blockhash, signature).

mod fake_rpc;

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use doublezero_bgpstatus::metrics::OutboxMetrics;
use doublezero_bgpstatus::rpc::{Client, ClientConfig};
use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus::submit::{
    Outbox, OutboxConfig, Outcome, Resolution, Update, UpdateReason,
};
use fake_rpc::{FakeRpc, Reply};
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

const PROGRAM: Pubkey = Pubkey::new_from_array([0xd2; 32]);
const DEVICE: Pubkey = Pubkey::new_from_array([0xde; 32]);
const COMPUTE_BUDGET: Pubkey =
    Pubkey::from_str_const("ComputeBudget111111111111111111111111111111");
/// Blocks a blockhash stays valid for (`MAX_PROCESSING_AGE`).
const BLOCKHASH_LIFE: u64 = 150;

fn user(n: usize) -> Pubkey {
    let mut bytes = [0x55; 32];
    bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
    Pubkey::new_from_array(bytes)
}

fn update(n: usize, reason: UpdateReason) -> Update {
    Update {
        user: user(n),
        status: BgpStatus::Up,
        rtt_ns: 1_000 + n as u64,
        reason,
        peer: Ipv4Addr::new(169, 254, 0, 1),
        wants_rtt: true,
        observed_at: Instant::now(),
    }
}

fn changes(n: usize) -> Vec<Update> {
    (0..n).map(|i| update(i, UpdateReason::Change)).collect()
}

/// A transaction as the node received it.
struct Sent {
    tx: Transaction,
    wire: Vec<u8>,
    config: Value,
}

impl Sent {
    fn signature(&self) -> String {
        self.tx.signatures[0].to_string()
    }

    /// The users of the `SetUserBGPStatus` instructions, in order.
    fn users(&self) -> Vec<Pubkey> {
        let keys = &self.tx.message.account_keys;
        self.tx
            .message
            .instructions
            .iter()
            .filter(|ix| keys[usize::from(ix.program_id_index)] == PROGRAM)
            .map(|ix| keys[usize::from(ix.accounts[0])])
            .collect()
    }

    fn budget_instructions(&self) -> usize {
        let keys = &self.tx.message.account_keys;
        self.tx
            .message
            .instructions
            .iter()
            .filter(|ix| keys[usize::from(ix.program_id_index)] == COMPUTE_BUDGET)
            .count()
    }

    /// The `SetComputeUnitLimit` the transaction asks for.
    fn compute_unit_limit(&self) -> Option<u32> {
        let keys = &self.tx.message.account_keys;
        self.tx.message.instructions.iter().find_map(|ix| {
            let data = &ix.data;
            (keys[usize::from(ix.program_id_index)] == COMPUTE_BUDGET && data[0] == 2)
                .then(|| u32::from_le_bytes(data[1..5].try_into().unwrap()))
        })
    }

    fn skip_preflight(&self) -> bool {
        self.config["skipPreflight"] == json!(true)
    }
}

/// When a transaction the ledger accepted shows up in `getSignatureStatuses`.
#[derive(Clone, Copy)]
enum Landing {
    /// On the first accepted send.
    OnSend,
    /// On the n-th send of the same signature.
    OnSendNumber(usize),
    /// Only transactions signed with the n-th blockhash handed out (1-based) or later.
    FromBlockhash(u8),
    Never,
}

/// The simulated ledger behind the fake server.
struct Ledger {
    landing: Landing,
    /// `confirmationStatus` of a landed transaction; "finalized" after that many polls of it.
    finalize_after_polls: usize,
    block_height: u64,
    /// Added to the block height on every `getBlockHeight`, to make time pass on chain.
    blocks_per_height_call: u64,
    blockhashes_handed_out: u8,
    /// `getLatestBlockhash` answers 429 with this `Retry-After` (seconds) instead.
    blockhash_refused: Option<String>,
    balance: u64,
    /// A user whose instruction the program rejects with this custom code at preflight.
    reject: Option<(Pubkey, u32)>,
    /// Compute units each instruction consumes: a transaction asking for less runs out of
    /// compute at preflight, in the instruction that crosses the limit.
    cu_per_user: Option<u32>,
    /// A user whose instruction passes preflight but fails when the transaction executes
    /// (the chain changed in between): the transaction lands with this custom code.
    fail_on_chain: Option<(Pubkey, u32)>,
    /// Replies for the next `sendTransaction` calls, before any simulation.
    send_script: VecDeque<Reply>,
    sent: Vec<Sent>,
    /// signature → (slot, polls seen, execution error).
    landed: HashMap<String, (u64, usize, Value)>,
    /// "send <sig>" / "final <sig>", in order, to check serial submission.
    events: Vec<String>,
    methods: Vec<(String, Value)>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            landing: Landing::OnSend,
            finalize_after_polls: 0,
            block_height: 1_000,
            blocks_per_height_call: 0,
            blockhashes_handed_out: 0,
            blockhash_refused: None,
            balance: 1_000_000_000,
            reject: None,
            cu_per_user: None,
            fail_on_chain: None,
            send_script: VecDeque::new(),
            sent: Vec::new(),
            landed: HashMap::new(),
            events: Vec::new(),
            methods: Vec::new(),
        }
    }
}

fn context(value: Value) -> Value {
    json!({"context": {"slot": 5_000, "apiVersion": "2.2.1"}, "value": value})
}

impl Ledger {
    fn answer(&mut self, request: &Value) -> Reply {
        let method = request["method"].as_str().unwrap_or_default().to_owned();
        let params = request["params"].clone();
        self.methods.push((method.clone(), params.clone()));
        match method.as_str() {
            "getLatestBlockhash" if self.blockhash_refused.is_some() => Reply::status(
                429,
                vec![("Retry-After", self.blockhash_refused.clone().unwrap())],
            ),
            "getLatestBlockhash" => {
                self.blockhashes_handed_out += 1;
                let hash = [self.blockhashes_handed_out; 32];
                Reply::result(context(json!({
                    "blockhash": bs58::encode(hash).into_string(),
                    "lastValidBlockHeight": self.block_height + BLOCKHASH_LIFE,
                })))
            }
            "getBlockHeight" => {
                self.block_height += self.blocks_per_height_call;
                Reply::result(json!(self.block_height))
            }
            "getBalance" => Reply::result(context(json!(self.balance))),
            "sendTransaction" => self.receive(&params),
            "getSignatureStatuses" => {
                let statuses: Vec<Value> = params[0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|sig| self.status(sig.as_str().unwrap()))
                    .collect();
                Reply::result(context(json!(statuses)))
            }
            _ => Reply::error(-32601, "Method not found", Value::Null),
        }
    }

    fn receive(&mut self, params: &Value) -> Reply {
        let wire = base64::engine::general_purpose::STANDARD
            .decode(params[0].as_str().unwrap())
            .unwrap();
        let tx: Transaction = wincode::deserialize(&wire).unwrap();
        let sent = Sent {
            tx,
            wire,
            config: params[1].clone(),
        };
        let signature = sent.signature();
        let blockhash_number = sent.tx.message.recent_blockhash.to_bytes()[0];
        let reject_at = self.reject.and_then(|(bad, code)| {
            let at = sent.users().iter().position(|u| *u == bad)?;
            Some((at + sent.budget_instructions(), code))
        });
        let on_chain_err = self.fail_on_chain.and_then(|(bad, code)| {
            let at = sent.users().iter().position(|u| *u == bad)?;
            Some(json!({"InstructionError": [at + sent.budget_instructions(), {"Custom": code}]}))
        });
        let preflight = !sent.skip_preflight();
        let out_of_compute = self.cu_per_user.and_then(|per_user| {
            let limit = sent.compute_unit_limit().unwrap_or(200_000);
            let ran = (0..sent.users().len()).find(|&i| (i as u32 + 1) * per_user > limit)?;
            Some((ran + sent.budget_instructions(), limit))
        });
        let sends_of_this = 1 + self
            .sent
            .iter()
            .filter(|s| s.signature() == signature)
            .count();
        self.sent.push(sent);
        if let Some(reply) = self.send_script.pop_front() {
            return reply;
        }
        if let (Some((index, limit)), true) = (out_of_compute, preflight) {
            return Reply::error(
                -32002,
                &format!(
                    "Transaction simulation failed: Error processing Instruction {index}: \
                     Computational budget exceeded"
                ),
                json!({
                    "accounts": null,
                    "err": {"InstructionError": [index, "ComputationalBudgetExceeded"]},
                    "logs": [format!("Program {PROGRAM} failed: exceeded CUs meter at BPF instruction #1")],
                    "unitsConsumed": limit
                }),
            );
        }
        if let (Some((index, code)), true) = (reject_at, preflight) {
            // Verbatim shape of agave's -32002 for a program error (solana-rpc.md §1.4).
            return Reply::error(
                -32002,
                &format!(
                    "Transaction simulation failed: Error processing Instruction {index}: \
                     custom program error: {code:#x}"
                ),
                json!({
                    "accounts": null,
                    "err": {"InstructionError": [index, {"Custom": code}]},
                    "innerInstructions": null,
                    "loadedAccountsDataSize": 0,
                    "logs": [format!("Program {PROGRAM} failed: custom program error: {code:#x}")],
                    "replacementBlockhash": null,
                    "returnData": null,
                    "unitsConsumed": 1_234
                }),
            );
        }
        let lands = match self.landing {
            Landing::OnSend => true,
            Landing::OnSendNumber(n) => sends_of_this >= n,
            Landing::FromBlockhash(n) => blockhash_number >= n,
            Landing::Never => false,
        };
        self.events.push(format!("send {signature}"));
        if lands {
            self.landed.entry(signature.clone()).or_insert((
                4_242,
                0,
                on_chain_err.unwrap_or(Value::Null),
            ));
        }
        Reply::result(json!(signature))
    }

    fn status(&mut self, signature: &str) -> Value {
        let Some((slot, polls, err)) = self.landed.get_mut(signature) else {
            return Value::Null;
        };
        *polls += 1;
        let finalized = *polls > self.finalize_after_polls;
        let (slot, err) = (*slot, err.clone());
        let legacy_status = if err.is_null() {
            json!({"Ok": null})
        } else {
            json!({"Err": err})
        };
        if finalized {
            self.events.push(format!("final {signature}"));
        }
        json!({
            "slot": slot,
            "confirmations": if finalized { Value::Null } else { json!(1) },
            "err": err,
            "status": legacy_status,
            "confirmationStatus": if finalized { "finalized" } else { "confirmed" },
        })
    }

    /// Distinct transactions in the order first received.
    fn transactions(&self) -> Vec<&Sent> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for s in &self.sent {
            if !seen.contains(&s.signature()) {
                seen.push(s.signature());
                out.push(s);
            }
        }
        out
    }

    fn calls(&self, method: &str) -> Vec<&Value> {
        self.methods
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, p)| p)
            .collect()
    }
}

struct Harness {
    ledger: Arc<Mutex<Ledger>>,
    outbox: Outbox,
    outcomes: UnboundedReceiver<Outcome>,
    metrics: OutboxMetrics,
    _server: FakeRpc,
}

fn config() -> OutboxConfig {
    let mut config = OutboxConfig::new(PROGRAM, DEVICE);
    config.cu_price = Some(1_000);
    config.fee_floor_lamports = 0;
    config
}

async fn start(ledger: Ledger, config: OutboxConfig) -> Harness {
    let ledger = Arc::new(Mutex::new(ledger));
    let handle = ledger.clone();
    let server = FakeRpc::with_handler(move |request| handle.lock().unwrap().answer(request)).await;
    let mut rpc = ClientConfig::new(server.url());
    rpc.retry.max_attempts = 1;
    let rpc = Client::new(rpc).unwrap();
    let metrics = OutboxMetrics::register(&prometheus::Registry::new()).unwrap();
    let (outbox, outcomes) = Outbox::start(
        rpc,
        Keypair::new_from_array([7; 32]),
        config,
        metrics.clone(),
    )
    .unwrap();
    Harness {
        ledger,
        outbox,
        outcomes,
        metrics,
        _server: server,
    }
}

impl Harness {
    /// The next `n` outcomes, by user; panics if they do not come within ten virtual minutes.
    async fn outcomes(&mut self, n: usize) -> HashMap<Pubkey, Resolution> {
        let mut out = HashMap::new();
        for _ in 0..n {
            let outcome = tokio::time::timeout(Duration::from_secs(600), self.outcomes.recv())
                .await
                .expect("an outcome within the deadline")
                .expect("the outbox is running");
            assert!(
                out.insert(outcome.user, outcome.result).is_none(),
                "one outcome per user"
            );
        }
        out
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }
}

fn is_confirmed(r: &Resolution) -> bool {
    matches!(r, Resolution::Confirmed { .. })
}

// ---- batching ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn forty_updates_go_out_in_three_transactions_that_fit_a_packet() {
    let mut h = start(Ledger::default(), config()).await;
    h.outbox.submit(changes(40)).unwrap();
    let outcomes = h.outcomes(40).await;
    assert!(outcomes.values().all(is_confirmed), "{outcomes:?}");

    let ledger = h.ledger();
    let txs = ledger.transactions();
    let mut sizes: Vec<usize> = txs.iter().map(|t| t.users().len()).collect();
    sizes.sort();
    assert_eq!(sizes, [2, 19, 19]);
    for tx in &txs {
        assert!(tx.wire.len() <= 1232, "{} bytes", tx.wire.len());
        assert_eq!(tx.budget_instructions(), 2);
        assert_eq!(
            tx.tx.message.account_keys[0],
            Keypair::new_from_array([7; 32]).pubkey()
        );
        assert_eq!(
            tx.tx.message.recent_blockhash,
            txs[0].tx.message.recent_blockhash
        );
        assert_eq!(
            tx.config,
            json!({"encoding": "base64", "skipPreflight": false,
                   "preflightCommitment": "confirmed", "maxRetries": 0})
        );
    }
    let mut users: Vec<Pubkey> = txs.iter().flat_map(|t| t.users()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 40, "every user exactly once");
    assert_eq!(
        ledger.calls("getLatestBlockhash"),
        [&json!([{"commitment": "confirmed"}])],
        "one blockhash shared by the batch"
    );
    drop(ledger);
    assert_eq!(h.metrics.transactions_sent.get(), 3);
    assert_eq!(h.metrics.transactions_confirmed.get(), 3);
    assert_eq!(h.metrics.instructions_per_transaction.get_sample_count(), 3);
    assert_eq!(
        h.metrics
            .submissions
            .with_label_values(&["up", "success"])
            .get(),
        40
    );
    assert_eq!(h.metrics.change_to_confirmation.get_sample_count(), 40);
}

#[tokio::test(start_paused = true)]
async fn upstream_policy_sends_one_user_per_transaction_and_waits_for_finalized() {
    let ledger = Ledger {
        finalize_after_polls: 2,
        ..Ledger::default()
    };
    let mut h = start(ledger, OutboxConfig::upstream(PROGRAM, DEVICE)).await;
    h.outbox.submit(changes(3)).unwrap();
    let outcomes = h.outcomes(3).await;
    assert!(outcomes.values().all(is_confirmed), "{outcomes:?}");

    let ledger = h.ledger();
    let txs = ledger.transactions();
    assert_eq!(txs.len(), 3);
    assert!(txs.iter().all(|t| t.users().len() == 1));
    // Serial: each transaction is sent only after the previous one was finalized.
    let order: Vec<&str> = ledger
        .events
        .iter()
        .map(|e| e.split(' ').next().unwrap())
        .collect();
    assert_eq!(order, ["send", "final", "send", "final", "send", "final"]);
}

// ---- failures ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn rejected_user_fails_for_good_and_the_others_are_resent_and_confirmed() {
    let ledger = Ledger {
        reject: Some((user(2), 8)),
        ..Ledger::default()
    };
    let mut h = start(ledger, config()).await;
    h.outbox.submit(changes(5)).unwrap();
    let outcomes = h.outcomes(5).await;

    assert_eq!(
        outcomes[&user(2)],
        Resolution::Failed {
            error: "instruction 4: custom program error 8 (NotAllowed)".into(),
            permanent: true
        },
        "index 4 = the third user after two compute-budget instructions"
    );
    for n in [0, 1, 3, 4] {
        assert!(is_confirmed(&outcomes[&user(n)]), "{n}: {outcomes:?}");
    }
    let ledger = h.ledger();
    let txs = ledger.transactions();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[0].users(), (0..5).map(user).collect::<Vec<_>>());
    assert_eq!(txs[1].users(), [user(0), user(1), user(3), user(4)]);
    drop(ledger);
    assert_eq!(
        h.metrics
            .submissions
            .with_label_values(&["up", "error"])
            .get(),
        1
    );
    assert_eq!(h.metrics.transactions_failed.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn user_failing_on_chain_is_taken_out_and_the_others_are_resent() {
    let ledger = Ledger {
        fail_on_chain: Some((user(0), 28)),
        ..Ledger::default()
    };
    let mut h = start(ledger, config()).await;
    h.outbox.submit(changes(3)).unwrap();
    let outcomes = h.outcomes(3).await;
    assert_eq!(
        outcomes[&user(0)],
        Resolution::Failed {
            error: "instruction 2: custom program error 28 (InvalidTunnelNet)".into(),
            permanent: true
        }
    );
    assert!(is_confirmed(&outcomes[&user(1)]) && is_confirmed(&outcomes[&user(2)]));
    let ledger = h.ledger();
    let txs = ledger.transactions();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[1].users(), [user(1), user(2)]);
}

#[tokio::test(start_paused = true)]
async fn a_503_on_send_backs_off_and_resends_the_same_bytes() {
    let ledger = Ledger {
        send_script: VecDeque::from([Reply::status(503, vec![])]),
        ..Ledger::default()
    };
    let mut h = start(ledger, config()).await;
    let started = Instant::now();
    h.outbox.submit(changes(1)).unwrap();
    let outcomes = h.outcomes(1).await;
    assert!(is_confirmed(&outcomes[&user(0)]));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "it backed off"
    );

    let ledger = h.ledger();
    assert_eq!(ledger.sent.len(), 2);
    assert_eq!(ledger.sent[0].wire, ledger.sent[1].wire);
    assert!(
        !ledger.sent[1].skip_preflight(),
        "never accepted, so still simulated"
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_params_on_send_fail_the_batch_without_a_retry() {
    let ledger = Ledger {
        send_script: VecDeque::from([Reply::error(
            -32602,
            "invalid transaction: Transaction failed to sanitize accounts offsets correctly",
            Value::Null,
        )]),
        ..Ledger::default()
    };
    let mut h = start(ledger, config()).await;
    h.outbox.submit(changes(2)).unwrap();
    let outcomes = h.outcomes(2).await;
    for r in outcomes.values() {
        match r {
            Resolution::Failed { error, permanent } => {
                assert!(error.contains("-32602"), "{error}");
                assert!(!permanent);
            }
            other => panic!("{other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.ledger().sent.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn unconfirmed_transaction_fails_at_the_deadline() {
    let ledger = Ledger {
        landing: Landing::Never,
        ..Ledger::default()
    };
    let mut cfg = config();
    cfg.confirm_timeout = Duration::from_secs(30);
    let mut h = start(ledger, cfg).await;
    let started = Instant::now();
    h.outbox.submit(changes(1)).unwrap();
    let outcomes = h.outcomes(1).await;
    let elapsed = started.elapsed();
    match &outcomes[&user(0)] {
        Resolution::Failed { error, permanent } => {
            assert!(error.contains("not confirmed within 30s"), "{error}");
            assert!(!permanent);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(32),
        "{elapsed:?}"
    );
    assert_eq!(h.metrics.inflight_transactions.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_batch_out_of_compute_is_resent_with_a_larger_limit_and_nobody_is_blamed() {
    // The program costs 45,000 CU a user, well over the starting estimate.
    let ledger = Ledger {
        cu_per_user: Some(45_000),
        ..Ledger::default()
    };
    let mut h = start(ledger, config()).await;
    h.outbox.submit(changes(40)).unwrap();
    let outcomes = h.outcomes(40).await;
    assert!(outcomes.values().all(is_confirmed), "{outcomes:?}");

    let ledger = h.ledger();
    let landed: Vec<_> = ledger
        .transactions()
        .into_iter()
        .filter(|t| ledger.landed.contains_key(&t.signature()))
        .map(|t| (t.users().len(), t.compute_unit_limit().unwrap()))
        .collect();
    assert!(!landed.is_empty());
    for (users, limit) in &landed {
        assert!(
            *limit >= *users as u32 * 45_000,
            "{users} users, {limit} CU"
        );
        assert!(*limit <= 1_400_000);
    }
    assert_eq!(landed.iter().map(|(u, _)| u).sum::<usize>(), 40);
    // 45,000 a user is covered at the third estimate (40,000 + 20 %): one raise per shortfall,
    // not one per failed batch, so 19 users still fit a transaction.
    assert!(
        landed.iter().all(|(_, limit)| *limit <= 19 * 48_000),
        "{landed:?}"
    );
    assert_eq!(landed.len(), 3, "{landed:?}");
}

#[tokio::test(start_paused = true)]
async fn updates_that_cannot_be_signed_fail_at_the_deadline_instead_of_waiting_forever() {
    // An endpoint out of quota for "ever" (the largest Retry-After there is): the wait it asks
    // for is capped, and the queued updates, which may be stale by then, are handed back.
    let ledger = Ledger {
        blockhash_refused: Some(u64::MAX.to_string()),
        ..Ledger::default()
    };
    let mut cfg = config();
    cfg.confirm_timeout = Duration::from_secs(90);
    let mut h = start(ledger, cfg).await;
    let started = Instant::now();
    h.outbox.submit(changes(3)).unwrap();
    let outcomes = h.outcomes(3).await;
    let elapsed = started.elapsed();
    for r in outcomes.values() {
        match r {
            Resolution::Failed { error, permanent } => {
                assert!(error.contains("not sent within 90s"), "{error}");
                assert!(error.contains("cannot get a blockhash"), "{error}");
                assert!(!permanent, "the next tick may try again");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        elapsed >= Duration::from_secs(90) && elapsed < Duration::from_secs(91),
        "{elapsed:?}"
    );
    let ledger = h.ledger();
    assert!(ledger.sent.is_empty());
    let asked = ledger.calls("getLatestBlockhash").len();
    assert!(
        (2..=3).contains(&asked),
        "asked again after the capped wait, not only once: {asked}"
    );
}

// ---- rebroadcast and expiry -------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn unseen_transaction_is_rebroadcast_with_identical_bytes_while_its_blockhash_is_valid() {
    let ledger = Ledger {
        landing: Landing::OnSendNumber(4),
        ..Ledger::default()
    };
    let mut h = start(ledger, config()).await;
    let started = Instant::now();
    h.outbox.submit(changes(1)).unwrap();
    let outcomes = h.outcomes(1).await;

    let ledger = h.ledger();
    assert_eq!(ledger.sent.len(), 4);
    assert!(ledger.sent.iter().all(|s| s.wire == ledger.sent[0].wire));
    assert!(!ledger.sent[0].skip_preflight());
    assert!(ledger.sent[1..].iter().all(Sent::skip_preflight));
    assert_eq!(
        outcomes[&user(0)],
        Resolution::Confirmed {
            signature: ledger.sent[0].tx.signatures[0],
            slot: 4_242
        }
    );
    // Three rebroadcasts, about 2 s apart.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(6) && elapsed < Duration::from_secs(9),
        "{elapsed:?}"
    );
    assert_eq!(
        ledger.calls("getLatestBlockhash").len(),
        1,
        "never re-signed"
    );
}

#[tokio::test(start_paused = true)]
async fn expired_blockhash_is_re_signed_with_a_fresh_one_under_a_new_signature() {
    let ledger = Ledger {
        landing: Landing::FromBlockhash(2),
        // Each height read moves the chain 40 blocks: the 150-block life runs out on the 4th.
        blocks_per_height_call: 40,
        ..Ledger::default()
    };
    let mut h = start(ledger, config()).await;
    h.outbox.submit(changes(3)).unwrap();
    let outcomes = h.outcomes(3).await;

    let ledger = h.ledger();
    let txs = ledger.transactions();
    assert_eq!(txs.len(), 2);
    assert_ne!(txs[0].signature(), txs[1].signature());
    assert_ne!(
        txs[0].tx.message.recent_blockhash,
        txs[1].tx.message.recent_blockhash
    );
    assert_eq!(txs[0].users(), txs[1].users());
    for r in outcomes.values() {
        assert_eq!(
            *r,
            Resolution::Confirmed {
                signature: txs[1].tx.signatures[0],
                slot: 4_242
            }
        );
    }
    // Expiry is judged at finalized and only once the height passed lastValidBlockHeight.
    let heights = ledger.calls("getBlockHeight");
    assert!(heights
        .iter()
        .all(|p| **p == json!([{"commitment": "finalized"}])));
    assert!(ledger.block_height > 1_000 + BLOCKHASH_LIFE);
    // The old signature was rebroadcast (same bytes) until then.
    let old: Vec<&Sent> = ledger
        .sent
        .iter()
        .filter(|s| s.signature() == txs[0].signature())
        .collect();
    assert!(old.len() >= 2);
    assert!(old.iter().all(|s| s.wire == old[0].wire));
    drop(ledger);
    assert_eq!(h.metrics.transactions_expired.get(), 1);
}

// ---- fee guard --------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn below_the_fee_floor_refreshes_are_dropped_and_changes_still_go() {
    let ledger = Ledger {
        balance: 40_000,
        ..Ledger::default()
    };
    let mut cfg = config();
    cfg.fee_floor_lamports = 50_000;
    let mut h = start(ledger, cfg).await;
    h.outbox
        .submit(vec![
            update(0, UpdateReason::Change),
            update(1, UpdateReason::Refresh),
            update(2, UpdateReason::Refresh),
        ])
        .unwrap();
    let outcomes = h.outcomes(3).await;
    assert!(is_confirmed(&outcomes[&user(0)]));
    for n in [1, 2] {
        match &outcomes[&user(n)] {
            Resolution::Dropped { why } => assert_eq!(
                why,
                "payer balance 40000 lamports is below the fee floor of 50000 lamports"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(h.ledger().transactions()[0].users(), [user(0)]);
    assert_eq!(h.metrics.payer_balance.get(), 40_000);
}

#[tokio::test(start_paused = true)]
async fn above_the_fee_floor_refreshes_go_out() {
    let mut cfg = config();
    cfg.fee_floor_lamports = 50_000;
    let mut h = start(Ledger::default(), cfg).await;
    h.outbox
        .submit(vec![update(0, UpdateReason::Refresh)])
        .unwrap();
    assert!(is_confirmed(&h.outcomes(1).await[&user(0)]));
}

// ---- queue and shutdown -----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_newer_queued_update_supersedes_the_older_one() {
    let mut cfg = config();
    cfg.max_inflight = 1;
    cfg.batch_size = Some(1);
    let ledger = Ledger {
        finalize_after_polls: 0,
        ..Ledger::default()
    };
    let mut h = start(ledger, cfg).await;
    let mut down = update(1, UpdateReason::Change);
    down.status = BgpStatus::Down;
    h.outbox
        .submit(vec![
            update(0, UpdateReason::Change),
            update(1, UpdateReason::Change),
        ])
        .unwrap();
    h.outbox.submit(vec![down]).unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(h.outcomes.recv().await.unwrap());
    }
    assert!(seen.iter().any(|o| o.user == user(1)
        && o.status == BgpStatus::Up
        && matches!(o.result, Resolution::Dropped { .. })));
    assert!(seen
        .iter()
        .any(|o| o.user == user(1) && o.status == BgpStatus::Down && is_confirmed(&o.result)));
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_in_flight_confirmation_and_drops_the_unsent() {
    let ledger = Ledger {
        landing: Landing::OnSendNumber(3),
        ..Ledger::default()
    };
    let mut cfg = config();
    cfg.max_inflight = 1;
    cfg.batch_size = Some(1);
    let Harness {
        outbox,
        mut outcomes,
        ledger,
        _server,
        ..
    } = start(ledger, cfg).await;
    outbox.submit(changes(2)).unwrap();
    // Let the first transaction go out before shutting down.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    outbox.shutdown(Duration::from_secs(30)).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "returned once confirmed"
    );

    let mut got = HashMap::new();
    while let Some(o) = outcomes.recv().await {
        got.insert(o.user, o.result);
    }
    assert!(is_confirmed(&got[&user(0)]), "{got:?}");
    assert_eq!(
        got[&user(1)],
        Resolution::Dropped {
            why: "the outbox is shutting down".into()
        }
    );
    assert_eq!(ledger.lock().unwrap().transactions().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_on_in_flight_work_at_its_grace() {
    let ledger = Ledger {
        landing: Landing::Never,
        ..Ledger::default()
    };
    let Harness {
        outbox,
        mut outcomes,
        _server,
        ..
    } = start(ledger, config()).await;
    outbox.submit(changes(1)).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    outbox.shutdown(Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(5) && elapsed < Duration::from_secs(7),
        "{elapsed:?}"
    );
    let o = outcomes.recv().await.unwrap();
    match o.result {
        Resolution::Failed { error, permanent } => {
            assert!(error.contains("shut down"), "{error}");
            assert!(!permanent);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        outcomes.recv().await.is_none(),
        "the channel closes at the end"
    );
}

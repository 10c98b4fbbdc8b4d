//! The real serviceability program in the ledger simulator, driven with the agent's own
//! transaction builders (`set_user_bgp_status`, `signed_transaction`, `ComputeBudget`,
//! `wire_bytes`) and read back through the agent's RPC client, so the agent's encoding and its
//! reading of errors are exercised against what the program really does.
//!
//! Each test asserts what lands on chain. The error shapes a batch can meet are pinned in the
//! test names and asserts, for the outbox to classify:
//! - a user the program refuses: `InstructionError(k, Custom(n))`, k = the user's instruction,
//!   counting compute-budget instructions; the whole transaction fails;
//! - out of compute in program code: `InstructionError(k, ProgramFailedToComplete)`, logs
//!   `consumed N of N compute units` and `failed: exceeded CUs meter at BPF instruction`;
//! - out of compute inside a syscall: `InstructionError(k, ComputationalBudgetExceeded)`, log
//!   `failed: Computational budget exceeded`;
//! - a payer that cannot fund a user's rent growth: see the test of that name.

use std::net::Ipv4Addr;
use std::time::Duration;

use doublezero_bgpstatus::rpc::{
    Client, ClientConfig, Commitment, InstructionErrorKind, RetryPolicy, RpcError, SendOptions,
    TransactionError,
};
use doublezero_bgpstatus::serviceability::{
    set_user_bgp_status, signed_transaction, wire_bytes, BgpStatus, ComputeBudget,
};
use doublezero_bgpstatus_e2e::ledger::compute::{
    instruction_units, ComputeLab, MAX_TRANSACTION_UNITS,
};
use doublezero_bgpstatus_e2e::ledger::program::error_code;
use doublezero_bgpstatus_e2e::ledger::{
    Config, LedgerSim, NewDevice, NewUser, ProgramElf, UserLayout, SERVICEABILITY_PROGRAM_ID,
};
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;

const SOL: u64 = 1_000_000_000;
const FEE: u64 = 5_000;
/// The limit that lets a batch use everything a transaction may.
const AT_MAX: ComputeBudget = ComputeBudget {
    unit_limit: Some(MAX_TRANSACTION_UNITS),
    unit_price: None,
};

/// A ledger whose slots move only when the test says so, with one device and its users.
struct Ledger {
    sim: LedgerSim,
    client: Client,
    publisher: Keypair,
    device: Pubkey,
    users: Vec<Pubkey>,
}

impl Ledger {
    /// A device with `interfaces` interfaces, `users` HEAD-layout users on 169.254.0.2k/31,
    /// and a funded metrics publisher.
    async fn start(interfaces: u16, users: u16) -> Ledger {
        let sim = LedgerSim::start(Config {
            slot_time: Duration::from_secs(3600),
            ..Config::default()
        })
        .await
        .unwrap();
        let publisher = Keypair::new();
        let device = sim.create_device(&NewDevice {
            interfaces,
            ..NewDevice::new("dz-real1", publisher.pubkey())
        });
        sim.airdrop(&publisher.pubkey(), 10 * SOL);
        let mut ledger = Ledger {
            client: client(&sim),
            sim,
            publisher,
            device,
            users: Vec::new(),
        };
        for _ in 0..users {
            ledger.add_user(|_| {});
        }
        ledger.sim.advance_slots(2);
        ledger
    }

    /// Adds the next user, shaped by `edit`.
    fn add_user(&mut self, edit: impl FnOnce(&mut NewUser)) -> Pubkey {
        let k = self.users.len() as u16;
        let [hi, lo] = (2 * k).to_be_bytes();
        let mut user = NewUser::activated(self.device, Ipv4Addr::new(169, 254, hi, lo), 500 + k);
        edit(&mut user);
        let key = self.sim.create_user(&user);
        self.users.push(key);
        key
    }

    /// The wire bytes of one transaction writing `users` Up (rtt = 1000 + index), built and
    /// signed as the agent does.
    async fn batch(&self, users: &[Pubkey], budget: ComputeBudget) -> Vec<u8> {
        let instructions: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                set_user_bgp_status(
                    &SERVICEABILITY_PROGRAM_ID,
                    user,
                    &self.device,
                    &self.publisher.pubkey(),
                    BgpStatus::Up,
                    1000 + i as u64,
                )
            })
            .collect();
        let blockhash = self
            .client
            .get_latest_blockhash(Commitment::Confirmed)
            .await
            .unwrap()
            .value
            .blockhash;
        wire_bytes(&signed_transaction(
            &self.publisher,
            &instructions,
            budget,
            blockhash,
        ))
    }

    async fn send(
        &self,
        users: &[Pubkey],
        budget: ComputeBudget,
        options: SendOptions,
    ) -> Result<Signature, RpcError> {
        let wire = self.batch(users, budget).await;
        self.client.send_transaction(&wire, options).await
    }

    fn status(&self, user: &Pubkey) -> BgpStatus {
        self.sim.user(user).unwrap().bgp()
    }

    /// Whether every one of `users` holds the write of this slot: Up, reported and up now,
    /// with the RTT its position in the batch gave it.
    fn written_now(&self, users: &[Pubkey]) -> bool {
        let slot = self.sim.slot();
        users.iter().enumerate().all(|(i, key)| {
            let user = self.sim.user(key).unwrap();
            user.bgp() == BgpStatus::Up
                && user.last_bgp_reported_at == slot
                && user.last_bgp_up_at == slot
                && user.bgp_rtt_ns == 1000 + i as u64
        })
    }

    fn none_written(&self) -> bool {
        self.users
            .iter()
            .all(|u| self.status(u) == BgpStatus::Unknown)
    }

    /// One JSON-RPC request over HTTP, answered as its JSON body.
    async fn rpc(&self, method: &str, params: Value) -> Value {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let body = body.to_string();
        let mut stream = tokio::net::TcpStream::connect(self.sim.addr())
            .await
            .unwrap();
        let request = format!(
            "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        let (_, body) = reply.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }

    /// `simulateTransaction` of `wire` with `config` (base64 encoding added).
    async fn simulate(&self, wire: &[u8], mut config: Value) -> Value {
        use base64::Engine as _;
        config["encoding"] = json!("base64");
        let encoded = base64::engine::general_purpose::STANDARD.encode(wire);
        self.rpc("simulateTransaction", json!([encoded, config]))
            .await
    }
}

fn client(sim: &LedgerSim) -> Client {
    let mut config = ClientConfig::new(sim.url());
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    config.timeout = Duration::from_secs(10);
    Client::new(config).unwrap()
}

/// The -32002 preflight failure's parts; panics on anything else.
fn preflight(result: Result<Signature, RpcError>) -> (TransactionError, Vec<String>, u64) {
    match result {
        Err(RpcError::PreflightFailure {
            err,
            logs,
            units_consumed,
            ..
        }) => (err, logs, units_consumed.expect("unitsConsumed is sent")),
        other => panic!("want a -32002 preflight failure, got {other:?}"),
    }
}

fn instruction_error(index: u8, error: InstructionErrorKind) -> TransactionError {
    TransactionError::InstructionError { index, error }
}

fn named(name: &str) -> InstructionErrorKind {
    InstructionErrorKind::Other(name.into())
}

#[tokio::test]
async fn one_write_on_a_one_interface_device_is_metered_at_thousands_of_cu() {
    // ≈8.2k with this build; the deployed one may differ by tens of percent, never by 10x.
    let lab = ComputeLab::new(&ProgramElf::serviceability(), 1).unwrap();
    let one = lab.measure(1, ComputeBudget::default());
    assert_eq!(one.err, None, "{:?}", one.logs);
    let units = one.units_per_user().unwrap();
    assert!((4_000..20_000).contains(&units), "{units} CU for one user");
    assert_eq!(one.units_consumed, units, "no compute-budget instruction");
}

#[tokio::test]
async fn batches_of_1_19_and_the_largest_land_whole_on_devices_of_1_3_20_and_60_interfaces() {
    let program = ProgramElf::serviceability();
    let mut per_user = Vec::new();
    for interfaces in [1, 3, 20, 60] {
        let lab = ComputeLab::new(&program, usize::from(interfaces)).unwrap();
        let largest = lab.largest_batch(AT_MAX);
        assert!(
            (1..=19).contains(&largest),
            "{interfaces} interfaces: {largest}"
        );
        let mut sizes = vec![1, largest];
        if largest >= 19 {
            sizes.push(19);
        }
        let ledger = Ledger::start(interfaces, 19).await;
        for size in sizes {
            let users = &ledger.users[..size];
            ledger
                .send(users, AT_MAX, SendOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{interfaces} interfaces, {size} users: {e}"));
            assert!(
                ledger.written_now(users),
                "{interfaces} interfaces, {size} users"
            );
            let landed = ledger.sim.transactions().pop().unwrap();
            assert_eq!(landed.outcome, "landed");
            assert_eq!(landed.requested_unit_limit, Some(MAX_TRANSACTION_UNITS));
            let consumed = landed.units_consumed.unwrap();
            assert!(consumed <= u64::from(MAX_TRANSACTION_UNITS));
            if size == 1 {
                per_user.push(consumed - 150);
            }
            ledger.sim.advance_slots(1);
        }
    }
    assert!(
        per_user.windows(2).all(|w| w[0] < w[1]),
        "the cost per user grows with the device's interfaces: {per_user:?}"
    );
}

#[tokio::test]
async fn nineteen_users_of_a_60_interface_device_exceed_1_4m_cu_and_nothing_lands() {
    let ledger = Ledger::start(60, 19).await;
    let (err, logs, units) = preflight(
        ledger
            .send(&ledger.users, AT_MAX, SendOptions::default())
            .await,
    );
    let completed = instruction_units(&logs)
        .iter()
        .filter(|i| i.consumed < i.available)
        .count();
    assert!(completed < 19, "{logs:?}");
    // Index 0 is the SetComputeUnitLimit; the first user that ran out is 1 + those that ran.
    assert_eq!(
        err,
        instruction_error(1 + completed as u8, named("ProgramFailedToComplete"))
    );
    assert_eq!(units, u64::from(MAX_TRANSACTION_UNITS));
    assert!(
        logs.last()
            .unwrap()
            .ends_with("failed: exceeded CUs meter at BPF instruction"),
        "{logs:?}"
    );
    assert!(ledger.none_written());
}

#[tokio::test]
async fn a_limit_too_low_is_program_failed_to_complete_with_the_meter_logs_and_nothing_lands() {
    let ledger = Ledger::start(1, 3).await;
    let wire = ledger.batch(&ledger.users, AT_MAX).await;
    let simulated = ledger.simulate(&wire, json!({})).await;
    let needed = simulated["result"]["value"]["unitsConsumed"]
        .as_u64()
        .unwrap();
    let limit = needed - 3_000;
    let low = ComputeBudget {
        unit_limit: Some(limit as u32),
        unit_price: None,
    };
    let (err, logs, units) = preflight(
        ledger
            .send(&ledger.users, low, SendOptions::default())
            .await,
    );
    assert_eq!(err, instruction_error(3, named("ProgramFailedToComplete")));
    assert_eq!(units, limit);
    let meter = &logs[logs.len() - 2..];
    let program = SERVICEABILITY_PROGRAM_ID;
    let left = instruction_units(&logs).last().unwrap().available;
    assert_eq!(
        meter,
        [
            format!("Program {program} consumed {left} of {left} compute units"),
            format!("Program {program} failed: exceeded CUs meter at BPF instruction"),
        ]
    );
    assert!(ledger.none_written());

    // Sent without preflight it lands as a failed transaction: the fee is paid, no user written.
    let before = ledger.sim.balance(&ledger.publisher.pubkey());
    let skip = SendOptions {
        skip_preflight: true,
        ..SendOptions::default()
    };
    let signature = ledger.send(&ledger.users, low, skip).await.unwrap();
    let status = ledger
        .client
        .get_signature_statuses(&[signature])
        .await
        .unwrap()
        .value[0]
        .clone()
        .unwrap();
    assert_eq!(
        status.err,
        Some(instruction_error(3, named("ProgramFailedToComplete")))
    );
    assert_eq!(ledger.sim.balance(&ledger.publisher.pubkey()), before - FEE);
    assert!(ledger.none_written());
}

#[tokio::test]
async fn a_limit_that_runs_out_inside_a_syscall_is_computational_budget_exceeded() {
    // A syscall charges its whole cost up front (a log line 100 CU, reading the Clock 140, a
    // memory move at least 10); a limit that leaves less than that at the call fails inside
    // it. The program reads the Clock ~1.7k CU before it ends, late enough to reach: walk the
    // limit down from what one write needs, in steps narrower than any syscall's cost.
    let ledger = Ledger::start(1, 1).await;
    let users = &ledger.users[..1];
    let needed = ledger
        .simulate(&ledger.batch(users, AT_MAX).await, json!({}))
        .await["result"]["value"]["unitsConsumed"]
        .as_u64()
        .unwrap();
    let mut found = None;
    for limit in (needed.saturating_sub(3_000)..needed).rev().step_by(10) {
        let budget = ComputeBudget {
            unit_limit: Some(limit as u32),
            unit_price: None,
        };
        let reply = ledger
            .simulate(&ledger.batch(users, budget).await, json!({}))
            .await;
        let value = &reply["result"]["value"];
        if value["err"] == json!({"InstructionError": [1, "ComputationalBudgetExceeded"]}) {
            found = Some((limit, value.clone()));
            break;
        }
        assert_eq!(
            value["err"],
            json!({"InstructionError": [1, "ProgramFailedToComplete"]}),
            "limit {limit}"
        );
    }
    let (limit, value) = found.expect("some limit runs out inside a syscall");
    assert_eq!(value["unitsConsumed"], limit);
    let logs: Vec<String> = serde_json::from_value(value["logs"].clone()).unwrap();
    let program = SERVICEABILITY_PROGRAM_ID;
    assert_eq!(
        logs.last().unwrap(),
        &format!("Program {program} failed: Computational budget exceeded"),
    );
    // The same limit on the send path: -32002 with the same error, nothing written.
    let budget = ComputeBudget {
        unit_limit: Some(limit as u32),
        unit_price: None,
    };
    let (err, _, units) = preflight(ledger.send(users, budget, SendOptions::default()).await);
    assert_eq!(
        err,
        instruction_error(1, named("ComputationalBudgetExceeded"))
    );
    assert_eq!(units, limit);
    assert!(ledger.none_written());
}

#[tokio::test]
async fn without_a_limit_each_program_instruction_may_use_200k_up_to_1_4m_and_budget_instructions_cost_150(
) {
    // The runtime logs, for each top-level instruction, what was left of the transaction's
    // limit when it started: the first program instruction's "of N" is the limit.
    let ledger = Ledger::start(1, 8).await;
    let limit_seen = |reply: Value| {
        let logs: Vec<String> =
            serde_json::from_value(reply["result"]["value"]["logs"].clone()).unwrap();
        assert_eq!(reply["result"]["value"]["err"], Value::Null, "{logs:?}");
        instruction_units(&logs)[0].available
    };
    let mut seen = Vec::new();
    for (users, budget) in [
        (1, ComputeBudget::default()),
        (2, ComputeBudget::default()),
        (7, ComputeBudget::default()),
        (8, ComputeBudget::default()),
        (
            1,
            ComputeBudget {
                unit_limit: Some(300_000),
                unit_price: None,
            },
        ),
        (
            1,
            ComputeBudget {
                unit_limit: Some(300_000),
                unit_price: Some(1),
            },
        ),
        (
            1,
            ComputeBudget {
                unit_limit: None,
                unit_price: Some(1),
            },
        ),
        (
            1,
            ComputeBudget {
                unit_limit: Some(2_000_000),
                unit_price: None,
            },
        ),
    ] {
        let wire = ledger.batch(&ledger.users[..users], budget).await;
        seen.push(limit_seen(ledger.simulate(&wire, json!({})).await));
    }
    assert_eq!(
        seen,
        [
            200_000,               // one program instruction: 200k
            400_000,               // two: 200k each
            1_400_000,             // seven: 1.4M
            1_400_000,             // eight would be 1.6M: capped at 1.4M
            300_000 - 150,         // a set limit, less its own instruction's 150
            300_000 - 300,         // limit and price: 150 each
            200_000 + 3_000 - 150, // a builtin instruction adds 3k to the default
            1_400_000 - 150,       // a limit above 1.4M is capped
        ]
    );
}

#[tokio::test]
async fn an_old_layout_user_is_resized_in_a_batch_and_the_payer_pays_the_rent_difference() {
    let mut ledger = Ledger::start(1, 2).await;
    let pre_bgp = ledger.add_user(|u| u.layout = UserLayout::PreBgp);
    let old_feed = ledger.add_user(|u| u.layout = UserLayout::OldFeedPk);
    ledger.add_user(|_| {});
    let payer = ledger.publisher.pubkey();
    let before = (
        ledger.sim.balance(&payer),
        ledger.sim.account(&pre_bgp).unwrap(),
        ledger.sim.account(&old_feed).unwrap(),
    );
    assert_eq!((before.1.data.len(), before.2.data.len()), (176, 234));

    ledger
        .send(&ledger.users, AT_MAX, SendOptions::default())
        .await
        .unwrap();
    assert!(ledger.written_now(&ledger.users));
    let grown = ledger.sim.account(&pre_bgp).unwrap();
    let shrunk = ledger.sim.account(&old_feed).unwrap();
    assert_eq!((grown.data.len(), shrunk.data.len()), (206, 206));
    let rent = ledger.sim.minimum_balance(206) - before.1.lamports;
    assert!(rent > 0);
    assert_eq!(grown.lamports, before.1.lamports + rent);
    assert_eq!(
        shrunk.lamports, before.2.lamports,
        "shrinking refunds nothing"
    );
    assert_eq!(ledger.sim.balance(&payer), before.0 - FEE - rent);
}

#[tokio::test]
async fn a_user_the_program_refuses_mid_batch_fails_the_whole_transaction_at_its_index() {
    let mut ledger = Ledger::start(1, 2).await;
    let private = ledger.add_user(|u| {
        u.client_ip = Ipv4Addr::new(10, 0, 0, 1);
        u.dz_ip = u.client_ip;
    });
    ledger.add_user(|_| {});
    let private_dz = ledger.add_user(|u| u.dz_ip = Ipv4Addr::new(192, 168, 0, 1));
    let before = ledger.sim.balance(&ledger.publisher.pubkey());

    // Users 0..4 with a limit: the private client is instruction 3 (the limit is 0).
    let (err, logs, units) = preflight(
        ledger
            .send(&ledger.users[..4], AT_MAX, SendOptions::default())
            .await,
    );
    assert_eq!(
        err,
        instruction_error(
            3,
            InstructionErrorKind::Custom(error_code::INVALID_CLIENT_IP)
        )
    );
    assert!(units > 0);
    assert!(
        logs.last()
            .unwrap()
            .ends_with("failed: custom program error: 0x1a"),
        "{logs:?}"
    );
    // Without compute-budget instructions the index is the user's own position.
    let (err, _, _) = preflight(
        ledger
            .send(
                &ledger.users[..4],
                ComputeBudget::default(),
                SendOptions::default(),
            )
            .await,
    );
    assert_eq!(
        err,
        instruction_error(
            2,
            InstructionErrorKind::Custom(error_code::INVALID_CLIENT_IP)
        )
    );
    let (err, _, _) = preflight(
        ledger
            .send(
                &[ledger.users[0], private_dz],
                ComputeBudget::default(),
                SendOptions::default(),
            )
            .await,
    );
    assert_eq!(
        err,
        instruction_error(1, InstructionErrorKind::Custom(error_code::INVALID_DZ_IP))
    );
    assert!(ledger.none_written(), "nothing of a refused batch lands");
    assert_eq!(ledger.sim.balance(&ledger.publisher.pubkey()), before);
    assert_eq!(ledger.status(&private), BgpStatus::Unknown);

    // The rest, resent without the refused users, lands.
    let rest = [ledger.users[0], ledger.users[1], ledger.users[3]];
    ledger
        .send(&rest, AT_MAX, SendOptions::default())
        .await
        .unwrap();
    assert!(ledger.written_now(&rest));
}

#[tokio::test]
async fn a_payer_short_of_the_rent_growth_fails_as_insufficient_funds_and_nothing_lands() {
    let mut ledger = Ledger::start(1, 0).await;
    let pre_bgp = ledger.add_user(|u| u.layout = UserLayout::PreBgp);
    let head = ledger.add_user(|_| {});
    let growth = ledger.sim.minimum_balance(206) - ledger.sim.balance(&pre_bgp);
    let payer = ledger.publisher.pubkey();
    let rent_exempt_payer = ledger.sim.minimum_balance(0);

    // Less than the growth: the system program's transfer inside the program fails.
    ledger
        .sim
        .put_account(payer, Pubkey::default(), Some(FEE + growth / 2), Vec::new());
    let (err, logs, _) = preflight(
        ledger
            .send(&[head, pre_bgp], AT_MAX, SendOptions::default())
            .await,
    );
    assert_eq!(err, instruction_error(2, InstructionErrorKind::Custom(1)));
    assert!(
        logs.iter().any(|l| l
            == &format!(
                "Transfer: insufficient lamports {}, need {growth}",
                growth / 2
            )),
        "{logs:?}"
    );
    assert!(ledger.none_written());

    // Enough for the growth but not to stay rent-exempt afterwards: the runtime refuses the
    // payer's new balance once the program is done.
    ledger.sim.put_account(
        payer,
        Pubkey::default(),
        Some(rent_exempt_payer + FEE + growth - 1),
        Vec::new(),
    );
    let (err, _, units) = preflight(
        ledger
            .send(&[head, pre_bgp], AT_MAX, SendOptions::default())
            .await,
    );
    assert_eq!(
        err,
        TransactionError::Other(json!({"InsufficientFundsForRent": {"account_index": 0}}))
    );
    assert!(units > 0, "the program ran to the end");
    assert!(ledger.none_written());

    // One lamport more and it lands.
    ledger.sim.airdrop(&payer, 1);
    ledger
        .send(&[head, pre_bgp], AT_MAX, SendOptions::default())
        .await
        .unwrap();
    assert_eq!(ledger.sim.balance(&payer), rent_exempt_payer);
    assert_eq!(ledger.status(&pre_bgp), BgpStatus::Up);
}

#[tokio::test]
async fn simulate_transaction_answers_in_agaves_shape_and_commits_nothing() {
    let ledger = Ledger::start(1, 2).await;
    let wire = ledger.batch(&ledger.users, AT_MAX).await;
    let reply = ledger
        .simulate(&wire, json!({"sigVerify": true, "commitment": "confirmed"}))
        .await;
    let result = &reply["result"];
    assert_eq!(result["context"]["slot"], ledger.sim.slot() - 1);
    let value = &result["value"];
    assert_eq!(value["err"], Value::Null);
    assert_eq!(value["accounts"], Value::Null);
    assert_eq!(value["returnData"], Value::Null);
    let logs: Vec<String> = serde_json::from_value(value["logs"].clone()).unwrap();
    let per_instruction: u64 = instruction_units(&logs).iter().map(|i| i.consumed).sum();
    assert_eq!(value["unitsConsumed"], per_instruction + 150);
    assert!(ledger.none_written(), "a simulation commits nothing");
    assert!(ledger.sim.transactions().is_empty());

    // A bad signature: refused only when asked to verify.
    let mut forged = wire.clone();
    forged[1] ^= 1;
    let reply = ledger.simulate(&forged, json!({"sigVerify": true})).await;
    assert_eq!(reply["result"]["value"]["err"], "SignatureFailure");
    assert_eq!(reply["result"]["value"]["unitsConsumed"], 0);
    let reply = ledger.simulate(&forged, json!({})).await;
    assert_eq!(reply["result"]["value"]["err"], Value::Null);

    // An expired blockhash: BlockhashNotFound, unless the node replaces it.
    ledger.sim.advance_slots(151);
    let reply = ledger.simulate(&wire, json!({})).await;
    assert_eq!(reply["result"]["value"]["err"], "BlockhashNotFound");
    let reply = ledger
        .simulate(&wire, json!({"replaceRecentBlockhash": true}))
        .await;
    let value = &reply["result"]["value"];
    assert_eq!(value["err"], Value::Null);
    let (hash, last_valid) = {
        let latest = ledger
            .client
            .get_latest_blockhash(Commitment::Finalized)
            .await
            .unwrap()
            .value;
        (latest.blockhash, latest.last_valid_block_height)
    };
    assert_eq!(value["replacementBlockhash"]["blockhash"], hash.to_string());
    assert_eq!(
        value["replacementBlockhash"]["lastValidBlockHeight"],
        last_valid
    );
    let reply = ledger
        .simulate(
            &wire,
            json!({"replaceRecentBlockhash": true, "sigVerify": true}),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32602);
}

#[tokio::test]
async fn a_simulation_of_a_landed_transaction_is_already_processed() {
    let ledger = Ledger::start(1, 1).await;
    let wire = ledger.batch(&ledger.users, AT_MAX).await;
    ledger
        .client
        .send_transaction(&wire, SendOptions::default())
        .await
        .unwrap();
    let reply = ledger.simulate(&wire, json!({})).await;
    assert_eq!(reply["result"]["value"]["err"], "AlreadyProcessed");
}

#[tokio::test]
async fn the_program_runs_at_another_program_id() {
    let other = Pubkey::new_unique();
    let sim = LedgerSim::start(Config {
        program_id: other,
        slot_time: Duration::from_secs(3600),
        ..Config::default()
    })
    .await
    .unwrap();
    let publisher = Keypair::new();
    let device = sim.create_device(&NewDevice::new("dz-x", publisher.pubkey()));
    let user = sim.create_user(&NewUser::activated(
        device,
        Ipv4Addr::new(169, 254, 0, 0),
        500,
    ));
    sim.airdrop(&publisher.pubkey(), SOL);
    sim.advance_slots(2);
    let client = client(&sim);
    let blockhash = client
        .get_latest_blockhash(Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .blockhash;
    let ix = set_user_bgp_status(
        &other,
        &user,
        &device,
        &publisher.pubkey(),
        BgpStatus::Down,
        0,
    );
    let tx = signed_transaction(&publisher, &[ix], ComputeBudget::default(), blockhash);
    client
        .send_transaction(&wire_bytes(&tx), SendOptions::default())
        .await
        .unwrap();
    assert_eq!(sim.user(&user).unwrap().bgp(), BgpStatus::Down);
}

#[tokio::test]
async fn every_rpc_round_trip_takes_at_least_the_configured_latency() {
    let latency = Duration::from_millis(300);
    let sim = LedgerSim::start(Config {
        latency,
        slot_time: Duration::from_secs(3600),
        ..Config::default()
    })
    .await
    .unwrap();
    let client = client(&sim);
    for _ in 0..2 {
        let started = tokio::time::Instant::now();
        client.get_slot(Commitment::Confirmed).await.unwrap();
        assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    }
}

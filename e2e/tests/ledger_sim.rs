//! The ledger simulator seen through the agent's own JSON-RPC client and transaction builder:
//! the golden vectors of onchain.md §12 land, the program's checks and resizes behave as §7
//! says, and the node-level behaviour (filters, confirmation, expiry, faults) is what the
//! agent's retry and confirm logic expects.

use std::net::Ipv4Addr;
use std::time::Duration;

use doublezero_bgpstatus::rpc::{
    Client, ClientConfig, Commitment, Filter, InstructionErrorKind, RetryPolicy, RpcError,
    SendOptions, TransactionError,
};
use doublezero_bgpstatus::serviceability::{
    set_user_bgp_status, signed_transaction, wire_bytes, BgpStatus, ComputeBudget,
};
use doublezero_bgpstatus_e2e::ledger::{
    Config, Fault, LedgerSim, NewDevice, NewUser, UserLayout, SERVICEABILITY_PROGRAM_ID,
};
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;

/// Golden (a2): a typical unicast user of the golden device, 206 bytes, Down at slot 2000.
const A2_HEX: &str = "07111111111111111111111111111111111111111111111111111111111111111107000000000000000000000000000000ff000000000000000000000000000000000000000000000000000000000000000000ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1010102030401020304f401a9fe00001f0100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002e803000000000000d007000000000000000000000000000000000000";

/// Golden (b): the golden device, one interface, metrics publisher = the payer [1;32].
const B_HEX: &str = "0510101010101010101010101010101010101010101010101010101010101010102a000000000000000000000000000000fd20202020202020202020202020202020202020202020202020202020202020203030303030303030303030303030303030303030303030303030303030303030022d0102030106000000647a2d6e7937010000002d0102001d8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c4040404040404040404040404040404040404040404040404040404040404040040000006d676d740100000001030b0000004c6f6f706261636b32353501000001000000000000000000000000000000002823000000ac1000012065000003000000020080000301010001006000200004000000080001000000380004030b0000004c6f6f706261636b32353501000001000000000000000000000000000000002823000000ac1000012065000000000000";

const SOL: u64 = 1_000_000_000;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The golden keys and accounts: payer [1;32], user [2;32] holding golden (a2), device [3;32]
/// holding golden (b), both run by the real program.
struct Golden {
    sim: LedgerSim,
    client: Client,
    payer: Keypair,
    user: Pubkey,
    device: Pubkey,
}

/// A simulator whose slots move only when the test says so.
async fn start() -> LedgerSim {
    LedgerSim::start(Config {
        slot_time: Duration::from_secs(3600),
        ..Config::default()
    })
    .await
    .unwrap()
}

fn client(sim: &LedgerSim) -> Client {
    let mut config = ClientConfig::new(sim.url());
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    config.timeout = Duration::from_secs(5);
    Client::new(config).unwrap()
}

async fn golden() -> Golden {
    let sim = start().await;
    let payer = Keypair::new_from_array([1; 32]);
    let user = Keypair::new_from_array([2; 32]).pubkey();
    let device = Keypair::new_from_array([3; 32]).pubkey();
    sim.put_program_account(device, hex(B_HEX));
    sim.put_program_account(user, hex(A2_HEX));
    sim.airdrop(&payer.pubkey(), 10 * SOL);
    sim.advance_slots(5);
    Golden {
        client: client(&sim),
        sim,
        payer,
        user,
        device,
    }
}

impl Golden {
    async fn send_as(
        &self,
        signer: &Keypair,
        user: &Pubkey,
        status: BgpStatus,
        rtt: u64,
    ) -> Result<Signature, RpcError> {
        let blockhash = self
            .client
            .get_latest_blockhash(Commitment::Confirmed)
            .await
            .unwrap()
            .value
            .blockhash;
        let wire = self.wire(signer, user, status, rtt, blockhash);
        self.client
            .send_transaction(&wire, SendOptions::default())
            .await
    }

    /// The wire bytes of one `SetUserBGPStatus` for `user`, signed by `signer`.
    fn wire(
        &self,
        signer: &Keypair,
        user: &Pubkey,
        status: BgpStatus,
        rtt: u64,
        blockhash: Hash,
    ) -> Vec<u8> {
        let ix = set_user_bgp_status(
            &SERVICEABILITY_PROGRAM_ID,
            user,
            &self.device,
            &signer.pubkey(),
            status,
            rtt,
        );
        wire_bytes(&signed_transaction(
            signer,
            &[ix],
            ComputeBudget::default(),
            blockhash,
        ))
    }

    async fn send(&self, status: BgpStatus, rtt: u64) -> Result<Signature, RpcError> {
        self.send_as(&self.payer, &self.user, status, rtt).await
    }
}

/// Writes `status` for every one of `users` of `device` in one transaction signed by
/// `publisher`, as the agent builds it.
async fn write(
    sim: &LedgerSim,
    publisher: &Keypair,
    device: &Pubkey,
    users: &[Pubkey],
    status: BgpStatus,
) -> Result<Signature, RpcError> {
    let client = client(sim);
    let instructions: Vec<_> = users
        .iter()
        .map(|user| {
            set_user_bgp_status(
                &SERVICEABILITY_PROGRAM_ID,
                user,
                device,
                &publisher.pubkey(),
                status,
                0,
            )
        })
        .collect();
    let blockhash = client
        .get_latest_blockhash(Commitment::Confirmed)
        .await?
        .value
        .blockhash;
    let tx = signed_transaction(
        publisher,
        &instructions,
        ComputeBudget::default(),
        blockhash,
    );
    client
        .send_transaction(&wire_bytes(&tx), SendOptions::default())
        .await
}

fn assert_custom(result: Result<Signature, RpcError>, code: u32) {
    match result {
        Err(RpcError::PreflightFailure { err, .. }) => assert_eq!(
            err,
            TransactionError::InstructionError {
                index: 0,
                error: InstructionErrorKind::Custom(code)
            }
        ),
        other => panic!("want preflight Custom({code}), got {other:?}"),
    }
}

#[tokio::test]
async fn agent_transaction_on_the_golden_user_writes_status_slots_and_rtt() {
    let g = golden().await;
    let slot = g.sim.slot();
    g.send(BgpStatus::Up, 12_345_678).await.unwrap();
    let user = g.sim.user(&g.user).unwrap();
    assert_eq!(user.bgp(), BgpStatus::Up);
    assert_eq!(user.last_bgp_reported_at, slot);
    assert_eq!(user.last_bgp_up_at, slot);
    assert_eq!(user.bgp_rtt_ns, 12_345_678);
    assert_eq!(g.sim.account(&g.user).unwrap().data.len(), 206);

    g.sim.advance_slots(3);
    g.send(BgpStatus::Down, 0).await.unwrap();
    let user = g.sim.user(&g.user).unwrap();
    assert_eq!(user.bgp(), BgpStatus::Down);
    assert_eq!(user.last_bgp_reported_at, slot + 3);
    assert_eq!(user.last_bgp_up_at, slot, "Down keeps the last Up slot");
    assert_eq!(user.bgp_rtt_ns, 0);
}

#[tokio::test]
async fn a_signer_that_is_not_the_metrics_publisher_is_refused_with_not_allowed() {
    let g = golden().await;
    let stranger = Keypair::new();
    g.sim.airdrop(&stranger.pubkey(), SOL);
    let result = g.send_as(&stranger, &g.user, BgpStatus::Up, 1).await;
    assert!(matches!(&result, Err(e) if !e.is_retryable()));
    assert_custom(result, 8);
    assert_eq!(g.sim.user(&g.user).unwrap().bgp(), BgpStatus::Down);
}

#[tokio::test]
async fn a_user_of_another_device_is_refused_with_not_allowed() {
    let g = golden().await;
    let other_device = g
        .sim
        .create_device(&NewDevice::new("dz-other", Pubkey::new_from_array([9; 32])));
    let foreign = g.sim.create_user(&NewUser::activated(
        other_device,
        Ipv4Addr::new(169, 254, 0, 2),
        501,
    ));
    assert_custom(g.send_as(&g.payer, &foreign, BgpStatus::Up, 1).await, 8);
}

#[tokio::test]
async fn an_invalid_user_is_refused_with_its_validation_code_unless_deleting() {
    let g = golden().await;
    let mut bad = NewUser::activated(g.device, Ipv4Addr::new(10, 0, 0, 0), 502);
    let bad_net = g.sim.create_user(&bad);
    assert_custom(g.send_as(&g.payer, &bad_net, BgpStatus::Up, 1).await, 28);
    bad.status = doublezero_bgpstatus::serviceability::UserStatus::Deleting;
    let deleting = g.sim.create_user(&bad);
    g.send_as(&g.payer, &deleting, BgpStatus::Up, 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_old_feed_pk_user_shrinks_to_206_bytes_without_refund() {
    let g = golden().await;
    let mut spec = NewUser::activated(g.device, Ipv4Addr::new(169, 254, 0, 4), 503);
    spec.layout = UserLayout::OldFeedPk;
    let user = g.sim.create_user(&spec);
    let before = g.sim.account(&user).unwrap();
    assert_eq!(before.data.len(), 234);
    g.send_as(&g.payer, &user, BgpStatus::Up, 7).await.unwrap();
    let after = g.sim.account(&user).unwrap();
    assert_eq!(after.data.len(), 206);
    assert_eq!(after.lamports, before.lamports);
    assert_eq!(g.sim.user(&user).unwrap().bgp(), BgpStatus::Up);
}

#[tokio::test]
async fn a_pre_bgp_user_grows_and_the_payer_pays_the_rent() {
    let g = golden().await;
    let mut spec = NewUser::activated(g.device, Ipv4Addr::new(169, 254, 0, 6), 504);
    spec.layout = UserLayout::PreBgp;
    let user = g.sim.create_user(&spec);
    assert_eq!(g.sim.account(&user).unwrap().data.len(), 176);
    let user_before = g.sim.balance(&user);
    let payer_before = g.sim.balance(&g.payer.pubkey());
    g.send_as(&g.payer, &user, BgpStatus::Up, 7).await.unwrap();
    let account = g.sim.account(&user).unwrap();
    assert_eq!(account.data.len(), 206);
    assert_eq!(account.lamports, g.sim.minimum_balance(206));
    let rent = account.lamports - user_before;
    assert!(rent > 0);
    assert_eq!(
        g.sim.balance(&g.payer.pubkey()),
        payer_before - rent - 5000,
        "the payer pays the fee and the rent top-up"
    );
}

#[tokio::test]
async fn program_accounts_filtered_by_type_and_device_are_only_that_devices_users() {
    let g = golden().await;
    let other_device = g
        .sim
        .create_device(&NewDevice::new("dz-other", g.payer.pubkey()));
    let mine = g.sim.create_user(&NewUser::activated(
        g.device,
        Ipv4Addr::new(169, 254, 0, 8),
        505,
    ));
    g.sim.create_user(&NewUser::activated(
        other_device,
        Ipv4Addr::new(169, 254, 0, 10),
        506,
    ));
    let filters = [
        Filter::Memcmp {
            offset: 0,
            bytes: vec![7],
        },
        Filter::Memcmp {
            offset: 83,
            bytes: g.device.to_bytes().to_vec(),
        },
    ];
    let reply = g
        .client
        .get_program_accounts(&SERVICEABILITY_PROGRAM_ID, &filters, Commitment::Confirmed)
        .await
        .unwrap();
    let mut keys: Vec<Pubkey> = reply.value.iter().map(|k| k.pubkey).collect();
    keys.sort();
    let mut want = vec![g.user, mine];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(reply.slot, g.sim.slot() - 1, "confirmed is one slot behind");

    let all = g
        .client
        .get_program_accounts(&SERVICEABILITY_PROGRAM_ID, &[], Commitment::Finalized)
        .await
        .unwrap();
    assert_eq!(all.value.len(), 5, "two devices and three users");
}

#[tokio::test]
async fn confirmation_status_advances_with_slots() {
    let g = golden().await;
    let signature = g.send(BgpStatus::Up, 1).await.unwrap();
    let status = |c: &Client| {
        let c = c.clone();
        async move {
            c.get_signature_statuses(&[signature]).await.unwrap().value[0]
                .clone()
                .unwrap()
        }
    };
    let unknown = g
        .client
        .get_signature_statuses(&[Signature::from([7; 64])])
        .await
        .unwrap();
    assert_eq!(unknown.value, vec![None]);

    let s = status(&g.client).await;
    assert_eq!(s.confirmation_status, Some(Commitment::Processed));
    assert_eq!(s.err, None);
    g.sim.advance_slots(1);
    assert_eq!(
        status(&g.client).await.confirmation_status,
        Some(Commitment::Confirmed)
    );
    g.sim.advance_slots(31);
    let s = status(&g.client).await;
    assert_eq!(s.confirmation_status, Some(Commitment::Finalized));
    assert_eq!(s.confirmations, None);
}

#[tokio::test]
async fn resending_the_same_bytes_is_already_processed() {
    let g = golden().await;
    let blockhash = g
        .client
        .get_latest_blockhash(Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .blockhash;
    let wire = g.wire(&g.payer, &g.user, BgpStatus::Up, 1, blockhash);
    g.client
        .send_transaction(&wire, SendOptions::default())
        .await
        .unwrap();
    match g
        .client
        .send_transaction(&wire, SendOptions::default())
        .await
    {
        Err(RpcError::PreflightFailure { err, .. }) => {
            assert_eq!(err, TransactionError::AlreadyProcessed)
        }
        other => panic!("want AlreadyProcessed, got {other:?}"),
    }
    let skip = SendOptions {
        skip_preflight: true,
        ..SendOptions::default()
    };
    g.client.send_transaction(&wire, skip).await.unwrap();
}

#[tokio::test]
async fn an_expired_blockhash_fails_preflight_with_blockhash_not_found() {
    let g = golden().await;
    let latest = g
        .client
        .get_latest_blockhash(Commitment::Finalized)
        .await
        .unwrap()
        .value;
    let height = g
        .client
        .get_block_height(Commitment::Finalized)
        .await
        .unwrap();
    assert_eq!(latest.last_valid_block_height, height + 150);

    let wire = g.wire(&g.payer, &g.user, BgpStatus::Up, 1, latest.blockhash);
    g.sim.advance_slots(151);
    let processed = g
        .client
        .get_block_height(Commitment::Processed)
        .await
        .unwrap();
    assert!(processed > latest.last_valid_block_height);
    match g
        .client
        .send_transaction(&wire, SendOptions::default())
        .await
    {
        Err(RpcError::PreflightFailure { err, .. }) => {
            assert_eq!(err, TransactionError::BlockhashNotFound)
        }
        other => panic!("want BlockhashNotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn injected_faults_are_retryable_errors_for_the_agent_and_then_clear() {
    let g = golden().await;
    g.sim.set_fault(Fault::Unavailable, Some(1));
    let err = g.client.get_slot(Commitment::Confirmed).await.unwrap_err();
    assert!(matches!(err, RpcError::Http { status: 503, .. }), "{err:?}");
    assert!(err.is_retryable());

    g.sim.set_fault(Fault::Unhealthy, Some(1));
    let err = g.client.get_health().await.unwrap_err();
    assert_eq!(err.json_rpc_code(), Some(-32005));
    assert!(err.is_retryable());

    g.client.get_health().await.unwrap();
}

#[tokio::test]
async fn a_hanging_node_times_out_the_client() {
    let g = golden().await;
    let mut config = ClientConfig::new(g.sim.url());
    config.timeout = Duration::from_millis(200);
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let impatient = Client::new(config).unwrap();
    g.sim.set_fault(Fault::Hang, None);
    let err = impatient.get_slot(Commitment::Confirmed).await.unwrap_err();
    assert!(matches!(err, RpcError::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    g.sim.clear_fault();
    g.sim.shutdown().await;
}

#[tokio::test]
async fn a_dropped_transaction_is_acknowledged_but_never_lands() {
    let g = golden().await;
    g.sim.set_fault(Fault::DropTransactions, Some(1));
    let signature = g.send(BgpStatus::Up, 1).await.unwrap();
    g.sim.advance_slots(2);
    let statuses = g.client.get_signature_statuses(&[signature]).await.unwrap();
    assert_eq!(statuses.value, vec![None]);
    assert_eq!(g.sim.user(&g.user).unwrap().bgp(), BgpStatus::Down);
    g.send(BgpStatus::Up, 2).await.unwrap();
    assert_eq!(g.sim.user(&g.user).unwrap().bgp(), BgpStatus::Up);
}

#[tokio::test(start_paused = true)]
async fn slots_advance_on_the_timer_until_paused() {
    let sim = LedgerSim::start(Config {
        slot_time: Duration::from_millis(20),
        ..Config::default()
    })
    .await
    .unwrap();
    let start = sim.slot();
    tokio::time::sleep(Duration::from_millis(205)).await;
    assert_eq!(sim.slot(), start + 10);
    sim.pause_slots(true);
    tokio::time::sleep(Duration::from_millis(40)).await;
    let paused_at = sim.slot();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.slot(), paused_at);
    sim.shutdown().await;
}

/// One HTTP/1.1 request with a JSON body (or none), answered as (status, JSON body).
async fn http(
    sim: &LedgerSim,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_preflight_failure_has_agaves_json_shape() {
    use base64::Engine as _;
    let g = golden().await;
    let stranger = Keypair::new();
    g.sim.airdrop(&stranger.pubkey(), SOL);
    let blockhash = g
        .client
        .get_latest_blockhash(Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .blockhash;
    let ix = set_user_bgp_status(
        &SERVICEABILITY_PROGRAM_ID,
        &g.user,
        &g.device,
        &stranger.pubkey(),
        BgpStatus::Up,
        1,
    );
    let tx = signed_transaction(&stranger, &[ix], ComputeBudget::default(), blockhash);
    let encoded = base64::engine::general_purpose::STANDARD.encode(wire_bytes(&tx));
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
        "params": [encoded, {"encoding": "base64"}],
    });
    let (status, reply) = http(&g.sim, "POST", "/", Some(request)).await;
    assert_eq!(status, 200, "JSON-RPC errors come with HTTP 200");
    let error = &reply["error"];
    assert_eq!(error["code"], -32002);
    assert_eq!(
        error["message"],
        "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x8"
    );
    assert_eq!(
        error["data"]["err"],
        serde_json::json!({"InstructionError": [0, {"Custom": 8}]})
    );
    let logs: Vec<String> = serde_json::from_value(error["data"]["logs"].clone()).unwrap();
    assert!(
        logs.iter()
            .any(|l| l.ends_with("failed: custom program error: 0x8")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn the_control_api_creates_old_layout_users_and_reads_them_back() {
    let sim = start().await;
    let publisher = Keypair::new();
    let (status, device) = http(
        &sim,
        "POST",
        "/control/devices",
        Some(serde_json::json!({
            "code": "dz-x", "metrics_publisher": publisher.pubkey().to_string(), "interfaces": 3,
        })),
    )
    .await;
    assert_eq!(status, 200);
    let user_request = serde_json::json!({
        "device": device["pubkey"], "tunnel_net": "169.254.0.2/31", "tunnel_id": 501,
        "bgp_status": "up", "layout": "pre_bgp",
    });
    let (_, user) = http(&sim, "POST", "/control/users", Some(user_request)).await;
    let path = format!("/control/users/{}", user["pubkey"].as_str().unwrap());
    let (status, read) = http(&sim, "GET", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(read["data_len"], 176);
    assert_eq!(
        read["bgp_status"], "unknown",
        "the pre-bgp layout has no status"
    );
    assert_eq!(read["tunnel_net"], "169.254.0.2/31");
    assert_eq!(read["device_pk"], device["pubkey"]);

    let bad = serde_json::json!({"device": device["pubkey"], "tunnel_net": "x", "tunnel_id": 1});
    let (status, _) = http(&sim, "POST", "/control/users", Some(bad)).await;
    assert_eq!(status, 400);

    let (_, slots) = http(
        &sim,
        "POST",
        "/control/slots",
        Some(serde_json::json!({"advance": 3})),
    )
    .await;
    assert_eq!(slots["slot"], 4, "the chain starts at slot 1");

    // The real program takes a write for that user, growing it to HEAD at the payer's cost.
    let device: Pubkey = device["pubkey"].as_str().unwrap().parse().unwrap();
    let user: Pubkey = user["pubkey"].as_str().unwrap().parse().unwrap();
    sim.airdrop(&publisher.pubkey(), SOL);
    write(&sim, &publisher, &device, &[user], BgpStatus::Up)
        .await
        .unwrap();
    let (_, read) = http(&sim, "GET", &path, None).await;
    assert_eq!(
        (read["bgp_status"].clone(), read["data_len"].clone()),
        ("up".into(), 206.into())
    );

    // A private dz_ip is the program's Custom 27.
    let private = serde_json::json!({
        "device": device.to_string(), "tunnel_net": "169.254.0.4/31", "tunnel_id": 502,
        "dz_ip": "10.1.2.3",
    });
    let (_, private) = http(&sim, "POST", "/control/users", Some(private)).await;
    let private: Pubkey = private["pubkey"].as_str().unwrap().parse().unwrap();
    assert_custom(
        write(&sim, &publisher, &device, &[private], BgpStatus::Up).await,
        27,
    );
}

#[tokio::test]
async fn the_demo_publisher_keypair_loads_in_the_agent_and_its_writes_land() {
    use doublezero_bgpstatus::keypair::{load, Permissions};
    use doublezero_bgpstatus_e2e::ledger::seed;
    let sim = start().await;
    let path = std::env::temp_dir().join(format!("ledger-sim-demo-{}.json", std::process::id()));
    let demo = seed::apply_demo(&sim, 3, 1, &path).unwrap();
    let publisher = load(&path, Permissions::Strict).unwrap().keypair;
    std::fs::remove_file(&path).unwrap();
    assert_eq!(demo["metrics_publisher"], publisher.pubkey().to_string());
    assert_eq!(sim.balance(&publisher.pubkey()), seed::PUBLISHER_FUNDING);

    let device: Pubkey = demo["device"].as_str().unwrap().parse().unwrap();
    let users = demo["users"].as_array().unwrap();
    assert_eq!(users.len(), 3);
    let third: Pubkey = users[2]["pubkey"].as_str().unwrap().parse().unwrap();
    let user = sim.user(&third).unwrap();
    assert_eq!(user.tunnel_net.0, Ipv4Addr::new(169, 254, 0, 4));
    assert_eq!(user.tunnel_id, 502);
    assert_eq!(user.device_pk, device);

    sim.advance_slots(2);
    let client = client(&sim);
    let blockhash = client
        .get_latest_blockhash(Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .blockhash;
    let ix = set_user_bgp_status(
        &SERVICEABILITY_PROGRAM_ID,
        &third,
        &device,
        &publisher.pubkey(),
        BgpStatus::Up,
        5,
    );
    let tx = signed_transaction(&publisher, &[ix], ComputeBudget::default(), blockhash);
    client
        .send_transaction(&wire_bytes(&tx), SendOptions::default())
        .await
        .unwrap();
    assert_eq!(sim.user(&third).unwrap().bgp(), BgpStatus::Up);
}

#[tokio::test]
async fn a_seed_file_creates_its_devices_users_and_airdrops_valid_for_the_program() {
    use doublezero_bgpstatus_e2e::ledger::seed;
    let sim = start().await;
    let publisher_keypair = Keypair::new();
    let publisher = publisher_keypair.pubkey();
    let friend = Keypair::new().pubkey();
    let path = std::env::temp_dir().join(format!("ledger-sim-seed-{}.json", std::process::id()));
    let seed_json = serde_json::json!({
        "devices": [{
            "code": "dz-ny7",
            "metrics_publisher": publisher.to_string(),
            "interfaces": 20,
            "users": [
                {"tunnel_net": "169.254.0.0/31", "tunnel_id": 500, "bgp_status": "up"},
                {"tunnel_net": "169.254.0.2/31", "tunnel_id": 501, "layout": "old_feed_pk"},
            ],
        }],
        "airdrops": [{"pubkey": friend.to_string(), "lamports": 42}],
    });
    std::fs::write(&path, seed_json.to_string()).unwrap();
    let created = seed::apply_file(&sim, &path).unwrap();
    std::fs::remove_file(&path).unwrap();

    let users = created["devices"][0]["users"].as_array().unwrap();
    let first: Pubkey = users[0].as_str().unwrap().parse().unwrap();
    let second: Pubkey = users[1].as_str().unwrap().parse().unwrap();
    assert_eq!(sim.user(&first).unwrap().bgp(), BgpStatus::Up);
    assert_eq!(sim.account(&second).unwrap().data.len(), 234);
    assert_eq!(sim.balance(&publisher), seed::PUBLISHER_FUNDING);
    assert_eq!(sim.balance(&friend), 42);

    let device: Pubkey = created["devices"][0]["pubkey"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let interfaces =
        doublezero_bgpstatus::serviceability::Device::decode(&sim.account(&device).unwrap().data)
            .unwrap()
            .interfaces
            .len();
    assert_eq!(interfaces, 20);
    sim.advance_slots(2);
    write(
        &sim,
        &publisher_keypair,
        &device,
        &[first, second],
        BgpStatus::Down,
    )
    .await
    .unwrap();
    assert_eq!(sim.user(&first).unwrap().bgp(), BgpStatus::Down);
    assert_eq!(sim.user(&second).unwrap().bgp(), BgpStatus::Down);
    assert_eq!(
        sim.account(&second).unwrap().data.len(),
        206,
        "resized to HEAD"
    );
}

#[tokio::test]
async fn a_rate_limit_is_a_retryable_429_with_retry_after_and_then_clears() {
    let g = golden().await;
    g.sim.set_fault(Fault::RateLimited, Some(1));
    let err = g.client.get_slot(Commitment::Confirmed).await.unwrap_err();
    assert!(matches!(err, RpcError::Http { status: 429, .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    g.client.get_slot(Commitment::Confirmed).await.unwrap();
}

#[tokio::test]
async fn a_garbage_reply_is_a_malformed_reply_for_the_agent() {
    let g = golden().await;
    g.sim.set_fault(Fault::Garbage, Some(1));
    let err = g.client.get_slot(Commitment::Confirmed).await.unwrap_err();
    assert!(matches!(err, RpcError::Malformed { .. }), "{err:?}");
    g.client.get_slot(Commitment::Confirmed).await.unwrap();
}

#[tokio::test]
async fn accounts_from_a_file_are_served_as_given() {
    use doublezero_bgpstatus_e2e::ledger::seed;
    let sim = start().await;
    let foreign = Keypair::new().pubkey();
    let owned = Keypair::new().pubkey();
    let owner = Keypair::new().pubkey();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let accounts = serde_json::json!([
        {"pubkey": foreign.to_string(), "owner": owner.to_string(), "lamports": 5_000_000, "data_hex": "DEADbeef"},
        {"pubkey": owned.to_string(), "owner": SERVICEABILITY_PROGRAM_ID.to_string(), "data_hex": A2_HEX},
    ]);
    std::fs::write(&path, accounts.to_string()).unwrap();
    assert_eq!(seed::apply_accounts(&sim, &path).unwrap(), 2);

    let client = client(&sim);
    let read = client
        .get_account_info(&foreign, Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        (read.owner, read.lamports, read.data),
        (owner, 5_000_000, vec![0xde, 0xad, 0xbe, 0xef])
    );
    let read = client
        .get_account_info(&owned, Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        read.lamports,
        sim.minimum_balance(206),
        "rent-exempt by default"
    );
    assert_eq!(sim.user(&owned).unwrap().bgp(), BgpStatus::Down);

    // A bad entry places nothing, not even the good ones before it.
    let other = Keypair::new().pubkey();
    let bad = serde_json::json!([
        {"pubkey": other.to_string(), "owner": owner.to_string(), "data_hex": "00"},
        {"pubkey": other.to_string(), "owner": owner.to_string(), "data_hex": "0g"},
    ]);
    std::fs::write(&path, bad.to_string()).unwrap();
    let err = seed::apply_accounts(&sim, &path).unwrap_err();
    assert!(err.to_string().contains("not hex"), "{err}");
    assert!(sim.account(&other).is_none());
}

#[tokio::test]
async fn every_transaction_received_is_logged_with_its_wire_bytes_and_slot() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tx.jsonl");
    let mut g = golden().await;
    // The golden ledger again, this time logging.
    g.sim = LedgerSim::start(Config {
        slot_time: Duration::from_secs(3600),
        tx_log: Some(log.clone()),
        ..Config::default()
    })
    .await
    .unwrap();
    g.client = client(&g.sim);
    g.sim.put_program_account(g.device, hex(B_HEX));
    g.sim.put_program_account(g.user, hex(A2_HEX));
    g.sim.airdrop(&g.payer.pubkey(), 10 * SOL);

    let landed = g.send(BgpStatus::Up, 1).await.unwrap();
    g.sim.set_fault(Fault::DropTransactions, Some(1));
    let dropped = g.send(BgpStatus::Down, 2).await.unwrap();

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, (signature, outcome)) in lines.iter().zip([(landed, "landed"), (dropped, "dropped")])
    {
        assert_eq!(line["signature"], signature.to_string());
        assert_eq!(line["outcome"], outcome);
        assert_eq!(line["slot"], g.sim.slot());
        let wire = base64::engine::general_purpose::STANDARD
            .decode(line["transaction"].as_str().unwrap())
            .unwrap();
        let tx: solana_transaction::versioned::VersionedTransaction =
            wincode::deserialize(&wire).unwrap();
        assert_eq!(tx.signatures[0], signature);
        assert_eq!(line["requested_unit_limit"], serde_json::Value::Null);
    }
    let consumed = lines[0]["units_consumed"].as_u64().unwrap();
    assert!(consumed > 1000, "the real program's meter: {consumed}");
    assert_eq!(
        lines[1]["units_consumed"],
        serde_json::Value::Null,
        "a dropped transaction never ran"
    );
}

#[tokio::test]
async fn the_binary_loads_accounts_funds_keys_seeds_a_demo_and_logs_transactions() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let funded = Keypair::new().pubkey();
    let placed = Keypair::new().pubkey();
    let accounts = dir.path().join("accounts.json");
    std::fs::write(
        &accounts,
        serde_json::json!([{"pubkey": placed.to_string(), "owner": funded.to_string(), "data_hex": "01"}])
            .to_string(),
    )
    .unwrap();
    let log = dir.path().join("tx.jsonl");
    let keypair = dir.path().join("publisher.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ledger-sim"))
        .arg("--listen=127.0.0.1:0")
        .arg(format!("--accounts={}", accounts.display()))
        .arg(format!("--fund={funded}:1234"))
        .arg(format!("--fund={placed}:1"))
        .arg(format!("--tx-log={}", log.display()))
        .arg("--latency=200ms")
        .arg("--demo=2")
        .arg("--demo-interfaces=3")
        .arg(format!("--demo-keypair={}", keypair.display()))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(ready["accounts"], 1);
    let client = Client::new(ClientConfig::new(ready["rpc_url"].as_str().unwrap())).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        client
            .get_balance(&funded, Commitment::Confirmed)
            .await
            .unwrap()
            .value,
        1234
    );
    assert!(started.elapsed() >= Duration::from_millis(200), "--latency");
    let account = client
        .get_account_info(&placed, Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!((account.owner, account.data), (funded, vec![1]));
    assert!(
        account.lamports > 1,
        "funded on top of its rent-exempt balance"
    );
    assert!(log.exists(), "the log is created at start");

    // The demo device has the interfaces asked for, and its users take a write.
    let device: Pubkey = ready["demo"]["device"].as_str().unwrap().parse().unwrap();
    let data = client
        .get_account_info(&device, Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .unwrap()
        .data;
    let decoded = doublezero_bgpstatus::serviceability::Device::decode(&data).unwrap();
    assert_eq!(decoded.interfaces.len(), 3);
    let publisher = doublezero_bgpstatus::keypair::load(
        &keypair,
        doublezero_bgpstatus::keypair::Permissions::Strict,
    )
    .unwrap()
    .keypair;
    let users: Vec<Pubkey> = ready["demo"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pubkey"].as_str().unwrap().parse().unwrap())
        .collect();
    let instructions: Vec<_> = users
        .iter()
        .map(|user| {
            set_user_bgp_status(
                &SERVICEABILITY_PROGRAM_ID,
                user,
                &device,
                &publisher.pubkey(),
                BgpStatus::Up,
                1,
            )
        })
        .collect();
    let blockhash = client
        .get_latest_blockhash(Commitment::Confirmed)
        .await
        .unwrap()
        .value
        .blockhash;
    let tx = signed_transaction(
        &publisher,
        &instructions,
        ComputeBudget::default(),
        blockhash,
    );
    client
        .send_transaction(&wire_bytes(&tx), SendOptions::default())
        .await
        .unwrap();
    child.kill().await.unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(r#""outcome":"landed""#), "{logged}");
}

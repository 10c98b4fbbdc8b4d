//! End-to-end scenarios: the release agent binary as a process, against the eAPI and ledger
//! simulators. Each scenario is what an operator would watch happen on a real switch.

use std::time::Duration;

use doublezero_bgpstatus::serviceability::{BgpStatus, UserStatus};
use doublezero_bgpstatus_e2e::devnet::Devnet;
use doublezero_bgpstatus_e2e::eapi_sim::{Connections, Fault as SwitchFault};
use doublezero_bgpstatus_e2e::ledger::Fault as LedgerFault;
use nix::sys::signal::Signal;

const SLOT: Duration = Duration::from_millis(400);
/// Generous bound for one change to reach the chain (tick 1 s, confirmation ~1 slot, poll 1 s),
/// so a loaded CI machine does not make the scenarios flaky.
const SETTLE: Duration = Duration::from_secs(30);

fn all(devnet: &Devnet, status: BgpStatus) -> bool {
    (0..devnet.users.len()).all(|i| devnet.chain_status(i) == status)
}

/// Under each reading of whether the eAPI socket keeps connections (eos.md §1.2, not
/// established), including a server that drops or never answers a request on a kept one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_establishes_goes_up_on_chain_and_down_when_it_drops() {
    for connections in [
        Connections::Close,
        Connections::KeepAlive,
        Connections::DropSecond,
        Connections::IgnoreSecond,
    ] {
        up_then_down(connections).await;
    }
}

async fn up_then_down(connections: Connections) {
    let devnet = Devnet::start(2, SLOT).await.unwrap();
    devnet.switch.set_connections(connections);
    devnet.session(0, Some("Established")).unwrap();
    devnet.session(1, Some("Active")).unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();

    assert!(
        devnet
            .wait_until(SETTLE, |d| d.chain_status(0) == BgpStatus::Up
                && d.chain_status(1) == BgpStatus::Down)
            .await,
        "{connections:?}\n{}",
        agent.log()
    );
    let up = devnet.chain(0);
    assert_eq!(up.bgp_rtt_ns, 1_000_000, "the session's sndRtt of 1000 µs");
    assert_eq!(up.last_bgp_up_at, up.last_bgp_reported_at);

    devnet.session(0, Some("Idle")).unwrap();
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
    let down = devnet.chain(0);
    assert_eq!(down.bgp_rtt_ns, 0);
    assert_eq!(down.last_bgp_up_at, up.last_bgp_up_at);
    assert!(
        down.last_bgp_reported_at > up.last_bgp_reported_at,
        "{connections:?}: down {down:?} up {up:?}\n{}",
        agent.log()
    );
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_the_chain_already_right_writes_nothing() {
    let (devnet, first) = Devnet::all_up(3, SLOT, SETTLE, &[]).await.unwrap();
    assert!(first.stop(Signal::SIGTERM).await.unwrap().success());
    let sent = devnet.transactions_sent();
    let reported: Vec<u64> = (0..3)
        .map(|i| devnet.chain(i).last_bgp_reported_at)
        .collect();

    let second = devnet.spawn_agent(&[]).await.unwrap();
    // Three ticks, each of which would write if the agent started from Unknown.
    assert!(devnet.wait_for_ticks(3, SETTLE).await, "{}", second.log());
    let status = second
        .status()
        .await
        .expect("the restarted agent serves /status");
    assert_eq!(devnet.transactions_sent(), sent, "{}", second.log());
    for (i, slot) in reported.iter().enumerate() {
        assert_eq!(devnet.chain(i).last_bgp_reported_at, *slot);
    }
    let rows = status["users"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["why"] == "in_sync"), "{status:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_batch_loses_no_transition() {
    let devnet = Devnet::start(40, SLOT).await.unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();
    // Provisioned but not connected: every user is first written Down, so the batch below is
    // the only one in flight.
    assert!(
        devnet.wait_until(SETTLE, |d| all(d, BgpStatus::Down)).await,
        "{}",
        agent.log()
    );
    let before = devnet.transactions_sent();
    for i in 0..40 {
        devnet.session(i, Some("Established")).unwrap();
    }
    // Kill as soon as the first transaction of the batch reaches the ledger.
    assert!(
        devnet
            .wait_until(SETTLE, |d| d.transactions_sent() > before)
            .await,
        "{}",
        agent.log()
    );
    agent.stop(Signal::SIGKILL).await.unwrap();

    let restarted = devnet.spawn_agent(&[]).await.unwrap();
    assert!(
        devnet.wait_until(SETTLE, |d| all(d, BgpStatus::Up)).await,
        "{}",
        restarted.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_and_tunnel_removed_while_the_chain_says_up_gives_down() {
    let (devnet, agent) = Devnet::all_up(2, SLOT, SETTLE, &[]).await.unwrap();

    // User 0 is deprovisioned from the switch: session and tunnel gone.
    devnet.session(0, None).unwrap();
    devnet.remove_tunnel(0);
    // User 1 keeps its tunnel but its session disappears: provisioned here, not connected.
    devnet.session(1, None).unwrap();
    assert!(
        devnet.wait_until(SETTLE, |d| all(d, BgpStatus::Down)).await,
        "{}",
        agent.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eapi_outage_writes_no_down() {
    let (devnet, agent) = Devnet::all_up(2, SLOT, SETTLE, &[]).await.unwrap();
    let sent = devnet.transactions_sent();

    // Without a socket no request reaches the switch: the agent's own count of the failures
    // says it tried, three ticks of them.
    let socket_missing =
        "doublezero_bgpstatus_eapi_observation_failures_total{kind=\"socket_missing\"}";
    let missing = agent.metric(socket_missing).await.unwrap_or(0.0);
    devnet.switch.set_fault(SwitchFault::SocketGone).unwrap();
    assert!(
        agent
            .wait_for_metric(socket_missing, missing + 3.0, SETTLE)
            .await,
        "{}",
        agent.log()
    );
    devnet.switch.clear_fault().unwrap();
    // A reply that is not JSON, or cut short, still shows on the switch as a request.
    for fault in [SwitchFault::Garbage, SwitchFault::Truncated] {
        devnet.switch.set_fault(fault).unwrap();
        assert!(devnet.wait_for_ticks(3, SETTLE).await, "{}", agent.log());
        devnet.switch.clear_fault().unwrap();
    }
    assert!(all(&devnet, BgpStatus::Up));
    assert_eq!(devnet.transactions_sent(), sent, "{}", agent.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_rpc_outage_the_chain_catches_up_within_an_interval() {
    let (devnet, agent) = Devnet::all_up(3, SLOT, SETTLE, &[]).await.unwrap();

    devnet.ledger.set_fault(LedgerFault::Unavailable, None);
    for i in 0..3 {
        devnet.session(i, Some("Active")).unwrap();
    }
    // Three ticks that decide Down and cannot send it.
    assert!(devnet.wait_for_ticks(3, SETTLE).await, "{}", agent.log());
    assert!(
        all(&devnet, BgpStatus::Up),
        "nothing can land during the outage"
    );

    devnet.ledger.clear_fault();
    let recovered = tokio::time::Instant::now();
    assert!(
        devnet.wait_until(SETTLE, |d| all(d, BgpStatus::Down)).await,
        "{}",
        agent.log()
    );
    // An RPC failure is the RPC's, not the users': nothing backs off, so the catch-up takes
    // a read retry, a tick and a confirmation.
    assert!(
        recovered.elapsed() < Duration::from_secs(8),
        "{:?}",
        recovered.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_thousand_writes_pending_and_a_hung_rpc_returns_within_the_grace() {
    let devnet = Devnet::start(1000, SLOT).await.unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();
    // As soon as the agent has decided the first writes, the RPC stops answering.
    let mut decided = false;
    for _ in 0..600 {
        if let Some(status) = agent.status().await {
            if status["users"]
                .as_array()
                .is_some_and(|rows| rows.len() == 1000)
            {
                decided = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(decided, "{}", agent.log());
    devnet.ledger.set_fault(LedgerFault::Hang, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = tokio::time::Instant::now();
    let status = agent.stop(Signal::SIGTERM).await.unwrap();
    let took = stopping.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(11),
        "the 10 s grace plus one second: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_user_is_pruned_from_the_table() {
    let (devnet, agent) = Devnet::all_up(2, SLOT, SETTLE, &[]).await.unwrap();

    devnet.set_user_status(1, UserStatus::Deleting);
    devnet.session(1, None).unwrap();
    let mut pruned = false;
    for _ in 0..100 {
        if let Some(status) = agent.status().await {
            let rows = status["users"].as_array().unwrap();
            if rows.len() == 1 && rows[0]["pubkey"] == devnet.users[0].pubkey.to_string() {
                pruned = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pruned, "{}", agent.log());
    assert!(devnet.wait_for_ticks(3, SETTLE).await, "{}", agent.log());
    assert_eq!(
        devnet.chain_status(1),
        BgpStatus::Up,
        "a deleted user is not written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_metrics_publisher_gets_a_clear_error_and_no_retry_storm() {
    let devnet = Devnet::start(3, SLOT).await.unwrap();
    for i in 0..3 {
        devnet.session(i, Some("Established")).unwrap();
    }
    // A funded key that is not the device's metrics publisher.
    let impostor = devnet.dir.join("impostor.json");
    let key = solana_keypair::Keypair::new();
    std::fs::write(
        &impostor,
        serde_json::to_string(&key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    std::fs::set_permissions(
        &impostor,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    devnet
        .ledger
        .airdrop(&solana_signer::Signer::pubkey(&key), 1_000_000_000);
    let mut args = devnet.agent_args(doublezero_bgpstatus_e2e::devnet::ANY_PORT, &[]);
    doublezero_bgpstatus_e2e::devnet::set_flag(
        &mut args,
        "--keypair",
        impostor.display().to_string(),
    );
    let agent = doublezero_bgpstatus_e2e::devnet::Agent::spawn(&args, &devnet.dir)
        .await
        .unwrap();

    // A tick that finds the wrong signer stops before reading the switch; each fetches the
    // device's view first (the cache lives 500 ms, the tick 1 s), so fetches count ticks.
    assert!(
        agent
            .wait_for_metric(
                "doublezero_telemetry_programdata_fetch_total{result=\"success\"}",
                5.0,
                SETTLE
            )
            .await,
        "{}",
        agent.log()
    );
    let log = agent.log();
    let expected = format!("is not device {}'s metrics publisher", devnet.device);
    assert_eq!(
        log.matches(&expected).count(),
        1,
        "said once, not every tick:\n{log}"
    );
    // Five ticks and not one transaction: every write would be refused (NotAllowed).
    assert_eq!(devnet.ledger.transactions().len(), 0, "{log}");
    let status = agent.status().await.unwrap();
    assert!(
        status["error"].as_str().unwrap().contains(&expected),
        "{status:#}"
    );
    assert!(all(&devnet, BgpStatus::Unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_event_of_a_thousand_users_lands_in_few_transactions() {
    let devnet = Devnet::start(1000, SLOT).await.unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();
    // Provisioned (tunnels up) but not connected: every user is first written Down.
    assert!(
        devnet
            .wait_until(Duration::from_secs(90), |d| all(d, BgpStatus::Down))
            .await,
        "{}",
        agent.log()
    );
    let before = devnet.transactions_sent();
    for i in 0..1000 {
        devnet.session(i, Some("Established")).unwrap();
    }
    assert!(
        devnet
            .wait_until(Duration::from_secs(90), |d| all(d, BgpStatus::Up))
            .await,
        "{}",
        agent.log()
    );
    let transactions = devnet.transactions_sent() - before;
    assert!(
        transactions <= 1000usize.div_ceil(15),
        "{transactions} transactions"
    );
}

/// Every user of a device with `interfaces` interfaces flips Up at once; all must land on the
/// real program, in batches its compute allows, with nobody refused.
async fn flip_on_a_device_with(interfaces: u16, users: u16, most_per_transaction: usize) {
    let devnet = Devnet::start_with(users, SLOT, interfaces, Duration::ZERO)
        .await
        .unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();
    assert!(
        devnet
            .wait_until(Duration::from_secs(60), |d| all(d, BgpStatus::Down))
            .await,
        "{}",
        agent.log()
    );
    for i in 0..usize::from(users) {
        devnet.session(i, Some("Established")).unwrap();
    }
    assert!(
        devnet
            .wait_until(Duration::from_secs(60), |d| all(d, BgpStatus::Up))
            .await,
        "{}",
        agent.log()
    );
    let log = agent.log();
    assert!(!log.contains("refused"), "{log}");
    assert!(
        log.contains("measured the program's compute per user"),
        "{log}"
    );
    // Every batch landed on its first send, none larger than the compute allows.
    let received = devnet.ledger.transactions();
    assert!(received.iter().all(|r| r.outcome == "landed"), "{log}");
    assert!(
        received
            .iter()
            .all(|r| r.instructions <= most_per_transaction),
        "{:?}",
        received.iter().map(|r| r.instructions).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_users_of_a_twenty_interface_device_all_land_on_the_real_program() {
    // The real program costs ~34.5k CU per user here: the agent's old fixed 12k per user made
    // every batch fail (issue 19).
    flip_on_a_device_with(20, 40, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixty_interface_device_gets_smaller_batches_that_fit_its_compute() {
    // ~91k CU per user: 19 in one transaction would exceed the 1.4M a transaction may use.
    flip_on_a_device_with(60, 40, 15).await;
}

/// At rest (nothing changing, nothing to write) the device view is read every
/// `cache-ttl-at-rest`, not every `cache-ttl`: a quiet switch costs the RPC and the CPU little.
/// A session that changes is decided on a view no older than `cache-ttl`, read in that tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_rest_the_view_is_read_rarely_and_a_change_is_decided_on_a_fresh_one() {
    let (devnet, agent) = Devnet::all_up(3, SLOT, SETTLE, &["--cache-ttl-at-rest", "60s"])
        .await
        .unwrap();
    // Past the minimum write interval of the Up writes, whose end is the last timer.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let reads = || devnet.ledger.calls("getProgramAccounts");
    let before = reads();
    assert!(devnet.wait_for_ticks(6, SETTLE).await, "{}", agent.log());
    let at_rest = reads() - before;
    assert!(
        at_rest <= 1,
        "{at_rest} view reads over 6 ticks at rest, with a 500 ms cache-ttl:\n{}",
        agent.log()
    );

    let (before, sent) = (reads(), devnet.ledger.transactions().len());
    devnet.session(0, None).unwrap();
    // The view reads as the Down goes out: the next tick, which would read it anyway now that
    // the agent is busy, is a second away.
    let mut when_sent = None;
    for _ in 0..3000 {
        if devnet.ledger.transactions().len() > sent {
            when_sent = Some(reads());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let when_sent = when_sent.unwrap_or_else(|| panic!("no Down was sent:\n{}", agent.log()));
    assert!(
        when_sent > before,
        "the drop was decided on the view of the rest, without reading it again:\n{}",
        agent.log()
    );
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
}

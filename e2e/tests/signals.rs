//! Every way the agent is stopped, and SIGHUP, against the real binary in both of its phases:
//! while it starts (a single-threaded runtime reads the options, waits for the namespace, loads
//! the key) and while it runs. A stop signal stops it cleanly, a second one during the graceful
//! stop exits at once, and SIGHUP never kills it. (SIGTERM, SIGINT and SIGQUIT on a running
//! agent, and the restart paths: e2e/tests/daemon.rs and namespace.rs.)

use std::collections::BTreeMap;
use std::time::Duration;

use doublezero_bgpstatus_e2e::devnet::{Agent, Devnet, ANY_PORT};
use doublezero_bgpstatus_e2e::eapi_sim::Daemon;
use doublezero_bgpstatus_e2e::ledger::Fault as LedgerFault;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

const SLOT: Duration = Duration::from_millis(400);

fn options(pairs: &[(&str, &str)]) -> Daemon {
    Daemon {
        name: "doublezero-bgpstatus".into(),
        exec: "/usr/bin/doublezero-bgpstatus run".into(),
        options: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        shutdown: false,
    }
}

async fn wait_for_log(agent: &Agent, text: &str) -> bool {
    for _ in 0..300 {
        if agent.log().contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn send(agent: &Agent, signal: Signal) {
    let pid = agent.pid().expect("the agent runs");
    nix::sys::signal::kill(Pid::from_raw(pid as i32), signal).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_starting_sighup_is_ignored_and_a_stop_signal_stops_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    // No eAPI and flags that are no configuration: the agent waits for its options forever.
    let args: Vec<String> = [
        "run",
        "--eapi-socket",
        &dir.path().join("absent.sock").display().to_string(),
        "--metrics-addr",
        &ANY_PORT.to_string(),
        "--log",
        "stderr",
    ]
    .map(String::from)
    .to_vec();
    for stop in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT] {
        let mut agent = Agent::spawn(&args, dir.path()).await.unwrap();
        assert!(
            wait_for_log(&agent, "waiting for eAPI").await,
            "{}",
            agent.log()
        );
        send(&agent, Signal::SIGHUP);
        assert!(
            wait_for_log(&agent, "ignored while starting").await,
            "{}",
            agent.log()
        );
        assert_eq!(agent.exited(), None, "SIGHUP killed it:\n{}", agent.log());
        let status = agent.stop(stop).await.unwrap();
        assert!(status.success(), "{stop}: {status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_while_waiting_for_the_namespace_stops_the_agent_at_once() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    let namespace = format!("dzbgp-absent-{}", std::process::id());
    let mut agent = devnet
        .spawn_agent(&["--management-namespace", &namespace])
        .await
        .unwrap();
    assert!(
        wait_for_log(&agent, "waiting for the management namespace").await,
        "{}",
        agent.log()
    );
    send(&agent, Signal::SIGTERM);
    // The wait is 30 s; the signal must not wait for it to fail.
    let status = agent.wait_exit(Duration::from_secs(5)).await;
    let log = agent.log();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    assert!(log.contains("stopped before starting"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_running_sighup_rereads_the_options_at_once_and_keeps_the_agent() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.switch.set_daemon(options(&[]));
    // Options are read again only hourly: what the test sees comes from SIGHUP.
    let mut agent = devnet
        .spawn_agent(&["--options-interval", "1h"])
        .await
        .unwrap();
    assert!(
        wait_for_log(&agent, "agent started").await,
        "{}",
        agent.log()
    );
    devnet
        .switch
        .set_daemon(options(&[("bgp-status-down-grace-period", "5s")]));
    send(&agent, Signal::SIGHUP);
    assert!(
        wait_for_log(
            &agent,
            "option changed; applied option=\"bgp-status-down-grace-period\""
        )
        .await,
        "{}",
        agent.log()
    );
    assert_eq!(agent.exited(), None, "{}", agent.log());
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stop_signal_during_the_graceful_stop_exits_at_once() {
    const USERS: u16 = 200;
    let devnet = Devnet::start(USERS, SLOT).await.unwrap();
    for i in 0..devnet.users.len() {
        devnet.session(i, Some("Established")).unwrap();
    }
    // Writes go out and never land: the graceful stop waits out its 10 s grace for them.
    devnet.ledger.set_fault(LedgerFault::DropTransactions, None);
    let mut agent = devnet.spawn_agent(&[]).await.unwrap();
    let mut sent = false;
    for _ in 0..600 {
        let out = agent
            .metric("doublezero_bgpstatus_transactions_sent_total")
            .await;
        if out.unwrap_or(0.0) > 0.0 {
            sent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sent, "{}", agent.log());

    send(&agent, Signal::SIGTERM);
    assert!(
        wait_for_log(&agent, "awaiting in-flight confirmations").await,
        "{}",
        agent.log()
    );
    assert_eq!(
        agent.exited(),
        None,
        "the grace is not over:\n{}",
        agent.log()
    );
    send(&agent, Signal::SIGINT);
    let status = agent.wait_exit(Duration::from_secs(3)).await;
    let log = agent.log();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "{status:?}\n{log}"
    );
    assert!(log.contains("second stop signal: exiting at once"), "{log}");
}

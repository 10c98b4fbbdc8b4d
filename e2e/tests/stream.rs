//! Sessions on change: the release agent watching the switch simulator's EosSdkRpc side
//! (`BgpMgrService.watch`), with the eAPI poll as the safety net. Each test drives the switch
//! through the simulator, as EOS would change, and asserts what reaches the chain, and through
//! which path (the count of eAPI summary reads tells a stream decision from a poll).

use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, override_flags, Agent, Devnet, ANY_PORT};
use doublezero_bgpstatus_e2e::eapi_sim::{GrpcFault, IntfServing, SimConfig, WatchAck};
use nix::sys::signal::Signal;
use serde_json::Value;

const SLOT: Duration = Duration::from_millis(400);
const SETTLE: Duration = Duration::from_secs(30);
const SUMMARY: &str = "show ip bgp summary vrf all";

enum Transport {
    Unix,
    Tcp,
}

/// `users` established users on a switch with an EosSdkRpc side, the agent watching it with
/// `extra` flags, every user Up on chain and the stream open.
async fn streaming(
    users: u16,
    transport: Transport,
    configure: impl FnOnce(&mut SimConfig),
    extra: &[&str],
) -> (Devnet, Agent) {
    let dir = tempfile::tempdir().unwrap().keep();
    let devnet = Devnet::start_with_switch(users, SLOT, |config| {
        match transport {
            Transport::Unix => config.grpc_unix = Some(dir.join("eos-sdk-rpc.sock")),
            Transport::Tcp => config.grpc_tcp = Some("127.0.0.1:0".parse().unwrap()),
        }
        configure(config);
    })
    .await
    .unwrap();
    for i in 0..devnet.users.len() {
        devnet.session(i, Some("Established")).unwrap();
    }
    let stream = devnet.stream_flag();
    let stream: Vec<&str> = stream.iter().map(String::as_str).collect();
    let mut args = devnet.agent_args(ANY_PORT, &stream);
    override_flags(&mut args, extra);
    let agent = Agent::spawn(&args, &devnet.dir).await.unwrap();
    assert!(
        devnet.wait_until(SETTLE, |d| all(d, BgpStatus::Up)).await,
        "{}",
        agent.log()
    );
    (devnet, agent)
}

fn all(devnet: &Devnet, status: BgpStatus) -> bool {
    (0..devnet.users.len()).all(|i| devnet.chain_status(i) == status)
}

async fn stream_up(agent: &Agent) -> bool {
    agent
        .wait_for_metric("doublezero_bgpstatus_stream_up", 1.0, SETTLE)
        .await
}

/// A poll every 60 s while the stream is healthy, 1 s otherwise: a change that reaches the
/// chain with no summary read in between came from the stream.
const SLOW_POLL: [&str; 6] = [
    "--bgp-status-stream-interval",
    "60s",
    "--min-write-interval",
    "0s",
    "--no-dampening",
    "--verbose",
];

async fn a_drop_goes_out_from_the_stream_alone(transport: Transport) {
    let (devnet, agent) = streaming(3, transport, |_| {}, &SLOW_POLL).await;
    assert!(stream_up(&agent).await, "{}", agent.log());
    let polls = devnet.requests_with(SUMMARY);

    devnet.session(1, Some("Idle")).unwrap();
    assert!(
        devnet
            .wait_until(Duration::from_secs(5), |d| d.chain_status(1)
                == BgpStatus::Down)
            .await,
        "{}",
        agent.log()
    );
    assert_eq!(
        devnet.requests_with(SUMMARY),
        polls,
        "decided from the event, not a poll"
    );
    assert_eq!(devnet.chain_status(0), BgpStatus::Up);
    assert_eq!(devnet.chain_status(2), BgpStatus::Up);

    // And back: an Up from the stream carries the RTT, read over eAPI for that one session.
    devnet.session(1, Some("Established")).unwrap();
    devnet.reaches(&agent, 1, BgpStatus::Up, SETTLE).await;
    assert_eq!(devnet.chain(1).bgp_rtt_ns, 1_001_000, "sndRtt of user 1");
    assert_eq!(devnet.requests_with(SUMMARY), polls);
    let status = agent.status().await.unwrap();
    assert_eq!(status["stream"]["connected"], true, "{status}");
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_reaches_the_chain_from_the_stream_between_polls_over_a_unix_socket() {
    a_drop_goes_out_from_the_stream_alone(Transport::Unix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_reaches_the_chain_from_the_stream_between_polls_over_tcp() {
    a_drop_goes_out_from_the_stream_alone(Transport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_snapshot_or_an_ack_the_poll_is_the_baseline_and_events_still_decide() {
    let (devnet, agent) = streaming(
        2,
        Transport::Unix,
        |config| {
            config.grpc_initial_snapshot = false;
            config.grpc_ack = WatchAck::Never;
        },
        &SLOW_POLL,
    )
    .await;
    assert!(stream_up(&agent).await, "{}", agent.log());
    let polls = devnet.requests_with(SUMMARY);
    devnet.session(0, None).unwrap();
    // A deleted peer with its tunnel present is Down.
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
    assert_eq!(devnet.requests_with(SUMMARY), polls);
    assert_eq!(devnet.chain_status(1), BgpStatus::Up);
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_stream_changes_no_status_and_brings_the_poll_back_until_it_returns() {
    let (devnet, agent) = streaming(3, Transport::Unix, |_| {}, &SLOW_POLL).await;
    assert!(stream_up(&agent).await, "{}", agent.log());

    devnet.switch.set_grpc_fault(GrpcFault::Unavailable);
    assert!(
        agent
            .wait_for_metric("doublezero_bgpstatus_stream_losses_total", 1.0, SETTLE)
            .await,
        "{}",
        agent.log()
    );
    // Back at the 1 s poll: three reads in well under the 60 s stream interval.
    assert!(
        devnet.wait_for_ticks(3, Duration::from_secs(15)).await,
        "{}",
        agent.log()
    );
    assert!(all(&devnet, BgpStatus::Up), "a lost stream is not a Down");
    assert_eq!(
        agent.metric("doublezero_bgpstatus_stream_up").await,
        Some(0.0)
    );
    let status = agent.status().await.unwrap();
    assert_eq!(status["stream"]["connected"], false, "{status}");

    // A drop while the stream is gone is the poll's.
    devnet.session(2, Some("Active")).unwrap();
    devnet.reaches(&agent, 2, BgpStatus::Down, SETTLE).await;

    devnet.switch.clear_grpc_fault();
    assert!(stream_up(&agent).await, "reconnected\n{}", agent.log());
    assert_eq!(devnet.chain_status(0), BgpStatus::Up);
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_connection_is_reconnected_and_events_flow_again() {
    let (devnet, agent) = streaming(2, Transport::Tcp, |_| {}, &SLOW_POLL).await;
    assert!(stream_up(&agent).await, "{}", agent.log());
    devnet.switch.set_grpc_fault(GrpcFault::Reset);
    assert!(
        agent
            .wait_for_metric("doublezero_bgpstatus_stream_losses_total", 1.0, SETTLE)
            .await,
        "{}",
        agent.log()
    );
    assert!(stream_up(&agent).await, "reconnected\n{}", agent.log());
    let polls_after = devnet.requests_with(SUMMARY);
    devnet.session(0, Some("Idle")).unwrap();
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
    // The reconnect itself brought one poll at once (events may have been missed); none since.
    assert!(devnet.requests_with(SUMMARY) <= polls_after + 1);
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_that_fails_its_probe_is_reconnected_and_polled_meanwhile() {
    let mut flags = SLOW_POLL.to_vec();
    flags.extend(["--bgp-status-stream-silence", "2s"]);
    let (devnet, agent) = streaming(2, Transport::Unix, |_| {}, &flags).await;
    assert!(stream_up(&agent).await, "{}", agent.log());

    devnet.switch.set_grpc_fault(GrpcFault::Silence);
    // An event the silent stream swallows: only the poll can see it, once the probe failed.
    devnet.session(1, Some("Idle")).unwrap();
    assert!(
        agent
            .wait_for_metric("doublezero_bgpstatus_stream_losses_total", 1.0, SETTLE)
            .await,
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains("peer_state probe failed"),
        "{}",
        agent.log()
    );
    devnet.reaches(&agent, 1, BgpStatus::Down, SETTLE).await;
    assert_eq!(devnet.chain_status(0), BgpStatus::Up);
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_later_than_the_poll_are_reconciled_and_counted_without_a_wrong_status() {
    // Polls every second while the stream holds its events back 3 s: the poll sees each
    // change first, so the stream and the poll disagree, and the poll wins.
    let (devnet, agent) = streaming(
        2,
        Transport::Unix,
        |_| {},
        &[
            "--bgp-status-stream-interval",
            "1s",
            "--min-write-interval",
            "0s",
            "--no-dampening",
        ],
    )
    .await;
    assert!(stream_up(&agent).await, "{}", agent.log());
    devnet
        .switch
        .set_grpc_fault(GrpcFault::DelayEvents { ms: 3_000 });
    devnet.session(0, Some("Idle")).unwrap();
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
    assert!(
        agent
            .wait_for_metric(
                "doublezero_bgpstatus_stream_disagreements_total",
                1.0,
                SETTLE
            )
            .await,
        "{}",
        agent.log()
    );
    // The late event (Idle) agrees with what was written: it changes nothing.
    assert!(
        agent
            .wait_for_metric(
                "doublezero_bgpstatus_stream_events_total{kind=\"state\"}",
                1.0,
                SETTLE
            )
            .await
    );
    assert!(devnet.wait_for_ticks(2, SETTLE).await);
    assert_eq!(devnet.chain_status(0), BgpStatus::Down);
    assert_eq!(devnet.chain_status(1), BgpStatus::Up);
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_without_bgp_mgr_service_is_polled_as_without_a_stream() {
    let devnet = Devnet::start_with_switch(2, SLOT, |config| {
        config.grpc_tcp = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
    .unwrap();
    devnet.switch.set_grpc_fault(GrpcFault::Unimplemented);
    devnet.session(0, Some("Established")).unwrap();
    devnet.session(1, Some("Established")).unwrap();
    let mut flags = devnet.stream_flag();
    flags.extend(SLOW_POLL.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let agent = devnet.spawn_agent(&flags).await.unwrap();
    assert!(
        devnet.wait_until(SETTLE, |d| all(d, BgpStatus::Up)).await,
        "{}",
        agent.log()
    );
    devnet.session(0, Some("Idle")).unwrap();
    // The 1 s poll decides.
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
    let status = agent.status().await.unwrap();
    let error = status["stream"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("does not serve BgpMgrService"), "{status}");
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_flapping_on_the_stream_is_not_a_write_storm() {
    // Dampening and the minimum interval at their defaults.
    let (devnet, agent) = streaming(
        2,
        Transport::Unix,
        |_| {},
        &["--bgp-status-stream-interval", "60s"],
    )
    .await;
    assert!(stream_up(&agent).await, "{}", agent.log());
    let before = devnet.transactions_sent();
    for _ in 0..20 {
        devnet.session(0, Some("Idle")).unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        devnet.session(0, Some("Established")).unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    devnet.session(0, Some("Idle")).unwrap();
    // The session settled Down.
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
    let sent = devnet.transactions_sent() - before;
    assert!(
        sent <= 4,
        "{sent} transactions for 41 events\n{}",
        agent.log()
    );
    assert_eq!(devnet.chain_status(1), BgpStatus::Up);
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

/// A change held back by the minimum write interval goes out when the interval ends, not at
/// the next tick a minute later: with the stream healthy, what time alone changes is decided
/// when due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_held_by_the_minimum_interval_goes_out_when_it_ends_not_at_the_next_tick() {
    let (devnet, agent) = streaming(
        2,
        Transport::Unix,
        |_| {},
        &[
            "--bgp-status-interval",
            "60s",
            "--bgp-status-stream-interval",
            "60s",
            "--min-write-interval",
            "3s",
            "--no-dampening",
        ],
    )
    .await;
    assert!(stream_up(&agent).await, "{}", agent.log());
    // Past the interval of the start's Up writes, so the drop goes out at once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    devnet.session(0, Some("Idle")).unwrap();
    devnet
        .reaches(&agent, 0, BgpStatus::Down, Duration::from_secs(5))
        .await;
    // Back within 3 s of that write: held, then written when the interval ends.
    devnet.session(0, Some("Established")).unwrap();
    let back = tokio::time::Instant::now();
    devnet
        .reaches(&agent, 0, BgpStatus::Up, Duration::from_secs(15))
        .await;
    assert!(
        back.elapsed() >= Duration::from_secs(1),
        "the minimum interval held nothing: {:?}",
        back.elapsed()
    );
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

/// Polls `/status` until `done` holds of it, for at most `timeout`; the last snapshot either way.
async fn status_until(
    agent: &Agent,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> (bool, Value) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        if let Some(status) = agent.status().await {
            if done(&status) {
                return (true, status);
            }
            last = status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (false, last)
}

/// User `i`'s `tunnel` column in `/status`.
fn tunnel_column(devnet: &Devnet, status: &Value, i: usize) -> String {
    let pubkey = devnet.users[i].pubkey.to_string();
    status["users"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["pubkey"] == pubkey.as_str()))
        .map_or_else(String::new, |row| {
            row["tunnel"].as_str().unwrap_or_default().to_owned()
        })
}

/// With the interface watch open, a tunnel going down shows at once, without a poll (and
/// without changing a status: the line protocol never decides), and a tunnel deleted brings a
/// poll at once, long before the 60 s stream interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_changes_arrive_from_the_interface_watch_between_polls() {
    let (devnet, agent) = streaming(2, Transport::Unix, |_| {}, &SLOW_POLL).await;
    assert!(stream_up(&agent).await, "{}", agent.log());
    let (watched, status) = status_until(&agent, SETTLE, |s| {
        s["stream"]["interfaces_watched"] == true
    })
    .await;
    assert!(watched, "{status}\n{}", agent.log());
    // Any poll the interface snapshot asked for has run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let polls = devnet.requests_with(SUMMARY);

    devnet.tunnel_up(0, false).unwrap();
    let (down, status) = status_until(&agent, Duration::from_secs(5), |s| {
        tunnel_column(&devnet, s, 0) == "down"
    })
    .await;
    assert!(down, "{status}\n{}", agent.log());
    assert_eq!(
        devnet.requests_with(SUMMARY),
        polls,
        "from the event, not a poll"
    );
    assert_eq!(tunnel_column(&devnet, &status, 1), "up");
    assert!(
        all(&devnet, BgpStatus::Up),
        "a tunnel's line protocol decides nothing"
    );
    assert!(
        agent
            .wait_for_metric(
                "doublezero_bgpstatus_stream_events_total{kind=\"intf_status\"}",
                1.0,
                SETTLE
            )
            .await,
        "{}",
        agent.log()
    );

    devnet.remove_tunnel(1);
    assert!(
        devnet
            .wait_for_requests(SUMMARY, 1, Duration::from_secs(5))
            .await,
        "a deleted tunnel brings a poll\n{}",
        agent.log()
    );
    let (absent, status) = status_until(&agent, Duration::from_secs(5), |s| {
        tunnel_column(&devnet, s, 1) == "absent"
    })
    .await;
    assert!(absent, "{status}\n{}", agent.log());
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

/// A transport without the interface service, or serving its older shape, leaves the tunnels
/// on the poll and says why, while BGP events still decide between polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_readable_interface_watch_tunnels_stay_on_the_poll_and_bgp_events_still_decide() {
    for (serving, why) in [
        (IntfServing::Unimplemented, "does not serve IntfMgrService"),
        (IntfServing::Legacy, "not in the shape this build reads"),
    ] {
        let (devnet, agent) = streaming(
            2,
            Transport::Tcp,
            |config| config.grpc_interfaces = serving,
            &SLOW_POLL,
        )
        .await;
        assert!(stream_up(&agent).await, "{}", agent.log());
        let (said, status) = status_until(&agent, SETTLE, |s| {
            s["stream"]["interfaces_error"]
                .as_str()
                .is_some_and(|error| error.contains(why))
        })
        .await;
        assert!(said, "{serving:?}: {status}\n{}", agent.log());
        assert_eq!(status["stream"]["interfaces_watched"], false, "{status}");
        assert_eq!(status["stream"]["connected"], true, "{status}");

        let polls = devnet.requests_with(SUMMARY);
        devnet.session(1, Some("Idle")).unwrap();
        devnet.reaches(&agent, 1, BgpStatus::Down, SETTLE).await;
        assert_eq!(devnet.requests_with(SUMMARY), polls, "{serving:?}");
        assert_eq!(devnet.chain_status(0), BgpStatus::Up);
        assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
    }
}

/// Runs the agent binary with `args`; its success and stdout.
async fn run_cli(args: &[String]) -> (bool, String) {
    let output = tokio::process::Command::new(agent_binary().unwrap())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// `check` and `peers` probe the transport when given its address and say whether tunnels
/// can be watched there, and why not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_peers_say_whether_the_tunnels_can_be_watched() {
    for (serving, said) in [
        (IntfServing::Current, "watching tunnels too"),
        (
            IntfServing::Unimplemented,
            "tunnels not watched: this EOS release does not serve IntfMgrService",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let devnet = Devnet::start_with_switch(1, SLOT, |config| {
            config.grpc_unix = Some(dir.path().join("eos-sdk-rpc.sock"));
            config.grpc_interfaces = serving;
        })
        .await
        .unwrap();
        devnet.session(0, Some("Established")).unwrap();
        let mut args = devnet.agent_args(ANY_PORT, &[]);
        args[0] = "check".into();
        args.extend(devnet.stream_flag());
        let (ok, report) = run_cli(&args).await;
        assert!(ok, "{serving:?}\n{report}");
        let line = report
            .lines()
            .find(|l| l.contains("stream"))
            .unwrap_or_else(|| panic!("no stream line:\n{report}"));
        assert!(
            line.starts_with("[ ok ]") && line.contains(said),
            "{serving:?}: {line}"
        );

        let mut peers = vec![
            "peers".to_owned(),
            "--eapi-socket".to_owned(),
            devnet.switch.socket_path().display().to_string(),
        ];
        peers.extend(devnet.stream_flag());
        let (ok, listing) = run_cli(&peers).await;
        assert!(ok, "{listing}");
        let line = listing
            .lines()
            .find(|l| l.starts_with("stream: "))
            .unwrap_or_else(|| panic!("no stream line:\n{listing}"));
        let expected = match serving {
            IntfServing::Current => "; tunnels watched".to_owned(),
            _ => format!("; {said}"),
        };
        assert!(line.contains(&expected), "{serving:?}: {line}");
    }
}

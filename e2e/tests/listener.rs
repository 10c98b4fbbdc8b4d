//! The listener cannot starve the agent: 2,000 clients that open a connection and send half a
//! request (and do it again whenever the agent drops them), plus a flood of `GET /status`, while
//! a session drops. The Down still reaches the chain within one interval of the lag measured
//! without them, and the agent's descriptors stay within its connection cap.

use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{set_flag, Agent, Devnet, ANY_PORT};
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SLOT: Duration = Duration::from_millis(400);
const SETTLE: Duration = Duration::from_secs(60);
/// The tick; a longer one than the devnet's default makes "one interval" a margin that the
/// machine's noise (a slot, scheduling) cannot eat.
const INTERVAL: Duration = Duration::from_secs(2);
const SLOW_CLIENTS: usize = 2000;
const FLOODERS: usize = 16;
/// The listener's cap (src/listener.rs), and room for what else may open meanwhile (an RPC
/// connection, the eAPI socket).
const MAX_CONNECTIONS: usize = 32;
const SLACK: usize = 8;

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// How long user `i`'s Down takes to reach the chain once its session drops, sampling the
/// agent's descriptors meanwhile; `(lag, most descriptors seen)`.
async fn down_lag(devnet: &Devnet, i: usize, pid: u32) -> (Duration, usize) {
    devnet.session(i, Some("Idle")).unwrap();
    let dropped = Instant::now();
    let mut most = 0;
    while devnet.chain_status(i) != BgpStatus::Down {
        most = most.max(descriptors(pid));
        assert!(dropped.elapsed() < SETTLE, "user {i} never written Down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (dropped.elapsed(), most.max(descriptors(pid)))
}

/// A client that sends half a request and waits for the agent to give up on it, again and
/// again.
async fn slow_client(agent: std::net::SocketAddr) {
    loop {
        let Ok(mut stream) = TcpStream::connect(agent).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if stream
            .write_all(b"GET /status HTTP/1.1\r\nX-Slow: ")
            .await
            .is_err()
        {
            continue;
        }
        let mut sink = [0u8; 256];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    }
}

/// `GET /status` as fast as the agent answers.
async fn flooder(agent: std::net::SocketAddr) {
    loop {
        if let Ok(mut stream) = TcpStream::connect(agent).await {
            let _ = stream
                .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
                .await;
            let mut reply = Vec::new();
            let _ = stream.read_to_end(&mut reply).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_a_status_flood_neither_delay_a_down_nor_grow_the_agents_descriptors() {
    // Room for the clients' sockets in this process (the agent inherits the same limit).
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let want = (4 * SLOW_CLIENTS as u64).min(hard);
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, want, hard).unwrap();
    assert!(
        want > SLOW_CLIENTS as u64 + 256,
        "RLIMIT_NOFILE {hard} is too low for the test"
    );

    const USERS: usize = 4;
    let devnet = Devnet::start(USERS as u16, SLOT).await.unwrap();
    for i in 0..USERS {
        devnet.session(i, Some("Established")).unwrap();
    }
    // No minimum interval between two writes of a user: the lag is the tick's and the chain's.
    let mut args = devnet.agent_args(ANY_PORT, &["--min-write-interval", "0s"]);
    set_flag(&mut args, "--bgp-status-interval", "2s");
    let agent = Agent::spawn(&args, &devnet.dir).await.unwrap();
    let pid = agent.pid().unwrap();
    assert!(
        devnet
            .wait_until(SETTLE, |d| (0..USERS)
                .all(|i| d.chain_status(i) == BgpStatus::Up))
            .await,
        "{}",
        agent.log()
    );

    // The normal lag: the longest of three drops, so the phase of the tick is mostly in it.
    let mut normal = Duration::ZERO;
    let mut idle_descriptors = 0;
    for i in 0..USERS - 1 {
        let (lag, most) = down_lag(&devnet, i, pid).await;
        normal = normal.max(lag);
        idle_descriptors = idle_descriptors.max(most);
    }

    let mut attack = tokio::task::JoinSet::new();
    for _ in 0..SLOW_CLIENTS {
        attack.spawn(slow_client(agent.metrics));
    }
    for _ in 0..FLOODERS {
        attack.spawn(flooder(agent.metrics));
    }
    // Let the slow clients take every slot and fill the backlog.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (lag, most) = down_lag(&devnet, USERS - 1, pid).await;
    attack.abort_all();
    while attack.join_next().await.is_some() {}

    eprintln!(
        "normal lag {normal:?}, under attack {lag:?} (interval {INTERVAL:?}); descriptors idle \
         {idle_descriptors}, under attack at most {most}"
    );
    assert!(
        lag <= normal + INTERVAL,
        "the Down took {lag:?} under attack, {normal:?} without:\n{}",
        agent.log()
    );
    assert!(
        most <= idle_descriptors + MAX_CONNECTIONS + SLACK,
        "{most} descriptors under attack, {idle_descriptors} idle"
    );

    // And it serves again once the clients are gone.
    let mut served = None;
    for _ in 0..100 {
        served = agent.status().await;
        if served.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served.is_some(), "/status never answered again");
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

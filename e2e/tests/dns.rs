//! The ledger reached by name, with the name's resolution changing under a running agent: a
//! name added to the hosts file, and `resolv.conf` rewritten to name another server (as EOS
//! does when the operator configures name servers after boot). Each agent runs in a private
//! mount namespace with the test's own `/etc/hosts` and `/etc/resolv.conf` bound over the
//! machine's, which are never touched; a small DNS server answers on a loopback address. Root
//! only (CI runs as root).

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{private_mounts, set_flag, Agent, Devnet, ANY_PORT};
use nix::sys::signal::Signal;

const SLOT: Duration = Duration::from_millis(400);
const SETTLE: Duration = Duration::from_secs(30);
const NAME: &str = "dz-ledger.test";

/// An A-record server for `NAME` → 127.0.0.1 on UDP port 53 of `addr`; every other question
/// gets an empty answer. Runs until the process ends.
fn serve_dns(addr: Ipv4Addr) {
    let socket = UdpSocket::bind((addr, 53)).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n]) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
}

/// The reply to one query: its header and question echoed, and one A record when it asks
/// for `NAME`'s.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = query.get(12..at + 4)?;
    let hit = labels.join(".") == NAME && qtype == 1;
    let mut reply = Vec::new();
    reply.extend_from_slice(&query[..2]);
    reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(hit), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if hit {
        // A pointer to the question's name, A, IN, TTL 0, four bytes of 127.0.0.1.
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    }
    Some(reply)
}

/// A loopback address of this test process's own, so parallel runs do not collide on port 53.
fn loopback() -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 53, (pid >> 8) as u8, pid as u8 | 1)
}

/// The agent, pointed at the ledger by `NAME`, in a private mount namespace whose hosts file
/// and resolv.conf are `dir`'s.
async fn agent_by_name(devnet: &Devnet, dir: &Path) -> Agent {
    let port = devnet.ledger.url().rsplit(':').next().unwrap().to_string();
    let mut args = devnet.agent_args(ANY_PORT, &["--allow-insecure-http"]);
    set_flag(
        &mut args,
        "--ledger-rpc-url",
        format!("http://{NAME}:{port}"),
    );
    let setup = format!(
        "mount --bind {hosts} /etc/hosts && mount --bind {resolv} /etc/resolv.conf",
        hosts = dir.join("hosts").display(),
        resolv = dir.join("resolv.conf").display()
    );
    Agent::spawn_wrapped(&private_mounts(&setup), &args, &devnet.dir)
        .await
        .unwrap()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Waits until the agent has tried the ledger and failed: it has no device view.
async fn wait_unreachable(agent: &Agent) {
    for _ in 0..300 {
        if agent.log().contains("no device view") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the ledger was reached before it could be:\n{}",
        agent.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_added_to_the_hosts_file_is_reached_without_a_restart() {
    if !is_root() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let dir = devnet.dir.join("etc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    // No name server: only the hosts file can name the ledger.
    std::fs::write(dir.join("resolv.conf"), "# no name servers\n").unwrap();
    let agent = agent_by_name(&devnet, &dir).await;
    wait_unreachable(&agent).await;
    assert_eq!(devnet.chain_status(0), BgpStatus::Unknown);

    // Written in place: the bind mount shows the same file.
    std::fs::write(
        dir.join("hosts"),
        format!("127.0.0.1 localhost\n127.0.0.1 {NAME}\n"),
    )
    .unwrap();
    devnet.reaches(&agent, 0, BgpStatus::Up, SETTLE).await;
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_resolv_conf_is_read_again_without_a_restart() {
    if !is_root() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    let server = loopback();
    serve_dns(server);
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let dir = devnet.dir.join("etc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    // At boot the switch has no name server yet.
    std::fs::write(dir.join("resolv.conf"), "# no name servers yet\n").unwrap();
    let agent = agent_by_name(&devnet, &dir).await;
    wait_unreachable(&agent).await;

    std::fs::write(dir.join("resolv.conf"), format!("nameserver {server}\n")).unwrap();
    assert!(
        devnet
            .wait_until(SETTLE, |d| d.chain_status(0) == BgpStatus::Up)
            .await,
        "the old name server is still asked:\n{}",
        agent.log()
    );
    assert!(
        agent.log().contains("resolv.conf changed"),
        "{}",
        agent.log()
    );
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

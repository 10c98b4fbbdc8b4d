//! Logs where operators look (eos.md §9 item 3): human-readable lines on stderr always, which
//! ProcMgr keeps for `show agent NAME logs`, without colour codes when stderr is a file; and,
//! where journald's socket exists, the same events with structured fields in journald too.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{
    agent_binary, private_mounts, set_flag, Agent, Devnet, ANY_PORT,
};
use nix::sys::signal::Signal;

const SLOT: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_as_a_file_gets_plain_lines_without_colour_codes() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    set_flag(&mut args, "--log", "auto");
    let agent = Agent::spawn(&args, &devnet.dir).await.unwrap();
    for _ in 0..100 {
        if agent.log().contains("status confirmed on chain") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = agent.log();
    assert!(log.contains("INFO agent started"), "{log}");
    assert!(log.contains("status confirmed on chain"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape codes in a file:\n{log}"
    );
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

/// Runs the agent with journald's socket path bound to `socket_dir`, in a private mount
/// namespace, so the test receives what the agent sends to journald.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_journald_listens_it_gets_structured_events_and_stderr_keeps_every_line() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let socket_dir = devnet.dir.join("journal");
    std::fs::create_dir_all(&socket_dir).unwrap();
    let journal = UnixDatagram::bind(socket_dir.join("socket")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let mut args = devnet.agent_args(ANY_PORT, &[]);
    set_flag(&mut args, "--log", "auto");
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && \
         mount --bind {} /run/systemd/journal && exec \"$@\"",
        socket_dir.display()
    );
    let stderr_path = devnet.dir.join("agent-stderr.log");
    let mut child = tokio::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(agent_binary().unwrap())
        .args(&args)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut entries: Vec<BTreeMap<String, String>> = Vec::new();
    let confirmed = |entries: &[BTreeMap<String, String>]| {
        entries
            .iter()
            .any(|e| e.get("MESSAGE").map(String::as_str) == Some("status confirmed on chain"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 64 * 1024];
    while std::time::Instant::now() < deadline && !confirmed(&entries) {
        if let Ok(n) = journal.recv(&mut buf) {
            entries.push(journal_fields(&buf[..n]));
        }
    }
    let started = entries
        .iter()
        .find(|e| e.get("MESSAGE").map(String::as_str) == Some("agent started"))
        .unwrap_or_else(|| panic!("no start event in journald: {entries:#?}"));
    assert_eq!(started["SYSLOG_IDENTIFIER"], "doublezero-bgpstatus");
    for field in ["PRIORITY", "F_DEVICE", "F_SIGNER", "F_PROGRAM"] {
        assert!(started.contains_key(field), "{field} missing: {started:?}");
    }
    assert!(confirmed(&entries), "{entries:#?}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(stderr.contains("INFO agent started"), "{stderr}");
    assert!(stderr.contains("status confirmed on chain"), "{stderr}");
}

/// A syslog that takes 10 lines and then nothing (the kernel's default datagram queue, nobody
/// reading): 40 users' Up lines must neither hold back their writes nor anything after them,
/// and the lines given up are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_syslog_never_holds_back_a_write() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    const USERS: u16 = 40;
    let devnet = Devnet::start(USERS, SLOT).await.unwrap();
    let socket = devnet.dir.join("dev-log");
    let syslog = UnixDatagram::bind(&socket).unwrap();
    for i in 0..devnet.users.len() {
        devnet.session(i, Some("Established")).unwrap();
    }
    let args = devnet.agent_args(ANY_PORT, &[]);
    let setup = format!(
        "mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && ln -s {} /dev/log",
        socket.display()
    );
    let agent = Agent::spawn_wrapped(&private_mounts(&setup), &args, &devnet.dir)
        .await
        .unwrap();
    let all_up = devnet
        .wait_until(Duration::from_secs(60), |d| {
            (0..d.users.len()).all(|i| d.chain_status(i) == BgpStatus::Up)
        })
        .await;
    assert!(all_up, "writes held back by syslog:\n{}", agent.log());

    // The next change after the flood goes out too.
    devnet.session(0, Some("Idle")).unwrap();
    assert!(
        devnet
            .wait_until(Duration::from_secs(30), |d| d.chain_status(0)
                == BgpStatus::Down)
            .await,
        "{}",
        agent.log()
    );
    let mut dropped = 0.0;
    for _ in 0..100 {
        dropped = agent
            .metric("doublezero_bgpstatus_syslog_dropped_total")
            .await
            .unwrap_or(0.0);
        if dropped > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(dropped > 0.0, "no line counted as dropped");
    syslog.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let n = syslog.recv(&mut buf).unwrap();
    let line = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(line.contains("%DZBGP-"), "{line}");
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

/// Decodes one datagram of journald's native protocol: `KEY=value\n`, or for values that may
/// hold newlines `KEY\n`, a little-endian u64 length, the bytes and `\n`.
fn journal_fields(mut data: &[u8]) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    while let Some(end) = data.iter().position(|&b| b == b'\n' || b == b'=') {
        let key = String::from_utf8_lossy(&data[..end]).into_owned();
        if data[end] == b'=' {
            let rest = &data[end + 1..];
            let stop = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            fields.insert(key, String::from_utf8_lossy(&rest[..stop]).into_owned());
            data = rest.get(stop + 1..).unwrap_or_default();
        } else {
            let rest = &data[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            let value = &rest[8..8 + len];
            fields.insert(key, String::from_utf8_lossy(value).into_owned());
            data = rest.get(8 + len + 1..).unwrap_or_default();
        }
    }
    fields
}

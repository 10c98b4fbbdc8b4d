//! Least privilege and the key in memory, read from outside the running agent as the kernel
//! reports them: once the agent has entered its namespace and loaded the key, none of its
//! threads holds a capability, and the process is not dumpable (no core dump, no `/proc/PID/mem`
//! for its user). `check` says what it runs with. Root only (CI runs as root).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, Agent, Devnet, ANY_PORT};
use nix::sys::signal::Signal;

const SLOT: Duration = Duration::from_millis(400);
const SETTLE: Duration = Duration::from_secs(30);

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `Name:\tvalue` lines of a `/proc/…/status` file.
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
        .trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_started_no_thread_of_the_agent_holds_a_capability() {
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();
    // A write confirmed: the runtime's workers, the blocking pool and the syslog thread exist.
    devnet.reaches(&agent, 0, BgpStatus::Up, SETTLE).await;
    let pid = agent.pid().unwrap();
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(tasks.len() > 1, "{tasks:?}");
    for task in &tasks {
        let status = std::fs::read_to_string(task.join("status")).unwrap();
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(
                field(&status, set),
                "0000000000000000",
                "{set} of {}",
                task.display()
            );
        }
        assert_eq!(field(&status, "NoNewPrivs"), "1", "{}", task.display());
    }
    let log = agent.log();
    assert!(
        log.contains("kept no privilege the daemon does not need")
            && log.contains("uid 0, no capabilities, not dumpable"),
        "{log}"
    );

    // Still working without them: the next change goes out.
    devnet.session(0, Some("Idle")).unwrap();
    devnet.reaches(&agent, 0, BgpStatus::Down, SETTLE).await;
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

/// Run as an ordinary user, the files of the agent's `/proc/PID` (`mem` among them) belong to
/// that user until the process is made non-dumpable, after which the kernel gives them to root:
/// the outside sign of `PR_SET_DUMPABLE` 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_key_is_loaded_the_process_is_not_dumpable() {
    if !is_root() {
        eprintln!("skipped: needs root to run the agent as another user (CI runs as root)");
        return;
    }
    const NOBODY: u32 = 65534;
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let own = |path: &std::path::Path, mode: u32| {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    own(&devnet.dir, 0o755);
    own(&devnet.keypair, 0o600);
    own(devnet.switch.socket_path(), 0o777);

    let args = devnet.agent_args(ANY_PORT, &[]);
    let wrapper: Vec<String> = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]
    .map(String::from)
    .to_vec();
    let agent = Agent::spawn_wrapped(&wrapper, &args, &devnet.dir)
        .await
        .unwrap();
    devnet.reaches(&agent, 0, BgpStatus::Up, SETTLE).await;
    let pid = agent.pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        field(&status, "Uid").starts_with(&format!("{NOBODY}\t")),
        "{status}"
    );
    let owner = std::fs::metadata(format!("/proc/{pid}/mem")).unwrap().uid();
    assert_eq!(
        owner, 0,
        "/proc/{pid}/mem still belongs to its user: dumpable"
    );
    assert!(
        agent
            .log()
            .contains("uid 65534, no capabilities, not dumpable"),
        "{}",
        agent.log()
    );
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_what_it_runs_with_and_what_run_keeps() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    args[0] = "check".into();
    let output = tokio::process::Command::new(agent_binary().unwrap())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let line = report
        .lines()
        .find(|line| line.starts_with("[ ok ] process"))
        .unwrap_or_else(|| panic!("{report}"));
    let uid = nix::unistd::geteuid().as_raw();
    assert!(line.contains(&format!("uid {uid}, ")), "{line}");
    assert!(
        line.ends_with("once started, run keeps no capability and is not dumpable"),
        "{line}"
    );
}

//! The ledger URL read from a file on flash (so an API key in it is not copied wherever the
//! running-config is backed up, eos.md §9 item 9), and its secrets kept out of every output:
//! the log, `/status`, `/metrics`, `check` and `status`, while the RPC refuses, answers 404,
//! times out or the device view cannot be fetched.

use std::process::Stdio;
use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, Agent, Devnet, ANY_PORT};
use nix::sys::signal::Signal;

const SLOT: Duration = Duration::from_millis(400);
const SECRETS: [&str; 3] = ["pathS3CRET", "queryS3CRET", "userS3CRET"];

/// The devnet's arguments with `--ledger-rpc-url` replaced by `--ledger-rpc-url-file FILE`.
fn with_url_file(devnet: &Devnet, args: &mut [String], url: &str) {
    let file = devnet.dir.join("ledger-rpc-url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let at = args.iter().position(|a| a == "--ledger-rpc-url").unwrap();
    args[at] = "--ledger-rpc-url-file".into();
    args[at + 1] = file.display().to_string();
}

async fn run_command(args: &[String]) -> String {
    let output = tokio::process::Command::new(agent_binary().unwrap())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_url_may_come_from_a_file() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    with_url_file(&devnet, &mut args, &devnet.ledger.url());
    let agent = Agent::spawn(&args, &devnet.dir).await.unwrap();
    assert!(
        devnet
            .wait_until(Duration::from_secs(30), |d| d.chain_status(0)
                == BgpStatus::Up)
            .await,
        "{}",
        agent.log()
    );
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_urls_path_query_and_user_never_reach_an_output_while_the_rpc_fails() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap();
    drop(closed);
    // The simulator answers only `/`: a secret path gets 404s; a closed port refuses.
    let ledger = devnet.ledger.addr();
    for authority in [ledger.to_string(), refused.to_string()] {
        let url = format!("http://userS3CRET:pw@{authority}/pathS3CRET?api-key=queryS3CRET");
        let mut args = devnet.agent_args(ANY_PORT, &[]);
        with_url_file(&devnet, &mut args, &url);
        let agent = Agent::spawn(&args, &devnet.dir).await.unwrap();
        let mut status = None;
        for _ in 0..100 {
            status = agent
                .status()
                .await
                .filter(|s| s["view"]["error"].is_string());
            if status.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let status = status.unwrap_or_else(|| panic!("no failing view:\n{}", agent.log()));
        assert_no_secret("/status", &status.to_string());
        assert_no_secret("/metrics", &agent.get("/metrics").await.unwrap());
        let status_cli = run_command(&[
            "status".into(),
            "--metrics-addr".into(),
            agent.metrics.to_string(),
        ])
        .await;
        assert!(status_cli.contains("error"), "{status_cli}");
        assert_no_secret("status", &status_cli);
        let mut check = args.clone();
        check[0] = "check".into();
        let report = run_command(&check).await;
        assert!(report.contains("[FAIL] rpc"), "{report}");
        assert_no_secret("check", &report);
        let log = agent.log();
        assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
        assert!(log.contains("WARN"), "{log}");
        assert_no_secret("the log", &log);
    }
}

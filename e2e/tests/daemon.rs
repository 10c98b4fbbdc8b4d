//! The daemon as an operator drives it: EOS `option` lines applied live, signals, `check`, the
//! metrics endpoint. (Key material kept out of logs, /status and /metrics: e2e/tests/status.rs.)

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, free_port, set_flag, Devnet, ANY_PORT};
use doublezero_bgpstatus_e2e::eapi_sim::{Daemon, Fault as SwitchFault};
use nix::sys::signal::Signal;

const SLOT: Duration = Duration::from_millis(400);
const SETTLE: Duration = Duration::from_secs(30);
/// The eAPI command that reads the agent's `daemon` block and its option lines.
const OPTIONS_READ: &str = "show running-config section daemon doublezero-bgpstatus";

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

async fn wait_for_log(agent: &doublezero_bgpstatus_e2e::devnet::Agent, text: &str) -> bool {
    for _ in 0..150 {
        if agent.log().contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eos_options_override_flags_and_apply_live_or_say_they_need_a_restart() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    // The option beats the flag from the start: debug logging although the flags say nothing.
    devnet.switch.set_daemon(options(&[("verbose", "true")]));
    let agent = devnet
        .spawn_agent(&["--options-interval", "1s"])
        .await
        .unwrap();
    assert!(wait_for_log(&agent, "DEBUG").await, "{}", agent.log());

    devnet.switch.set_daemon(options(&[
        ("verbose", "true"),
        ("bgp-status-down-grace-period", "30s"),
        ("keypair", "/mnt/flash/other.json"),
        ("no-such-option", "1"),
        ("eapi-socket", "/var/run/other.sock"),
    ]));
    assert!(
        wait_for_log(
            &agent,
            "option changed; applied option=\"bgp-status-down-grace-period\""
        )
        .await,
        "{}",
        agent.log()
    );
    let log = agent.log();
    assert!(
        log.contains("option changed; it takes effect after a restart"),
        "{log}"
    );
    assert!(log.contains("keypair"), "{log}");
    assert!(
        log.contains("option no-such-option is not a setting of this agent"),
        "{log}"
    );
    assert!(
        log.contains("ERROR option eapi-socket cannot be an option line"),
        "an exec-only setting in an option line is an error, not silently ignored:\n{log}"
    );
    // Options read again unchanged (every second here) are not reported again.
    assert!(
        devnet.wait_for_requests(OPTIONS_READ, 3, SETTLE).await,
        "{}",
        agent.log()
    );
    let log = agent.log();
    for line in [
        "option changed; applied option=\"bgp-status-down-grace-period\"",
        "option changed; it takes effect after a restart",
        "option no-such-option",
    ] {
        assert_eq!(log.matches(line).count(), 1, "{line}:\n{log}");
    }

    // The grace now holds Up for 30 s after the session drops.
    assert!(
        devnet
            .wait_until(SETTLE, |d| d.chain_status(0) == BgpStatus::Up)
            .await
    );
    devnet.session(0, Some("Idle")).unwrap();
    assert!(devnet.wait_for_ticks(3, SETTLE).await, "{}", agent.log());
    assert_eq!(devnet.chain_status(0), BgpStatus::Up, "{}", agent.log());

    // An invalid value is refused and the running configuration kept.
    devnet
        .switch
        .set_daemon(options(&[("bgp-status-interval", "soon")]));
    assert!(
        wait_for_log(&agent, "the daemon's EOS options are invalid").await,
        "{}",
        agent.log()
    );
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keypair_program_and_rpc_may_come_from_eos_options_alone() {
    // Started at boot before eAPI answers: the agent waits for the options rather than giving
    // up on them (here it could not even start without them).
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.switch.set_fault(SwitchFault::SocketGone).unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    let mut moved = Vec::new();
    for flag in [
        "--keypair",
        "--serviceability-program-id",
        "--ledger-rpc-url",
    ] {
        let at = args.iter().position(|a| a == flag).unwrap();
        let value = args.remove(at + 1);
        args.remove(at);
        moved.push((flag.trim_start_matches("--").to_string(), value));
    }
    devnet.switch.set_daemon(Daemon {
        options: moved.into_iter().collect(),
        ..options(&[])
    });
    let mut agent = doublezero_bgpstatus_e2e::devnet::Agent::spawn(&args, &devnet.dir)
        .await
        .unwrap();
    assert!(
        wait_for_log(&agent, "waiting for eAPI to read the daemon's EOS options").await,
        "{}",
        agent.log()
    );
    // Longer than the 20 s the agent gives eAPI when its flags would do: with the RPC URL only
    // in an option line it must keep waiting, not exit into ProcMgr's restart throttle.
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(agent.exited(), None, "{}", agent.log());
    devnet.switch.clear_fault().unwrap();
    devnet.reaches(&agent, 0, BgpStatus::Up, SETTLE).await;
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sigint_and_sigquit_each_stop_the_agent_cleanly() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT] {
        let agent = devnet.spawn_agent(&[]).await.unwrap();
        assert!(
            wait_for_log(&agent, "agent started").await,
            "{}",
            agent.log()
        );
        let log_before = agent.log();
        let status = agent.stop(signal).await.unwrap();
        assert!(status.success(), "{signal}: {status:?}\n{log_before}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_is_logged_with_its_reason_and_exits_non_zero() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    set_flag(&mut args, "--keypair", "/nonexistent/keypair.json");
    let output = tokio::process::Command::new(agent_binary().unwrap())
        .args(&args)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fatal") && stderr.contains("/nonexistent/keypair.json"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_the_upstream_names_and_the_agents_own() {
    let devnet = Devnet::start(2, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();
    assert!(
        devnet
            .wait_until(SETTLE, |d| d.chain_status(0) == BgpStatus::Up)
            .await
    );
    // A tick after the write landed: the gauges of users now count it.
    assert!(devnet.wait_for_ticks(2, SETTLE).await, "{}", agent.log());
    let text = agent.get("/metrics").await.unwrap();
    for family in [
        "doublezero_bgpstatus_submissions_total{bgp_status=\"up\",result=\"success\"}",
        "doublezero_bgpstatus_submission_duration_seconds_count",
        "doublezero_telemetry_programdata_fetch_duration_seconds_count",
        "doublezero_telemetry_programdata_fetch_total{result=\"success\"}",
        "doublezero_telemetry_programdata_stale_cache_age_seconds",
        "doublezero_bgpstatus_build_info",
        "doublezero_bgpstatus_users{bgp_status=\"up\"}",
        "doublezero_bgpstatus_users_observed{session=\"established\",tunnel=\"up\"}",
        "doublezero_bgpstatus_payer_balance_lamports",
        "doublezero_bgpstatus_instructions_per_transaction_count",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    assert_eq!(
        agent
            .metric("doublezero_bgpstatus_users{bgp_status=\"up\"}")
            .await,
        Some(1.0)
    );
    let not_found = agent.get("/nope").await.unwrap();
    assert!(not_found.contains("not found"));
}

/// Runs `check` with the devnet's flags, each `(flag, value)` of `replaced` swapped in.
async fn check(devnet: &Devnet, replaced: &[(&str, String)]) -> (bool, String) {
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    args[0] = "check".into();
    for (flag, value) in replaced {
        set_flag(&mut args, flag, value.clone());
    }
    let output = tokio::process::Command::new(agent_binary().unwrap())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_on_a_healthy_switch_and_names_each_broken_part_with_a_fix() {
    let devnet = Devnet::start(2, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let (ok, report) = check(&devnet, &[]).await;
    assert!(ok, "{report}");
    for item in [
        "eapi", "bgp", "keypair", "rpc", "program", "device", "signer", "balance",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("[ ok ]") && l.contains(item)),
            "{item}:\n{report}"
        );
    }

    // Broken eAPI: the report says which lines to configure.
    devnet.switch.set_fault(SwitchFault::SocketGone).unwrap();
    let (ok, report) = check(&devnet, &[]).await;
    assert!(!ok);
    assert!(report.contains("[FAIL] eapi"), "{report}");
    assert!(report.contains("protocol unix-socket"), "{report}");
    devnet.switch.clear_fault().unwrap();

    // A switch where `enable` is refused (AAA): the fix is about privilege, not the socket.
    devnet
        .switch
        .set_fault(SwitchFault::CommandError {
            command: "enable".into(),
            code: 1005,
            errors: vec!["Authorization denied for command 'enable'".into()],
        })
        .unwrap();
    let (ok, report) = check(&devnet, &[]).await;
    assert!(!ok);
    assert!(
        report.contains("[FAIL] eapi") && report.contains("EOS refused `enable`"),
        "{report}"
    );
    assert!(!report.contains("protocol unix-socket"), "{report}");
    devnet.switch.clear_fault().unwrap();

    // An exec-only setting in an option line.
    devnet
        .switch
        .set_daemon(options(&[("eapi-socket", "/tmp/x.sock")]));
    let (ok, report) = check(&devnet, &[]).await;
    assert!(!ok);
    assert!(
        report.contains("[FAIL] options  option eapi-socket cannot be an option line"),
        "{report}"
    );
    devnet.switch.set_daemon(options(&[]));

    // A keypair readable by others.
    std::fs::set_permissions(
        &devnet.keypair,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (ok, report) = check(&devnet, &[]).await;
    assert!(!ok);
    assert!(
        report.contains("[FAIL] keypair") && report.contains("chmod 600"),
        "{report}"
    );
    std::fs::set_permissions(
        &devnet.keypair,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    // The wrong device.
    let other = solana_pubkey::Pubkey::new_unique().to_string();
    let (ok, report) = check(&devnet, &[("--local-device-pubkey", other.clone())]).await;
    assert!(!ok);
    assert!(
        report.contains("[FAIL] device") && report.contains(&other),
        "{report}"
    );

    // An unreachable RPC.
    let dead = format!("http://{}", free_port().unwrap());
    let (ok, report) = check(&devnet, &[("--ledger-rpc-url", dead)]).await;
    assert!(!ok);
    assert!(report.contains("[FAIL] rpc"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_never_stops_writes_and_is_bound_once_free() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    // Another program holds the port, as eAPI's own HTTP server holds 8080.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap();

    let (_, report) = check(&devnet, &[("--metrics-addr", port.to_string())]).await;
    assert!(
        report.contains(&format!("[warn] metrics  {port} is in use")),
        "{report}"
    );

    let mut args = devnet.agent_args(port, &[]);
    set_flag(&mut args, "--metrics-addr", port.to_string());
    let agent = doublezero_bgpstatus_e2e::devnet::Agent::spawn(&args, &devnet.dir)
        .await
        .unwrap();
    assert!(
        devnet
            .wait_until(SETTLE, |d| d.chain_status(0) == BgpStatus::Up)
            .await,
        "writes go on without the listener:\n{}",
        agent.log()
    );
    assert!(
        wait_for_log(&agent, "cannot serve /metrics and /status").await,
        "{}",
        agent.log()
    );
    drop(squatter);
    // Bound within the retry's backoff; the next snapshot says so.
    let mut status = None;
    for _ in 0..150 {
        status = agent
            .status()
            .await
            .filter(|s| s["listener"]["listening"] == true);
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = status.unwrap_or_else(|| panic!("never bound:\n{}", agent.log()));
    assert!(status["listener"]["bind_failures"].as_u64().unwrap() >= 1);
    assert!(status["listener"]["last_error"]
        .as_str()
        .unwrap()
        .contains("in use"));
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

//! Configuration: precedence (option > flag/env > default), validation naming the setting, and
//! live vs restart changes.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use doublezero_bgpstatus::config::{Apply, Config, LogTarget, OptionIssue, RunArgs, KEYS};
use doublezero_bgpstatus::env::Env;

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    args: RunArgs,
}

fn flags(argv: &[&str]) -> RunArgs {
    Cmd::try_parse_from(std::iter::once("run").chain(argv.iter().copied()))
        .unwrap()
        .args
}

fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const MINIMAL: &[&str] = &["--env", "localnet", "--keypair", "/etc/dz/id.json"];

#[test]
fn the_keypair_defaults_to_where_doublezero_keeps_it_on_flash() {
    let (config, _) = Config::resolve(&flags(&["--env", "localnet"]), &BTreeMap::new()).unwrap();
    assert_eq!(
        config.keypair.to_str(),
        Some("/mnt/flash/metrics-publisher-keypair.json")
    );
}

#[test]
fn defaults_follow_the_upstream_agent() {
    let (config, unknown) = Config::resolve(&flags(MINIMAL), &BTreeMap::new()).unwrap();
    assert!(unknown.is_empty());
    assert_eq!(config.program_id, Env::Localnet.program_id());
    assert_eq!(config.rpc_url, "http://localhost:8899");
    assert_eq!(config.bgp_interval, Duration::from_secs(10));
    assert_eq!(config.policy.refresh, Duration::from_secs(6 * 3600));
    assert_eq!(config.policy.down_grace, Duration::ZERO);
    assert_eq!(config.cache.fetch_timeout, Duration::from_secs(30));
    assert_eq!(config.cache.ttl, Duration::from_secs(5));
    assert_eq!(config.metrics_addr, None, "metrics are off unless enabled");
    assert_eq!(
        config.eapi_socket.to_str(),
        Some("/var/run/command-api.sock")
    );
}

#[test]
fn an_option_overrides_the_flag_which_overrides_the_default() {
    let args = flags(&[MINIMAL, &["--bgp-status-interval", "20s", "--verbose"]].concat());
    let (config, _) = Config::resolve(&args, &BTreeMap::new()).unwrap();
    assert_eq!(config.bgp_interval, Duration::from_secs(20));
    assert!(config.verbose);
    let (config, _) = Config::resolve(
        &args,
        &options(&[("bgp-status-interval", "5s"), ("verbose", "false")]),
    )
    .unwrap();
    assert_eq!(config.bgp_interval, Duration::from_secs(5));
    assert!(!config.verbose);
}

#[test]
fn every_setting_reads_its_environment_variable() {
    for key in KEYS {
        assert!(key.env().starts_with("DZ_BGPSTATUS_"), "{}", key.name);
    }
    assert_eq!(
        KEYS.iter()
            .find(|k| k.name == "ledger-rpc-url")
            .unwrap()
            .env(),
        "DZ_BGPSTATUS_LEDGER_RPC_URL"
    );
}

#[test]
fn every_error_names_its_setting_and_all_are_reported_at_once() {
    let args = flags(&["--bgp-status-interval", "10", "--commitment", "final"]);
    let err = Config::resolve(&args, &options(&[("dampening-reuse", "5000")])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("--bgp-status-interval (or DZ_BGPSTATUS_BGP_STATUS_INTERVAL)"),
        "{text}"
    );
    assert!(text.contains("missing unit"), "{text}");
    assert!(text.contains("--commitment"), "{text}");
    assert!(text.contains("option dampening-reuse"), "{text}");
    assert!(
        text.contains("--serviceability-program-id or --env"),
        "{text}"
    );
    assert!(err.0.len() >= 4, "{text}");
}

#[test]
fn infinite_dampening_numbers_and_durations_beyond_go_are_refused() {
    let args = flags(MINIMAL);
    for (key, value) in [
        ("dampening-penalty", "inf"),
        ("dampening-suppress", "inf"),
        ("dampening-penalty", "NaN"),
        ("dampening-half-life", "3000000h"),
    ] {
        let err = Config::resolve(&args, &options(&[(key, value)])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("option dampening-"), "{key} {value}: {text}");
    }
}

#[test]
fn dampening_thresholds_whose_arithmetic_breaks_are_refused_by_name() {
    let args = flags(MINIMAL);
    // Once accepted, then a panic in `Duration::mul_f64` at the first suppression.
    let tiny = options(&[
        ("dampening-half-life", "1s"),
        ("dampening-suppress", "1"),
        ("dampening-reuse", "1e-320"),
    ]);
    let text = Config::resolve(&args, &tiny).unwrap_err().to_string();
    assert!(text.contains("option dampening-reuse"), "{text}");
    // A maximum so short that the capped penalty never reaches the suppress threshold.
    let unreachable = options(&[("dampening-max-suppress", "1m")]);
    let text = Config::resolve(&args, &unreachable)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("option dampening-max-suppress") && text.contains("never be reached"),
        "{text}"
    );
}

#[test]
fn a_refresh_not_longer_than_the_poll_interval_is_refused() {
    let args = flags(&[MINIMAL, &["--bgp-status-refresh-interval", "5s"]].concat());
    let err = Config::resolve(&args, &BTreeMap::new()).unwrap_err();
    assert!(err
        .to_string()
        .contains("longer than --bgp-status-interval"));
}

#[test]
fn a_non_http_url_and_a_bad_namespace_are_refused() {
    let args = flags(
        &[
            MINIMAL,
            &[
                "--ledger-rpc-url",
                "ftp://x",
                "--management-namespace",
                "../etc",
            ],
        ]
        .concat(),
    );
    let text = Config::resolve(&args, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(text.contains("not an http(s) URL"), "{text}");
    assert!(text.contains("--management-namespace"), "{text}");
}

#[test]
fn unknown_options_are_returned_to_be_reported() {
    let (_, issues) =
        Config::resolve(&flags(MINIMAL), &options(&[("bgp-interval", "5s")])).unwrap();
    assert_eq!(issues, vec![OptionIssue::Unknown("bgp-interval".into())]);
    assert!(!issues[0].is_error());
}

#[test]
fn an_exec_only_setting_in_an_option_line_is_an_error_and_takes_no_effect() {
    let args = flags(&[MINIMAL, &["--eapi-socket", "/run/eapi.sock"]].concat());
    let (config, issues) = Config::resolve(
        &args,
        &options(&[("eapi-socket", "/x.sock"), ("daemon-name", "other")]),
    )
    .unwrap();
    assert_eq!(config.eapi_socket.to_str(), Some("/run/eapi.sock"));
    assert_eq!(config.daemon_name, "doublezero-bgpstatus");
    assert_eq!(
        issues,
        vec![
            OptionIssue::ExecOnly("daemon-name"),
            OptionIssue::ExecOnly("eapi-socket")
        ]
    );
    assert!(issues.iter().all(OptionIssue::is_error));
    assert!(issues[1]
        .to_string()
        .contains("--eapi-socket on the exec line"));
}

#[test]
fn the_namespace_and_the_log_target_may_come_from_option_lines() {
    let (config, issues) = Config::resolve(
        &flags(MINIMAL),
        &options(&[("management-namespace", "ns-management"), ("log", "stderr")]),
    )
    .unwrap();
    assert!(issues.is_empty());
    assert_eq!(
        config.management_namespace.as_deref(),
        Some("ns-management")
    );
    assert_eq!(config.log, LogTarget::Stderr);
}

#[test]
fn changes_are_classified_live_or_restart() {
    let args = flags(MINIMAL);
    let (before, _) = Config::resolve(&args, &BTreeMap::new()).unwrap();
    let (after, _) = Config::resolve(
        &args,
        &options(&[
            ("bgp-status-interval", "3s"),
            ("keypair", "/other.json"),
            ("verbose", "true"),
        ]),
    )
    .unwrap();
    let mut changes = before.changes(&after);
    changes.sort_by_key(|(name, _)| *name);
    assert_eq!(
        changes,
        vec![
            ("bgp-status-interval", Apply::Live),
            ("keypair", Apply::Restart),
            ("verbose", Apply::Live),
        ]
    );
    assert!(before.changes(&before.clone()).is_empty());
}

#[test]
fn metrics_listen_only_when_enabled() {
    let args = flags(
        &[
            MINIMAL,
            &["--metrics-enable", "--metrics-addr", "127.0.0.1:9100"],
        ]
        .concat(),
    );
    let (config, _) = Config::resolve(&args, &BTreeMap::new()).unwrap();
    assert_eq!(config.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
}

#[test]
fn the_bootstrap_needs_no_setting_that_an_eos_option_may_give() {
    // The sample daemon block puts the RPC URL and more in option lines: the flags alone must
    // be enough to start logging and read those options.
    let bootstrap = Config::bootstrap(&flags(&["--log", "stderr"])).unwrap();
    assert_eq!(bootstrap.log, LogTarget::Stderr);
    assert_eq!(
        bootstrap.eapi_socket.to_str(),
        Some("/var/run/command-api.sock")
    );
    assert_eq!(bootstrap.daemon_name, "doublezero-bgpstatus");
    assert!(Config::resolve(&flags(&[]), &BTreeMap::new()).is_err());
    let (config, _) = Config::resolve(
        &flags(&[]),
        &options(&[("env", "localnet"), ("keypair", "/mnt/flash/id.json")]),
    )
    .unwrap();
    assert_eq!(config.keypair.to_str(), Some("/mnt/flash/id.json"));
}

#[test]
fn a_bad_bootstrap_setting_is_named() {
    let err = Config::bootstrap(&flags(&["--log", "syslog"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--log"), "{err}");
}

#[test]
fn the_ledger_url_may_come_from_a_file_and_never_from_two_places() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("url");
    std::fs::write(&file, "  https://rpc.example/KEY\n").unwrap();
    let path = file.to_str().unwrap();
    let (config, _) = Config::resolve(
        &flags(&["--env", "mainnet-beta", "--ledger-rpc-url-file", path]),
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(config.rpc_url, "https://rpc.example/KEY");

    let both = Config::resolve(
        &flags(&[
            "--env",
            "mainnet-beta",
            "--ledger-rpc-url",
            "https://a.example",
        ]),
        &options(&[("ledger-rpc-url-file", path)]),
    )
    .unwrap_err()
    .to_string();
    assert!(both.contains("not both"), "{both}");

    let missing = Config::resolve(
        &flags(&["--env", "mainnet-beta"]),
        &options(&[("ledger-rpc-url-file", "/nonexistent/url")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        missing.contains("option ledger-rpc-url-file") && missing.contains("/nonexistent/url"),
        "{missing}"
    );
}

#[test]
fn a_url_that_is_not_http_is_refused_without_quoting_its_secrets() {
    let err = Config::resolve(
        &flags(&[
            "--env",
            "mainnet-beta",
            "--ledger-rpc-url",
            "htps://rpc.example/pathS3CRET?api-key=queryS3CRET",
        ]),
        &BTreeMap::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("htps://rpc.example/…"), "{err}");
    assert!(!err.contains("S3CRET"), "{err}");
}

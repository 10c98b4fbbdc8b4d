//! Fuzzing the configuration resolver: any mix of flags, environment variables and EOS option
//! lines either resolves to a configuration whose arithmetic cannot panic, or is refused with
//! the problems named; it never panics. With `panic = "abort"` in the release profile, a panic
//! here would be a crash loop under ProcMgr.
//!
//! A file of its own: the environment is process-wide, and no other test may read it meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use doublezero_bgpstatus::config::{Config, RunArgs, KEYS};
use doublezero_bgpstatus::monitor::Flaps;
use proptest::prelude::*;
use tokio::time::Instant;

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    args: RunArgs,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Flag,
    Env,
    Option,
}

/// Values that have broken parsers before, numbers and durations at the edges, and noise.
fn value() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "1e-320",
        "5e-324",
        "1e308",
        "inf",
        "-inf",
        "NaN",
        "0.5",
        "18446744073709551615",
        "18446744073709551616",
        "0s",
        "1ns",
        "1s",
        "15m",
        "1h",
        "2562047h",
        "2562048h",
        "1e-9s",
        "0.0000000001s",
        "1.5h",
        "10",
        ":50090",
        ":0",
        "127.0.0.1:99999",
        "[::1]:9",
        "true",
        "false",
        "yes",
        "mainnet-beta",
        "localnet",
        "http://localhost:8899",
        "https://user:pw@rpc.example/key?api=1",
        "ftp://x",
        "11111111111111111111111111111111",
        "finalized",
        "processed",
        "journald",
        "ns-management",
        "..",
        "/",
        "",
    ])
    .prop_map(String::from);
    prop_oneof![3 => edges, 1 => "[ -~]{0,24}", 1 => "[0-9.]{1,8}(ns|us|ms|s|m|h)?"]
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![Just(Source::Flag), Just(Source::Env), Just(Source::Option)]
}

/// Any settings, by index into `KEYS` (past its end: an unknown option).
fn settings() -> impl Strategy<Value = Vec<(usize, Source, String)>> {
    prop::collection::vec((0..KEYS.len() + 2, source(), value()), 0..14)
}

/// The dampening settings, each present or not, from values at their edges: the arithmetic
/// that once panicked needs several of them at once.
fn dampening() -> impl Strategy<Value = Vec<(usize, Source, String)>> {
    let index = |name: &str| KEYS.iter().position(|key| key.name == name).unwrap();
    let durations = || prop::sample::select(vec!["1ns", "1s", "3s", "15m", "1h", "2562047h", "0"]);
    let numbers = || {
        prop::sample::select(vec![
            "1e-320", "5e-324", "1e-300", "0.5", "1", "750", "2500", "1e308",
        ])
    };
    let entry = |name: &str, values: BoxedStrategy<&'static str>| {
        prop::option::of((Just(index(name)), source(), values.prop_map(String::from)))
    };
    (
        entry("dampening-half-life", durations().boxed()),
        entry("dampening-max-suppress", durations().boxed()),
        entry("dampening-penalty", numbers().boxed()),
        entry("dampening-suppress", numbers().boxed()),
        entry("dampening-reuse", numbers().boxed()),
    )
        .prop_map(|(a, b, c, d, e)| [a, b, c, d, e].into_iter().flatten().collect())
}

/// Everything the daemon derives from the durations and thresholds, at the extremes it can meet.
fn exercise(config: &Config) {
    let now = Instant::now();
    let policy = &config.policy;
    for duration in [
        config.options_interval,
        config.bgp_interval,
        policy.slot_duration,
        policy.down_grace,
        policy.refresh,
        policy.min_write_interval,
        policy.dampening.half_life,
        policy.dampening.max_suppress,
        config.cache.ttl,
        config.cache.fetch_timeout,
        config.cache.max_staleness,
    ] {
        assert!(
            now.checked_add(duration).is_some(),
            "{duration:?} overflows"
        );
    }
    let dampening = &policy.dampening;
    let mut flaps = Flaps::new(now);
    let mut at = now;
    for step in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(1),
        dampening.half_life,
        dampening.max_suppress,
    ] {
        at += step;
        flaps.transition(dampening, at);
        flaps.transition(dampening, at);
        flaps.is_suppressed(dampening, at);
        if let Some(release) = flaps.release_at(dampening, at) {
            assert!(release <= at + dampening.max_suppress, "{dampening:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn any_flags_environment_and_options_resolve_or_are_refused_without_a_panic(
        settings in settings(),
        dampening in dampening(),
    ) {
        for key in KEYS {
            std::env::remove_var(key.env());
        }
        // A configuration that resolves when nothing else is given, so that most cases reach
        // the arithmetic; any source may override it.
        std::env::set_var("DZ_BGPSTATUS_ENV", "localnet");
        let mut argv = vec!["run".to_string()];
        let mut options = BTreeMap::new();
        for (index, source, value) in dampening.into_iter().chain(settings) {
            // Past the table: an option no key has, as a typo in the daemon block would be.
            let Some(key) = KEYS.get(index) else {
                options.insert(format!("no-such-setting-{index}"), value);
                continue;
            };
            match source {
                Source::Flag if key.flag => argv.push(format!("--{}", key.name)),
                Source::Flag => argv.extend([format!("--{}", key.name), value]),
                Source::Env => std::env::set_var(key.env(), value),
                Source::Option => {
                    options.insert(key.name.to_string(), value);
                }
            }
        }
        // clap refusing a command line (an environment value that is no boolean) is an
        // ordinary error, not the subject here.
        let Ok(cmd) = Cmd::try_parse_from(&argv) else {
            return Ok(());
        };
        let _ = Config::bootstrap(&cmd.args);
        match Config::resolve(&cmd.args, &options) {
            Ok((config, _)) => exercise(&config),
            Err(error) => prop_assert!(!error.0.is_empty()),
        }
    }
}

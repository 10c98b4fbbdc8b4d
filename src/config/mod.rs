//! The daemon's configuration: flags, environment variables and EOS `daemon` options, validated
//! once into one typed [`Config`].
//!
//! Precedence, highest first: an `option KEY value VALUE` line of the daemon's EOS block, the
//! flag, its environment variable, the default. Options are re-read while running; a change to a
//! live setting is applied, a change to a restart setting is logged as needing one.

mod duration;
mod keys;
mod options;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches};
use solana_pubkey::Pubkey;

pub use duration::{format as format_duration, parse as parse_duration};
pub use keys::{find as find_key, Apply, Key, KEYS};
pub use options::{daemon_options, read as read_options};

use crate::env::Env;
use crate::keypair;
use crate::monitor::{DampeningPolicy, Policy};
use crate::rpc::Commitment;
use crate::serviceability::CachePolicy;

/// The settings given on the command line or in the environment (defaults not applied yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunArgs {
    given: BTreeMap<&'static str, String>,
}

impl RunArgs {
    /// Sets a value as if given as a flag (for tests and the embedded demo).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        let key = find_key(name).unwrap_or_else(|| panic!("unknown setting {name}"));
        self.given.insert(key.name, value.into());
        self
    }
}

fn leak(text: String) -> &'static str {
    // Built once per process when the command line is defined.
    Box::leak(text.into_boxed_str())
}

impl clap::Args for RunArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        KEYS.iter().fold(cmd, |cmd, key| {
            let help = match key.default {
                Some(default) => leak(format!("{} [default: {default}]", key.help)),
                None => key.help,
            };
            let arg = Arg::new(key.name)
                .long(key.name)
                .env(leak(key.env()))
                .help(help);
            let arg = if key.flag {
                arg.action(ArgAction::SetTrue)
            } else {
                arg.action(ArgAction::Set).value_name("VALUE")
            };
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for RunArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = BTreeMap::new();
        for key in KEYS {
            if key.flag {
                if matches.get_flag(key.name) {
                    given.insert(key.name, "true".to_string());
                }
            } else if let Some(value) = matches.get_one::<String>(key.name) {
                given.insert(key.name, value.clone());
            }
        }
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// Where a value came from, to name it in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Option,
    Flag,
    Default,
}

/// One problem with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub setting: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

/// An `option` line the configuration did not take, said by the log and by `check` alike: no
/// option is accepted and then ignored in silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionIssue {
    /// No setting has this name (a typo, or a newer agent's option).
    Unknown(String),
    /// The setting is needed before the options can be read, so only the `exec` line gives it.
    ExecOnly(&'static str),
}

impl OptionIssue {
    /// An exec-only setting in an option line is a mistake with an effect (the agent runs with
    /// another value than the operator wrote); an unknown name only deserves a look.
    pub fn is_error(&self) -> bool {
        matches!(self, OptionIssue::ExecOnly(_))
    }
}

impl fmt::Display for OptionIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionIssue::Unknown(name) => write!(
                f,
                "option {name} is not a setting of this agent; it is ignored (check its spelling)"
            ),
            OptionIssue::ExecOnly(name) => write!(
                f,
                "option {name} cannot be an option line: the agent needs it before it can read \
                 its options; the line is ignored: put --{name} on the exec line instead"
            ),
        }
    }
}

/// Every problem found in the configuration, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<Problem>);

/// The outbox's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitSettings {
    /// Most users per transaction; `None`: as many as fit.
    pub batch_size: Option<usize>,
    /// `None`: chosen from the RPC's latency and the slot time.
    pub max_inflight: Option<usize>,
    pub compute_unit_price: Option<u64>,
    pub fee_floor_lamports: u64,
}

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Auto,
    Journald,
    Stderr,
}

/// The settings needed before the EOS options can be read: where eAPI is and which daemon block
/// is ours (exec-only), and how to log meanwhile. Every other setting may come from an `option`
/// line, so none of them is required yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    pub log: LogTarget,
    pub verbose: bool,
    pub eapi_socket: PathBuf,
    pub daemon_name: String,
}

/// The validated configuration of `run` and `check`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub program_id: Pubkey,
    pub rpc_url: String,
    pub rpc_ca_file: Option<PathBuf>,
    pub allow_insecure_http: bool,
    pub keypair: PathBuf,
    pub keypair_permissions: keypair::Permissions,
    pub device: Option<Pubkey>,
    pub management_namespace: Option<String>,
    /// `None` unless `--metrics-enable`.
    pub metrics_addr: Option<SocketAddr>,
    pub eapi_socket: PathBuf,
    pub daemon_name: String,
    pub options_interval: Duration,
    pub bgp_interval: Duration,
    /// The EosSdkRpc transport whose BGP peer events the daemon watches.
    pub eos_sdk_rpc_addr: Option<crate::eos_sdk::Addr>,
    /// The poll's interval while that stream is healthy.
    pub stream_interval: Duration,
    /// How long the stream may stay quiet before it is probed.
    pub stream_silence: Duration,
    pub commitment: Commitment,
    pub policy: Policy,
    pub cache: CachePolicy,
    pub submit: SubmitSettings,
    pub verbose: bool,
    pub log: LogTarget,
    /// The resolved text of every setting, to tell what changed between two reads.
    raw: BTreeMap<&'static str, String>,
}

impl Config {
    /// Resolves flags and options into a validated configuration. Option lines it does not take
    /// (unknown names, exec-only settings) are returned beside it, to be reported, rather than
    /// failing the daemon.
    pub fn resolve(
        args: &RunArgs,
        options: &BTreeMap<String, String>,
    ) -> Result<(Config, Vec<OptionIssue>), ConfigError> {
        let issues = options
            .keys()
            .filter_map(|name| match find_key(name) {
                None => Some(OptionIssue::Unknown(name.clone())),
                Some(key) if key.exec_only => Some(OptionIssue::ExecOnly(key.name)),
                Some(_) => None,
            })
            .collect();
        let mut r = Resolver {
            args,
            options,
            problems: Vec::new(),
            raw: BTreeMap::new(),
        };
        let config = r.build();
        if r.problems.is_empty() {
            Ok((config, issues))
        } else {
            Err(ConfigError(r.problems))
        }
    }

    /// The settings that flags and environment alone must give (see [`Bootstrap`]).
    pub fn bootstrap(args: &RunArgs) -> Result<Bootstrap, ConfigError> {
        let options = BTreeMap::new();
        let mut r = Resolver {
            args,
            options: &options,
            problems: Vec::new(),
            raw: BTreeMap::new(),
        };
        let bootstrap = Bootstrap {
            log: r.log(),
            verbose: r.flag("verbose"),
            eapi_socket: PathBuf::from(r.lookup("eapi-socket").map(|(p, _)| p).unwrap_or_default()),
            daemon_name: r.lookup("daemon-name").map(|(n, _)| n).unwrap_or_default(),
        };
        if r.problems.is_empty() {
            Ok(bootstrap)
        } else {
            Err(ConfigError(r.problems))
        }
    }

    /// The settings whose value differs between `self` and `newer`, with how each applies.
    pub fn changes(&self, newer: &Config) -> Vec<(&'static str, Apply)> {
        KEYS.iter()
            .filter(|key| self.raw.get(key.name) != newer.raw.get(key.name))
            .map(|key| (key.name, key.apply))
            .collect()
    }
}

struct Resolver<'a> {
    args: &'a RunArgs,
    options: &'a BTreeMap<String, String>,
    problems: Vec<Problem>,
    raw: BTreeMap<&'static str, String>,
}

impl Resolver<'_> {
    fn lookup(&mut self, name: &'static str) -> Option<(String, Source)> {
        let key = find_key(name).expect("every looked-up setting is in KEYS");
        let option = self.options.get(name).filter(|_| !key.exec_only);
        let found = if let Some(value) = option {
            Some((value.clone(), Source::Option))
        } else if let Some(value) = self.args.given.get(name) {
            Some((value.clone(), Source::Flag))
        } else {
            key.default.map(|d| (d.to_string(), Source::Default))
        };
        if let Some((value, _)) = &found {
            self.raw.insert(key.name, value.clone());
        }
        found
    }

    fn problem(&mut self, name: &str, source: Source, message: impl Into<String>) {
        let key = find_key(name).expect("known setting");
        let setting = match source {
            Source::Option => format!("option {name}"),
            Source::Flag => format!("--{name} (or {})", key.env()),
            Source::Default => format!("default of --{name}"),
        };
        self.problems.push(Problem {
            setting,
            message: message.into(),
        });
    }

    fn parse<T: FromStr>(&mut self, name: &'static str, what: &str) -> Option<T> {
        let (text, source) = self.lookup(name)?;
        match text.trim().parse() {
            Ok(value) => Some(value),
            Err(_) => {
                self.problem(name, source, format!("{text:?} is not {what}"));
                None
            }
        }
    }

    fn duration(&mut self, name: &'static str) -> Duration {
        let Some((text, source)) = self.lookup(name) else {
            return Duration::ZERO;
        };
        parse_duration(&text).unwrap_or_else(|message| {
            self.problem(name, source, message);
            Duration::ZERO
        })
    }

    fn positive_duration(&mut self, name: &'static str) -> Duration {
        let value = self.duration(name);
        if value.is_zero() {
            let source = self.source_of(name);
            if !self.problems.iter().any(|p| p.setting.contains(name)) {
                self.problem(name, source, "must be more than 0");
            }
        }
        value
    }

    fn source_of(&self, name: &str) -> Source {
        let exec_only = find_key(name).is_some_and(|key| key.exec_only);
        if self.options.contains_key(name) && !exec_only {
            Source::Option
        } else if self.args.given.contains_key(name) {
            Source::Flag
        } else {
            Source::Default
        }
    }

    /// The ledger URL: given, read from a file (so an API key in it stays out of the
    /// running-config and its backups), or the environment's default. Never quoted in a
    /// problem beyond its scheme and host.
    fn rpc_url(&mut self, env: Option<Env>) -> Option<String> {
        let given = self.lookup("ledger-rpc-url");
        let file = self.lookup("ledger-rpc-url-file");
        let url = match (given, file) {
            (Some(_), Some((_, source))) => {
                self.problem(
                    "ledger-rpc-url-file",
                    source,
                    "give either ledger-rpc-url or ledger-rpc-url-file, not both",
                );
                return None;
            }
            (Some((url, _)), None) => Some(url),
            (None, Some((path, source))) => match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => {
                    let url = text.trim().to_owned();
                    // A changed file is a changed URL.
                    self.raw.insert("ledger-rpc-url", url.clone());
                    Some(url)
                }
                Ok(_) => {
                    self.problem("ledger-rpc-url-file", source, format!("{path} is empty"));
                    return None;
                }
                Err(error) => {
                    self.problem(
                        "ledger-rpc-url-file",
                        source,
                        format!("cannot read {path}: {error}"),
                    );
                    return None;
                }
            },
            (None, None) => env.and_then(Env::default_rpc_url).map(String::from),
        };
        match &url {
            None => self.problem(
                "ledger-rpc-url",
                Source::Flag,
                "required: give ledger-rpc-url or ledger-rpc-url-file (only --env localnet has a \
                 default)",
            ),
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                let source = self.source_of("ledger-rpc-url");
                self.problem(
                    "ledger-rpc-url",
                    source,
                    format!("{} is not an http(s) URL", crate::rpc::redact_url(url)),
                );
            }
            Some(_) => {}
        }
        url
    }

    fn listen_addr(&mut self, name: &'static str) -> Option<SocketAddr> {
        let (text, source) = self.lookup(name)?;
        crate::listener::parse_addr(&text)
            .map_err(|message| self.problem(name, source, message))
            .ok()
    }

    fn flag(&mut self, name: &'static str) -> bool {
        self.parse::<bool>(name, "true or false").unwrap_or(false)
    }

    fn namespace(&mut self) -> Option<String> {
        let ns = self.lookup("management-namespace").map(|(ns, _)| ns)?;
        if ns.is_empty() || ns.contains('/') || ns == "." || ns == ".." {
            let source = self.source_of("management-namespace");
            self.problem(
                "management-namespace",
                source,
                format!("{ns:?} is not a namespace name under /run/netns"),
            );
        }
        Some(ns)
    }

    fn log(&mut self) -> LogTarget {
        match self.lookup("log") {
            Some((text, source)) => match text.as_str() {
                "auto" => LogTarget::Auto,
                "journald" => LogTarget::Journald,
                "stderr" => LogTarget::Stderr,
                _ => {
                    self.problem(
                        "log",
                        source,
                        format!("{text:?} is not auto, journald or stderr"),
                    );
                    LogTarget::Auto
                }
            },
            None => LogTarget::Auto,
        }
    }

    fn build(&mut self) -> Config {
        let env = self.parse::<Env>(
            "env",
            "an environment (mainnet-beta, testnet, devnet or localnet)",
        );
        let program_id = self.program_id(env);
        let rpc_url = self.rpc_url(env);
        let keypair = self.lookup("keypair").map(|(path, _)| PathBuf::from(path));
        let keypair_permissions = if self.flag("allow-insecure-keypair-permissions") {
            keypair::Permissions::AllowInsecure
        } else {
            keypair::Permissions::Strict
        };
        let device = self.parse::<Pubkey>("local-device-pubkey", "a base58 public key");
        let management_namespace = self.namespace();
        let metrics_enable = self.flag("metrics-enable");
        let metrics_addr = self.listen_addr("metrics-addr");
        let eapi_socket = PathBuf::from(
            self.lookup("eapi-socket")
                .map(|(p, _)| p)
                .unwrap_or_default(),
        );
        let daemon_name = self
            .lookup("daemon-name")
            .map(|(n, _)| n)
            .unwrap_or_default();
        let options_interval = self.positive_duration("options-interval");
        let bgp_interval = self.positive_duration("bgp-status-interval");
        let eos_sdk_rpc_addr =
            self.parse::<crate::eos_sdk::Addr>("eos-sdk-rpc-addr", "unix:///path or IP:PORT");
        let stream_interval = self.positive_duration("bgp-status-stream-interval");
        let stream_silence = self.positive_duration("bgp-status-stream-silence");
        let mut policy = self.policy(bgp_interval);
        let cache = CachePolicy {
            ttl: self.duration("cache-ttl"),
            ttl_at_rest: self.duration("cache-ttl-at-rest"),
            fetch_timeout: self.positive_duration("caching-fetcher-rpc-timeout"),
            max_staleness: self.duration("cache-max-staleness"),
        };
        let commitment = self.commitment();
        let submit = self.submit();
        // Refreshes ride along in transactions as full as the outbox packs them.
        policy.batch = submit.batch_size.unwrap_or(policy.batch);
        let rpc_ca_file = self.lookup("rpc-ca-file").map(|(p, _)| PathBuf::from(p));
        let allow_insecure_http = self.flag("allow-insecure-http");
        let verbose = self.flag("verbose");
        self.flag("bgp-status-enable");
        let log = self.log();

        Config {
            program_id: program_id.unwrap_or_default(),
            rpc_url: rpc_url.unwrap_or_default(),
            rpc_ca_file,
            allow_insecure_http,
            keypair: keypair.unwrap_or_default(),
            keypair_permissions,
            device,
            management_namespace,
            metrics_addr: metrics_addr.filter(|_| metrics_enable),
            eapi_socket,
            daemon_name,
            options_interval,
            bgp_interval,
            eos_sdk_rpc_addr,
            stream_interval,
            stream_silence,
            commitment,
            policy,
            cache,
            submit,
            verbose,
            log,
            raw: std::mem::take(&mut self.raw),
        }
    }

    /// The program: given, or the environment's; one of them is required.
    fn program_id(&mut self, env: Option<Env>) -> Option<Pubkey> {
        let program_id = self
            .parse::<Pubkey>("serviceability-program-id", "a base58 public key")
            .or(env.map(Env::program_id));
        if program_id.is_none() && !self.problems.iter().any(|p| p.setting.contains("env")) {
            self.problem(
                "serviceability-program-id",
                Source::Flag,
                "required: give --serviceability-program-id or --env",
            );
        }
        program_id
    }

    /// The decision's knobs: grace, refresh, minimum interval, dampening.
    fn policy(&mut self, bgp_interval: Duration) -> Policy {
        let refresh = self.positive_duration("bgp-status-refresh-interval");
        if refresh <= bgp_interval && !refresh.is_zero() {
            let source = self.source_of("bgp-status-refresh-interval");
            self.problem(
                "bgp-status-refresh-interval",
                source,
                "must be longer than --bgp-status-interval",
            );
        }
        Policy {
            down_grace: self.duration("bgp-status-down-grace-period"),
            min_write_interval: self.duration("min-write-interval"),
            dampening: self.dampening(),
            slot_duration: self.positive_duration("slot-duration"),
            refresh,
            ..Policy::default()
        }
    }

    /// Flap dampening, checked as a whole: finite, ordinary numbers only ("inf" and "1e-320"
    /// parse as floats), and a suppress threshold the capped penalty can reach. A problem names
    /// the setting at fault.
    fn dampening(&mut self) -> DampeningPolicy {
        let dampening = DampeningPolicy {
            enabled: !self.flag("no-dampening"),
            half_life: self.positive_duration("dampening-half-life"),
            penalty: self.parse("dampening-penalty", "a number").unwrap_or(0.0),
            suppress: self.parse("dampening-suppress", "a number").unwrap_or(0.0),
            reuse: self.parse("dampening-reuse", "a number").unwrap_or(0.0),
            max_suppress: self.positive_duration("dampening-max-suppress"),
        };
        if let Err(why) = dampening.check() {
            let fault = if !(dampening.penalty.is_normal() && dampening.penalty > 0.0) {
                "dampening-penalty"
            } else if !(dampening.suppress.is_normal() && dampening.suppress > 0.0) {
                "dampening-suppress"
            } else if !(dampening.reuse.is_normal() && dampening.reuse < dampening.suppress) {
                "dampening-reuse"
            } else if dampening.half_life.is_zero() {
                "dampening-half-life"
            } else {
                "dampening-max-suppress"
            };
            // A zero or unparsable half-life or maximum is already reported as such.
            if !self.problems.iter().any(|p| p.setting.contains(fault)) {
                let source = self.source_of(fault);
                self.problem(fault, source, why);
            }
        }
        dampening
    }

    fn commitment(&mut self) -> Commitment {
        match self.lookup("commitment") {
            Some((text, source)) => text.parse().unwrap_or_else(|message: String| {
                self.problem("commitment", source, message);
                Commitment::Confirmed
            }),
            None => Commitment::Confirmed,
        }
    }

    /// The outbox's settings: batch size, pipeline depth, fees.
    fn submit(&mut self) -> SubmitSettings {
        let batch_size = self.parse::<usize>("batch-size", "a count").unwrap_or(0);
        let max_inflight = match self.lookup("max-inflight") {
            Some((text, _)) if text.trim() == "auto" => None,
            Some((text, source)) => match text.trim().parse::<usize>() {
                Ok(0) | Err(_) => {
                    self.problem(
                        "max-inflight",
                        source,
                        format!("{text:?} is not auto or a count of at least 1"),
                    );
                    None
                }
                Ok(n) => Some(n),
            },
            None => None,
        };
        let price = self
            .parse::<u64>("compute-unit-price", "a number of micro-lamports")
            .unwrap_or(0);
        SubmitSettings {
            batch_size: (batch_size > 0).then_some(batch_size),
            max_inflight,
            compute_unit_price: (price > 0).then_some(price),
            fee_floor_lamports: self
                .parse::<u64>("fee-floor-lamports", "a number of lamports")
                .unwrap_or(0),
        }
    }
}

//! Every setting of the daemon, in one table: its flag and `option` name, environment variable,
//! default, and whether a change applies live or needs a restart.
//!
//! Flags, environment variables and EOS `option KEY value VALUE` lines all name settings by the
//! same key, so one table drives the command line, the option reader, validation messages and
//! the operator guide's table.

/// Whether a changed value can be applied to the running daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    Live,
    Restart,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub default: Option<&'static str>,
    /// A flag without a value (`--verbose`); as an option its value is true or false.
    pub flag: bool,
    pub apply: Apply,
    /// Needed to read the `option` lines at all (where eAPI is, which block is ours), so only
    /// the `exec` line or the environment can give it; an `option` line naming it is an error.
    pub exec_only: bool,
    pub help: &'static str,
}

impl Key {
    /// `DZ_BGPSTATUS_` + the name in upper snake case.
    pub fn env(&self) -> String {
        format!(
            "DZ_BGPSTATUS_{}",
            self.name.replace('-', "_").to_ascii_uppercase()
        )
    }
}

const fn key(
    name: &'static str,
    default: Option<&'static str>,
    apply: Apply,
    help: &'static str,
) -> Key {
    Key {
        name,
        default,
        flag: false,
        apply,
        exec_only: false,
        help,
    }
}

const fn exec_only(name: &'static str, default: &'static str, help: &'static str) -> Key {
    Key {
        exec_only: true,
        ..key(name, Some(default), Apply::Restart, help)
    }
}

const fn flag(name: &'static str, apply: Apply, help: &'static str) -> Key {
    Key {
        name,
        default: None,
        flag: true,
        apply,
        exec_only: false,
        help,
    }
}

use Apply::{Live, Restart};

pub const KEYS: &[Key] = &[
    key("env", None, Restart, "DoubleZero environment: mainnet-beta, testnet, devnet or localnet; sets the program ID (and the RPC URL for localnet)"),
    key("ledger-rpc-url", None, Restart, "Solana JSON-RPC URL of the DoubleZero ledger"),
    key("ledger-rpc-url-file", None, Restart, "A file (on flash) holding the ledger URL, so an API key in it stays out of the running-config and its backups"),
    key("serviceability-program-id", None, Restart, "Serviceability program ID (overrides --env's)"),
    key("keypair", Some(crate::keypair::DEFAULT_PATH), Restart, "solana-keygen JSON keypair of the device's metrics publisher (0600, or 0770 on EOS's vfat flash)"),
    flag("allow-insecure-keypair-permissions", Restart, "Accept a keypair file readable beyond its owner (group or others where modes are kept, others on FAT)"),
    key("local-device-pubkey", None, Restart, "This switch's Device account; found from the keypair when absent"),
    key("management-namespace", None, Restart, "Network namespace to run in (e.g. ns-management), so RPC and metrics use the management VRF"),
    flag("metrics-enable", Restart, "Serve /metrics and /status on --metrics-addr"),
    key("metrics-addr", Some(":50090"), Restart, "Listen address of /metrics and /status: HOST:PORT, or :PORT for every address (50000-50100 is what DoubleZero's control-plane ACL lets through)"),
    exec_only("eapi-socket", "/var/run/command-api.sock", "EOS eAPI unix socket, over which the `option` lines are read"),
    exec_only("daemon-name", "doublezero-bgpstatus", "Name of this daemon's EOS `daemon` block, whose `option` lines are read"),
    key("options-interval", Some("30s"), Live, "How often the `daemon` block's options are re-read"),
    key("bgp-status-interval", Some("10s"), Live, "How often BGP sessions are read and the decision runs"),
    key("eos-sdk-rpc-addr", None, Restart, "EosSdkRpc transport to watch BGP peers on, so a session change is seen when EOS sees it: unix:///path, or 127.0.0.1:9543 (dialled in the default VRF); off when absent"),
    key("bgp-status-stream-interval", Some("60s"), Live, "How often BGP sessions are polled while the EosSdkRpc stream is healthy (the poll corrects anything the stream missed)"),
    key("bgp-status-stream-silence", Some("60s"), Restart, "How long the EosSdkRpc stream may stay quiet before a peer_state probe checks that the transport still answers"),
    key("bgp-status-refresh-interval", Some("6h"), Live, "Rewrite an unchanged status this often"),
    key("bgp-status-down-grace-period", Some("0s"), Live, "Keep reporting Up this long after a session drops"),
    key("min-write-interval", Some("5s"), Live, "Never write one user twice within this time"),
    flag("no-dampening", Live, "Disable flap dampening"),
    key("dampening-half-life", Some("15m"), Live, "Half-life of a user's flap penalty"),
    key("dampening-penalty", Some("1000"), Live, "Penalty added per Up/Down transition"),
    key("dampening-suppress", Some("2500"), Live, "Penalty above which a user's Up writes pause (a Down never waits)"),
    key("dampening-reuse", Some("750"), Live, "Penalty below which a paused Up is written"),
    key("dampening-max-suppress", Some("1h"), Live, "Longest time a user's Up writes can stay paused"),
    key("slot-duration", Some("400ms"), Live, "Ledger slot time, to estimate the age of a slot"),
    key("cache-ttl", Some("5s"), Live, "How long a fetched device view is reused without I/O"),
    key("cache-ttl-at-rest", Some("60s"), Live, "How long the device view is reused while nothing changes on the switch and nothing is to be written (any change is decided on a view at most cache-ttl old)"),
    key("caching-fetcher-rpc-timeout", Some("30s"), Live, "Timeout of one device-view fetch"),
    key("cache-max-staleness", Some("10m"), Live, "Oldest device view served when the RPC fails"),
    key("commitment", Some("confirmed"), Restart, "Commitment for reads and confirmations: processed, confirmed or finalized"),
    key("batch-size", Some("0"), Restart, "Most users per transaction (0: as many as fit)"),
    key("max-inflight", Some("auto"), Restart, "Most transactions awaiting confirmation at once: a count, or auto (from the RPC's latency and the slot time, 4 to 64)"),
    key("compute-unit-price", Some("0"), Restart, "Priority fee in micro-lamports per compute unit (0: none)"),
    key("fee-floor-lamports", Some("10000000"), Restart, "Below this payer balance, refreshes stop; changes still go out"),
    key("rpc-ca-file", None, Restart, "Extra PEM root certificates for the RPC endpoint"),
    flag("allow-insecure-http", Restart, "Allow plain http:// to an RPC host other than loopback"),
    flag("verbose", Live, "Debug logging"),
    key("log", Some("auto"), Live, "Where logs go besides stderr (which `show agent NAME logs` shows): auto (also journald when its socket exists), journald (also journald; warn when absent) or stderr (stderr only)"),
    flag("bgp-status-enable", Live, "Accepted for compatibility with the upstream agent's exec line; always on"),
];

pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

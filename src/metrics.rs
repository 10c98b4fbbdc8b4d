//! Every Prometheus metric the agent exports, defined in one place so names stay stable across
//! releases and dashboards survive upgrades. Names inherited from the Go agent keep their exact
//! spelling and labels.

use prometheus::core::Collector;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Metrics of the cached serviceability client (upstream `CachingFetcher` names).
#[derive(Clone)]
pub struct CacheMetrics {
    /// Every fetch from the RPC, success or failure; cache hits are not fetches.
    pub fetch_duration: Histogram,
    /// `result` = success | error_stale | error_no_cache.
    pub fetch_total: IntCounterVec,
    /// Age of the view served after a failed fetch; 0 once a fetch succeeds.
    pub stale_cache_age: Gauge,
    /// Bytes of account data received, to see what one device's view costs.
    pub bytes_fetched: IntCounter,
    /// Accounts skipped because their bytes do not decode, by account kind.
    pub decode_failures: IntCounterVec,
}

impl CacheMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            fetch_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "doublezero_telemetry_programdata_fetch_duration_seconds",
                    "Duration of serviceability program data fetches from the ledger RPC",
                )
                .buckets(vec![0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0]),
            )?,
            fetch_total: IntCounterVec::new(
                Opts::new(
                    "doublezero_telemetry_programdata_fetch_total",
                    "Serviceability program data fetches by result",
                ),
                &["result"],
            )?,
            stale_cache_age: Gauge::new(
                "doublezero_telemetry_programdata_stale_cache_age_seconds",
                "Age of the program data served after a failed fetch (0 when fresh)",
            )?,
            bytes_fetched: IntCounter::new(
                "doublezero_bgpstatus_programdata_bytes_fetched_total",
                "Bytes of account data fetched for the device view",
            )?,
            decode_failures: IntCounterVec::new(
                Opts::new(
                    "doublezero_bgpstatus_account_decode_failures_total",
                    "Program accounts skipped because they do not decode",
                ),
                &["account"],
            )?,
        };
        registry.register(Box::new(metrics.fetch_duration.clone()))?;
        registry.register(Box::new(metrics.fetch_total.clone()))?;
        registry.register(Box::new(metrics.stale_cache_age.clone()))?;
        registry.register(Box::new(metrics.bytes_fetched.clone()))?;
        registry.register(Box::new(metrics.decode_failures.clone()))?;
        Ok(metrics)
    }
}

/// Metrics of the outbox that signs, sends and confirms `SetUserBGPStatus` transactions. The two
/// `submission` names are the Go agent's; the rest describe batching and confirmation.
#[derive(Clone)]
pub struct OutboxMetrics {
    /// One count per user update that reached an end: `bgp_status` = unknown | up | down,
    /// `result` = success (confirmed) | error (failed). Updates dropped unsent are not counted.
    pub submissions: IntCounterVec,
    /// From a transaction's first signing to its confirmation (upstream: one user per tx).
    pub submission_duration: Histogram,
    /// Transactions signed and sent for the first time (a re-signed one counts again).
    pub transactions_sent: IntCounter,
    pub transactions_confirmed: IntCounter,
    /// Rejected at preflight, landed with an error, or never confirmed before the deadline.
    pub transactions_failed: IntCounter,
    /// Transactions whose blockhash expired unseen, so they were signed again.
    pub transactions_expired: IntCounter,
    /// `SetUserBGPStatus` instructions per transaction sent.
    pub instructions_per_transaction: Histogram,
    pub inflight_transactions: IntGauge,
    /// The metrics publisher's balance in lamports, as last read.
    pub payer_balance: IntGauge,
    /// From observing a status change to its confirmation on chain.
    pub change_to_confirmation: Histogram,
    /// User updates that failed, by whose failure it was: refused (the program), payer (fee or
    /// rent growth), rpc (not taken or confirmed in time), unknown.
    pub failures: IntCounterVec,
    /// The program's compute units per user, as last measured by simulation.
    pub compute_units_per_user: IntGauge,
}

impl OutboxMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            submissions: IntCounterVec::new(
                Opts::new(
                    "doublezero_bgpstatus_submissions_total",
                    "User BGP status updates submitted on chain, by status and result",
                ),
                &["bgp_status", "result"],
            )?,
            submission_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "doublezero_bgpstatus_submission_duration_seconds",
                    "Time from signing a status transaction to its confirmation",
                )
                .buckets(vec![0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]),
            )?,
            transactions_sent: IntCounter::new(
                "doublezero_bgpstatus_transactions_sent_total",
                "Status transactions signed and sent (rebroadcasts of the same bytes excluded)",
            )?,
            transactions_confirmed: IntCounter::new(
                "doublezero_bgpstatus_transactions_confirmed_total",
                "Status transactions confirmed at the configured commitment",
            )?,
            transactions_failed: IntCounter::new(
                "doublezero_bgpstatus_transactions_failed_total",
                "Status transactions rejected, failed on chain, or not confirmed in time",
            )?,
            transactions_expired: IntCounter::new(
                "doublezero_bgpstatus_transactions_expired_total",
                "Status transactions re-signed because their blockhash expired unseen",
            )?,
            instructions_per_transaction: Histogram::with_opts(
                HistogramOpts::new(
                    "doublezero_bgpstatus_instructions_per_transaction",
                    "SetUserBGPStatus instructions packed into each transaction sent",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 20.0]),
            )?,
            inflight_transactions: IntGauge::new(
                "doublezero_bgpstatus_inflight_transactions",
                "Status transactions sent and not yet confirmed or failed",
            )?,
            payer_balance: IntGauge::new(
                "doublezero_bgpstatus_payer_balance_lamports",
                "Balance of the metrics publisher key that pays for status updates",
            )?,
            change_to_confirmation: Histogram::with_opts(
                HistogramOpts::new(
                    "doublezero_bgpstatus_change_to_confirmation_seconds",
                    "Time from observing a BGP status change to its confirmation on chain",
                )
                .buckets(vec![1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0]),
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "doublezero_bgpstatus_write_failures_total",
                    "User status updates that failed, by cause: refused, payer, rpc or unknown",
                ),
                &["cause"],
            )?,
            compute_units_per_user: IntGauge::new(
                "doublezero_bgpstatus_compute_units_per_user",
                "Compute units one SetUserBGPStatus uses, as last measured by simulation",
            )?,
        };
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.compute_units_per_user.clone()))?;
        registry.register(Box::new(metrics.submissions.clone()))?;
        registry.register(Box::new(metrics.submission_duration.clone()))?;
        registry.register(Box::new(metrics.transactions_sent.clone()))?;
        registry.register(Box::new(metrics.transactions_confirmed.clone()))?;
        registry.register(Box::new(metrics.transactions_failed.clone()))?;
        registry.register(Box::new(metrics.transactions_expired.clone()))?;
        registry.register(Box::new(metrics.instructions_per_transaction.clone()))?;
        registry.register(Box::new(metrics.inflight_transactions.clone()))?;
        registry.register(Box::new(metrics.payer_balance.clone()))?;
        registry.register(Box::new(metrics.change_to_confirmation.clone()))?;
        Ok(metrics)
    }
}

/// Metrics of the daemon loop: what it observes and decides.
#[derive(Clone)]
pub struct DaemonMetrics {
    /// Always 1, labelled `version`, `device` (pubkey) and `code`: the series a dashboard's
    /// device picker reads, and the join key to the device's name. Set through [`Self::identify`].
    pub build_info: IntGaugeVec,
    /// The configured `fee-floor-lamports`, drawn beside the payer's balance.
    pub fee_floor: IntGauge,
    /// One eAPI observation (BGP summaries, and RTTs when needed).
    pub observation_duration: Histogram,
    /// Failed observations, by error kind; each one is a tick that wrote nothing.
    pub observation_failures: IntCounterVec,
    /// Considered users by the status the chain holds.
    pub users_by_chain_status: IntGaugeVec,
    /// Considered users by what the switch shows: the tunnel (up, down, absent) and the
    /// session (established, not_established, absent), each unknown before the first reading.
    pub users_observed: IntGaugeVec,
    /// Users whose writes are paused by flap dampening.
    pub dampened_users: IntGauge,
    /// Users whose tunnel or session disagrees with the chain's provisioning.
    pub drifted_users: IntGauge,
    /// Up/Down transitions seen, across users.
    pub transitions: IntCounter,
    /// Ticks whose device view could not be read (nothing decided).
    pub view_failures: IntCounter,
    /// Syslog lines given up: the queue was full or `/dev/log` did not take them in time.
    pub syslog_dropped: IntCounter,
    /// 1 while the EosSdkRpc watch is open.
    pub stream_up: IntGauge,
    /// Peer events received on it, by kind (set, del, state).
    pub stream_events: IntCounterVec,
    /// Times the watch was lost or could not be opened.
    pub stream_losses: IntCounter,
    /// Sessions a poll found otherwise than the stream had said, with the stream open.
    pub stream_disagreements: IntCounter,
}

impl DaemonMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            build_info: IntGaugeVec::new(
                Opts::new(
                    "doublezero_bgpstatus_build_info",
                    "Build of the running agent (always 1)",
                ),
                &["version", "device", "code"],
            )?,
            fee_floor: IntGauge::new(
                "doublezero_bgpstatus_fee_floor_lamports",
                "Payer balance below which refreshes stop (changes still go out)",
            )?,
            observation_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "doublezero_bgpstatus_eapi_observation_duration_seconds",
                    "Duration of one eAPI read of the BGP sessions",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            )?,
            observation_failures: IntCounterVec::new(
                Opts::new(
                    "doublezero_bgpstatus_eapi_observation_failures_total",
                    "eAPI reads that failed, by kind; such a tick writes nothing",
                ),
                &["kind"],
            )?,
            users_by_chain_status: IntGaugeVec::new(
                Opts::new(
                    "doublezero_bgpstatus_users",
                    "Considered users by the BGP status the chain holds",
                ),
                &["bgp_status"],
            )?,
            users_observed: IntGaugeVec::new(
                Opts::new(
                    "doublezero_bgpstatus_users_observed",
                    "Considered users by the state of their tunnel and BGP session on the switch",
                ),
                &["tunnel", "session"],
            )?,
            drifted_users: IntGauge::new(
                "doublezero_bgpstatus_drifted_users",
                "Users whose tunnel or session disagrees with the chain's provisioning",
            )?,
            dampened_users: IntGauge::new(
                "doublezero_bgpstatus_dampened_users",
                "Users whose writes are paused by flap dampening",
            )?,
            transitions: IntCounter::new(
                "doublezero_bgpstatus_transitions_total",
                "Up/Down transitions of users' wanted status",
            )?,
            view_failures: IntCounter::new(
                "doublezero_bgpstatus_view_failures_total",
                "Ticks skipped because the device view could not be read",
            )?,
            syslog_dropped: IntCounter::new(
                "doublezero_bgpstatus_syslog_dropped_total",
                "Syslog lines dropped because the queue was full or /dev/log did not take them",
            )?,
            stream_up: IntGauge::new(
                "doublezero_bgpstatus_stream_up",
                "1 while the EosSdkRpc BGP peer watch is open",
            )?,
            stream_events: IntCounterVec::new(
                Opts::new(
                    "doublezero_bgpstatus_stream_events_total",
                    "Events received from EosSdkRpc, by kind (BGP: set, del, state; tunnels: intf_status, intf_config)",
                ),
                &["kind"],
            )?,
            stream_losses: IntCounter::new(
                "doublezero_bgpstatus_stream_losses_total",
                "Times the EosSdkRpc watch was lost or could not be opened",
            )?,
            stream_disagreements: IntCounter::new(
                "doublezero_bgpstatus_stream_disagreements_total",
                "Sessions a poll found otherwise than the open EosSdkRpc stream had reported",
            )?,
        };
        registry.register(Box::new(metrics.build_info.clone()))?;
        registry.register(Box::new(metrics.fee_floor.clone()))?;
        registry.register(Box::new(metrics.observation_duration.clone()))?;
        registry.register(Box::new(metrics.observation_failures.clone()))?;
        registry.register(Box::new(metrics.users_by_chain_status.clone()))?;
        registry.register(Box::new(metrics.users_observed.clone()))?;
        registry.register(Box::new(metrics.drifted_users.clone()))?;
        registry.register(Box::new(metrics.dampened_users.clone()))?;
        registry.register(Box::new(metrics.transitions.clone()))?;
        registry.register(Box::new(metrics.view_failures.clone()))?;
        registry.register(Box::new(metrics.syslog_dropped.clone()))?;
        registry.register(Box::new(metrics.stream_up.clone()))?;
        registry.register(Box::new(metrics.stream_events.clone()))?;
        registry.register(Box::new(metrics.stream_losses.clone()))?;
        registry.register(Box::new(metrics.stream_disagreements.clone()))?;
        Ok(metrics)
    }

    /// Labels `build_info` with the device; `code` is empty until the first device view. The
    /// previous series goes, so there is only ever one.
    pub fn identify(&self, device: &str, code: &str) {
        self.build_info.reset();
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), device, code])
            .set(1);
    }
}

/// The `process_*` set Prometheus clients export by convention, read from `/proc/self` at each
/// scrape: CPU seconds, resident and peak memory, open descriptors and the start time. On the
/// switch, that is the agent's cost in the currency EOS shares with it.
pub struct ProcessCollector {
    cpu: Gauge,
    resident: IntGauge,
    peak_resident: IntGauge,
    fds: IntGauge,
    start_time: Gauge,
}

impl ProcessCollector {
    pub fn register(registry: &Registry) -> prometheus::Result<()> {
        let collector = ProcessCollector {
            cpu: Gauge::new(
                "process_cpu_seconds_total",
                "User and system CPU time spent, in seconds",
            )?,
            resident: IntGauge::new(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
            )?,
            peak_resident: IntGauge::new(
                "process_resident_memory_max_bytes",
                "Peak resident memory size in bytes (VmHWM)",
            )?,
            fds: IntGauge::new("process_open_fds", "Open file descriptors")?,
            start_time: Gauge::new(
                "process_start_time_seconds",
                "Start time of the process since the unix epoch, in seconds",
            )?,
        };
        registry.register(Box::new(collector))
    }

    fn read(&self) {
        let usage = ProcessUsage::read();
        self.cpu.set(usage.cpu_seconds);
        self.resident.set(usage.resident_bytes as i64);
        self.peak_resident.set(usage.peak_resident_bytes as i64);
        self.fds.set(usage.open_fds as i64);
        self.start_time.set(usage.start_time_seconds);
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        [
            self.cpu.desc(),
            self.resident.desc(),
            self.peak_resident.desc(),
            self.fds.desc(),
            self.start_time.desc(),
        ]
        .concat()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.read();
        [
            self.cpu.collect(),
            self.resident.collect(),
            self.peak_resident.collect(),
            self.fds.collect(),
            self.start_time.collect(),
        ]
        .concat()
    }
}

/// What this process uses, from `/proc/self`; zero where a file cannot be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessUsage {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub peak_resident_bytes: u64,
    pub open_fds: usize,
    pub start_time_seconds: f64,
}

impl ProcessUsage {
    pub fn read() -> Self {
        Self::read_pid("self")
    }

    /// `pid` is a number or `self`.
    pub fn read_pid(pid: &str) -> Self {
        let proc = std::path::Path::new("/proc").join(pid);
        let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
        let status = std::fs::read_to_string(proc.join("status")).unwrap_or_default();
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        // The fields after the command name (which may hold spaces), from field 3 on.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| -> f64 {
            fields
                .get(n - 3)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        let boot = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        ProcessUsage {
            cpu_seconds: (field(14) + field(15)) / ticks,
            resident_bytes: kib("VmRSS:"),
            peak_resident_bytes: kib("VmHWM:"),
            open_fds: std::fs::read_dir(proc.join("fd")).map_or(0, |d| d.count()),
            start_time_seconds: boot + field(22) / ticks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_usage_is_read_from_proc_and_exported_with_the_conventional_names() {
        let usage = ProcessUsage::read();
        assert!(usage.resident_bytes > 0 && usage.peak_resident_bytes >= usage.resident_bytes);
        assert!(usage.open_fds > 0);
        assert!(usage.start_time_seconds > 1.0e9, "{usage:?}");
        let registry = Registry::new();
        ProcessCollector::register(&registry).unwrap();
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_resident_memory_max_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}

//! Every Prometheus metric the agent exports, defined in one place so names stay stable across
//! releases and dashboards survive upgrades. Names inherited from the Go agent keep their exact
//! spelling and labels.

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

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

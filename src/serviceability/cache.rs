//! The cached serviceability client: one device's view, shared by every caller.
//!
//! - Within the TTL a caller gets the cached view without I/O. A caller at rest (nothing on the
//!   switch changed, nothing to write) accepts a view up to the longer TTL at rest.
//! - Past it, the first caller starts a fetch and every caller that arrives while it runs waits
//!   for that same fetch (single flight).
//! - The fetch runs in its own task under its own timeout: a caller that is cancelled or gives up
//!   cancels nothing for the others, and no waiter outlives the timeout.
//! - A failed fetch serves the last good view, marked stale with its age, until it is older than
//!   the maximum staleness; then the error is returned. The failure does not refresh the view's
//!   timestamp, so every call after the TTL tries the RPC again.
//!
//! This mirrors the upstream `CachingFetcher` (onchain.md §9) including its metric names, and
//! fixes its one trap: a waiter there cannot abandon the wait.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::DeviceView;
use crate::metrics::CacheMetrics;

/// Where views come from: the RPC in the agent, a scripted fake in tests.
pub trait ViewSource: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    fn fetch(&self) -> impl Future<Output = Result<DeviceView, Self::Error>> + Send;
}

/// Cache timings; defaults follow the upstream agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl: Duration,
    /// What [`CachedFetcher::get_at_rest`] accepts; never less than `ttl`.
    pub ttl_at_rest: Duration,
    pub fetch_timeout: Duration,
    /// A stale view older than this is not served; the fetch error is returned instead.
    pub max_staleness: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            ttl_at_rest: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(30),
            max_staleness: Duration::from_secs(600),
        }
    }
}

/// Why no view could be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    #[error("fetching the device view failed: {0}")]
    Fetch(Arc<dyn std::error::Error + Send + Sync>),
    #[error("fetching the device view timed out after {0:?}")]
    Timeout(Duration),
    #[error("the device view fetch stopped without a result")]
    Aborted,
    #[error("{error}; the last good view is {age:?} old, past the {max:?} staleness limit")]
    TooStale {
        error: Box<CacheError>,
        age: Duration,
        max: Duration,
    },
}

/// A view as served: fresh, or stale because the latest fetch failed.
#[derive(Debug, Clone)]
pub struct Served {
    pub view: Arc<DeviceView>,
    /// Time since the view was fetched.
    pub age: Duration,
    /// Set when the latest fetch failed and this is the last good view.
    pub stale: Option<CacheError>,
}

type Outcome = Result<Served, CacheError>;

struct Cached {
    view: Arc<DeviceView>,
    fetched_at: Instant,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    flight: Option<watch::Receiver<Option<Outcome>>>,
    /// When stale serving began and how many stale views were served since, for the
    /// transition logs.
    outage: Option<(Instant, u64)>,
}

struct Inner<S> {
    source: S,
    policy: Mutex<CachePolicy>,
    metrics: CacheMetrics,
    state: Mutex<State>,
}

/// The shared, cheaply cloned cache in front of a [`ViewSource`].
pub struct CachedFetcher<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for CachedFetcher<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: ViewSource> CachedFetcher<S> {
    pub fn new(source: S, policy: CachePolicy, metrics: CacheMetrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                policy: Mutex::new(policy),
                metrics,
                state: Mutex::default(),
            }),
        }
    }

    /// Applies new timings from the next call on (a fetch in flight keeps its timeout).
    pub fn set_policy(&self, policy: CachePolicy) {
        *self
            .inner
            .policy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = policy;
    }

    /// The device view: cached within the TTL, otherwise from the one fetch in flight.
    pub async fn get(&self) -> Outcome {
        self.get_within(self.inner.policy().ttl).await
    }

    /// The device view for a caller at rest: cached within the TTL at rest.
    pub async fn get_at_rest(&self) -> Outcome {
        let policy = self.inner.policy();
        self.get_within(policy.ttl_at_rest.max(policy.ttl)).await
    }

    async fn get_within(&self, ttl: Duration) -> Outcome {
        let mut flight = {
            let mut state = self.inner.lock();
            if let Some(cached) = &state.cached {
                let age = cached.fetched_at.elapsed();
                if age < ttl {
                    return Ok(Served {
                        view: cached.view.clone(),
                        age,
                        stale: None,
                    });
                }
            }
            // A flight whose task died (a panic in the source) has a closed channel: start anew.
            match state.flight.as_ref().filter(|rx| rx.has_changed().is_ok()) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    state.flight = Some(rx.clone());
                    tokio::spawn(Inner::fly(self.inner.clone(), tx));
                    rx
                }
            }
        };
        let outcome = flight.wait_for(Option::is_some).await;
        match outcome {
            Ok(outcome) => outcome.clone().unwrap_or(Err(CacheError::Aborted)),
            Err(_) => Err(CacheError::Aborted),
        }
    }
}

impl<S: ViewSource> Inner<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data updated in single statements; a panic elsewhere cannot leave
        // it half-written, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn policy(&self) -> CachePolicy {
        *self
            .policy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn fly(self: Arc<Self>, tx: watch::Sender<Option<Outcome>>) {
        let started = Instant::now();
        let policy = self.policy();
        let fetched = tokio::time::timeout(policy.fetch_timeout, self.source.fetch()).await;
        self.metrics
            .fetch_duration
            .observe(started.elapsed().as_secs_f64());
        let fetched = match fetched {
            Ok(Ok(view)) => Ok(view),
            Ok(Err(err)) => Err(CacheError::Fetch(Arc::new(err))),
            Err(_) => Err(CacheError::Timeout(policy.fetch_timeout)),
        };
        let outcome = {
            let mut state = self.lock();
            state.flight = None;
            self.settle(&mut state, fetched, policy.max_staleness)
        };
        // Nobody may be waiting any more; the cache is updated either way.
        let _ = tx.send(Some(outcome));
    }

    fn settle(
        &self,
        state: &mut State,
        fetched: Result<DeviceView, CacheError>,
        max_staleness: Duration,
    ) -> Outcome {
        let now = Instant::now();
        match fetched {
            Ok(view) => {
                self.metrics
                    .fetch_total
                    .with_label_values(&["success"])
                    .inc();
                self.metrics.stale_cache_age.set(0.0);
                if let Some((since, stale_reads)) = state.outage.take() {
                    tracing::info!(
                        downtime_s = (now - since).as_secs_f64(),
                        stale_reads,
                        slot = view.slot,
                        "device view fetch recovered"
                    );
                }
                let view = Arc::new(view);
                state.cached = Some(Cached {
                    view: view.clone(),
                    fetched_at: now,
                });
                Ok(Served {
                    view,
                    age: Duration::ZERO,
                    stale: None,
                })
            }
            Err(error) => {
                let Some(cached) = &state.cached else {
                    self.metrics
                        .fetch_total
                        .with_label_values(&["error_no_cache"])
                        .inc();
                    tracing::warn!(%error, "device view fetch failed and no view is cached");
                    return Err(error);
                };
                let age = now - cached.fetched_at;
                if age > max_staleness {
                    // Past the limit the cache is as good as absent, and counted so.
                    self.metrics
                        .fetch_total
                        .with_label_values(&["error_no_cache"])
                        .inc();
                    tracing::warn!(%error, age_s = age.as_secs_f64(), "cached device view too old to serve");
                    return Err(CacheError::TooStale {
                        error: Box::new(error),
                        age,
                        max: max_staleness,
                    });
                }
                self.metrics
                    .fetch_total
                    .with_label_values(&["error_stale"])
                    .inc();
                self.metrics.stale_cache_age.set(age.as_secs_f64());
                match &mut state.outage {
                    None => {
                        tracing::warn!(%error, age_s = age.as_secs_f64(), "device view fetch failed; serving the cached view");
                        state.outage = Some((now, 1));
                    }
                    Some((_, stale_reads)) => {
                        *stale_reads += 1;
                        tracing::debug!(%error, age_s = age.as_secs_f64(), "serving the cached device view again");
                    }
                }
                Ok(Served {
                    view: cached.view.clone(),
                    age,
                    stale: Some(error),
                })
            }
        }
    }
}

//! The cached serviceability client against a scripted source, on a paused clock.

mod vectors;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use doublezero_bgpstatus::metrics::CacheMetrics;
use doublezero_bgpstatus::serviceability::{
    CacheError, CachePolicy, CachedFetcher, Device, DeviceView, ViewSource,
};
use prometheus::Registry;
use solana_pubkey::Pubkey;
use tokio::time::{advance, sleep, Instant};

#[derive(Debug, thiserror::Error)]
#[error("scripted RPC failure")]
struct ScriptedError;

#[derive(Clone, Copy)]
enum Step {
    /// Answer with a view at this slot after a delay.
    View {
        slot: u64,
        delay: Duration,
    },
    Fail,
    Hang,
    Panic,
}

#[derive(Default)]
struct FakeRpc {
    calls: AtomicUsize,
    script: Mutex<VecDeque<Step>>,
}

fn view(slot: u64) -> DeviceView {
    let bytes = vectors::hex(vectors::B);
    DeviceView {
        slot,
        device_pk: Pubkey::new_from_array([3; 32]),
        device: Device::decode(&bytes).unwrap(),
        users: Vec::new(),
    }
}

/// The cache owns its source; the test keeps a second handle to count calls.
#[derive(Clone)]
struct Shared(Arc<FakeRpc>);

impl ViewSource for Shared {
    type Error = ScriptedError;

    async fn fetch(&self) -> Result<DeviceView, ScriptedError> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let step = self
            .0
            .script
            .lock()
            .unwrap()
            .pop_front()
            .expect("script ran out");
        match step {
            Step::View { slot, delay } => {
                sleep(delay).await;
                Ok(view(slot))
            }
            Step::Fail => Err(ScriptedError),
            Step::Hang => std::future::pending().await,
            Step::Panic => panic!("source bug"),
        }
    }
}

struct Harness {
    rpc: Arc<FakeRpc>,
    cache: CachedFetcher<Shared>,
    metrics: CacheMetrics,
}

fn harness(policy: CachePolicy, script: &[Step]) -> Harness {
    let rpc = Arc::new(FakeRpc::default());
    rpc.script.lock().unwrap().extend(script.iter().copied());
    let metrics = CacheMetrics::register(&Registry::new()).unwrap();
    let cache = CachedFetcher::new(Shared(rpc.clone()), policy, metrics.clone());
    Harness {
        rpc,
        cache,
        metrics,
    }
}

impl Harness {
    fn calls(&self) -> usize {
        self.rpc.calls.load(Ordering::SeqCst)
    }

    fn count(&self, result: &str) -> u64 {
        self.metrics.fetch_total.with_label_values(&[result]).get()
    }
}

fn ok(slot: u64) -> Step {
    Step::View {
        slot,
        delay: Duration::ZERO,
    }
}

fn slow(slot: u64) -> Step {
    Step::View {
        slot,
        delay: Duration::from_secs(1),
    }
}

#[tokio::test(start_paused = true)]
async fn two_hundred_concurrent_callers_share_one_rpc_round() {
    let h = harness(CachePolicy::default(), &[slow(7)]);
    let callers: Vec<_> = (0..200)
        .map(|_| {
            let cache = h.cache.clone();
            tokio::spawn(async move { cache.get().await })
        })
        .collect();
    for caller in callers {
        let served = caller.await.unwrap().unwrap();
        assert_eq!(served.view.slot, 7);
        assert!(served.stale.is_none());
    }
    assert_eq!(h.calls(), 1);
    assert_eq!(h.count("success"), 1);
    assert_eq!(h.metrics.fetch_duration.get_sample_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_first_caller_does_not_cancel_the_fetch_for_the_others() {
    let h = harness(CachePolicy::default(), &[slow(9)]);
    let first = {
        let cache = h.cache.clone();
        tokio::spawn(async move { cache.get().await })
    };
    tokio::task::yield_now().await;
    let second = {
        let cache = h.cache.clone();
        tokio::spawn(async move { cache.get().await })
    };
    advance(Duration::from_millis(300)).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(second.await.unwrap().unwrap().view.slot, 9);
    assert_eq!(h.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_leaves_the_view_cached_for_the_next() {
    let h = harness(CachePolicy::default(), &[slow(4)]);
    let gave_up = tokio::time::timeout(Duration::from_millis(100), h.cache.get()).await;
    assert!(gave_up.is_err());
    sleep(Duration::from_secs(2)).await;
    assert_eq!(h.cache.get().await.unwrap().view.slot, 4);
    assert_eq!(
        h.calls(),
        1,
        "the abandoned fetch completed and filled the cache"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_rpc_ends_at_the_timeout_for_every_waiter() {
    let policy = CachePolicy {
        fetch_timeout: Duration::from_secs(30),
        ..CachePolicy::default()
    };
    let h = harness(policy, &[Step::Hang]);
    let start = Instant::now();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let cache = h.cache.clone();
            tokio::spawn(async move { cache.get().await })
        })
        .collect();
    for waiter in waiters {
        let err = waiter.await.unwrap().unwrap_err();
        assert!(matches!(err, CacheError::Timeout(d) if d == Duration::from_secs(30)));
    }
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert_eq!(h.count("error_no_cache"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_fetch_serves_the_stale_view_with_its_age_then_refuses_past_the_limit() {
    let policy = CachePolicy {
        ttl: Duration::from_secs(5),
        max_staleness: Duration::from_secs(60),
        ..CachePolicy::default()
    };
    let h = harness(policy, &[ok(1), Step::Fail, Step::Fail, Step::Fail]);
    assert_eq!(h.cache.get().await.unwrap().view.slot, 1);

    advance(Duration::from_secs(6)).await;
    let stale = h.cache.get().await.unwrap();
    assert_eq!(stale.view.slot, 1);
    assert_eq!(stale.age, Duration::from_secs(6));
    assert!(matches!(stale.stale, Some(CacheError::Fetch(_))));
    assert_eq!(h.metrics.stale_cache_age.get(), 6.0);

    // A failure does not refresh the view's timestamp: the next call tries the RPC again.
    let again = h.cache.get().await.unwrap();
    assert_eq!(again.age, Duration::from_secs(6));
    assert_eq!(h.calls(), 3);

    advance(Duration::from_secs(55)).await;
    let err = h.cache.get().await.unwrap_err();
    assert!(
        matches!(err, CacheError::TooStale { age, .. } if age == Duration::from_secs(61)),
        "{err:?}"
    );
    assert_eq!(h.count("success"), 1);
    assert_eq!(h.count("error_stale"), 2);
    assert_eq!(h.count("error_no_cache"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_successful_fetch_after_an_outage_serves_fresh_and_clears_the_stale_age() {
    let h = harness(CachePolicy::default(), &[ok(1), Step::Fail, ok(2)]);
    h.cache.get().await.unwrap();
    advance(Duration::from_secs(10)).await;
    assert!(h.cache.get().await.unwrap().stale.is_some());
    assert_eq!(h.metrics.stale_cache_age.get(), 10.0);
    let fresh = h.cache.get().await.unwrap();
    assert_eq!(fresh.view.slot, 2);
    assert!(fresh.stale.is_none());
    assert_eq!(h.metrics.stale_cache_age.get(), 0.0);
}

#[tokio::test(start_paused = true)]
async fn the_ttl_bounds_how_long_a_view_is_served_without_io() {
    let h = harness(CachePolicy::default(), &[ok(1), ok(2)]);
    h.cache.get().await.unwrap();
    advance(Duration::from_millis(4_999)).await;
    let cached = h.cache.get().await.unwrap();
    assert_eq!((cached.view.slot, h.calls()), (1, 1));
    assert_eq!(cached.age, Duration::from_millis(4_999));
    advance(Duration::from_millis(1)).await;
    assert_eq!(h.cache.get().await.unwrap().view.slot, 2);
    assert_eq!(h.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_caller_at_rest_takes_the_view_up_to_the_ttl_at_rest_and_any_other_caller_the_ttl() {
    let h = harness(CachePolicy::default(), &[ok(1), ok(2), ok(3)]);
    h.cache.get().await.unwrap();
    advance(Duration::from_secs(30)).await;
    let at_rest = h.cache.get_at_rest().await.unwrap();
    assert_eq!(
        (at_rest.view.slot, h.calls()),
        (1, 1),
        "within 60 s, no I/O"
    );
    assert_eq!(at_rest.age, Duration::from_secs(30));
    assert_eq!(
        h.cache.get().await.unwrap().view.slot,
        2,
        "a caller that is not at rest never takes a view past the 5 s TTL"
    );
    advance(Duration::from_secs(60)).await;
    assert_eq!(h.cache.get_at_rest().await.unwrap().view.slot, 3);
    assert_eq!(h.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_ttl_at_rest_shorter_than_the_ttl_is_the_ttl() {
    let policy = CachePolicy {
        ttl_at_rest: Duration::from_secs(1),
        ..CachePolicy::default()
    };
    let h = harness(policy, &[ok(1), ok(2)]);
    h.cache.get_at_rest().await.unwrap();
    advance(Duration::from_secs(4)).await;
    assert_eq!(h.cache.get_at_rest().await.unwrap().view.slot, 1);
    assert_eq!(h.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_error_without_a_cache_is_returned_and_counted() {
    let h = harness(CachePolicy::default(), &[Step::Fail]);
    assert!(matches!(
        h.cache.get().await.unwrap_err(),
        CacheError::Fetch(_)
    ));
    assert_eq!(h.count("error_no_cache"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_source_that_panics_fails_its_waiters_and_the_next_call_fetches_again() {
    let h = harness(CachePolicy::default(), &[Step::Panic, ok(3)]);
    assert!(matches!(
        h.cache.get().await.unwrap_err(),
        CacheError::Aborted
    ));
    assert_eq!(h.cache.get().await.unwrap().view.slot, 3);
    assert_eq!(h.calls(), 2);
}

//! Backoff with jitter, the one helper the crate uses for every retry: the wait doubles per
//! failure from a first delay up to a cap, and is spread uniformly into `[d/2, d]` so many
//! switches retrying one endpoint do not retry in step.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The doubling wait after `failures` failures in a row (1: `first`), capped at `max`, before
/// jitter.
pub fn doubling(failures: u32, first: Duration, max: Duration) -> Duration {
    first
        .saturating_mul(1 << failures.saturating_sub(1).min(30))
        .min(max)
}

/// A uniformly spread wait in `[d/2, d]`. The seed comes from std's per-process random hasher
/// keys, which is plenty for de-synchronising retries and needs no extra crate.
pub fn jitter(d: Duration) -> Duration {
    let half = d / 2;
    let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
    if span == 0 {
        return d;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(span);
    half + Duration::from_nanos(h.finish() % (span + 1))
}

/// A run of failures and the jittered wait after each.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            failures: 0,
        }
    }

    /// Counts a failure and returns the wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        jitter(doubling(self.failures, self.first, self.max))
    }

    /// A success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_within_its_jitter_and_stops_at_the_cap() {
        let (first, max) = (Duration::from_millis(500), Duration::from_secs(10));
        let mut backoff = Backoff::new(first, max);
        for failures in 1..=40u32 {
            let d = doubling(failures, first, max);
            let got = backoff.next_delay();
            assert!(got >= d / 2 && got <= d, "{failures}: {got:?}");
        }
        assert_eq!(doubling(40, first, max), max);
        assert_eq!(doubling(u32::MAX, first, Duration::MAX), first * (1 << 30));
        backoff.reset();
        assert!(backoff.next_delay() <= first);
    }

    #[test]
    fn jitter_stays_within_half_to_full_wait() {
        for ms in [1, 7, 500, 10_000] {
            let d = Duration::from_millis(ms);
            let j = jitter(d);
            assert!(j >= d / 2 && j <= d, "{d:?} -> {j:?}");
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}

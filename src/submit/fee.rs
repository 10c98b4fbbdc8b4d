//! The fee guard: the payer's balance, read now and then, decides whether updates that only
//! restate the chain (refreshes, seeds) are still worth a fee. Changes always go out.
//!
//! Pure state; the outbox reads the balance and hands it in, so the rule is testable without a
//! ledger. Crossing the floor is reported once per crossing, not once per dropped update.

use std::time::Duration;

use tokio::time::Instant;

use super::UpdateReason;

pub(crate) struct FeeGuard {
    floor: u64,
    refresh: Duration,
    /// The last balance read and when; `None` until the first read succeeds.
    last: Option<(u64, Instant)>,
}

impl FeeGuard {
    pub(crate) fn new(floor: u64, refresh: Duration) -> Self {
        FeeGuard {
            floor,
            refresh,
            last: None,
        }
    }

    /// Whether the balance should be read again before deciding.
    pub(crate) fn is_stale(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|(_, at)| now.duration_since(at) >= self.refresh)
    }

    /// Records a balance read; `Some(below)` when it crossed the floor (either way).
    pub(crate) fn record(&mut self, balance: u64, now: Instant) -> Option<bool> {
        let was_below = self.is_below();
        self.last = Some((balance, now));
        (was_below != self.is_below()).then(|| self.is_below())
    }

    /// Whether an update of this kind may be sent. An unknown balance admits everything: a
    /// failed read is no evidence of poverty, and the chain refuses an unfunded fee anyway.
    pub(crate) fn admits(&self, reason: UpdateReason) -> bool {
        reason == UpdateReason::Change || !self.is_below()
    }

    /// Why a non-change update was dropped, for its outcome.
    pub(crate) fn why_dropped(&self) -> String {
        let balance = self.last.map_or(0, |(b, _)| b);
        format!(
            "payer balance {balance} lamports is below the fee floor of {} lamports",
            self.floor
        )
    }

    fn is_below(&self) -> bool {
        self.last.is_some_and(|(b, _)| b < self.floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_floor_only_changes_pass() {
        let now = Instant::now();
        let mut guard = FeeGuard::new(1_000, Duration::from_secs(60));
        assert!(
            guard.admits(UpdateReason::Refresh),
            "unknown balance admits"
        );
        assert_eq!(guard.record(999, now), Some(true), "crossed below");
        assert!(guard.admits(UpdateReason::Change));
        assert!(!guard.admits(UpdateReason::Refresh));
        assert_eq!(guard.record(998, now), None, "still below: said once");
        assert_eq!(guard.record(1_000, now), Some(false), "back above");
        assert!(guard.admits(UpdateReason::Refresh));
    }

    #[test]
    fn balance_is_read_again_after_the_refresh_interval() {
        let now = Instant::now();
        let mut guard = FeeGuard::new(1, Duration::from_secs(60));
        assert!(guard.is_stale(now));
        guard.record(5, now);
        assert!(!guard.is_stale(now + Duration::from_secs(59)));
        assert!(guard.is_stale(now + Duration::from_secs(60)));
    }

    #[test]
    fn a_zero_floor_admits_everything() {
        let mut guard = FeeGuard::new(0, Duration::from_secs(60));
        guard.record(0, Instant::now());
        assert!(guard.admits(UpdateReason::Refresh));
    }
}

//! Flap dampening for one user, in the manner of BGP route-flap dampening (RFC 2439).
//!
//! Each Up/Down transition adds a fixed penalty; the penalty decays exponentially with a
//! half-life. Above the suppress threshold the user's writes pause; they resume once the penalty
//! has decayed below the reuse threshold. The penalty is capped so that no user stays suppressed
//! longer than `max_suppress`, whatever it did before.

use std::time::Duration;

use tokio::time::Instant;

/// Dampening thresholds. The defaults let one clean transition through at once (one penalty is
/// below the suppress threshold) and suppress a session that flaps three times in a few minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DampeningPolicy {
    pub enabled: bool,
    pub penalty: f64,
    pub suppress: f64,
    pub reuse: f64,
    pub half_life: Duration,
    pub max_suppress: Duration,
}

impl Default for DampeningPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            penalty: 1000.0,
            suppress: 2500.0,
            reuse: 750.0,
            half_life: Duration::from_secs(15 * 60),
            max_suppress: Duration::from_secs(60 * 60),
        }
    }
}

impl DampeningPolicy {
    /// The penalty from which decay reaches `reuse` in exactly `max_suppress`.
    fn ceiling(&self) -> f64 {
        self.reuse * 2f64.powf(self.max_suppress.as_secs_f64() / self.half_life.as_secs_f64())
    }

    fn decayed(&self, penalty: f64, elapsed: Duration) -> f64 {
        if self.half_life.is_zero() {
            return 0.0;
        }
        penalty * 0.5f64.powf(elapsed.as_secs_f64() / self.half_life.as_secs_f64())
    }
}

/// One user's flap history.
#[derive(Debug, Clone, PartialEq)]
pub struct Flaps {
    penalty: f64,
    at: Instant,
    suppressed: bool,
    /// Transitions seen since the entry was created.
    pub transitions: u64,
}

impl Flaps {
    pub fn new(now: Instant) -> Self {
        Self {
            penalty: 0.0,
            at: now,
            suppressed: false,
            transitions: 0,
        }
    }

    /// The penalty now, after decay.
    pub fn penalty(&self, policy: &DampeningPolicy, now: Instant) -> f64 {
        policy.decayed(self.penalty, now.saturating_duration_since(self.at))
    }

    /// Records one Up/Down transition.
    pub fn transition(&mut self, policy: &DampeningPolicy, now: Instant) {
        self.transitions += 1;
        if !policy.enabled {
            return;
        }
        self.penalty = (self.penalty(policy, now) + policy.penalty).min(policy.ceiling());
        self.at = now;
        if self.penalty > policy.suppress {
            self.suppressed = true;
        }
    }

    /// Whether writes are paused now; releases the suppression once the penalty has decayed
    /// below the reuse threshold.
    pub fn is_suppressed(&mut self, policy: &DampeningPolicy, now: Instant) -> bool {
        if self.suppressed && (!policy.enabled || self.penalty(policy, now) < policy.reuse) {
            self.suppressed = false;
        }
        self.suppressed
    }

    /// When a suppressed user will be released if it stays quiet.
    pub fn release_at(&self, policy: &DampeningPolicy, now: Instant) -> Option<Instant> {
        if !self.suppressed {
            return None;
        }
        let penalty = self.penalty(policy, now);
        let halvings = (penalty / policy.reuse).log2().max(0.0);
        Some(now + policy.half_life.mul_f64(halvings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_clean_transition_is_never_suppressed() {
        let policy = DampeningPolicy::default();
        let now = Instant::now();
        let mut flaps = Flaps::new(now);
        flaps.transition(&policy, now);
        assert!(!flaps.is_suppressed(&policy, now));
    }

    #[test]
    fn three_quick_transitions_suppress_until_the_penalty_decays_below_reuse() {
        let policy = DampeningPolicy::default();
        let start = Instant::now();
        let mut flaps = Flaps::new(start);
        for i in 0..3 {
            flaps.transition(&policy, start + Duration::from_secs(i * 10));
        }
        let t = start + Duration::from_secs(20);
        assert!(flaps.is_suppressed(&policy, t));
        let release = flaps.release_at(&policy, t).unwrap();
        // ~2970 → 750 takes log2(3.96) ≈ 1.99 half-lives.
        let wait = release - t;
        assert!(wait > Duration::from_secs(29 * 60) && wait < Duration::from_secs(31 * 60));
        assert!(flaps.is_suppressed(&policy, release - Duration::from_secs(5)));
        assert!(!flaps.is_suppressed(&policy, release + Duration::from_secs(5)));
    }

    #[test]
    fn no_history_keeps_a_user_suppressed_past_the_maximum() {
        let policy = DampeningPolicy::default();
        let start = Instant::now();
        let mut flaps = Flaps::new(start);
        for i in 0..500 {
            flaps.transition(&policy, start + Duration::from_secs(i));
        }
        let last = start + Duration::from_secs(499);
        assert!(flaps.is_suppressed(&policy, last));
        assert!(!flaps.is_suppressed(&policy, last + policy.max_suppress + Duration::from_secs(1)));
    }

    #[test]
    fn disabled_dampening_never_suppresses_but_counts() {
        let policy = DampeningPolicy {
            enabled: false,
            ..DampeningPolicy::default()
        };
        let now = Instant::now();
        let mut flaps = Flaps::new(now);
        for _ in 0..10 {
            flaps.transition(&policy, now);
        }
        assert!(!flaps.is_suppressed(&policy, now));
        assert_eq!(flaps.transitions, 10);
    }
}

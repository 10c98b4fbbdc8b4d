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
    /// `max_suppress` in half-lives.
    fn max_halvings(&self) -> f64 {
        self.max_suppress.as_secs_f64() / self.half_life.as_secs_f64()
    }

    /// The penalty from which decay reaches `reuse` in exactly `max_suppress`, as a power of
    /// two: in log space so that many half-lives (a short half-life, a long maximum) make no
    /// infinity.
    fn ceiling_log2(&self) -> f64 {
        self.reuse.log2() + self.max_halvings()
    }

    fn decayed(&self, penalty: f64, elapsed: Duration) -> f64 {
        if self.half_life.is_zero() {
            return 0.0;
        }
        penalty * 0.5f64.powf(elapsed.as_secs_f64() / self.half_life.as_secs_f64())
    }

    /// What the thresholds imply, checked once with the configuration: every number is an
    /// ordinary positive one, `reuse < suppress`, and the penalty cap that `max_suppress`
    /// implies lets a flapping user reach `suppress` at all.
    pub fn check(&self) -> Result<(), String> {
        let normal = |x: f64| x.is_normal() && x > 0.0;
        if !(normal(self.penalty) && normal(self.suppress) && normal(self.reuse)) {
            return Err(format!(
                "need finite positive numbers (not tiny or infinite): penalty {}, suppress {}, \
                 reuse {}",
                self.penalty, self.suppress, self.reuse
            ));
        }
        if self.reuse >= self.suppress {
            return Err(format!(
                "reuse {} must be below suppress {}",
                self.reuse, self.suppress
            ));
        }
        if self.half_life.is_zero() || self.max_suppress.is_zero() {
            return Err("half-life and max-suppress must be more than 0".into());
        }
        if self.suppress.log2() >= self.ceiling_log2() {
            return Err(format!(
                "suppress {} can never be reached: max-suppress {:?} is {:.2} half-lives of \
                 {:?}, which caps the penalty at reuse x 2^{:.2} = {:.1}",
                self.suppress,
                self.max_suppress,
                self.max_halvings(),
                self.half_life,
                self.max_halvings(),
                2f64.powf(self.ceiling_log2())
            ));
        }
        Ok(())
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
        let penalty = self.penalty(policy, now) + policy.penalty;
        let ceiling = policy.ceiling_log2();
        // Only a cap below the penalty is applied, and such a cap is a finite power of two.
        self.penalty = if penalty.log2() > ceiling {
            2f64.powf(ceiling)
        } else {
            penalty
        };
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
        // In log space, and never more than `max_suppress`: NaN and infinities (a zero
        // penalty, odd thresholds) fall to 0 or to the maximum instead of panicking.
        let halvings = (self.penalty(policy, now).log2() - policy.reuse.log2())
            .max(0.0)
            .min(policy.max_halvings());
        let wait = Duration::try_from_secs_f64(policy.half_life.as_secs_f64() * halvings)
            .map_or(policy.max_suppress, |wait| wait.min(policy.max_suppress));
        Some(now + wait)
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
    fn the_defaults_pass_the_check_and_unreachable_or_tiny_thresholds_do_not() {
        let policy = DampeningPolicy::default();
        assert_eq!(policy.check(), Ok(()));
        let tiny = DampeningPolicy {
            half_life: Duration::from_secs(1),
            suppress: 1.0,
            reuse: 1e-320,
            ..policy
        };
        assert!(tiny.check().unwrap_err().contains("tiny"));
        let unreachable = DampeningPolicy {
            max_suppress: Duration::from_secs(60),
            ..policy
        };
        let why = unreachable.check().unwrap_err();
        assert!(why.contains("can never be reached"), "{why}");
    }

    #[test]
    fn thresholds_that_fail_the_check_still_never_panic() {
        // Half-life 1s, suppress 1, reuse 1e-320 once made `Duration::mul_f64` panic.
        let start = Instant::now();
        for policy in [
            DampeningPolicy {
                half_life: Duration::from_secs(1),
                suppress: 1.0,
                reuse: 1e-320,
                ..DampeningPolicy::default()
            },
            DampeningPolicy {
                half_life: Duration::from_nanos(1),
                max_suppress: Duration::from_secs(u64::MAX / 4),
                penalty: f64::MAX,
                suppress: 1.0,
                reuse: f64::MIN_POSITIVE,
                ..DampeningPolicy::default()
            },
            DampeningPolicy {
                half_life: Duration::ZERO,
                max_suppress: Duration::ZERO,
                ..DampeningPolicy::default()
            },
        ] {
            let mut flaps = Flaps::new(start);
            for i in 0..4 {
                let now = start + Duration::from_secs(i);
                flaps.transition(&policy, now);
                flaps.is_suppressed(&policy, now);
                if let Some(release) = flaps.release_at(&policy, now) {
                    assert!(release <= now + policy.max_suppress, "{policy:?}");
                }
            }
        }
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

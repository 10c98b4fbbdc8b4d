//! The poll's clock, on a timerfd rather than tokio's timer. tokio's timer wheel wakes the thread
//! at the start of the wheel slot that holds a deadline and then again at the deadline, so a 1 s
//! interval cost two or three wake-ups a tick where one does; at rest, with 1,000 users, the
//! wake-ups were about a fifth of the agent's CPU. A timerfd wakes it once, at the deadline.
//! Should the timerfd fail, tokio's timer serves.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// A tick later than this is late: the next one is a period after it, not after the deadline
/// (tokio's `MissedTickBehavior::Delay`, with its tolerance).
const LATE: Duration = Duration::from_millis(5);

/// Ticks every period; a late tick delays the ones after it.
pub(super) struct Ticker {
    period: Duration,
    next: Instant,
    timer: Option<AsyncFd<Timer>>,
}

struct Timer(TimerFd);

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Ticker {
    /// Ticks every `period`, the first at `start` (at once, if that has passed).
    pub(super) fn new(period: Duration, start: Instant) -> Self {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .ok()
        .and_then(|fd| {
            // Deprecated because an `AsRawFd` may close or swap its descriptor under the
            // reactor; `Timer` owns its descriptor, open and the same until it is dropped with
            // the `AsyncFd` (the safe alternative, `register`, is `unsafe`, which this crate
            // forbids).
            #[allow(deprecated)]
            AsyncFd::new(Timer(fd)).ok()
        });
        Ticker {
            period,
            next: start,
            timer,
        }
    }

    /// The next tick is now.
    pub(super) fn reset_immediately(&mut self) {
        self.next = Instant::now();
    }

    /// Waits for the next tick. Cancel-safe: a tick not waited out stays due.
    pub(super) async fn tick(&mut self) {
        let now = Instant::now();
        if self.next > now {
            self.sleep(self.next - now).await;
        }
        let now = Instant::now();
        self.next = if now > self.next + LATE {
            now + self.period
        } else {
            self.next + self.period
        };
    }

    async fn sleep(&self, wait: Duration) {
        let Some(timer) = &self.timer else {
            return tokio::time::sleep(wait).await;
        };
        // Relative, so the clock is the one `Instant` reads (monotonic) whatever its origin.
        // Setting it again also clears an expiry a cancelled wait left unread.
        let armed = timer.get_ref().0.set(
            Expiration::OneShot(TimeSpec::from_duration(wait)),
            TimerSetTimeFlags::empty(),
        );
        if armed.is_err() {
            return tokio::time::sleep(wait).await;
        }
        loop {
            let Ok(mut ready) = timer.readable().await else {
                return tokio::time::sleep_until(Instant::now() + wait).await;
            };
            // Not yet expired (a readiness left by an earlier, cancelled wait) is WouldBlock,
            // which clears the readiness and waits again.
            if let Ok(expired) =
                ready.try_io(|timer| timer.get_ref().0.wait().map_err(std::io::Error::from))
            {
                if expired.is_err() {
                    tokio::time::sleep(wait).await;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ticks_once_a_period() {
        let period = Duration::from_millis(50);
        let start = Instant::now();
        let mut ticker = Ticker::new(period, start);
        assert!(ticker.timer.is_some(), "a timerfd on Linux");
        for _ in 0..3 {
            ticker.tick().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= period * 2, "{elapsed:?}");
    }

    #[tokio::test]
    async fn a_reset_ticks_at_once() {
        let period = Duration::from_secs(3600);
        let mut ticker = Ticker::new(period, Instant::now());
        ticker.tick().await;
        ticker.reset_immediately();
        let next = tokio::time::timeout(Duration::from_secs(30), ticker.tick()).await;
        assert!(next.is_ok(), "the tick after a reset waited for the period");
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_the_tick_due() {
        let period = Duration::from_millis(400);
        let start = Instant::now();
        let mut ticker = Ticker::new(period, start + period);
        // Cancelled before the deadline: the tick stays due at its time, not a period later.
        let cancelled = tokio::time::timeout(Duration::from_millis(10), ticker.tick()).await;
        assert!(cancelled.is_err());
        ticker.tick().await;
        let elapsed = start.elapsed();
        assert!(elapsed >= period && elapsed < period * 2, "{elapsed:?}");
    }
}

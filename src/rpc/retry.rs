//! The retry policy for read calls, the same as the Go agent's JSON-RPC wrapper.
//!
//! Up to 4 attempts; before attempt `n` wait 500 ms·(n−1), capped at 5 s and jittered into
//! `[d/2, d]` so many switches do not retry in step; an HTTP 429 `Retry-After` replaces the
//! computed wait (capped at 120 s like `solana-rpc-client`). Only errors that say
//! [`RpcError::is_retryable`] are retried. `sendTransaction` never goes through here: the
//! outbox resends the same signed bytes on its own schedule. Sleeping uses `tokio::time`, so
//! tests run it with a paused clock.

use std::future::Future;
use std::time::Duration;

use super::error::RpcError;
use crate::backoff::jitter;

/// How often and how patiently to retry a read call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first; 1 disables retries.
    pub max_attempts: u32,
    /// The wait before the second attempt; grows linearly after that.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one gives up instead of stalling the caller.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The un-jittered wait before `attempt` (1-based; attempt 1 does not wait).
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.base_backoff
            .saturating_mul(attempt.saturating_sub(1))
            .min(self.max_backoff)
    }

    /// Runs `call` until it succeeds, fails for good, or runs out of attempts; returns the
    /// last error.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, RpcError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RpcError>>,
    {
        let mut attempt = 1;
        loop {
            let err = match call().await {
                Ok(v) => return Ok(v),
                Err(err) => err,
            };
            if !err.is_retryable() || attempt >= self.max_attempts {
                return Err(err);
            }
            attempt += 1;
            let wait = match err.retry_after() {
                Some(asked) if asked > self.max_retry_after => return Err(err),
                Some(asked) => asked,
                None => jitter(self.backoff(attempt)),
            };
            tracing::debug!(error = %err, attempt, ?wait, "retrying RPC call");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::error::TransportKind;
    use std::cell::Cell;
    use tokio::time::Instant;

    fn transient() -> RpcError {
        RpcError::Transport {
            method: "getSlot",
            kind: TransportKind::Timeout,
            message: "timed out".into(),
        }
    }

    #[test]
    fn backoff_grows_linearly_and_caps_at_five_seconds() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::ZERO);
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(4), Duration::from_millis(1500));
        assert_eq!(p.backoff(100), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_four_times_with_backoff() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let res: Result<(), _> = RetryPolicy::default()
            .run(|| {
                calls.set(calls.get() + 1);
                async { Err(transient()) }
            })
            .await;
        assert!(res.is_err());
        assert_eq!(calls.get(), 4);
        // Waits of 500, 1000 and 1500 ms, each jittered into [d/2, d].
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(1500) && waited <= Duration::from_millis(3000));
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_errors_are_returned_at_once() {
        let calls = Cell::new(0);
        let res: Result<(), _> = RetryPolicy::default()
            .run(|| {
                calls.set(calls.get() + 1);
                async {
                    Err(RpcError::from_json_rpc(
                        "getSlot",
                        -32602,
                        "bad".into(),
                        None,
                    ))
                }
            })
            .await;
        assert!(res.is_err());
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_replaces_the_backoff() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let res = RetryPolicy::default()
            .run(|| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n == 1 {
                        Err(RpcError::Http {
                            method: "getSlot",
                            status: 429,
                            retry_after: Some(Duration::from_secs(10)),
                        })
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(res.unwrap(), 2);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_beyond_the_limit_gives_up() {
        let calls = Cell::new(0);
        let res: Result<(), _> = RetryPolicy::default()
            .run(|| {
                calls.set(calls.get() + 1);
                async {
                    Err(RpcError::Http {
                        method: "getSlot",
                        status: 429,
                        retry_after: Some(Duration::from_secs(600)),
                    })
                }
            })
            .await;
        assert_eq!(
            res.unwrap_err().retry_after(),
            Some(Duration::from_secs(600))
        );
        assert_eq!(calls.get(), 1);
    }
}

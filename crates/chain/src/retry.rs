//! Retrying what can be retried: transient transport failures (a node restarting,
//! a dropped connection, rate limits) with exponential backoff. Reverts and bad
//! arguments are never retried.

use crate::ChainError;
use std::future::Future;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled each time.
    pub initial: Duration,
    /// Longest delay between attempts.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 6, initial: Duration::from_millis(200), max: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy { attempts: 1, initial: Duration::ZERO, max: Duration::ZERO }
    }

    /// The delay before retry number `n` (0-based).
    pub fn delay(&self, n: u32) -> Duration {
        self.initial.saturating_mul(1u32 << n.min(16)).min(self.max)
    }
}

/// Runs `op` until it succeeds, fails with an error that is not transient, or runs
/// out of attempts. `what` names the operation in logs.
pub async fn with_retry<T, F, Fut>(policy: RetryPolicy, what: &str, mut op: F) -> Result<T, ChainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ChainError>>,
{
    let mut n = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && n + 1 < policy.attempts => {
                let delay = policy.delay(n);
                tracing::warn!(operation = what, attempt = n + 1, error = %e, ?delay, "transient chain error, retrying");
                tokio::time::sleep(delay).await;
                n += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast(attempts: u32) -> RetryPolicy {
        RetryPolicy { attempts, initial: Duration::from_millis(1), max: Duration::from_millis(2) }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let v = with_retry(fast(5), "t", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(ChainError::Unavailable("down".into()))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!((v, calls.load(Ordering::SeqCst)), (7, 4));
    }

    #[tokio::test]
    async fn reverts_are_not_retried_and_attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let e = with_retry(fast(5), "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ChainError::Reverted { call: "post".into(), reason: "RequestNotOpen()".into() })
        })
        .await
        .unwrap_err();
        assert!(matches!(e, ChainError::Reverted { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let calls = AtomicU32::new(0);
        with_retry(fast(3), "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ChainError::Unavailable("down".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy { attempts: 9, initial: Duration::from_millis(100), max: Duration::from_millis(500) };
        assert_eq!([0, 1, 2, 3].map(|n| p.delay(n).as_millis()), [100, 200, 400, 500]);
    }
}

//! Exponential backoff with full jitter.

use broker::config::RetryPolicy;
use std::time::Duration;

/// The wait before retry number `retry` (1-based): uniformly random in
/// `[0, min(max, base * 2^(retry-1))]`, but at least the upstream's `retry-after`.
pub fn delay(policy: &RetryPolicy, retry: u32, retry_after: Option<Duration>) -> Duration {
    let cap = policy
        .base_ms
        .saturating_mul(1u64 << retry.saturating_sub(1).min(30))
        .min(policy.max_ms);
    let jitter = Duration::from_millis(if cap == 0 {
        0
    } else {
        rand::random_range(0..=cap)
    });
    match retry_after {
        Some(ra) => ra.max(jitter.min(ra)),
        None => jitter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_the_cap_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_ms: 100,
            max_ms: 1000,
        };
        for _ in 0..200 {
            assert!(delay(&p, 1, None) <= Duration::from_millis(100));
            assert!(delay(&p, 3, None) <= Duration::from_millis(400));
            assert!(delay(&p, 10, None) <= Duration::from_millis(1000));
            assert_eq!(
                delay(&p, 1, Some(Duration::from_secs(2))),
                Duration::from_secs(2)
            );
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| delay(&p, 4, None)).collect();
        assert!(spread.len() > 10, "jitter spreads the delays");
    }
}

//! How long to wait before trying again: capped exponential backoff with jitter,
//! so that concurrent runners spread out. Pure but for the jitter's seed.

use std::time::{Duration, Instant};

/// 100 ms doubling per attempt, capped at 5 s, scaled by `jitter` in [0.5, 1).
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    base.min(Duration::from_secs(5)).mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in [0, 1) that differs between calls and processes, enough to spread
/// retries of concurrent runners; no cryptographic quality needed.
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let full = |attempt| backoff(attempt, 1.0);
        assert_eq!(full(1), Duration::from_millis(100));
        assert_eq!(full(2), Duration::from_millis(200));
        assert_eq!(full(5), Duration::from_millis(1600));
        assert_eq!(full(7), Duration::from_secs(5));
        assert_eq!(full(100), Duration::from_secs(5));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(100), "jitter halves at most");
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let value = jitter();
            assert!((0.0..1.0).contains(&value));
        }
    }
}

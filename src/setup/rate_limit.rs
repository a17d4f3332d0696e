//! Failed setup-token attempts per client: after `MAX_FAILURES` within a window,
//! the client is refused (429) until the window ends. Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Beyond this many tracked clients, expired entries are pruned.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub struct FailureLimiter {
    clients: HashMap<IpAddr, Window>,
    last_prune: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl FailureLimiter {
    /// `Err(retry_after)` while the client is blocked.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.clients.get(&client) {
            Some(window) if window.failures >= MAX_FAILURES && now < window.started + WINDOW => {
                Err(window.started + WINDOW - now)
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&mut self, client: IpAddr, now: Instant) {
        // Pruning walks the whole map: at most once a second, however many clients fail.
        let due = self.last_prune.is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1));
        if self.clients.len() > PRUNE_ABOVE && due {
            self.clients.retain(|_, window| now < window.started + WINDOW);
            self.last_prune = Some(now);
        }
        let window = self.clients.entry(client).or_insert(Window { started: now, failures: 0 });
        if now >= window.started + WINDOW {
            *window = Window { started: now, failures: 0 };
        }
        window.failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_blocked_after_five_failures_until_the_window_ends() {
        let mut limiter = FailureLimiter::default();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        let start = Instant::now();
        for attempt in 0..MAX_FAILURES {
            assert_eq!(limiter.check(client, start), Ok(()), "attempt {attempt}");
            limiter.record_failure(client, start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(limiter.check(client, later), Err(Duration::from_secs(40)));
        assert_eq!(limiter.check(other, later), Ok(()), "other clients are not affected");
        assert_eq!(limiter.check(client, start + WINDOW), Ok(()), "the block ends with the window");
        limiter.record_failure(client, start + WINDOW);
        assert_eq!(limiter.check(client, start + WINDOW), Ok(()), "a new window starts counting afresh");
    }
}

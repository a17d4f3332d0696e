//! Failed setup-token attempts per client: after `MAX_FAILURES` within a window,
//! the client is refused (429) until the window ends. Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Beyond this many tracked clients, expired entries are pruned (and the memory returned).
const PRUNE_ABOVE: usize = 1_000;
/// The most clients tracked at once: past it, the oldest window makes room, so
/// however many addresses fail, the map stays small.
pub const MAX_TRACKED: usize = 10_000;

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
            self.clients.shrink_to(self.clients.len() * 2);
            self.last_prune = Some(now);
        }
        if self.clients.len() >= MAX_TRACKED && !self.clients.contains_key(&client) {
            // Full: forget the clients that are not blocked (amortised: the map refills
            // before this runs again), then, if all are, the oldest block.
            self.clients.retain(|_, window| window.failures >= MAX_FAILURES && now < window.started + WINDOW);
            if self.clients.len() >= MAX_TRACKED {
                let oldest = self.clients.iter().min_by_key(|(_, window)| window.started).map(|(address, _)| *address);
                if let Some(oldest) = oldest {
                    self.clients.remove(&oldest);
                }
            }
        }
        let window = self.clients.entry(client).or_insert(Window { started: now, failures: 0 });
        if now >= window.started + WINDOW {
            *window = Window { started: now, failures: 0 };
        }
        window.failures += 1;
    }
}

impl FailureLimiter {
    /// How many clients are tracked.
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_addresses_is_capped_and_expires() {
        let mut limiter = FailureLimiter::default();
        let start = Instant::now();
        for i in 0..50_000u32 {
            limiter.record_failure(IpAddr::from(i.to_be_bytes()), start + Duration::from_millis(u64::from(i)));
        }
        assert!(limiter.tracked() <= MAX_TRACKED, "{} tracked", limiter.tracked());
        let much_later = start + Duration::from_secs(3600);
        limiter.record_failure("203.0.113.1".parse().unwrap(), much_later);
        assert_eq!(limiter.tracked(), 1, "expired windows are dropped");
    }

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

//! What `GET /api/setup/status` answers without asking the database every time.
//! Once a platform admin exists, setup is done for good (the server never reopens
//! it: restart it after deleting the admin); until then the database is asked at
//! most once per `FRESH_FOR`. The first-run transaction stays the authority.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long "setup still needed" is believed without asking again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct SetupStatusCache {
    known: Mutex<Known>,
}

#[derive(Debug, Default, Clone, Copy)]
enum Known {
    #[default]
    Unknown,
    NeedsSetup {
        checked: Instant,
    },
    Done,
}

impl SetupStatusCache {
    /// `Some(needs_setup)` when the cached answer still holds.
    pub fn answer(&self, now: Instant) -> Option<bool> {
        match *self.known.lock().expect("the status lock is never poisoned") {
            Known::Done => Some(false),
            Known::NeedsSetup { checked } if now.duration_since(checked) < FRESH_FOR => Some(true),
            _ => None,
        }
    }

    pub fn record(&self, needs_setup: bool, now: Instant) {
        let mut known = self.known.lock().expect("the status lock is never poisoned");
        if matches!(*known, Known::Done) {
            return;
        }
        *known = if needs_setup { Known::NeedsSetup { checked: now } } else { Known::Done };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_is_rechecked_after_a_second_and_done_is_final() {
        let cache = SetupStatusCache::default();
        let start = Instant::now();
        assert_eq!(cache.answer(start), None);
        cache.record(true, start);
        assert_eq!(cache.answer(start + Duration::from_millis(500)), Some(true));
        assert_eq!(cache.answer(start + FRESH_FOR), None, "stale: ask the database again");
        cache.record(false, start + FRESH_FOR);
        assert_eq!(cache.answer(start + Duration::from_secs(3600)), Some(false));
        cache.record(true, start + Duration::from_secs(3600));
        assert_eq!(cache.answer(start + Duration::from_secs(3600)), Some(false), "done never reopens");
    }
}

//! Device work in flight: each piece of work registers when it starts and leaves when it ends,
//! so the worker's stall watchdog can ask how long the oldest unfinished piece has been running
//! (waiting for the device included, as a kernel queued behind a hung one waits).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The unfinished pieces of device work, by start time.
#[derive(Debug, Default)]
pub struct Activity {
    next: AtomicU64,
    started: Mutex<BTreeMap<u64, Instant>>,
}

/// One piece of work in flight; it leaves the [`Activity`] when dropped.
#[derive(Debug)]
pub struct Work {
    activity: Arc<Activity>,
    id: u64,
}

impl Activity {
    /// Registers a piece of work starting now.
    pub fn begin(self: &Arc<Self>) -> Work {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.started().insert(id, Instant::now());
        Work {
            activity: self.clone(),
            id,
        }
    }

    /// How long the oldest unfinished piece has been running; `None` when the device is idle.
    pub fn oldest(&self) -> Option<Duration> {
        self.started().values().min().map(|t| t.elapsed())
    }

    fn started(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Instant>> {
        self.started.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        self.activity.started().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_unfinished_work_is_reported_until_it_ends() {
        let activity = Arc::new(Activity::default());
        assert_eq!(activity.oldest(), None);
        let first = activity.begin();
        std::thread::sleep(Duration::from_millis(30));
        let second = activity.begin();
        assert!(activity.oldest().unwrap() >= Duration::from_millis(30));
        drop(first);
        assert!(activity.oldest().unwrap() < Duration::from_millis(30));
        drop(second);
        assert_eq!(activity.oldest(), None);
    }
}

//! The run ids of the stacks alive now, for the interrupt handler.
//!
//! Usually one; two while the next iteration's stack comes up beside the
//! teardown of the last one. An interrupt removes all of them.

use std::sync::{Arc, Mutex, MutexGuard};

/// A shared list of the run ids whose stacks exist now.
#[derive(Debug, Clone, Default)]
pub struct LiveRuns(Arc<Mutex<Vec<String>>>);

impl LiveRuns {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names `run_id` as alive (before its first object is made).
    pub fn add(&self, run_id: &str) {
        let mut runs = self.lock();
        if !runs.iter().any(|r| r == run_id) {
            runs.push(run_id.to_string());
        }
    }

    /// `run_id` is gone (removed, or kept for a person on purpose).
    pub fn remove(&self, run_id: &str) {
        self.lock().retain(|r| r != run_id);
    }

    /// Empties the list and returns what it held, oldest first.
    pub fn take_all(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock())
    }

    /// The run ids alive now, oldest first (for the tests).
    #[cfg(test)]
    fn snapshot(&self) -> Vec<String> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_each_run_once_until_removed_or_taken() {
        let live = LiveRuns::new();
        live.add("tk-a");
        live.add("tk-b");
        live.add("tk-a");
        assert_eq!(live.snapshot(), ["tk-a", "tk-b"]);
        live.remove("tk-a");
        assert_eq!(live.snapshot(), ["tk-b"]);
        let shared = live.clone();
        shared.add("tk-c");
        assert_eq!(live.take_all(), ["tk-b", "tk-c"]);
        assert!(shared.snapshot().is_empty());
    }
}

//! Where `Stack::up` spends its time: consecutive named phases, and when each
//! container passed its readiness check. `takeover bench stack` prints them.

use std::time::Instant;

use serde::Serialize;

/// One timed step of `Stack::up`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpPhase {
    /// What was done (`images`, `create containers`, `ready`, ...).
    pub name: String,
    /// How long it took, ms.
    pub ms: f64,
}

/// The phases of one `Stack::up`, in order; they add up to `total_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpTimings {
    /// Consecutive phases.
    pub phases: Vec<UpPhase>,
    /// Per role, when its readiness check first passed, ms from the start of `up`.
    pub ready_at_ms: Vec<(String, f64)>,
    /// The whole `up`, ms.
    pub total_ms: f64,
}

/// Records consecutive phases while `up` runs.
#[derive(Debug)]
pub(crate) struct PhaseTimer {
    started: Instant,
    last: Instant,
    timings: UpTimings,
}

impl PhaseTimer {
    /// Starts timing now.
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            timings: UpTimings::default(),
        }
    }

    /// Ends the current phase, naming it.
    pub(crate) fn mark(&mut self, name: &str) {
        let now = Instant::now();
        self.timings.phases.push(UpPhase {
            name: name.to_string(),
            ms: ms_between(self.last, now),
        });
        self.last = now;
    }

    /// Notes that `role` passed its readiness check at `at`.
    pub(crate) fn ready(&mut self, role: &str, at: Instant) {
        self.timings
            .ready_at_ms
            .push((role.to_string(), ms_between(self.started, at)));
    }

    /// The phases so far, with the total up to now.
    pub(crate) fn finish(mut self) -> UpTimings {
        self.timings.total_ms = ms_between(self.started, Instant::now());
        self.timings
    }
}

fn ms_between(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_consecutive_and_add_up_to_the_total() {
        let mut t = PhaseTimer::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.mark("one");
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.ready("primary", Instant::now());
        t.mark("two");
        let timings = t.finish();
        let names: Vec<&str> = timings.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        let sum: f64 = timings.phases.iter().map(|p| p.ms).sum();
        assert!(timings.phases.iter().all(|p| p.ms >= 2.0));
        assert!(sum <= timings.total_ms + 1e-9);
        assert_eq!(timings.ready_at_ms[0].0, "primary");
        assert!(timings.ready_at_ms[0].1 >= 4.0 && timings.ready_at_ms[0].1 <= timings.total_ms);
    }
}

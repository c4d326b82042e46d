//! The start of an iteration: a fresh stack with its own run id and clock.
//!
//! Kept apart from the drill so that the next iteration's stack can come up
//! while the last one is torn down.

use chrono::{DateTime, Utc};

use super::Plan;
use crate::clock::Clock;
use crate::stack::{Stack, StackError};

/// A stack brought up for one iteration (or the reason it did not come up).
pub struct Launch {
    /// The iteration's run id, which labels everything its stack made.
    pub(super) run_id: String,
    /// The iteration's clock, started when the launch began.
    pub(super) clock: Clock,
    /// When the launch began, for the record.
    pub(super) started_at: DateTime<Utc>,
    /// The stack, or why it did not start.
    pub(super) stack: Result<Stack, StackError>,
    /// On the iteration's clock: when `Stack::up` began and when it returned.
    pub(super) up_ms: (f64, f64),
}

/// Brings up a fresh stack under a new run id, named among the live runs
/// before its first object is made and dropped from them when it failed.
pub async fn launch(plan: &Plan<'_>) -> Launch {
    let clock = Clock::start();
    let started_at = Utc::now();
    let run_id = crate::stack::new_run_id();
    plan.live_runs.add(&run_id);
    let began = clock.now_ms();
    let stack = Stack::up(&plan.loaded.scenario.stack, &run_id, &clock).await;
    let ended = clock.now_ms();
    if stack.is_err() {
        // `Stack::up` removes what it made before it returns an error.
        plan.live_runs.remove(&run_id);
    }
    Launch {
        run_id,
        clock,
        started_at,
        stack,
        up_ms: (began, ended),
    }
}

impl Launch {
    /// Removes a stack that no iteration will use (the run stopped early).
    pub async fn discard(self, plan: &Plan<'_>) {
        if let Ok(stack) = self.stack {
            if let Err(e) = stack.down().await {
                eprintln!(
                    "warning: removing run {} failed ({e}); `takeover clean --run {}` removes it",
                    self.run_id, self.run_id
                );
            }
        }
        plan.live_runs.remove(&self.run_id);
    }
}

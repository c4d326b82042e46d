//! The end of an iteration: the stack goes, unless a person asked to keep
//! a failed one.

use super::record::Recorder;
use super::{lock, Plan};
use crate::report::model::{EventKind, IterationOutcome};
use crate::stack::Stack;

/// Removes the stack (or keeps it, failed, when asked to) and records the
/// `teardown` phase; true when the stack was kept.
pub(super) async fn teardown(
    plan: &Plan<'_>,
    stack: Stack,
    rec: &mut Recorder<'_>,
    outcome: IterationOutcome,
    run_id: &str,
) -> bool {
    let clock = rec.clock;
    let teardown_started = clock.now_ms();
    rec.now(EventKind::TeardownStarted, "removing the stack");
    let mut kept_stack = false;
    if outcome == IterationOutcome::Failed && plan.keep_on_failure {
        kept_stack = true;
        rec.ui.result(&format!(
            "  the stack of run {run_id} is kept for inspection: front door {}; remove it with `takeover clean --run {run_id}`",
            stack.frontdoor_url()
        ));
        // Keep every container: the stack's drop guard must not run. Its
        // objects stay labelled, so `takeover clean` finds them.
        std::mem::forget(stack);
    } else {
        rec.ui.phase("removing the stack");
        if let Err(e) = stack.down().await {
            rec.ui.result(&format!(
                "  warning: removing run {run_id} failed ({e}); `takeover clean --run {run_id}` removes it"
            ));
        }
    }
    *lock(&plan.current_run) = None;
    rec.phases
        .insert("teardown".into(), clock.now_ms() - teardown_started);
    kept_stack
}

//! The end of an iteration: the stack goes, unless a person asked to keep
//! a failed one.

use super::record::Recorder;
use super::Plan;
use crate::report::model::{EventKind, IterationOutcome};
use crate::stack::{DockerEvent, RuntimeKind, Stack};

/// Whether an iteration ending with `outcome` leaves its stack running for a
/// person (a failed one, when asked to).
pub(super) fn keeps_stack(plan: &Plan<'_>, outcome: IterationOutcome) -> bool {
    outcome == IterationOutcome::Failed && plan.keep_on_failure
}

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
    record_cluster_events(&stack, rec);
    let teardown_started = clock.now_ms();
    rec.now(EventKind::TeardownStarted, "removing the stack");
    let mut kept_stack = false;
    if keeps_stack(plan, outcome) {
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
    plan.live_runs.remove(run_id);
    rec.phases
        .insert("teardown".into(), clock.now_ms() - teardown_started);
    kept_stack
}

/// On Kubernetes, puts what the cluster said about the run's pods on the
/// timeline, beside the probes (Docker's and the supervisor's events stay in
/// the stack's own log).
fn record_cluster_events(stack: &Stack, rec: &mut Recorder<'_>) {
    if stack.runtime_kind() != RuntimeKind::Kubernetes {
        return;
    }
    for e in stack.events().snapshot() {
        rec.event(e.at_ms, EventKind::ClusterEvent, cluster_event_detail(&e));
    }
}

/// One line for a cluster event: whose, what, and its facts.
pub(super) fn cluster_event_detail(e: &DockerEvent) -> String {
    let who = e
        .role
        .map(|r| r.as_str().to_string())
        .unwrap_or_else(|| e.actor.clone());
    let mut line = if e.kind == "k8s" {
        format!(
            "{who}: {} ({})",
            e.action,
            e.attr("object").unwrap_or_default()
        )
    } else {
        format!(
            "{who}: pod {} {}",
            e.attr("name").unwrap_or_default(),
            e.action
        )
    };
    for key in ["exitCode", "reason", "restartCount", "message"] {
        if let Some(v) = e.attr(key).filter(|v| !v.is_empty()) {
            line.push_str(&format!(", {key} {v}"));
        }
    }
    line
}

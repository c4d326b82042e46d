//! The scenario's steps, in order, each at its time: faults (injected and
//! witnessed), waits, and runbooks (run with the stack's addresses).

use std::collections::BTreeMap;
use std::time::Duration;

use super::record::Recorder;
use super::Plan;
use crate::clock::Clock;
use crate::fault::FaultSpec;
use crate::report::model::{EventKind, FaultRecord, RunbookRecord};
use crate::run::progress::Ui;
use crate::run::runbook;
use crate::scenario::model::{fault_kind_name, Action, Timing};
use crate::stack::{Role, Stack};
use crate::workload::FollowHandle;

/// Waits for a step's time; false when the job ended first (the step is
/// skipped), or when a progress condition has no job to follow.
async fn wait_for_timing(
    timing: &Timing,
    follower: Option<&FollowHandle>,
    clock: Clock,
    submit_ms: f64,
    prev_end_ms: f64,
    job_deadline_ms: f64,
    ui: &Ui,
) -> bool {
    let sleep_until = |target_ms: f64| async move {
        let left = target_ms - clock.now_ms();
        if left > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(left / 1e3)).await;
        }
    };
    match timing {
        Timing::Next => true,
        Timing::At(d) => {
            sleep_until(submit_ms + d.as_millis_f64()).await;
            true
        }
        Timing::After(d) => {
            sleep_until(prev_end_ms + d.as_millis_f64()).await;
            true
        }
        Timing::When(cond) => {
            // Validation refuses a progress condition without a job.
            let Some(follower) = follower else {
                return false;
            };
            let mut rx = follower.progress.clone();
            loop {
                let p = rx.borrow().clone();
                if let Some(s) = &p.last {
                    ui.job_progress(s.frames_done, s.owner.as_deref().unwrap_or("-"));
                }
                if p.fraction() >= cond.progress.fraction() {
                    return true;
                }
                if p.finished() || clock.now_ms() > job_deadline_ms {
                    return false;
                }
                let _ = tokio::time::timeout(Duration::from_millis(500), rx.changed()).await;
            }
        }
    }
}

/// Runs every step of the scenario, timed from `submit_ms`: the job's
/// submission, or in a front-door drill (no `follower`) the start of the
/// probes. A step whose time never comes, or a disruptive fault after the job
/// ended, makes the iteration inconclusive.
pub(super) async fn run_steps(
    plan: &Plan<'_>,
    stack: &Stack,
    rec: &mut Recorder<'_>,
    follower: Option<&FollowHandle>,
    submit_ms: f64,
) {
    let scenario = &plan.loaded.scenario;
    let clock = rec.clock;
    let job_deadline_ms = submit_ms + scenario.deadlines.job.as_millis_f64();
    let mut prev_end = submit_ms;
    for (i, step) in scenario.steps.iter().enumerate() {
        let reached = wait_for_timing(
            &step.timing,
            follower,
            clock,
            submit_ms,
            prev_end,
            job_deadline_ms,
            rec.ui,
        )
        .await;
        if let Some(s) = follower.and_then(|f| f.progress.borrow().last.clone()) {
            rec.ui
                .job_progress(s.frames_done, s.owner.as_deref().unwrap_or("-"));
        }
        if !reached {
            rec.inconclusive(format!(
                "step {} ({}) never ran: the job ended before its condition held",
                i + 1,
                step.action.label()
            ));
            continue;
        }
        if follower.is_some_and(|f| f.progress.borrow().finished()) {
            if let Action::Fault(f) = &step.action {
                if f.is_disruptive() {
                    rec.inconclusive(format!(
                        "step {} ({}) came after the job had finished: slow the job down with `workload.pace`",
                        i + 1,
                        step.action.label()
                    ));
                }
            }
        }
        rec.now(
            EventKind::StepStarted,
            format!("step {}: {}", i + 1, step.action.label()),
        );
        match &step.action {
            Action::Fault(fault) => run_fault(i, fault, stack, rec, scenario).await,
            Action::Wait(d) => tokio::time::sleep(d.get()).await,
            Action::Runbook(rb) => run_runbook_step(plan, i, rb, stack, rec).await,
        }
        prev_end = clock.now_ms();
    }
}

/// Injects step `i`'s fault and records its effect: witnessed, unavailable,
/// unwitnessed, or not injected at all.
async fn run_fault(
    i: usize,
    fault: &FaultSpec,
    stack: &Stack,
    rec: &mut Recorder<'_>,
    scenario: &crate::scenario::Scenario,
) {
    let clock = rec.clock;
    let kind = fault_kind_name(fault);
    rec.ui.phase(&format!("fault: {kind}"));
    let requested = clock.now_ms();
    let healing = !fault.is_disruptive();
    match crate::fault::inject(stack, fault, &clock, scenario.deadlines.witness.get()).await {
        Ok(effect) => {
            rec.event(
                effect.requested_at_ms,
                EventKind::FaultRequested,
                format!("{} {}", effect.kind, effect.target),
            );
            if let Some(why) = &effect.unavailable {
                rec.event(
                    clock.now_ms(),
                    EventKind::FaultUnavailable,
                    format!("{} {}: {why}", effect.kind, effect.target),
                );
                rec.inconclusive(format!(
                    "step {} ({kind}) cannot be made here: {why}",
                    i + 1
                ));
            } else if crate::fault::reverted_nothing(&effect) {
                // Recorded as what it is: no witness, and no reason to doubt the drill.
                rec.event(
                    clock.now_ms(),
                    EventKind::FaultUnwitnessed,
                    format!(
                        "{} {}: {}",
                        effect.kind,
                        effect.target,
                        crate::fault::NOTHING_TO_REVERT
                    ),
                );
            } else if let Some(at) = effect.in_effect_at_ms {
                rec.event(
                    at,
                    if healing {
                        EventKind::FaultHealed
                    } else {
                        EventKind::FaultInEffect
                    },
                    format!(
                        "{} {}: {}",
                        effect.kind,
                        effect.target,
                        effect.witness.as_deref().unwrap_or("witnessed")
                    ),
                );
            } else {
                rec.event(
                    clock.now_ms(),
                    EventKind::FaultUnwitnessed,
                    format!(
                        "{} {}: no witness within {}",
                        effect.kind, effect.target, scenario.deadlines.witness
                    ),
                );
                rec.inconclusive(format!(
                    "step {} ({kind} {}): no proof that the fault took effect within {}",
                    i + 1,
                    effect.target,
                    scenario.deadlines.witness
                ));
            }
            rec.faults.push(FaultRecord {
                step: i,
                kind: effect.kind,
                target: effect.target.to_string(),
                requested_at_ms: effect.requested_at_ms,
                in_effect_at_ms: effect.in_effect_at_ms,
                witness: effect.witness,
                evidence: effect.evidence,
                unavailable: effect.unavailable,
                error: None,
            });
        }
        Err(e) => {
            rec.event(requested, EventKind::FaultRequested, format!("{kind}: {e}"));
            rec.inconclusive(format!(
                "step {} ({kind}) could not be injected: {e}",
                i + 1
            ));
            rec.faults.push(FaultRecord {
                step: i,
                kind,
                target: fault_target(fault),
                requested_at_ms: requested,
                in_effect_at_ms: None,
                witness: None,
                evidence: serde_json::Value::Null,
                unavailable: None,
                error: Some(e.to_string()),
            });
        }
    }
}

/// The fault's target as the scenario names it; `all` when it names none.
fn fault_target(fault: &FaultSpec) -> String {
    serde_json::to_value(fault)
        .ok()
        .and_then(|v| v.get("target").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| "all".to_string())
}

/// The environment a runbook sees: the stack's addresses.
pub fn runbook_env(stack: &Stack) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("TAKEOVER_RUN_ID".into(), stack.run_id().to_string());
    env.insert(
        "TAKEOVER_FRONTDOOR_URL".into(),
        stack.frontdoor_url().to_string(),
    );
    // The nginx front door has neither: the variables are left out.
    for (name, value) in [
        ("TAKEOVER_HAPROXY_STATS_URL", stack.frontdoor_stats_url()),
        ("TAKEOVER_HAPROXY_ADMIN", stack.frontdoor_admin_addr()),
    ] {
        if !value.is_empty() {
            env.insert(name.into(), value.to_string());
        }
    }
    for (role, name) in [(Role::Primary, "PRIMARY"), (Role::Standby, "STANDBY")] {
        if let Some(url) = stack.worker_url(role) {
            env.insert(format!("TAKEOVER_{name}_URL"), url.to_string());
        }
    }
    env
}

/// Runs step `i`'s runbook and records its end; one that must succeed and
/// did not fails the iteration.
async fn run_runbook_step(
    plan: &Plan<'_>,
    i: usize,
    rb: &crate::scenario::RunbookSpec,
    stack: &Stack,
    rec: &mut Recorder<'_>,
) {
    let clock = rec.clock;
    rec.ui.phase(&format!("runbook {}", rb.script));
    let mut env = runbook::inherited_env(&rb.pass_env);
    env.extend(runbook_env(stack));
    env.extend(rb.env.clone());
    let path = plan.loaded.runbook_path(&rb.script);
    let started = clock.now_ms();
    rec.event(started, EventKind::RunbookStarted, rb.script.clone());
    match runbook::run_runbook(&path, plan.loaded.dir(), &env, rb.timeout.get()).await {
        Ok(output) => {
            let ended = clock.now_ms();
            let summary = if output.timed_out {
                format!(
                    "timed out after {} and was killed (no exit code)",
                    rb.timeout
                )
            } else {
                format!(
                    "exit code {}",
                    output.exit_code.map_or_else(
                        || "none (killed by a signal)".to_string(),
                        |c| c.to_string()
                    )
                )
            };
            rec.event(
                ended,
                EventKind::RunbookEnded,
                format!("{}: {summary}", rb.script),
            );
            if rb.must_succeed && !output.succeeded() {
                rec.fail(format!("runbook {} did not succeed: {summary}", rb.script));
            }
            rec.runbooks.push(RunbookRecord {
                step: i,
                script: rb.script.clone(),
                started_at_ms: started,
                ended_at_ms: ended,
                exit_code: output.exit_code,
                timed_out: output.timed_out,
                timeout_ms: Some(rb.timeout.as_millis_f64()),
                stdout: output.stdout,
                stderr: output.stderr,
            });
        }
        Err(e) => {
            rec.fail(e.to_string());
        }
    }
}

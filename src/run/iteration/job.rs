//! The drilled job: submitted through the front door, waited for, and
//! recorded with its events and final state.

use std::time::Duration;

use contract::{JobOptions, JobRequest};

use super::record::{Observed, Recorder};
use super::{JobPlan, Plan};
use crate::report::model::{EventKind, JobRecord};
use crate::report::state::JobSeen;
use crate::run::figures;
use crate::workload::{FollowHandle, JobClient, StatusPoll};

/// Submits the job through the front door and records it; returns its id
/// and when it was submitted, or `None` (the iteration failed) when it
/// could not be.
pub(super) async fn submit(
    job: &JobPlan<'_>,
    rec: &mut Recorder<'_>,
    front: &JobClient,
) -> Option<(String, f64)> {
    let clock = rec.clock;
    let request = JobRequest {
        script: job.script.clone(),
        options: JobOptions {
            chunk_frames: job.workload.chunk_frames,
            pace_rtf: job.pace_rtf,
        },
    };
    match submit_with_retry(front, &request).await {
        Ok(status) => {
            let at = clock.now_ms();
            rec.event(
                at,
                EventKind::JobSubmitted,
                format!(
                    "job {} ({} frames, {} chunks) owned by {}",
                    status.id,
                    status.frames_total,
                    status.chunks_total,
                    status.owner.as_deref().unwrap_or("nobody yet")
                ),
            );
            Some((status.id, at))
        }
        Err(e) => {
            rec.fail(format!(
                "the job could not be submitted through the front door: {e}"
            ));
            None
        }
    }
}

async fn submit_with_retry(
    front: &JobClient,
    request: &JobRequest,
) -> Result<contract::JobStatus, crate::workload::WorkloadError> {
    let mut last = None;
    for attempt in 0..3 {
        match front.submit(request).await {
            Ok(s) => return Ok(s),
            // Only a missing answer is retried: a refusal is the worker's verdict.
            Err(e @ crate::workload::WorkloadError::Transport { .. }) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("three attempts were made"))
}

/// Waits for the job to end, showing its progress; a job still running at
/// its deadline fails the iteration.
pub(super) async fn wait_for_end(
    plan: &Plan<'_>,
    rec: &mut Recorder<'_>,
    follower: &FollowHandle,
    submit_ms: f64,
) {
    let scenario = &plan.loaded.scenario;
    let clock = rec.clock;
    rec.ui.phase("waiting for the job to finish");
    let job_deadline_ms = submit_ms + scenario.deadlines.job.as_millis_f64();
    let mut progress = follower.progress.clone();
    loop {
        let p = progress.borrow().clone();
        if let Some(s) = &p.last {
            rec.ui
                .job_progress(s.frames_done, s.owner.as_deref().unwrap_or("-"));
        }
        if p.finished() {
            break;
        }
        let left = job_deadline_ms - clock.now_ms();
        if left <= 0.0 {
            rec.fail(format!(
                "the job did not finish within {} of its submission",
                scenario.deadlines.job
            ));
            break;
        }
        let _ = tokio::time::timeout(
            Duration::from_millis(left.min(500.0) as u64),
            progress.changed(),
        )
        .await;
    }
}

/// Records the job from its status polls: its events, a failure it was not
/// expected to have, a recovery that did not come, and its [`JobRecord`].
/// Returns its final state.
pub(super) fn record(
    plan: &Plan<'_>,
    job: &JobPlan<'_>,
    rec: &mut Recorder<'_>,
    out: &mut Observed,
    job_id: &str,
    polls: &[StatusPoll],
) -> JobSeen {
    let scenario = &plan.loaded.scenario;
    let fault_at = out.figures.onset_ms;
    for e in figures::job_events(polls, fault_at) {
        rec.event(e.at_ms, e.kind, e.detail);
    }
    let last = polls.iter().rev().find_map(|p| p.status.clone());
    let final_state = last
        .as_ref()
        .map_or(JobSeen::Unknown, |s| JobSeen::from(s.state));
    if let Some(s) = &last {
        if s.state == contract::JobState::Failed {
            let why = s.error.as_deref().unwrap_or("no reason given");
            if scenario
                .expect
                .job
                .as_ref()
                .is_some_and(|j| j.expects_failure())
            {
                // A drill of a fault the worker must refuse: `expect.job` judges it.
                rec.now(EventKind::Note, format!("the job failed: {why}"));
            } else {
                rec.fail(format!("the job failed: {why}"));
            }
        }
    }
    super::observe::require_recovery(scenario, rec, out);
    out.job = Some(JobRecord {
        id: job_id.to_string(),
        script: job.workload.script.clone(),
        seed: job.script.seed,
        frames_total: job.frames_total,
        chunk_frames: job.workload.chunk_frames,
        pace_rtf: job.pace_rtf,
        final_state,
        error: last.as_ref().and_then(|s| s.error.clone()),
        samples: figures::report_job_samples(polls),
    });
    final_state
}

//! One iteration of a drill, on a fresh stack: up, probes, job, steps,
//! recovery, audio, figures, teardown. Whatever happens, the stack goes
//! (unless a person asked to keep a failed one).
//!
//! One submodule per phase: [`observe`] (probes and the front door's view),
//! [`steps`] (faults, waits, runbooks), [`job`], [`audio`] and [`teardown`];
//! [`record`] collects what happens and writes the [`Iteration`] once.

mod audio;
mod job;
mod launch;
mod observe;
mod record;
mod steps;
mod teardown;

use std::path::PathBuf;
use std::time::Duration;

use contract::Script;

pub use self::launch::Launch;
use self::observe::Observers;
use self::record::{Observed, Recorder};
pub use self::steps::runbook_env;
use super::progress::Ui;
use super::LiveRuns;
use crate::report::model::{EventKind, Iteration, IterationOutcome};
use crate::report::state::JobSeen;
use crate::scenario::{LoadedScenario, WorkloadSpec};
use crate::stack::{Role, Stack};
use crate::workload::{follow_job, JobClient};

/// Everything fixed across the iterations of one scenario run.
pub struct Plan<'a> {
    /// The scenario.
    pub loaded: &'a LoadedScenario,
    /// The drilled job; `None` in a front-door drill (no `workload`).
    pub job: Option<JobPlan<'a>>,
    /// Where the report (and kept artifacts) go.
    pub report_dir: PathBuf,
    /// Where uninterrupted references are cached.
    pub cache_dir: PathBuf,
    /// Leave the stack of a failed iteration running.
    pub keep_on_failure: bool,
    /// Keep audio and manifest even when the audio check passes.
    pub keep_artifacts: bool,
    /// The run ids of the stacks alive now, for the Ctrl-C handler.
    pub live_runs: LiveRuns,
}

/// The job of a drill, fixed across its iterations.
pub struct JobPlan<'a> {
    /// The scenario's `workload`.
    pub workload: &'a WorkloadSpec,
    /// The script, with the workload's seed applied.
    pub script: Script,
    /// Frames the script needs.
    pub frames_total: u64,
    /// The pace of the drilled job, if paced.
    pub pace_rtf: Option<f64>,
}

impl<'a> JobPlan<'a> {
    /// The job of `workload` with its `script` as read: the workload's seed
    /// applied, its frames counted, its pace turned into a real-time factor.
    pub fn new(workload: &'a WorkloadSpec, mut script: Script) -> Self {
        if let Some(seed) = workload.seed {
            script.seed = seed;
        }
        let frames_total = contract::script_frames(&script);
        let pace_rtf = workload
            .pace
            .map(|p| crate::workload::pace_rtf(frames_total, p.get()));
        Self {
            workload,
            script,
            frames_total,
            pace_rtf,
        }
    }
}

/// What an iteration left besides its record.
pub struct IterationResult {
    /// The record for the report.
    pub iteration: Iteration,
    /// The backend the workers run, when the stack came up.
    pub backend: Option<String>,
    /// The worker image, when the stack came up.
    pub worker_image: Option<String>,
    /// Files kept, relative to the report directory.
    pub artifacts: Vec<String>,
    /// The environment is wrong (no Docker, missing image): stop the run, exit 2.
    pub environment_error: bool,
    /// The stack was left running for a person.
    pub kept_stack: bool,
}

/// Runs iteration `index` of `total` on `launched` (its stack, already
/// brought up beside the last iteration's teardown) or, when `None`, on a
/// stack it brings up itself. With `launch_next`, the next iteration's stack
/// comes up while this one's is torn down; it is returned for that iteration.
pub async fn run_iteration(
    plan: &Plan<'_>,
    index: u32,
    total: u32,
    ui: &mut Ui,
    launched: Option<Launch>,
    launch_next: bool,
) -> (IterationResult, Option<Launch>) {
    let scenario = &plan.loaded.scenario;
    ui.iteration(&scenario.name, index, total);
    let launched = match launched {
        Some(l) => l,
        None => {
            ui.phase("starting the stack");
            launch::launch(plan).await
        }
    };
    let Launch {
        run_id,
        clock,
        started_at,
        stack,
        up_ms: (up_began, up_ended),
    } = launched;
    let mut rec = Recorder::new(index, clock, ui);
    let stack = match stack {
        Ok(stack) => stack,
        Err(err) => {
            // A stack that cannot start is a problem of the environment or the
            // scenario's stack section, not a failed expectation.
            let reason = format!("the stack did not start: {err}");
            rec.ui.result(&format!("  error: {reason}"));
            rec.reasons.push(reason);
            let result = IterationResult {
                iteration: rec.into_iteration(
                    run_id,
                    started_at,
                    IterationOutcome::Error,
                    Observed::default(),
                ),
                backend: None,
                worker_image: None,
                artifacts: vec![],
                environment_error: true,
                kept_stack: false,
            };
            return (result, None);
        }
    };
    rec.phases.insert("stack_up".into(), up_ended - up_began);
    rec.event(
        up_ended,
        EventKind::StackUp,
        format!("run {run_id}, front door {}", stack.frontdoor_url()),
    );

    let DrillOutput {
        observed,
        backend,
        worker_image,
        artifacts,
    } = drill(plan, &stack, &mut rec).await;
    let outcome = rec.outcome();
    // The record is closed when the teardown ends, whether or not the next
    // stack is still coming up.
    let finish = async move {
        let kept = teardown::teardown(plan, stack, &mut rec, outcome, &run_id).await;
        (
            kept,
            rec.into_iteration(run_id, started_at, outcome, observed),
        )
    };
    let ((kept_stack, iteration), next) = if launch_next && !teardown::keeps_stack(plan, outcome) {
        let (finished, next) = tokio::join!(finish, launch::launch(plan));
        (finished, Some(next))
    } else {
        (finish.await, None)
    };

    let result = IterationResult {
        iteration,
        backend,
        worker_image: Some(worker_image),
        artifacts,
        environment_error: false,
        kept_stack,
    };
    (result, next)
}

/// What the drill on a running stack produced.
#[derive(Default)]
struct DrillOutput {
    /// What goes into the iteration's record.
    observed: Observed,
    backend: Option<String>,
    worker_image: String,
    artifacts: Vec<String>,
}

/// The backend the reference worker reports on its `/health`; `None` for a
/// service of the user's (`stack.worker.image`), which has no such report.
async fn worker_backend(stack: &Stack) -> Option<String> {
    if !stack.spec().worker.is_reference() {
        return None;
    }
    let url = format!("{}/health", stack.worker_url(Role::Standby)?);
    let resp = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let report: contract::HealthReport = resp.json().await.ok()?;
    Some(report.backend)
}

/// The drill on a running stack: with a job, or a front-door drill without one.
async fn drill(plan: &Plan<'_>, stack: &Stack, rec: &mut Recorder<'_>) -> DrillOutput {
    let mut out = DrillOutput {
        backend: worker_backend(stack).await,
        worker_image: stack.images().worker.clone(),
        ..DrillOutput::default()
    };
    match &plan.job {
        Some(job) => job_drill(plan, job, stack, rec, &mut out).await,
        None => frontdoor_drill(plan, stack, rec, &mut out).await,
    }
    out
}

/// A drill without a job: the observers, the steps timed from the probes'
/// start, the recovery, and what the observers saw.
async fn frontdoor_drill(
    plan: &Plan<'_>,
    stack: &Stack,
    rec: &mut Recorder<'_>,
    out: &mut DrillOutput,
) {
    let scenario = &plan.loaded.scenario;
    let observers = Observers::start(stack, rec, scenario);
    let started = rec.clock.now_ms();
    rec.ui.phase("running the steps");
    steps::run_steps(plan, stack, rec, None, started).await;
    observers.wait_for_recovery(scenario, rec).await;
    rec.phases
        .insert("steps".into(), rec.clock.now_ms() - started);
    observers.finish(stack, rec, &mut out.observed, &[]).await;
    observe::require_recovery(scenario, rec, &out.observed);
}

/// The drill with a job, phase by phase: the reference audio, the
/// observers, the job, the steps, the job's end and the recovery, what the
/// observers saw, the job's record, and the audio check.
async fn job_drill(
    plan: &Plan<'_>,
    job: &JobPlan<'_>,
    stack: &Stack,
    rec: &mut Recorder<'_>,
    out: &mut DrillOutput,
) {
    let scenario = &plan.loaded.scenario;
    let clock = rec.clock;
    // Submit, audio and manifest: generous timeouts (a long job's WAV is large).
    let front = JobClient::new(stack.frontdoor_url(), Duration::from_secs(60));
    // Status polls: each gives up soon; they run concurrently on a fixed schedule.
    let polls_client = JobClient::new(stack.frontdoor_url(), Duration::from_secs(2));

    // The uninterrupted reference, before any fault (cached across runs).
    let reference = audio::reference(plan, job, stack, rec, out).await;

    // Probes and HAProxy's view, from before the job to after the recovery.
    let observers = Observers::start(stack, rec, scenario);

    // The job.
    rec.ui.phase("submitting the job");
    let job_started = clock.now_ms();
    let Some((job_id, submit_ms)) = job::submit(job, rec, &front).await else {
        observers.finish(stack, rec, &mut out.observed, &[]).await;
        return;
    };
    rec.ui.job_started(job.frames_total);
    let follower = follow_job(
        polls_client,
        job_id.clone(),
        job.workload.status_interval.get(),
        clock,
    );

    // The steps.
    rec.ui.phase("running the steps");
    steps::run_steps(plan, stack, rec, Some(&follower), submit_ms).await;

    // Wait for the job to end, then for the front door to recover.
    job::wait_for_end(plan, rec, &follower, submit_ms).await;
    observers.wait_for_recovery(scenario, rec).await;

    let polls = follower.finish().await;
    rec.phases
        .insert("job".into(), clock.now_ms() - job_started);
    observers
        .finish(stack, rec, &mut out.observed, &polls)
        .await;

    // The job record and its events.
    let final_state = job::record(plan, job, rec, &mut out.observed, &job_id, &polls);

    // The audio.
    if final_state == JobSeen::Done {
        let finished = audio::FinishedJob {
            front: &front,
            id: &job_id,
            polls: &polls,
        };
        audio::check(plan, job, stack, rec, out, finished, reference).await;
    }
}

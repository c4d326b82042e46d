//! One iteration of a drill, on a fresh stack: up, probes, job, steps,
//! recovery, audio, figures, teardown. Whatever happens, the stack goes
//! (unless a person asked to keep a failed one).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::{JobOptions, JobRequest, Script};

use super::audio;
use super::figures::{self, Recorded};
use super::frontdoor_account;
use super::progress::Ui;
use super::runbook;
use crate::clock::Clock;
use crate::fault::FaultSpec;
use crate::probe::frontdoor::{FrontdoorPoller, ServerView};
use crate::probe::{ProbeConfig, ProbeHandle};
use crate::report::model::{
    Event, EventKind, FaultRecord, Iteration, IterationOutcome, JobRecord, RunbookRecord,
};
use crate::report::state::{JobSeen, ServerStatus};
use crate::scenario::model::{fault_kind_name, Action, AudioExpectation, Timing};
use crate::scenario::LoadedScenario;
use crate::stack::{Role, Stack};
use crate::workload::{follow_job, FollowHandle, JobClient, StatusPoll};

/// How often HAProxy's view is read during an iteration.
const FRONTDOOR_POLL: Duration = Duration::from_millis(50);

/// Everything fixed across the iterations of one scenario run.
pub struct Plan<'a> {
    /// The scenario.
    pub loaded: &'a LoadedScenario,
    /// The script, with the workload's seed applied.
    pub script: Script,
    /// Frames the script needs.
    pub frames_total: u64,
    /// The pace of the drilled job, if paced.
    pub pace_rtf: Option<f64>,
    /// Where the report (and kept artifacts) go.
    pub report_dir: PathBuf,
    /// Where uninterrupted references are cached.
    pub cache_dir: PathBuf,
    /// Leave the stack of a failed iteration running.
    pub keep_on_failure: bool,
    /// Keep audio and manifest even when the audio check passes.
    pub keep_artifacts: bool,
    /// The run id of the stack alive now, for the Ctrl-C handler.
    pub current_run: Arc<Mutex<Option<String>>>,
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

/// Collects an iteration's record as it happens.
struct Recorder<'u> {
    index: u32,
    clock: Clock,
    events: Vec<Event>,
    reasons: Vec<String>,
    inconclusive: Vec<String>,
    faults: Vec<FaultRecord>,
    runbooks: Vec<RunbookRecord>,
    phases: BTreeMap<String, f64>,
    ui: &'u mut Ui,
}

impl Recorder<'_> {
    fn event(&mut self, at_ms: f64, kind: EventKind, detail: impl Into<String>) {
        let detail = detail.into();
        self.ui
            .event(at_ms, &format!("{}: {detail}", kind_label(kind)));
        self.events.push(Event {
            at_ms,
            kind,
            detail,
        });
    }

    fn now(&mut self, kind: EventKind, detail: impl Into<String>) {
        let at = self.clock.now_ms();
        self.event(at, kind, detail);
    }

    fn fail(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        self.ui.result(&format!("  failed: {reason}"));
        self.reasons.push(reason);
    }

    fn inconclusive(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        self.ui.result(&format!("  inconclusive: {reason}"));
        self.inconclusive.push(reason);
    }
}

fn kind_label(kind: EventKind) -> String {
    kind.as_str().replace('_', " ")
}

/// Runs iteration `index` of `total`.
pub async fn run_iteration(
    plan: &Plan<'_>,
    index: u32,
    total: u32,
    ui: &mut Ui,
) -> IterationResult {
    let scenario = &plan.loaded.scenario;
    ui.iteration(&scenario.name, index, total);
    let clock = Clock::start();
    let started_at = chrono::Utc::now();
    let run_id = crate::stack::new_run_id();
    let mut rec = Recorder {
        index,
        clock,
        events: Vec::new(),
        reasons: Vec::new(),
        inconclusive: Vec::new(),
        faults: Vec::new(),
        runbooks: Vec::new(),
        phases: BTreeMap::new(),
        ui,
    };

    rec.ui.phase("starting the stack");
    *lock(&plan.current_run) = Some(run_id.clone());
    let up_started = clock.now_ms();
    let stack = match Stack::up(&scenario.stack, &run_id, &clock).await {
        Ok(stack) => stack,
        Err(err) => {
            *lock(&plan.current_run) = None;
            // A stack that cannot start is a problem of the environment or the
            // scenario's stack section, not a failed expectation.
            let reason = format!("the stack did not start: {err}");
            rec.ui.result(&format!("  error: {reason}"));
            return IterationResult {
                iteration: Iteration {
                    index,
                    run_id,
                    started_at,
                    duration_ms: clock.now_ms(),
                    outcome: IterationOutcome::Error,
                    reasons: vec![reason],
                    events: rec.events,
                    figures: Default::default(),
                    faults: vec![],
                    runbooks: vec![],
                    probes: Default::default(),
                    job: None,
                    frontdoor: vec![],
                    frontdoor_accounts: vec![],
                    audio: None,
                    phases_ms: rec.phases,
                },
                backend: None,
                worker_image: None,
                artifacts: vec![],
                environment_error: true,
                kept_stack: false,
            };
        }
    };
    rec.phases
        .insert("stack_up".into(), clock.now_ms() - up_started);
    rec.now(
        EventKind::StackUp,
        format!("run {run_id}, front door {}", stack.frontdoor_url()),
    );

    let drill = drill(plan, &stack, &mut rec).await;

    // Outcome of the iteration.
    let outcome = if !rec.reasons.is_empty() {
        IterationOutcome::Failed
    } else if !rec.inconclusive.is_empty() {
        IterationOutcome::Inconclusive
    } else {
        IterationOutcome::Passed
    };

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

    let mut reasons = rec.reasons;
    reasons.extend(rec.inconclusive);
    let mut events = rec.events;
    events.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    IterationResult {
        iteration: Iteration {
            index,
            run_id,
            started_at,
            duration_ms: clock.now_ms(),
            outcome,
            reasons,
            events,
            figures: drill.figures,
            faults: rec.faults,
            runbooks: rec.runbooks,
            probes: drill.probes,
            job: drill.job,
            frontdoor: drill.frontdoor,
            frontdoor_accounts: drill.frontdoor_accounts,
            audio: drill.audio,
            phases_ms: rec.phases,
        },
        backend: drill.backend,
        worker_image: Some(drill.worker_image),
        artifacts: drill.artifacts,
        environment_error: false,
        kept_stack,
    }
}

/// What the drill on a running stack produced.
#[derive(Default)]
struct DrillOutput {
    figures: crate::report::model::Figures,
    probes: crate::report::model::ProbeSeries,
    job: Option<JobRecord>,
    frontdoor: Vec<crate::report::model::FrontdoorSample>,
    frontdoor_accounts: Vec<crate::report::model::FrontdoorAccount>,
    audio: Option<crate::report::model::AudioRecord>,
    backend: Option<String>,
    worker_image: String,
    artifacts: Vec<String>,
}

async fn worker_backend(stack: &Stack) -> Option<String> {
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

/// Polls HAProxy's view of its servers; `None` for a front door that has no
/// such view (Nginx), which has no front-door samples and no `detect_ms`.
fn start_frontdoor_poller(stack: &Stack, clock: Clock) -> Option<FrontdoorPoller> {
    if stack.frontdoor_kind() != crate::stack::FrontdoorKind::Haproxy {
        return None;
    }
    let stats_url = stack.frontdoor_stats_url().to_string();
    Some(FrontdoorPoller::start(FRONTDOOR_POLL, clock, move || {
        let stats_url = stats_url.clone();
        async move {
            crate::stack::haproxy::read_view(&stats_url, &clock)
                .await
                .map(|servers| {
                    servers
                        .into_iter()
                        .map(|s| ServerView {
                            up: s.is_up(),
                            name: s.server,
                            backup: s.backup,
                            sessions_total: None,
                        })
                        .collect::<Vec<_>>()
                })
        }
    }))
}

async fn drill(plan: &Plan<'_>, stack: &Stack, rec: &mut Recorder<'_>) -> DrillOutput {
    let scenario = &plan.loaded.scenario;
    let clock = rec.clock;
    let mut out = DrillOutput {
        backend: worker_backend(stack).await,
        worker_image: stack.images().worker.clone(),
        ..DrillOutput::default()
    };
    // Submit, audio and manifest: generous timeouts (a long job's WAV is large).
    let front = JobClient::new(stack.frontdoor_url(), Duration::from_secs(60));
    // Status polls: each gives up soon; they run concurrently on a fixed schedule.
    let polls_client = JobClient::new(stack.frontdoor_url(), Duration::from_secs(2));
    let chunk_frames = scenario.workload.chunk_frames;

    // The uninterrupted reference, before any fault (cached across runs).
    let mut reference = None;
    if scenario.expect.audio == Some(AudioExpectation::Exact) {
        rec.ui.phase("reference run (uninterrupted)");
        let started = clock.now_ms();
        let direct = stack
            .worker_url(Role::Standby)
            .map(|u| JobClient::new(u, Duration::from_secs(10)));
        let key = audio::reference_key(
            &plan.script,
            chunk_frames,
            &out.worker_image,
            out.backend.as_deref().unwrap_or("unknown"),
        );
        match direct {
            Some(client) => match audio::reference_audio(
                &client,
                &plan.script,
                chunk_frames,
                &key,
                &plan.cache_dir,
                scenario.deadlines.job.get(),
            )
            .await
            {
                Ok((samples, note)) => {
                    rec.now(EventKind::Note, format!("reference audio: {note}"));
                    reference = Some((samples, note));
                }
                Err(e) => rec.inconclusive(format!(
                    "no uninterrupted reference for the exact audio check: {e}"
                )),
            },
            None => rec.inconclusive("the stack has no standby worker URL for the reference run"),
        }
        rec.phases
            .insert("reference".into(), clock.now_ms() - started);
    }

    // Probes and HAProxy's view, from before the job to after the recovery.
    let poller = start_frontdoor_poller(stack, clock);
    if poller.is_none() {
        rec.now(
            EventKind::Note,
            format!("front-door view {}", crate::stack::nginx::NO_VIEW),
        );
    }
    let probe_config =
        ProbeConfig::new(format!("{}{}", stack.frontdoor_url(), scenario.probe.path))
            .with_interval(scenario.probe.interval.get())
            .with_timeout(scenario.probe.timeout.get());
    let prober = match crate::probe::start(probe_config, clock) {
        Ok(p) => {
            rec.now(
                EventKind::ProbesStarted,
                format!(
                    "GET {} every {}",
                    scenario.probe.path, scenario.probe.interval
                ),
            );
            Some(p)
        }
        Err(e) => {
            rec.fail(format!("the probes could not start: {e}"));
            None
        }
    };

    // The job.
    rec.ui.phase("submitting the job");
    let request = JobRequest {
        script: plan.script.clone(),
        options: JobOptions {
            chunk_frames,
            pace_rtf: plan.pace_rtf,
        },
    };
    let job_started = clock.now_ms();
    let submitted = submit_with_retry(&front, &request).await;
    let (job_id, submit_ms) = match submitted {
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
            (status.id, at)
        }
        Err(e) => {
            rec.fail(format!(
                "the job could not be submitted through the front door: {e}"
            ));
            finish_observers(stack, prober, poller, rec, &mut out, &scenario.probe, &[]).await;
            return out;
        }
    };
    rec.ui.job_started(plan.frames_total);
    let follower = follow_job(
        polls_client,
        job_id.clone(),
        scenario.workload.status_interval.get(),
        clock,
    );

    // The steps.
    rec.ui.phase("running the steps");
    run_steps(plan, stack, rec, &follower, submit_ms).await;

    // Wait for the job to end.
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

    // Keep probing until the service has recovered from the measured fault
    // (or its deadline passed), so that the RTO is measured, not cut short.
    if let (Some(p), Some(fault)) = (&prober, figures::measured_fault(&rec.faults)) {
        rec.ui.phase("waiting for the front door to recover");
        let fault_at = fault.in_effect_at_ms.unwrap_or(fault.requested_at_ms);
        let deadline = fault_at + scenario.deadlines.recovery.as_millis_f64();
        loop {
            let mut samples = p.samples_so_far();
            samples.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
            let onset = figures::onset_ms(fault, &samples);
            match crate::timeline::recovery(&samples, onset, scenario.probe.sustain) {
                crate::timeline::Recovery::Recovered { .. }
                | crate::timeline::Recovery::NoOutageSeen => break,
                _ if clock.now_ms() > deadline => break,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    let polls = follower.finish().await;
    rec.phases
        .insert("job".into(), clock.now_ms() - job_started);
    finish_observers(
        stack,
        prober,
        poller,
        rec,
        &mut out,
        &scenario.probe,
        &polls,
    )
    .await;

    // The job record and its events.
    let fault_at = out.figures.onset_ms;
    for e in figures::job_events(&polls, fault_at) {
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
    if fault_at.is_some() && out.figures.rto_ms.is_none() {
        rec.fail(format!(
            "the front door did not serve {} good probes in a row within {} of the fault",
            scenario.probe.sustain, scenario.deadlines.recovery
        ));
    }
    out.job = Some(JobRecord {
        id: job_id.clone(),
        script: scenario.workload.script.clone(),
        seed: plan.script.seed,
        frames_total: plan.frames_total,
        chunk_frames,
        pace_rtf: plan.pace_rtf,
        final_state,
        error: last.as_ref().and_then(|s| s.error.clone()),
        samples: figures::report_job_samples(&polls),
    });

    // The audio.
    if final_state == JobSeen::Done {
        rec.ui.phase("checking the audio");
        let started = clock.now_ms();
        let takeovers = figures::takeovers(&polls);
        check_audio(plan, rec, &mut out, &front, &job_id, reference, &takeovers).await;
        if !takeovers.is_empty() {
            record_fenced_counters(stack, rec).await;
        }
        rec.phases.insert("verify".into(), clock.now_ms() - started);
    }
    out
}

/// After a takeover: each worker's own count of stale writes it stopped
/// (`synth_fenced_total`), as notes on the timeline: the evidence that a
/// zombie tried to write and was refused (or, with fencing off, never was).
async fn record_fenced_counters(stack: &Stack, rec: &mut Recorder<'_>) {
    for role in [Role::Primary, Role::Standby] {
        let Some(url) = stack.worker_url(role) else {
            continue;
        };
        let answer = reqwest::Client::new()
            .get(format!("{url}/metrics"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        let Ok(resp) = answer else { continue };
        let text = resp.text().await.unwrap_or_default();
        if let Some(n) = figures::metric_total(&text, "synth_fenced_total") {
            rec.now(
                EventKind::Note,
                format!(
                    "{role} worker: synth_fenced_total {n} (stale writes it found and stopped)"
                ),
            );
        }
    }
}

async fn check_audio(
    plan: &Plan<'_>,
    rec: &mut Recorder<'_>,
    out: &mut DrillOutput,
    front: &JobClient,
    job_id: &str,
    reference: Option<(Vec<i16>, String)>,
    takeovers: &[crate::verify::Takeover],
) {
    let scenario = &plan.loaded.scenario;
    match audio::fetch_candidate(front, job_id).await {
        Ok(candidate) => {
            let mut record = audio::judge_candidate(
                &candidate,
                reference.as_ref().map(|(s, n)| (s.as_slice(), n.clone())),
                plan.frames_total,
                takeovers,
            );
            let summary = record
                .verdict
                .get("summary")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .to_string();
            rec.now(
                EventKind::AudioVerdict,
                format!(
                    "{} check: {}{}",
                    record.mode,
                    if record.intact {
                        "intact"
                    } else {
                        "NOT intact"
                    },
                    if summary.is_empty() {
                        String::new()
                    } else {
                        format!(" ({summary})")
                    }
                ),
            );
            if !record.intact {
                rec.fail(format!("the audio is not intact: {summary}"));
            }
            if plan.keep_artifacts || !record.intact {
                let dir = plan.report_dir.join(format!("iteration-{}", rec.index));
                match audio::keep_artifacts(&candidate, &dir, &plan.report_dir) {
                    Ok(files) => {
                        record.artifacts = files.clone();
                        out.artifacts.extend(files);
                    }
                    Err(e) => rec.ui.result(&format!("  warning: {e}")),
                }
            }
            out.audio = Some(record);
        }
        Err(e) => {
            if scenario.expect.audio.is_some() {
                rec.fail(format!("the job's audio could not be fetched: {e}"));
            } else {
                rec.now(EventKind::Note, format!("audio not checked: {e}"));
            }
        }
    }
}

async fn finish_observers(
    stack: &Stack,
    prober: Option<ProbeHandle>,
    poller: Option<FrontdoorPoller>,
    rec: &mut Recorder<'_>,
    out: &mut DrillOutput,
    probe: &crate::scenario::ProbeSpec,
    polls: &[StatusPoll],
) {
    let (sustain, probe_path) = (probe.sustain, probe.path.as_str());
    let samples = match prober {
        Some(p) => p.stop().await,
        None => Vec::new(),
    };
    let seen = match poller {
        Some(p) => p.stop().await,
        None => Default::default(),
    };
    for snap in &seen.snapshots {
        for s in &snap.servers {
            let changed = out
                .frontdoor
                .iter()
                .rev()
                .find(|x| x.server == s.name)
                .is_none_or(|x| x.status != ServerStatus::from_up(s.up));
            if changed {
                out.frontdoor.push(crate::report::model::FrontdoorSample {
                    at_ms: snap.answered_ms,
                    server: s.name.clone(),
                    status: ServerStatus::from_up(s.up),
                    backup: s.backup,
                });
            }
        }
    }
    for e in crate::timeline::frontdoor_events(&seen.snapshots) {
        rec.event(e.at_ms, e.kind, e.detail);
    }
    // The figures come from the probes as stored, so report.json alone gives them again.
    let interval = probe.interval.as_millis_f64();
    out.probes = figures::probe_series(&samples, probe_path, interval);
    // The front door's own record of each probe, from its request log.
    let log = stack.frontdoor_log().await;
    out.probes.served_by = frontdoor_account::served_by(&samples, &log);
    let stored = figures::samples_of(&out.probes);
    let (fig, probe_events) = figures::figures(&Recorded {
        probes: &stored,
        sustain,
        job: &figures::timeline_job_samples(polls),
        faults: &rec.faults,
        events: &rec.events,
        served_by: &out.probes.served_by,
    });
    for e in probe_events {
        rec.event(e.at_ms, e.kind, e.detail);
    }
    out.figures = fig;
    out.frontdoor_accounts = frontdoor_account::accounts(&stored, &log, stack.clock());
    if let Some(line) = frontdoor_account::summary(&out.frontdoor_accounts, log.len()) {
        rec.now(EventKind::Note, line);
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

/// Waits for a step's time; false when the job ended first (the step is skipped).
async fn wait_for_timing(
    timing: &Timing,
    follower: &FollowHandle,
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

async fn run_steps(
    plan: &Plan<'_>,
    stack: &Stack,
    rec: &mut Recorder<'_>,
    follower: &FollowHandle,
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
        if let Some(s) = &follower.progress.borrow().last {
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
        if follower.progress.borrow().finished() {
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
            } else if crate::fault::heal::reverted_nothing(&effect) {
                // Recorded as what it is: no witness, and no reason to doubt the drill.
                rec.event(
                    clock.now_ms(),
                    EventKind::FaultUnwitnessed,
                    format!(
                        "{} {}: {}",
                        effect.kind,
                        effect.target,
                        crate::fault::heal::NOTHING_TO_REVERT
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

//! The job's audio: the uninterrupted reference made before any fault (for
//! the exact check), the check of the job's final audio, and the workers'
//! count of the stale writes they stopped.

use std::time::Duration;

use super::record::Recorder;
use super::{DrillOutput, JobPlan, Plan};
use crate::report::model::EventKind;
use crate::run::audio;
use crate::run::figures;
use crate::scenario::model::AudioExpectation;
use crate::stack::{Role, Stack};
use crate::workload::{JobClient, StatusPoll};

/// The uninterrupted reference audio and where it came from, made (or
/// read from the cache) before any fault; `None` when the scenario does not
/// ask for the exact check, or when it could not be made (inconclusive).
pub(super) async fn reference(
    plan: &Plan<'_>,
    job: &JobPlan<'_>,
    stack: &Stack,
    rec: &mut Recorder<'_>,
    out: &DrillOutput,
) -> Option<(Vec<i16>, String)> {
    let scenario = &plan.loaded.scenario;
    let clock = rec.clock;
    let chunk_frames = job.workload.chunk_frames;
    let mut reference = None;
    if scenario.expect.audio == Some(AudioExpectation::Exact) {
        rec.ui.phase("reference run (uninterrupted)");
        let started = clock.now_ms();
        let direct = stack
            .worker_url(Role::Standby)
            .map(|u| JobClient::new(u, Duration::from_secs(10)));
        let key = audio::reference_key(
            &job.script,
            chunk_frames,
            &out.worker_image,
            out.backend.as_deref().unwrap_or("unknown"),
        );
        match direct {
            Some(client) => match audio::reference_audio(
                &client,
                &job.script,
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
    reference
}

/// A job that finished: where its audio is fetched, and its status polls.
pub(super) struct FinishedJob<'a> {
    /// The client through the front door.
    pub(super) front: &'a JobClient,
    /// The job's id.
    pub(super) id: &'a str,
    /// Its status polls, which show its takeovers.
    pub(super) polls: &'a [StatusPoll],
}

/// Checks the audio of a job that finished and records the workers' commit
/// cost (and, after a takeover, their fencing counters); the time goes to
/// the `verify` phase.
pub(super) async fn check(
    plan: &Plan<'_>,
    job: &JobPlan<'_>,
    stack: &Stack,
    rec: &mut Recorder<'_>,
    out: &mut DrillOutput,
    finished: FinishedJob<'_>,
    reference: Option<(Vec<i16>, String)>,
) {
    let clock = rec.clock;
    rec.ui.phase("checking the audio");
    let started = clock.now_ms();
    let takeovers = figures::takeovers(finished.polls);
    let candidate = Candidate {
        front: finished.front,
        job_id: finished.id,
        frames_total: job.frames_total,
    };
    check_audio(plan, rec, out, candidate, reference, &takeovers).await;
    record_worker_counters(stack, rec, !takeovers.is_empty()).await;
    rec.phases.insert("verify".into(), clock.now_ms() - started);
}

/// Each worker's own account, as notes on the timeline: what one chunk's
/// durable write and commit cost it (`synth_chunk_commit_seconds_total` over
/// `synth_chunks_timed_total`), and after a takeover the stale writes it
/// found and stopped (`synth_fenced_total`): the evidence that a zombie tried
/// to write and was refused (or, with fencing off, never was).
async fn record_worker_counters(stack: &Stack, rec: &mut Recorder<'_>, after_takeover: bool) {
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
        let chunks = figures::metric_total(&text, "synth_chunks_timed_total");
        let commit_s = figures::metric_total(&text, "synth_chunk_commit_seconds_total");
        if let (Some(chunks), Some(commit_s)) = (chunks, commit_s) {
            if chunks > 0.0 {
                rec.now(
                    EventKind::Note,
                    format!(
                        "{role} worker: {chunks} chunks committed, {:.2} ms each to write durably and commit \
                         (synth_chunk_commit_seconds_total / synth_chunks_timed_total)",
                        commit_s * 1e3 / chunks
                    ),
                );
            }
        }
        if !after_takeover {
            continue;
        }
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

/// Where a finished job's audio is fetched, and the frames it should hold.
struct Candidate<'a> {
    front: &'a JobClient,
    job_id: &'a str,
    frames_total: u64,
}

/// Fetches the job's audio and judges it (against the reference when there
/// is one); keeps its files when asked to or when it is not intact.
async fn check_audio(
    plan: &Plan<'_>,
    rec: &mut Recorder<'_>,
    out: &mut DrillOutput,
    job: Candidate<'_>,
    reference: Option<(Vec<i16>, String)>,
    takeovers: &[crate::verify::Takeover],
) {
    let scenario = &plan.loaded.scenario;
    match audio::fetch_candidate(job.front, job.job_id).await {
        Ok(candidate) => {
            let mut record = audio::judge_candidate(
                &candidate,
                reference.as_ref().map(|(s, n)| (s.as_slice(), n.clone())),
                job.frames_total,
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
            out.observed.audio = Some(record);
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

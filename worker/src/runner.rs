//! Runs one job this worker holds: synthesize a chunk, make it durable, commit it
//! with the lease epoch; resume from the last committed checkpoint after a takeover.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contract::{ChunkRecord, FRAME_RATE_HZ, SAMPLES_PER_FRAME};
use synth_worker::engine::{JobPlan, SynthState};

use crate::service::{OwnedJob, Reaction, Service};
use crate::store::{now_ms, Checkpoint, CommitOutcome, JobRecord, Renewal};

/// Attempts at writing a chunk before the job is failed (a full disk may free up).
const WRITE_ATTEMPTS: u32 = 3;
/// Attempts at a chunk that hit a transient engine error (out of memory).
const SYNTH_ATTEMPTS: u32 = 3;

/// Extra watchdog time a paced job needs per chunk.
pub fn pace_allowance(chunk_frames: u64, pace_rtf: Option<f64>) -> Duration {
    Duration::from_secs_f64(chunk_frames as f64 / FRAME_RATE_HZ * pace_rtf.unwrap_or(0.0))
}

/// Runs `job` (held at `job.epoch`) until it is done, failed, fenced or released.
pub async fn run(svc: Arc<Service>, job: Arc<OwnedJob>, record: JobRecord) {
    let renewer = tokio::spawn(renew_loop(svc.clone(), job.clone()));
    if let Err(message) = run_chunks(&svc, &job, &record).await {
        fail(&svc, &job, &message).await;
    }
    renewer.abort();
    svc.disown(&job.id);
}

/// Keeps the lease alive every third of its TTL; stops the job when it is taken.
async fn renew_loop(svc: Arc<Service>, job: Arc<OwnedJob>) {
    let ttl = svc.cfg.lease_ttl;
    let mut warned = false;
    while !job.stopped() {
        tokio::time::sleep(ttl / 3).await;
        if job.stopped() {
            break;
        }
        match svc
            .jobs
            .renew(&job.id, &svc.cfg.worker_id, job.epoch, ttl)
            .await
        {
            Ok(Renewal::Renewed) => warned = false,
            Ok(Renewal::Stale) if !svc.cfg.fencing => {
                if !warned {
                    eprintln!(
                        "synth-worker: job {}: another worker holds the lease, but fencing is off: writing on (unsafe mode)",
                        job.id
                    );
                    warned = true;
                }
            }
            Ok(Renewal::Stale) => {
                eprintln!(
                    "synth-worker: job {} (epoch {}): the lease epoch is stale, another worker took the job (fenced); stopping",
                    job.id, job.epoch
                );
                svc.metrics.fenced.fetch_add(1, Ordering::Relaxed);
                job.stop.store(true, Ordering::SeqCst);
            }
            Ok(outcome) => {
                eprintln!(
                    "synth-worker: job {} (epoch {}): lease renewal answered {outcome:?}; stopping",
                    job.id, job.epoch
                );
                job.stop.store(true, Ordering::SeqCst);
            }
            Err(e) => eprintln!("synth-worker: job {}: lease renewal failed: {e}", job.id),
        }
    }
}

async fn fail(svc: &Service, job: &OwnedJob, message: &str) {
    eprintln!("synth-worker: job {} failed: {message}", job.id);
    match svc
        .jobs
        .fail(
            &job.id,
            &svc.cfg.worker_id,
            job.epoch,
            message,
            svc.cfg.fencing,
        )
        .await
    {
        Ok(true) => {
            svc.metrics.jobs_failed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(false) => eprintln!(
            "synth-worker: job {}: not marked failed (no longer ours)",
            job.id
        ),
        Err(e) => eprintln!(
            "synth-worker: job {}: could not record the failure: {e}",
            job.id
        ),
    }
}

/// The state to resume from: the start, or the checkpoint of the last committed chunk,
/// checked against its Redis record.
async fn resume_state(
    svc: &Arc<Service>,
    record: &JobRecord,
    plan: &JobPlan,
) -> Result<SynthState, String> {
    let committed = record.status.chunks_committed;
    if committed == 0 {
        return Ok(svc.engine.initial_state(plan));
    }
    let chunks = svc
        .jobs
        .chunks(&record.id, committed)
        .await
        .map_err(|e| format!("cannot read the committed chunks: {e}"))?;
    let last = chunks.last().expect("committed > 0");
    let files = svc.files.clone();
    let (id, index, epoch) = (record.id.clone(), last.index, last.epoch);
    let ck: Checkpoint<SynthState> =
        tokio::task::spawn_blocking(move || files.read_checkpoint(&id, index, epoch))
            .await
            .map_err(|e| format!("checkpoint reader panicked: {e}"))?
            .map_err(|e| format!("cannot resume from chunk {index}: {e}; refusing to resume from a checkpoint that cannot be trusted"))?;
    let end = last.first_frame + last.frames;
    let problems = [
        (
            ck.job_id != record.id,
            format!("it names job {}", ck.job_id),
        ),
        (
            ck.chunk_index != last.index,
            format!("it is for chunk {}", ck.chunk_index),
        ),
        (
            ck.epoch != last.epoch,
            format!(
                "it was written at epoch {}, the commit says {}",
                ck.epoch, last.epoch
            ),
        ),
        (
            ck.pcm_blake3 != last.blake3,
            "its PCM hash differs from the committed one".to_string(),
        ),
        (
            ck.next_frame != end || ck.state.next_frame != end,
            format!(
                "it resumes at frame {}, the commits end at {end}",
                ck.state.next_frame
            ),
        ),
        (
            ck.state.plan_id != plan.id,
            "it belongs to another script, seed or step count".to_string(),
        ),
    ];
    if let Some((_, why)) = problems.iter().find(|(bad, _)| *bad) {
        return Err(format!(
            "cannot resume from the checkpoint of chunk {index}: {why}; refusing to resume"
        ));
    }
    Ok(ck.state)
}

async fn run_chunks(
    svc: &Arc<Service>,
    job: &Arc<OwnedJob>,
    record: &JobRecord,
) -> Result<(), String> {
    let engine = svc.engine.clone();
    let script = record.request.script.clone();
    let plan = tokio::task::spawn_blocking(move || engine.plan(&script))
        .await
        .map_err(|e| format!("planner panicked: {e}"))?
        .map_err(|e| format!("the script cannot be planned: {e}"))?;
    let plan = Arc::new(plan);
    let total = record.status.frames_total;
    if plan.frames_total() != total {
        return Err(format!(
            "the engine plans {} frames but the job was created with {total}; workers disagree (different versions?)",
            plan.frames_total()
        ));
    }
    let mut state = resume_state(svc, record, &plan).await?;
    let chunk_frames = record.chunk_frames;
    let pace = record.request.options.pace_rtf.unwrap_or(0.0);
    let mut index = record.status.chunks_committed;
    let resumed_at = Instant::now();
    let resumed_frame = state.next_frame;
    job.progressed();
    while state.next_frame < total {
        while svc.stalled() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if job.stopped() {
            return Ok(());
        }
        let first_frame = state.next_frame;
        let frames = chunk_frames.min(total - first_frame);
        let t0 = Instant::now();
        let pcm = match synthesize(svc, &plan, &mut state, frames).await {
            Ok(pcm) => pcm,
            Err(None) => return Ok(()),
            Err(Some(message)) => return Err(message),
        };
        let synth_time = t0.elapsed();
        svc.metrics
            .frames_synthesized
            .fetch_add(frames, Ordering::Relaxed);
        match svc.jobs.mark(&job.id, job.epoch, state.next_frame).await {
            Ok(false) if svc.cfg.fencing => {
                eprintln!(
                    "synth-worker: job {}: epoch {} is stale; stopping",
                    job.id, job.epoch
                );
                svc.metrics.fenced.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => eprintln!(
                "synth-worker: job {}: could not publish progress: {e}",
                job.id
            ),
        }
        let paced = resumed_at
            + Duration::from_secs_f64(
                (state.next_frame - resumed_frame) as f64 / FRAME_RATE_HZ * pace,
            );
        tokio::time::sleep_until(paced.into()).await;
        if job.stopped() {
            return Ok(());
        }
        let t1 = Instant::now();
        let chunk = ChunkRecord {
            index,
            first_frame,
            frames,
            first_sample: first_frame * SAMPLES_PER_FRAME as u64,
            sample_count: pcm.len() as u64,
            blake3: contract::chunk_hash(&pcm),
            epoch: job.epoch,
            writer: svc.cfg.worker_id.clone(),
        };
        let checkpoint = Checkpoint {
            job_id: job.id.clone(),
            chunk_index: index,
            epoch: job.epoch,
            writer: svc.cfg.worker_id.clone(),
            next_frame: state.next_frame,
            pcm_samples: pcm.len() as u64,
            pcm_blake3: chunk.blake3.clone(),
            state: state.clone(),
        };
        write_chunk(svc, pcm, checkpoint).await?;
        if job.stopped() {
            return Ok(());
        }
        let Some(committed) = commit(svc, job, &chunk).await? else {
            return Ok(());
        };
        svc.metrics
            .synth_micros
            .fetch_add(synth_time.as_micros() as u64, Ordering::Relaxed);
        svc.metrics
            .commit_micros
            .fetch_add(t1.elapsed().as_micros() as u64, Ordering::Relaxed);
        svc.metrics.chunks_timed.fetch_add(1, Ordering::Relaxed);
        job.progressed();
        index += 1;
        if committed >= record.status.chunks_total {
            svc.metrics.jobs_done.fetch_add(1, Ordering::Relaxed);
            let secs = now_ms().saturating_sub(record.created_ms) as f64 / 1000.0;
            svc.metrics.observe_job_seconds(secs);
            eprintln!("synth-worker: job {} done ({total} frames)", job.id);
            return Ok(());
        }
    }
    Ok(())
}

/// One chunk through the engine. `Err(None)`: the worker reacted (exit or bad
/// device) and the job must simply stop; `Err(Some(msg))`: fail the job.
async fn synthesize(
    svc: &Arc<Service>,
    plan: &Arc<JobPlan>,
    state: &mut SynthState,
    frames: u64,
) -> Result<Vec<i16>, Option<String>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (engine, plan2, mut st) = (svc.engine.clone(), plan.clone(), state.clone());
        let out = tokio::task::spawn_blocking(move || {
            let r = engine.synthesize(&plan2, &mut st, frames);
            (r, st)
        })
        .await
        .map_err(|e| Some(format!("synthesis panicked: {e}")))?;
        match out {
            (Ok(pcm), st) => {
                *state = st;
                return Ok(pcm);
            }
            (Err(err), _) => match svc.on_engine_error(&err) {
                Reaction::Continue if attempt < SYNTH_ATTEMPTS => {
                    eprintln!(
                        "synth-worker: chunk at frame {} hit {err}; retrying",
                        state.next_frame
                    );
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                Reaction::Continue => {
                    return Err(Some(format!(
                        "synthesis failed at frame {} after {attempt} attempts: {err}",
                        state.next_frame
                    )))
                }
                Reaction::Exit | Reaction::Unhealthy => return Err(None),
            },
        }
    }
}

async fn write_chunk(
    svc: &Arc<Service>,
    pcm: Vec<i16>,
    checkpoint: Checkpoint<SynthState>,
) -> Result<(), String> {
    let pcm = Arc::new(pcm);
    let checkpoint = Arc::new(checkpoint);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (files, p, c) = (svc.files.clone(), pcm.clone(), checkpoint.clone());
        let r = tokio::task::spawn_blocking(move || files.write_chunk(&p, &c))
            .await
            .map_err(|e| format!("chunk writer panicked: {e}"))?;
        match r {
            Ok(()) => return Ok(()),
            Err(e) if attempt < WRITE_ATTEMPTS => {
                eprintln!(
                    "synth-worker: writing chunk {} failed ({e}); retrying",
                    checkpoint.chunk_index
                );
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => {
                return Err(format!(
                "chunk {} could not be written to the data directory after {attempt} attempts: {e}",
                checkpoint.chunk_index
            ))
            }
        }
    }
}

/// Commits with the lease epoch. `Ok(None)`: fenced off or no longer ours, stop quietly.
async fn commit(
    svc: &Arc<Service>,
    job: &OwnedJob,
    chunk: &ChunkRecord,
) -> Result<Option<u64>, String> {
    loop {
        match svc.jobs.commit(&job.id, chunk, svc.cfg.fencing).await {
            Ok(CommitOutcome::Committed(n)) => {
                svc.metrics.chunks_committed.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(n));
            }
            Ok(CommitOutcome::Stale) => {
                svc.metrics.fenced.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "synth-worker: job {}: commit of chunk {} refused, epoch {} is stale (fenced); stopping",
                    job.id, chunk.index, job.epoch
                );
                job.stop.store(true, Ordering::SeqCst);
                return Ok(None);
            }
            Ok(other) => {
                eprintln!(
                    "synth-worker: job {}: commit of chunk {} refused: {other:?}; stopping",
                    job.id, chunk.index
                );
                job.stop.store(true, Ordering::SeqCst);
                return Ok(None);
            }
            Err(e) => {
                if job.stopped() {
                    return Ok(None);
                }
                eprintln!(
                    "synth-worker: job {}: commit of chunk {} failed ({e}); retrying",
                    job.id, chunk.index
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

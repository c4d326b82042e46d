//! Following a job: its status polled on a fixed schedule, every answer kept.

use std::time::Duration;

use contract::{JobState, JobStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::JobClient;
use crate::clock::Clock;
use crate::report::model::JobSample;

/// The latest known state of the followed job.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The last status read, if any poll succeeded.
    pub last: Option<JobStatus>,
    /// When the last good poll answered, in clock ms.
    pub last_ok_ms: Option<f64>,
    /// Polls that got no answer or an error so far.
    pub failed_polls: u64,
}

impl Progress {
    /// Committed share of the job, 0 to 1.
    pub fn fraction(&self) -> f64 {
        match &self.last {
            Some(s) if s.frames_total > 0 => s.frames_done as f64 / s.frames_total as f64,
            _ => 0.0,
        }
    }

    /// The job reached `done` or `failed`.
    pub fn finished(&self) -> bool {
        matches!(
            self.last.as_ref().map(|s| s.state),
            Some(JobState::Done | JobState::Failed)
        )
    }
}

/// A running follower: read its progress, stop it, collect its samples.
pub struct FollowHandle {
    /// The latest progress, updated on every poll.
    pub progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<JobSample>>,
}

impl FollowHandle {
    /// Stops polling and returns every sample taken.
    pub async fn finish(self) -> Vec<JobSample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Starts polling `GET /v1/jobs/{id}` every `interval` until the job is done or
/// failed, or the handle is finished. Polls go out on a fixed schedule: a slow
/// answer delays nothing but itself.
pub fn follow_job(client: JobClient, id: String, interval: Duration, clock: Clock) -> FollowHandle {
    let (tx, rx) = watch::channel(Progress::default());
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop_rx.changed() => break,
            }
            let answer = client.status(&id).await;
            let at_ms = clock.now_ms();
            let mut progress = tx.borrow().clone();
            match answer {
                Ok(status) => {
                    samples.push(JobSample {
                        at_ms,
                        frames_done: status.frames_done,
                        state: state_name(status.state).to_string(),
                        owner: status.owner.clone(),
                        epoch: status.epoch,
                        frames_lost: status.frames_lost,
                    });
                    progress.last = Some(status);
                    progress.last_ok_ms = Some(at_ms);
                }
                Err(_) => {
                    let prev = samples.last().cloned();
                    samples.push(JobSample {
                        at_ms,
                        frames_done: prev.as_ref().map_or(0, |p| p.frames_done),
                        state: "unreachable".to_string(),
                        owner: None,
                        epoch: prev.as_ref().map_or(0, |p| p.epoch),
                        frames_lost: prev.as_ref().map_or(0, |p| p.frames_lost),
                    });
                    progress.failed_polls += 1;
                }
            }
            let finished = progress.finished();
            let _ = tx.send(progress);
            if finished {
                break;
            }
        }
        samples
    });
    FollowHandle {
        progress: rx,
        stop: stop_tx,
        task,
    }
}

/// The contract's name of a job state.
pub fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Failed => "failed",
    }
}

//! Following a job: its status polled on a fixed schedule, every answer kept.

use std::time::Duration;

use contract::{JobState, JobStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::JobClient;
use crate::clock::Clock;

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

/// One poll of the job's status: when it answered, and what (`None`: no answer).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPoll {
    /// When the poll finished, in clock ms.
    pub at_ms: f64,
    /// The status, or `None` when the poll failed.
    pub status: Option<JobStatus>,
}

/// A running follower: read its progress, stop it, collect its polls.
pub struct FollowHandle {
    /// The latest progress, updated on every poll.
    pub progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<StatusPoll>>,
}

impl FollowHandle {
    /// Stops polling and returns every poll made.
    pub async fn finish(self) -> Vec<StatusPoll> {
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
                    progress.last = Some(status.clone());
                    progress.last_ok_ms = Some(at_ms);
                    samples.push(StatusPoll {
                        at_ms,
                        status: Some(status),
                    });
                }
                Err(_) => {
                    progress.failed_polls += 1;
                    samples.push(StatusPoll {
                        at_ms,
                        status: None,
                    });
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

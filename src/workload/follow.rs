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

/// Most status polls in flight at once (a hung front door must not pile them up).
const MAX_IN_FLIGHT: usize = 64;

/// Starts polling `GET /v1/jobs/{id}` every `interval` until the job is done or
/// failed, or the handle is finished. Polls go out on a fixed schedule, each in
/// its own task: a hung answer (a paused worker behind the front door) delays
/// nothing but itself, so the moment progress resumes is seen within one
/// interval. Each poll is stamped with the time its answer came.
pub fn follow_job(client: JobClient, id: String, interval: Duration, clock: Clock) -> FollowHandle {
    let (tx, rx) = watch::channel(Progress::default());
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
                    let (client, id, answers_tx) = (client.clone(), id.clone(), answers_tx.clone());
                    tokio::spawn(async move {
                        let answer = client.status(&id).await.ok();
                        let _ = answers_tx.send((clock.now_ms(), answer));
                        drop(permit);
                    });
                }
                Some((at_ms, answer)) = answers.recv() => {
                    let mut progress = tx.borrow().clone();
                    match answer {
                        Some(status) => {
                            progress.last = Some(status.clone());
                            progress.last_ok_ms = Some(at_ms);
                            samples.push(StatusPoll { at_ms, status: Some(status) });
                        }
                        None => {
                            progress.failed_polls += 1;
                            samples.push(StatusPoll { at_ms, status: None });
                        }
                    }
                    let finished = progress.finished();
                    let _ = tx.send(progress);
                    if finished {
                        break;
                    }
                }
                _ = stop_rx.changed() => break,
            }
        }
        samples.sort_by(|a: &StatusPoll, b: &StatusPoll| a.at_ms.total_cmp(&b.at_ms));
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A job API whose answers hang from 200 ms to 700 ms after it starts (a
    /// paused worker behind the front door), then come at once again.
    async fn flaky_server(clock: Clock) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = sock.read(&mut buf).await;
                    let t = clock.now_ms();
                    if (200.0..700.0).contains(&t) {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        return;
                    }
                    let frames = (t / 10.0) as u64;
                    let body = format!(
                        r#"{{"id":"j","state":"running","frames_done":{frames},"frames_total":100000,"chunks_committed":0,"chunks_total":1,"owner":"standby","epoch":2,"frames_synthesized":0,"frames_lost":0,"error":null}}"#
                    );
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_hung_poll_does_not_hide_when_answers_come_back() {
        let clock = Clock::start();
        let url = flaky_server(clock).await;
        let client = JobClient::new(&url, Duration::from_secs(2));
        let handle = follow_job(client, "j".into(), Duration::from_millis(20), clock);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let polls = handle.finish().await;
        let answered: Vec<f64> = polls
            .iter()
            .filter(|p| p.status.is_some())
            .map(|p| p.at_ms)
            .collect();
        assert!(answered.iter().any(|&t| t < 200.0), "{answered:?}");
        // Polls sent after the hang ended are answered within a few intervals of it.
        let first_after = answered.iter().copied().find(|&t| t >= 700.0);
        assert!(
            first_after.is_some_and(|t| t < 800.0),
            "first answer after the hang at {first_after:?}"
        );
        assert!(polls.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }
}

//! Job figures from polled job status: job RTO and work lost.

use contract::JobStatus;
use serde::{Deserialize, Serialize};

/// One poll of the job's status, at a clock time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSample {
    /// When the status was read, in clock ms.
    pub at_ms: f64,
    /// Frames committed so far.
    pub frames_done: u64,
    /// Frames the job needs.
    pub frames_total: u64,
    /// Lease epoch (grows by one at every takeover).
    pub epoch: u64,
    /// Frames the answering worker synthesized since it claimed the job.
    pub frames_synthesized: u64,
    /// Frames earlier owners synthesized and never committed, as published.
    pub frames_lost: u64,
}

impl JobSample {
    /// The sample for `status` read at `at_ms`.
    pub fn from_status(at_ms: f64, status: &JobStatus) -> Self {
        Self {
            at_ms,
            frames_done: status.frames_done,
            frames_total: status.frames_total,
            epoch: status.epoch,
            frames_synthesized: status.frames_synthesized,
            frames_lost: status.frames_lost,
        }
    }
}

/// When the job moved again after a fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JobRecovery {
    /// Committed frames when the fault took hold (first sample at or after it).
    pub frames_at_fault: u64,
    /// When committed progress first passed `frames_at_fault`.
    pub resumed_ms: f64,
    /// `resumed_ms - fault_at_ms`.
    pub job_rto_ms: f64,
}

/// Finds when the job's committed progress resumed after the fault.
///
/// The progress left by the fault is read from the first sample at or after
/// the fault (so a chunk the primary committed just before it is not taken
/// for a resumption); the job has resumed at the first later sample that
/// shows more committed frames. The answer is late by at most one poll
/// interval. `None` when progress never moved again, or no sample follows the
/// fault. A job already complete at the fault has nothing to resume: `None`.
pub fn job_recovery(samples: &[JobSample], fault_at_ms: f64) -> Option<JobRecovery> {
    let mut after: Vec<&JobSample> = samples.iter().filter(|s| s.at_ms >= fault_at_ms).collect();
    after.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let (first, rest) = after.split_first()?;
    if first.frames_total > 0 && first.frames_done >= first.frames_total {
        return None;
    }
    let resumed = rest.iter().find(|s| s.frames_done > first.frames_done)?;
    Some(JobRecovery {
        frames_at_fault: first.frames_done,
        resumed_ms: resumed.at_ms,
        job_rto_ms: resumed.at_ms - fault_at_ms,
    })
}

/// Job RTO in ms (see [`job_recovery`]).
pub fn job_rto(samples: &[JobSample], fault_at_ms: f64) -> Option<f64> {
    job_recovery(samples, fault_at_ms).map(|r| r.job_rto_ms)
}

/// Where a work-lost figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkLostSource {
    /// The worker's own `frames_lost` counter grew by this much.
    Worker,
    /// Estimated from the old owner's synthesized frames and the new owner's
    /// resume point (the old owner could not publish it, e.g. it was killed).
    Estimate,
}

/// Frames computed but thrown away because of the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkLost {
    /// Frames synthesized and never committed.
    pub frames: u64,
    /// How the figure was obtained.
    pub source: WorkLostSource,
}

/// Frames lost to the fault at `fault_at_ms`.
///
/// Two readings are compared and the larger one kept: the growth of the
/// worker-published `frames_lost` from the last sample before the fault to
/// the last sample; and, when the lease changed hands after the fault, the
/// old owner's frontier (the frame it started from plus what it synthesized,
/// at the last sample before the fault) minus the frame the new owner resumed
/// from. A worker's start frame is read as `frames_done - frames_synthesized`
/// (exact whenever no chunk was between synthesis and commit; epoch 1 starts
/// at 0). The estimate misses what the old owner synthesized after its last
/// sample, at most one chunk. `None` without a sample before and after the fault.
pub fn work_lost(samples: &[JobSample], fault_at_ms: f64) -> Option<WorkLost> {
    let mut sorted: Vec<&JobSample> = samples.iter().collect();
    sorted.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let before = sorted.iter().rev().find(|s| s.at_ms < fault_at_ms)?;
    let last = sorted.last().filter(|s| s.at_ms >= fault_at_ms)?;
    let reported = last.frames_lost.saturating_sub(before.frames_lost);
    let new_epoch = sorted
        .iter()
        .find(|s| s.at_ms >= fault_at_ms && s.epoch > before.epoch)
        .map(|s| s.epoch);
    let estimate = new_epoch.map(|epoch| {
        let frontier = start_frame(&sorted, before.epoch) + before.frames_synthesized;
        frontier.saturating_sub(start_frame(&sorted, epoch))
    });
    match estimate {
        Some(e) if e > reported => Some(WorkLost {
            frames: e,
            source: WorkLostSource::Estimate,
        }),
        _ => Some(WorkLost {
            frames: reported,
            source: WorkLostSource::Worker,
        }),
    }
}

/// The frame the owner of `epoch` started from (see [`work_lost`]).
fn start_frame(samples: &[&JobSample], epoch: u64) -> u64 {
    if epoch <= 1 {
        return 0;
    }
    samples
        .iter()
        .filter(|s| s.epoch == epoch)
        .map(|s| s.frames_done.saturating_sub(s.frames_synthesized))
        .max()
        .unwrap_or(0)
}

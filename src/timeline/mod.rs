//! The timeline of an iteration and the figures drawn from it.
//!
//! Everything here is a pure function of recorded data (probe samples, job
//! status samples, front-door snapshots, a fault's time), so that every figure
//! can be recomputed from a report and is tested on hand-checked recordings.
//!
//! Times are ms on the iteration's [`crate::clock::Clock`]. Outages are
//! counted from the fault's first sign: the earlier of its witness (the
//! engine's `die`/`oom`/`pause` event, a rule's counter) and the first probe
//! that failed after the fault was requested (see [`outage`]).

mod event;
mod frontdoor;
mod job;
mod latency;
mod outage;
mod recovery;
mod sample;
mod stats;

pub use event::{Event, EventKind};
pub use frontdoor::frontdoor_events;
pub use job::{job_recovery, job_rto, work_lost, JobRecovery, JobSample, WorkLost, WorkLostSource};
pub use latency::{latency_by_phase, latency_histogram, LatencySummary, PhaseLatencies};
pub use outage::{first_failure_after, outage, FaultTimes, OnsetSource, Outage};
pub use recovery::{
    errors, errors_between, first_failed_probe, probe_events, recovery, rto, Recovery,
};
pub use sample::{FrontdoorSnapshot, ProbeSample, ServerView};
pub use stats::{error_summary, nearest_rank, percentiles, ErrorSummary, Percentiles};

#[cfg(test)]
mod tests;

//! The timeline of an iteration and the figures drawn from it.
//!
//! Everything here is a pure function of recorded data (probe samples, job
//! status samples, front-door snapshots, a fault's time), so that every figure
//! can be recomputed from a report and is tested on hand-checked recordings.
//!
//! Times are ms on the iteration's [`crate::clock::Clock`]. The fault's time
//! is the instant it took effect (the engine's `die`/`oom`/`pause` event),
//! not when the harness asked for it.

mod event;
mod frontdoor;
mod job;
mod latency;
mod recovery;
mod stats;

pub use event::{Event, EventKind};
pub use frontdoor::frontdoor_events;
pub use job::{job_recovery, job_rto, work_lost, JobRecovery, JobSample, WorkLost, WorkLostSource};
pub use latency::{latency_by_phase, latency_histogram, LatencySummary, PhaseLatencies};
pub use recovery::{
    errors, errors_between, first_failed_probe, probe_events, recovery, rto, Recovery,
};
pub use stats::{error_summary, percentiles, ErrorSummary, Percentiles};

#[cfg(test)]
mod tests;

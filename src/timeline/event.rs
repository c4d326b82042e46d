//! Timeline events.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The stack answered ready.
    StackReady,
    /// The workload's job was accepted.
    JobSubmitted,
    /// The harness asked for a fault.
    FaultRequested,
    /// The fault's witness shows it took effect (the RTO clock starts here).
    FaultInEffect,
    /// The first probe after the fault that failed.
    FirstFailedProbe,
    /// The front door's health checks marked the primary down.
    FrontdoorPrimaryDown,
    /// Traffic reached the backup server.
    FrontdoorSwitchedToBackup,
    /// The front door marked the primary up again.
    FrontdoorPrimaryUp,
    /// The first probe of the sustained run of good probes (the RTO clock stops here).
    Recovered,
    /// The job's committed progress moved again after the fault.
    JobProgressResumed,
    /// The job finished.
    JobDone,
    /// The job failed.
    JobFailed,
    /// A fault was healed (unpause, reconnect, rules removed).
    FaultHealed,
    /// A scenario step ran (the detail says which).
    Step,
    /// Anything else worth showing on the timeline.
    Note,
}

/// One point on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When, in ms on the iteration's clock.
    pub at_ms: f64,
    /// What.
    pub kind: EventKind,
    /// Human-readable evidence (container, status, probe number, ...).
    pub detail: String,
}

impl Event {
    /// An event at `at_ms`.
    pub fn new(at_ms: f64, kind: EventKind, detail: impl Into<String>) -> Self {
        Self {
            at_ms,
            kind,
            detail: detail.into(),
        }
    }

    /// Sorts events by time (stable: simultaneous events keep their order).
    pub fn sort(events: &mut [Event]) {
        events.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    }
}

//! Timeline events.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What happened: the one vocabulary of an iteration's timeline, produced
/// here from recordings and by the drill, stored in report.json by these
/// snake_case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Every container of the stack is ready.
    StackUp,
    /// The first probe was scheduled.
    ProbesStarted,
    /// The job was accepted through the front door.
    JobSubmitted,
    /// A step started.
    StepStarted,
    /// The harness asked for a fault.
    FaultRequested,
    /// The fault's witness appeared (a `die`/`oom`/`pause` event, a rule's counter, ...).
    FaultInEffect,
    /// The fault's witness never appeared within its deadline.
    FaultUnwitnessed,
    /// The fault cannot be made here (no netem, no GPU); the step was skipped.
    FaultUnavailable,
    /// A fault was healed.
    FaultHealed,
    /// The first failed probe after a fault.
    FirstFailedProbe,
    /// HAProxy marked the primary down.
    FrontdoorMarkedPrimaryDown,
    /// HAProxy marked the primary up again.
    FrontdoorMarkedPrimaryUp,
    /// HAProxy sends traffic to the backup (standby) server.
    SwitchedToBackup,
    /// The first good probe after HAProxy marked the primary down, while the
    /// standby served (the primary not marked up again).
    FirstGoodProbeViaStandby,
    /// The first good probe after HAProxy marked the primary down, once it had
    /// marked the primary up again (the primary itself recovered, e.g. a healed fault).
    FirstGoodProbeViaPrimary,
    /// The first probe of the sustained run of good probes that ends the outage.
    SustainedGood,
    /// The job's committed progress moved again after the fault.
    JobProgressResumed,
    /// The job changed owner (a takeover), with the new epoch in the detail.
    JobOwnerChanged,
    /// The job reached `done`.
    JobDone,
    /// The job reached `failed`.
    JobFailed,
    /// A runbook started.
    RunbookStarted,
    /// A runbook ended (exit code in the detail).
    RunbookEnded,
    /// The audio check finished (verdict in the detail).
    AudioVerdict,
    /// Teardown of the stack started.
    TeardownStarted,
    /// What a Kubernetes cluster said about the run's pods: a pod made or
    /// gone, a container seen dying (exit code, reason) or starting, and the
    /// cluster's own Event objects (`Killing`, `Started`, `BackOff`, ...).
    ClusterEvent,
    /// Anything else worth a line (a deadline passed, a warning).
    Note,
}

impl EventKind {
    /// Every kind, in timeline order.
    pub const ALL: [EventKind; 26] = [
        EventKind::StackUp,
        EventKind::ProbesStarted,
        EventKind::JobSubmitted,
        EventKind::StepStarted,
        EventKind::FaultRequested,
        EventKind::FaultInEffect,
        EventKind::FaultUnwitnessed,
        EventKind::FaultUnavailable,
        EventKind::FaultHealed,
        EventKind::FirstFailedProbe,
        EventKind::FrontdoorMarkedPrimaryDown,
        EventKind::FrontdoorMarkedPrimaryUp,
        EventKind::SwitchedToBackup,
        EventKind::FirstGoodProbeViaStandby,
        EventKind::FirstGoodProbeViaPrimary,
        EventKind::SustainedGood,
        EventKind::JobProgressResumed,
        EventKind::JobOwnerChanged,
        EventKind::JobDone,
        EventKind::JobFailed,
        EventKind::RunbookStarted,
        EventKind::RunbookEnded,
        EventKind::AudioVerdict,
        EventKind::TeardownStarted,
        EventKind::ClusterEvent,
        EventKind::Note,
    ];

    /// The snake_case name report.json uses (`fault_in_effect`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::StackUp => "stack_up",
            EventKind::ProbesStarted => "probes_started",
            EventKind::JobSubmitted => "job_submitted",
            EventKind::StepStarted => "step_started",
            EventKind::FaultRequested => "fault_requested",
            EventKind::FaultInEffect => "fault_in_effect",
            EventKind::FaultUnwitnessed => "fault_unwitnessed",
            EventKind::FaultUnavailable => "fault_unavailable",
            EventKind::FaultHealed => "fault_healed",
            EventKind::FirstFailedProbe => "first_failed_probe",
            EventKind::FrontdoorMarkedPrimaryDown => "frontdoor_marked_primary_down",
            EventKind::FrontdoorMarkedPrimaryUp => "frontdoor_marked_primary_up",
            EventKind::SwitchedToBackup => "switched_to_backup",
            EventKind::FirstGoodProbeViaStandby => "first_good_probe_via_standby",
            EventKind::FirstGoodProbeViaPrimary => "first_good_probe_via_primary",
            EventKind::SustainedGood => "sustained_good",
            EventKind::JobProgressResumed => "job_progress_resumed",
            EventKind::JobOwnerChanged => "job_owner_changed",
            EventKind::JobDone => "job_done",
            EventKind::JobFailed => "job_failed",
            EventKind::RunbookStarted => "runbook_started",
            EventKind::RunbookEnded => "runbook_ended",
            EventKind::AudioVerdict => "audio_verdict",
            EventKind::TeardownStarted => "teardown_started",
            EventKind::ClusterEvent => "cluster_event",
            EventKind::Note => "note",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened during an iteration: one point on its timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When, in ms since the iteration's start (on its clock).
    pub at_ms: f64,
    /// What.
    pub kind: EventKind,
    /// Details for a person (the witness of a fault, the server HAProxy
    /// switched to, a probe's number, ...).
    #[serde(default)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_named_as_serde_writes_it() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }
}

//! Front-door RTO from probe samples.
//!
//! The rule: after the fault took effect, the outage starts at the first
//! failed probe, and service is back at the first probe of a run of `sustain`
//! consecutive good probes after that failure (a short good spell that a new
//! failure interrupts does not count). RTO is the time from the fault to that
//! probe's *scheduled* instant. Because probes are due every `interval`,
//! the measured RTO is late by less than one interval, and early by at most
//! the probe's own send delay: the error bound is one probe interval.
//!
//! Probes are ordered and selected by their scheduled time: a probe due
//! before the fault is not evidence about the fault.

use serde::{Deserialize, Serialize};

use super::{Event, EventKind};
use crate::probe::ProbeSample;

/// What the probes say about recovery from a fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Recovery {
    /// No probe failed after the fault and at least `sustain` succeeded: RTO 0.
    NoOutageSeen,
    /// Probes failed, then a sustained run of good ones began at `recovered_ms`.
    Recovered {
        /// Scheduled time of the first failed probe after the fault.
        first_failed_ms: f64,
        /// Scheduled time of the first probe of the sustained good run.
        recovered_ms: f64,
        /// `recovered_ms - fault_at_ms`.
        rto_ms: f64,
    },
    /// Probes failed and no sustained good run followed before probing ended.
    NotRecovered {
        /// Scheduled time of the first failed probe after the fault.
        first_failed_ms: f64,
    },
    /// Too few probes after the fault to say anything.
    NoEvidence,
}

/// Classifies recovery from a fault in effect at `fault_at_ms`, requiring
/// `sustain` consecutive good probes (0 is treated as 1).
pub fn recovery(samples: &[ProbeSample], fault_at_ms: f64, sustain: usize) -> Recovery {
    let sustain = sustain.max(1);
    let after = after_fault(samples, fault_at_ms);
    let Some(first_fail) = after.iter().position(|s| !s.ok) else {
        return if after.len() >= sustain {
            Recovery::NoOutageSeen
        } else {
            Recovery::NoEvidence
        };
    };
    let first_failed_ms = after[first_fail].scheduled_ms;
    let mut run = 0usize;
    for (i, s) in after.iter().enumerate().skip(first_fail + 1) {
        if s.ok {
            run += 1;
            if run == sustain {
                let start = after[i + 1 - sustain].scheduled_ms;
                return Recovery::Recovered {
                    first_failed_ms,
                    recovered_ms: start,
                    rto_ms: start - fault_at_ms,
                };
            }
        } else {
            run = 0;
        }
    }
    Recovery::NotRecovered { first_failed_ms }
}

/// Front-door RTO in ms: 0 when no outage was seen, `None` when the service
/// never recovered while probed (or there is too little evidence).
pub fn rto(samples: &[ProbeSample], fault_at_ms: f64, sustain: usize) -> Option<f64> {
    match recovery(samples, fault_at_ms, sustain) {
        Recovery::NoOutageSeen => Some(0.0),
        Recovery::Recovered { rto_ms, .. } => Some(rto_ms),
        Recovery::NotRecovered { .. } | Recovery::NoEvidence => None,
    }
}

/// The first probe due at or after `fault_at_ms` that failed.
pub fn first_failed_probe(samples: &[ProbeSample], fault_at_ms: f64) -> Option<&ProbeSample> {
    after_fault(samples, fault_at_ms)
        .into_iter()
        .find(|s| !s.ok)
}

/// How many probes failed in all.
pub fn errors(samples: &[ProbeSample]) -> usize {
    samples.iter().filter(|s| !s.ok).count()
}

/// How many probes due in `[from_ms, to_ms)` failed.
pub fn errors_between(samples: &[ProbeSample], from_ms: f64, to_ms: f64) -> usize {
    samples
        .iter()
        .filter(|s| !s.ok && s.scheduled_ms >= from_ms && s.scheduled_ms < to_ms)
        .count()
}

/// The probe events for a timeline: the first failed probe and the recovery.
pub fn probe_events(samples: &[ProbeSample], fault_at_ms: f64, sustain: usize) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(s) = first_failed_probe(samples, fault_at_ms) {
        events.push(Event::new(
            s.scheduled_ms,
            EventKind::FirstFailedProbe,
            format!(
                "probe #{}: {}",
                s.seq,
                s.error.as_deref().unwrap_or("failed")
            ),
        ));
    }
    if let Recovery::Recovered {
        recovered_ms,
        rto_ms,
        ..
    } = recovery(samples, fault_at_ms, sustain)
    {
        let seq = samples
            .iter()
            .find(|s| s.scheduled_ms == recovered_ms)
            .map(|s| s.seq)
            .unwrap_or_default();
        events.push(Event::new(
            recovered_ms,
            EventKind::Recovered,
            format!("probe #{seq} starts {sustain} good probes in a row; RTO {rto_ms:.1} ms"),
        ));
    }
    events
}

/// The samples due at or after the fault, in schedule order.
fn after_fault(samples: &[ProbeSample], fault_at_ms: f64) -> Vec<&ProbeSample> {
    let mut after: Vec<&ProbeSample> = samples
        .iter()
        .filter(|s| s.scheduled_ms >= fault_at_ms)
        .collect();
    after.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    after
}

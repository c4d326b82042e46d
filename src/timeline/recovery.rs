//! Front-door RTO from probe samples.
//!
//! The rule: after the fault took effect, the outage starts at the first
//! failed probe, and service is back at the first probe of a run of `sustain`
//! consecutive good probes after that failure (a short good spell that a new
//! failure interrupts does not count). RTO is the time from the fault to the
//! instant that probe was *sent*: the moment it found the service healthy.
//!
//! The true recovery lies after the last failed probe left and before the
//! first good one was answered, so the RTO is late by less than the gap
//! between those two sends (one probe interval when the schedule is kept)
//! and early by at most the good probe's own round trip. That gap is
//! reported with each recovery as its error bound.
//!
//! Probes are selected by their send time (a probe sent before the fault is
//! not evidence about it) and ordered by their place in the schedule.

use serde::{Deserialize, Serialize};

use super::ProbeSample;
use super::{Event, EventKind};

/// What the probes say about recovery from a fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Recovery {
    /// No probe failed after the fault and at least `sustain` succeeded: RTO 0.
    NoOutageSeen,
    /// Probes failed, then a sustained run of good ones began at `recovered_ms`.
    Recovered {
        /// Send time of the first failed probe after the fault.
        first_failed_ms: f64,
        /// Send time of the last failed probe before the sustained good run.
        last_failed_ms: f64,
        /// Send time of the first probe of the sustained good run.
        recovered_ms: f64,
        /// `recovered_ms - fault_at_ms`.
        rto_ms: f64,
        /// `recovered_ms - last_failed_ms`: the RTO is late by less than this.
        error_bound_ms: f64,
    },
    /// Probes failed and no sustained good run followed before probing ended.
    NotRecovered {
        /// Send time of the first failed probe after the fault.
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
    let first_failed_ms = after[first_fail].sent_ms;
    let mut run = 0usize;
    for (i, s) in after.iter().enumerate().skip(first_fail + 1) {
        if s.ok {
            run += 1;
            if run == sustain {
                let start = i + 1 - sustain;
                let recovered_ms = after[start].sent_ms;
                let last_failed_ms = after[start - 1].sent_ms;
                return Recovery::Recovered {
                    first_failed_ms,
                    last_failed_ms,
                    recovered_ms,
                    rto_ms: recovered_ms - fault_at_ms,
                    error_bound_ms: recovered_ms - last_failed_ms,
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

/// The first probe sent at or after `fault_at_ms` that failed.
pub fn first_failed_probe(samples: &[ProbeSample], fault_at_ms: f64) -> Option<&ProbeSample> {
    after_fault(samples, fault_at_ms)
        .into_iter()
        .find(|s| !s.ok)
}

/// How many probes failed in all.
pub fn errors(samples: &[ProbeSample]) -> usize {
    samples.iter().filter(|s| !s.ok).count()
}

/// How many probes sent in `[from_ms, to_ms)` failed.
pub fn errors_between(samples: &[ProbeSample], from_ms: f64, to_ms: f64) -> usize {
    samples
        .iter()
        .filter(|s| !s.ok && s.sent_ms >= from_ms && s.sent_ms < to_ms)
        .count()
}

/// The probe events for a timeline: the first failed probe and the recovery.
pub fn probe_events(samples: &[ProbeSample], fault_at_ms: f64, sustain: usize) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(s) = first_failed_probe(samples, fault_at_ms) {
        events.push(Event::new(
            s.sent_ms,
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
            .find(|s| s.sent_ms == recovered_ms)
            .map(|s| s.seq)
            .unwrap_or_default();
        events.push(Event::new(
            recovered_ms,
            EventKind::SustainedGood,
            format!("probe #{seq} starts {sustain} good probes in a row; RTO {rto_ms:.1} ms"),
        ));
    }
    events
}

/// The samples sent at or after the fault, in schedule order.
fn after_fault(samples: &[ProbeSample], fault_at_ms: f64) -> Vec<&ProbeSample> {
    let mut after: Vec<&ProbeSample> = samples
        .iter()
        .filter(|s| s.sent_ms >= fault_at_ms)
        .collect();
    after.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    after
}

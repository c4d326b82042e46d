//! The outage a fault caused, counted from its first sign.
//!
//! A fault shows itself in two ways: its witness (the engine's `die`/`oom`
//! event, a rule's counter, the worker's report) and probes that fail. Either
//! can come first: Docker's `oom` event can arrive hundreds of milliseconds
//! after clients already get 502s, while a partition's counter moves before
//! any probe notices. So the outage's **onset** is the earlier of the witness
//! and the first probe sent after the fault was *requested* that failed. A
//! probe that failed before the witness is part of the outage.
//!
//! From the onset:
//! - **RTO** runs to the send time of the first probe of the sustained good
//!   run ([`super::recovery`]);
//! - **outage** runs from the first failed probe to the same instant (what
//!   clients saw; 0 when no probe failed);
//! - the **error bound** is measured, not nominal: the gap between the last
//!   failed probe and the first good one (the true recovery lies in it), plus
//!   the witness's own uncertainty when the witness is the onset. When no
//!   probe failed, it is the widest gap between probes around the onset: an
//!   outage shorter than that could have fallen between two probes.

use serde::{Deserialize, Serialize};

use super::ProbeSample;
use super::{recovery, Recovery};

/// What marked the start of an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnsetSource {
    /// The fault's witness came first (or no probe failed).
    Witness,
    /// A probe failed before the witness appeared.
    FailedProbe,
}

impl OnsetSource {
    /// The name used in report.json and the reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OnsetSource::Witness => "witness",
            OnsetSource::FailedProbe => "failed_probe",
        }
    }
}

impl std::fmt::Display for OnsetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fault as its record shows it: when it was asked for and when its witness appeared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultTimes {
    /// When the harness asked for the fault, in clock ms.
    pub requested_ms: f64,
    /// When its witness shows it took effect, in clock ms.
    pub witness_ms: f64,
    /// How far the witness time may be from the true moment, in ms.
    pub witness_uncertainty_ms: f64,
}

/// The outage of one fault, from its onset to the sustained recovery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    /// When the fault first showed, in clock ms.
    pub onset_ms: f64,
    /// What showed it first.
    pub onset_source: OnsetSource,
    /// Send time of the first probe that failed after the fault was requested.
    pub first_failed_ms: Option<f64>,
    /// What the probes say, measured from the onset.
    pub recovery: Recovery,
    /// Onset to the first probe of the sustained good run (0 when no probe failed).
    pub rto_ms: Option<f64>,
    /// First failed probe to the first probe of the sustained good run (0 when none failed).
    pub outage_ms: Option<f64>,
    /// How far `rto_ms` and `outage_ms` may be from the truth, in ms.
    pub error_bound_ms: Option<f64>,
}

/// The first probe sent at or after `from_ms` that failed, in schedule order.
pub fn first_failure_after(samples: &[ProbeSample], from_ms: f64) -> Option<&ProbeSample> {
    samples
        .iter()
        .filter(|s| !s.ok && s.sent_ms >= from_ms)
        .min_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms))
}

/// Measures the outage of a fault from its first sign, requiring `sustain`
/// consecutive good probes to call it over.
pub fn outage(samples: &[ProbeSample], fault: FaultTimes, sustain: usize) -> Outage {
    let first_failed = first_failure_after(samples, fault.requested_ms);
    let first_failed_ms = first_failed.map(|p| p.sent_ms);
    let (onset_ms, onset_source) = match first_failed_ms {
        Some(f) if f < fault.witness_ms => (f, OnsetSource::FailedProbe),
        _ => (fault.witness_ms, OnsetSource::Witness),
    };
    let onset_uncertainty = match onset_source {
        OnsetSource::Witness => fault.witness_uncertainty_ms.max(0.0),
        OnsetSource::FailedProbe => 0.0,
    };
    let recovery = recovery(samples, onset_ms, sustain);
    let (rto_ms, outage_ms, error_bound_ms) = match recovery {
        Recovery::Recovered {
            first_failed_ms,
            recovered_ms,
            error_bound_ms,
            ..
        } => (
            Some(recovered_ms - onset_ms),
            Some(recovered_ms - first_failed_ms),
            Some(error_bound_ms + onset_uncertainty),
        ),
        Recovery::NoOutageSeen => (
            Some(0.0),
            Some(0.0),
            widest_gap_around(samples, onset_ms, sustain).map(|g| g + onset_uncertainty),
        ),
        Recovery::NotRecovered { .. } | Recovery::NoEvidence => (None, None, None),
    };
    Outage {
        onset_ms,
        onset_source,
        first_failed_ms,
        recovery,
        rto_ms,
        outage_ms,
        error_bound_ms,
    }
}

/// The widest gap between consecutive probe sends from the last probe sent
/// before `at_ms` through the `sustain` probes after it: how long an outage
/// could have lasted unseen.
fn widest_gap_around(samples: &[ProbeSample], at_ms: f64, sustain: usize) -> Option<f64> {
    let mut sends: Vec<f64> = samples.iter().map(|s| s.sent_ms).collect();
    sends.sort_by(f64::total_cmp);
    let first_after = sends.partition_point(|&t| t < at_ms);
    let from = first_after.saturating_sub(1);
    let to = (first_after + sustain.max(1)).min(sends.len());
    sends[from..to]
        .windows(2)
        .map(|w| w[1] - w[0])
        .max_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probes every 20 ms from 0; those whose index is in `failed` failed.
    fn probes(count: u64, failed: impl Fn(u64) -> bool) -> Vec<ProbeSample> {
        (0..count)
            .map(|i| {
                let ok = !failed(i);
                ProbeSample {
                    seq: i,
                    scheduled_ms: i as f64 * 20.0,
                    sent_ms: i as f64 * 20.0 + 0.5,
                    latency_ms: 2.0,
                    status: ok.then_some(200),
                    ok,
                    error: (!ok).then(|| "HTTP 502".into()),
                }
            })
            .collect()
    }

    /// The OOM drill of the issue: 502s from 9394 ms, the witness at 9878 ms.
    /// The probes that failed before the witness are the outage's start.
    #[test]
    fn probes_that_fail_before_the_witness_start_the_outage() {
        let samples = probes(700, |i| (470..490).contains(&i)); // 9400.5 .. 9780.5 failed
        let fault = FaultTimes {
            requested_ms: 9106.0,
            witness_ms: 9878.0,
            witness_uncertainty_ms: 772.0,
        };
        let o = outage(&samples, fault, 5);
        assert_eq!(o.onset_source, OnsetSource::FailedProbe);
        assert_eq!(o.onset_ms, 9400.5);
        assert_eq!(o.first_failed_ms, Some(9400.5));
        // Recovered at probe 490 (9800.5): 400 ms, not the 0 ms the witness-based rule gave.
        assert_eq!(o.rto_ms, Some(400.0));
        assert_eq!(o.outage_ms, Some(400.0));
        // The real gap around the recovery; no witness uncertainty (a probe began it).
        assert_eq!(o.error_bound_ms, Some(20.0));
    }

    #[test]
    fn a_witness_before_the_first_failure_starts_the_outage_with_its_uncertainty() {
        let samples = probes(200, |i| (52..60).contains(&i)); // 1040.5 .. 1180.5 failed
        let fault = FaultTimes {
            requested_ms: 990.0,
            witness_ms: 1010.0,
            witness_uncertainty_ms: 20.0,
        };
        let o = outage(&samples, fault, 3);
        assert_eq!(o.onset_source, OnsetSource::Witness);
        assert_eq!(o.rto_ms, Some(1200.5 - 1010.0));
        assert_eq!(o.outage_ms, Some(160.0));
        assert_eq!(o.error_bound_ms, Some(20.0 + 20.0));
    }

    #[test]
    fn a_failure_before_the_request_is_not_evidence() {
        let samples = probes(200, |i| i == 10 || (60..65).contains(&i));
        let fault = FaultTimes {
            requested_ms: 1000.0,
            witness_ms: 1300.0,
            witness_uncertainty_ms: 300.0,
        };
        let o = outage(&samples, fault, 3);
        assert_eq!(o.onset_ms, 1200.5);
        assert_eq!(o.first_failed_ms, Some(1200.5));
        assert_eq!(o.rto_ms, Some(100.0));
    }

    #[test]
    fn no_failed_probe_is_rto_zero_with_the_probe_gap_as_bound() {
        let mut samples = probes(100, |_| false);
        samples[51].sent_ms += 15.0; // a late probe widens the gap an outage could hide in
        let fault = FaultTimes {
            requested_ms: 1000.0,
            witness_ms: 1010.0,
            witness_uncertainty_ms: 10.0,
        };
        let o = outage(&samples, fault, 3);
        assert_eq!(o.recovery, Recovery::NoOutageSeen);
        assert_eq!((o.rto_ms, o.outage_ms), (Some(0.0), Some(0.0)));
        assert_eq!(o.error_bound_ms, Some(35.0 + 10.0));
    }

    #[test]
    fn an_outage_that_never_ends_has_no_figures() {
        let samples = probes(100, |i| i >= 50);
        let fault = FaultTimes {
            requested_ms: 990.0,
            witness_ms: 1000.0,
            witness_uncertainty_ms: 10.0,
        };
        let o = outage(&samples, fault, 3);
        assert_eq!(
            (o.rto_ms, o.outage_ms, o.error_bound_ms),
            (None, None, None)
        );
    }
}

//! Probe latency distributions, split around the fault.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::ProbeSample;

/// A latency distribution in ms (from HDR histograms at microsecond
/// resolution, three significant figures). Failed probes are included with
/// the time they took to fail, as a client waiting on them would see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Probes in this phase.
    pub count: u64,
    /// Of those, how many failed.
    pub failed: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Summarizes a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>, failed: u64) -> Self {
        if h.is_empty() {
            return Self {
                failed,
                ..Self::default()
            };
        }
        let ms = |us: u64| us as f64 / 1e3;
        Self {
            count: h.len(),
            failed,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1e3,
        }
    }
}

/// Latencies before the fault, during the outage and after recovery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseLatencies {
    /// Probes sent before the fault took effect.
    pub before: LatencySummary,
    /// Probes sent from the fault to the recovery (to the end if none).
    pub during: LatencySummary,
    /// Probes sent from the recovery on.
    pub after: LatencySummary,
}

/// An HDR histogram (microseconds) of the samples' latencies.
pub fn latency_histogram<'a>(samples: impl IntoIterator<Item = &'a ProbeSample>) -> Histogram<u64> {
    // Auto-resizing with 3 significant figures: cannot fail to construct.
    let mut h = Histogram::<u64>::new(3).expect("3 significant figures is a valid precision");
    for s in samples {
        let us = (s.latency_ms.max(0.0) * 1e3).round() as u64;
        h.record(us.max(1))
            .expect("auto-resizing histogram accepts any value");
    }
    h
}

/// Splits samples by send time at the fault and at the recovery.
pub fn latency_by_phase(
    samples: &[ProbeSample],
    fault_at_ms: f64,
    recovered_at_ms: Option<f64>,
) -> PhaseLatencies {
    let end = recovered_at_ms.unwrap_or(f64::INFINITY);
    let summarize = |pick: &dyn Fn(&ProbeSample) -> bool| {
        let picked: Vec<&ProbeSample> = samples.iter().filter(|s| pick(s)).collect();
        let failed = picked.iter().filter(|s| !s.ok).count() as u64;
        LatencySummary::from_histogram(&latency_histogram(picked), failed)
    };
    PhaseLatencies {
        before: summarize(&|s| s.sent_ms < fault_at_ms),
        during: summarize(&|s| s.sent_ms >= fault_at_ms && s.sent_ms < end),
        after: summarize(&|s| s.sent_ms >= end),
    }
}

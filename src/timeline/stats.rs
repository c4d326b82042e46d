//! Percentiles across iterations.

use serde::{Deserialize, Serialize};

/// Percentiles of one figure over iterations (nearest-rank: each is one of
/// the measured values). The unit is the figure's own; `error_bound` says how
/// far each value may be off (one probe interval for a front-door RTO).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// How many values.
    pub n: usize,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// The measurement error of each value (± this much).
    pub error_bound: f64,
}

/// Nearest-rank percentiles of `values` (NaNs ignored); `None` when empty.
pub fn percentiles(values: &[f64], error_bound: f64) -> Option<Percentiles> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let r = (p / 100.0 * v.len() as f64).ceil() as usize;
        v[r.clamp(1, v.len()) - 1]
    };
    Some(Percentiles {
        n: v.len(),
        min: v[0],
        p50: rank(50.0),
        p95: rank(95.0),
        p99: rank(99.0),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
        error_bound,
    })
}

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

/// The nearest-rank percentile `q` (0 to 100) of values sorted ascending:
/// always one of the measured values. The one percentile rule of the tool:
/// summaries, verdicts, renderers and `compare` all use it.
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Nearest-rank percentiles of `values` (NaNs ignored); `None` when empty.
pub fn percentiles(values: &[f64], error_bound: f64) -> Option<Percentiles> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| nearest_rank(&v, p).unwrap_or(f64::NAN);
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

/// How far measurements fell from a known truth (`measured - true`, in ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// How many measurements.
    pub n: usize,
    /// Mean signed error: the systematic offset.
    pub bias_ms: f64,
    /// Standard deviation of the signed error: the spread.
    pub spread_ms: f64,
    /// Most negative error (measured shorter than the truth).
    pub min_ms: f64,
    /// Most positive error (measured longer than the truth).
    pub max_ms: f64,
    /// Median of |error|.
    pub p50_abs_ms: f64,
    /// 95th percentile of |error| (nearest rank).
    pub p95_abs_ms: f64,
    /// Largest |error|.
    pub max_abs_ms: f64,
    /// The bound the errors are held to.
    pub bound_ms: f64,
    /// True when every |error| is strictly below `bound_ms`.
    pub within_bound: bool,
}

/// Summarizes signed errors against a bound; `None` when there are none.
pub fn error_summary(errors_ms: &[f64], bound_ms: f64) -> Option<ErrorSummary> {
    let n = errors_ms.len();
    if n == 0 || errors_ms.iter().any(|e| !e.is_finite()) {
        return None;
    }
    let mean = errors_ms.iter().sum::<f64>() / n as f64;
    let var = errors_ms.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n as f64;
    let abs: Vec<f64> = errors_ms.iter().map(|e| e.abs()).collect();
    let abs_p = percentiles(&abs, 0.0)?;
    let signed = percentiles(errors_ms, 0.0)?;
    Some(ErrorSummary {
        n,
        bias_ms: mean,
        spread_ms: var.sqrt(),
        min_ms: signed.min,
        max_ms: signed.max,
        p50_abs_ms: abs_p.p50,
        p95_abs_ms: abs_p.p95,
        max_abs_ms: abs_p.max,
        bound_ms,
        within_bound: abs_p.max < bound_ms,
    })
}

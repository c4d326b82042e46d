//! The seam detector: a linear-prediction residual test at one boundary.
//!
//! A predictor fitted on the audio just before a boundary predicts the
//! samples across it. Where the audio continues naturally, the residual at
//! the boundary looks like the residual around it; where a chunk was
//! repeated, dropped, shifted or a click spliced in, the first samples after
//! the boundary break the prediction and the residual there stands many
//! local standard deviations above its surroundings.

use serde::Serialize;

use super::lpc::Predictor;

/// Settings of the detector. [`DetectorConfig::default`] is the calibrated one
/// (see `docs/verify.md` for the calibration).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetectorConfig {
    /// Linear-prediction order.
    pub order: usize,
    /// Samples before the boundary the predictor is fitted on.
    pub fit_samples: usize,
    /// Samples before the boundary whose residual sets the local level.
    pub context_before: usize,
    /// Samples after the boundary (past the peak zone) whose residual also sets the local level.
    pub context_after: usize,
    /// The peak zone starts this many samples before the boundary.
    pub zone_before: usize,
    /// The peak zone ends this many samples after the boundary.
    pub zone_after: usize,
    /// Score above which a boundary is suspect.
    pub threshold: f64,
    /// Lowest local residual level assumed, in sample units: keeps near-silent
    /// stretches from turning rounding noise into huge scores.
    pub level_floor: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            order: 24,
            fit_samples: 1024,
            context_before: 512,
            context_after: 256,
            zone_before: 2,
            zone_after: 6,
            threshold: 8.0,
            level_floor: 2.0,
        }
    }
}

/// The detector's reading at one boundary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundaryScore {
    /// Peak absolute residual in the zone over the local residual level.
    pub score: f64,
    /// Where the residual peaks (absolute sample offset).
    pub peak_sample: u64,
    /// The peak absolute residual.
    pub peak_residual: f64,
    /// The local residual level (RMS, at least the floor).
    pub local_level: f64,
}

impl DetectorConfig {
    /// Scores the boundary at sample `at`; `None` when the audio does not
    /// hold enough samples on either side to judge it.
    pub fn score(&self, samples: &[i16], at: usize) -> Option<BoundaryScore> {
        let p = self.order;
        let before = self.fit_samples.max(self.context_before) + p;
        let after_needed = self.zone_after + p + 32;
        if at < 2 * p + 64 || at + after_needed > samples.len() {
            return None;
        }
        let start = at.saturating_sub(before);
        let end = (at + self.zone_after + p + self.context_after).min(samples.len());
        let x: Vec<f64> = samples[start..end].iter().map(|&s| s as f64).collect();
        let b = at - start;

        let fit_from = b.saturating_sub(self.fit_samples);
        let predictor = Predictor::fit(&x[fit_from..b], p);

        let ctx_from = b.saturating_sub(self.context_before).max(p);
        let residual = predictor.residual(&x, ctx_from..x.len());
        let at_r = |n: usize| residual[n - ctx_from];

        let zone = (b - self.zone_before)..(b + self.zone_after);
        let (peak_at, peak) = zone
            .map(|n| (n, at_r(n).abs()))
            .fold(
                (b, -1.0),
                |best, cur| if cur.1 > best.1 { cur } else { best },
            );

        let rms = |range: std::ops::Range<usize>| -> f64 {
            if range.is_empty() {
                return 0.0;
            }
            let len = range.len() as f64;
            (range.map(|n| at_r(n).powi(2)).sum::<f64>() / len).sqrt()
        };
        let level_before = rms(ctx_from..(b - self.zone_before));
        let level_after = rms((b + self.zone_after + p).min(x.len())..x.len());
        let local_level = level_before.max(level_after).max(self.level_floor);

        Some(BoundaryScore {
            score: peak / local_level,
            peak_sample: (start + peak_at) as u64,
            peak_residual: peak,
            local_level,
        })
    }
}

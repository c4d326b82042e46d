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
    /// Samples on each side of the boundary whose residual sets the local level.
    pub context_before: usize,
    /// Length of the stretches of residual whose busiest one sets a side's level.
    pub level_window: usize,
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
            level_window: 64,
            zone_before: 2,
            zone_after: 6,
            threshold: 12.0,
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
    ///
    /// Two predictors are fitted: one on the audio before the boundary,
    /// predicting forward across it, and one on the audio after it,
    /// predicting backward across it. Each side's own residual sets the local
    /// level (the larger of the two counts, so that audio that is simply
    /// harder to predict on one side explains a larger residual); the score
    /// is the larger peak of the two predictions in the zone at the boundary
    /// over that level.
    pub fn score(&self, samples: &[i16], at: usize) -> Option<BoundaryScore> {
        let p = self.order;
        let side = self.fit_samples.max(self.context_before) + p;
        let needed = 2 * p + 64;
        if at < needed || at + needed > samples.len() {
            return None;
        }
        let start = at.saturating_sub(side);
        let end = (at + side).min(samples.len());
        let x: Vec<f64> = samples[start..end].iter().map(|&s| s as f64).collect();
        let b = at - start;
        let forward = self.one_way(&x, b);
        let mut reversed = x.clone();
        reversed.reverse();
        let backward = self.one_way(&reversed, x.len() - b);

        let local_level = forward
            .own_level
            .max(backward.own_level)
            .max(self.level_floor);
        let (peak, peak_at) = if forward.peak >= backward.peak {
            (forward.peak, start + forward.peak_at)
        } else {
            (backward.peak, start + (x.len() - 1 - backward.peak_at))
        };
        Some(BoundaryScore {
            score: peak / local_level,
            peak_sample: peak_at as u64,
            peak_residual: peak,
            local_level,
        })
    }

    /// Forward prediction across the boundary at `b` of `x`: the peak
    /// residual in the zone and the residual level before it.
    fn one_way(&self, x: &[f64], b: usize) -> OneWay {
        let p = self.order;
        let fit_from = b.saturating_sub(self.fit_samples);
        let predictor = Predictor::fit(&x[fit_from..b], p);
        let ctx_from = b.saturating_sub(self.context_before).max(p);
        let zone_end = (b + self.zone_after).min(x.len());
        let residual = predictor.residual(x, ctx_from..zone_end);
        let zone_start = b - self.zone_before;
        let (peak_at, peak) = (zone_start..zone_end)
            .map(|n| (n, residual[n - ctx_from].abs()))
            .fold(
                (b, -1.0),
                |best, cur| if cur.1 > best.1 { cur } else { best },
            );
        let before = &residual[..zone_start - ctx_from];
        let own_level = busiest_window_rms(before, self.level_window);
        OneWay {
            peak,
            peak_at,
            own_level,
        }
    }
}

/// RMS of the busiest `window`-sample stretch of `residual` (stretches
/// taken every half window), so that a burst near the boundary raises the
/// level the boundary is judged against.
fn busiest_window_rms(residual: &[f64], window: usize) -> f64 {
    let window = window.max(1).min(residual.len().max(1));
    if residual.is_empty() {
        return 0.0;
    }
    let step = (window / 2).max(1);
    let mut best = 0.0f64;
    let mut start = 0;
    loop {
        let end = (start + window).min(residual.len());
        let stretch = &residual[start..end];
        let ms = stretch.iter().map(|e| e * e).sum::<f64>() / stretch.len() as f64;
        best = best.max(ms);
        if end == residual.len() {
            break;
        }
        start += step;
    }
    best.sqrt()
}

/// One direction's reading.
struct OneWay {
    peak: f64,
    peak_at: usize,
    own_level: f64,
}

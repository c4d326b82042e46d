//! Linear prediction: autocorrelation, Levinson-Durbin, and the prediction residual.

/// Predictor coefficients `a` such that `x[n] ≈ Σ a[j] · x[n-1-j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictor {
    /// Coefficient per lag, lag 1 first.
    pub coeffs: Vec<f64>,
}

impl Predictor {
    /// Fits a predictor of `order` on `segment` (Hann-windowed autocorrelation
    /// method). A silent or too short segment gives the zero predictor, whose
    /// residual is the signal itself.
    pub fn fit(segment: &[f64], order: usize) -> Self {
        let r = autocorrelation(segment, order);
        Self {
            coeffs: levinson_durbin(&r),
        }
    }

    /// Residual `x[n] - Σ a[j] · x[n-1-j]` for `n` in `range`; `x` must hold
    /// `order` samples before `range.start`.
    pub fn residual(&self, x: &[f64], range: std::ops::Range<usize>) -> Vec<f64> {
        let p = self.coeffs.len();
        debug_assert!(range.start >= p && range.end <= x.len());
        range
            .map(|n| {
                let past = &x[n - p..n];
                // past[p-1] is x[n-1], matched with coeffs[0].
                let predicted: f64 = self
                    .coeffs
                    .iter()
                    .zip(past.iter().rev())
                    .map(|(a, v)| a * v)
                    .sum();
                x[n] - predicted
            })
            .collect()
    }
}

/// Autocorrelation at lags `0..=order` of the Hann-windowed segment.
pub fn autocorrelation(segment: &[f64], order: usize) -> Vec<f64> {
    let n = segment.len();
    let windowed: Vec<f64> = if n < 2 {
        segment.to_vec()
    } else {
        let step = std::f64::consts::TAU / (n - 1) as f64;
        segment
            .iter()
            .enumerate()
            .map(|(i, v)| v * (0.5 - 0.5 * (step * i as f64).cos()))
            .collect()
    };
    (0..=order)
        .map(|lag| {
            if lag >= n {
                return 0.0;
            }
            windowed[lag..]
                .iter()
                .zip(&windowed[..n - lag])
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect()
}

/// Levinson-Durbin recursion: predictor coefficients from autocorrelation
/// `r[0..=p]`. A tiny white-noise correction on `r[0]` keeps it stable on
/// near-silent input; a zero `r[0]` yields the zero predictor.
pub fn levinson_durbin(r: &[f64]) -> Vec<f64> {
    let order = r.len().saturating_sub(1);
    let mut a = vec![0.0; order];
    if order == 0 || r[0] <= 1e-9 {
        return a;
    }
    let mut err = r[0] * (1.0 + 1e-9);
    let mut previous = vec![0.0; order];
    for i in 0..order {
        let acc = r[i + 1] - (0..i).map(|j| a[j] * r[i - j]).sum::<f64>();
        let k = acc / err;
        if !k.is_finite() || k.abs() >= 1.0 {
            break;
        }
        previous[..i].copy_from_slice(&a[..i]);
        a[i] = k;
        for j in 0..i {
            a[j] = previous[j] - k * previous[i - 1 - j];
        }
        err *= 1.0 - k * k;
        if err <= 0.0 {
            break;
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicts_a_sinusoid_almost_perfectly() {
        let x: Vec<f64> = (0..2048)
            .map(|n| 1000.0 * (n as f64 * 0.05).sin() + 300.0 * (n as f64 * 0.31).sin())
            .collect();
        let predictor = Predictor::fit(&x[..1024], 16);
        let residual = predictor.residual(&x, 1024..2048);
        let rms = (residual.iter().map(|e| e * e).sum::<f64>() / residual.len() as f64).sqrt();
        assert!(
            rms < 1.0,
            "residual rms {rms} on a two-tone signal of amplitude 1000"
        );
    }

    #[test]
    fn recovers_an_ar2_process() {
        // x[n] = 1.6 x[n-1] - 0.8 x[n-2] + e[n], driven by a deterministic pseudo-noise.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut x = vec![0.0f64; 2];
        for n in 2..20_000 {
            let v = 1.6 * x[n - 1] - 0.8 * x[n - 2] + noise();
            x.push(v);
        }
        let a = levinson_durbin(&autocorrelation(&x[1000..], 2));
        assert!((a[0] - 1.6).abs() < 0.05, "{a:?}");
        assert!((a[1] + 0.8).abs() < 0.05, "{a:?}");
    }

    #[test]
    fn silence_gives_the_zero_predictor() {
        assert_eq!(Predictor::fit(&[0.0; 512], 8).coeffs, vec![0.0; 8]);
    }
}

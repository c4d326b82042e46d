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
        // Coefficients oldest lag first, so they line up with x[n-p..n].
        let reversed: Vec<f64> = self.coeffs.iter().rev().copied().collect();
        range.map(|n| x[n] - dot(&reversed, &x[n - p..n])).collect()
    }
}

/// Dot product with four partial sums (lets the compiler keep several
/// multiply-adds in flight; the order of additions is fixed).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f64; 4];
    let mut a4 = a.chunks_exact(4);
    let mut b4 = b.chunks_exact(4);
    for (x, y) in (&mut a4).zip(&mut b4) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

thread_local! {
    static HANN: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The Hann window of length `n`, computed once per thread and length.
fn with_hann<R>(n: usize, f: impl FnOnce(&[f64]) -> R) -> R {
    HANN.with(|cell| {
        let mut window = cell.borrow_mut();
        if window.len() != n {
            let step = if n > 1 {
                std::f64::consts::TAU / (n - 1) as f64
            } else {
                0.0
            };
            *window = (0..n)
                .map(|i| 0.5 - 0.5 * (step * i as f64).cos())
                .collect();
        }
        f(&window)
    })
}

/// Autocorrelation at lags `0..=order` of the Hann-windowed segment.
pub fn autocorrelation(segment: &[f64], order: usize) -> Vec<f64> {
    let n = segment.len();
    let windowed: Vec<f64> = if n < 2 {
        segment.to_vec()
    } else {
        with_hann(n, |w| segment.iter().zip(w).map(|(v, w)| v * w).collect())
    };
    (0..=order)
        .map(|lag| {
            if lag >= n {
                return 0.0;
            }
            dot(&windowed[lag..], &windowed[..n - lag])
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

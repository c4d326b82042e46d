//! Deterministic float helpers built only from IEEE add, multiply and divide, so the CPU and the
//! CUDA kernels (compiled with `--fmad=false`) produce the same bits. Library `sin`/`cos` differ
//! between libm and CUDA, so the vocoder uses these instead.

use std::f32::consts::{FRAC_PI_2, PI};

/// The nonlinearity of the denoising network: x / (1 + |x|).
#[inline]
pub fn softsign(x: f32) -> f32 {
    x / (1.0 + x.abs())
}

/// Sine and cosine of `x` in [0, 2π] (Taylor polynomials after reduction to [-π/2, π/2]);
/// absolute error below 1e-6.
#[inline]
pub fn sincos_0_2pi(x: f32) -> (f32, f32) {
    // sin(x) = -sin(x - π), cos(x) = -cos(x - π)
    let y = x - PI;
    let (r, flip_cos) = if y > FRAC_PI_2 {
        (PI - y, true)
    } else if y < -FRAC_PI_2 {
        (-PI - y, true)
    } else {
        (y, false)
    };
    let r2 = r * r;
    let s = r
        * (1.0
            + r2 * (-0.166_666_67
                + r2 * (0.008_333_334
                    + r2 * (-0.000_198_412_7 + r2 * (2.755_731_9e-6 + r2 * -2.505_210_8e-8)))));
    let c = 1.0
        + r2 * (-0.5
            + r2 * (0.041_666_668
                + r2 * (-0.001_388_888_9
                    + r2 * (2.480_158_7e-5 + r2 * (-2.755_732e-7 + r2 * 2.087_675_7e-9)))));
    let c = if flip_cos { -c } else { c };
    (-s, -c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincos_matches_libm() {
        let mut worst = 0.0f32;
        for i in 0..=100_000 {
            let x = i as f32 / 100_000.0 * std::f32::consts::TAU;
            let (s, c) = sincos_0_2pi(x);
            worst = worst.max((s - x.sin()).abs()).max((c - x.cos()).abs());
        }
        assert!(worst < 2e-6, "worst error {worst}");
    }

    #[test]
    fn softsign_is_bounded_and_odd() {
        assert_eq!(softsign(0.0), 0.0);
        assert_eq!(softsign(1.0), 0.5);
        assert_eq!(softsign(-3.0), -0.75);
        assert!(softsign(1e30) <= 1.0);
    }
}

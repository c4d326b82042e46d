//! Counter-based random numbers: every value is a pure function of (seed, stream, index),
//! so any frame or sample can be generated on any device without sequential state.
//! The same integer arithmetic is written in the CUDA kernels (`backend/kernels.cu`).

/// Stream id of the initial latent noise.
pub const STREAM_LATENT: u64 = 1;
/// Stream id of the vocoder's noise excitation.
pub const STREAM_NOISE: u64 = 2;
/// First stream id used for network weights (one stream per tensor).
pub const STREAM_WEIGHTS: u64 = 16;

/// SplitMix64 finalizer: a bijective 64-bit mixer.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hash of (seed, stream, index): the random word at that counter.
#[inline]
pub fn hash3(seed: u64, stream: u64, index: u64) -> u64 {
    let a = mix64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let b = mix64(a ^ stream.wrapping_mul(0xd6e8_feb8_6659_fd93));
    mix64(b ^ index)
}

/// Top 24 bits as a float in [0, 1); exact in f32.
#[inline]
pub fn unit_hi(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// Bits 16..40 as a float in [0, 1); exact in f32.
#[inline]
pub fn unit_lo(h: u64) -> f32 {
    ((h >> 16) & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in [-1, 1) from the top 24 bits; exact in f32.
#[inline]
pub fn signed_unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 8_388_608.0) - 1.0
}

/// Approximately standard normal (Irwin-Hall sum of four uniforms, rescaled to unit variance).
/// Uses only exact float operations so every backend gets the same bits.
#[inline]
pub fn normal(seed: u64, stream: u64, index: u64) -> f32 {
    let h0 = hash3(seed, stream, index.wrapping_mul(2));
    let h1 = hash3(seed, stream, index.wrapping_mul(2).wrapping_add(1));
    let s = ((unit_hi(h0) + unit_lo(h0)) + unit_hi(h1)) + unit_lo(h1);
    (s - 2.0) * 1.732_050_8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_a_pure_function_of_its_counter() {
        assert_eq!(hash3(7, 1, 99), hash3(7, 1, 99));
        assert_ne!(hash3(7, 1, 99), hash3(7, 1, 100));
        assert_ne!(hash3(7, 1, 99), hash3(8, 1, 99));
        assert_ne!(hash3(7, 1, 99), hash3(7, 2, 99));
    }

    #[test]
    fn normal_has_roughly_unit_variance() {
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| normal(3, STREAM_LATENT, i) as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn uniforms_stay_in_range() {
        for i in 0..1000 {
            let h = hash3(1, 2, i);
            assert!((0.0..1.0).contains(&unit_hi(h)));
            assert!((0.0..1.0).contains(&unit_lo(h)));
            assert!((-1.0..1.0).contains(&signed_unit(h)));
        }
    }
}

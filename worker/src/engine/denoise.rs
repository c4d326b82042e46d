//! The denoising network: a fixed two-layer MLP whose weights are generated from the seed.
//!
//! Per frame: z starts as counter-based Gaussian noise keyed by (seed, frame); each of K steps
//! computes h = softsign(b1 + t_s + Wc·c + W1·z) (hidden 256) and d = Wo·c + W2·h (latent 64),
//! then moves z towards d by gamma_s = 1 / (K - s), so the last step lands on d. Every sum runs
//! in index order with separate multiply and add, exactly as the CUDA kernel does.

// Index loops on purpose: the summation order is part of the contract with the CUDA kernels.
#![allow(clippy::needless_range_loop)]

use super::frames::COND_DIM;
use super::mathf::softsign;
use super::rng::{hash3, normal, signed_unit, STREAM_LATENT, STREAM_WEIGHTS};

/// Width of a latent frame.
pub const LATENT_DIM: usize = 64;
/// Width of the hidden layer.
pub const HIDDEN_DIM: usize = 256;
/// Largest number of denoising steps.
pub const MAX_STEPS: u32 = 64;

/// The network's parameters, row-major, all generated from the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// Seed they came from.
    pub seed: u64,
    /// Denoising steps K.
    pub steps: u32,
    /// HIDDEN x LATENT.
    pub w1: Vec<f32>,
    /// HIDDEN x COND.
    pub wc: Vec<f32>,
    /// HIDDEN.
    pub b1: Vec<f32>,
    /// steps x HIDDEN: step embedding.
    pub temb: Vec<f32>,
    /// LATENT x HIDDEN.
    pub w2: Vec<f32>,
    /// LATENT x COND.
    pub wo: Vec<f32>,
    /// steps: how far each step moves z.
    pub gamma: Vec<f32>,
}

fn tensor(seed: u64, id: u64, len: usize, scale: f32) -> Vec<f32> {
    (0..len as u64)
        .map(|i| signed_unit(hash3(seed, STREAM_WEIGHTS + id, i)) * scale)
        .collect()
}

impl Weights {
    /// Generates the weights for `seed` and `steps` (clamped to 1..=MAX_STEPS).
    pub fn generate(seed: u64, steps: u32) -> Weights {
        let steps = steps.clamp(1, MAX_STEPS);
        Weights {
            seed,
            steps,
            w1: tensor(seed, 0, HIDDEN_DIM * LATENT_DIM, 0.216_5),
            wc: tensor(seed, 1, HIDDEN_DIM * COND_DIM, 0.6),
            b1: tensor(seed, 2, HIDDEN_DIM, 0.1),
            temb: tensor(seed, 3, steps as usize * HIDDEN_DIM, 0.3),
            w2: tensor(seed, 4, LATENT_DIM * HIDDEN_DIM, 0.108_3),
            wo: tensor(seed, 5, LATENT_DIM * COND_DIM, 0.5),
            gamma: (0..steps).map(|s| 1.0 / (steps - s) as f32).collect(),
        }
    }

    /// Multiply-adds of one frame through all steps (each counted as 2 FLOP).
    pub fn flops_per_frame(&self) -> u64 {
        let per_step = 2 * (HIDDEN_DIM * LATENT_DIM + LATENT_DIM * HIDDEN_DIM) as u64;
        let cond = 2 * (HIDDEN_DIM * COND_DIM + LATENT_DIM * COND_DIM) as u64;
        self.steps as u64 * per_step + cond
    }
}

/// Initial latent of `frame`: Gaussian noise keyed by (seed, frame, dimension).
pub fn initial_latent(seed: u64, frame: u64, out: &mut [f32; LATENT_DIM]) {
    for (d, z) in out.iter_mut().enumerate() {
        *z = normal(seed, STREAM_LATENT, frame * LATENT_DIM as u64 + d as u64);
    }
}

/// Runs all steps for one frame on the CPU (the reference the CUDA kernel matches bit for bit).
pub fn denoise_frame(w: &Weights, frame: u64, cond: &[f32; COND_DIM], z: &mut [f32; LATENT_DIM]) {
    initial_latent(w.seed, frame, z);
    let mut cproj = [0.0f32; HIDDEN_DIM];
    for (j, p) in cproj.iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for c in 0..COND_DIM {
            acc += w.wc[j * COND_DIM + c] * cond[c];
        }
        *p = acc;
    }
    let mut oproj = [0.0f32; LATENT_DIM];
    for (d, p) in oproj.iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for c in 0..COND_DIM {
            acc += w.wo[d * COND_DIM + c] * cond[c];
        }
        *p = acc;
    }
    let mut h = [0.0f32; HIDDEN_DIM];
    for s in 0..w.steps as usize {
        for j in 0..HIDDEN_DIM {
            let mut acc = w.b1[j] + w.temb[s * HIDDEN_DIM + j];
            acc += cproj[j];
            let row = &w.w1[j * LATENT_DIM..(j + 1) * LATENT_DIM];
            for d in 0..LATENT_DIM {
                acc += row[d] * z[d];
            }
            h[j] = softsign(acc);
        }
        let gamma = w.gamma[s];
        for d in 0..LATENT_DIM {
            let mut acc = oproj[d];
            let row = &w.w2[d * HIDDEN_DIM..(d + 1) * HIDDEN_DIM];
            for j in 0..HIDDEN_DIM {
                acc += row[j] * h[j];
            }
            z[d] += gamma * (acc - z[d]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_depend_on_the_seed_only() {
        assert_eq!(Weights::generate(5, 8), Weights::generate(5, 8));
        assert_ne!(Weights::generate(5, 8).w1, Weights::generate(6, 8).w1);
    }

    #[test]
    fn last_step_lands_on_the_estimate_and_latents_stay_bounded() {
        let w = Weights::generate(11, 8);
        assert_eq!(*w.gamma.last().unwrap(), 1.0);
        let mut cond = [0.0f32; COND_DIM];
        cond[0] = 1.0;
        cond[15] = 1.0;
        let mut z = [0.0f32; LATENT_DIM];
        denoise_frame(&w, 3, &cond, &mut z);
        assert!(z.iter().all(|v| v.is_finite() && v.abs() < 10.0));
        let mut z2 = [0.0f32; LATENT_DIM];
        denoise_frame(&w, 4, &cond, &mut z2);
        assert_ne!(z, z2, "different frames start from different noise");
    }

    #[test]
    fn conditioning_moves_the_latent() {
        let w = Weights::generate(2, 8);
        let mut a = [0.0f32; COND_DIM];
        a[0] = 1.0;
        let mut b = [0.0f32; COND_DIM];
        b[1] = 1.0;
        let (mut za, mut zb) = ([0.0f32; LATENT_DIM], [0.0f32; LATENT_DIM]);
        denoise_frame(&w, 0, &a, &mut za);
        denoise_frame(&w, 0, &b, &mut zb);
        let diff: f32 = za.iter().zip(&zb).map(|(x, y)| (x - y).abs()).sum();
        assert!(
            diff > 1.0,
            "speaker conditioning changed the latent by only {diff}"
        );
    }
}

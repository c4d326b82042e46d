//! Harmonic-plus-noise vocoder: 3200 samples a frame at 24 kHz.
//!
//! The host turns each denoised latent into the parameters at a frame boundary (f0, harmonic
//! amplitudes shaped by the speaker's formants and the syllable's vowel, noise level). Within a
//! frame every parameter moves linearly from its boundary value to the next one. With f0 linear,
//! the phase has a closed form per sample, so every sample can be computed independently (one
//! GPU thread each); only the phase at the frame start is carried from frame to frame, as a
//! 64-bit fixed-point fraction of a turn, which is what [`super::SynthState`] keeps.
//! The per-sample math here is the reference the CUDA kernel matches bit for bit.

// Index loops on purpose: the summation order is part of the contract with the CUDA kernels.
#![allow(clippy::needless_range_loop)]

use contract::{SAMPLES_PER_FRAME, SAMPLE_RATE};

use super::denoise::LATENT_DIM;
use super::frames::FrameInfo;
use super::mathf::{sincos_0_2pi, softsign};
use super::rng::{hash3, signed_unit, STREAM_NOISE};

/// Harmonics rendered per sample.
pub const HARMONICS: usize = 48;

/// A speaker slot's voice: pitch, formant placement, spectral tilt, breathiness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Voice {
    /// Mean fundamental, Hz.
    pub f0: f32,
    /// Scale applied to the vowel's first two formants.
    pub formant_scale: f32,
    /// Third and fourth formants, Hz.
    pub f3: f32,
    /// Fourth formant, Hz.
    pub f4: f32,
    /// Harmonic amplitude falls as h^-tilt.
    pub tilt: f32,
    /// Noise (breath) level relative to the harmonics.
    pub noise: f32,
}

/// The four voices, by speaker slot: low male, female, baritone, high female.
pub const VOICES: [Voice; 4] = [
    Voice {
        f0: 105.0,
        formant_scale: 1.0,
        f3: 2500.0,
        f4: 3500.0,
        tilt: 1.0,
        noise: 0.05,
    },
    Voice {
        f0: 200.0,
        formant_scale: 1.17,
        f3: 2900.0,
        f4: 4000.0,
        tilt: 1.3,
        noise: 0.12,
    },
    Voice {
        f0: 135.0,
        formant_scale: 0.92,
        f3: 2350.0,
        f4: 3300.0,
        tilt: 0.8,
        noise: 0.04,
    },
    Voice {
        f0: 240.0,
        formant_scale: 1.25,
        f3: 3100.0,
        f4: 4300.0,
        tilt: 1.1,
        noise: 0.09,
    },
];

/// First two formants (Hz) of the vowel classes a, e, i, o, u, neutral.
const VOWEL_FORMANTS: [(f32, f32); 6] = [
    (730.0, 1090.0),
    (530.0, 1840.0),
    (300.0, 2250.0),
    (570.0, 840.0),
    (320.0, 900.0),
    (500.0, 1500.0),
];
const FORMANT_GAIN: [f32; 4] = [1.0, 0.7, 0.35, 0.2];
const FORMANT_WIDTH: [f32; 4] = [130.0, 180.0, 250.0, 320.0];
/// Overall output level (sum of harmonic amplitudes).
const OUTPUT_GAIN: f32 = 0.3;

/// Parameters at one frame boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    /// Fundamental, Hz.
    pub f0: f32,
    /// Noise level.
    pub noise: f32,
    /// Harmonic amplitudes 1..=HARMONICS.
    pub amps: [f32; HARMONICS],
}

/// Vocoder parameters at the start of `info`'s frame, from its denoised latent `z`.
pub fn boundary(info: &FrameInfo, z: &[f32]) -> Boundary {
    debug_assert_eq!(z.len(), LATENT_DIM);
    let voice = VOICES[info.speaker as usize];
    let pos = info.turn_pos;
    let mut f0 = voice.f0 * (1.08 - 0.16 * pos);
    if info.stressed {
        f0 *= 1.07;
    }
    if info.question && pos > 0.7 {
        f0 *= 1.0 + 1.2 * (pos - 0.7);
    }
    f0 *= 1.0 + 0.05 * softsign(z[0]);
    let (v1, v2) = VOWEL_FORMANTS[info.vowel as usize];
    let formants = [
        v1 * voice.formant_scale * (1.0 + 0.07 * softsign(z[1])),
        v2 * voice.formant_scale * (1.0 + 0.07 * softsign(z[2])),
        voice.f3 * (1.0 + 0.04 * softsign(z[3])),
        voice.f4,
    ];
    let tilt = voice.tilt + 0.2 * softsign(z[5]);
    let mut amps = [0.0f32; HARMONICS];
    let mut total = 0.0f32;
    for (k, a) in amps.iter_mut().enumerate() {
        let h = (k + 1) as f32;
        let f = h * f0;
        let mut spec = 0.03f32;
        for i in 0..4 {
            let x = (f - formants[i]) / FORMANT_WIDTH[i];
            spec += FORMANT_GAIN[i] * (-0.5 * x * x).exp();
        }
        let taper = ((5500.0 - f) / 1000.0).clamp(0.0, 1.0);
        let texture = 1.0 + 0.12 * softsign(z[8 + k]);
        *a = spec * h.powf(-tilt) * texture * taper;
        total += *a;
    }
    let norm = if total > 0.0 {
        OUTPUT_GAIN / total
    } else {
        0.0
    };
    for a in &mut amps {
        *a *= norm;
    }
    let noise = voice.noise * (1.0 + 0.5 * softsign(z[4])) * OUTPUT_GAIN;
    Boundary { f0, noise, amps }
}

/// Phase advance over one frame with f0 moving linearly from `f0a` to `f0b`, as a 64-bit
/// fixed-point fraction of a cycle.
pub fn phase_step(f0a: f32, f0b: f32) -> u64 {
    let cycles = (f0a as f64 + f0b as f64) * 0.5 * SAMPLES_PER_FRAME as f64 / SAMPLE_RATE as f64;
    let frac = cycles - cycles.floor();
    ((frac * 9_007_199_254_740_992.0) as u64) << 11
}

/// Everything the per-sample stage needs for a run of consecutive frames.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderBatch {
    /// Seed of the noise excitation.
    pub seed: u64,
    /// Global index of the first frame.
    pub first_frame: u64,
    /// Frames in the batch.
    pub frames: usize,
    /// f0 at each boundary (frames + 1).
    pub f0: Vec<f32>,
    /// Noise level at each boundary (frames + 1).
    pub noise: Vec<f32>,
    /// Harmonic amplitudes at each boundary ((frames + 1) x HARMONICS).
    pub amps: Vec<f32>,
    /// Phase at each frame's start, fixed point (frames).
    pub phase: Vec<u64>,
    /// Unit position at each frame's start and end, relative to the frame's first unit (2 x frames).
    pub units: Vec<f32>,
    /// Voiced bits of the units from each frame's first unit (frames).
    pub mask: Vec<u32>,
}

impl RenderBatch {
    /// The sub-batch of `count` frames starting at frame `first` of this one.
    pub fn slice(&self, first: usize, count: usize) -> RenderBatch {
        RenderBatch {
            seed: self.seed,
            first_frame: self.first_frame + first as u64,
            frames: count,
            f0: self.f0[first..=first + count].to_vec(),
            noise: self.noise[first..=first + count].to_vec(),
            amps: self.amps[first * HARMONICS..(first + count + 1) * HARMONICS].to_vec(),
            phase: self.phase[first..first + count].to_vec(),
            units: self.units[2 * first..2 * (first + count)].to_vec(),
            mask: self.mask[first..first + count].to_vec(),
        }
    }
}

/// Sample `n` (0..3200) of frame `i` of the batch, as the CUDA kernel computes it.
#[inline]
pub fn render_sample(b: &RenderBatch, i: usize, n: usize) -> i16 {
    let aa = &b.amps[i * HARMONICS..(i + 1) * HARMONICS];
    let ab = &b.amps[(i + 1) * HARMONICS..(i + 2) * HARMONICS];
    let t = n as f32 / SAMPLES_PER_FRAME as f32;
    // closed-form phase with f0 linear over the frame
    let f0a = b.f0[i] as f64;
    let f0b = b.f0[i + 1] as f64;
    let nd = n as f64;
    let base = (b.phase[i] >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0);
    let cyc = base
        + (f0a * nd + ((f0b - f0a) * (nd * nd)) / (2.0 * SAMPLES_PER_FRAME as f64))
            / SAMPLE_RATE as f64;
    let frac = cyc - cyc.floor();
    let x = (frac * std::f64::consts::TAU) as f32;
    let (sin1, cos1) = sincos_0_2pi(x);
    let c2 = cos1 + cos1;
    let mut acc = 0.0f32;
    let mut s_prev = 0.0f32;
    let mut s = sin1;
    for h in 0..HARMONICS {
        let a = aa[h] + (ab[h] - aa[h]) * t;
        acc += a * s;
        let s_next = c2 * s - s_prev;
        s_prev = s;
        s = s_next;
    }
    // syllable envelope and word gaps
    let u0 = b.units[2 * i];
    let u1 = b.units[2 * i + 1];
    let u = u0 + (u1 - u0) * t;
    let fl = u.floor();
    let k = fl as i32;
    let f = u - fl;
    let voiced = (0..32).contains(&k) && (b.mask[i] >> k) & 1 == 1;
    // noise excitation: first difference of counter-based white noise (brighter, like frication)
    let g = (b.first_frame + i as u64) * SAMPLES_PER_FRAME as u64 + n as u64;
    let nz = (signed_unit(hash3(b.seed, STREAM_NOISE, g))
        - signed_unit(hash3(b.seed, STREAM_NOISE, g.wrapping_sub(1))))
        * 0.5;
    let nl = b.noise[i] + (b.noise[i + 1] - b.noise[i]) * t;
    let out = if voiced {
        let w = (4.0 * f) * (1.0 - f);
        let env = w * (2.0 - w);
        let cons = 1.0 - w;
        let cons3 = (cons * cons) * cons;
        env * acc + nl * ((0.25 * env + 0.9 * cons3) * nz)
    } else {
        (0.04 * nl) * nz
    };
    let q = (out * 32767.0 + 0.5).floor();
    q.clamp(-32768.0, 32767.0) as i16
}

/// Renders a whole batch on the calling thread.
pub fn render_frames(b: &RenderBatch, first: usize, count: usize, out: &mut [i16]) {
    for i in 0..count {
        for n in 0..SAMPLES_PER_FRAME {
            out[i * SAMPLES_PER_FRAME + n] = render_sample(b, first + i, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_step_wraps_a_whole_cycle_count_to_zero() {
        // 120 Hz over 3200 samples at 24 kHz = 16 cycles exactly
        assert_eq!(phase_step(120.0, 120.0), 0);
        // 123.75 Hz -> 16.5 cycles -> half a turn
        assert_eq!(phase_step(123.75, 123.75), 1u64 << 63);
    }

    #[test]
    fn voices_differ_in_pitch_and_formants() {
        for (i, a) in VOICES.iter().enumerate() {
            for b in &VOICES[i + 1..] {
                assert!((a.f0 - b.f0).abs() >= 20.0);
                assert!(a.formant_scale != b.formant_scale);
            }
        }
    }
}

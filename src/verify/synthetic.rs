//! Speech-like test audio and manifests for it, for tests and the benchmark
//! when no worker audio is at hand.
//!
//! The signal is a harmonic-plus-noise voice: a gliding pitch, formant-shaped
//! harmonics, syllable-rate loudness, unvoiced stretches and pauses, all with
//! continuous phase, so that its chunk boundaries are seamless like a
//! worker's. It starts and ends in silence, so copies of it can be joined
//! without a seam.

use contract::{ChunkRecord, Manifest, SAMPLES_PER_FRAME, SAMPLE_RATE};

use super::hash::chunk_hash;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

/// Per-frame targets of the voice.
#[derive(Clone, Copy)]
struct Target {
    f0: f64,
    level: f64,
    voicing: f64,
    formant1: f64,
    formant2: f64,
}

/// `frames` latent frames (3200 samples each) of speech-like audio from `seed`.
pub fn speech_like(frames: u64, seed: u64) -> Vec<i16> {
    let mut rng = Rng::new(seed);
    let base_f0 = rng.range(95.0, 210.0);
    let targets: Vec<Target> = (0..frames)
        .map(|i| {
            let edge = i == 0 || i + 1 == frames;
            let pause = edge || rng.next_f64() < 0.12;
            Target {
                f0: base_f0 * rng.range(0.8, 1.25),
                level: if pause {
                    0.0
                } else {
                    rng.range(1500.0, 9000.0)
                },
                voicing: if rng.next_f64() < 0.8 {
                    rng.range(0.85, 1.0)
                } else {
                    rng.range(0.0, 0.3)
                },
                formant1: rng.range(350.0, 850.0),
                formant2: rng.range(1000.0, 2300.0),
            }
        })
        .collect();

    let sr = SAMPLE_RATE as f64;
    let smooth = 1.0 - (-1.0 / (0.015 * sr)).exp(); // ~15 ms parameter glide
    let mut state = targets.first().copied().unwrap_or(Target {
        f0: base_f0,
        level: 0.0,
        voicing: 1.0,
        formant1: 500.0,
        formant2: 1500.0,
    });
    let mut phase = 0.0f64;
    let mut noise_lp = 0.0f64;
    let mut out = Vec::with_capacity(frames as usize * SAMPLES_PER_FRAME);
    let mut weights = [0.0f64; 24];
    for (frame, target) in targets.iter().enumerate() {
        for n in 0..SAMPLES_PER_FRAME {
            // Syllable-rate loudness wobble on top of the frame target.
            let t = (frame * SAMPLES_PER_FRAME + n) as f64 / sr;
            state.f0 += smooth * (target.f0 - state.f0);
            state.level += smooth * (target.level - state.level);
            state.voicing += smooth * (target.voicing - state.voicing);
            state.formant1 += smooth * (target.formant1 - state.formant1);
            state.formant2 += smooth * (target.formant2 - state.formant2);
            if n % 64 == 0 {
                for (h, w) in weights.iter_mut().enumerate() {
                    let f = state.f0 * (h + 1) as f64;
                    let bump =
                        |centre: f64, width: f64| 1.0 / (1.0 + ((f - centre) / width).powi(2));
                    *w = if f < 4000.0 {
                        (1.0 / (h + 1) as f64)
                            * (0.3
                                + bump(state.formant1, 120.0)
                                + 0.6 * bump(state.formant2, 180.0))
                    } else {
                        0.0
                    };
                }
            }
            phase = (phase + std::f64::consts::TAU * state.f0 / sr) % std::f64::consts::TAU;
            let harmonic: f64 = weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0.0)
                .map(|(h, w)| w * ((h + 1) as f64 * phase).sin())
                .sum();
            noise_lp += 0.35 * (rng.range(-1.0, 1.0) - noise_lp);
            let wobble = 0.75 + 0.25 * (std::f64::consts::TAU * 4.0 * t).sin();
            let level = state.level * wobble;
            let voiced = state.voicing * harmonic * 0.9;
            let unvoiced = (1.0 - state.voicing * 0.9) * noise_lp * 1.2;
            let v = level * (voiced + unvoiced);
            out.push(v.round().clamp(-32_768.0, 32_767.0) as i16);
        }
    }
    out
}

/// A manifest for `samples` cut into chunks of `chunk_frames` frames, each
/// chunk hashed. `owners` lists `(first chunk, writer, epoch)` takeovers in
/// order; chunks before the first entry belong to `primary` at epoch 1.
pub fn manifest_for(samples: &[i16], chunk_frames: u64, owners: &[(u64, &str, u64)]) -> Manifest {
    let chunk_samples = chunk_frames as usize * SAMPLES_PER_FRAME;
    let frames_total = samples.len().div_ceil(SAMPLES_PER_FRAME) as u64;
    let chunks = samples
        .chunks(chunk_samples)
        .enumerate()
        .map(|(index, audio)| {
            let index = index as u64;
            let (writer, epoch) = owners
                .iter()
                .rev()
                .find(|(from, _, _)| *from <= index)
                .map_or(("primary", 1), |(_, w, e)| (*w, *e));
            ChunkRecord {
                index,
                first_frame: index * chunk_frames,
                frames: (audio.len() / SAMPLES_PER_FRAME) as u64,
                first_sample: index * chunk_samples as u64,
                sample_count: audio.len() as u64,
                blake3: chunk_hash(audio),
                epoch,
                writer: writer.to_string(),
            }
        })
        .collect();
    Manifest {
        job_id: "synthetic".to_string(),
        sample_rate: SAMPLE_RATE,
        samples_per_frame: SAMPLES_PER_FRAME as u64,
        chunk_frames,
        frames_total,
        total_samples: frames_total * SAMPLES_PER_FRAME as u64,
        chunks,
    }
}

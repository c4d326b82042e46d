//! Engine benchmarks (figures, not tests): frames per second and real-time factor of a long
//! multi-speaker script, run in large batches or in drill-sized chunks, with the device's own
//! kernel timings where the backend measures them. Run with `cargo bench -p synth-worker`.

use std::time::Instant;

use contract::{Script, Turn, FRAME_RATE_HZ, SAMPLES_PER_FRAME, SAMPLE_RATE};

use crate::backend::DeviceTimings;
use crate::engine::{Engine, EngineError};

const WORDS: &[&str] = &[
    "the",
    "worker",
    "keeps",
    "its",
    "lease",
    "while",
    "every",
    "chunk",
    "is",
    "committed",
    "and",
    "a",
    "standby",
    "waits",
    "for",
    "the",
    "moment",
    "it",
    "expires",
    "so",
    "that",
    "nothing",
    "is",
    "lost",
    "when",
    "power",
    "fails",
    "remarkable",
    "synthesis",
    "continues",
    "beautifully",
    "on",
    "another",
    "machine",
    "today",
];

/// A dialogue of about `minutes` minutes, `speakers` voices taking turns of 8 to 30 words.
pub fn bench_script(minutes: f64, speakers: usize) -> Script {
    let speakers = speakers.clamp(1, contract::MAX_SPEAKERS);
    let target = (minutes * 60.0 * FRAME_RATE_HZ).round() as u64;
    let mut turns = Vec::new();
    let mut frames = 0u64;
    let mut k = 0usize;
    while frames < target {
        let n = 8 + (k * 7) % 23;
        let text: Vec<&str> = (0..n)
            .map(|i| WORDS[(k * 13 + i * 5) % WORDS.len()])
            .collect();
        let mut text = text.join(" ");
        text.push(if k % 3 == 2 { '?' } else { '.' });
        let turn = Turn {
            speaker: format!("speaker{}", k % speakers),
            text,
        };
        frames += contract::job::turn_frames(&turn);
        turns.push(turn);
        k += 1;
    }
    Script { turns, seed: 42 }
}

/// What one benchmark run measured.
#[derive(Debug, Clone)]
pub struct BenchFigures {
    /// Backend name.
    pub backend: &'static str,
    /// Device description.
    pub device: String,
    /// Frames synthesized.
    pub frames: u64,
    /// Frames per `synthesize` call.
    pub batch_frames: u64,
    /// Wall seconds for all of it (planning excluded).
    pub wall_s: f64,
    /// Seconds of audio produced.
    pub audio_s: f64,
    /// Kernel time measured on the device during the run, if any.
    pub kernels: Option<DeviceTimings>,
    /// The samples, for listening or comparison.
    pub samples: Vec<i16>,
}

impl BenchFigures {
    /// Frames per wall second.
    pub fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.wall_s
    }

    /// Wall seconds per second of audio (below 1 is faster than real time).
    pub fn rtf(&self) -> f64 {
        self.wall_s / self.audio_s
    }
}

/// Synthesizes the whole `script` in calls of `batch_frames` frames and times it.
pub fn run_bench(
    engine: &Engine,
    script: &Script,
    batch_frames: u64,
) -> Result<BenchFigures, EngineError> {
    let plan = engine.plan(script)?;
    let mut state = engine.initial_state(&plan);
    let before = engine.device_timings();
    let mut samples = Vec::with_capacity(plan.frames.len() * SAMPLES_PER_FRAME);
    let started = Instant::now();
    while state.next_frame < plan.frames_total() {
        let n = batch_frames.min(plan.frames_total() - state.next_frame);
        samples.extend(engine.synthesize(&plan, &mut state, n)?);
    }
    let wall_s = started.elapsed().as_secs_f64();
    let kernels = match (before, engine.device_timings()) {
        (Some(a), Some(b)) => Some(DeviceTimings {
            denoise_ms: b.denoise_ms - a.denoise_ms,
            denoise_frames: b.denoise_frames - a.denoise_frames,
            denoise_flops: b.denoise_flops - a.denoise_flops,
            render_ms: b.render_ms - a.render_ms,
            render_samples: b.render_samples - a.render_samples,
        }),
        _ => None,
    };
    Ok(BenchFigures {
        backend: engine.backend_name(),
        device: engine.device_description(),
        frames: plan.frames_total(),
        batch_frames,
        wall_s,
        audio_s: samples.len() as f64 / SAMPLE_RATE as f64,
        kernels,
        samples,
    })
}

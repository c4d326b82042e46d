//! The synthesis engine: script -> 7.5 Hz latent frames -> K denoising steps -> vocoder -> i16 PCM.
//!
//! Deterministic by construction: weights and noise are counter-based functions of the seed, every
//! reduction runs in a fixed order, and the only state crossing a chunk boundary is
//! [`SynthState`], so a job resumed from a checkpoint yields the same samples as an uninterrupted
//! run on the same backend.

pub mod denoise;
pub mod error;
pub mod frames;
pub mod mathf;
pub mod rng;
pub mod vocoder;

use std::sync::Arc;
use std::time::Duration;

use contract::{FaultReport, FaultRequest, Script, SAMPLES_PER_FRAME};
use serde::{Deserialize, Serialize};

use crate::backend::{self, Backend};
pub use denoise::{Weights, HIDDEN_DIM, LATENT_DIM, MAX_STEPS};
pub use error::{EngineError, XidAction};
pub use frames::{FrameInfo, COND_DIM};
use vocoder::{boundary, phase_step, RenderBatch, HARMONICS};

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// CUDA when a driver and a GPU are present, else CPU.
    #[default]
    Auto,
    /// The CPU backend.
    Cpu,
    /// The CUDA backend; fails plainly without a GPU.
    Cuda,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "cpu" => Ok(BackendChoice::Cpu),
            "cuda" => Ok(BackendChoice::Cuda),
            other => Err(format!(
                "unknown backend {other:?}; choose auto, cpu or cuda"
            )),
        }
    }
}

/// How to build an [`Engine`].
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Backend to use.
    pub backend: BackendChoice,
    /// Denoising steps K (1..=64; 8 by default).
    pub denoise_steps: u32,
    /// Longest a chunk's device work may take before it counts as a hang.
    pub watchdog: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            backend: BackendChoice::Auto,
            denoise_steps: 8,
            watchdog: Duration::from_secs(5),
        }
    }
}

/// A script made ready for synthesis: per-frame conditioning and the seed's network weights.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// Fingerprint of (script, steps); a checkpoint must carry the same one.
    pub id: String,
    /// The script's seed.
    pub seed: u64,
    /// Speaker names by slot (slot i gets voice i).
    pub speakers: Vec<String>,
    /// Per-frame conditioning.
    pub frames: Vec<FrameInfo>,
    /// Network weights for the seed.
    pub weights: Arc<Weights>,
}

impl JobPlan {
    /// Frames in the whole script.
    pub fn frames_total(&self) -> u64 {
        self.frames.len() as u64
    }
}

/// Everything that crosses a chunk boundary; serialized into the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthState {
    /// Next frame to synthesize.
    pub next_frame: u64,
    /// Vocoder phase at the start of `next_frame`, as a 64-bit fixed-point fraction of a cycle
    /// (an integer, so it survives JSON exactly).
    pub phase: u64,
    /// The [`JobPlan::id`] this state belongs to.
    pub plan_id: String,
}

/// The synthesis engine over one backend. `Send + Sync`; calls may come from any thread.
pub struct Engine {
    backend: Box<dyn Backend>,
    config: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.backend.name())
            .field("config", &self.config)
            .finish()
    }
}

impl Engine {
    /// Starts the chosen backend. `Auto` falls back to the CPU when no CUDA driver or GPU is found.
    pub fn new(cfg: &EngineConfig) -> Result<Engine, EngineError> {
        check_steps(cfg)?;
        Engine::with_backend(backend::open(cfg.backend)?, cfg)
    }

    /// An engine over a backend built by the caller (`cfg.backend` is then not used), e.g. a
    /// CPU backend with its `gpu-oom` helper named.
    pub fn with_backend(
        backend: Box<dyn Backend>,
        cfg: &EngineConfig,
    ) -> Result<Engine, EngineError> {
        check_steps(cfg)?;
        Ok(Engine {
            backend,
            config: cfg.clone(),
        })
    }

    /// `"cpu"` or `"cuda"`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// A line about the device (GPU name, or CPU thread count).
    pub fn device_description(&self) -> String {
        self.backend.describe()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Checks the script and lays out its frames and weights.
    pub fn plan(&self, script: &Script) -> Result<JobPlan, EngineError> {
        let layout = frames::layout(script)?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"synth-worker plan v1\0");
        hasher.update(&script.seed.to_le_bytes());
        hasher.update(&self.config.denoise_steps.to_le_bytes());
        for turn in &script.turns {
            hasher.update(&(turn.speaker.len() as u64).to_le_bytes());
            hasher.update(turn.speaker.as_bytes());
            hasher.update(&(turn.text.len() as u64).to_le_bytes());
            hasher.update(turn.text.as_bytes());
        }
        let id = hasher.finalize().to_hex()[..32].to_string();
        Ok(JobPlan {
            id,
            seed: script.seed,
            speakers: layout.speakers,
            frames: layout.frames,
            weights: Arc::new(Weights::generate(script.seed, self.config.denoise_steps)),
        })
    }

    /// The state before the first frame.
    pub fn initial_state(&self, plan: &JobPlan) -> SynthState {
        SynthState {
            next_frame: 0,
            phase: 0,
            plan_id: plan.id.clone(),
        }
    }

    /// Synthesizes `frames` frames from `state.next_frame`, returns `frames * 3200` samples and
    /// advances `state`. On error `state` is unchanged.
    pub fn synthesize(
        &self,
        plan: &JobPlan,
        state: &mut SynthState,
        frames: u64,
    ) -> Result<Vec<i16>, EngineError> {
        if state.plan_id != plan.id {
            return Err(EngineError::InvalidRequest(format!(
                "the state belongs to plan {} but this job's plan is {}; the checkpoint is from another script, seed or step count",
                state.plan_id, plan.id
            )));
        }
        let total = plan.frames_total();
        let start = state.next_frame;
        let end = start
            .checked_add(frames)
            .filter(|&e| e <= total)
            .ok_or_else(|| {
                EngineError::InvalidRequest(format!(
                    "asked for {frames} frames from frame {start}, but the script has {total}"
                ))
            })?;
        if frames == 0 {
            return Ok(Vec::new());
        }
        // latents for the chunk's frames and the one after it (the chunk's closing boundary)
        let latent_end = (end + 1).min(total);
        let mut cond = Vec::with_capacity((latent_end - start) as usize * COND_DIM);
        for info in &plan.frames[start as usize..latent_end as usize] {
            cond.extend_from_slice(&info.cond);
        }
        let latents = self
            .backend
            .denoise(&plan.weights, start, &cond, self.config.watchdog)?;
        let batch = build_batch(plan, state, start, end, &latents);
        let samples = self.backend.render(&batch, self.config.watchdog)?;
        debug_assert_eq!(samples.len(), frames as usize * SAMPLES_PER_FRAME);
        state.next_frame = end;
        state.phase = batch.phase[frames as usize - 1].wrapping_add(phase_step(
            batch.f0[frames as usize - 1],
            batch.f0[frames as usize],
        ));
        Ok(samples)
    }

    /// Runs a tiny real piece of work on the device and checks its result; fails once the
    /// device or context is lost.
    pub fn self_test(&self) -> Result<(), EngineError> {
        self.backend.self_test()
    }

    /// How long the oldest unfinished piece of device work has been running, where the backend
    /// tracks it (the CPU backend); the worker's stall watchdog compares it with its limit.
    pub fn oldest_device_work(&self) -> Option<Duration> {
        self.backend.oldest_work()
    }

    /// Whether the backend's `gpu-*` faults are emulations (the CPU backend).
    pub fn emulates_faults(&self) -> bool {
        self.backend.emulates_faults()
    }

    /// Kernel time measured on the device so far (CUDA only).
    pub fn device_timings(&self) -> Option<backend::DeviceTimings> {
        self.backend.timings()
    }

    /// Makes a device-level fault happen (`gpu-*` kinds) and reports the error class it caused.
    pub fn inject(&self, fault: &FaultRequest) -> Result<FaultReport, EngineError> {
        self.backend.inject(fault, self.config.watchdog)
    }
}

/// Refuses a step count outside 1..=MAX_STEPS (checked before a backend is opened).
fn check_steps(cfg: &EngineConfig) -> Result<(), EngineError> {
    if cfg.denoise_steps == 0 || cfg.denoise_steps > MAX_STEPS {
        return Err(EngineError::InvalidRequest(format!(
            "denoise steps must be 1..={MAX_STEPS}, got {}",
            cfg.denoise_steps
        )));
    }
    Ok(())
}

/// Host stage between denoise and render: vocoder parameters at each boundary, the phase at each
/// frame start (carried from `state`), and the syllable units of each frame.
fn build_batch(
    plan: &JobPlan,
    state: &SynthState,
    start: u64,
    end: u64,
    latents: &[f32],
) -> RenderBatch {
    let frames = (end - start) as usize;
    let latent_frames = latents.len() / LATENT_DIM;
    let mut f0 = Vec::with_capacity(frames + 1);
    let mut noise = Vec::with_capacity(frames + 1);
    let mut amps = Vec::with_capacity((frames + 1) * HARMONICS);
    for j in 0..=frames {
        let li = j.min(latent_frames - 1);
        let info = &plan.frames[start as usize + li];
        let b = boundary(info, &latents[li * LATENT_DIM..(li + 1) * LATENT_DIM]);
        f0.push(b.f0);
        noise.push(b.noise);
        amps.extend_from_slice(&b.amps);
    }
    let mut phase = Vec::with_capacity(frames);
    let mut p = state.phase;
    for j in 0..frames {
        phase.push(p);
        p = p.wrapping_add(phase_step(f0[j], f0[j + 1]));
    }
    let mut units = Vec::with_capacity(2 * frames);
    let mut mask = Vec::with_capacity(frames);
    for info in &plan.frames[start as usize..end as usize] {
        let base = info.unit_start.floor();
        units.push((info.unit_start - base) as f32);
        units.push((info.unit_end - base) as f32);
        mask.push(info.voiced_mask);
    }
    RenderBatch {
        seed: plan.seed,
        first_frame: start,
        frames,
        f0,
        noise,
        amps,
        phase,
        units,
        mask,
    }
}

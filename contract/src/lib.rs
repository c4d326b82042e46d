//! The contract between the `takeover` harness and a synthesis worker.
//!
//! Both programs depend on this crate and on nothing of each other: the job
//! request, the job status, the manifest of committed chunks, the health
//! report, the fault request, and reading and writing 24 kHz mono WAV files.
//! The HTTP routes that carry these types are documented in
//! `docs/worker-api.md`.

pub mod audio;
pub mod fault;
pub mod health;
pub mod job;
pub mod manifest;

pub use audio::{read_wav, read_wav_bytes, write_wav, write_wav_bytes, Wav, WavError};
pub use fault::{FaultKind, FaultReport, FaultRequest, FAULT_TOKEN_HEADER};
pub use health::{HealthCheck, HealthReport};
pub use job::{
    script_frames, turn_frames, JobOptions, JobRequest, JobState, JobStatus, Script, Turn,
};
pub use manifest::{chunk_hash, ChunkRecord, Manifest};

/// Version of the HTTP contract (`docs/worker-api.md`) these types describe:
/// `MAJOR.MINOR`, where a minor version only adds (optional fields, clauses a
/// server may skip) and a major one changes what an existing client relies on.
/// A worker reports it in [`HealthReport::contract_version`].
pub const CONTRACT_VERSION: &str = "1.0";

/// Output sample rate of every worker, in Hz.
pub const SAMPLE_RATE: u32 = 24_000;
/// Latent frame rate, in frames per second of audio.
pub const FRAME_RATE_HZ: f64 = 7.5;
/// PCM samples the vocoder produces for one latent frame (24 000 / 7.5).
pub const SAMPLES_PER_FRAME: usize = 3_200;
/// The most distinct speakers a script may use.
pub const MAX_SPEAKERS: usize = 4;
/// Frames committed together as one chunk unless a job says otherwise (about 1.07 s).
pub const DEFAULT_CHUNK_FRAMES: u32 = 8;
/// Speaking rate used to turn text length into frames, in words per second.
pub const WORDS_PER_SECOND: f64 = 2.5;
/// Largest accepted text of one turn, in bytes.
pub const MAX_TURN_BYTES: usize = 64 * 1024;
/// Largest accepted script, in turns.
pub const MAX_TURNS: usize = 20_000;

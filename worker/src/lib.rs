//! synth-worker: the reference synthesis worker that `takeover` drills.
//!
//! `engine` turns a dialogue script into 24 kHz PCM (deterministic, resumable from a
//! [`engine::SynthState`]); `backend` runs its heavy stages on the CPU or a CUDA GPU.

pub mod backend;
pub mod bench;
pub mod engine;

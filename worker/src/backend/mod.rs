//! Compute backends: the denoising network and the vocoder's per-sample stage, on the CPU or on
//! an NVIDIA GPU through CUDA. Both compute the same math in the same operation order.

pub mod activity;
pub mod cpu;
pub mod cuda;
pub mod memory_probe;

use std::sync::Arc;
use std::time::Duration;

use contract::{FaultReport, FaultRequest};

use crate::engine::vocoder::RenderBatch;
use crate::engine::{BackendChoice, EngineError, Weights};

/// A device that runs the engine's heavy stages.
pub trait Backend: Send + Sync {
    /// `"cpu"` or `"cuda"`.
    fn name(&self) -> &'static str;

    /// One line about the device.
    fn describe(&self) -> String;

    /// Denoises `cond.len() / COND_DIM` consecutive frames starting at global frame
    /// `first_frame`; returns their latents, `LATENT_DIM` per frame.
    fn denoise(
        &self,
        weights: &Arc<Weights>,
        first_frame: u64,
        cond: &[f32],
        watchdog: Duration,
    ) -> Result<Vec<f32>, EngineError>;

    /// Renders `batch.frames * 3200` samples.
    fn render(&self, batch: &RenderBatch, watchdog: Duration) -> Result<Vec<i16>, EngineError>;

    /// A tiny real computation on the device, checked against the CPU reference.
    fn self_test(&self) -> Result<(), EngineError>;

    /// Makes a `gpu-*` fault happen on this device.
    fn inject(&self, fault: &FaultRequest, watchdog: Duration) -> Result<FaultReport, EngineError>;

    /// How long the oldest unfinished piece of device work has been running (waiting for the
    /// device included), where the backend tracks it; the worker's stall watchdog reads it.
    /// The CUDA backend cuts a hung kernel itself (its event poll has the watchdog deadline).
    fn oldest_work(&self) -> Option<Duration> {
        None
    }

    /// Whether the `gpu-*` faults of this backend are emulations (the CPU backend).
    fn emulates_faults(&self) -> bool {
        false
    }

    /// Device time spent so far (kernels only), where the backend measures it.
    fn timings(&self) -> Option<DeviceTimings> {
        None
    }
}

/// Accumulated device-side kernel time, measured with CUDA events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceTimings {
    /// Milliseconds in the denoise kernel.
    pub denoise_ms: f64,
    /// Frames it denoised.
    pub denoise_frames: u64,
    /// FLOP it performed (multiply and add counted separately).
    pub denoise_flops: u64,
    /// Milliseconds in the render kernel.
    pub render_ms: f64,
    /// Samples it rendered.
    pub render_samples: u64,
}

/// Opens the backend `choice` asks for. `Auto` tries CUDA and falls back to the CPU when there is
/// no driver or no GPU (saying so on stderr).
pub fn open(choice: BackendChoice) -> Result<Box<dyn Backend>, EngineError> {
    match choice {
        BackendChoice::Cpu => Ok(Box::new(cpu::CpuBackend::new())),
        BackendChoice::Cuda => Ok(Box::new(cuda::CudaBackend::open()?)),
        BackendChoice::Auto => match cuda::CudaBackend::open() {
            Ok(b) => Ok(Box::new(b)),
            Err(e @ EngineError::NoCudaDriver(_)) => {
                eprintln!("synth-worker: {e}; backend auto falls back to cpu");
                Ok(Box::new(cpu::CpuBackend::new()))
            }
            Err(e) => Err(e),
        },
    }
}

/// The report for a fault that produced `err`.
pub fn fault_report(fault: &FaultRequest, err: &EngineError, detail: String) -> FaultReport {
    FaultReport {
        kind: fault.kind,
        error_class: err.error_class().to_string(),
        reaction: err.reaction().to_string(),
        detail,
        emulated: err.emulated(),
        allocated_bytes: None,
    }
}

//! The CPU backend: the reference implementation, spread over the machine's cores. The result
//! does not depend on the number of threads (each frame and sample is computed independently).
//! GPU faults are emulated here with the same error classes and stickiness.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::{FaultKind, FaultReport, FaultRequest, SAMPLES_PER_FRAME};

use super::{fault_report, Backend};
use crate::engine::denoise::{denoise_frame, LATENT_DIM};
use crate::engine::frames::COND_DIM;
use crate::engine::vocoder::{render_frames, RenderBatch};
use crate::engine::{EngineError, Weights};

const NAME: &str = "cpu";
/// Emulated device memory for `gpu-oom` (address space reserved, never touched).
const EMULATED_DEVICE_BYTES: usize = 8 << 30;
const OOM_BLOCK_BYTES: usize = 256 << 20;

/// CPU backend with an emulated sticky-error state.
#[derive(Debug)]
pub struct CpuBackend {
    threads: usize,
    poisoned: Mutex<Option<EngineError>>,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// Uses every available core.
    pub fn new() -> CpuBackend {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuBackend::with_threads(threads)
    }

    /// Uses `threads` threads (at least one).
    pub fn with_threads(threads: usize) -> CpuBackend {
        CpuBackend {
            threads: threads.max(1),
            poisoned: Mutex::new(None),
        }
    }

    fn check(&self) -> Result<(), EngineError> {
        match &*self.poisoned.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn poison(&self, err: EngineError) {
        *self.poisoned.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
    }

    fn split(&self, items: usize) -> usize {
        // at least 4 items per thread, so tiny chunks stay on one thread
        items.div_ceil(self.threads).max(4)
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!("cpu ({} threads)", self.threads)
    }

    fn denoise(
        &self,
        weights: &Arc<Weights>,
        first_frame: u64,
        cond: &[f32],
        _watchdog: Duration,
    ) -> Result<Vec<f32>, EngineError> {
        self.check()?;
        let frames = cond.len() / COND_DIM;
        let mut out = vec![0.0f32; frames * LATENT_DIM];
        let per = self.split(frames);
        std::thread::scope(|scope| {
            for (c, chunk) in out.chunks_mut(per * LATENT_DIM).enumerate() {
                scope.spawn(move || {
                    for (k, z) in chunk.chunks_exact_mut(LATENT_DIM).enumerate() {
                        let f = c * per + k;
                        let cf: &[f32; COND_DIM] =
                            cond[f * COND_DIM..(f + 1) * COND_DIM].try_into().unwrap();
                        let z: &mut [f32; LATENT_DIM] = z.try_into().unwrap();
                        denoise_frame(weights, first_frame + f as u64, cf, z);
                    }
                });
            }
        });
        Ok(out)
    }

    fn render(&self, batch: &RenderBatch, _watchdog: Duration) -> Result<Vec<i16>, EngineError> {
        self.check()?;
        let mut out = vec![0i16; batch.frames * SAMPLES_PER_FRAME];
        let per = self.split(batch.frames);
        std::thread::scope(|scope| {
            for (c, chunk) in out.chunks_mut(per * SAMPLES_PER_FRAME).enumerate() {
                scope.spawn(move || {
                    render_frames(batch, c * per, chunk.len() / SAMPLES_PER_FRAME, chunk);
                });
            }
        });
        Ok(out)
    }

    fn self_test(&self) -> Result<(), EngineError> {
        self.check()?;
        let w = Weights::generate(0x5e1f_7e57, 2);
        let mut cond = [0.0f32; COND_DIM];
        cond[0] = 1.0;
        cond[15] = 1.0;
        let mut z = [0.0f32; LATENT_DIM];
        denoise_frame(&w, 0, &cond, &mut z);
        if z.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(EngineError::Device {
                class: "SELF_TEST_MISMATCH".into(),
                sticky: true,
                emulated: false,
                backend: NAME,
                detail: "the self-test latent is not finite".into(),
            })
        }
    }

    fn inject(&self, fault: &FaultRequest, watchdog: Duration) -> Result<FaultReport, EngineError> {
        self.check()?;
        match fault.kind {
            FaultKind::GpuIllegalAddress => {
                let err = EngineError::Device {
                    class: "CUDA_ERROR_ILLEGAL_ADDRESS".into(),
                    sticky: true,
                    emulated: true,
                    backend: NAME,
                    detail: "emulated on the CPU backend: the backend is poisoned and every \
                             later call fails with this error, as a CUDA context does after an \
                             out-of-bounds kernel"
                        .into(),
                };
                self.poison(err.clone());
                Ok(fault_report(
                    fault,
                    &err,
                    "emulated on the CPU backend (no GPU): backend poisoned, every later call \
                     returns CUDA_ERROR_ILLEGAL_ADDRESS"
                        .into(),
                ))
            }
            FaultKind::GpuHang => {
                let err = spin_until_watchdog(watchdog);
                self.poison(err.clone());
                Ok(fault_report(
                    fault,
                    &err,
                    format!(
                        "emulated on the CPU backend: a compute loop that never finishes ran \
                         until the {} ms watchdog cut it; backend poisoned",
                        watchdog.as_millis()
                    ),
                ))
            }
            FaultKind::GpuOom => {
                let (blocks, err) = exhaust_emulated_memory();
                Ok(fault_report(
                    fault,
                    &err,
                    format!(
                        "emulated on the CPU backend: {blocks} blocks of {} MiB reserved against \
                         an {} GiB emulated device budget until allocation failed, then freed; \
                         not sticky",
                        OOM_BLOCK_BYTES >> 20,
                        EMULATED_DEVICE_BYTES >> 30
                    ),
                ))
            }
            FaultKind::GpuXid => {
                let xid = fault.xid.ok_or_else(|| {
                    EngineError::InvalidRequest("gpu-xid needs an xid number".into())
                })?;
                let err = EngineError::xid(
                    xid,
                    true,
                    NAME,
                    "emulated on the CPU backend: no device to raise a real Xid".into(),
                );
                if err.is_sticky() {
                    self.poison(err.clone());
                }
                let detail = format!(
                    "emulated Xid {xid} on the CPU backend; catalogue class: {}; {}",
                    crate::engine::XidAction::for_xid(xid),
                    if err.is_sticky() {
                        "backend poisoned"
                    } else {
                        "backend keeps working"
                    }
                );
                Ok(fault_report(fault, &err, detail))
            }
            other => Err(EngineError::UnsupportedFault(format!("{other:?}"))),
        }
    }
}

/// A compute loop with no end of its own, cut by the watchdog deadline.
fn spin_until_watchdog(watchdog: Duration) -> EngineError {
    let started = Instant::now();
    let w = Weights::generate(1, 1);
    let cond = [0.0f32; COND_DIM];
    let mut z = [0.0f32; LATENT_DIM];
    let mut frame = 0u64;
    while started.elapsed() < watchdog {
        denoise_frame(&w, frame, &cond, &mut z);
        frame += 1;
        std::hint::black_box(&z);
    }
    EngineError::WatchdogHang {
        waited_ms: started.elapsed().as_millis() as u64,
        emulated: true,
        backend: NAME,
    }
}

/// Reserves blocks against the emulated budget until the budget refuses one; frees them.
fn exhaust_emulated_memory() -> (usize, EngineError) {
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut reserved = 0usize;
    loop {
        if reserved + OOM_BLOCK_BYTES > EMULATED_DEVICE_BYTES {
            break;
        }
        let mut block = Vec::new();
        if block.try_reserve_exact(OOM_BLOCK_BYTES).is_err() {
            break;
        }
        reserved += OOM_BLOCK_BYTES;
        held.push(block);
    }
    let blocks = held.len();
    drop(held);
    (
        blocks,
        EngineError::Device {
            class: "CUDA_ERROR_OUT_OF_MEMORY".into(),
            sticky: false,
            emulated: true,
            backend: NAME,
            detail: "emulated allocation budget exhausted".into(),
        },
    )
}

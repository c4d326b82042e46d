//! The CPU backend: the reference implementation, spread over the machine's cores. The result
//! does not depend on the number of threads (each frame and sample is computed independently).
//!
//! GPU faults are emulated here with the same error classes and stickiness, and each one has a
//! real effect: a hang holds the emulated device (the lock every piece of device work takes)
//! and never lets go, so only the worker's stall watchdog can end it; out of memory is a real
//! allocation failure under a real cap ([`super::memory_probe`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use contract::{FaultKind, FaultReport, FaultRequest, SAMPLES_PER_FRAME};

use super::activity::Activity;
use super::{fault_report, memory_probe, Backend};
use crate::engine::denoise::{denoise_frame, LATENT_DIM};
use crate::engine::frames::COND_DIM;
use crate::engine::vocoder::{render_frames, RenderBatch};
use crate::engine::{EngineError, Weights};

const NAME: &str = "cpu";
/// The emulated device memory for `gpu-oom`: the address-space cap of the memory probe.
pub const EMULATED_DEVICE_BYTES: u64 = 256 << 20;
const OOM_BLOCK_BYTES: u64 = 16 << 20;
/// Longest the hung task may wait to take the device (behind one chunk of real work).
const HANG_TAKE_LIMIT: Duration = Duration::from_secs(10);
/// How often the hung task looks whether its backend was dropped.
const HANG_RECHECK: Duration = Duration::from_millis(100);

/// CPU backend with an emulated device: a lock that device work holds, and a sticky-error state.
#[derive(Debug)]
pub struct CpuBackend {
    threads: usize,
    poisoned: Mutex<Option<EngineError>>,
    /// The emulated device context: held by every piece of device work while it runs, and
    /// forever by a hung one.
    device: Arc<Mutex<()>>,
    /// Device work in flight, for the stall watchdog.
    activity: Arc<Activity>,
    /// Set when the backend is dropped, so that a hung task ends with it.
    dropped: Arc<AtomicBool>,
    /// The program that runs [`memory_probe::run`] (the worker's own binary).
    memory_helper: Option<PathBuf>,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CpuBackend {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
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
            device: Arc::new(Mutex::new(())),
            activity: Arc::new(Activity::default()),
            dropped: Arc::new(AtomicBool::new(false)),
            memory_helper: std::env::current_exe().ok(),
        }
    }

    /// Runs the `gpu-oom` memory probe with `helper` (a `synth-worker` binary) instead of the
    /// current executable (which is not the worker in tests).
    pub fn with_memory_helper(mut self, helper: PathBuf) -> CpuBackend {
        self.memory_helper = Some(helper);
        self
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

    /// Takes the emulated device (waits while other work, or a hung task, holds it).
    fn device(&self) -> MutexGuard<'_, ()> {
        self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn split(&self, items: usize) -> usize {
        // at least 4 items per thread, so tiny chunks stay on one thread
        items.div_ceil(self.threads).max(4)
    }

    /// Starts a task that takes the device and never finishes, as a hung kernel keeps its
    /// context: it parks rather than spins, since burning a host core would only slow the
    /// standby on the same machine. It counts as device work in flight from now on.
    fn hang(&self) -> Result<(), EngineError> {
        let (taken_tx, taken_rx) = mpsc::channel();
        let device = self.device.clone();
        let work = self.activity.begin();
        let dropped = self.dropped.clone();
        std::thread::Builder::new()
            .name("hung-kernel".into())
            .spawn(move || {
                let _work = work;
                let _held = device.lock().unwrap_or_else(|e| e.into_inner());
                let _ = taken_tx.send(());
                while !dropped.load(Ordering::SeqCst) {
                    std::thread::park_timeout(HANG_RECHECK);
                }
            })
            .map_err(|e| device_fault("FAULT_NOT_RAISED", format!("no thread: {e}")))?;
        taken_rx.recv_timeout(HANG_TAKE_LIMIT).map_err(|_| {
            device_fault(
                "FAULT_NOT_RAISED",
                format!(
                    "the hung task could not take the device within {} s",
                    HANG_TAKE_LIMIT.as_secs()
                ),
            )
        })
    }

    /// Runs the memory probe and turns its outcome into the out-of-memory error it met.
    fn exhaust_memory(&self) -> Result<(memory_probe::ProbeOutcome, EngineError), EngineError> {
        let helper = self.memory_helper.as_deref().ok_or_else(|| {
            device_fault(
                "FAULT_NOT_RAISED",
                "no helper program for the memory probe".into(),
            )
        })?;
        let outcome = memory_probe::spawn(helper, EMULATED_DEVICE_BYTES, OOM_BLOCK_BYTES)
            .map_err(|e| device_fault("FAULT_NOT_RAISED", e))?;
        let Some(failure) = outcome.failure.clone() else {
            return Err(device_fault(
                "FAULT_NOT_RAISED",
                format!(
                    "the memory probe allocated {} bytes under a {} byte cap without a failure",
                    outcome.allocated_bytes, outcome.cap_bytes
                ),
            ));
        };
        let err = EngineError::Device {
            class: "CUDA_ERROR_OUT_OF_MEMORY".into(),
            sticky: false,
            emulated: true,
            backend: NAME,
            detail: failure,
        };
        Ok((outcome, err))
    }
}

/// An emulation that did not produce its fault (not sticky: nothing happened to the device).
fn device_fault(class: &str, detail: String) -> EngineError {
    EngineError::Device {
        class: class.into(),
        sticky: false,
        emulated: true,
        backend: NAME,
        detail,
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!("cpu ({} threads)", self.threads)
    }

    fn oldest_work(&self) -> Option<Duration> {
        self.activity.oldest()
    }

    fn emulates_faults(&self) -> bool {
        true
    }

    fn denoise(
        &self,
        weights: &Arc<Weights>,
        first_frame: u64,
        cond: &[f32],
        _watchdog: Duration,
    ) -> Result<Vec<f32>, EngineError> {
        self.check()?;
        let _work = self.activity.begin();
        let _device = self.device();
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
        let _work = self.activity.begin();
        let _device = self.device();
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
        let _work = self.activity.begin();
        let _device = self.device();
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
                self.hang()?;
                Ok(FaultReport {
                    kind: fault.kind,
                    error_class: "KERNEL_HUNG".into(),
                    reaction: "watchdog".into(),
                    detail: format!(
                        "emulated on the CPU backend: a task took the device and never \
                         finishes, so synthesis and the self-test wait behind it; only the \
                         stall watchdog ({} ms) can end it",
                        watchdog.as_millis()
                    ),
                    emulated: true,
                    allocated_bytes: None,
                })
            }
            FaultKind::GpuOom => {
                let (outcome, err) = self.exhaust_memory()?;
                let mut report = fault_report(
                    fault,
                    &err,
                    format!(
                        "emulated on the CPU backend: a helper process capped at {} MiB of \
                         address space allocated and touched {} bytes ({} blocks of {} MiB) \
                         until an allocation really failed ({}); freed when it ended; not sticky",
                        outcome.cap_bytes >> 20,
                        outcome.allocated_bytes,
                        outcome.allocated_bytes / outcome.block_bytes,
                        outcome.block_bytes >> 20,
                        outcome.failure.as_deref().unwrap_or_default()
                    ),
                );
                report.allocated_bytes = Some(outcome.allocated_bytes);
                Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: FaultKind) -> FaultRequest {
        FaultRequest {
            kind,
            xid: None,
            duration_ms: None,
        }
    }

    #[test]
    fn a_hang_holds_the_device_until_the_backend_is_dropped() {
        let backend = Arc::new(CpuBackend::with_threads(1));
        assert_eq!(backend.oldest_work(), None);
        let report = backend
            .inject(&request(FaultKind::GpuHang), Duration::from_millis(50))
            .unwrap();
        assert_eq!(
            (report.error_class.as_str(), report.reaction.as_str()),
            ("KERNEL_HUNG", "watchdog")
        );
        assert!(report.emulated && report.detail.contains("emulated on the CPU backend"));
        // The self-test waits behind the hung task: far past the watchdog, it has not finished.
        let (done_tx, done_rx) = mpsc::channel();
        let b = backend.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(b.self_test());
        });
        assert!(
            done_rx.recv_timeout(Duration::from_millis(400)).is_err(),
            "the self-test ran while the device was hung"
        );
        assert!(backend.oldest_work().unwrap() >= Duration::from_millis(400));
        // Only when the backend goes does the hung task let go, and the self-test gets its turn.
        backend.dropped.store(true, Ordering::SeqCst);
        let finished = done_rx.recv_timeout(Duration::from_secs(10));
        assert!(matches!(finished, Ok(Ok(()))), "{finished:?}");
    }
}

//! The CUDA backend: cudarc over the driver API, kernels compiled at start-up with NVRTC from
//! `kernels.cu` (with `--fmad=false`, so results match the CPU reference bit for bit).
//!
//! Every chunk's kernels are followed by an event that the host polls with
//! `CudaEvent::try_is_complete()` until the watchdog deadline: a hung kernel becomes
//! `WATCHDOG_HANG` instead of a blocked worker, and an asynchronous device error surfaces as
//! its real CUDA error name. Nothing reads device memory back before that event completes.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use contract::{FaultReport, FaultRequest, SAMPLES_PER_FRAME};
use cudarc::driver::{
    result, sys, CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DriverError,
    LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};

use super::{Backend, DeviceTimings};
use crate::engine::denoise::{denoise_frame, HIDDEN_DIM, LATENT_DIM};
use crate::engine::frames::COND_DIM;
use crate::engine::vocoder::RenderBatch;
use crate::engine::{EngineError, Weights};

mod inject;

const NAME: &str = "cuda";
const KERNELS: &str = include_str!("kernels.cu");
const FRAMES_PER_BLOCK: usize = 8;
const RENDER_THREADS: u32 = 128;
/// Frames per denoise/render launch, to bound device memory for long scripts.
const MAX_FRAMES_PER_LAUNCH: usize = 16_384;

/// Checks for a CUDA driver and at least one GPU, without panicking when there is none.
pub fn probe_driver() -> Result<usize, EngineError> {
    // SAFETY: only tries to load libcuda.
    if !unsafe { sys::is_culib_present() } {
        return Err(EngineError::NoCudaDriver(
            "libcuda.so could not be loaded (no NVIDIA driver on this machine)".into(),
        ));
    }
    match std::panic::catch_unwind(|| {
        result::init()?;
        CudaContext::device_count()
    }) {
        Ok(Ok(n)) if n > 0 => Ok(n as usize),
        Ok(Ok(_)) => Err(EngineError::NoCudaDriver(
            "the driver reports no CUDA device".into(),
        )),
        Ok(Err(e)) => Err(EngineError::NoCudaDriver(format!(
            "cuInit failed: {}",
            error_name(&e)
        ))),
        Err(_) => Err(EngineError::NoCudaDriver(
            "the CUDA driver library could not be used".into(),
        )),
    }
}

/// Compiles `kernels.cu` for compute capability `major.minor` with NVRTC (no FMA contraction,
/// IEEE division, no flush-to-zero: the CPU reference's arithmetic).
pub fn compile_kernels(major: i32, minor: i32) -> Result<Ptx, EngineError> {
    // SAFETY: only tries to load libnvrtc.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(EngineError::Device {
            class: "NVRTC_NOT_FOUND".into(),
            sticky: true,
            emulated: false,
            backend: NAME,
            detail: "libnvrtc could not be loaded; put CUDA's lib64 on LD_LIBRARY_PATH".into(),
        });
    }
    let opts = CompileOptions {
        fmad: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        ftz: Some(false),
        options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
        ..Default::default()
    };
    std::panic::catch_unwind(|| compile_ptx_with_opts(KERNELS, opts))
        .map_err(|_| EngineError::Device {
            class: "NVRTC_NOT_FOUND".into(),
            sticky: true,
            emulated: false,
            backend: NAME,
            detail: "libnvrtc could not be used".into(),
        })?
        .map_err(|e| EngineError::Device {
            class: "NVRTC_COMPILE_FAILED".into(),
            sticky: true,
            emulated: false,
            backend: NAME,
            detail: format!("compiling the kernels failed: {e:?}"),
        })
}

/// `CUDA_ERROR_...` name of a driver error.
fn error_name(e: &DriverError) -> String {
    format!("{:?}", e.0)
}

/// Errors after which NVIDIA's rule is to end the process: the context is unusable.
fn is_sticky_code(code: sys::CUresult) -> bool {
    use sys::CUresult::*;
    matches!(
        code,
        CUDA_ERROR_ILLEGAL_ADDRESS
            | CUDA_ERROR_LAUNCH_TIMEOUT
            | CUDA_ERROR_ASSERT
            | CUDA_ERROR_HARDWARE_STACK_ERROR
            | CUDA_ERROR_ILLEGAL_INSTRUCTION
            | CUDA_ERROR_MISALIGNED_ADDRESS
            | CUDA_ERROR_INVALID_ADDRESS_SPACE
            | CUDA_ERROR_INVALID_PC
            | CUDA_ERROR_LAUNCH_FAILED
            | CUDA_ERROR_ECC_UNCORRECTABLE
            | CUDA_ERROR_CONTEXT_IS_DESTROYED
    )
}

fn device_error(e: DriverError, what: &str) -> EngineError {
    let class = error_name(&e);
    let message = e
        .error_string()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    EngineError::Device {
        sticky: is_sticky_code(e.0),
        class,
        emulated: false,
        backend: NAME,
        detail: format!("{what}: {message}"),
    }
}

/// `rows x cols` row-major to `cols x rows` row-major.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// Network weights resident on the device (W2 transposed, for coalesced reads).
struct DeviceWeights {
    seed: u64,
    steps: u32,
    w1: CudaSlice<f32>,
    wc: CudaSlice<f32>,
    b1: CudaSlice<f32>,
    temb: CudaSlice<f32>,
    w2: CudaSlice<f32>,
    wo: CudaSlice<f32>,
    gamma: CudaSlice<f32>,
}

struct Kernels {
    denoise: CudaFunction,
    render: CudaFunction,
    out_of_bounds: CudaFunction,
    spin: CudaFunction,
    trap: CudaFunction,
}

struct Inner {
    stream: Arc<CudaStream>,
    kernels: Kernels,
    weights: Option<DeviceWeights>,
    timings: DeviceTimings,
    /// The flag a spinning kernel waits on; set on drop so the kernel ends.
    hang_flag: Option<CudaSlice<i32>>,
}

/// CUDA backend over GPU 0.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    device: String,
    inner: Mutex<Inner>,
    poisoned: Mutex<Option<EngineError>>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend")
            .field("device", &self.device)
            .finish()
    }
}

impl CudaBackend {
    /// Opens GPU 0 and compiles the kernels. Fails with `NoCudaDriver` when there is no driver
    /// or GPU, and with a device error when NVRTC or the module load fails.
    pub fn open() -> Result<CudaBackend, EngineError> {
        probe_driver()?;
        let ctx = std::panic::catch_unwind(|| CudaContext::new(0))
            .map_err(|_| EngineError::NoCudaDriver("creating a CUDA context panicked".into()))?
            .map_err(|e| device_error(e, "creating the CUDA context"))?;
        // One stream does all the work, so cudarc's cross-stream event tracking is not needed;
        // without it nothing ever waits behind a hung kernel on drop.
        // SAFETY: no CudaSlice is shared between streams.
        unsafe { ctx.disable_event_tracking() };
        let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| device_error(e, "reading the compute capability"))?;
        let ptx = compile_kernels(major, minor)?;
        let module = ctx
            .load_module(ptx)
            .map_err(|e| device_error(e, "loading the kernel module"))?;
        let load = |n: &str| {
            module
                .load_function(n)
                .map_err(|e| device_error(e, &format!("loading kernel {n}")))
        };
        let kernels = Kernels {
            denoise: load("denoise")?,
            render: load("render")?,
            out_of_bounds: load("out_of_bounds")?,
            spin: load("spin")?,
            trap: load("trap_now")?,
        };
        let stream = ctx
            .new_stream()
            .map_err(|e| device_error(e, "creating a stream"))?;
        let backend = CudaBackend {
            device: format!("{name} (sm_{major}{minor})"),
            ctx,
            inner: Mutex::new(Inner {
                stream,
                kernels,
                weights: None,
                timings: DeviceTimings::default(),
                hang_flag: None,
            }),
            poisoned: Mutex::new(None),
        };
        backend.self_test()?;
        Ok(backend)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, EngineError> {
        if let Some(e) = &*self.poisoned.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(e.clone());
        }
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.ctx
            .bind_to_thread()
            .map_err(|e| device_error(e, "binding the context"))?;
        Ok(inner)
    }

    /// Remembers a sticky error the driver cannot know about (a hang the watchdog cut, an
    /// emulated Xid). Real sticky CUDA errors are not remembered here: the driver itself fails
    /// every later call with them, and that is what callers see.
    fn poison(&self, err: &EngineError) {
        if err.is_sticky() {
            let mut p = self.poisoned.lock().unwrap_or_else(|e| e.into_inner());
            if p.is_none() {
                *p = Some(err.clone());
            }
        }
    }

    /// Records an event after the work queued so far and polls it until it completes, an error
    /// surfaces, or the watchdog deadline passes.
    fn wait(&self, stream: &CudaStream, watchdog: Duration, what: &str) -> Result<(), EngineError> {
        let event = self
            .ctx
            .new_event(None)
            .map_err(|e| device_error(e, "creating the watchdog event"))?;
        event
            .record(stream)
            .map_err(|e| device_error(e, "recording the watchdog event"))?;
        self.poll(&event, watchdog, what)
    }

    fn poll(&self, event: &CudaEvent, watchdog: Duration, what: &str) -> Result<(), EngineError> {
        let started = Instant::now();
        loop {
            match event.try_is_complete() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(device_error(e, what)),
            }
            let waited = started.elapsed();
            if waited >= watchdog {
                let err = EngineError::WatchdogHang {
                    waited_ms: waited.as_millis() as u64,
                    emulated: false,
                    backend: NAME,
                };
                self.poison(&err);
                return Err(err);
            }
            if waited < Duration::from_millis(2) {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    fn upload_weights(&self, inner: &mut Inner, w: &Weights) -> Result<(), EngineError> {
        if inner
            .weights
            .as_ref()
            .is_some_and(|d| d.seed == w.seed && d.steps == w.steps)
        {
            return Ok(());
        }
        let s = &inner.stream;
        let up = |v: &[f32]| {
            s.clone_htod(v)
                .map_err(|e| device_error(e, "uploading weights"))
        };
        inner.weights = Some(DeviceWeights {
            seed: w.seed,
            steps: w.steps,
            w1: up(&w.w1)?,
            wc: up(&w.wc)?,
            b1: up(&w.b1)?,
            temb: up(&w.temb)?,
            w2: up(&transpose(&w.w2, LATENT_DIM, HIDDEN_DIM))?,
            wo: up(&w.wo)?,
            gamma: up(&w.gamma)?,
        });
        Ok(())
    }

    fn timing_event(&self) -> Result<CudaEvent, EngineError> {
        self.ctx
            .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| device_error(e, "creating a timing event"))
    }

    fn denoise_locked(
        &self,
        inner: &mut Inner,
        weights: &Weights,
        first_frame: u64,
        cond: &[f32],
        watchdog: Duration,
    ) -> Result<Vec<f32>, EngineError> {
        let frames = cond.len() / COND_DIM;
        self.upload_weights(inner, weights)?;
        let stream = inner.stream.clone();
        let dw = inner.weights.as_ref().expect("uploaded above");
        let d_cond = stream
            .clone_htod(cond)
            .map_err(|e| device_error(e, "uploading conditioning"))?;
        let mut d_out = stream
            .alloc_zeros::<f32>(frames * LATENT_DIM)
            .map_err(|e| device_error(e, "allocating latents"))?;
        let (start, stop) = (self.timing_event()?, self.timing_event()?);
        start
            .record(&stream)
            .map_err(|e| device_error(e, "recording"))?;
        let steps = weights.steps as i32;
        let frames_i = frames as i32;
        let cfg = LaunchConfig {
            grid_dim: (frames.div_ceil(FRAMES_PER_BLOCK) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&inner.kernels.denoise);
        launch
            .arg(&dw.w1)
            .arg(&dw.wc)
            .arg(&dw.b1)
            .arg(&dw.temb)
            .arg(&dw.w2)
            .arg(&dw.wo)
            .arg(&dw.gamma)
            .arg(&steps)
            .arg(&d_cond)
            .arg(&mut d_out)
            .arg(&weights.seed)
            .arg(&first_frame)
            .arg(&frames_i);
        // SAFETY: argument types and order match the kernel's signature; buffers are sized for
        // `frames` frames.
        unsafe { launch.launch(cfg) }.map_err(|e| device_error(e, "launching denoise"))?;
        stop.record(&stream)
            .map_err(|e| device_error(e, "recording"))?;
        self.poll(&stop, watchdog, "denoise kernel")?;
        let ms = start.elapsed_ms(&stop).unwrap_or(0.0) as f64;
        inner.timings.denoise_ms += ms;
        inner.timings.denoise_frames += frames as u64;
        inner.timings.denoise_flops += weights.flops_per_frame() * frames as u64;
        stream
            .clone_dtoh(&d_out)
            .map_err(|e| device_error(e, "reading latents"))
    }

    fn render_locked(
        &self,
        inner: &mut Inner,
        b: &RenderBatch,
        watchdog: Duration,
    ) -> Result<Vec<i16>, EngineError> {
        let stream = inner.stream.clone();
        let err = |e| device_error(e, "uploading vocoder parameters");
        let f0 = stream.clone_htod(&b.f0).map_err(err)?;
        let noise = stream.clone_htod(&b.noise).map_err(err)?;
        let amps = stream.clone_htod(&b.amps).map_err(err)?;
        let phase = stream.clone_htod(&b.phase).map_err(err)?;
        let units = stream.clone_htod(&b.units).map_err(err)?;
        let mask = stream.clone_htod(&b.mask).map_err(err)?;
        let mut out = stream
            .alloc_zeros::<i16>(b.frames * SAMPLES_PER_FRAME)
            .map_err(|e| device_error(e, "allocating samples"))?;
        let (start, stop) = (self.timing_event()?, self.timing_event()?);
        start
            .record(&stream)
            .map_err(|e| device_error(e, "recording"))?;
        let frames_i = b.frames as i32;
        let cfg = LaunchConfig {
            grid_dim: (
                SAMPLES_PER_FRAME as u32 / RENDER_THREADS,
                b.frames as u32,
                1,
            ),
            block_dim: (RENDER_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&inner.kernels.render);
        launch
            .arg(&f0)
            .arg(&noise)
            .arg(&amps)
            .arg(&phase)
            .arg(&units)
            .arg(&mask)
            .arg(&b.seed)
            .arg(&b.first_frame)
            .arg(&frames_i)
            .arg(&mut out);
        // SAFETY: argument types and order match the kernel's signature; buffers hold
        // frames + 1 boundaries and frames x 3200 samples.
        unsafe { launch.launch(cfg) }.map_err(|e| device_error(e, "launching render"))?;
        stop.record(&stream)
            .map_err(|e| device_error(e, "recording"))?;
        self.poll(&stop, watchdog, "render kernel")?;
        let ms = start.elapsed_ms(&stop).unwrap_or(0.0) as f64;
        inner.timings.render_ms += ms;
        inner.timings.render_samples += (b.frames * SAMPLES_PER_FRAME) as u64;
        stream
            .clone_dtoh(&out)
            .map_err(|e| device_error(e, "reading samples"))
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        format!("cuda: {}", self.device)
    }

    fn denoise(
        &self,
        weights: &Arc<Weights>,
        first_frame: u64,
        cond: &[f32],
        watchdog: Duration,
    ) -> Result<Vec<f32>, EngineError> {
        let mut inner = self.lock()?;
        let frames = cond.len() / COND_DIM;
        let mut out = Vec::with_capacity(frames * LATENT_DIM);
        for (k, part) in cond.chunks(MAX_FRAMES_PER_LAUNCH * COND_DIM).enumerate() {
            let first = first_frame + (k * MAX_FRAMES_PER_LAUNCH) as u64;
            out.extend(self.denoise_locked(&mut inner, weights, first, part, watchdog)?);
        }
        Ok(out)
    }

    fn render(&self, batch: &RenderBatch, watchdog: Duration) -> Result<Vec<i16>, EngineError> {
        let mut inner = self.lock()?;
        if batch.frames <= MAX_FRAMES_PER_LAUNCH {
            return self.render_locked(&mut inner, batch, watchdog);
        }
        let mut out = Vec::with_capacity(batch.frames * SAMPLES_PER_FRAME);
        let mut first = 0;
        while first < batch.frames {
            let n = MAX_FRAMES_PER_LAUNCH.min(batch.frames - first);
            let part = batch.slice(first, n);
            out.extend(self.render_locked(&mut inner, &part, watchdog)?);
            first += n;
        }
        Ok(out)
    }

    fn self_test(&self) -> Result<(), EngineError> {
        let mut inner = self.lock()?;
        let w = Weights::generate(0x5e1f_7e57, 2);
        let mut cond = [0.0f32; COND_DIM];
        cond[1] = 1.0;
        cond[15] = 1.0;
        let got = self.denoise_locked(&mut inner, &w, 3, &cond, Duration::from_secs(5))?;
        let mut want = [0.0f32; LATENT_DIM];
        denoise_frame(&w, 3, &cond, &mut want);
        // A health check, not the bit-exactness test: it catches a device that computes
        // garbage, within a tolerance that any working GPU meets.
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs() / (1.0 + w.abs()))
            .fold(0.0f32, f32::max);
        if got.len() != want.len() || got.iter().any(|g| !g.is_finite()) || worst > 1e-3 {
            return Err(EngineError::Device {
                class: "SELF_TEST_MISMATCH".into(),
                sticky: true,
                emulated: false,
                backend: NAME,
                detail: format!(
                    "the GPU's denoised latent differs from the CPU reference (worst relative \
                     difference {worst})"
                ),
            });
        }
        Ok(())
    }

    fn inject(&self, fault: &FaultRequest, watchdog: Duration) -> Result<FaultReport, EngineError> {
        let mut inner = self.lock()?;
        self.inject_locked(&mut inner, fault, watchdog)
    }

    fn timings(&self) -> Option<DeviceTimings> {
        Some(
            self.inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .timings
                .clone(),
        )
    }
}

impl Drop for CudaBackend {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut flag) = inner.hang_flag.take() {
            // Release the spinning kernel from a second stream so the context can wind down.
            if self.ctx.bind_to_thread().is_ok() {
                if let Ok(side) = self.ctx.new_stream() {
                    let _ = side.memcpy_htod(&[1i32], &mut flag);
                }
            }
            std::mem::forget(flag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_compile_with_nvrtc() {
        // SAFETY: only tries to load libnvrtc.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("SKIPPED: libnvrtc not found (set LD_LIBRARY_PATH to CUDA's lib64 to run)");
            return;
        }
        let ptx = compile_kernels(9, 0).unwrap_or_else(|e| panic!("{e}"));
        let text = ptx.to_src();
        for name in ["denoise", "render", "out_of_bounds", "spin", "trap_now"] {
            assert!(
                text.contains(&format!(".entry {name}")),
                "kernel {name} missing"
            );
        }
        assert!(
            !text.contains("fma.rn.f32"),
            "float FMA contraction must be off"
        );
    }

    #[test]
    fn without_a_driver_the_error_says_so() {
        match probe_driver() {
            Ok(n) => eprintln!("SKIPPED: this machine has {n} CUDA device(s)"),
            Err(e) => {
                assert_eq!(e.error_class(), "NO_CUDA_DRIVER");
                assert!(e.to_string().contains("no CUDA driver found"), "{e}");
            }
        }
    }
}

//! The CUDA backend (being written): detects the driver and GPU.

use std::sync::Arc;
use std::time::Duration;

use contract::{FaultReport, FaultRequest};

use super::Backend;
use crate::engine::vocoder::RenderBatch;
use crate::engine::{EngineError, Weights};

/// CUDA backend over one GPU.
#[derive(Debug)]
pub struct CudaBackend {
    _private: (),
}

/// Checks for a CUDA driver and at least one GPU, without panicking when there is none.
pub fn probe_driver() -> Result<(), EngineError> {
    // SAFETY: only tries to dlopen libcuda.
    let present = unsafe { cudarc::driver::sys::is_culib_present() };
    if !present {
        return Err(EngineError::NoCudaDriver(
            "libcuda.so could not be loaded".into(),
        ));
    }
    let init = std::panic::catch_unwind(cudarc::driver::result::init);
    match init {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(EngineError::NoCudaDriver(format!("cuInit failed: {e:?}"))),
        Err(_) => Err(EngineError::NoCudaDriver(
            "the CUDA driver library could not be used".into(),
        )),
    }
}

impl CudaBackend {
    /// Opens GPU 0.
    pub fn open() -> Result<CudaBackend, EngineError> {
        probe_driver()?;
        Err(EngineError::NoCudaDriver(
            "this build's CUDA kernels are not landed yet".into(),
        ))
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }
    fn describe(&self) -> String {
        "cuda".into()
    }
    fn denoise(
        &self,
        _w: &Arc<Weights>,
        _f: u64,
        _c: &[f32],
        _d: Duration,
    ) -> Result<Vec<f32>, EngineError> {
        unreachable!("never constructed")
    }
    fn render(&self, _b: &RenderBatch, _d: Duration) -> Result<Vec<i16>, EngineError> {
        unreachable!("never constructed")
    }
    fn self_test(&self) -> Result<(), EngineError> {
        unreachable!("never constructed")
    }
    fn inject(&self, _f: &FaultRequest, _d: Duration) -> Result<FaultReport, EngineError> {
        unreachable!("never constructed")
    }
}

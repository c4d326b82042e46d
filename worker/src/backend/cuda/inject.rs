//! CUDA fault injection: each GPU fault raised for real on the device where software can raise
//! it (an illegal address, a hung kernel, out of memory, Xid 13 and 31), and an Xid it cannot
//! raise recorded as emulated. A fault the device was asked for and did not raise is an error
//! (`FAULT_NOT_RAISED`), never a report.

use std::time::Duration;

use contract::{FaultKind, FaultReport, FaultRequest};
use cudarc::driver::{result, CudaSlice, LaunchConfig, PushKernelArg};

use super::{device_error, CudaBackend, Inner, NAME};
use crate::backend::fault_report;
use crate::engine::EngineError;

/// The error for a fault the device did not raise; `detail` says what happened instead.
fn not_raised(detail: String) -> EngineError {
    EngineError::Device {
        class: "FAULT_NOT_RAISED".into(),
        sticky: false,
        emulated: false,
        backend: NAME,
        detail,
    }
}

impl CudaBackend {
    /// Raises `fault` on the device (the backend's lock held) and reports what the device
    /// answered.
    pub(super) fn inject_locked(
        &self,
        inner: &mut Inner,
        fault: &FaultRequest,
        watchdog: Duration,
    ) -> Result<FaultReport, EngineError> {
        match fault.kind {
            FaultKind::GpuIllegalAddress => self.inject_illegal_address(inner, fault, watchdog),
            FaultKind::GpuHang => self.inject_hang(inner, fault, watchdog),
            FaultKind::GpuOom => inject_oom(fault),
            FaultKind::GpuXid => self.inject_xid(inner, fault, watchdog),
            other => Err(EngineError::UnsupportedFault(format!("{other:?}"))),
        }
    }

    /// Launches the kernel that stores 4 TiB past a 4-byte allocation and waits for it. Returns
    /// the wait's outcome with the allocation, which the caller must leak (not free) once the
    /// context has faulted.
    fn launch_out_of_bounds(
        &self,
        inner: &Inner,
        watchdog: Duration,
    ) -> Result<(Result<(), EngineError>, CudaSlice<f32>), EngineError> {
        let stream = inner.stream.clone();
        let mut buf = stream
            .alloc_zeros::<f32>(1)
            .map_err(|e| device_error(e, "allocating"))?;
        let offset: u64 = 1 << 40;
        let mut launch = stream.launch_builder(&inner.kernels.out_of_bounds);
        launch.arg(&mut buf).arg(&offset);
        // SAFETY: deliberately writes out of bounds; that is the fault (an MMU fault, Xid 31).
        unsafe { launch.launch(LaunchConfig::for_num_elems(1)) }
            .map_err(|e| device_error(e, "launching out_of_bounds"))?;
        let waited = self.wait(&stream, watchdog, "out-of-bounds kernel");
        Ok((waited, buf))
    }

    /// `gpu-illegal-address`: an out-of-bounds store, after which the context is unusable.
    fn inject_illegal_address(
        &self,
        inner: &Inner,
        fault: &FaultRequest,
        watchdog: Duration,
    ) -> Result<FaultReport, EngineError> {
        let (waited, buf) = self.launch_out_of_bounds(inner, watchdog)?;
        match waited {
            Err(err) => {
                std::mem::forget(buf);
                Ok(fault_report(
                    fault,
                    &err,
                    format!(
                        "a kernel stored 4 TiB past a 4-byte allocation; the device \
                         answered: {err}; the context is now unusable"
                    ),
                ))
            }
            Ok(()) => Err(not_raised(
                "the out-of-bounds store completed without an error".into(),
            )),
        }
    }

    /// `gpu-hang`: a kernel spinning on a device flag until the watchdog fires; the flag is kept
    /// so that dropping the backend releases the kernel.
    fn inject_hang(
        &self,
        inner: &mut Inner,
        fault: &FaultRequest,
        watchdog: Duration,
    ) -> Result<FaultReport, EngineError> {
        let stream = inner.stream.clone();
        let mut flag = stream
            .alloc_zeros::<i32>(1)
            .map_err(|e| device_error(e, "allocating the hang flag"))?;
        let mut launch = stream.launch_builder(&inner.kernels.spin);
        launch.arg(&mut flag);
        // SAFETY: the kernel only reads the flag.
        unsafe { launch.launch(LaunchConfig::for_num_elems(1)) }
            .map_err(|e| device_error(e, "launching spin"))?;
        inner.hang_flag = Some(flag);
        match self.wait(&stream, watchdog, "spinning kernel") {
            Err(err) => Ok(fault_report(
                fault,
                &err,
                format!(
                    "a kernel spinning on a device flag was still running when the \
                     {} ms watchdog fired (event polled with try_is_complete); the \
                     stream is blocked behind it, so the backend is poisoned",
                    watchdog.as_millis()
                ),
            )),
            Ok(()) => Err(not_raised("the spinning kernel finished".into())),
        }
    }

    /// `gpu-xid`: Xid 13 (a trap kernel) and 31 (an out-of-bounds kernel) raised for real, any
    /// other Xid emulated, which poisons the backend as the real one would.
    fn inject_xid(
        &self,
        inner: &Inner,
        fault: &FaultRequest,
        watchdog: Duration,
    ) -> Result<FaultReport, EngineError> {
        let xid = fault
            .xid
            .ok_or_else(|| EngineError::InvalidRequest("gpu-xid needs an xid number".into()))?;
        let real = self.raise_xid(inner, xid, watchdog)?;
        let (err, detail) = match real {
            Some(Err(device)) => (
                EngineError::xid(
                    xid,
                    false,
                    NAME,
                    if xid == 13 {
                        format!(
                            "raised for real by a trap kernel: {device} (on an H200 \
                             with driver 580.159 the kernel log showed it as Xid 43)"
                        )
                    } else {
                        format!("raised for real: {device} (the driver logs Xid 31)")
                    },
                ),
                format!(
                    "Xid {xid} raised for real by a {} kernel; the device answered {}",
                    if xid == 13 { "trap" } else { "out-of-bounds" },
                    device.error_class()
                ),
            ),
            Some(Ok(())) => {
                return Err(not_raised(format!(
                    "the kernel meant to raise Xid {xid} completed"
                )))
            }
            None => (
                EngineError::xid(
                    xid,
                    true,
                    NAME,
                    format!(
                        "Xid {xid} cannot be raised from software; recorded as if the \
                         driver had reported it"
                    ),
                ),
                format!(
                    "emulated Xid {xid} (only 13 and 31 can be raised for real, by a trap \
                     or an out-of-bounds kernel)"
                ),
            ),
        };
        if matches!(err, EngineError::Xid { emulated: true, .. }) {
            self.poison(&err);
        }
        let detail = format!(
            "{detail}; catalogue class: {}",
            crate::engine::XidAction::for_xid(xid)
        );
        Ok(fault_report(fault, &err, detail))
    }

    /// Runs the kernel that raises Xid `xid` for real and waits for it: `None` for an Xid no
    /// kernel can raise, else the wait's outcome.
    fn raise_xid(
        &self,
        inner: &Inner,
        xid: u32,
        watchdog: Duration,
    ) -> Result<Option<Result<(), EngineError>>, EngineError> {
        Ok(match xid {
            13 => {
                let stream = inner.stream.clone();
                let mut launch = stream.launch_builder(&inner.kernels.trap);
                // SAFETY: the kernel takes no arguments; it traps on purpose.
                unsafe { launch.launch(LaunchConfig::for_num_elems(1)) }
                    .map_err(|e| device_error(e, "launching trap"))?;
                Some(self.wait(&stream, watchdog, "trap kernel"))
            }
            31 => {
                let (waited, buf) = self.launch_out_of_bounds(inner, watchdog)?;
                std::mem::forget(buf);
                Some(waited)
            }
            _ => None,
        })
    }
}

/// `gpu-oom`: device memory exhausted, then freed; the context stays usable.
fn inject_oom(fault: &FaultRequest) -> Result<FaultReport, EngineError> {
    let (bytes, err) = exhaust_device_memory();
    let Some(err) = err else {
        return Err(not_raised(format!(
            "allocated {} GiB without running out of memory",
            bytes >> 30
        )));
    };
    Ok(fault_report(
        fault,
        &err,
        format!(
            "allocated {:.1} GiB of device memory until cuMemAlloc answered {}; \
             freed it all; the context stays usable",
            bytes as f64 / (1u64 << 30) as f64,
            err.error_class()
        ),
    ))
}

/// Allocates device memory in shrinking blocks until the driver answers out-of-memory, then
/// frees everything. Returns the bytes held at the peak and the error met.
fn exhaust_device_memory() -> (u64, Option<EngineError>) {
    let mut held = Vec::new();
    let mut total = 0u64;
    let mut block: usize = 1 << 30;
    let mut first_err = None;
    while block >= 1 << 20 {
        // SAFETY: plain allocation; freed below.
        match unsafe { result::malloc_sync(block) } {
            Ok(ptr) => {
                held.push(ptr);
                total += block as u64;
            }
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(device_error(e, "cuMemAlloc"));
                }
                block /= 4;
            }
        }
        if total > (1u64 << 40) {
            break;
        }
    }
    for ptr in held {
        // SAFETY: each pointer came from malloc_sync above and is freed once.
        unsafe {
            let _ = result::free_sync(ptr);
        }
    }
    (total, first_err)
}

//! `POST /v1/faults`: faults the worker inflicts on itself for drills, and its reaction.
//!
//! Host faults (crash, stall, host memory growth) are made here; device faults
//! (`gpu-*`) are made by the engine ([`synth_worker::engine::Engine::inject`]) and the
//! worker then reacts by the error's class (see `docs/worker-api.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use contract::{FaultKind, FaultReport, FaultRequest};
use thiserror::Error;

use crate::service::{Reaction, Service};

/// Memory added per step by `host-memory-grow`.
const GROW_STEP_BYTES: usize = 16 << 20;
/// Pause between growth steps (16 MiB every 20 ms: about 800 MiB/s).
const GROW_STEP_PAUSE: Duration = Duration::from_millis(20);
/// Longest the self-test after a device fault may take.
const SELF_TEST_LIMIT: Duration = Duration::from_secs(10);

/// Why a fault was not injected.
#[derive(Debug, Error)]
pub enum FaultError {
    /// `host-memory-grow` without a cgroup memory limit would exhaust the host.
    #[error("host-memory-grow needs a cgroup memory limit (none found for this process): without one it would exhaust the whole host; run the worker in a container with --memory")]
    NoMemoryLimit,
    /// A `gpu-xid` without its number.
    #[error("gpu-xid needs an \"xid\" number, e.g. {{\"kind\":\"gpu-xid\",\"xid\":79}}")]
    MissingXid,
    /// The engine could not run the fault.
    #[error("the engine could not inject {kind}: {detail}")]
    Engine {
        /// Fault kind.
        kind: String,
        /// Cause.
        detail: String,
    },
}

/// Injects `req` and reports what happened and how the worker reacts.
pub async fn inject(svc: &Arc<Service>, req: FaultRequest) -> Result<FaultReport, FaultError> {
    let kind_name = serde_json::to_value(req.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let report = match req.kind {
        FaultKind::Crash => {
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                eprintln!("synth-worker: crash fault: aborting");
                std::process::abort();
            });
            FaultReport {
                kind: req.kind,
                error_class: "SIGABRT".into(),
                reaction: "exit".into(),
                detail: "the process aborts in 100 ms".into(),
                emulated: false,
                allocated_bytes: None,
            }
        }
        FaultKind::Stall => {
            let duration = req.duration_ms.map(Duration::from_millis);
            svc.stall_for(duration);
            FaultReport {
                kind: req.kind,
                error_class: "STALL".into(),
                reaction: "unhealthy".into(),
                detail: format!(
                    "synthesis stops {}; HTTP keeps answering; after {} ms without progress the watchdog fails /health and releases the lease",
                    match duration {
                        Some(d) => format!("for {} ms", d.as_millis()),
                        None => "until the process ends".into(),
                    },
                    svc.cfg.watchdog.as_millis()
                ),
                emulated: false,
                allocated_bytes: None,
            }
        }
        FaultKind::HostMemoryGrow => {
            let limit = memory_limit().ok_or(FaultError::NoMemoryLimit)?;
            std::thread::Builder::new()
                .name("memory-grow".into())
                .spawn(grow_memory)
                .map_err(|e| FaultError::Engine {
                    kind: kind_name.clone(),
                    detail: e.to_string(),
                })?;
            FaultReport {
                kind: req.kind,
                error_class: "HOST_OOM".into(),
                reaction: "oom-kill".into(),
                detail: format!(
                    "growing host memory by {} MiB every {} ms until the limit of {} MiB kills the process",
                    GROW_STEP_BYTES >> 20,
                    GROW_STEP_PAUSE.as_millis(),
                    limit >> 20
                ),
                emulated: false,
                allocated_bytes: None,
            }
        }
        FaultKind::GpuXid if req.xid.is_none() => return Err(FaultError::MissingXid),
        FaultKind::GpuIllegalAddress
        | FaultKind::GpuHang
        | FaultKind::GpuOom
        | FaultKind::GpuXid => device_fault(svc, req, &kind_name).await?,
    };
    svc.metrics.count_fault(&kind_name);
    Ok(report)
}

/// Lets the engine make the fault, checks the device with a self-test, and reacts.
async fn device_fault(
    svc: &Arc<Service>,
    req: FaultRequest,
    kind_name: &str,
) -> Result<FaultReport, FaultError> {
    let engine = svc.engine.clone();
    let kind = req.kind;
    let injected = tokio::task::spawn_blocking(move || engine.inject(&req))
        .await
        .map_err(|e| FaultError::Engine {
            kind: kind_name.to_string(),
            detail: format!("injection panicked: {e}"),
        })?;
    let mut report = match injected {
        // A fault that did not happen is no fault: the harness must not count it as made.
        Err(err)
            if matches!(
                err.error_class(),
                "UNSUPPORTED_FAULT" | "INVALID_REQUEST" | "FAULT_NOT_RAISED"
            ) =>
        {
            return Err(FaultError::Engine {
                kind: kind_name.to_string(),
                detail: err.to_string(),
            })
        }
        Err(err) => {
            let reaction = svc.on_engine_error(&err);
            return Ok(FaultReport {
                kind,
                error_class: err.error_class().to_string(),
                reaction: reaction.as_str().into(),
                detail: err.to_string(),
                emulated: err.emulated(),
                allocated_bytes: None,
            });
        }
        // A hung device cannot run a self-test (it would wait behind the hang): the stall
        // watchdog is what must notice, as it would for a real hung kernel.
        Ok(mut report) if report.reaction == "watchdog" => {
            if !svc.cfg.stall_watchdog {
                report.detail.push_str(
                    "; the stall watchdog is OFF (--no-watchdog): nothing will end the hang",
                );
            }
            return Ok(report);
        }
        Ok(report) => report,
    };
    // After any device error, a real piece of work decides whether the device is usable.
    let engine = svc.engine.clone();
    let test = tokio::time::timeout(
        SELF_TEST_LIMIT,
        tokio::task::spawn_blocking(move || engine.self_test()),
    )
    .await;
    match test {
        Ok(Ok(Ok(()))) => {
            let reaction = match report.reaction.as_str() {
                "exit" => Reaction::Exit,
                "unhealthy" => Reaction::Unhealthy,
                _ => Reaction::Continue,
            };
            svc.apply(
                reaction,
                format!("{}: {}", report.error_class, report.detail),
            );
            report.reaction = reaction.as_str().into();
        }
        Ok(Ok(Err(err))) => {
            let reaction = svc.on_engine_error(&err);
            report.reaction = reaction.as_str().into();
            report.detail = format!("{}; self-test after the fault: {err}", report.detail);
        }
        Ok(Err(join)) => {
            svc.exit_for(format!("self-test panicked after {kind_name}: {join}"));
            report.reaction = "exit".into();
        }
        Err(_) => {
            svc.exit_for(format!(
                "self-test did not finish within {} s after {kind_name}",
                SELF_TEST_LIMIT.as_secs()
            ));
            report.reaction = "exit".into();
        }
    }
    Ok(report)
}

fn grow_memory() {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filling with a non-zero byte touches every page, so the memory is really resident.
        kept.push(vec![0xA5u8; GROW_STEP_BYTES]);
        std::thread::sleep(GROW_STEP_PAUSE);
    }
}

/// The memory limit of this process's cgroup (or any ancestor's), in bytes.
pub fn memory_limit() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.is_empty() {
            // cgroup v2: walk from this cgroup up to the root.
            let mut dir = PathBuf::from("/sys/fs/cgroup").join(path.trim_start_matches('/'));
            loop {
                if let Some(limit) = read_limit(&dir.join("memory.max")) {
                    return Some(limit);
                }
                if dir == Path::new("/sys/fs/cgroup") || !dir.pop() {
                    break;
                }
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            for dir in [
                PathBuf::from("/sys/fs/cgroup/memory").join(path.trim_start_matches('/')),
                PathBuf::from("/sys/fs/cgroup/memory"),
            ] {
                if let Some(limit) = read_limit(&dir.join("memory.limit_in_bytes")) {
                    return Some(limit);
                }
            }
        }
    }
    None
}

fn read_limit(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let limit: u64 = text.trim().parse().ok()?;
    // cgroup v1 writes "no limit" as a huge page-rounded number.
    (limit < (1u64 << 62)).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_limits_are_parsed_and_no_limit_is_none() {
        let dir = std::env::temp_dir().join(format!("synth-cg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("memory.max");
        std::fs::write(&f, "268435456\n").unwrap();
        assert_eq!(read_limit(&f), Some(268_435_456));
        std::fs::write(&f, "max\n").unwrap();
        assert_eq!(read_limit(&f), None);
        std::fs::write(&f, "9223372036854771712\n").unwrap();
        assert_eq!(
            read_limit(&f),
            None,
            "cgroup v1 writes no limit as a huge number"
        );
        assert_eq!(read_limit(&dir.join("absent")), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

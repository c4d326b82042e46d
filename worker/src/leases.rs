//! Background duties of a serving worker: claim jobs whose lease expired, and
//! give up jobs that stopped making progress (the watchdog).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use synth_worker::engine::EngineError;

use crate::runner;
use crate::service::Service;

/// Starts a runner for a job this worker holds at `epoch`.
pub fn start_job(svc: &Arc<Service>, record: crate::store::JobRecord, epoch: u64) {
    let allowance = runner::pace_allowance(record.chunk_frames, record.request.options.pace_rtf);
    if let Some(job) = svc.adopt(&record.id, epoch, allowance) {
        tokio::spawn(runner::run(svc.clone(), job, record));
    }
}

/// Every half TTL: claim each running job whose lease has expired, unless this
/// worker is unfit (sticky error, bad device, stalled, watchdog tripped).
pub async fn scan_loop(svc: Arc<Service>) {
    let every = (svc.cfg.lease_ttl / 2).max(Duration::from_millis(20));
    loop {
        tokio::time::sleep(every).await;
        if svc.unfit_reason().is_some() {
            continue;
        }
        let ids = match svc.jobs.active_jobs().await {
            Ok(ids) => ids,
            Err(_) => continue,
        };
        for id in ids {
            if svc.owns(&id) {
                continue;
            }
            let epoch = match svc
                .jobs
                .claim(&id, &svc.cfg.worker_id, svc.cfg.lease_ttl)
                .await
            {
                Ok(Some(epoch)) => epoch,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("synth-worker: claiming job {id} failed: {e}");
                    continue;
                }
            };
            match svc.jobs.job(&id).await {
                Ok(Some(record)) => {
                    eprintln!(
                        "synth-worker: claimed job {id} at epoch {epoch}, resuming from chunk {}",
                        record.status.chunks_committed
                    );
                    svc.metrics.jobs_claimed.fetch_add(1, Ordering::Relaxed);
                    start_job(&svc, record, epoch);
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("synth-worker: claimed job {id} but cannot read it: {e}; releasing");
                    let _ = svc.jobs.release(&id, &svc.cfg.worker_id, epoch).await;
                }
            }
        }
    }
}

/// The stall watchdog. Trips when a held job commits nothing for longer than the watchdog
/// limit (plus its pace): health fails and the lease is deleted so another worker takes over.
/// Also trips when a piece of device work has not finished within the limit (a hung kernel):
/// that is `WATCHDOG_HANG`, sticky, so the worker drops its leases, fails health and exits.
pub async fn watchdog_loop(svc: Arc<Service>) {
    let limit = svc.cfg.watchdog;
    let every = (limit / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    loop {
        tokio::time::sleep(every).await;
        if device_hung(&svc, limit) {
            continue;
        }
        for job in svc.owned_jobs() {
            if job.stopped() || job.tripped.lock().expect("trip lock").is_some() {
                continue;
            }
            let idle = job.last_progress.lock().expect("progress lock").elapsed();
            if idle > limit + job.pace_allowance {
                let reason = format!(
                    "job {} made no progress for {} ms (watchdog {} ms)",
                    job.id,
                    idle.as_millis(),
                    limit.as_millis()
                );
                eprintln!("synth-worker: watchdog: {reason}; releasing its lease");
                *job.tripped.lock().expect("trip lock") = Some(reason);
                svc.release(&job, "watchdog").await;
            }
        }
    }
}

/// Whether device work has stayed unfinished past `limit` (a hung kernel); the first time,
/// raises `WATCHDOG_HANG` (sticky: the worker drops its leases, fails health and exits).
fn device_hung(svc: &Arc<Service>, limit: Duration) -> bool {
    let Some(busy) = svc.engine.oldest_device_work().filter(|b| *b > limit) else {
        return false;
    };
    if svc.fatal_reason().is_none() {
        eprintln!(
            "synth-worker: watchdog: device work unfinished after {} ms (watchdog {} ms)",
            busy.as_millis(),
            limit.as_millis()
        );
        svc.on_engine_error(&EngineError::WatchdogHang {
            waited_ms: busy.as_millis() as u64,
            emulated: svc.engine.emulates_faults(),
            backend: svc.engine.backend_name(),
        });
    }
    true
}

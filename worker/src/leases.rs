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

/// How often a worker with presence on looks for dead holders.
const PRESENCE_SCAN: Duration = Duration::from_millis(50);

/// How often [`scan_loop`] looks: every half TTL, or every [`PRESENCE_SCAN`]
/// when a dead holder can be told by its closed presence connection.
fn scan_period(lease_ttl: Duration, presence: bool) -> Duration {
    let half_ttl = (lease_ttl / 2).max(Duration::from_millis(20));
    if presence {
        half_ttl.min(PRESENCE_SCAN)
    } else {
        half_ttl
    }
}

/// Claims each running job whose lease has expired, or (with presence on) whose
/// holder's process is gone, unless this worker is unfit (sticky error, bad
/// device, stalled, watchdog tripped).
pub async fn scan_loop(svc: Arc<Service>) {
    let every = scan_period(svc.cfg.lease_ttl, svc.cfg.presence);
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
                Ok(None) => match claim_from_dead_holder(&svc, &id).await {
                    Some(epoch) => epoch,
                    None => continue,
                },
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

/// With presence on: claims `id` when its lease is held by a worker whose presence
/// connection has closed (its process died), without waiting for the lease to expire.
async fn claim_from_dead_holder(svc: &Arc<Service>, id: &str) -> Option<u64> {
    if !svc.cfg.presence {
        return None;
    }
    let lease = svc.jobs.lease_holder(id).await.ok()??;
    let (holder, _epoch) = lease.rsplit_once('|')?;
    if holder == svc.cfg.worker_id || !svc.jobs.worker_gone(holder).await.ok()? {
        return None;
    }
    let epoch = svc
        .jobs
        .claim_from_dead(id, &svc.cfg.worker_id, svc.cfg.lease_ttl, &lease)
        .await
        .ok()??;
    eprintln!(
        "synth-worker: job {id}: holder {holder}'s Redis connection closed (its process is gone); taking the job over without waiting for its lease"
    );
    svc.metrics
        .jobs_claimed_from_dead
        .fetch_add(1, Ordering::Relaxed);
    Some(epoch)
}

/// Holds this worker's presence connection open, reopening it when it breaks
/// (checked every half second), for as long as the process lives.
pub async fn presence_loop(svc: Arc<Service>) {
    let mut warned = false;
    loop {
        match svc.jobs.announce_presence(&svc.cfg.worker_id).await {
            Ok(mut conn) => {
                warned = false;
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let ping: redis::RedisResult<String> =
                        redis::cmd("PING").query_async(&mut conn).await;
                    if ping.is_err() {
                        break;
                    }
                }
            }
            Err(e) if !warned => {
                eprintln!("synth-worker: cannot announce presence in Redis ({e}); retrying");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_scans_often_and_ttl_only_scans_every_half_ttl() {
        let ttl = Duration::from_secs(1);
        assert_eq!(scan_period(ttl, false), Duration::from_millis(500));
        assert_eq!(scan_period(ttl, true), PRESENCE_SCAN);
        assert_eq!(
            scan_period(Duration::from_millis(60), true),
            Duration::from_millis(30)
        );
    }
}

//! The serving worker's shared state: identity, engine, stores, the jobs it
//! holds leases for, and the conditions its health checks report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use synth_worker::engine::{Engine, EngineError};

use crate::metrics::Metrics;
use crate::store::{FileStore, JobStore};

/// Exit status after a sticky device error, so a supervisor restarts the process.
pub const EXIT_STICKY: i32 = 70;
/// Time between deciding to exit and exiting, so the fault's answer and a failing
/// health check can still be seen.
const EXIT_GRACE: Duration = Duration::from_millis(300);

/// Settings of a serving worker.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Worker id, written into leases and chunk records.
    pub worker_id: String,
    /// Lease time to live; the owner renews every third of it.
    pub lease_ttl: Duration,
    /// Longest a held job may go without committing a chunk, and the device without finishing
    /// a piece of work.
    pub watchdog: Duration,
    /// Whether the stall watchdog runs (off only for drills that prove it matters).
    pub stall_watchdog: bool,
    /// Check the epoch on every commit (off only for split-brain drills).
    pub fencing: bool,
    /// Hold a presence connection in Redis and take over jobs of holders whose
    /// presence closed, without waiting for their lease (see `store::presence`).
    pub presence: bool,
    /// Token of the fault endpoint; `None` keeps it off.
    pub fault_token: Option<String>,
}

/// A job this worker holds the lease of.
#[derive(Debug)]
pub struct OwnedJob {
    /// Job id.
    pub id: String,
    /// Lease epoch this worker holds it at.
    pub epoch: u64,
    /// Set when the worker must stop writing for this job.
    pub stop: AtomicBool,
    /// When the job last committed a chunk (or was taken).
    pub last_progress: Mutex<Instant>,
    /// Extra time a chunk may take because the job is paced.
    pub pace_allowance: Duration,
    /// Why the watchdog gave the job up, once it has.
    pub tripped: Mutex<Option<String>>,
}

impl OwnedJob {
    /// Whether the runner should stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Records progress now.
    pub fn progressed(&self) {
        *self.last_progress.lock().expect("progress lock") = Instant::now();
    }
}

/// How the worker reacts to an engine error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// The context is gone: fail health, drop leases, exit non-zero for a restart.
    Exit,
    /// The device is bad: fail health, drop leases, stay up and out of service.
    Unhealthy,
    /// Transient: keep serving (retry, or fail the one job).
    Continue,
}

impl Reaction {
    /// The word used in fault reports and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Exit => "exit",
            Reaction::Unhealthy => "unhealthy",
            Reaction::Continue => "continue",
        }
    }

    /// The reaction the worker takes to `err`.
    pub fn for_error(err: &EngineError) -> Reaction {
        if err.device_bad() {
            Reaction::Unhealthy
        } else if err.is_sticky() {
            Reaction::Exit
        } else {
            Reaction::Continue
        }
    }
}

/// Everything the HTTP handlers and background tasks share.
pub struct Service {
    /// Settings.
    pub cfg: ServiceConfig,
    /// The synthesis engine.
    pub engine: Arc<Engine>,
    /// Redis side of the store.
    pub jobs: JobStore,
    /// Data directory side of the store.
    pub files: FileStore,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    owned: Mutex<HashMap<String, Arc<OwnedJob>>>,
    fatal: Mutex<Option<String>>,
    device_bad: Mutex<Option<String>>,
    engine_suspect: AtomicBool,
    stall_until: Mutex<Option<Option<Instant>>>,
    id_counter: AtomicU64,
}

impl Service {
    /// Assembles a service.
    pub fn new(cfg: ServiceConfig, engine: Engine, jobs: JobStore, files: FileStore) -> Self {
        Self {
            cfg,
            engine: Arc::new(engine),
            jobs,
            files,
            metrics: Metrics::default(),
            owned: Mutex::new(HashMap::new()),
            fatal: Mutex::new(None),
            device_bad: Mutex::new(None),
            engine_suspect: AtomicBool::new(false),
            stall_until: Mutex::new(None),
            id_counter: AtomicU64::new(0),
        }
    }

    /// A new job id: `job-` and 16 hex digits, unique across workers.
    pub fn new_job_id(&self) -> String {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        let mut h = blake3::Hasher::new();
        h.update(self.cfg.worker_id.as_bytes());
        h.update(&std::process::id().to_le_bytes());
        h.update(&n.to_le_bytes());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(&nanos.to_le_bytes());
        format!("job-{}", &h.finalize().to_hex()[..16])
    }

    /// Registers a job this worker now holds at `epoch`; `None` when already held.
    pub fn adopt(&self, id: &str, epoch: u64, pace_allowance: Duration) -> Option<Arc<OwnedJob>> {
        let mut owned = self.owned.lock().expect("owned lock");
        if owned.contains_key(id) {
            return None;
        }
        let job = Arc::new(OwnedJob {
            id: id.to_string(),
            epoch,
            stop: AtomicBool::new(false),
            last_progress: Mutex::new(Instant::now()),
            pace_allowance,
            tripped: Mutex::new(None),
        });
        owned.insert(id.to_string(), job.clone());
        Some(job)
    }

    /// Forgets a job whose runner ended.
    pub fn disown(&self, id: &str) {
        self.owned.lock().expect("owned lock").remove(id);
    }

    /// Jobs currently held.
    pub fn owned_jobs(&self) -> Vec<Arc<OwnedJob>> {
        self.owned
            .lock()
            .expect("owned lock")
            .values()
            .cloned()
            .collect()
    }

    /// Whether this worker holds `id`.
    pub fn owns(&self, id: &str) -> bool {
        self.owned.lock().expect("owned lock").contains_key(id)
    }

    /// Why the worker must not take new work, if it must not.
    pub fn unfit_reason(&self) -> Option<String> {
        if let Some(r) = self.fatal.lock().expect("lock").clone() {
            return Some(format!("exiting after a sticky device error: {r}"));
        }
        if let Some(r) = self.device_bad.lock().expect("lock").clone() {
            return Some(format!("device marked bad: {r}"));
        }
        if self.stalled() {
            return Some("stalled by an injected fault".into());
        }
        self.watchdog_reason()
    }

    /// The sticky error the worker is exiting for, if any.
    pub fn fatal_reason(&self) -> Option<String> {
        self.fatal.lock().expect("lock").clone()
    }

    /// Why the device is marked bad, if it is.
    pub fn device_bad_reason(&self) -> Option<String> {
        self.device_bad.lock().expect("lock").clone()
    }

    /// A reason from the watchdog when a held job went without progress too long.
    pub fn watchdog_reason(&self) -> Option<String> {
        self.owned_jobs()
            .iter()
            .find_map(|j| j.tripped.lock().expect("trip lock").clone())
    }

    /// Starts an injected stall (`None`: until the process ends).
    pub fn stall_for(&self, duration: Option<Duration>) {
        *self.stall_until.lock().expect("lock") = Some(duration.map(|d| Instant::now() + d));
    }

    /// Whether an injected stall is in effect.
    pub fn stalled(&self) -> bool {
        let mut s = self.stall_until.lock().expect("lock");
        match *s {
            Some(None) => true,
            Some(Some(until)) if Instant::now() < until => true,
            Some(Some(_)) => {
                *s = None;
                false
            }
            None => false,
        }
    }

    /// Whether an engine error happened since the last passing self-test.
    pub fn engine_suspect(&self) -> bool {
        self.engine_suspect.load(Ordering::SeqCst)
    }

    /// Records that a self-test passed.
    pub fn engine_cleared(&self) {
        self.engine_suspect.store(false, Ordering::SeqCst);
    }

    /// Takes the reaction an engine error calls for and returns it.
    pub fn on_engine_error(self: &Arc<Self>, err: &EngineError) -> Reaction {
        self.metrics.count_engine_error(err.error_class());
        self.engine_suspect.store(true, Ordering::SeqCst);
        let reaction = Reaction::for_error(err);
        self.apply(reaction, err.to_string());
        reaction
    }

    /// Carries out a reaction: exit for a restart, or mark the device bad and drop every lease.
    pub fn apply(self: &Arc<Self>, reaction: Reaction, reason: String) {
        match reaction {
            Reaction::Exit => self.exit_for(reason),
            Reaction::Unhealthy => {
                eprintln!("synth-worker: device marked bad, staying out of service: {reason}");
                *self.device_bad.lock().expect("lock") = Some(reason);
                let svc = self.clone();
                tokio::spawn(async move { svc.release_all("the device is marked bad").await });
            }
            Reaction::Continue => {}
        }
    }

    /// Fails health, drops every lease and exits with [`EXIT_STICKY`].
    pub fn exit_for(self: &Arc<Self>, reason: String) {
        {
            let mut fatal = self.fatal.lock().expect("lock");
            if fatal.is_some() {
                return;
            }
            eprintln!("synth-worker: sticky error, exiting for a restart: {reason}");
            *fatal = Some(reason);
        }
        let svc = self.clone();
        tokio::spawn(async move {
            svc.release_all("the worker is exiting").await;
            tokio::time::sleep(EXIT_GRACE).await;
            std::process::exit(EXIT_STICKY);
        });
    }

    /// Stops every held job and deletes its lease so another worker can claim it at once.
    pub async fn release_all(&self, why: &str) {
        for job in self.owned_jobs() {
            self.release(&job, why).await;
        }
    }

    /// Stops one held job and deletes its lease.
    pub async fn release(&self, job: &OwnedJob, why: &str) {
        job.stop.store(true, Ordering::SeqCst);
        match self
            .jobs
            .release(&job.id, &self.cfg.worker_id, job.epoch)
            .await
        {
            Ok(true) => {
                self.metrics.leases_released.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "synth-worker: released job {} (epoch {}): {why}",
                    job.id, job.epoch
                );
            }
            Ok(false) => {}
            Err(e) => eprintln!(
                "synth-worker: could not release job {} ({e}); it frees when its lease expires",
                job.id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(class: &str, sticky: bool) -> EngineError {
        EngineError::Device {
            class: class.into(),
            sticky,
            emulated: true,
            backend: "cpu",
            detail: String::new(),
        }
    }

    #[test]
    fn reactions_follow_the_error_class() {
        assert_eq!(
            Reaction::for_error(&device("CUDA_ERROR_ILLEGAL_ADDRESS", true)),
            Reaction::Exit
        );
        assert_eq!(
            Reaction::for_error(&device("CUDA_ERROR_OUT_OF_MEMORY", false)),
            Reaction::Continue
        );
        let xid = |n| Reaction::for_error(&EngineError::xid(n, true, "cpu", String::new()));
        for n in [13, 31, 94] {
            assert_eq!(xid(n), Reaction::Exit, "xid {n}");
        }
        for n in [43, 63, 92] {
            assert_eq!(xid(n), Reaction::Continue, "xid {n}");
        }
        for n in [46, 48, 62, 64, 74, 79, 95, 109, 119, 120, 140] {
            assert_eq!(xid(n), Reaction::Unhealthy, "xid {n}");
        }
        let hang = EngineError::WatchdogHang {
            waited_ms: 10,
            emulated: true,
            backend: "cpu",
        };
        assert_eq!(Reaction::for_error(&hang), Reaction::Exit);
    }
}

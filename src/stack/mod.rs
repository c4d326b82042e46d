//! The reference stack in Docker: images, network, volume, Redis, two workers
//! and an HAProxy front door, every object labelled with the run id and
//! removed when the run ends.
//!
//! [`Stack::up`] starts it, [`Stack::down`] (or dropping the [`Stack`]) removes it;
//! [`cleanup`] removes what a killed run left behind.

pub mod bench;
pub mod cleanup;
pub mod docker;
pub mod events;
pub mod haproxy;
pub mod images;
pub mod labels;
pub mod spec;
pub mod startup;
pub mod units;
mod up;

use std::collections::BTreeMap;
use std::sync::Mutex;

use bollard::Docker;

pub use events::{DockerEvent, EventLog};
pub use haproxy::BackendServerState;
pub use spec::{
    Backend, Failover, FrontdoorSpec, Gpus, ImagesSpec, Role, RuntimeKind, StackSpec, WorkerSpec,
};
pub use units::ByteSize;
pub use up::{network_ip, published_ports, upload_file, worker_args, WORKER_PORT};

use crate::clock::Clock;

/// Everything that can go wrong with the stack. All of these are problems of
/// the environment or the scenario (exit code 2), not failed expectations.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The Docker engine does not answer.
    #[error(
        "cannot reach the Docker engine ({detail}); start Docker, check that this user may use \
         /var/run/docker.sock, or set DOCKER_HOST to the engine's address"
    )]
    DockerUnreachable {
        /// What the client reported.
        detail: String,
    },
    /// A Docker call failed.
    #[error("Docker could not {action}: {source}")]
    Docker {
        /// What was being done.
        action: String,
        /// The engine's answer.
        #[source]
        source: bollard::errors::Error,
    },
    /// A scenario names an image that the engine does not have.
    #[error(
        "image `{image}` (stack.images.{role}) is not on this Docker engine and nothing can be pulled here; \
         load or build it first, or leave stack.images.{role} out to use the locally built image"
    )]
    ImageMissing {
        /// The image reference.
        image: String,
        /// Which image of the stack (`worker`, `haproxy`, ...).
        role: String,
    },
    /// The release worker binary was not found.
    #[error(
        "no synth-worker binary to build the worker image from (looked at: {searched}); run \
         `cargo build --release -p synth-worker` or pass --worker-binary PATH"
    )]
    WorkerBinaryMissing {
        /// The places looked at.
        searched: String,
    },
    /// A host program an image is built from is missing.
    #[error("`{program}` is not installed on this host, so its image cannot be built; {hint}")]
    HostProgramMissing {
        /// The program.
        program: String,
        /// How to get it.
        hint: String,
    },
    /// Building an image failed.
    #[error("building image `{image}` failed: {detail}")]
    ImageBuild {
        /// The image tag.
        image: String,
        /// What went wrong.
        detail: String,
    },
    /// `gpus: all` on an engine without the NVIDIA runtime.
    #[error(
        "the scenario asks for `gpus: all` but this Docker engine has no `nvidia` runtime (it has: {runtimes}); \
         install the NVIDIA Container Toolkit and restart Docker, or set stack.worker.gpus to none"
    )]
    NoNvidiaRuntime {
        /// The runtimes the engine has.
        runtimes: String,
    },
    /// A container did not become ready in time.
    #[error(
        "container `{container}` ({role}) was not ready after {waited_s:.1}s: {reason}; its state: {state}; \
         last log lines:\n{logs}"
    )]
    NotReady {
        /// Which role.
        role: Role,
        /// The container's name.
        container: String,
        /// What the readiness check saw last.
        reason: String,
        /// The container's state (`running`, `exited (code 1)`, ...).
        state: String,
        /// Seconds waited.
        waited_s: f64,
        /// Its last log lines.
        logs: String,
    },
    /// The front door's stats or runtime API answered something unexpected.
    #[error("the front door (HAProxy) {0}")]
    Frontdoor(String),
    /// A file or process of this host failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The stack cannot do this here.
    #[error("{0}")]
    Unsupported(String),
}

impl StackError {
    pub(crate) fn docker(action: impl Into<String>, source: bollard::errors::Error) -> Self {
        StackError::Docker {
            action: action.into(),
            source,
        }
    }
}

/// One container of a running stack.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    /// Its role.
    pub role: Role,
    /// Docker's id.
    pub id: String,
    /// Its name (`<run id>-<role>`).
    pub name: String,
    /// Its address on the run network.
    pub ip: String,
}

/// A running stack. Dropping it removes every object of the run (also after a panic).
pub struct Stack {
    pub(crate) docker: Docker,
    run_id: String,
    clock: Clock,
    spec: StackSpec,
    network: String,
    volume: String,
    containers: BTreeMap<Role, ContainerInfo>,
    frontdoor_url: String,
    stats_url: String,
    admin_addr: String,
    worker_urls: BTreeMap<Role, String>,
    fault_token: String,
    images: images::ResolvedImages,
    events: EventLog,
    recorder: Option<events::Recorder>,
    pub(crate) faults: Mutex<crate::fault::ledger::FaultLedger>,
    guard: Option<cleanup::RunGuard>,
    up_timings: startup::UpTimings,
}

impl Stack {
    /// Starts the stack for `run_id`: images (built when missing), network,
    /// volume, Redis, both workers, HAProxy; returns when all are ready.
    /// On any error, everything already created is removed.
    pub async fn up(spec: &StackSpec, run_id: &str, clock: &Clock) -> Result<Stack, StackError> {
        up::up(spec, run_id, clock).await
    }

    /// Where `up` spent its time, phase by phase.
    pub fn up_timings(&self) -> &startup::UpTimings {
        &self.up_timings
    }

    /// The run id every object is labelled with.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The front door's URL on the host: `http://127.0.0.1:<port>`.
    pub fn frontdoor_url(&self) -> &str {
        &self.frontdoor_url
    }

    /// HAProxy's stats page as CSV: `http://127.0.0.1:<port>/stats;csv`.
    pub fn frontdoor_stats_url(&self) -> &str {
        &self.stats_url
    }

    /// HAProxy's runtime API (admin level, TCP): `127.0.0.1:<port>`, for runbooks
    /// (`echo "enable server workers/standby" | nc 127.0.0.1 PORT`).
    pub fn frontdoor_admin_addr(&self) -> &str {
        &self.admin_addr
    }

    /// A worker's own URL on the host (bypassing the front door); `None` for other roles.
    pub fn worker_url(&self, role: Role) -> Option<&str> {
        self.worker_urls.get(&role).map(String::as_str)
    }

    /// The token the workers' fault endpoints accept.
    pub fn fault_token(&self) -> &str {
        &self.fault_token
    }

    /// The spec the stack was started from.
    pub fn spec(&self) -> &StackSpec {
        &self.spec
    }

    /// The time base events are mapped onto.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The run's Docker network.
    pub fn network_name(&self) -> &str {
        &self.network
    }

    /// The run's shared data volume (mounted at `/data` in both workers).
    pub fn volume_name(&self) -> &str {
        &self.volume
    }

    /// The container of a role.
    pub fn container(&self, role: Role) -> &ContainerInfo {
        &self.containers[&role]
    }

    /// The images the stack runs.
    pub fn images(&self) -> &images::ResolvedImages {
        &self.images
    }

    /// A copy of what faults have added to the run and not reverted yet.
    pub fn faults_in_place(&self) -> crate::fault::ledger::FaultLedger {
        self.faults.lock().expect("fault ledger poisoned").clone()
    }

    /// The Docker client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// HAProxy's view of each server (status, backup or not, last change), read now.
    pub async fn frontdoor_view(&self) -> Result<Vec<BackendServerState>, StackError> {
        haproxy::read_view(&self.stats_url, &self.clock).await
    }

    /// Docker events of this run, from before the first container started, in clock ms.
    pub fn events(&self) -> EventLog {
        self.events.clone()
    }

    /// The last `tail` lines of a container's output (stdout and stderr), or a note why there are none.
    pub async fn logs(&self, role: Role, tail: usize) -> String {
        docker::tail_logs(&self.docker, &self.containers[&role].name, tail).await
    }

    /// The container's state as Docker reports it (`running`, `paused`, `exited (code 137, OOMKilled)`).
    pub async fn state(&self, role: Role) -> Result<docker::ContainerStatus, StackError> {
        docker::status(&self.docker, &self.containers[&role].name).await
    }

    /// Removes every object of the run (containers, network, volume) and stops recording events.
    pub async fn down(mut self) -> Result<(), StackError> {
        self.recorder.take();
        let result = cleanup::remove_run_with(&self.docker, &self.run_id)
            .await
            .map(|_| ());
        if let Some(guard) = self.guard.take() {
            guard.disarm();
        }
        result
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Stop recording first; then the guard (if still armed) removes the run.
        self.recorder.take();
    }
}

/// A fresh run id: `tk-<yyyymmdd-hhmmss>-<4 hex>`.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let mut bytes = [0u8; 2];
    random_bytes(&mut bytes);
    format!("tk-{now}-{:02x}{:02x}", bytes[0], bytes[1])
}

/// A random token (32 hex digits), for the workers' fault endpoints.
pub fn new_fault_token() -> String {
    let mut bytes = [0u8; 16];
    random_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_bytes(out: &mut [u8]) {
    use std::io::Read;
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(out))
        .is_ok();
    if !filled {
        // No /dev/urandom: derive bytes from the time and the process id.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        let hash = blake3::hash(seed.as_bytes());
        for (o, h) in out.iter_mut().zip(hash.as_bytes().iter().cycle()) {
            *o = *h;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_have_the_documented_shape_and_differ() {
        let a = new_run_id();
        let b = new_run_id();
        assert!(
            a.starts_with("tk-") && a.len() == "tk-20260101-000000-abcd".len(),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(new_fault_token().len(), 32);
    }
}

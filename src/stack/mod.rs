//! The reference stack: Redis, two workers and an HAProxy (or Nginx) front door, in
//! Docker (images, network, volume, every object labelled with the run id) or
//! as local processes ([`process`]), removed when the run ends.
//!
//! [`Stack::up`] starts it, [`Stack::down`] (or dropping the [`Stack`]) removes it;
//! [`cleanup`] removes what a killed run left behind.

pub mod bench;
pub mod cleanup;
pub mod docker;
pub mod events;
pub mod haproxy;
pub mod haproxy_log;
pub mod hosts;
pub mod images;
pub mod kubernetes;
pub mod labels;
pub mod ledger;
mod multi_host;
pub mod nginx;
pub mod nginx_log;
pub mod process;
pub mod spec;
pub mod startup;
pub mod testbed;
pub mod units;
mod up;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use bollard::Docker;

pub use events::{DockerEvent, EventLog};
pub use haproxy::BackendServerState;
pub use ledger::FaultLedger;
pub use spec::{
    Backend, Failover, FrontdoorKind, FrontdoorSpec, Gpus, HealthCheck, ImagesSpec, ProcessSpec,
    Role, RuntimeKind, StackSpec, WorkerSpec,
};
pub use units::ByteSize;
pub use up::{
    network_ip, published_ports, redis_config, upload_file, worker_args, worker_args_at,
    worker_env, FAULT_TOKEN_ENV, REDIS_PASSWORD_ENV, WORKER_PORT,
};

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
        "image `{image}` ({key}) is not on this Docker engine and nothing can be pulled here; \
         load or build it first (`docker load`, `docker build -t {image} DIR`), or leave {key} out \
         to use the locally built image"
    )]
    ImageMissing {
        /// The image reference.
        image: String,
        /// The scenario key that names it (`stack.images.haproxy`, `stack.worker.image`).
        key: String,
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
    /// A process of a `runtime: process` stack did not become ready in time.
    #[error(
        "process {role} (`{program}`) was not ready after {waited_s:.1}s: {reason}; its state: {state}; \
         last log lines:\n{logs}"
    )]
    ProcessNotReady {
        /// Which role.
        role: Role,
        /// The program.
        program: String,
        /// What the readiness check saw last.
        reason: String,
        /// The process's state (`running`, `exited (code 1)`).
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
    /// No Kubernetes cluster could be reached with the kubeconfig found.
    #[error(
        "cannot reach a Kubernetes cluster ({detail}); set KUBECONFIG or write ~/.kube/config \
         (or run in a pod), and name the context with --context or stack.kubernetes.context"
    )]
    KubernetesUnreachable {
        /// What the client reported.
        detail: String,
    },
    /// A Kubernetes API call failed.
    #[error("Kubernetes could not {action}: {source}")]
    Kubernetes {
        /// What was being done.
        action: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
}

impl StackError {
    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        StackError::Kubernetes {
            action: action.into(),
            source,
        }
    }

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
    run_id: String,
    clock: Clock,
    spec: StackSpec,
    containers: BTreeMap<Role, ContainerInfo>,
    frontdoor_url: String,
    stats_url: String,
    admin_addr: String,
    worker_urls: BTreeMap<Role, String>,
    fault_token: String,
    redis_addr: String,
    redis_password: String,
    images: images::ResolvedImages,
    events: EventLog,
    faults: Mutex<FaultLedger>,
    pub(crate) runtime: Runtime,
    up_timings: startup::UpTimings,
}

/// The parts of a stack that depend on where it runs.
pub(crate) enum Runtime {
    /// Containers on a Docker engine.
    Docker(DockerRun),
    /// Local processes on 127.0.0.1.
    Process(process::ProcessRun),
    /// Pods in a namespace of a Kubernetes cluster.
    Kubernetes(Box<kubernetes::KubeRun>),
}

/// The Docker-only parts of a running stack.
pub(crate) struct DockerRun {
    pub(crate) docker: Docker,
    /// The engine of each role: all the same client on one engine, one
    /// client per host with `stack.hosts`.
    engines: BTreeMap<Role, Docker>,
    /// With `stack.hosts`: each role's host.
    hosts: Option<BTreeMap<Role, hosts::RoleHost>>,
    network: String,
    volume: String,
    recorder: Option<events::Recorder>,
    guard: Option<cleanup::RunGuard>,
}

impl DockerRun {
    /// The engines of the run, each once (one on a one-engine stack).
    fn distinct_engines(&self) -> Vec<&Docker> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = vec![&self.docker];
        if let Some(hosts) = &self.hosts {
            for (role, host) in hosts {
                if !seen.contains(&host.docker.as_str()) {
                    seen.push(&host.docker);
                    out.push(&self.engines[role]);
                }
            }
            // `docker` is one of them (the front door's engine).
            out.remove(0);
        }
        out
    }
}

impl Stack {
    /// Starts the stack for `run_id` on `spec.runtime`: for Docker, images
    /// (built when missing), network, volume, Redis, both workers, HAProxy;
    /// for processes, the same programs on 127.0.0.1 ports. Returns when all
    /// are ready. On any error, everything already created is removed.
    pub async fn up(spec: &StackSpec, run_id: &str, clock: &Clock) -> Result<Stack, StackError> {
        match spec.runtime {
            RuntimeKind::Docker if spec.is_multi_host() => {
                multi_host::up(spec, run_id, clock).await
            }
            RuntimeKind::Docker => up::up(spec, run_id, clock).await,
            RuntimeKind::Process => process::up(spec, run_id, clock).await,
            RuntimeKind::Kubernetes => kubernetes::up(spec, run_id, clock).await,
        }
    }

    /// Where the stack runs.
    pub fn runtime_kind(&self) -> RuntimeKind {
        match self.runtime {
            Runtime::Docker(_) => RuntimeKind::Docker,
            Runtime::Process(_) => RuntimeKind::Process,
            Runtime::Kubernetes(_) => RuntimeKind::Kubernetes,
        }
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

    /// The front door's own address off loopback, where the harness reaches it
    /// there (a Kubernetes pod's address); `None` for Docker and process
    /// stacks, which are reached on 127.0.0.1.
    pub fn frontdoor_own_address(&self) -> Option<std::net::IpAddr> {
        match &self.runtime {
            Runtime::Kubernetes(_) => self.containers.get(&Role::Frontdoor)?.ip.parse().ok(),
            _ => None,
        }
    }

    /// HAProxy's stats page as CSV: `http://127.0.0.1:<port>/stats;csv`;
    /// empty with the nginx front door, which has none.
    pub fn frontdoor_stats_url(&self) -> &str {
        &self.stats_url
    }

    /// HAProxy's runtime API (admin level, TCP): `127.0.0.1:<port>`, for runbooks
    /// (`echo "enable server workers/standby" | nc 127.0.0.1 PORT`); empty
    /// with the nginx front door, which has none.
    pub fn frontdoor_admin_addr(&self) -> &str {
        &self.admin_addr
    }

    /// Which proxy the front door is.
    pub fn frontdoor_kind(&self) -> FrontdoorKind {
        self.spec.frontdoor.kind
    }

    /// A worker's own URL on the host (bypassing the front door); `None` for other roles.
    pub fn worker_url(&self, role: Role) -> Option<&str> {
        self.worker_urls.get(&role).map(String::as_str)
    }

    /// The token the workers' fault endpoints accept.
    pub fn fault_token(&self) -> &str {
        &self.fault_token
    }

    /// Redis on the host: `127.0.0.1:<port>`.
    pub fn redis_addr(&self) -> &str {
        &self.redis_addr
    }

    /// The password Redis requires (`AUTH`), new for every run.
    pub fn redis_password(&self) -> &str {
        &self.redis_password
    }

    /// The spec the stack was started from.
    pub fn spec(&self) -> &StackSpec {
        &self.spec
    }

    /// The time base events are mapped onto.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The run's Docker network (empty for the process runtime; the
    /// namespace on Kubernetes).
    pub fn network_name(&self) -> &str {
        match &self.runtime {
            Runtime::Docker(d) => &d.network,
            Runtime::Process(_) => "",
            Runtime::Kubernetes(k) => k.namespace(),
        }
    }

    /// The run's shared data volume (mounted at `/data` in both workers); for
    /// the process runtime, the path of the shared data directory.
    pub fn volume_name(&self) -> &str {
        match &self.runtime {
            Runtime::Docker(d) => &d.volume,
            Runtime::Process(p) => p.data_dir_str(),
            Runtime::Kubernetes(k) => k.volume(),
        }
    }

    /// The container of a role (for the process runtime: its process, the pid as id).
    pub fn container(&self, role: Role) -> &ContainerInfo {
        &self.containers[&role]
    }

    /// The images the stack runs (for the process runtime: the programs,
    /// the worker as `process:synth-worker@<content hash>`).
    pub fn images(&self) -> &images::ResolvedImages {
        &self.images
    }

    /// A copy of what faults have added to the run and not reverted yet.
    pub fn faults_in_place(&self) -> FaultLedger {
        self.fault_ledger().clone()
    }

    /// The run's fault ledger, locked: the one way faults read and write it.
    pub(crate) fn fault_ledger(&self) -> MutexGuard<'_, FaultLedger> {
        self.faults.lock().expect("fault ledger poisoned")
    }

    /// The Docker client.
    ///
    /// # Panics
    /// On a process stack. Docker-only faults are refused before they get
    /// here (`fault::inject` and scenario validation); use [`Stack::try_docker`]
    /// where the runtime is not known.
    pub fn docker(&self) -> &Docker {
        self.try_docker()
            .expect("a Docker operation on a `runtime: process` stack")
    }

    /// The engine `role` runs on (with `stack.hosts`, its host's; otherwise
    /// the one engine).
    ///
    /// # Panics
    /// On a process stack, as [`Stack::docker`].
    pub fn docker_for(&self, role: Role) -> &Docker {
        match &self.runtime {
            Runtime::Docker(d) => &d.engines[&role],
            Runtime::Process(_) => panic!("a Docker operation on a `runtime: process` stack"),
            Runtime::Kubernetes(_) => {
                panic!("a Docker operation on a `runtime: kubernetes` stack")
            }
        }
    }

    /// With `stack.hosts`, the host `role` runs on (name, engine, address);
    /// `None` on a one-engine stack.
    pub fn host_of(&self, role: Role) -> Option<&hosts::RoleHost> {
        match &self.runtime {
            Runtime::Docker(d) => d.hosts.as_ref().map(|h| &h[&role]),
            Runtime::Process(_) | Runtime::Kubernetes(_) => None,
        }
    }

    /// The Docker client, `None` on a process stack.
    pub fn try_docker(&self) -> Option<&Docker> {
        match &self.runtime {
            Runtime::Docker(d) => Some(&d.docker),
            Runtime::Process(_) | Runtime::Kubernetes(_) => None,
        }
    }

    /// The local processes, `None` on a Docker or Kubernetes stack.
    pub fn processes(&self) -> Option<&process::ProcessRun> {
        match &self.runtime {
            Runtime::Docker(_) | Runtime::Kubernetes(_) => None,
            Runtime::Process(p) => Some(p),
        }
    }

    /// The run's namespace and API client, `None` unless on Kubernetes.
    pub fn kubernetes(&self) -> Option<&kubernetes::KubeRun> {
        match &self.runtime {
            Runtime::Kubernetes(k) => Some(&**k),
            _ => None,
        }
    }

    /// HAProxy's view of each server (status, backup or not, last change),
    /// read now; [`StackError::Unsupported`] with the nginx front door.
    pub async fn frontdoor_view(&self) -> Result<Vec<BackendServerState>, StackError> {
        match self.frontdoor_kind() {
            FrontdoorKind::Haproxy => haproxy::read_view(&self.stats_url, &self.clock).await,
            FrontdoorKind::Nginx => Err(StackError::Unsupported(format!(
                "the front door's view of its servers is {}",
                nginx::NO_VIEW
            ))),
        }
    }

    /// The front door's request log so far, one record per probe, from
    /// HAProxy's or Nginx's own output.
    pub async fn frontdoor_log(&self) -> Vec<haproxy_log::FrontdoorLogLine> {
        let text = self.frontdoor_output().await;
        match self.frontdoor_kind() {
            FrontdoorKind::Haproxy => haproxy_log::parse_log(&text),
            FrontdoorKind::Nginx => nginx_log::parse_log(&text, &self.upstream_names()),
        }
    }

    /// Each worker's address as the front door sees it (`ip:port`) -> its
    /// role: Nginx logs addresses, not server names. A Docker address is the
    /// one the worker had when the stack came up, which is the one Nginx
    /// resolved its name to.
    fn upstream_names(&self) -> BTreeMap<String, String> {
        [Role::Primary, Role::Standby]
            .into_iter()
            .filter_map(|role| {
                let addr = match &self.runtime {
                    Runtime::Docker(_) | Runtime::Kubernetes(_) => {
                        format!(
                            "{}:{}",
                            self.containers.get(&role)?.ip,
                            self.spec.worker.port
                        )
                    }
                    Runtime::Process(_) => self
                        .worker_urls
                        .get(&role)?
                        .trim_start_matches("http://")
                        .to_string(),
                };
                Some((addr, role.as_str().to_string()))
            })
            .collect()
    }

    /// Events of this run (Docker's, or the process supervisor's `start`,
    /// `die`, `pause`, `unpause`, `restart`), from before the first
    /// container or process started, in clock ms.
    pub fn events(&self) -> EventLog {
        self.events.clone()
    }

    /// The last `tail` lines of a container's output (stdout and stderr), or a note why there are none.
    pub async fn logs(&self, role: Role, tail: usize) -> String {
        match &self.runtime {
            Runtime::Docker(d) => {
                docker::tail_logs(&d.engines[&role], &self.containers[&role].name, tail).await
            }
            Runtime::Process(p) => p.tail_log(role, tail),
            Runtime::Kubernetes(k) => k.logs(role, Some(tail)).await,
        }
    }

    /// The front door's whole output so far (its request log among it).
    pub async fn frontdoor_output(&self) -> String {
        match &self.runtime {
            Runtime::Docker(d) => {
                docker::all_logs(
                    &d.engines[&Role::Frontdoor],
                    &self.containers[&Role::Frontdoor].name,
                )
                .await
            }
            Runtime::Process(p) => p.whole_log(Role::Frontdoor),
            Runtime::Kubernetes(k) => k.logs(Role::Frontdoor, None).await,
        }
    }

    /// The container's state as Docker reports it (`running`, `paused`,
    /// `exited (code 137, OOMKilled)`); for a process, from `/proc` and its exit status.
    pub async fn state(&self, role: Role) -> Result<docker::ContainerStatus, StackError> {
        match &self.runtime {
            Runtime::Docker(d) => {
                docker::status(&d.engines[&role], &self.containers[&role].name).await
            }
            Runtime::Process(p) => Ok(p.status(role)),
            Runtime::Kubernetes(k) => k.status(role).await,
        }
    }

    /// Removes every object of the run (containers, network, volume; or the
    /// processes and the run directory) and stops recording events.
    pub async fn down(mut self) -> Result<(), StackError> {
        match &mut self.runtime {
            Runtime::Docker(d) => {
                d.recorder.take();
                let mut result = Ok(());
                if d.hosts.is_some() {
                    // Host faults left in place: their rules and qdiscs are
                    // in the test bed's namespaces, not in the run's containers.
                    let qdiscs: Vec<String> = self
                        .faults
                        .lock()
                        .map(|l| l.host_qdiscs.values().flatten().cloned().collect())
                        .unwrap_or_default();
                    for place in qdiscs {
                        if let Err(e) = testbed::remove_qdisc(&place) {
                            result = Err(e);
                        }
                    }
                    if let Err(e) = testbed::remove_run_rules(&self.run_id) {
                        result = Err(e);
                    }
                }
                for engine in d.distinct_engines() {
                    if let Err(e) = cleanup::remove_run_with(engine, &self.run_id).await {
                        result = Err(e);
                    }
                }
                if let Some(guard) = d.guard.take() {
                    guard.disarm();
                }
                result
            }
            Runtime::Process(p) => p.shutdown(),
            Runtime::Kubernetes(k) => k.shutdown().await,
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Stop recording first; then the guard (if still armed) removes the run.
        // A process run's own drop stops its processes and removes its directory.
        match &mut self.runtime {
            Runtime::Docker(d) => {
                d.recorder.take();
            }
            Runtime::Kubernetes(k) => k.stop_recording(),
            Runtime::Process(_) => {}
        }
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

/// Fills `out` from the kernel's random source (`getrandom`, else
/// `/dev/urandom`). Tokens and names must not be guessable, so there is no
/// fallback to the time or the pid: without a random source this panics.
pub fn random_bytes(out: &mut [u8]) {
    let mut filled = 0;
    while filled < out.len() {
        let rest = &mut out[filled..];
        // SAFETY: the pointer and length describe `rest`, which the call only writes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    if filled < out.len() {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut out[filled..]))
            .expect("no source of randomness: both getrandom(2) and /dev/urandom failed; tokens would be guessable");
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
        assert_ne!(new_fault_token(), new_fault_token());
    }
}
